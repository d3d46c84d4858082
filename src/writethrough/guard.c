/*
 * guard.c - the guard on synced tables: one trigger function in the state
 * schema, attached to every synced table twice:
 *   tether_guard_statement  BEFORE INSERT/UPDATE/DELETE/TRUNCATE, per
 *                           statement: the secret check, once per statement
 *                           (a COPY FROM, a function's or a CTE's DML and an
 *                           ON CONFLICT upsert all fire it, also for 0 rows);
 *   tether_guard            BEFORE INSERT/UPDATE/DELETE, per row, only
 *                           WHEN tether.capture = 'on': the proxy's capture.
 * A write passes only in a session whose tether.write setting hashes to a
 * secret in <state>.write_secret (sessions of Tether's apply path and of the
 * sync engine); in such a session with tether.capture = on the row trigger
 * records OLD/NEW into the session's temporary capture table and returns
 * NULL (nothing is written). Any other write fails with SQLSTATE 42501 and
 * changes nothing. The sync's bulk upserts thus pay one check per statement
 * and a setting lookup per row (the WHEN clause), not a PL/pgSQL call per row.
 *
 * The secret never leaves the process that made it: the table keeps only its
 * SHA-256, so a client that can read the table (the proxy connects upstream
 * as the Tether role) learns nothing it can set. Nothing here keeps memory.
 */
#include "writethrough/writethrough.h"

#include "pg/pgconn.h"
#include "util/common.h"
#include "util/log.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define WT_SECRET_BYTES 32

static int wt_guard_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    return pgconn_exec(conn, sql, err, errlen);
}

int wt_guard_install(PGconn *conn, const char *state_schema, char *err, size_t errlen)
{
    char ss[140];
    if (pgconn_quote_ident(state_schema, ss, sizeof(ss)) != T_OK) {
        snprintf(err, errlen, "state schema name too long");
        return T_ERR;
    }
    char sql[6144];
    int n = snprintf(sql, sizeof(sql),
        "BEGIN;"
        "SELECT pg_advisory_xact_lock(hashtext('tether.writethrough.guard'));"
        "CREATE SCHEMA IF NOT EXISTS %1$s;"
        "CREATE TABLE IF NOT EXISTS %1$s.write_secret ("
        "  hash text PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now());"
        "REVOKE ALL ON %1$s.write_secret FROM PUBLIC;"
        "DELETE FROM %1$s.write_secret WHERE created_at < now() - interval '30 days';"
        "CREATE TABLE IF NOT EXISTS %1$s.write_audit ("
        "  id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(),"
        "  db_user text, sync text, object_type text, operation text, object_id text,"
        "  fields jsonb, request_id text, result text NOT NULL, error text);"
        "CREATE OR REPLACE FUNCTION %1$s.write_guard() RETURNS trigger"
        " LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $tether$\n"
        "DECLARE tok text := current_setting('" WT_GUC_TOKEN "', true);\n"
        "BEGIN\n"
        "  IF tok IS NOT NULL AND tok <> '' AND EXISTS (SELECT 1 FROM %1$s.write_secret\n"
        "       WHERE hash = encode(sha256(convert_to(tok, 'UTF8')), 'hex')) THEN\n"
        "    IF TG_LEVEL = 'ROW' AND current_setting('" WT_GUC_CAPTURE "', true) = 'on' THEN\n"
        "      INSERT INTO pg_temp._tether_capture(op, tschema, tname, old_row, new_row) VALUES (TG_OP,\n"
        "        TG_TABLE_SCHEMA, TG_TABLE_NAME,\n"
        "        CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,\n"
        "        CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);\n"
        "      RETURN NULL;\n"
        "    END IF;\n"
        "    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;\n"
        "    RETURN NEW;\n"
        "  END IF;\n"
        "  RAISE EXCEPTION 'cannot %% %%.%%: the table is synced by Tether', lower(TG_OP),\n"
        "    TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = '" WT_SQLSTATE_GUARD "',\n"
        "    DETAIL = 'Synced tables change only through the Tether proxy, which applies'\n"
        "      ' INSERT, UPDATE and DELETE to the API first.',\n"
        "    HINT = 'Connect through tether proxy and run a plain INSERT, UPDATE or DELETE'\n"
        "      ' (not COPY, TRUNCATE, a function or a data-modifying WITH).';\n"
        "END\n$tether$;"
        "COMMIT;",
        ss);
    if (n < 0 || (size_t)n >= sizeof(sql)) {
        snprintf(err, errlen, "guard SQL too long");
        return T_ERR;
    }
    if (wt_guard_exec(conn, sql, err, errlen) != T_OK) {
        PQexec(conn, "ROLLBACK");
        return T_ERR;
    }
    return T_OK;
}

