/*
 * salesforce.c - the Salesforce connector: OAuth2 username-password login
 * (again on 401 INVALID_SESSION_ID, then the request is retried once),
 * describe -> collections, backfill by SOQL in (SystemModstamp, Id) order
 * with a keyset cursor, polling of queryAll on SystemModstamp with a safety
 * window (IsDeleted rows become deletes) and a daily request budget. The
 * writes for the proxy (apply, apply_batch) live in sf_write.c; the instance
 * and the helpers both files use are declared in sf_conn.h.
 *
 * Versions are SystemModstamp in unix seconds (the interface's unit); the
 * engine re-reads the safety window, so a same-second change still lands.
 *
 * Memory: the instance owns copies of the credentials and the session
 * (guarded by a mutex so the proxy may call apply from several threads);
 * responses are freed before each call returns.
 */
#include "connectors/salesforce/salesforce.h"
#include "util/common.h"
#include "util/log.h"
#include "connectors/salesforce/sf_conn.h"
#include "util/json_fast.h"

#include <assert.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const sf_default_objects[] = {"Account", "Contact", "Lead", "Opportunity", "User"};



int64_t sf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *sf_strdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort();
    return d;
}

static void *sf_open(const sync_config *cfg, http_client *http, char *err, size_t errlen)
{
    if (!cfg->client_id || !*cfg->client_id || !cfg->username || !*cfg->username) {
        snprintf(err, errlen, "sync %s: salesforce needs client_id and username", cfg->name);
        return NULL;
    }
    sf_conn *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    snprintf(s->login_url, sizeof(s->login_url), "%s",
             cfg->login_url && *cfg->login_url ? cfg->login_url : SF_DEFAULT_LOGIN_URL);
    size_t n = strlen(s->login_url);
    while (n > 0 && s->login_url[n - 1] == '/')
        s->login_url[--n] = '\0';
    const char *v = cfg->api_version && *cfg->api_version ? cfg->api_version : SF_DEFAULT_API_VERSION;
    snprintf(s->api_version, sizeof(s->api_version), "%s", v[0] == 'v' ? v + 1 : v);
    s->client_id = sf_strdup(cfg->client_id);
    s->client_secret = sf_strdup(cfg->client_secret);
    s->username = sf_strdup(cfg->username);
    s->password = sf_strdup(cfg->password);
    s->collections = sf_strdup(cfg->collections);
    s->http = http;
    /* the generic default page size (100) is Stripe's; Salesforce pages by 2000 */
    s->page_size = cfg->page_size >= 200 && cfg->page_size <= SF_PAGE_LIMIT ? cfg->page_size : SF_PAGE_LIMIT;
    s->budget_hard = cfg->daily_request_budget > 0;
    s->budget = s->budget_hard ? cfg->daily_request_budget : SF_DEFAULT_DAILY_BUDGET;
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

static void sf_close(void *self)
{
    sf_conn *s = self;
    if (!s)
        return;
    free(s->client_id);
    free(s->client_secret);
    free(s->username);
    free(s->password);
    free(s->collections);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void sf_form_add(char *buf, size_t len, const char *key, const char *val)
{
    char *e = curl_easy_escape(NULL, val, 0);
    size_t n = strlen(buf);
    snprintf(buf + n, len - n, "%s%s=%s", n ? "&" : "", key, e ? e : "");
    curl_free(e);
}

/* Logs in (username-password flow). Caller holds the lock. */
static int sf_login_locked(sf_conn *s, char *err, size_t errlen)
{
    char url[1024], body[4096] = "";
    snprintf(url, sizeof(url), "%s/services/oauth2/token", s->login_url);
    sf_form_add(body, sizeof(body), "grant_type", "password");
    sf_form_add(body, sizeof(body), "client_id", s->client_id);
    sf_form_add(body, sizeof(body), "client_secret", s->client_secret);
    sf_form_add(body, sizeof(body), "username", s->username);
    sf_form_add(body, sizeof(body), "password", s->password);
    http_request r;
    http_request_init(&r, "POST", url);
    r.body = body;
    r.headers[0] = "Content-Type: application/x-www-form-urlencoded";
    r.headers[1] = "Accept: application/json";
    r.expect_json = true;
    http_client_run(s->http, &r, 1);
    const char *tok = json_string_value(json_object_get(r.json, "access_token"));
    const char *inst = json_string_value(json_object_get(r.json, "instance_url"));
    int rc = T_OK;
    if (r.status != 200 || !tok || !inst || strlen(tok) >= sizeof(s->token) ||
        strlen(inst) >= sizeof(s->instance)) {
        conn_api_error e;
        sf_error_from_body(r.status, r.json, &e);
        snprintf(err, errlen, "salesforce login to %.200s failed: %s%s%.200s", s->login_url,
                 r.error[0] ? r.error : e.code, r.error[0] ? "" : " ", r.error[0] ? "" : e.message);
        rc = T_ERR;
    } else {
        snprintf(s->token, sizeof(s->token), "%s", tok);
        snprintf(s->instance, sizeof(s->instance), "%s", inst);
        size_t n = strlen(s->instance);
        while (n > 0 && s->instance[n - 1] == '/')
            s->instance[--n] = '\0';
        log_info("salesforce.login", "user=%s instance=%s", s->username, s->instance);
    }
    http_request_reset(&r);
    return rc;
}

/* Whether a final response is Salesforce's given error code. */
bool sf_is_error(const http_request *r, const char *code)
{
    json_t *first = json_is_array(r->json) ? json_array_get(r->json, 0) : NULL;
    const char *c = json_string_value(json_object_get(first, "errorCode"));
    return c && strcmp(c, code) == 0;
}

/* Counts N requests against today's budget. Caller holds the lock. */
static void sf_count_locked(sf_conn *s, int64_t n, int64_t now)
{
    if (now / SF_DAY_MS != s->day) {
        s->day = now / SF_DAY_MS;
        s->day_requests = 0;
    }
    s->day_requests += n;
}

/*
 * Whether API calls are allowed now: not paused after REQUEST_LIMIT_EXCEEDED
 * and, with a configured budget, not past it today. WHY gets the reason.
 */
bool sf_may_call(sf_conn *s, char *why, size_t len)
{
    int64_t now = sf_now_ms();
    pthread_mutex_lock(&s->lock);
    sf_count_locked(s, 0, now);
    bool ok = true;
    if (now < s->paused_until_ms) {
        snprintf(why, len, "paused after REQUEST_LIMIT_EXCEEDED for %lld ms",
                 (long long)(s->paused_until_ms - now));
        ok = false;
    } else if (s->budget_hard && s->day_requests >= s->budget) {
        snprintf(why, len, "daily_request_budget of %lld requests used up",
                 (long long)s->budget);
        ok = false;
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

/*
 * Prepares R as METHOD on PATH (relative to the instance, or a full
 * "/services/..." path) with JSON expected. The auth header is set by sf_run.
 */
void sf_req(sf_conn *s, http_request *r, const char *method, const char *path)
{
    char url[2048];
    pthread_mutex_lock(&s->lock);
    snprintf(url, sizeof(url), "%s%s", s->instance, path);
    pthread_mutex_unlock(&s->lock);
    http_request_init(r, method, url);
    r->expect_json = strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0;
}

/* Re-targets R at the current instance (after a login) keeping its path. */
static void sf_req_retarget(const char *old_instance, const char *instance, http_request *r)
{
    size_t ol = strlen(old_instance);
    char url[2048];
    const char *path = NULL;
    if (ol && strncmp(r->url, old_instance, ol) == 0)
        path = r->url + ol;
    else if (!ol && r->url[0] == '/')
        path = r->url; /* prepared before the first login */
    if (path) {
        snprintf(url, sizeof(url), "%s%s", instance, path);
        snprintf(r->url, sizeof(r->url), "%s", url);
    }
}

/*
 * Runs REQS[0..N) and parses each body as JSON itself: Salesforce answers
 * errors as JSON arrays, which the HTTP client's expect_json (objects only)
 * would retry as broken. A body that does not parse where JSON was wanted
 * (a truncated answer) is run again, up to SF_BODY_ATTEMPTS times. Adds the
 * attempts made to *USED.
 */
static void sf_exec(sf_conn *s, http_request *reqs, size_t n, int64_t *used)
{
    bool *want = calloc(n ? n : 1, sizeof(*want));
    if (!want)
        abort();
    for (size_t i = 0; i < n; i++) {
        want[i] = reqs[i].expect_json;
        reqs[i].expect_json = false;
    }
    http_client_run(s->http, reqs, n);
    for (size_t i = 0; i < n; i++)
        *used += reqs[i].attempts > 0 ? reqs[i].attempts : 1;
    for (int attempt = 1;; attempt++) {
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
            http_request *r = &reqs[i];
            if (!want[i])
                continue;
            json_error_t jerr;
            r->json = r->resp && r->resp_len ? json_fast_loadb(r->resp, r->resp_len, &jerr) : NULL;
            if (r->json && !json_is_object(r->json) && !json_is_array(r->json)) {
                json_decref(r->json);
                r->json = NULL;
            }
            /* only a GET is re-sent: a create must not run twice */
            if (r->json || r->status == 0 || r->status == 204 || attempt >= SF_BODY_ATTEMPTS ||
                strcmp(r->method, "GET") != 0) {
                want[i] = false;
                continue;
            }
            log_info("salesforce.body_retry", "status=%ld attempt=%d", r->status, attempt);
            http_request saved = *r;
            http_request_reset(r);
            http_request_init(r, saved.method, saved.url);
            r->body = saved.body;
            memcpy(r->headers, saved.headers, sizeof(r->headers));
            bad++;
        }
        if (bad == 0)
            break;
        struct timespec ts = {0, 100L * 1000000L * attempt};
        nanosleep(&ts, NULL);
        for (size_t i = 0; i < n; i++)
            if (want[i]) {
                http_client_run(s->http, &reqs[i], 1);
                *used += reqs[i].attempts > 0 ? reqs[i].attempts : 1;
            }
    }
    free(want);
}

/*
 * Runs REQS[0..N) with the session's token: logs in first when there is no
 * session, and once more when any answer is 401 (expired/invalid session),
 * then retries those requests once. Counts the requests against the budget
 * and pauses after REQUEST_LIMIT_EXCEEDED. T_ERR only when login failed
 * (ERR says why); check each r->status otherwise.
 */
int sf_run(sf_conn *s, http_request *reqs, size_t n, char *err, size_t errlen)
{
    char auth[1200], old_instance[512];
    pthread_mutex_lock(&s->lock);
    if (!s->token[0]) {
        snprintf(old_instance, sizeof(old_instance), "%s", s->instance);
        if (sf_login_locked(s, err, errlen) != T_OK) {
            pthread_mutex_unlock(&s->lock);
            return T_ERR;
        }
        for (size_t i = 0; i < n; i++)
            sf_req_retarget(old_instance, s->instance, &reqs[i]);
    }
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", s->token);
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < n; i++) {
        reqs[i].headers[0] = auth;
        if (!reqs[i].headers[1])
            reqs[i].headers[1] = "Accept: application/json";
    }
    int64_t used = 0;
    sf_exec(s, reqs, n, &used);
    size_t unauthorized = 0;
    for (size_t i = 0; i < n; i++)
        if (reqs[i].status == SF_HTTP_UNAUTHORIZED)
            unauthorized++;
    int rc = T_OK;
    if (unauthorized > 0) {
        pthread_mutex_lock(&s->lock);
        snprintf(old_instance, sizeof(old_instance), "%s", s->instance);
        /* another thread may have logged in meanwhile: then use its token */
        bool fresh = strcmp(auth + strlen("Authorization: Bearer "), s->token) != 0;
        if (!fresh && sf_login_locked(s, err, errlen) != T_OK) {
            s->token[0] = '\0';
            rc = T_ERR;
        }
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", s->token);
        pthread_mutex_unlock(&s->lock);
        if (rc == T_OK) {
            log_info("salesforce.session_renewed", "requests=%zu", unauthorized);
            for (size_t i = 0; i < n; i++) {
                http_request *r = &reqs[i];
                if (r->status != SF_HTTP_UNAUTHORIZED)
                    continue;
                http_request saved = *r; /* keep the inputs across the reset */
                http_request_reset(r);
                sf_req_retarget(old_instance, s->instance, &saved);
                http_request_init(r, saved.method, saved.url);
                r->body = saved.body;
                memcpy(r->headers, saved.headers, sizeof(r->headers));
                r->headers[0] = auth;
                r->expect_json = saved.expect_json;
                sf_exec(s, r, 1, &used);
            }
        }
    }
    int64_t now = sf_now_ms();
    bool limited = false;
    for (size_t i = 0; i < n; i++)
        limited = limited || (reqs[i].status == SF_HTTP_FORBIDDEN && sf_is_error(&reqs[i], "REQUEST_LIMIT_EXCEEDED"));
    pthread_mutex_lock(&s->lock);
    sf_count_locked(s, used, now);
    if (limited) {
        s->limit_backoff_ms = s->limit_backoff_ms ? s->limit_backoff_ms * 2 : SF_LIMIT_BACKOFF_MIN_MS;
        if (s->limit_backoff_ms > SF_LIMIT_BACKOFF_MAX_MS)
            s->limit_backoff_ms = SF_LIMIT_BACKOFF_MAX_MS;
        s->paused_until_ms = now + s->limit_backoff_ms;
        log_warn("salesforce.request_limit", "pause_ms=%lld", (long long)s->limit_backoff_ms);
    } else {
        s->limit_backoff_ms = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Describes an error of a finished request into ERR. */
static void sf_req_error(const http_request *r, char *err, size_t errlen)
{
    if (r->error[0] && r->status == 0) {
        snprintf(err, errlen, "%s", r->error);
        return;
    }
    conn_api_error e;
    sf_error_from_body(r->status, r->json, &e);
    snprintf(err, errlen, "HTTP %ld %s: %.300s", r->status, e.code, e.message);
}

/* Whether a table name or API name appears in the comma-separated LIST. */
static bool sf_listed(const char *list, const char *api_name)
{
    char snake[64];
    sf_snake_case(api_name, snake, sizeof(snake));
    const char *p = list;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if ((n == strlen(snake) && strncasecmp(p, snake, n) == 0) ||
            (n == strlen(api_name) && strncasecmp(p, api_name, n) == 0))
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

static int sf_describe(void *self, conn_schema *out, char *err, size_t errlen)
{
    sf_conn *s = self;
    memset(out, 0, sizeof(*out));
    char path[512];
    snprintf(path, sizeof(path), "/services/data/v%s/sobjects", s->api_version);
    http_request g;
    sf_req(s, &g, "GET", path);
    if (sf_run(s, &g, 1, err, errlen) != T_OK) {
        http_request_reset(&g);
        return T_ERR;
    }
    json_t *sobjects = json_object_get(g.json, "sobjects");
    if (g.status != 200 || !json_is_array(sobjects)) {
        sf_req_error(&g, err, errlen);
        http_request_reset(&g);
        return T_ERR;
    }
    /* which objects: the configured list, or the defaults + custom objects */
    char names[CONN_MAX_COLLECTIONS][64];
    size_t nn = 0;
    bool listed = s->collections[0] != '\0';
    if (!listed)
        for (size_t i = 0; i < T_ARRAY_LEN(sf_default_objects); i++)
            snprintf(names[nn++], sizeof(names[0]), "%s", sf_default_objects[i]);
    size_t i;
    json_t *o;
    json_array_foreach(sobjects, i, o) {
        const char *name = json_string_value(json_object_get(o, "name"));
        if (!name || strlen(name) >= sizeof(names[0]) || nn >= CONN_MAX_COLLECTIONS)
            continue;
        if (json_is_false(json_object_get(o, "queryable")))
            continue;
        size_t len = strlen(name);
        bool custom = json_is_true(json_object_get(o, "custom")) && len > 3 &&
                      strcmp(name + len - 3, "__c") == 0;
        bool take = listed ? sf_listed(s->collections, name) : custom;
        bool dup = false;
        for (size_t k = 0; k < nn && !dup; k++)
            dup = strcmp(names[k], name) == 0;
        if (take && !dup)
            snprintf(names[nn++], sizeof(names[0]), "%s", name);
    }
    http_request_reset(&g);
    if (nn == 0) {
        snprintf(err, errlen, "salesforce: none of the collections '%s' exists", s->collections);
        return T_ERR;
    }
    http_request *reqs = calloc(nn, sizeof(*reqs));
    if (!reqs)
        abort();
    for (size_t k = 0; k < nn; k++) {
        snprintf(path, sizeof(path), "/services/data/v%s/sobjects/%s/describe", s->api_version, names[k]);
        sf_req(s, &reqs[k], "GET", path);
    }
    int rc = sf_run(s, reqs, nn, err, errlen);
    for (size_t k = 0; k < nn && rc == T_OK; k++) {
        http_request *r = &reqs[k];
        if (r->status == 404 && !listed) {
            log_warn("salesforce.object_missing", "object=%s", names[k]);
            continue;
        }
        conn_collection *c = &out->colls[out->n];
        if (r->status != 200 || sf_collection_from_describe(r->json, c) != T_OK) {
            char e2[400];
            sf_req_error(r, e2, sizeof(e2));
            snprintf(err, errlen, "describe %s: %s", names[k], e2);
            rc = T_ERR;
            break;
        }
        if (!conn_collection_column(c, "system_modstamp")) {
            log_warn("salesforce.object_skipped", "object=%s reason=\"no SystemModstamp\"", names[k]);
            continue;
        }
        /* SOQL names every field: keep the statement within URL limits */
        size_t total = 0, keep = 0;
        for (size_t f = 0; f < c->ncols; f++) {
            total += strlen(c->cols[f].field) + 1;
            if (total <= SF_SOQL_FIELDS_MAX)
                keep = f + 1;
        }
        if (keep < c->ncols) {
            log_warn("salesforce.fields_dropped", "object=%s kept=%zu dropped=%zu", names[k], keep,
                     c->ncols - keep);
            c->ncols = keep;
        }
        out->n++;
    }
    for (size_t k = 0; k < nn; k++)
        http_request_reset(&reqs[k]);
    free(reqs);
    if (rc == T_OK)
        log_info("salesforce.described", "collections=%zu", out->n);
    return rc;
}

static int sf_infer_column(void *self, const conn_collection *coll, const char *field,
                           json_t *value, conn_column *out)
{
    (void)self;
    (void)coll;
    /* describe is authoritative; a field added since is typed by its value */
    if (!field || !*field || strcmp(field, "attributes") == 0 || strcmp(field, "Id") == 0 ||
        strlen(field) >= sizeof(out->field) || !(field[0] >= 'A' && field[0] <= 'Z'))
        return T_ERR;
    memset(out, 0, sizeof(*out));
    if (json_is_string(value))
        out->type = CONN_TEXT;
    else if (json_is_boolean(value))
        out->type = CONN_BOOL;
    else if (json_is_number(value))
        out->type = CONN_NUMERIC;
    else
        return T_ERR; /* null: type unknown yet; objects: relationships, not columns */
    sf_snake_case(field, out->name, sizeof(out->name));
    snprintf(out->field, sizeof(out->field), "%s", field);
    out->src = CONN_SRC_VALUE;
    return T_OK;
}

/* Appends a SOQL query string for Q to PATH, URL-encoded. */
void sf_query_path(const sf_conn *s, bool all, const char *q, char *path, size_t len)
{
    size_t o = (size_t)snprintf(path, len, "/services/data/v%s/%s?q=", s->api_version,
                                all ? "queryAll" : "query");
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)q; *p && o + 4 < len; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '_' || *p == '.' || *p == ',' || *p == '-') {
            path[o++] = (char)*p;
        } else if (*p == ' ') {
            path[o++] = '+';
        } else {
            path[o++] = '%';
            path[o++] = hex[*p >> 4];
            path[o++] = hex[*p & 15];
        }
    }
    path[o] = '\0';
}

/* "SELECT Id, f1, ... FROM Obj" into BUF. */
static void sf_select(const conn_collection *c, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "SELECT Id");
    for (size_t k = 0; k < c->ncols && o < len; k++)
        o += (size_t)snprintf(buf + o, len - o, ",%s", c->cols[k].field);
    if (o < len)
        snprintf(buf + o, len - o, " FROM %s", c->object_type);
}

/* A record's SystemModstamp in ms, or -1. */
int64_t sf_record_stamp(json_t *rec)
{
    int64_t ms;
    const char *v = json_string_value(json_object_get(rec, "SystemModstamp"));
    return v && sf_parse_datetime(v, &ms) == T_OK ? ms : -1;
}

int64_t sf_version_of(int64_t ms)
{
    return ms >= 0 ? ms / 1000 : 0;
}

static int sf_feed_position(void *self, char *cursor, size_t len, char *err, size_t errlen)
{
    sf_conn *s = self;
    char path[256];
    snprintf(path, sizeof(path), "/services/data/v%s/limits", s->api_version);
    http_request r;
    sf_req(s, &r, "GET", path);
    if (sf_run(s, &r, 1, err, errlen) != T_OK) {
        http_request_reset(&r);
        return T_ERR;
    }
    if (r.status != 200) {
        sf_req_error(&r, err, errlen);
        http_request_reset(&r);
        return T_ERR;
    }
    /* the Date header is whole seconds: step back one to be sure */
    int64_t t = r.server_time > 0 ? r.server_time : (int64_t)time(NULL);
    snprintf(cursor, len, "%lld", (long long)((t - 1) * 1000));
    http_request_reset(&r);
    return T_OK;
}

/*
 * Replaces every real number among REC's fields by its shortest decimal text
 * that reads back as the same double (currency 872.27 stays "872.27" instead
 * of becoming 872.26999999999998 in a numeric column).
 */
void sf_record_normalize(json_t *rec)
{
    const char *k;
    json_t *v;
    json_object_foreach(rec, k, v) {
        if (!json_is_real(v))
            continue;
        double d = json_real_value(v);
        char buf[40];
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, sizeof(buf), "%.*g", prec, d);
            if (strtod(buf, NULL) == d)
                break;
        }
        json_object_set_new(rec, k, json_string(buf));
    }
}

