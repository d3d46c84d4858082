/*
 * sync_db.c - see sync_db.h. SQL text is built in a growable buffer that is
 * freed before each function returns; libpq results are cleared here.
 */
#include "sync/sync_db.h"
#include "sync/sync_batch.h"
#include "pg/pgconn.h"
#include "util/common.h"
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A growable string; aborts on out-of-memory like the rest of Tether. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            abort();
        if (b->s && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p)
            abort();
        b->s = p;
        b->cap = cap;
        if (b->len == 0)
            b->s[0] = '\0';
    }
}

/* Appends N bytes of S (no formatting). */
static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap + n + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p)
            abort();
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_free(sbuf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

/* Quotes an identifier; identifiers here are at most 63 bytes. */
typedef struct qid {
    char s[136];
} qid;

static qid Q(const char *name)
{
    qid q;
    if (pgconn_quote_ident(name, q.s, sizeof(q.s)) != T_OK)
        snprintf(q.s, sizeof(q.s), "\"invalid\"");
    return q;
}

void sync_db_result_error(PGconn *conn, const PGresult *res, char *err, size_t errlen)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char msg[T_ERRBUF_SIZE];
    snprintf(msg, sizeof(msg), "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    char red[T_ERRBUF_SIZE];
    log_redact(msg, red, sizeof(red));
    snprintf(err, errlen, "%s%s%s", state ? state : "", state ? ": " : "", red);
}

PGresult *sync_db_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                        char *err, size_t errlen)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    sync_db_result_error(conn, res, err, errlen);
    if (res)
        PQclear(res);
    return NULL;
}

/* Runs SQL that may hold several statements (simple query protocol). */
static int exec_sql(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    return pgconn_exec(conn, sql, err, errlen);
}

