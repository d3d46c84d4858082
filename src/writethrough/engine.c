/*
 * engine.c - the write-through engine the proxy holds: one target per
 * [sync.*] section (connector instance, its HTTP client and token bucket,
 * the described collections), the synced set and classification cache the
 * proxy uses on the hot path, and one libpq connection (the Tether role,
 * guard-enabled) on which statements are captured and canonical rows are
 * written back. wt_execute() runs one statement end to end.
 *
 * Memory: the engine owns everything here; wt_engine_free() releases it.
 */
#include "writethrough/writethrough.h"

#include "http/http_client.h"
#include "http/request_budget.h"
#include "http/token_bucket.h"
#include "pg/pgconn.h"
#include "util/common.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WT_CACHE_ENTRIES 1024
#define WT_DEFAULT_TIMEOUT_MS 10000
#define WT_DEFAULT_ATTEMPTS 4
#define WT_CONNECT_ATTEMPTS 10
#define WT_DEFAULT_RATE 25 /* writes/s: Stripe's test-mode write limit (live mode: 100) */

typedef struct wt_slot {
    wt_target t;
    token_bucket bucket;
    request_budget *budget; /* the credential's, shared with the syncs */
    http_client http;
    bool http_ready;
} wt_slot;

struct wt_engine {
    const tether_config *cfg;
    char *url;                 /* database URL of the apply connection */
    PGconn *conn;
    wt_slot *slots;
    size_t n;
    classify_synced_set *synced;
    classify_cache *cache;
};

static int64_t wt_engine_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long wt_engine_env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end;
    long n = strtol(v, &end, 10);
    return *end == '\0' && n > 0 ? n : dflt;
}

/* Connects (or reconnects) the apply connection and enables the guard on it. */
static int wt_engine_connect(wt_engine *wt, char *err, size_t errlen)
{
    if (wt->conn && PQstatus(wt->conn) == CONNECTION_OK)
        return T_OK;
    if (wt->conn)
        PQfinish(wt->conn);
    wt->conn = pgconn_connect(wt->url, "tether-writethrough", err, errlen);
    if (!wt->conn)
        return T_ERR;
    const char *ss = wt_engine_state_schema(wt);
    if (pgconn_exec(wt->conn, "SET lock_timeout = '10s'", err, errlen) != T_OK ||
        wt_guard_install(wt->conn, ss, err, errlen) != T_OK ||
        wt_guard_enable(wt->conn, ss, err, errlen) != T_OK ||
        wt_capture_prepare(wt->conn, err, errlen) != T_OK) {
        PQfinish(wt->conn);
        wt->conn = NULL;
        return T_ERR;
    }
    for (size_t i = 0; i < wt->n; i++) {
        wt_target *t = &wt->slots[i].t;
        for (size_t c = 0; c < t->schema->n; c++) {
            if (wt_guard_protect(wt->conn, ss, t->schema_name, t->schema->colls[c].name, err,
                                 errlen) != T_OK) {
                PQfinish(wt->conn);
                wt->conn = NULL;
                return T_ERR;
            }
        }
    }
    return T_OK;
}