/* Adds the records of one query result to OUT; LAST gets the last record. */
static void sf_records_to_changes(json_t *records, size_t coll, bool deletes, conn_changes *out,
                                  json_t **last)
{
    size_t i;
    json_t *rec;
    json_array_foreach(records, i, rec) {
        const char *id = json_string_value(json_object_get(rec, "Id"));
        if (!id)
            continue;
        int64_t version = sf_version_of(sf_record_stamp(rec));
        sf_record_normalize(rec);
        if (deletes && json_is_true(json_object_get(rec, "IsDeleted")))
            conn_changes_push(out, CONN_DELETE, coll, id, NULL, version);
        else
            conn_changes_push(out, CONN_UPSERT, coll, id, json_incref(rec), version);
        *last = rec;
    }
}

static int sf_backfill(void *self, const conn_schema *schema, conn_page *pages, size_t n)
{
    sf_conn *s = self;
    char why[160];
    if (!sf_may_call(s, why, sizeof(why))) {
        for (size_t i = 0; i < n; i++)
            snprintf(pages[i].error, sizeof(pages[i].error), "%s", why);
        return T_ERR;
    }
    http_request *reqs = calloc(n ? n : 1, sizeof(*reqs));
    json_t **last = calloc(n ? n : 1, sizeof(*last));
    size_t *got = calloc(n ? n : 1, sizeof(*got));
    if (!reqs || !last || !got)
        abort();
    size_t soql_len = 8192;
    char *soql = malloc(soql_len), *path = malloc(3 * soql_len);
    if (!soql || !path)
        abort();
    int rc = T_OK;
    for (size_t i = 0; i < n; i++) {
        conn_page *p = &pages[i];
        const conn_collection *c = &schema->colls[p->coll];
        p->done = false;
        p->error[0] = '\0';
        sf_select(c, soql, soql_len);
        size_t o = strlen(soql);
        int64_t ms;
        char id[32];
        if (p->cursor[0] && sf_cursor_parse(p->cursor, &ms, id, sizeof(id)) == T_OK) {
            char ts[40];
            sf_format_datetime(ms, ts, sizeof(ts));
            o += (size_t)snprintf(soql + o, soql_len - o,
                                  " WHERE SystemModstamp > %s OR (SystemModstamp = %s AND Id > '%s')",
                                  ts, ts, id);
        } else if (p->cursor[0]) {
            log_warn("salesforce.bad_cursor", "collection=%s restart=true", c->name);
        }
        snprintf(soql + o, soql_len - o, " ORDER BY SystemModstamp, Id LIMIT %d", s->page_size);
        sf_query_path(s, false, soql, path, 3 * soql_len);
        sf_req(s, &reqs[i], "GET", path);
    }
    char err[256] = "";
    if (sf_run(s, reqs, n, err, sizeof(err)) != T_OK) {
        for (size_t i = 0; i < n; i++)
            snprintf(pages[i].error, sizeof(pages[i].error), "%s", err);
        rc = T_ERR;
        goto done;
    }
    /* follow nextRecordsUrl (batches smaller than the LIMIT) until the page is whole */
    for (int round = 0; round < SF_PAGE_LIMIT; round++) {
        size_t more = 0;
        for (size_t i = 0; i < n; i++) {
            conn_page *p = &pages[i];
            http_request *r = &reqs[i];
            if (!r->method)
                continue;
            json_t *records = json_object_get(r->json, "records");
            if (r->status != 200 || !json_is_array(records)) {
                sf_req_error(r, p->error, sizeof(p->error));
                rc = T_ERR;
                http_request_reset(r);
                r->method = NULL;
                continue;
            }
            sf_records_to_changes(records, p->coll, false, &p->rows, &last[i]);
            got[i] += json_array_size(records);
            const char *next = json_string_value(json_object_get(r->json, "nextRecordsUrl"));
            char nextp[1024];
            snprintf(nextp, sizeof(nextp), "%s", next ? next : "");
            /* last[i] stays valid: p->rows holds a reference to every record */
            p->rows.server_time = r->server_time;
            http_request_reset(r);
            r->method = NULL;
            if (nextp[0]) {
                sf_req(s, r, "GET", nextp);
                more++;
            }
        }
        if (more == 0)
            break;
        http_request batch[CONN_MAX_COLLECTIONS];
        size_t map[CONN_MAX_COLLECTIONS], m = 0;
        for (size_t i = 0; i < n && m < CONN_MAX_COLLECTIONS; i++)
            if (reqs[i].method) {
                batch[m] = reqs[i];
                map[m++] = i;
            }
        if (sf_run(s, batch, m, err, sizeof(err)) != T_OK) {
            for (size_t k = 0; k < m; k++) {
                snprintf(pages[map[k]].error, sizeof(pages[map[k]].error), "%s", err);
                http_request_reset(&batch[k]);
            }
            rc = T_ERR;
            goto done;
        }
        for (size_t k = 0; k < m; k++)
            reqs[map[k]] = batch[k];
    }
    for (size_t i = 0; i < n; i++) {
        conn_page *p = &pages[i];
        if (p->error[0])
            continue;
        p->done = got[i] < (size_t)s->page_size;
        if (last[i]) {
            const char *id = json_string_value(json_object_get(last[i], "Id"));
            snprintf(p->cursor, sizeof(p->cursor), "%lld|%s", (long long)sf_record_stamp(last[i]),
                     id ? id : "");
        }
    }
done:
    for (size_t i = 0; i < n; i++)
        if (reqs[i].method)
            http_request_reset(&reqs[i]);
    free(reqs);
    free(last);
    free(got);
    free(soql);
    free(path);
    return rc;
}