void sync_db_iso_time(int64_t t, char *out, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int sync_db_ensure_state(PGconn *conn, const char *state_schema, char *err, size_t errlen)
{
    qid s = Q(state_schema);
    sbuf b = {0};
    /* concurrent CREATE ... IF NOT EXISTS can still collide: serialise them */
    sb_printf(&b,
              "BEGIN;"
              "SELECT pg_advisory_xact_lock(hashtext('tether.ddl'));"
              "CREATE SCHEMA IF NOT EXISTS %s;"
              "CREATE TABLE IF NOT EXISTS %s.sync ("
              " name text PRIMARY KEY, source text NOT NULL, target_schema text NOT NULL,"
              " feed_cursor text, backfill_started_at timestamptz, backfill_done boolean NOT NULL DEFAULT false,"
              " backfill_done_at timestamptz, last_event_id text, last_event_at timestamptz,"
              " events_applied bigint NOT NULL DEFAULT 0, last_error text, last_error_at timestamptz,"
              " updated_at timestamptz NOT NULL DEFAULT now());"
              "CREATE TABLE IF NOT EXISTS %s.collection ("
              " sync text NOT NULL, collection text NOT NULL, cursor text NOT NULL DEFAULT '',"
              " done boolean NOT NULL DEFAULT false, pages bigint NOT NULL DEFAULT 0,"
              " rows_written bigint NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now(),"
              " PRIMARY KEY (sync, collection));"
              "CREATE TABLE IF NOT EXISTS %s.lease ("
              " sync text PRIMARY KEY, holder text, expires_at timestamptz NOT NULL DEFAULT '-infinity');"
              "CREATE TABLE IF NOT EXISTS %s.tombstone ("
              " target_schema text NOT NULL, collection text NOT NULL, id text NOT NULL,"
              " version bigint NOT NULL, PRIMARY KEY (target_schema, collection, id));"
              "ALTER TABLE %s.sync ADD COLUMN IF NOT EXISTS caught_up_at timestamptz;"
              /* renews lease KEY for HOLDER or fails the transaction (pipelined
               * writes cannot look at a row count before their commit) */
              "CREATE OR REPLACE FUNCTION %s.lease_fence(p_key text, p_holder text, p_secs int)"
              " RETURNS void LANGUAGE plpgsql AS $fence$ BEGIN"
              " UPDATE %s.lease SET expires_at = now() + make_interval(secs => p_secs)"
              "  WHERE sync = p_key AND holder = p_holder;"
              " IF NOT FOUND THEN RAISE EXCEPTION 'lease %% lost', p_key USING ERRCODE = '"
              SYNC_DB_SQLSTATE_LEASE_LOST "'; END IF;"
              " END $fence$;"
              /* moves a collection's backfill cursor from p_from to p_to, or
               * fails the transaction (a page written after one that failed) */
              "CREATE OR REPLACE FUNCTION %s.cursor_advance(p_sync text, p_coll text, p_from text,"
              " p_to text, p_done boolean, p_rows bigint) RETURNS void LANGUAGE plpgsql AS $adv$ BEGIN"
              " UPDATE %s.collection SET cursor = p_to, done = p_done, pages = pages + 1,"
              "  rows_written = rows_written + p_rows, updated_at = now()"
              "  WHERE sync = p_sync AND collection = p_coll AND cursor = p_from;"
              " IF NOT FOUND THEN RAISE EXCEPTION 'backfill cursor of %% moved: not at %%', p_coll, p_from"
              "  USING ERRCODE = '" SYNC_DB_SQLSTATE_CURSOR_MOVED "'; END IF;"
              " END $adv$;"
              "COMMIT;",
              s.s, s.s, s.s, s.s, s.s, s.s, s.s, s.s, s.s, s.s);
    int rc = exec_sql(conn, b.s, err, errlen);
    if (rc != T_OK)
        exec_sql(conn, "ROLLBACK", (char[T_ERRBUF_SIZE]){0}, T_ERRBUF_SIZE);
    sb_free(&b);
    return rc;
}

/* Creates READ_ROLE if missing; returns whether it exists afterwards. */
static bool ensure_read_role(PGconn *conn, const char *read_role)
{
    char err[T_ERRBUF_SIZE];
    const char *p[] = {read_role};
    PGresult *r = sync_db_query(conn, "SELECT 1 FROM pg_roles WHERE rolname = $1", 1, p, err, sizeof(err));
    if (!r)
        return false;
    bool exists = PQntuples(r) > 0;
    PQclear(r);
    if (exists)
        return true;
    char sql[256];
    snprintf(sql, sizeof(sql), "CREATE ROLE %s NOLOGIN", Q(read_role).s);
    if (exec_sql(conn, sql, err, sizeof(err)) != T_OK) {
        log_warn("sync.read_role_skipped", "role=%s reason=\"%s\"", read_role, err);
        return false;
    }
    log_info("sync.read_role_created", "role=%s", read_role);
    return true;
}

static void column_ddl(sbuf *b, const char *schema, const conn_collection *c, const conn_column *col)
{
    sb_printf(b, "ALTER TABLE %s.%s ADD COLUMN IF NOT EXISTS %s %s;", Q(schema).s, Q(c->name).s,
              Q(col->name).s, conn_coltype_sql(col->type));
    size_t n = strlen(col->name);
    if (n > 3 && strcmp(col->name + n - 3, "_id") == 0) {
        char idx[160];
        snprintf(idx, sizeof(idx), "%.40s_%.40s_idx", c->name, col->name);
        sb_printf(b, "CREATE INDEX IF NOT EXISTS %s ON %s.%s (%s);", Q(idx).s, Q(schema).s,
                  Q(c->name).s, Q(col->name).s);
    }
}

/* Adds columns created by earlier runs (fields the API added) to S. */
static int load_existing_columns(PGconn *conn, const char *schema, conn_schema *s, char *err,
                                 size_t errlen)
{
    const char *p[] = {schema};
    PGresult *r = sync_db_query(conn,
                                "SELECT table_name, column_name, data_type FROM information_schema.columns"
                                " WHERE table_schema = $1 ORDER BY table_name, ordinal_position",
                                1, p, err, errlen);
    if (!r)
        return T_ERR;
    for (int i = 0; i < PQntuples(r); i++) {
        int ci = conn_schema_find(s, PQgetvalue(r, i, 0));
        const char *name = PQgetvalue(r, i, 1), *type = PQgetvalue(r, i, 2);
        if (ci < 0 || strcmp(name, "id") == 0 || name[0] == '_' || strlen(name) >= 64)
            continue;
        conn_collection *c = &s->colls[ci];
        if (conn_collection_column(c, name) || (c->soft_delete && strcmp(name, "deleted") == 0) ||
            strcmp(name, c->parent_column) == 0)
            continue;
        conn_column col = {0};
        snprintf(col.name, sizeof(col.name), "%s", name);
        snprintf(col.field, sizeof(col.field), "%s", name);
        size_t n = strlen(name);
        if (strcmp(type, "bigint") == 0) col.type = CONN_BIGINT;
        else if (strcmp(type, "numeric") == 0) col.type = CONN_NUMERIC;
        else if (strcmp(type, "boolean") == 0) col.type = CONN_BOOL;
        else if (strcmp(type, "timestamp with time zone") == 0) col.type = CONN_TIMESTAMPTZ;
        else if (strcmp(type, "date") == 0) col.type = CONN_DATE;
        else if (strcmp(type, "jsonb") == 0) col.type = CONN_JSONB;
        else if (strcmp(type, "ARRAY") == 0) col.type = CONN_TEXT_ARRAY;
        else if (strcmp(type, "text") == 0) {
            col.type = CONN_TEXT;
            if (n > 3 && strcmp(name + n - 3, "_id") == 0) {
                col.src = CONN_SRC_REF;
                col.field[n - 3] = '\0';
            }
        } else
            continue; /* a column someone else added: not ours */
        conn_collection_add_column(c, &col);
    }
    PQclear(r);
    return T_OK;
}

int sync_db_ensure_tables(PGconn *conn, const char *schema, conn_schema *s,
                          const char *read_role, char *err, size_t errlen)
{
    bool grant = read_role && *read_role && ensure_read_role(conn, read_role);
    sbuf b = {0};
    sb_printf(&b, "BEGIN; SELECT pg_advisory_xact_lock(hashtext('tether.ddl'));"
                  "CREATE SCHEMA IF NOT EXISTS %s;", Q(schema).s);
    for (size_t i = 0; i < s->n; i++) {
        const conn_collection *c = &s->colls[i];
        if (c->disabled)
            continue;
        sb_printf(&b,
                  "CREATE TABLE IF NOT EXISTS %s.%s (id text PRIMARY KEY,"
                  " _version bigint NOT NULL DEFAULT 0, _synced_at timestamptz NOT NULL DEFAULT now());",
                  Q(schema).s, Q(c->name).s);
        for (size_t k = 0; k < c->ncols; k++)
            column_ddl(&b, schema, c, &c->cols[k]);
        if (c->soft_delete)
            sb_printf(&b, "ALTER TABLE %s.%s ADD COLUMN IF NOT EXISTS deleted boolean;", Q(schema).s,
                      Q(c->name).s);
    }
    if (grant)
        sb_printf(&b, "GRANT USAGE ON SCHEMA %s TO %s; GRANT SELECT ON ALL TABLES IN SCHEMA %s TO %s;",
                  Q(schema).s, Q(read_role).s, Q(schema).s, Q(read_role).s);
    sb_printf(&b, "COMMIT;");
    int rc = exec_sql(conn, b.s, err, errlen);
    if (rc != T_OK)
        exec_sql(conn, "ROLLBACK", (char[T_ERRBUF_SIZE]){0}, T_ERRBUF_SIZE);
    sb_free(&b);
    if (rc == T_OK)
        rc = load_existing_columns(conn, schema, s, err, errlen);
    return rc;
}

int sync_db_add_column(PGconn *conn, const char *schema, const conn_collection *coll,
                       const conn_column *col, const char *read_role, char *err, size_t errlen)
{
    sbuf b = {0};
    column_ddl(&b, schema, coll, col);
    int rc = exec_sql(conn, b.s, err, errlen);
    sb_free(&b);
    if (rc == T_OK)
        log_info("sync.column_added", "schema=%s table=%s column=%s type=%s", schema, coll->name,
                 col->name, conn_coltype_sql(col->type));
    return rc;
}

/* Appends V as compact JSON text to B (dumped in place, no allocation). */
static void sb_json(sbuf *b, const json_t *v)
{
    if (!b->s)
        sb_printf(b, "%s", "");
    for (;;) {
        size_t room = b->cap - b->len;
        size_t need = json_dumpb(v, b->s + b->len, room, JSON_COMPACT | JSON_ENCODE_ANY);
        if (need == 0) { /* not encodable: cannot happen for parsed values */
            sb_printf(b, "null");
            return;
        }
        if (need < room) {
            b->len += need;
            b->s[b->len] = '\0';
            return;
        }
        size_t cap = (b->cap + need + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p)
            abort();
        b->s = p;
        b->cap = cap;
    }
}

/* Appends S[0..N) as a JSON string (quoted, escaped; UTF-8 passes through). */
static void sb_json_strn(sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sb_put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch != '"' && ch != '\\' && ch >= 0x20)
            continue;
        sb_put(b, s + run, i - run);
        if (ch == '"' || ch == '\\') {
            char esc[2] = {'\\', (char)ch};
            sb_put(b, esc, 2);
        } else {
            char esc[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
            sb_put(b, esc, 6);
        }
        run = i + 1;
    }
    sb_put(b, s + run, n - run);
    sb_put(b, "\"", 1);
}