wt_engine *wt_engine_new(const tether_config *cfg, char *err, size_t errlen)
{
    err[0] = '\0';
    if (cfg->nsyncs == 0)
        return NULL;
    wt_engine *wt = calloc(1, sizeof(*wt));
    if (!wt)
        abort();
    wt->cfg = cfg;
    const char *url = cfg->proxy_upstream && *cfg->proxy_upstream ? cfg->proxy_upstream : cfg->database;
    if (!url || !*url) {
        snprintf(err, errlen, "write-through needs a database: [proxy] upstream or [tether] database");
        goto failed;
    }
    wt->url = strdup(url);
    wt->slots = calloc(cfg->nsyncs, sizeof(*wt->slots));
    wt->synced = classify_synced_set_new();
    if (!wt->url || !wt->slots || !wt->synced)
        abort();
    long timeout_ms = wt_engine_env_long("TETHER_WRITE_TIMEOUT_MS", WT_DEFAULT_TIMEOUT_MS);
    long attempts = wt_engine_env_long("TETHER_WRITE_MAX_ATTEMPTS", WT_DEFAULT_ATTEMPTS);
    double rate = (double)wt_engine_env_long("TETHER_WRITE_RATE", WT_DEFAULT_RATE);
    for (size_t i = 0; i < cfg->nsyncs; i++) {
        const sync_config *sc = &cfg->syncs[i];
        wt_slot *s = &wt->slots[wt->n];
        wt_target *t = &s->t;
        t->cfg = sc;
        t->ops = connector_find(sc->source ? sc->source : "");
        if (!t->ops) {
            snprintf(err, errlen, "sync '%s': source '%s' is not supported", sc->name,
                     sc->source ? sc->source : "");
            goto failed;
        }
        wt->n++;
        snprintf(t->schema_name, sizeof(t->schema_name), "%s",
                 sc->schema && *sc->schema ? sc->schema : sc->source);
        token_bucket_init(&s->bucket, rate, rate, token_bucket_now_ms());
        if (http_client_init(&s->http, &s->bucket) != T_OK) {
            snprintf(err, errlen, "cannot create the HTTP client");
            goto failed;
        }
        s->http_ready = true;
        s->budget = request_budget_for_sync(sc, wt->url, cfg->state_schema);
        s->http.budget = s->budget;
        s->http.timeout_ms = timeout_ms;
        s->http.max_attempts = (int)attempts;
        s->http.backoff_max_ms = 2000;
        t->self = t->ops->open(sc, &s->http, err, errlen);
        if (!t->self)
            goto failed;
        t->schema = calloc(1, sizeof(*t->schema));
        if (!t->schema)
            abort();
        if (t->ops->describe(t->self, t->schema, err, errlen) != T_OK)
            goto failed;
        conn_limits lim = t->ops->limits(t->self);
        t->max_rows = sc->max_rows_per_write > 0 ? sc->max_rows_per_write : lim.max_rows_per_write;
        for (size_t c = 0; c < t->schema->n; c++)
            if (classify_synced_set_add(wt->synced, t->schema_name, t->schema->colls[c].name) != T_OK)
                abort();
    }
    wt->cache = classify_cache_new(wt->synced, WT_CACHE_ENTRIES);
    if (!wt->cache)
        abort();
    /* a sync starting next to us may be creating the same schema: retry a few times */
    for (int attempt = 1;; attempt++) {
        if (wt_engine_connect(wt, err, errlen) == T_OK)
            break;
        if (attempt >= WT_CONNECT_ATTEMPTS)
            goto failed;
        log_warn("writethrough.connect_retry", "attempt=%d error=\"%s\"", attempt, err);
        struct timespec ts = {0, 300 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    log_info("writethrough.ready", "syncs=%zu tables=%zu", wt->n, classify_synced_set_count(wt->synced));
    return wt;
failed:
    if (!err[0])
        snprintf(err, errlen, "write-through setup failed");
    wt_engine_free(wt);
    return NULL;
}

void wt_engine_free(wt_engine *wt)
{
    if (!wt)
        return;
    for (size_t i = 0; i < wt->n; i++) {
        wt_slot *s = &wt->slots[i];
        if (s->t.self)
            s->t.ops->close(s->t.self);
        free(s->t.schema);
        if (s->http_ready)
            http_client_cleanup(&s->http);
        request_budget_close(s->budget);
    }
    free(wt->slots);
    if (wt->conn)
        PQfinish(wt->conn);
    classify_cache_free(wt->cache);
    classify_synced_set_free(wt->synced);
    free(wt->url);
    free(wt);
}

const classify_synced_set *wt_engine_synced(const wt_engine *wt)
{
    return wt->synced;
}

classify_cache *wt_engine_cache(wt_engine *wt)
{
    return wt->cache;
}

PGconn *wt_engine_conn(wt_engine *wt)
{
    return wt->conn;
}

const char *wt_engine_state_schema(const wt_engine *wt)
{
    return wt->cfg->state_schema && *wt->cfg->state_schema ? wt->cfg->state_schema : "_tether";
}

const char *wt_engine_read_role(const wt_engine *wt)
{
    return wt->cfg->read_role && *wt->cfg->read_role ? wt->cfg->read_role : "tether_read";
}

wt_target *wt_engine_target(wt_engine *wt, const char *schema, const char *table, size_t *coll)
{
    for (size_t i = 0; i < wt->n; i++) {
        wt_target *t = &wt->slots[i].t;
        if (strcmp(t->schema_name, schema) != 0)
            continue;
        int c = conn_schema_find(t->schema, table);
        if (c >= 0 && strcmp(t->schema->colls[c].name, table) == 0) {
            *coll = (size_t)c;
            return t;
        }
    }
    return NULL;
}

static const char *wt_engine_tag_verb(classify_kind k)
{
    return k == CLASSIFY_INSERT ? "INSERT 0" : k == CLASSIFY_DELETE ? "DELETE" : "UPDATE";
}

int wt_execute(wt_engine *wt, const classify_stmt *st, const char *sql, int nparams,
               const char *const *params, const int *param_formats, const int *param_lengths,
               const char *user, bool in_block, wt_outcome *out)
{
    memset(out, 0, sizeof(*out));
    wt_captures cap;
    memset(&cap, 0, sizeof(cap));
    wt_plan plan;
    memset(&plan, 0, sizeof(plan));
    json_t *ids = json_array();
    char err[T_ERRBUF_SIZE];
    if (st->writes_in_cte) {
        wt_error_set(&out->error, WT_SQLSTATE_UNSUPPORTED,
                     "A data-modifying WITH cannot be applied to the API.",
                     "Run the INSERT, UPDATE or DELETE of the synced table as its own statement.",
                     "cannot write a synced table inside WITH");
        goto failed;
    }
    if (st->kind != CLASSIFY_INSERT && st->kind != CLASSIFY_UPDATE && st->kind != CLASSIFY_DELETE) {
        wt_error_set(&out->error, WT_SQLSTATE_UNSUPPORTED,
                     "Synced tables change only by INSERT, UPDATE and DELETE through Tether, which "
                     "applies them to the API first.",
                     NULL, "%s cannot write a synced table through Tether", classify_kind_name(st->kind));
        goto failed;
    }
    if (wt_engine_connect(wt, err, sizeof(err)) != T_OK) {
        wt_error_set(&out->error, WT_SQLSTATE_UNAVAILABLE, NULL, NULL, "Tether cannot write: %s", err);
        goto failed;
    }
    int64_t t0 = wt_engine_now_us();
    if (wt_capture_run(wt->conn, sql, nparams, params, param_formats, param_lengths, &cap,
                       &out->error) != T_OK)
        goto failed;
    int64_t t1 = wt_engine_now_us();
    wt_target *t = NULL;
    size_t coll = 0;
    if (cap.n > 0) {
        t = wt_engine_target(wt, cap.table_schema, cap.table_name, &coll);
    } else {
        /* nothing matched: still answer RETURNING with the right columns */
        for (size_t i = 0; i < st->n_targets && !t; i++)
            if (st->targets[i].synced)
                t = wt_engine_target(wt, st->targets[i].schema, st->targets[i].table, &coll);
    }
    if (!t) {
        if (cap.n > 0) {
            wt_error_set(&out->error, WT_SQLSTATE_UNSUPPORTED, NULL, NULL,
                         "%s.%s is not a table Tether can write", cap.table_schema, cap.table_name);
            goto failed;
        }
        snprintf(out->tag, sizeof(out->tag), "%s 0", wt_engine_tag_verb(st->kind));
        goto done;
    }
    if (wt_plan_build(t, coll, &cap, st->on_conflict, wt->conn, &plan, &out->error) != T_OK)
        goto failed;
    int64_t t2 = wt_engine_now_us();
    if (wt_apply_plan(wt, &plan, user, ids, out) != T_OK)
        goto failed;
    int64_t t3 = wt_engine_now_us();
    snprintf(out->tag, sizeof(out->tag), "%s %ld", wt_engine_tag_verb(st->kind), plan.matched);
    if (st->returning) {
        out->returning = wt_apply_returning(wt->conn, t, &t->schema->colls[coll], sql, st, ids, &cap,
                                            &out->error);
        if (!out->returning)
            goto failed;
    }
    log_debug("writethrough.timing", "rows=%zu capture_us=%lld plan_us=%lld apply_us=%lld returning_us=%lld",
              cap.n, (long long)(t1 - t0), (long long)(t2 - t1), (long long)(t3 - t2),
              (long long)(wt_engine_now_us() - t3));
done:
    out->notice = in_block && out->applied > 0;
    wt_plan_free(&plan);
    wt_captures_free(&cap);
    json_decref(ids);
    return T_OK;
failed:
    out->failed = true;
    out->notice = in_block && out->applied > 0;
    wt_plan_free(&plan);
    wt_captures_free(&cap);
    json_decref(ids);
    return T_ERR;
}

void wt_outcome_free(wt_outcome *out)
{
    if (out && out->returning) {
        PQclear(out->returning);
        out->returning = NULL;
    }
}
