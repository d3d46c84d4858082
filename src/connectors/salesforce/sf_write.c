/*
 * sf_write.c - the Salesforce connector's writes for the proxy: single
 * records (apply: POST/PATCH/DELETE on /sobjects, re-read afterwards) and up
 * to 200 records per /composite/sobjects call (apply_batch), with creates
 * never sent twice blindly (an unknown outcome is looked up first).
 *
 * Memory: requests and responses live only during a call; canonical records
 * handed back belong to the caller.
 */
#include "connectors/salesforce/sf_conn.h"
#include "util/common.h"
#include "util/log.h"

#include <assert.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* GETs the record ID of COLL into *CANONICAL (with "id" added). */
static int sf_read_record(sf_conn *s, const conn_collection *coll, const char *id,
                          json_t **canonical, conn_api_error *api_err)
{
    char path[512];
    char *esc = curl_easy_escape(NULL, id, 0);
    snprintf(path, sizeof(path), "/services/data/v%s/sobjects/%s/%s", s->api_version,
             coll->object_type, esc ? esc : "");
    curl_free(esc);
    http_request r;
    sf_req(s, &r, "GET", path);
    char err[256];
    int rc = T_OK;
    if (sf_run(s, &r, 1, err, sizeof(err)) != T_OK) {
        api_err->http_status = 401;
        snprintf(api_err->code, sizeof(api_err->code), "INVALID_SESSION_ID");
        snprintf(api_err->message, sizeof(api_err->message), "%s", err);
        rc = T_ERR;
    } else if (r.status == 200 && json_is_object(r.json)) {
        *canonical = json_incref(r.json);
        sf_record_normalize(*canonical);
        json_object_set_new(*canonical, "id", json_string(id));
    } else {
        sf_error_from_body(r.status, r.json, api_err);
        if (r.status == 0)
            snprintf(api_err->message, sizeof(api_err->message), "%s", r.error);
        rc = T_ERR;
    }
    http_request_reset(&r);
    return rc;
}

/* Appends a SOQL string literal of V (quotes and backslashes escaped). */
static void sf_soql_literal(char *buf, size_t len, const char *v)
{
    size_t o = strlen(buf);
    if (o + 2 >= len)
        return;
    buf[o++] = '\'';
    for (; *v && o + 3 < len; v++) {
        if (*v == '\'' || *v == '\\')
            buf[o++] = '\\';
        buf[o++] = *v;
    }
    buf[o++] = '\'';
    buf[o] = '\0';
}

/*
 * After a create whose outcome is unknown (no answer, 5xx, or a 2xx without
 * a readable id): looks for a record of COLL created since SINCE_MS whose
 * short text, number and boolean FIELDS equal the ones sent. Returns T_OK
 * with its id in NEWID, T_ERR when there is none, or 1 when the lookup itself
 * failed (then nobody knows: do not create again). Ids in EXCLUDE[0..NEXCLUDE)
 * (records already matched to other rows of the same batch) are skipped.
 */
static int sf_create_lookup(sf_conn *s, const conn_collection *coll, json_t *fields,
                            int64_t since_ms, const char (*exclude)[64], size_t nexclude, char *newid,
                            size_t idlen)
{
    size_t cap = 8192;
    char *soql = malloc(cap), *path = malloc(3 * cap);
    if (!soql || !path)
        abort();
    char ts[40];
    sf_format_datetime(since_ms, ts, sizeof(ts));
    snprintf(soql, cap, "SELECT Id FROM %s WHERE CreatedDate >= %s", coll->object_type, ts);
    const char *k;
    json_t *v;
    json_object_foreach(fields, k, v) {
        size_t o = strlen(soql);
        if (o + 600 >= cap)
            break;
        if (json_is_string(v) && strlen(json_string_value(v)) <= 255) {
            snprintf(soql + o, cap - o, " AND %s = ", k);
            sf_soql_literal(soql, cap, json_string_value(v));
        } else if (json_is_boolean(v)) {
            snprintf(soql + o, cap - o, " AND %s = %s", k, json_is_true(v) ? "true" : "false");
        } else if (json_is_integer(v)) {
            snprintf(soql + o, cap - o, " AND %s = %lld", k, (long long)json_integer_value(v));
        }
    }
    for (size_t i = 0; i < nexclude; i++) {
        size_t o = strlen(soql);
        if (!exclude[i][0] || o + 120 >= cap)
            continue;
        snprintf(soql + o, cap - o, " AND Id != ");
        sf_soql_literal(soql, cap, exclude[i]);
    }
    size_t o = strlen(soql);
    snprintf(soql + o, cap - o, " ORDER BY CreatedDate DESC, Id DESC LIMIT 1");
    sf_query_path(s, false, soql, path, 3 * cap);
    http_request r;
    sf_req(s, &r, "GET", path);
    char err[256];
    int rc = 1;
    if (sf_run(s, &r, 1, err, sizeof(err)) == T_OK && r.status == 200) {
        json_t *rec = json_array_get(json_object_get(r.json, "records"), 0);
        const char *id = json_string_value(json_object_get(rec, "Id"));
        if (id) {
            snprintf(newid, idlen, "%s", id);
            rc = T_OK;
        } else if (json_is_array(json_object_get(r.json, "records"))) {
            rc = T_ERR;
        }
    }
    http_request_reset(&r);
    free(soql);
    free(path);
    return rc;
}