static void sb_json_str(sbuf *b, const char *s)
{
    sb_json_strn(b, s, strlen(s));
}

/* Appends V as compact JSON, written directly (reals through jansson). */
static void sb_json_value(sbuf *b, const json_t *v)
{
    char num[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *x;
        bool first = true;
        sb_put(b, "{", 1);
        json_object_foreach((json_t *)v, key, x) {
            if (!first)
                sb_put(b, ",", 1);
            first = false;
            sb_json_str(b, key);
            sb_put(b, ":", 1);
            sb_json_value(b, x);
        }
        sb_put(b, "}", 1);
        return;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        sb_put(b, "[", 1);
        json_array_foreach(v, i, x) {
            if (i)
                sb_put(b, ",", 1);
            sb_json_value(b, x);
        }
        sb_put(b, "]", 1);
        return;
    }
    case JSON_NULL:
        sb_put(b, "null", 4);
        return;
    case JSON_STRING:
        sb_json_strn(b, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
        sb_put(b, num, (size_t)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v)));
        return;
    case JSON_TRUE:
        sb_put(b, "true", 4);
        return;
    case JSON_FALSE:
        sb_put(b, "false", 5);
        return;
    default:
        sb_json(b, v);
        return;
    }
}

/*
 * Appends '"<column>":<value>' (after a ',' unless *FIRST, which it clears)
 * for column COL of OBJ to B, the value as its Postgres column expects it
 * in jsonb_to_recordset; nothing when the field is missing, null or of a
 * type the column cannot take.
 */