int wt_guard_protect(PGconn *conn, const char *state_schema, const char *schema,
                     const char *table, char *err, size_t errlen)
{
    const char *p[] = {schema, table};
    /* the current layout: the statement trigger, the row trigger with its
     * WHEN clause, and not the per-row-always layout of earlier versions */
    PGresult *r = PQexecParams(conn,
                               "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n"
                               "         ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2),"
                               " (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                               " JOIN pg_namespace n ON n.oid = c.relnamespace"
                               " WHERE n.nspname = $1 AND c.relname = $2"
                               " AND ((t.tgname = 'tether_guard' AND t.tgqual IS NOT NULL)"
                               "      OR t.tgname = 'tether_guard_statement')),"
                               " (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                               " JOIN pg_namespace n ON n.oid = c.relnamespace"
                               " WHERE n.nspname = $1 AND c.relname = $2 AND t.tgname = 'tether_guard_truncate')",
                               2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "guard lookup on %s.%s: %s", schema, table, PQerrorMessage(conn));
        PQclear(r);
        return T_ERR;
    }
    bool exists = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
    bool have = strcmp(PQgetvalue(r, 0, 1), "2") == 0 && strcmp(PQgetvalue(r, 0, 2), "0") == 0;
    PQclear(r);
    if (have || !exists)
        return T_OK; /* a table the sync has not created yet is guarded when it does */
    char ss[140], sq[140], tq[140];
    if (pgconn_quote_ident(state_schema, ss, sizeof(ss)) != T_OK ||
        pgconn_quote_ident(schema, sq, sizeof(sq)) != T_OK ||
        pgconn_quote_ident(table, tq, sizeof(tq)) != T_OK) {
        snprintf(err, errlen, "name too long");
        return T_ERR;
    }
    char sql[4096];
    snprintf(sql, sizeof(sql),
             "BEGIN;"
             "SELECT pg_advisory_xact_lock(hashtext('tether.writethrough.guard'));"
             "DROP TRIGGER IF EXISTS tether_guard ON %2$s.%3$s;"
             "DROP TRIGGER IF EXISTS tether_guard_truncate ON %2$s.%3$s;"
             "DROP TRIGGER IF EXISTS tether_guard_statement ON %2$s.%3$s;"
             "CREATE TRIGGER tether_guard_statement BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE"
             " ON %2$s.%3$s FOR EACH STATEMENT EXECUTE FUNCTION %1$s.write_guard();"
             "CREATE TRIGGER tether_guard BEFORE INSERT OR UPDATE OR DELETE ON %2$s.%3$s FOR EACH ROW"
             " WHEN (current_setting('" WT_GUC_CAPTURE "', true) = 'on')"
             " EXECUTE FUNCTION %1$s.write_guard();"
             "COMMIT;",
             ss, sq, tq);
    if (wt_guard_exec(conn, sql, err, errlen) != T_OK) {
        PQexec(conn, "ROLLBACK");
        return T_ERR;
    }
    log_info("writethrough.guard_installed", "table=%s.%s", schema, table);
    return T_OK;
}

int wt_guard_enable(PGconn *conn, const char *state_schema, char *err, size_t errlen)
{
    unsigned char raw[WT_SECRET_BYTES];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        snprintf(err, errlen, "no randomness for the write secret");
        return T_ERR;
    }
    char secret[2 * WT_SECRET_BYTES + 1];
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(secret + 2 * i, 3, "%02x", raw[i]);
    char ss[140], sql[512];
    if (pgconn_quote_ident(state_schema, ss, sizeof(ss)) != T_OK) {
        snprintf(err, errlen, "state schema name too long");
        return T_ERR;
    }
    snprintf(sql, sizeof(sql),
             "WITH s AS (INSERT INTO %s.write_secret(hash)"
             " VALUES (encode(sha256(convert_to($1, 'UTF8')), 'hex')) RETURNING 1)"
             " SELECT set_config('" WT_GUC_TOKEN "', $1, false) FROM s",
             ss);
    const char *p[] = {secret};
    PGresult *r = PQexecParams(conn, sql, 1, NULL, p, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? T_OK : T_ERR;
    if (rc != T_OK)
        snprintf(err, errlen, "cannot register the write secret: %s", PQerrorMessage(conn));
    PQclear(r);
    memset(secret, 0, sizeof(secret));
    return rc;
}

int wt_guard_session_hook(PGconn *conn, const char *state_schema, char *err, size_t errlen)
{
    if (wt_guard_install(conn, state_schema, err, errlen) != T_OK)
        return T_ERR;
    return wt_guard_enable(conn, state_schema, err, errlen);
}

int wt_guard_tables_hook(PGconn *conn, const char *state_schema, const char *schema,
                         const conn_schema *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->n; i++)
        if (wt_guard_protect(conn, state_schema, schema, s->colls[i].name, err, errlen) != T_OK)
            return T_ERR;
    return T_OK;
}

static bool wt_guard_ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$';
}

bool wt_guard_mentions_setting(const char *sql, size_t len)
{
    static const char *const names[] = {WT_GUC_TOKEN, WT_GUC_CAPTURE};
    for (size_t k = 0; k < T_ARRAY_LEN(names); k++) {
        size_t nl = strlen(names[k]);
        for (size_t i = 0; i + nl <= len; i++) {
            if ((sql[i] | 0x20) != 't' || strncasecmp(sql + i, names[k], nl) != 0)
                continue;
            if (i > 0 && wt_guard_ident_char(sql[i - 1]))
                continue;
            if (i + nl < len && wt_guard_ident_char(sql[i + nl]))
                continue;
            return true;
        }
    }
    return false;
}