/*
 * Puts Salesforce's error code in front of E's message ("INVALID_EMAIL_ADDRESS:
 * Email: invalid email address: bad@"), the way Salesforce tools print errors.
 */
static void sf_error_words(conn_api_error *e)
{
    if (strcmp(e->code, "REQUEST_LIMIT_EXCEEDED") == 0)
        e->rate_limited = true;
    if (!e->code[0] || strncmp(e->message, e->code, strlen(e->code)) == 0)
        return;
    char msg[sizeof(e->message)];
    snprintf(msg, sizeof(msg), "%s: %.*s", e->code, (int)(sizeof(msg) - sizeof(e->code) - 3),
             e->message);
    memcpy(e->message, msg, sizeof(msg));
}

static int sf_apply_one(void *self, const conn_collection *coll, conn_write_op op, const char *id,
                        json_t *fields, json_t **canonical, conn_api_error *api_err);

/*
 * Versions an accepted write like the sync versions the same record: by its
 * SystemModstamp (seconds), so a later poll of that change is a no-op and an
 * older one never wins. Records without one keep the HTTP Date fallback.
 */
static void sf_stamp_version(json_t *canonical, conn_api_error *e)
{
    int64_t ms = sf_record_stamp(canonical);
    if (ms >= 0)
        e->server_time = sf_version_of(ms);
}

int sf_apply(void *self, const conn_collection *coll, conn_write_op op, const char *id,
                    json_t *fields, json_t **canonical, conn_api_error *api_err)
{
    int rc = sf_apply_one(self, coll, op, id, fields, canonical, api_err);
    if (rc != T_OK)
        sf_error_words(api_err);
    else
        sf_stamp_version(*canonical, api_err);
    return rc;
}