static void column_emit(sbuf *b, const conn_column *col, json_t *obj, bool *first)
{
    json_t *v = json_object_get(obj, col->field);
    if (!v || json_is_null(v))
        return;
    if (col->src == CONN_SRC_REF) {
        if (json_is_object(v))
            v = json_object_get(v, "id");
        if (!json_is_string(v))
            return;
    } else {
        bool ok = false;
        switch (col->type) {
        case CONN_TEXT:
        case CONN_JSONB:
            ok = true;
            break;
        case CONN_BIGINT:
            ok = json_is_integer(v);
            break;
        case CONN_NUMERIC:
            ok = json_is_number(v) || json_is_string(v);
            break;
        case CONN_BOOL:
            ok = json_is_boolean(v);
            break;
        case CONN_TIMESTAMPTZ:
            ok = json_is_integer(v) || json_is_string(v);
            break;
        case CONN_DATE:
            ok = json_is_string(v);
            break;
        case CONN_TEXT_ARRAY:
            ok = json_is_array(v);
            break;
        }
        if (!ok)
            return;
    }
    if (!*first)
        sb_put(b, ",", 1);
    *first = false;
    sb_json_str(b, col->name);
    sb_put(b, ":", 1);
    if (col->src == CONN_SRC_VALUE && col->type == CONN_TEXT && !json_is_string(v)) {
        /* a text column holding a non-string value: its JSON text, as a string */
        char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        sb_json_str(b, d ? d : "");
        free(d);
    } else if (col->src == CONN_SRC_VALUE && col->type == CONN_TIMESTAMPTZ && json_is_integer(v)) {
        char iso[32];
        sync_db_iso_time(json_integer_value(v), iso, sizeof(iso));
        sb_json_str(b, iso);
    } else {
        sb_json_value(b, v);
    }
}

