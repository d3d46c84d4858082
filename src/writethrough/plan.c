/*
 * plan.c - turns the rows a statement would have written (captured OLD/NEW)
 * into API writes: an UPDATE sends only the writable columns whose value
 * changed (metadata keys that disappeared are sent empty, which Stripe treats
 * as "remove"); an INSERT without id is a create with its non-null writable
 * columns; an INSERT ... ON CONFLICT (id) becomes an update of the existing
 * object (DO UPDATE) or nothing (DO NOTHING); a DELETE deletes by id. Every
 * check (read-only columns, explicit ids, the row limit) happens here, before
 * any API call. The plan owns its field objects (wt_plan_free).
 */
#include "writethrough/writethrough.h"

#include "util/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Columns no API write may set (besides Tether's own _version/_synced_at). */
static const char *const wt_plan_read_only[] = {
    "id", "object", "created", "livemode", "deleted", "delinquent", "discount", "test_clock",
};

static bool wt_plan_tether_column(const char *column)
{
    return strcmp(column, "_version") == 0 || strcmp(column, "_synced_at") == 0;
}

bool wt_plan_column_writable(const conn_collection *coll, const char *column)
{
    for (size_t i = 0; i < T_ARRAY_LEN(wt_plan_read_only); i++)
        if (strcmp(column, wt_plan_read_only[i]) == 0)
            return false;
    if (wt_plan_tether_column(column))
        return false;
    if (coll->parent_column[0] && strcmp(column, coll->parent_column) == 0)
        return false;
    return conn_collection_column(coll, column) != NULL;
}

/* "2026-11-26T22:00:00+00:00" (to_jsonb of timestamptz) -> unix seconds. */
static bool wt_plan_parse_time(const char *s, long long *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
        return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    long long t = (long long)timegm(&tm);
    const char *p = s + n;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    if (*p == '+' || *p == '-') {
        int oh = 0, om = 0;
        sscanf(p + 1, "%2d:%2d", &oh, &om);
        long long off = oh * 3600LL + om * 60LL;
        t += *p == '+' ? -off : off;
    }
    *out = t;
    return true;
}

/* The API value for column COL holding V (a new reference), or NULL to skip. */
static json_t *wt_plan_value(const conn_column *col, json_t *v, bool for_update)
{
    if (!v || json_is_null(v))
        return for_update ? json_string("") : NULL;
    if (col->type == CONN_TIMESTAMPTZ && json_is_string(v)) {
        long long t;
        if (wt_plan_parse_time(json_string_value(v), &t))
            return json_integer(t);
    }
    if (col->type == CONN_JSONB && json_is_object(v)) {
        /* metadata values are strings at the API */
        json_t *o = json_object();
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            if (json_is_string(x)) {
                json_object_set(o, k, x);
            } else {
                char *txt = json_dumps(x, JSON_ENCODE_ANY | JSON_COMPACT);
                json_object_set_new(o, k, json_string(txt ? txt : ""));
                free(txt);
            }
        }
        return o;
    }
    return json_incref(v);
}

static wt_write *wt_plan_push(wt_plan *p, conn_write_op op, const char *id, json_t *old_row)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        wt_write *w = realloc(p->writes, cap * sizeof(*w));
        if (!w)
            abort();
        p->writes = w;
        p->cap = cap;
    }
    wt_write *w = &p->writes[p->n++];
    memset(w, 0, sizeof(*w));
    w->op = op;
    snprintf(w->id, sizeof(w->id), "%s", id ? id : "");
    w->old_row = old_row;
    return w;
}

static const char *wt_plan_id(json_t *row)
{
    return row ? json_string_value(json_object_get(row, "id")) : NULL;
}

/*
 * Fields of an update from OLD to NEW. With SKIP_NULL_NEW, a null in NEW means
 * "not given" (upserts). Returns NULL with ERR set on a read-only change.
 */
static json_t *wt_plan_diff(const wt_target *t, const conn_collection *coll, json_t *old_row,
                            json_t *new_row, bool skip_null_new, wt_error *err)
{
    json_t *fields = json_object();
    const char *k;
    json_t *nv;
    json_object_foreach(new_row, k, nv) {
        json_t *ov = json_object_get(old_row, k);
        if (skip_null_new && (json_is_null(nv) || wt_plan_tether_column(k)))
            continue; /* upsert: only what the INSERT gives counts */
        if (json_equal(ov ? ov : json_null(), nv))
            continue;
        if (!wt_plan_column_writable(coll, k) || conn_collection_column(coll, k)->no_update) {
            wt_error_set(err, WT_SQLSTATE_READ_ONLY,
                         "Only writable fields of the API object can be changed.", NULL,
                         "column \"%s\" of %s.%s is read-only", k, t->schema_name, coll->name);
            json_decref(fields);
            return NULL;
        }
        const conn_column *col = conn_collection_column(coll, k);
        if (col->type == CONN_JSONB && json_is_object(nv) && json_is_object(ov)) {
            json_t *m = wt_plan_value(col, nv, true);
            const char *mk;
            json_t *mv;
            json_object_foreach(ov, mk, mv) {
                if (!json_object_get(nv, mk))
                    json_object_set_new(m, mk, json_string(""));
            }
            json_object_set_new(fields, col->field, m);
            continue;
        }
        json_t *v = wt_plan_value(col, nv, true);
        if (v)
            json_object_set_new(fields, col->field, v);
    }
    return fields;
}

