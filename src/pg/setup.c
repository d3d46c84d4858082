/*
 * setup.c - builds and applies Tether's one-time database setup SQL (see
 * setup.h). Names are validated and then quoted (identifiers) or escaped
 * (literals) by hand-checked rules: only characters Postgres accepts in an
 * unquoted identifier are allowed for role and schema names, which keeps the
 * printed SQL readable and the DO blocks free of injection.
 */
#include "pg/setup.h"
#include "pg/pgconn.h"
#include "util/common.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Role and schema names: lower-case letters, digits, '_' (not first: digit). */
static int name_ok(const char *name)
{
    if (!name || !*name || strlen(name) > 63 || isdigit((unsigned char)name[0]))
        return 0;
    for (const char *p = name; *p; p++) {
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_'))
            return 0;
    }
    return 1;
}

/* Growable string; sb_printf aborts on out-of-memory like the rest of the CLI. */
typedef struct sbuf {
    char *data;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    if (sb->len + (size_t)n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 1024;
        while (cap < sb->len + (size_t)n + 1)
            cap *= 2;
        char *d = realloc(sb->data, cap);
        if (!d)
            abort();
        sb->data = d;
        sb->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

/* Appends S as a SQL string literal ('' doubling; E'' never needed). */
static void sb_literal(sbuf *sb, const char *s)
{
    sb_printf(sb, "'");
    for (const char *p = s; *p; p++)
        sb_printf(sb, *p == '\'' ? "''" : "%c", *p);
    sb_printf(sb, "'");
}

static int generate_password(char *out, size_t outlen)
{
    static const char alphabet[] =
        "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    unsigned char raw[32];
    if (outlen < 33 || RAND_bytes(raw, sizeof(raw)) != 1)
        return T_ERR;
    for (size_t i = 0; i < 32; i++)
        out[i] = alphabet[raw[i] % (sizeof(alphabet) - 1)];
    out[32] = '\0';
    return T_OK;
}

char *setup_sql_build(const setup_options *opts, char *generated, size_t generated_len,
                      char *errbuf, size_t errlen)
{
    const char *user = opts->user ? opts->user : "tether";
    const char *reader = opts->read_role ? opts->read_role : "tether_read";
    if (!name_ok(user) || !name_ok(reader)) {
        snprintf(errbuf, errlen, "role names must be lower-case letters, digits and '_' "
                                 "(got '%s', '%s')", user, reader);
        return NULL;
    }
    for (size_t i = 0; i < opts->nschemas; i++) {
        if (!name_ok(opts->schemas[i])) {
            snprintf(errbuf, errlen, "invalid schema name '%s'", opts->schemas[i]);
            return NULL;
        }
    }
    for (size_t i = 0; i < opts->napp_roles; i++) {
        if (!name_ok(opts->app_roles[i])) {
            snprintf(errbuf, errlen, "invalid role name '%s'", opts->app_roles[i]);
            return NULL;
        }
    }
    if (opts->password && strlen(opts->password) < 8) {
        snprintf(errbuf, errlen, "the password must have at least 8 characters");
        return NULL;
    }
    if (generated && generated_len)
        generated[0] = '\0';
    char newpw[33];
    const char *create_pw = opts->password;
    if (!create_pw) {
        if (generate_password(newpw, sizeof(newpw)) != T_OK) {
            snprintf(errbuf, errlen, "cannot generate a password (no randomness)");
            return NULL;
        }
        create_pw = newpw;
        if (generated && generated_len > strlen(newpw))
            memcpy(generated, newpw, strlen(newpw) + 1);
    }

    /* The DO bodies are dollar-quoted; pick a tag the password cannot close. */
    char tag[40] = "$tether$";
    while (strstr(create_pw, tag) || (opts->password && strstr(opts->password, tag))) {
        size_t n = strlen(tag);
        if (n + 2 > sizeof(tag)) {
            snprintf(errbuf, errlen, "the password cannot be quoted safely");
            return NULL;
        }
        tag[n - 1] = 'x';
        tag[n] = '$';
        tag[n + 1] = '\0';
    }

    sbuf sb = {0};
    sb_printf(&sb, "-- Tether setup: run once as an administrator (e.g. in the Supabase SQL\n"
                   "-- editor). Safe to run again: every step checks before it changes.\n\n");
    sb_printf(&sb, "-- 1. Tether's login user.\nDO %s\nBEGIN\n"
                   "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN\n"
                   "    CREATE ROLE %s LOGIN PASSWORD ", tag, user, user);
    sb_literal(&sb, create_pw);
    sb_printf(&sb, ";\n");
    if (opts->password) {
        sb_printf(&sb, "  ELSE\n    ALTER ROLE %s LOGIN PASSWORD ", user);
        sb_literal(&sb, opts->password);
        sb_printf(&sb, ";\n");
    }
    sb_printf(&sb, "  END IF;\nEND\n%s;\n\n", tag);
    sb_printf(&sb, "-- 2. It may connect and create its schemas in this database.\n"
                   "DO %s\nBEGIN\n"
                   "  EXECUTE format('GRANT CONNECT, CREATE ON DATABASE %%I TO %s', "
                   "current_database());\nEND\n%s;\n\n", tag, user, tag);
    sb_printf(&sb, "-- 3. The read role, administered by Tether so it can grant it.\n"
                   "DO %s\nBEGIN\n"
                   "  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN\n"
                   "    CREATE ROLE %s NOLOGIN;\n"
                   "  END IF;\nEND\n%s;\n"
                   "GRANT %s TO %s WITH ADMIN OPTION;\n\n", tag, reader, reader, tag, reader, user);
    if (opts->napp_roles > 0) {
        sb_printf(&sb, "-- 4. Application roles read synced tables through the read role\n"
                       "--    (the Supabase roles are granted where they exist).\n"
                       "DO %s\nDECLARE r text;\nBEGIN\n  FOREACH r IN ARRAY ARRAY[", tag);
        for (size_t i = 0; i < opts->napp_roles; i++)
            sb_printf(&sb, "%s'%s'", i ? ", " : "", opts->app_roles[i]);
        sb_printf(&sb, "] LOOP\n"
                       "    IF EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN\n"
                       "      EXECUTE format('GRANT %%I TO %%I', '%s', r);\n"
                       "    END IF;\n  END LOOP;\nEND\n%s;\n\n", reader, tag);
    }
    for (size_t i = 0; i < opts->nschemas; i++) {
        const char *schema = opts->schemas[i];
        sb_printf(&sb,
                  "-- 5. Schema %s: usage, existing tables and future tables for the read role.\n"
                  "--    When the schema does not exist yet, Tether creates it on its first\n"
                  "--    sync and grants the same to %s itself.\n"
                  "DO %s\nBEGIN\n"
                  "  IF EXISTS (SELECT FROM pg_namespace WHERE nspname = '%s') THEN\n"
                  "    GRANT USAGE ON SCHEMA %s TO %s;\n"
                  "    GRANT SELECT ON ALL TABLES IN SCHEMA %s TO %s;\n"
                  "    BEGIN\n"
                  "      ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s GRANT SELECT ON TABLES TO %s;\n"
                  "    EXCEPTION WHEN insufficient_privilege THEN\n"
                  "      RAISE NOTICE 'default privileges for %s in schema %s: Tether grants "
                  "SELECT on each table it creates instead';\n"
                  "    END;\n"
                  "  ELSE\n"
                  "    RAISE NOTICE 'schema %s does not exist yet: Tether creates it and grants "
                  "%s usage on it';\n"
                  "  END IF;\nEND\n%s;\n\n",
                  schema, reader, tag, schema, schema, reader, schema, reader, user, schema, reader,
                  user, schema, schema, reader, tag);
    }
    return sb.data;
}

/* Shows the DO blocks' notices (e.g. "schema does not exist yet") on stderr. */
static void setup_notice(void *arg, const char *message)
{
    (void)arg;
    fprintf(stderr, "tether setup: %s", message);
}

int setup_apply(const char *admin_url, const char *user, const char *sql, int *user_created,
                char *errbuf, size_t errlen)
{
    PGconn *conn = pgconn_connect(admin_url, "tether-setup", errbuf, errlen);
    if (!conn)
        return T_ERR;
    PQsetNoticeProcessor(conn, setup_notice, NULL);
    const char *params[1] = {user};
    PGresult *res = PQexecParams(conn, "SELECT 1 FROM pg_roles WHERE rolname = $1", 1, NULL,
                                 params, NULL, NULL, 0);
    int existed = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    PQclear(res);
    int rc = pgconn_exec(conn, sql, errbuf, errlen);
    if (user_created)
        *user_created = (rc == T_OK && !existed);
    PQfinish(conn);
    return rc;
}