/* Adds columns for fields of OBJ that COLL does not have yet. */
/* KNOWN (a JSON object used as a set) gets "id" and every field of COLL. */
static json_t *known_fields(const conn_collection *coll)
{
    json_t *known = json_object();
    json_object_set_new(known, "id", json_true());
    for (size_t k = 0; k < coll->ncols; k++)
        json_object_set_new(known, coll->cols[k].field, json_true());
    return known;
}

/*
 * Answers "are all of OBJ's keys in KNOWN?" (KNOWN: known_fields()) for a
 * run of objects of one collection. Consecutive objects usually carry the
 * same keys in the same order (jansson keeps insertion order), so the keys
 * are first compared with those of the last object found all-known, which
 * is cheaper than a lookup per key; KNOWN only grows, so that answer holds.
 */
typedef struct known_skip {
    json_t *known; /* borrowed */
    json_t *last;  /* borrowed: the last object whose keys were all known */
} known_skip;

static bool known_skip_all(known_skip *ks, json_t *obj)
{
    if (ks->last && json_object_size(ks->last) == json_object_size(obj)) {
        void *a = json_object_iter(ks->last), *b = json_object_iter(obj);
        while (a && b && strcmp(json_object_iter_key(a), json_object_iter_key(b)) == 0) {
            a = json_object_iter_next(ks->last, a);
            b = json_object_iter_next(obj, b);
        }
        if (!a && !b)
            return true;
    }
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (!json_object_get(ks->known, key))
            return false;
    }
    ks->last = obj;
    return true;
}

/* KNOWN is the set of COLL's fields (known_fields), kept up to date here. */
static int evolve(PGconn *conn, const char *schema, conn_collection *coll, const connector_ops *ops,
                  void *self, json_t *obj, json_t *known, const char *read_role, char *err,
                  size_t errlen)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (json_object_get(known, key) || !ops->infer_column)
            continue;
        conn_column col;
        if (ops->infer_column(self, coll, key, v, &col) != T_OK)
            continue;
        if (conn_collection_column(coll, col.name))
            continue;
        if (conn_collection_add_column(coll, &col) != T_OK)
            continue;
        json_object_set_new(known, col.field, json_true());
        if (sync_db_add_column(conn, schema, coll, &col, read_role, err, errlen) != T_OK)
            return T_ERR;
    }
    return T_OK;
}

bool sync_db_needs_columns(const conn_schema *s, const connector_ops *ops, void *conn_self,
                           const conn_changes *ch)
{
    if (!ops->infer_column)
        return false;
    json_t *known[CONN_MAX_COLLECTIONS] = {0};
    known_skip skip[CONN_MAX_COLLECTIONS] = {{0}};
    bool needs = false;
    for (size_t i = 0; i < ch->n && !needs; i++) {
        const conn_change *x = &ch->items[i];
        if (x->coll >= s->n || s->colls[x->coll].disabled)
            continue;
        const conn_collection *c = &s->colls[x->coll];
        size_t nobj = x->kind == CONN_UPSERT ? 1 : x->kind == CONN_CHILDREN ? json_array_size(x->object) : 0;
        for (size_t k = 0; k < nobj && !needs; k++) {
            json_t *obj = x->kind == CONN_UPSERT ? x->object : json_array_get(x->object, k);
            if (!json_is_object(obj))
                continue;
            if (!known[x->coll])
                skip[x->coll].known = known[x->coll] = known_fields(c);
            if (known_skip_all(&skip[x->coll], obj))
                continue;
            const char *key;
            json_t *v;
            json_object_foreach(obj, key, v) {
                conn_column col;
                if (json_object_get(known[x->coll], key) ||
                    ops->infer_column(conn_self, c, key, v, &col) != T_OK ||
                    conn_collection_column(c, col.name))
                    continue;
                needs = true;
                break;
            }
        }
    }
    for (size_t i = 0; i < CONN_MAX_COLLECTIONS; i++)
        json_decref(known[i]);
    return needs;
}