static int sf_apply_one(void *self, const conn_collection *coll, conn_write_op op, const char *id,
                        json_t *fields, json_t **canonical, conn_api_error *api_err)
{
    sf_conn *s = self;
    memset(api_err, 0, sizeof(*api_err));
    *canonical = NULL;
    if (op != CONN_WRITE_CREATE && (!id || !*id)) {
        snprintf(api_err->code, sizeof(api_err->code), "MALFORMED_ID");
        snprintf(api_err->message, sizeof(api_err->message), "an update or delete needs the record id");
        return T_ERR;
    }
    char why[160];
    if (!sf_may_call(s, why, sizeof(why))) {
        api_err->http_status = SF_HTTP_FORBIDDEN;
        snprintf(api_err->code, sizeof(api_err->code), "REQUEST_LIMIT_EXCEEDED");
        snprintf(api_err->message, sizeof(api_err->message), "%s", why);
        return T_ERR;
    }
    char path[512];
    char *esc = id ? curl_easy_escape(NULL, id, 0) : NULL;
    if (op == CONN_WRITE_CREATE)
        snprintf(path, sizeof(path), "/services/data/v%s/sobjects/%s", s->api_version, coll->object_type);
    else
        snprintf(path, sizeof(path), "/services/data/v%s/sobjects/%s/%s", s->api_version,
                 coll->object_type, esc ? esc : "");
    curl_free(esc);
    const char *method = op == CONN_WRITE_CREATE ? "POST" : op == CONN_WRITE_UPDATE ? "PATCH" : "DELETE";
    http_request r;
    sf_req(s, &r, method, path);
    char *body = NULL;
    if (op != CONN_WRITE_DELETE)
        body = fields ? json_dumps(fields, JSON_COMPACT) : strdup("{}");
    if (op != CONN_WRITE_DELETE && !body)
        abort();
    r.body = body;
    if (body)
        r.headers[2] = "Content-Type: application/json";
    /* 204 has no body: only a create's answer is JSON */
    r.expect_json = op == CONN_WRITE_CREATE;
    char err[256];
    int rc = T_OK;
    char newid[64] = "";
    int64_t since = sf_now_ms() - SF_CREATE_LOOKBACK_MS;
    int run_rc;
    if (op == CONN_WRITE_CREATE) {
        /*
         * A create is never re-sent blindly: one attempt at a time, and after
         * an unknown outcome the record is looked up before creating again.
         */
        int saved = s->http->max_attempts;
        for (int attempt = 1;; attempt++) {
            s->http->max_attempts = 1;
            run_rc = sf_run(s, &r, 1, err, sizeof(err));
            s->http->max_attempts = saved;
            const char *nid = json_string_value(json_object_get(r.json, "id"));
            bool unknown = run_rc == T_OK && (r.status == 0 || r.status >= 500 ||
                                              (r.status >= 200 && r.status < 300 && !nid));
            if (!unknown || attempt >= SF_CREATE_ATTEMPTS)
                break;
            int found = sf_create_lookup(s, coll, fields, since, NULL, 0, newid, sizeof(newid));
            log_warn("salesforce.create_unknown", "object=%s status=%ld found=%s", coll->object_type,
                     r.status, found == T_OK ? "true" : found == T_ERR ? "false" : "unknown");
            if (found != T_ERR)
                break; /* found it, or cannot tell: never risk a second record */
            struct timespec pause = {0, 200L * 1000000L * attempt};
            nanosleep(&pause, NULL);
            char url[sizeof(r.url)];
            memcpy(url, r.url, sizeof(url));
            http_request_reset(&r);
            http_request_init(&r, "POST", url);
            r.body = body;
            r.headers[2] = "Content-Type: application/json";
            r.expect_json = true;
        }
    } else {
        run_rc = sf_run(s, &r, 1, err, sizeof(err));
    }
    bool gone_on_retry = op == CONN_WRITE_DELETE && r.attempts > 1 && r.status == 404 &&
                         sf_is_error(&r, "ENTITY_IS_DELETED");
    if (newid[0]) {
        /* found by the lookup after an unknown outcome */
    } else if (run_rc != T_OK) {
        api_err->http_status = SF_HTTP_UNAUTHORIZED;
        snprintf(api_err->code, sizeof(api_err->code), "INVALID_SESSION_ID");
        snprintf(api_err->message, sizeof(api_err->message), "%s", err);
        rc = T_ERR;
    } else if ((r.status >= 200 && r.status < 300) || gone_on_retry) {
        if (op == CONN_WRITE_CREATE) {
            const char *nid = json_string_value(json_object_get(r.json, "id"));
            snprintf(newid, sizeof(newid), "%s", nid ? nid : "");
        }
    } else {
        json_t *j = r.json ? json_incref(r.json) : (r.resp ? json_loads(r.resp, 0, NULL) : NULL);
        sf_error_from_body(r.status, j, api_err);
        if (j)
            json_decref(j);
        if (r.status == 0)
            snprintf(api_err->message, sizeof(api_err->message), "%s", r.error);
        rc = T_ERR;
    }
    http_request_reset(&r);
    free(body);
    if (rc != T_OK)
        return rc;
    if (op == CONN_WRITE_DELETE) {
        *canonical = json_pack("{s:s,s:s,s:b}", "id", id, "Id", id, "IsDeleted", 1);
        return T_OK;
    }
    if (op == CONN_WRITE_CREATE && !newid[0]) {
        snprintf(api_err->message, sizeof(api_err->message), "create answered without an id");
        return T_ERR;
    }
    return sf_read_record(s, coll, op == CONN_WRITE_CREATE ? newid : id, canonical, api_err);
}