static int sf_changes(void *self, const conn_schema *schema, const char *cursor, int64_t safety_ms,
                      conn_changes *out, char *err, size_t errlen)
{
    sf_conn *s = self;
    snprintf(out->next_cursor, sizeof(out->next_cursor), "%s", cursor ? cursor : "");
    char *endp = NULL;
    long long from = cursor && *cursor ? strtoll(cursor, &endp, 10) : -1;
    if (from < 0 || (endp && *endp)) {
        snprintf(err, errlen, "salesforce: bad change cursor '%.60s'", cursor ? cursor : "");
        return T_ERR;
    }
    int64_t now = sf_now_ms();
    char why[160];
    pthread_mutex_lock(&s->lock);
    bool paced = now < s->next_poll_ms;
    pthread_mutex_unlock(&s->lock);
    if (paced)
        return T_OK; /* budget pacing: nothing read, cursor unchanged */
    if (!sf_may_call(s, why, sizeof(why))) {
        log_debug("salesforce.poll_skipped", "reason=\"%s\"", why);
        return T_OK;
    }
    size_t n = 0, idx[CONN_MAX_COLLECTIONS];
    for (size_t i = 0; i < schema->n; i++)
        if (schema->colls[i].backfill)
            idx[n++] = i;
    if (n == 0)
        return T_OK;
    http_request *reqs = calloc(n, sizeof(*reqs));
    if (!reqs)
        abort();
    size_t soql_len = 8192;
    char *soql = malloc(soql_len), *path = malloc(3 * soql_len);
    if (!soql || !path)
        abort();
    char ts[40];
    sf_format_datetime((int64_t)from, ts, sizeof(ts));
    for (size_t k = 0; k < n; k++) {
        sf_select(&schema->colls[idx[k]], soql, soql_len);
        size_t o = strlen(soql);
        snprintf(soql + o, soql_len - o, " WHERE SystemModstamp >= %s ORDER BY SystemModstamp, Id", ts);
        sf_query_path(s, true, soql, path, 3 * soql_len);
        sf_req(s, &reqs[k], "GET", path);
    }
    int rc = T_OK;
    int64_t server_time = 0, requests = 0;
    int64_t horizon = INT64_MAX;
    for (int batch = 0; batch < SF_CHANGES_MAX_BATCHES; batch++) {
        http_request run[CONN_MAX_COLLECTIONS];
        size_t map[CONN_MAX_COLLECTIONS], m = 0;
        for (size_t k = 0; k < n; k++)
            if (reqs[k].method) {
                run[m] = reqs[k];
                map[m++] = k;
            }
        if (m == 0)
            break;
        requests += (int64_t)m;
        if (sf_run(s, run, m, err, errlen) != T_OK) {
            for (size_t j = 0; j < m; j++)
                http_request_reset(&run[j]);
            rc = T_ERR;
            goto done;
        }
        for (size_t j = 0; j < m; j++) {
            http_request *r = &run[j];
            size_t k = map[j];
            json_t *records = json_object_get(r->json, "records");
            if (r->status != 200 || !json_is_array(records)) {
                if (rc == T_OK) {
                    char e2[300];
                    sf_req_error(r, e2, sizeof(e2));
                    snprintf(err, errlen, "poll %s: %s", schema->colls[idx[k]].name, e2);
                }
                rc = T_ERR;
                http_request_reset(r);
                reqs[k].method = NULL;
                continue;
            }
            if (!server_time && r->server_time > 0)
                server_time = r->server_time;
            json_t *lr = NULL;
            sf_records_to_changes(records, idx[k], true, out, &lr);
            int64_t lms = lr ? sf_record_stamp(lr) : -1;
            const char *next = json_string_value(json_object_get(r->json, "nextRecordsUrl"));
            char nextp[1024];
            snprintf(nextp, sizeof(nextp), "%s", next ? next : "");
            http_request_reset(r);
            reqs[k].method = NULL;
            if (nextp[0]) {
                if (batch + 1 < SF_CHANGES_MAX_BATCHES) {
                    sf_req(s, &reqs[k], "GET", nextp);
                } else if (lms >= 0 && lms < horizon) {
                    horizon = lms; /* more remain: resume at the last stamp read */
                }
            }
        }
    }
    if (rc == T_OK) {
        if (!server_time)
            server_time = (int64_t)time(NULL);
        out->server_time = server_time;
        int64_t safe = server_time * 1000 - safety_ms;
        if (horizon < safe)
            safe = horizon;
        if (safe > from)
            snprintf(out->next_cursor, sizeof(out->next_cursor), "%lld", (long long)safe);
    }
done:
    for (size_t k = 0; k < n; k++)
        if (reqs[k].method)
            http_request_reset(&reqs[k]);
    pthread_mutex_lock(&s->lock);
    /* steady-state pacing: the budget spread over the day */
    s->next_poll_ms = sf_now_ms() + requests * (SF_DAY_MS / (s->budget > 0 ? s->budget : 1));
    pthread_mutex_unlock(&s->lock);
    free(reqs);
    free(soql);
    free(path);
    return rc;
}

static int sf_push(void *self, const conn_schema *schema, const char *signature_header,
                   const char *body, size_t len, int64_t now, conn_changes *out, char *err,
                   size_t errlen)
{
    (void)self;
    (void)schema;
    (void)signature_header;
    (void)body;
    (void)len;
    (void)now;
    (void)out;
    snprintf(err, errlen, "salesforce syncs poll; pushed notifications are not accepted");
    return T_ERR;
}

static conn_limits sf_limits(void *self)
{
    sf_conn *s = self;
    return (conn_limits){.page_size = s ? s->page_size : SF_PAGE_LIMIT, .max_rows_per_write = SF_COMPOSITE_MAX,
                         .rate_backfill = 10, .rate_steady = 1.0 / 3.0};
}

const connector_ops salesforce_connector_ops = {
    .source = "salesforce",
    .open = sf_open,
    .close = sf_close,
    .describe = sf_describe,
    .infer_column = sf_infer_column,
    .feed_position = sf_feed_position,
    .backfill = sf_backfill,
    .changes = sf_changes,
    .push = sf_push,
    .apply = sf_apply,
    .apply_batch = sf_apply_batch,
    .limits = sf_limits,
};