/* Fields of a create from NEW (non-null writable columns). */
static json_t *wt_plan_create_fields(const wt_target *t, const conn_collection *coll,
                                     json_t *new_row, wt_error *err)
{
    json_t *fields = json_object();
    const char *k;
    json_t *nv;
    json_object_foreach(new_row, k, nv) {
        if (json_is_null(nv) || wt_plan_tether_column(k))
            continue;
        if (strcmp(k, "deleted") == 0 && json_is_false(nv))
            continue;
        if (!wt_plan_column_writable(coll, k) || conn_collection_column(coll, k)->no_create) {
            wt_error_set(err, WT_SQLSTATE_READ_ONLY,
                         strcmp(k, "id") == 0 ? "The API assigns ids: leave id out of the INSERT."
                                              : "Only writable fields of the API object can be set.",
                         NULL, "column \"%s\" of %s.%s is read-only", k, t->schema_name, coll->name);
            json_decref(fields);
            return NULL;
        }
        const conn_column *col = conn_collection_column(coll, k);
        json_t *v = wt_plan_value(col, nv, false);
        if (v)
            json_object_set_new(fields, col->field, v);
    }
    return fields;
}

/* The current row of ID as JSON (new reference), or NULL when absent. */
static json_t *wt_plan_existing(PGconn *conn, const wt_target *t, const conn_collection *coll,
                                const char *id)
{
    char sql[512];
    char *sq = PQescapeIdentifier(conn, t->schema_name, strlen(t->schema_name));
    char *tq = PQescapeIdentifier(conn, coll->name, strlen(coll->name));
    snprintf(sql, sizeof(sql), "SELECT to_jsonb(t)::text FROM %s.%s t WHERE id = $1", sq ? sq : "",
             tq ? tq : "");
    PQfreemem(sq);
    PQfreemem(tq);
    const char *p[] = {id};
    PGresult *r = PQexecParams(conn, sql, 1, NULL, p, NULL, NULL, 0);
    json_t *row = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        json_error_t je;
        row = json_loads(PQgetvalue(r, 0, 0), 0, &je);
    }
    PQclear(r);
    return row;
}

int wt_plan_build(wt_target *t, size_t coll_idx, const wt_captures *cap,
                  classify_on_conflict on_conflict, PGconn *conn, wt_plan *out, wt_error *err)
{
    memset(out, 0, sizeof(*out));
    out->target = t;
    out->coll = coll_idx;
    const conn_collection *coll = &t->schema->colls[coll_idx];
    if (t->max_rows > 0 && cap->n > (size_t)t->max_rows) {
        char detail[256];
        snprintf(detail, sizeof(detail), "The statement touches %zu rows; nothing was sent to the API.",
                 cap->n);
        wt_error_set(err, WT_SQLSTATE_TOO_MANY, detail,
                     "Split the statement (e.g. by id ranges) or raise max_rows_per_write.",
                     "a write through Tether may touch at most %d rows of %s.%s per statement",
                     t->max_rows, t->schema_name, coll->name);
        return T_ERR;
    }
    for (size_t i = 0; i < cap->n; i++) {
        const wt_capture *c = &cap->rows[i];
        if (strcmp(c->op, "UPDATE") == 0) {
            out->op = CLASSIFY_UPDATE;
            out->matched++;
            const char *id = wt_plan_id(c->old_row);
            json_t *fields = wt_plan_diff(t, coll, c->old_row, c->new_row, false, err);
            if (!fields)
                goto failed;
            if (json_object_size(fields) == 0) {
                json_decref(fields);
                continue; /* nothing changes: no API call */
            }
            wt_plan_push(out, CONN_WRITE_UPDATE, id, c->old_row)->fields = fields;
        } else if (strcmp(c->op, "DELETE") == 0) {
            out->op = CLASSIFY_DELETE;
            out->matched++;
            wt_plan_push(out, CONN_WRITE_DELETE, wt_plan_id(c->old_row), c->old_row);
        } else {
            out->op = CLASSIFY_INSERT;
            const char *id = wt_plan_id(c->new_row);
            if (id && on_conflict != CLASSIFY_CONFLICT_NONE) {
                json_t *existing = wt_plan_existing(conn, t, coll, id);
                if (existing) {
                    if (on_conflict == CLASSIFY_CONFLICT_NOTHING) {
                        json_decref(existing);
                        continue;
                    }
                    json_t *fields = wt_plan_diff(t, coll, existing, c->new_row, true, err);
                    json_decref(existing);
                    if (!fields)
                        goto failed;
                    out->matched++;
                    if (json_object_size(fields) == 0) {
                        json_decref(fields);
                        continue;
                    }
                    wt_plan_push(out, CONN_WRITE_UPDATE, id, NULL)->fields = fields;
                    continue;
                }
            }
            json_t *fields = wt_plan_create_fields(t, coll, c->new_row, err);
            if (!fields)
                goto failed;
            out->matched++;
            wt_plan_push(out, CONN_WRITE_CREATE, NULL, NULL)->fields = fields;
        }
    }
    return T_OK;
failed:
    wt_plan_free(out);
    return T_ERR;
}

void wt_plan_free(wt_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        json_decref(p->writes[i].fields);
    free(p->writes);
    p->writes = NULL;
    p->n = p->cap = 0;
}