/*
 * After a composite create got no readable answer (STATUS; 0 = none): looks
 * each sent row W[SENT[k]] up by its fields (records created since SINCE_MS,
 * each record matched to one row at most). Found rows are ok with their id
 * in IDS; the others fail, saying whether the row was surely not created
 * (safe to retry) or whether nobody knows.
 */
static void sf_batch_lookup_creates(sf_conn *s, const conn_collection *coll, conn_write *w,
                                    const size_t *sent, size_t ns, int64_t since, char (*ids)[64],
                                    long status)
{
    char(*claimed)[64] = calloc(ns ? ns : 1, sizeof(*claimed));
    if (!claimed)
        abort();
    size_t nclaimed = 0, found_n = 0;
    for (size_t k = 0; k < ns; k++) {
        size_t i = sent[k];
        char newid[64] = "";
        int found = sf_create_lookup(s, coll, w[i].fields, since, (const char(*)[64])claimed, nclaimed,
                                     newid, sizeof(newid));
        conn_api_error *e = &w[i].error;
        if (found == T_OK) {
            w[i].ok = true;
            snprintf(ids[i], sizeof(ids[i]), "%s", newid);
            snprintf(claimed[nclaimed++], sizeof(claimed[0]), "%s", newid);
            found_n++;
        } else if (found == T_ERR) {
            e->http_status = status;
            snprintf(e->code, sizeof(e->code), "NOT_CREATED");
            snprintf(e->message, sizeof(e->message),
                     "the batch got no readable answer (HTTP %ld) and this record was not created; "
                     "retrying is safe", status);
        } else {
            e->http_status = 0;
            snprintf(e->code, sizeof(e->code), "UNKNOWN_OUTCOME");
            snprintf(e->message, sizeof(e->message),
                     "the batch got no readable answer (HTTP %ld) and the lookup failed: the record may "
                     "exist; check before retrying", status);
        }
    }
    log_warn("salesforce.composite_create_unknown", "object=%s status=%ld rows=%zu found=%zu",
             coll->object_type, status, ns, found_n);
    free(claimed);
}

/* Marks writes W[0..N) that have no outcome yet as failed with E. */
static void sf_batch_fail_all(conn_write *w, size_t n, const conn_api_error *e)
{
    for (size_t i = 0; i < n; i++) {
        if (w[i].ok || w[i].error.code[0] || w[i].error.message[0])
            continue;
        w[i].error = *e;
        sf_error_words(&w[i].error);
    }
}

/*
 * Reads back the accepted writes of W[0..N) (updates and creates) with one
 * POST /composite/sobjects/{Object} {ids, fields}; a record missing from the
 * answer is read on its own. A write whose record cannot be read stays
 * accepted with a minimal canonical object (the sync brings the rest).
 */
static void sf_batch_read(sf_conn *s, const conn_collection *coll, conn_write *w, size_t n,
                          char (*ids)[64])
{
    json_t *idl = json_array(), *fl = json_array();
    json_array_append_new(fl, json_string("Id"));
    for (size_t c = 0; c < coll->ncols; c++)
        if (coll->cols[c].field[0] && strcmp(coll->cols[c].field, "Id") != 0)
            json_array_append_new(fl, json_string(coll->cols[c].field));
    for (size_t i = 0; i < n; i++)
        if (w[i].ok)
            json_array_append_new(idl, json_string(ids[i]));
    json_t *body = json_pack("{s:o,s:o}", "ids", idl, "fields", fl);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        abort();
    char path[512];
    snprintf(path, sizeof(path), "/services/data/v%s/composite/sobjects/%s", s->api_version,
             coll->object_type);
    http_request r;
    sf_req(s, &r, "POST", path);
    r.body = text;
    r.headers[2] = "Content-Type: application/json";
    char err[256];
    json_t *recs = NULL;
    if (sf_run(s, &r, 1, err, sizeof(err)) == T_OK && r.status == 200 && json_is_array(r.json))
        recs = json_incref(r.json);
    else
        log_warn("salesforce.batch_read_failed", "object=%s status=%ld", coll->object_type, r.status);
    http_request_reset(&r);
    free(text);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!w[i].ok)
            continue;
        json_t *rec = json_array_get(recs, k++);
        const char *rid = json_string_value(json_object_get(rec, "Id"));
        if (json_is_object(rec) && rid && strncmp(rid, ids[i], 15) == 0) {
            w[i].canonical = json_incref(rec);
            json_object_del(w[i].canonical, "attributes");
            sf_record_normalize(w[i].canonical);
            json_object_set_new(w[i].canonical, "id", json_string(ids[i]));
            continue;
        }
        conn_api_error e;
        memset(&e, 0, sizeof(e));
        if (sf_read_record(s, coll, ids[i], &w[i].canonical, &e) != T_OK)
            w[i].canonical = json_pack("{s:s,s:s}", "id", ids[i], "Id", ids[i]);
    }
    json_decref(recs);
}