typedef struct pending {
    const conn_change *ch;
    json_t *obj;        /* borrowed: the object to upsert */
    const char *parent; /* for children */
    int64_t version;
    const char *id;
    size_t sub;         /* position inside a children list */
    bool del;
} pending;

/* Orders by id, then feed order (changes are stored in feed order). */
static int pending_cmp(const void *a, const void *b)
{
    const pending *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    if (x->ch != y->ch)
        return x->ch < y->ch ? -1 : 1;
    return x->sub < y->sub ? -1 : x->sub > y->sub;
}

/* Keeps the last entry per id (the newest in feed order); O(n log n). */
static size_t dedupe(pending *p, size_t n)
{
    if (n == 0)
        return 0;
    qsort(p, n, sizeof(*p), pending_cmp);
    size_t out = 0;
    for (size_t i = 0; i < n; i++)
        if (i + 1 == n || strcmp(p[i].id, p[i + 1].id) != 0)
            p[out++] = p[i];
    return out;
}

/* The statement (and its parameters) as batch entry: takes SQL and PAYLOAD. */
static void batch_push(sync_batch *out, sbuf *sql, char *payload, const char *schema,
                       const char *coll)
{
    char *p[] = {payload, strdup(schema), strdup(coll)};
    if (!p[1] || !p[2])
        abort();
    sync_batch_add_owned(out, true, sql->s, 3, p);
    sql->s = NULL;
    sql->len = sql->cap = 0;
}

/* The name of upsert key K (an index into C's columns, or KEY_*). */
static const char *upsert_key_name(const conn_collection *c, int k)
{
    return k >= 0 ? c->cols[k].name : k == -1 ? "id" : k == -2 ? c->parent_column : "_version";
}

/* jsonb's key order: shorter keys first, equal lengths bytewise. */
static int upsert_key_cmp(const conn_collection *c, int a, int b)
{
    const char *x = upsert_key_name(c, a), *y = upsert_key_name(c, b);
    size_t lx = strlen(x), ly = strlen(y);
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return memcmp(x, y, lx);
}

