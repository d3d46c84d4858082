/*
 * sync_status.c - see sync_status.h. Reads the state schema with libpq on
 * the caller's connection; builds jansson values the caller frees.
 */
#include "sync/sync_status.h"
#include "pg/pgconn.h"
#include "sync/sync_db.h"
#include "util/common.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static json_t *text_or_null(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

json_t *sync_status_read(PGconn *conn, const char *state_schema, char *err, size_t errlen)
{
    char ss[136], sql[1024];
    if (pgconn_quote_ident(state_schema, ss, sizeof(ss)) != T_OK) {
        snprintf(err, errlen, "bad state schema name");
        return NULL;
    }
    json_t *out = json_object(), *syncs = json_array();
    json_object_set_new(out, "syncs", syncs);
    const char *p0[] = {state_schema};
    PGresult *r = sync_db_query(conn, "SELECT to_regclass(quote_ident($1) || '.sync') IS NOT NULL", 1,
                                p0, err, errlen);
    if (!r)
        goto failed;
    bool exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!exists)
        return out;
    snprintf(sql, sizeof(sql),
             "SELECT s.name, s.source, s.target_schema, s.feed_cursor, s.backfill_done,"
             " to_char(s.last_event_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), s.last_event_id,"
             " CASE WHEN s.backfill_done THEN extract(epoch FROM now() - s.caught_up_at)::bigint END, s.last_error,"
             " to_char(s.last_error_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
             " l.holder, l.expires_at > now()"
             " FROM %s.sync s LEFT JOIN %s.lease l ON l.sync = s.name ORDER BY s.name",
             ss, ss);
    r = sync_db_query(conn, sql, 0, NULL, err, errlen);
    if (!r)
        goto failed;
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *s = json_object();
        json_object_set_new(s, "name", json_string(PQgetvalue(r, i, 0)));
        json_object_set_new(s, "source", json_string(PQgetvalue(r, i, 1)));
        json_object_set_new(s, "schema", json_string(PQgetvalue(r, i, 2)));
        json_object_set_new(s, "feed_cursor", text_or_null(r, i, 3));
        json_object_set_new(s, "backfill_done", json_boolean(strcmp(PQgetvalue(r, i, 4), "t") == 0));
        json_object_set_new(s, "last_event_at", text_or_null(r, i, 5));
        json_object_set_new(s, "last_event_id", text_or_null(r, i, 6));
        json_object_set_new(s, "lag_seconds", PQgetisnull(r, i, 7) ? json_null()
                                                  : json_integer(atoll(PQgetvalue(r, i, 7))));
        json_object_set_new(s, "last_error", text_or_null(r, i, 8));
        json_object_set_new(s, "last_error_at", text_or_null(r, i, 9));
        bool live = !PQgetisnull(r, i, 11) && strcmp(PQgetvalue(r, i, 11), "t") == 0;
        json_object_set_new(s, "lease_holder", live ? text_or_null(r, i, 10) : json_null());
        json_object_set_new(s, "collections", json_array());
        json_array_append_new(syncs, s);
    }
    PQclear(r);
    snprintf(sql, sizeof(sql),
             "SELECT c.sync, c.collection, c.done, c.pages, c.rows_written, s.target_schema"
             " FROM %s.collection c JOIN %s.sync s ON s.name = c.sync ORDER BY c.sync, c.collection",
             ss, ss);
    r = sync_db_query(conn, sql, 0, NULL, err, errlen);
    if (!r)
        goto failed;
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *c = json_object();
        const char *sname = PQgetvalue(r, i, 0), *cname = PQgetvalue(r, i, 1);
        json_object_set_new(c, "name", json_string(cname));
        json_object_set_new(c, "backfill_done", json_boolean(strcmp(PQgetvalue(r, i, 2), "t") == 0));
        json_object_set_new(c, "pages", json_integer(atoll(PQgetvalue(r, i, 3))));
        json_object_set_new(c, "rows_fetched", json_integer(atoll(PQgetvalue(r, i, 4))));
        char ts[136], tt[136], q[400];
        long long rows = -1;
        if (pgconn_quote_ident(PQgetvalue(r, i, 5), ts, sizeof(ts)) == T_OK &&
            pgconn_quote_ident(cname, tt, sizeof(tt)) == T_OK) {
            snprintf(q, sizeof(q), "SELECT count(*) FROM %s.%s", ts, tt);
            char e2[T_ERRBUF_SIZE];
            PGresult *cr = sync_db_query(conn, q, 0, NULL, e2, sizeof(e2));
            if (cr) {
                rows = atoll(PQgetvalue(cr, 0, 0));
                PQclear(cr);
            }
        }
        json_object_set_new(c, "rows", rows >= 0 ? json_integer(rows) : json_null());
        size_t k;
        json_t *s;
        json_array_foreach(syncs, k, s) {
            if (strcmp(json_string_value(json_object_get(s, "name")), sname) == 0) {
                json_array_append(json_object_get(s, "collections"), c);
                break;
            }
        }
        json_decref(c);
    }
    PQclear(r);
    return out;
failed:
    json_decref(out);
    return NULL;
}