/*
 * apply_batch: one /composite/sobjects call (allOrNone=false) for up to 200
 * writes of one op, then one retrieve-many call for the canonical records.
 * A create batch is sent once (no blind re-send: its outcome would be
 * unknown); updates and deletes are retried by the HTTP client.
 */
int sf_apply_batch(void *self, const conn_collection *coll, conn_write *w, size_t n)
{
    sf_conn *s = self;
    assert(n > 0 && n <= SF_COMPOSITE_MAX);
    conn_write_op op = w[0].op;
    conn_api_error e;
    memset(&e, 0, sizeof(e));
    for (size_t i = 0; i < n; i++) {
        w[i].ok = false;
        w[i].canonical = NULL;
        memset(&w[i].error, 0, sizeof(w[i].error));
        if (op != CONN_WRITE_CREATE && (!w[i].id || !*w[i].id)) {
            snprintf(w[i].error.code, sizeof(w[i].error.code), "MALFORMED_ID");
            snprintf(w[i].error.message, sizeof(w[i].error.message),
                     "MALFORMED_ID: an update or delete needs the record id");
        }
    }
    char why[160];
    if (!sf_may_call(s, why, sizeof(why))) {
        e.http_status = SF_HTTP_FORBIDDEN;
        snprintf(e.code, sizeof(e.code), "REQUEST_LIMIT_EXCEEDED");
        snprintf(e.message, sizeof(e.message), "%s", why);
        sf_batch_fail_all(w, n, &e);
        return T_ERR;
    }
    /* the writes that are sent, in order */
    size_t *sent = calloc(n, sizeof(*sent));
    char(*ids)[64] = calloc(n, sizeof(*ids));
    if (!sent || !ids)
        abort();
    size_t ns = 0;
    size_t cap = 256 + n * 20;
    char *path = calloc(1, cap);
    if (!path)
        abort();
    json_t *records = json_array();
    for (size_t i = 0; i < n; i++) {
        if (w[i].error.code[0])
            continue;
        sent[ns++] = i;
        if (op == CONN_WRITE_DELETE)
            continue;
        json_t *rec = w[i].fields ? json_deep_copy(w[i].fields) : json_object();
        json_object_set_new(rec, "attributes", json_pack("{s:s}", "type", coll->object_type));
        if (op == CONN_WRITE_UPDATE)
            json_object_set_new(rec, "id", json_string(w[i].id));
        json_array_append_new(records, rec);
    }
    char *body = NULL;
    int rc = T_OK;
    if (ns == 0)
        goto done;
    if (op == CONN_WRITE_DELETE) {
        size_t o = (size_t)snprintf(path, cap, "/services/data/v%s/composite/sobjects?allOrNone=false&ids=",
                                    s->api_version);
        for (size_t k = 0; k < ns && o < cap; k++) {
            char *esc = curl_easy_escape(NULL, w[sent[k]].id, 0);
            o += (size_t)snprintf(path + o, cap - o, "%s%s", k ? "," : "", esc ? esc : "");
            curl_free(esc);
        }
    } else {
        snprintf(path, cap, "/services/data/v%s/composite/sobjects", s->api_version);
        json_t *req = json_pack("{s:b,s:O}", "allOrNone", 0, "records", records);
        body = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        if (!body)
            abort();
    }
    const char *method = op == CONN_WRITE_CREATE ? "POST" : op == CONN_WRITE_UPDATE ? "PATCH" : "DELETE";
    http_request r;
    sf_req(s, &r, method, path);
    r.expect_json = true;
    r.body = body;
    if (body)
        r.headers[2] = "Content-Type: application/json";
    char err[256];
    int saved = s->http->max_attempts;
    int64_t since = sf_now_ms() - SF_CREATE_LOOKBACK_MS;
    if (op == CONN_WRITE_CREATE)
        s->http->max_attempts = 1;
    int run_rc = sf_run(s, &r, 1, err, sizeof(err));
    s->http->max_attempts = saved;
    bool answered = r.status == 200 && json_is_array(r.json) && json_array_size(r.json) == ns;
    if (op == CONN_WRITE_CREATE && run_rc == T_OK && !answered &&
        (r.status == 0 || r.status >= 500 || (r.status >= 200 && r.status < 300))) {
        /* creates with an unknown outcome: never re-sent blindly, looked up row by row */
        sf_batch_lookup_creates(s, coll, w, sent, ns, since, ids, r.status);
    } else if (run_rc != T_OK) {
        e.http_status = SF_HTTP_UNAUTHORIZED;
        snprintf(e.code, sizeof(e.code), "INVALID_SESSION_ID");
        snprintf(e.message, sizeof(e.message), "%s", err);
    } else if (r.status == 200 && json_is_array(r.json) && json_array_size(r.json) == ns) {
        for (size_t k = 0; k < ns; k++) {
            size_t i = sent[k];
            json_t *res = json_array_get(r.json, k);
            const char *rid = json_string_value(json_object_get(res, "id"));
            json_t *errs = json_object_get(res, "errors");
            bool gone = op == CONN_WRITE_DELETE && r.attempts > 1 &&
                        json_is_array(errs) &&
                        strcmp(json_string_value(json_object_get(json_array_get(errs, 0), "statusCode")) ?: "",
                               "ENTITY_IS_DELETED") == 0;
            if (json_is_true(json_object_get(res, "success")) || gone) {
                w[i].ok = true;
                snprintf(ids[i], sizeof(ids[i]), "%s",
                         op == CONN_WRITE_CREATE ? (rid ? rid : "") : w[i].id);
            } else {
                /* a per-record failure: Salesforce answers 200 with the row's errors */
                sf_error_from_body(400, errs, &w[i].error);
                sf_error_words(&w[i].error);
                if (!w[i].error.code[0])
                    snprintf(w[i].error.message, sizeof(w[i].error.message), "rejected without a reason");
            }
        }
    } else {
        sf_error_from_body(r.status, r.json, &e);
        if (r.status == 0)
            snprintf(e.message, sizeof(e.message), "%s", r.error);
        else if (r.status >= 200 && r.status < 300) {
            /* accepted, but the per-record results cannot be read: unknown outcome */
            e.http_status = 0;
            snprintf(e.code, sizeof(e.code), "UNREADABLE_ANSWER");
            snprintf(e.message, sizeof(e.message),
                     "the composite answer could not be read (HTTP %ld); the changes may have been applied",
                     r.status);
        }
    }
    http_request_reset(&r);
    if (e.code[0] || e.message[0])
        sf_batch_fail_all(w, n, &e);
    if (op == CONN_WRITE_DELETE) {
        for (size_t i = 0; i < n; i++)
            if (w[i].ok)
                w[i].canonical = json_pack("{s:s,s:s,s:b}", "id", w[i].id, "Id", w[i].id,
                                           "IsDeleted", 1);
    } else {
        sf_batch_read(s, coll, w, n, ids);
    }
done:
    for (size_t i = 0; i < n; i++) {
        if (!w[i].ok)
            rc = T_ERR;
        else if (w[i].canonical)
            sf_stamp_version(w[i].canonical, &w[i].error);
    }
    log_info("salesforce.composite", "object=%s op=%s rows=%zu sent=%zu", coll->object_type, op == CONN_WRITE_CREATE ? "create" : op == CONN_WRITE_UPDATE ? "update" : "delete", n, ns);
    json_decref(records);
    free(body);
    free(path);
    free(sent);
    free(ids);
    return rc;
}