static void upsert_rows(const char *state_schema, const char *schema, const conn_collection *c,
                        pending *rows, size_t n, bool strict, sync_batch *out)
{
    /*
     * The jsonb_to_recordset payload, written directly as text, each row's
     * keys in jsonb's own order (shorter first, then bytewise): jsonb sorts
     * every object's keys, and its sort returns at once on sorted input.
     */
    enum { KEY_ID = -1, KEY_PARENT = -2, KEY_VERSION = -3 };
    int order[CONN_MAX_COLUMNS + 3];
    size_t nkeys = 0;
    order[nkeys++] = KEY_ID;
    order[nkeys++] = KEY_VERSION;
    if (c->parent_column[0])
        order[nkeys++] = KEY_PARENT;
    for (size_t k = 0; k < c->ncols; k++)
        order[nkeys++] = (int)k;
    for (size_t a = 1; a < nkeys; a++) /* insertion sort: a few dozen keys */
        for (size_t b = a; b > 0 && upsert_key_cmp(c, order[b - 1], order[b]) > 0; b--) {
            int t = order[b];
            order[b] = order[b - 1];
            order[b - 1] = t;
        }
    sbuf pl = {0};
    sb_printf(&pl, "[");
    for (size_t i = 0; i < n; i++) {
        sb_puts(&pl, i ? ",{" : "{");
        bool first = true;
        for (size_t k = 0; k < nkeys; k++) {
            const char *key = NULL, *text = NULL;
            char num[32];
            switch (order[k]) {
            case KEY_ID:
                key = "id";
                text = rows[i].id;
                break;
            case KEY_PARENT:
                key = rows[i].parent ? c->parent_column : NULL;
                text = rows[i].parent;
                break;
            case KEY_VERSION:
                snprintf(num, sizeof(num), "%lld", (long long)rows[i].version);
                if (!first)
                    sb_put(&pl, ",", 1);
                first = false;
                sb_puts(&pl, "\"_version\":");
                sb_puts(&pl, num);
                continue;
            default:
                column_emit(&pl, &c->cols[order[k]], rows[i].obj, &first);
                continue;
            }
            if (!key)
                continue;
            if (!first)
                sb_put(&pl, ",", 1);
            first = false;
            sb_json_str(&pl, key);
            sb_put(&pl, ":", 1);
            sb_json_str(&pl, text);
        }
        sb_put(&pl, "}", 1);
    }
    sb_printf(&pl, "]");
    char *payload = pl.s;
    sbuf cols = {0}, rec = {0}, sets = {0}, oldv = {0}, newv = {0};
    sb_printf(&cols, "id");
    sb_printf(&rec, "id text");
    for (size_t k = 0; k < c->ncols; k++) {
        qid name = Q(c->cols[k].name);
        sb_printf(&cols, ", %s", name.s);
        sb_printf(&rec, ", %s %s", name.s, conn_coltype_sql(c->cols[k].type));
        sb_printf(&sets, "%s = excluded.%s, ", name.s, name.s);
        sb_printf(&oldv, "%st.%s", k ? ", " : "", name.s);
        sb_printf(&newv, "%sexcluded.%s", k ? ", " : "", name.s);
    }
    sbuf sql = {0};
    sb_printf(&sql,
              "INSERT INTO %s.%s AS t (%s, _version, _synced_at)"
              " SELECT %s, r._version, now() FROM jsonb_to_recordset($1::jsonb) AS r(%s, _version bigint)"
              " WHERE NOT EXISTS (SELECT 1 FROM %s.tombstone d WHERE d.target_schema = $2"
              " AND d.collection = $3 AND d.id = r.id AND d.version >= r._version)"
              " ON CONFLICT (id) DO UPDATE SET %s_version = excluded._version, _synced_at = excluded._synced_at"
              " WHERE t._version < excluded._version OR (%s AND t._version = excluded._version AND"
              " ROW(%s) IS DISTINCT FROM ROW(%s))",
              Q(schema).s, Q(c->name).s, cols.s, cols.s, rec.s, Q(state_schema).s, sets.s ? sets.s : "",
              strict ? "false" : "true", c->ncols ? oldv.s : "t.id", c->ncols ? newv.s : "excluded.id");
    batch_push(out, &sql, payload, schema, c->name);
    sb_free(&cols);
    sb_free(&rec);
    sb_free(&sets);
    sb_free(&oldv);
    sb_free(&newv);
}

static void delete_rows(const char *state_schema, const char *schema, const conn_collection *c,
                        pending *rows, size_t n, sync_batch *out)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s,s:I}", "id", rows[i].id, "v", (json_int_t)rows[i].version));
    char *payload = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    sbuf sql = {0};
    sb_printf(&sql,
              "WITH d AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS d(id text, v bigint)),"
              " ts AS (INSERT INTO %s.tombstone (target_schema, collection, id, version)"
              "  SELECT $2, $3, id, v FROM d ON CONFLICT (target_schema, collection, id)"
              "  DO UPDATE SET version = greatest(tombstone.version, excluded.version))"
              " DELETE FROM %s.%s t USING d WHERE t.id = d.id AND t._version <= d.v",
              Q(state_schema).s, Q(schema).s, Q(c->name).s);
    batch_push(out, &sql, payload, schema, c->name);
}

/* Deletes children of each parent that are not in its current list. */
static void prune_children(const char *state_schema, const char *schema, const conn_collection *c,
                           pending *parents, size_t n, sync_batch *out)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *ids = json_array();
        size_t k;
        json_t *child;
        json_array_foreach(parents[i].obj, k, child) {
            json_t *cid = json_object_get(child, "id");
            if (json_is_string(cid))
                json_array_append(ids, cid);
        }
        json_array_append_new(arr, json_pack("{s:s,s:o,s:I}", "parent", parents[i].id, "ids", ids,
                                             "v", (json_int_t)parents[i].version));
    }
    char *payload = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    sbuf sql = {0};
    sb_printf(&sql,
              "WITH p AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS p(parent text, ids jsonb, v bigint)),"
              " del AS (DELETE FROM %s.%s t USING p WHERE t.%s = p.parent AND NOT (p.ids ? t.id)"
              "  AND t._version <= p.v RETURNING t.id, p.v)"
              " INSERT INTO %s.tombstone (target_schema, collection, id, version)"
              " SELECT $2, $3, id, v FROM del ON CONFLICT (target_schema, collection, id)"
              " DO UPDATE SET version = greatest(tombstone.version, excluded.version)",
              Q(schema).s, Q(c->name).s, Q(c->parent_column).s, Q(state_schema).s);
    batch_push(out, &sql, payload, schema, c->name);
}