static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < *cap - *len) {
            *len += (size_t)n;
            return;
        }
        *cap = *cap * 2 + (size_t)n;
        *buf = realloc(*buf, *cap);
        if (!*buf)
            abort();
    }
}

char *sync_status_metrics(json_t *status)
{
    size_t len = 0, cap = 1024;
    char *b = malloc(cap);
    if (!b)
        abort();
    b[0] = '\0';
    append(&b, &len, &cap,
           "# HELP tether_sync_backfill_done 1 when the sync's backfill has finished.\n"
           "# TYPE tether_sync_backfill_done gauge\n"
           "# HELP tether_sync_lag_seconds Seconds since the newest applied event was created.\n"
           "# TYPE tether_sync_lag_seconds gauge\n"
           "# HELP tether_sync_error 1 when the sync's last attempt recorded an error.\n"
           "# TYPE tether_sync_error gauge\n"
           "# HELP tether_collection_rows Rows in the collection's table.\n"
           "# TYPE tether_collection_rows gauge\n"
           "# HELP tether_collection_backfill_pages Backfill pages written.\n"
           "# TYPE tether_collection_backfill_pages counter\n");
    size_t i, k;
    json_t *s, *c;
    json_array_foreach(json_object_get(status, "syncs"), i, s) {
        const char *name = json_string_value(json_object_get(s, "name"));
        append(&b, &len, &cap, "tether_sync_backfill_done{sync=\"%s\"} %d\n", name,
               json_is_true(json_object_get(s, "backfill_done")));
        json_t *lag = json_object_get(s, "lag_seconds");
        if (json_is_integer(lag))
            append(&b, &len, &cap, "tether_sync_lag_seconds{sync=\"%s\"} %lld\n", name,
                   (long long)json_integer_value(lag));
        append(&b, &len, &cap, "tether_sync_error{sync=\"%s\"} %d\n", name,
               json_is_string(json_object_get(s, "last_error")));
        json_array_foreach(json_object_get(s, "collections"), k, c) {
            const char *cn = json_string_value(json_object_get(c, "name"));
            json_t *rows = json_object_get(c, "rows");
            if (json_is_integer(rows))
                append(&b, &len, &cap, "tether_collection_rows{sync=\"%s\",collection=\"%s\"} %lld\n",
                       name, cn, (long long)json_integer_value(rows));
            append(&b, &len, &cap,
                   "tether_collection_backfill_pages{sync=\"%s\",collection=\"%s\"} %lld\n", name, cn,
                   (long long)json_integer_value(json_object_get(c, "pages")));
        }
    }
    return b;
}

void sync_status_print(json_t *status, FILE *out, bool bar)
{
    size_t i, k;
    json_t *s, *c;
    json_t *syncs = json_object_get(status, "syncs");
    if (json_array_size(syncs) == 0)
        fprintf(out, "no syncs have started yet\n");
    json_array_foreach(syncs, i, s) {
        json_t *colls = json_object_get(s, "collections");
        size_t ndone = 0, n = json_array_size(colls);
        json_array_foreach(colls, k, c) ndone += json_is_true(json_object_get(c, "backfill_done"));
        bool done = json_is_true(json_object_get(s, "backfill_done"));
        fprintf(out, "sync %s (%s -> schema %s): %s\n", json_string_value(json_object_get(s, "name")),
                json_string_value(json_object_get(s, "source")),
                json_string_value(json_object_get(s, "schema")), done ? "real time" : "backfilling");
        if (bar && !done && n > 0) {
            int width = 30, fill = (int)(width * ndone / n);
            fprintf(out, "  [%.*s%*s] %zu/%zu collections\n", fill,
                    "##############################", width - fill, "", ndone, n);
        }
        json_t *lag = json_object_get(s, "lag_seconds");
        const char *lid = json_string_value(json_object_get(s, "last_event_id"));
        const char *lat = json_string_value(json_object_get(s, "last_event_at"));
        fprintf(out, "  last event: %s at %s, lag %s%llds\n", lid ? lid : "-", lat ? lat : "-",
                json_is_integer(lag) ? "" : "~", json_is_integer(lag) ? (long long)json_integer_value(lag) : 0LL);
        const char *le = json_string_value(json_object_get(s, "last_error"));
        const char *lea = json_string_value(json_object_get(s, "last_error_at"));
        fprintf(out, "  last error: %s%s%s\n", le ? le : "none", le ? " at " : "", le && lea ? lea : "");
        const char *holder = json_string_value(json_object_get(s, "lease_holder"));
        fprintf(out, "  worker: %s\n", holder ? holder : "none (no live lease)");
        json_array_foreach(colls, k, c) {
            json_t *rows = json_object_get(c, "rows");
            fprintf(out, "  %-20s %-12s rows=%lld pages=%lld\n",
                    json_string_value(json_object_get(c, "name")),
                    json_is_true(json_object_get(c, "backfill_done")) ? "done" : "backfilling",
                    json_is_integer(rows) ? (long long)json_integer_value(rows) : -1LL,
                    (long long)json_integer_value(json_object_get(c, "pages")));
        }
    }
}