int sync_db_apply(PGconn *conn, const char *state_schema, const char *schema, conn_schema *s,
                  const connector_ops *ops, void *conn_self, const conn_changes *ch,
                  const char *read_role, long *written, char *err, size_t errlen)
{
    sync_batch b = {0};
    *written = 0;
    int rc = sync_db_apply_build(conn, state_schema, schema, s, ops, conn_self, ch, read_role, &b,
                                 err, errlen);
    if (rc == T_OK)
        rc = sync_batch_exec(conn, &b, err, errlen);
    *written = b.written;
    sync_batch_free(&b);
    return rc;
}

int sync_db_apply_build(PGconn *conn, const char *state_schema, const char *schema, conn_schema *s,
                        const connector_ops *ops, void *conn_self, const conn_changes *ch,
                        const char *read_role, sync_batch *out, char *err, size_t errlen)
{
    int rc = T_OK;
    size_t cap = ch->n + 1;
    for (size_t i = 0; i < ch->n; i++)
        if (ch->items[i].kind == CONN_CHILDREN)
            cap += json_array_size(ch->items[i].object);
    pending *ups = calloc(cap, sizeof(*ups)), *dels = calloc(cap, sizeof(*dels)),
            *kids = calloc(cap, sizeof(*kids));
    if (!ups || !dels || !kids)
        abort();
    for (size_t coll = 0; coll < s->n && rc == T_OK; coll++) {
        conn_collection *c = &s->colls[coll];
        if (c->disabled)
            continue;
        size_t nu = 0, nd = 0, nk = 0;
        /* upserts and deletes together: the last change per id in feed order wins */
        for (size_t i = 0; i < ch->n; i++) {
            const conn_change *x = &ch->items[i];
            if (x->coll != coll)
                continue;
            if (x->kind == CONN_UPSERT && json_is_object(x->object)) {
                ups[nu++] = (pending){x, x->object, NULL, x->version, x->id, 0, false};
            } else if (x->kind == CONN_DELETE) {
                ups[nu++] = (pending){x, NULL, NULL, x->version, x->id, 0, true};
            } else if (x->kind == CONN_CHILDREN && json_is_array(x->object)) {
                kids[nk++] = (pending){x, x->object, NULL, x->version, x->id, 0, false};
                size_t k;
                json_t *child;
                json_array_foreach(x->object, k, child) {
                    const char *cid = json_string_value(json_object_get(child, "id"));
                    if (cid)
                        ups[nu++] = (pending){x, child, x->id, x->version, cid, k, false};
                }
            }
        }
        size_t n = dedupe(ups, nu);
        nu = 0;
        for (size_t i = 0; i < n; i++) {
            if (ups[i].del)
                dels[nd++] = ups[i];
            else
                ups[nu++] = ups[i];
        }
        nk = dedupe(kids, nk);
        json_t *known = nu > 0 ? known_fields(c) : NULL;
        known_skip skip = {known, NULL};
        for (size_t i = 0; i < nu && rc == T_OK; i++)
            if (!known_skip_all(&skip, ups[i].obj))
                rc = evolve(conn, schema, c, ops, conn_self, ups[i].obj, known, read_role, err, errlen);
        json_decref(known);
        if (rc == T_OK && nu > 0)
            upsert_rows(state_schema, schema, c, ups, nu, ch->strictly_newer, out);
        if (rc == T_OK && nk > 0 && c->parent_column[0])
            prune_children(state_schema, schema, c, kids, nk, out);
        if (rc == T_OK && nd > 0)
            delete_rows(state_schema, schema, c, dels, nd, out);
    }
    free(ups);
    free(dels);
    free(kids);
    return rc;
}
