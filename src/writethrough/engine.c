/*
 * engine.c - the write-through engine the proxy holds: one target per
 * [sync.*] section (connector instance, its HTTP client and token bucket,
 * the described collections), the synced set and classification cache the
 * proxy uses on the hot path, and the lanes the write workers run on.
 *
 * Why lanes and threads: the connector interface is synchronous (apply()
 * runs its HTTP requests to the end, possibly for seconds of retries), and
 * it is shared with the sync engine, so a write cannot be turned into
 * callbacks on the proxy's loop without changing every connector. Instead
 * each write runs whole on a worker thread (workers.c) and only its answer
 * comes back to the loop. A lane is what one worker needs to run a write
 * without touching anything another thread uses: its own libpq connection
 * (the Tether role, guard-enabled; capture, write-back, audit, with the
 * statements prepared on it), its own connector instances over its own HTTP
 * clients (an http_client and an instance are single-threaded), and its own
 * copy of the described collections (the write-back may add columns for new
 * API fields). Lane 0 uses the instances made at start; the other lanes'
 * are opened by wt_engine_start (open() makes no API call; Salesforce logs
 * in on a lane's first write). The token bucket (TETHER_WRITE_RATE) and the
 * credential's request budget stay one per target, shared by the lanes'
 * HTTP clients under pace_lock. Writes of different sessions to the same
 * object are kept in API order by row locks (wt_engine_rows_*): a write
 * holds its objects from its first API call until its write-back committed.
 *
 * Each lane's connection is made on its first write (and re-made when it
 * broke or was left out of step); every 64 captured rows it gets a VACUUM
 * of the capture table, sent after a write and read at its next use. The
 * engine keeps one more connection for the loop thread: setup at start and
 * the Describe of write statements (proxy_extended.c), a local round trip.
 *
 * Memory: the engine owns everything here; wt_engine_free() stops the
 * workers and releases it.
 */
#include "writethrough/writethrough.h"

#include "http/http_client.h"
#include "http/request_budget.h"
#include "http/token_bucket.h"
#include "pg/pgconn.h"
#include "util/common.h"
#include "util/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WT_CACHE_ENTRIES 1024
#define WT_DEFAULT_TIMEOUT_MS 10000
#define WT_DEFAULT_ATTEMPTS 4
#define WT_CONNECT_ATTEMPTS 10
#define WT_DEFAULT_RATE 25 /* writes/s: Stripe's test-mode write limit (live mode: 100) */
#define WT_DEFAULT_WORKERS 4
#define WT_MAX_WORKERS 64
/* Captured rows after which the capture table is vacuumed (a few hundred KiB of dead rows). */
#define WT_CAPTURE_VACUUM_ROWS 64

typedef struct wt_slot {
    wt_target t;
    token_bucket bucket;
    request_budget *budget; /* the credential's, shared with the syncs */
    http_client http;
    bool http_ready;
} wt_slot;

/* A libpq connection of Tether's with its prepared statements and capture-table upkeep. */
typedef struct wt_db {
    PGconn *conn;
    wt_prepared *prep;         /* statements prepared on conn */
    long captured;             /* rows captured since the capture table's last VACUUM */
    bool vacuum_pending;       /* a VACUUM's result is still to be read on conn */
} wt_db;

struct wt_lane {
    wt_engine *wt;
    int index;
    wt_db db;
    wt_target *t;              /* one per slot; lane 0's borrow the slots' instances and schemas */
    http_client *http;         /* one per slot (lanes > 0) */
    size_t nready;             /* http clients initialised (lanes > 0) */
};

/* An object a write holds from its first API call to its write-back. */
typedef struct wt_row_key {
    const wt_target *t;        /* any lane's copy: compared by cfg */
    char key[200];             /* object type and id */
} wt_row_key;

struct wt_engine {
    const tether_config *cfg;
    char *url;                 /* database URL of the connections */
    wt_db db;                  /* the loop thread's */
    wt_slot *slots;
    size_t n;
    classify_synced_set *synced;
    classify_cache *cache;
    pthread_mutex_t pace_lock; /* the slots' buckets and budgets */
    wt_lane **lanes;
    int nlanes;
    wt_pool *pool;
    pthread_mutex_t rows_lock;
    pthread_cond_t rows_cond;
    wt_row_key *rows;          /* objects held by writes under way */
    size_t nrows, caprows;
};

int64_t wt_engine_now_us(void)
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

/* Reads the result of a VACUUM sent after the last write (waits for it). */
static void wt_db_settle(wt_db *db)
{
    if (!db->vacuum_pending)
        return;
    db->vacuum_pending = false;
    for (PGresult *r; (r = PQgetResult(db->conn)) != NULL;) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            log_warn("writethrough.capture_vacuum_failed", "error=\"%s\"", PQresultErrorMessage(r));
        PQclear(r);
    }
}

/*
 * After a write that captured N rows: once enough dead rows piled up in the
 * capture table, has it vacuumed while the client reads its answer (the
 * result is read at the connection's next use).
 */
static void wt_db_after_write(wt_db *db, size_t n)
{
    db->captured += n > 0 ? (long)n : 1;
    if (db->captured < WT_CAPTURE_VACUUM_ROWS || !db->conn || PQstatus(db->conn) != CONNECTION_OK ||
        PQtransactionStatus(db->conn) != PQTRANS_IDLE ||
        PQpipelineStatus(db->conn) != PQ_PIPELINE_OFF)
        return;
    db->captured = 0;
    if (wt_capture_vacuum_send(db->conn) == T_OK)
        db->vacuum_pending = true;
    else
        log_warn("writethrough.capture_vacuum_failed", "error=\"%s\"", PQerrorMessage(db->conn));
}

/*
 * Connects (or reconnects) DB and enables the guard on it; guards the tables
 * of the N targets T. Keeps a connection that is idle and well.
 */
static int wt_db_connect(wt_engine *wt, wt_db *db, const wt_target *t, size_t n, char *err,
                         size_t errlen)
{
    if (db->conn)
        wt_db_settle(db);
    if (db->conn && PQstatus(db->conn) == CONNECTION_OK &&
        PQpipelineStatus(db->conn) == PQ_PIPELINE_OFF &&
        PQtransactionStatus(db->conn) == PQTRANS_IDLE)
        return T_OK;
    if (db->conn)
        PQfinish(db->conn); /* gone, or out of step after a failure */
    db->conn = NULL;
    db->vacuum_pending = false;
    db->captured = 0;
    wt_prepared_forget(db->prep);
    db->conn = pgconn_connect(wt->url, "tether-writethrough", err, errlen);
    if (!db->conn)
        return T_ERR;
    const char *ss = wt_engine_state_schema(wt);
    if (pgconn_exec(db->conn, "SET lock_timeout = '10s'", err, errlen) != T_OK ||
        wt_guard_install(db->conn, ss, err, errlen) != T_OK ||
        wt_guard_enable(db->conn, ss, err, errlen) != T_OK ||
        wt_capture_prepare(db->conn, err, errlen) != T_OK) {
        PQfinish(db->conn);
        db->conn = NULL;
        return T_ERR;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < t[i].schema->n; c++) {
            if (wt_guard_protect(db->conn, ss, t[i].schema_name, t[i].schema->colls[c].name, err,
                                 errlen) != T_OK) {
                PQfinish(db->conn);
                db->conn = NULL;
                return T_ERR;
            }
        }
    }
    return T_OK;
}

/* The slots' targets as one array (for wt_db_connect on the loop thread). */
static int wt_engine_connect(wt_engine *wt, char *err, size_t errlen)
{
    wt_target *t = calloc(wt->n ? wt->n : 1, sizeof(*t));
    if (!t)
        abort();
    for (size_t i = 0; i < wt->n; i++)
        t[i] = wt->slots[i].t;
    int rc = wt_db_connect(wt, &wt->db, t, wt->n, err, errlen);
    free(t);
    return rc;
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
    pthread_mutex_init(&wt->pace_lock, NULL);
    pthread_mutex_init(&wt->rows_lock, NULL);
    pthread_cond_init(&wt->rows_cond, NULL);
    const char *url = cfg->proxy_upstream && *cfg->proxy_upstream ? cfg->proxy_upstream : cfg->database;
    if (!url || !*url) {
        snprintf(err, errlen, "write-through needs a database: [proxy] upstream or [tether] database");
        goto failed;
    }
    wt->url = strdup(url);
    wt->slots = calloc(cfg->nsyncs, sizeof(*wt->slots));
    wt->synced = classify_synced_set_new();
    wt->db.prep = wt_prepared_new();
    if (!wt->url || !wt->slots || !wt->synced || !wt->db.prep)
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
        s->http.shared_lock = &wt->pace_lock;
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

static void wt_lane_free(wt_lane *ln)
{
    if (!ln)
        return;
    if (ln->index > 0) {
        for (size_t i = 0; i < ln->nready; i++) {
            if (ln->t[i].self)
                ln->t[i].ops->close(ln->t[i].self);
            free(ln->t[i].schema);
            http_client_cleanup(&ln->http[i]);
        }
    }
    free(ln->t);
    free(ln->http);
    if (ln->db.conn)
        PQfinish(ln->db.conn);
    wt_prepared_free(ln->db.prep);
    free(ln);
}

/*
 * Lane INDEX: lane 0 borrows the slots' instances and schemas; the others
 * get their own HTTP clients (same bucket, budget and settings), connector
 * instances and copies of the schemas. Runs on the loop thread before the
 * workers start. NULL + ERR on failure.
 */
static wt_lane *wt_lane_new(wt_engine *wt, int index, char *err, size_t errlen)
{
    wt_lane *ln = calloc(1, sizeof(*ln));
    if (!ln)
        abort();
    ln->wt = wt;
    ln->index = index;
    ln->db.prep = wt_prepared_new();
    ln->t = calloc(wt->n ? wt->n : 1, sizeof(*ln->t));
    ln->http = calloc(wt->n ? wt->n : 1, sizeof(*ln->http));
    if (!ln->db.prep || !ln->t || !ln->http)
        abort();
    for (size_t i = 0; i < wt->n; i++) {
        wt_slot *s = &wt->slots[i];
        ln->t[i] = s->t;
        if (index == 0)
            continue;
        ln->t[i].self = NULL;
        ln->t[i].schema = malloc(sizeof(*ln->t[i].schema));
        if (!ln->t[i].schema)
            abort();
        memcpy(ln->t[i].schema, s->t.schema, sizeof(*ln->t[i].schema));
        http_client *h = &ln->http[i];
        if (http_client_init(h, &s->bucket) != T_OK) {
            free(ln->t[i].schema);
            snprintf(err, errlen, "cannot create the HTTP client");
            goto failed;
        }
        ln->nready = i + 1;
        h->budget = s->budget;
        h->shared_lock = &wt->pace_lock;
        h->timeout_ms = s->http.timeout_ms;
        h->max_attempts = s->http.max_attempts;
        h->backoff_base_ms = s->http.backoff_base_ms;
        h->backoff_max_ms = s->http.backoff_max_ms;
        h->daily_budget = s->http.daily_budget;
        ln->t[i].self = s->t.ops->open(s->t.cfg, h, err, errlen);
        if (!ln->t[i].self)
            goto failed;
    }
    return ln;
failed:
    wt_lane_free(ln);
    return NULL;
}

int wt_engine_start(wt_engine *wt, struct event_base *base, char *err, size_t errlen)
{
    int n = (int)wt_engine_env_long("TETHER_WRITE_WORKERS", WT_DEFAULT_WORKERS);
    if (n > WT_MAX_WORKERS)
        n = WT_MAX_WORKERS;
    wt->lanes = calloc((size_t)n, sizeof(*wt->lanes));
    if (!wt->lanes)
        abort();
    for (int i = 0; i < n; i++) {
        wt->lanes[i] = wt_lane_new(wt, i, err, errlen);
        if (!wt->lanes[i])
            return T_ERR;
        wt->nlanes = i + 1;
    }
    wt->pool = wt_pool_new(wt, wt->lanes, n, base, err, errlen);
    if (!wt->pool)
        return T_ERR;
    log_info("writethrough.workers", "n=%d", n);
    return T_OK;
}

void wt_engine_submit(wt_engine *wt, wt_job *job)
{
    wt_pool_submit(wt->pool, job);
}

bool wt_engine_cancel(wt_engine *wt, wt_job *job)
{
    return wt->pool && wt_pool_cancel(wt->pool, job);
}

void wt_engine_free(wt_engine *wt)
{
    if (!wt)
        return;
    wt_pool_free(wt->pool); /* first: the workers use the lanes and the slots */
    for (int i = 0; i < wt->nlanes; i++)
        wt_lane_free(wt->lanes[i]);
    free(wt->lanes);
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
    if (wt->db.conn)
        PQfinish(wt->db.conn);
    wt_prepared_free(wt->db.prep);
    classify_cache_free(wt->cache);
    classify_synced_set_free(wt->synced);
    free(wt->url);
    free(wt->rows);
    pthread_mutex_destroy(&wt->pace_lock);
    pthread_mutex_destroy(&wt->rows_lock);
    pthread_cond_destroy(&wt->rows_cond);
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
    char err[T_ERRBUF_SIZE];
    if (wt_engine_connect(wt, err, sizeof(err)) != T_OK) {
        log_warn("writethrough.connect_failed", "error=\"%s\"", err);
        return NULL;
    }
    return wt->db.conn;
}

PGconn *wt_lane_conn(wt_lane *ln)
{
    if (ln->db.conn)
        wt_db_settle(&ln->db);
    return ln->db.conn;
}

wt_prepared *wt_lane_prepared(wt_lane *ln)
{
    return ln->db.prep;
}

wt_engine *wt_lane_engine(wt_lane *ln)
{
    return ln->wt;
}

const char *wt_engine_state_schema(const wt_engine *wt)
{
    return wt->cfg->state_schema && *wt->cfg->state_schema ? wt->cfg->state_schema : "_tether";
}

const char *wt_engine_read_role(const wt_engine *wt)
{
    return wt->cfg->read_role && *wt->cfg->read_role ? wt->cfg->read_role : "tether_read";
}

/* The target of lane LN holding SCHEMA.TABLE and its collection index, or NULL. */
static wt_target *wt_lane_target(wt_lane *ln, const char *schema, const char *table, size_t *coll)
{
    for (size_t i = 0; i < ln->wt->n; i++) {
        wt_target *t = &ln->t[i];
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

/* Whether row keys A and B name the same object of the same sync. */
static bool wt_row_key_eq(const wt_row_key *a, const wt_row_key *b)
{
    return a->t->cfg == b->t->cfg && strcmp(a->key, b->key) == 0;
}

static void wt_row_key_of(const wt_plan *plan, size_t i, wt_row_key *k)
{
    k->t = plan->target;
    snprintf(k->key, sizeof(k->key), "%s/%s", plan->target->schema->colls[plan->coll].object_type,
             plan->writes[i].id);
}

/* Whether one of PLAN's objects is held by another write (rows_lock held). */
static bool wt_engine_rows_busy(wt_engine *wt, const wt_plan *plan)
{
    for (size_t i = 0; i < plan->n; i++) {
        if (!plan->writes[i].id[0])
            continue; /* a create: a new object nobody else can name yet */
        wt_row_key k;
        wt_row_key_of(plan, i, &k);
        for (size_t j = 0; j < wt->nrows; j++)
            if (wt_row_key_eq(&wt->rows[j], &k))
                return true;
    }
    return false;
}

/*
 * Holds PLAN's objects (updates and deletes; all of them at once, so two
 * writes never wait on each other in a cycle): waits while another write
 * holds one. Another session's write to the same object thus reaches the
 * API after this one's write-back, in the order the writes took the locks.
 */
static void wt_engine_rows_acquire(wt_engine *wt, const wt_plan *plan)
{
    pthread_mutex_lock(&wt->rows_lock);
    while (wt_engine_rows_busy(wt, plan))
        pthread_cond_wait(&wt->rows_cond, &wt->rows_lock);
    for (size_t i = 0; i < plan->n; i++) {
        if (!plan->writes[i].id[0])
            continue;
        if (wt->nrows == wt->caprows) {
            wt->caprows = wt->caprows ? 2 * wt->caprows : 16;
            wt->rows = realloc(wt->rows, wt->caprows * sizeof(*wt->rows));
            if (!wt->rows)
                abort();
        }
        wt_row_key_of(plan, i, &wt->rows[wt->nrows++]);
    }
    pthread_mutex_unlock(&wt->rows_lock);
}

/* Lets go of what wt_engine_rows_acquire(PLAN) held. */
static void wt_engine_rows_release(wt_engine *wt, const wt_plan *plan)
{
    pthread_mutex_lock(&wt->rows_lock);
    for (size_t i = 0; i < plan->n; i++) {
        if (!plan->writes[i].id[0])
            continue;
        wt_row_key k;
        wt_row_key_of(plan, i, &k);
        for (size_t j = 0; j < wt->nrows; j++) {
            if (wt_row_key_eq(&wt->rows[j], &k)) {
                wt->rows[j] = wt->rows[--wt->nrows];
                break;
            }
        }
    }
    pthread_cond_broadcast(&wt->rows_cond);
    pthread_mutex_unlock(&wt->rows_lock);
}

static const char *wt_engine_tag_verb(classify_kind k)
{
    return k == CLASSIFY_INSERT ? "INSERT 0" : k == CLASSIFY_DELETE ? "DELETE" : "UPDATE";
}

int wt_execute(wt_lane *ln, const classify_stmt *st, const char *sql, int nparams,
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
    if (wt_db_connect(ln->wt, &ln->db, ln->t, ln->wt->n, err, sizeof(err)) != T_OK) {
        wt_error_set(&out->error, WT_SQLSTATE_UNAVAILABLE, NULL, NULL, "Tether cannot write: %s", err);
        goto failed;
    }
    int64_t t0 = wt_engine_now_us();
    if (wt_capture_run(ln->db.conn, ln->db.prep, sql, nparams, params, param_formats, param_lengths, &cap,
                       &out->error) != T_OK)
        goto failed;
    int64_t t1 = wt_engine_now_us();
    wt_target *t = NULL;
    size_t coll = 0;
    if (cap.n > 0) {
        t = wt_lane_target(ln, cap.table_schema, cap.table_name, &coll);
    } else {
        /* nothing matched: still answer RETURNING with the right columns */
        for (size_t i = 0; i < st->n_targets && !t; i++)
            if (st->targets[i].synced)
                t = wt_lane_target(ln, st->targets[i].schema, st->targets[i].table, &coll);
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
    if (wt_plan_build(t, coll, &cap, st->on_conflict, ln->db.conn, &plan, &out->error) != T_OK)
        goto failed;
    int64_t t2 = wt_engine_now_us();
    wt_engine_rows_acquire(ln->wt, &plan);
    int arc = wt_apply_plan(ln, &plan, user, ids, out);
    wt_engine_rows_release(ln->wt, &plan);
    if (arc != T_OK)
        goto failed;
    int64_t t3 = wt_engine_now_us();
    snprintf(out->tag, sizeof(out->tag), "%s %ld", wt_engine_tag_verb(st->kind), plan.matched);
    if (st->returning) {
        out->returning = wt_apply_returning(ln->db.conn, t, &t->schema->colls[coll], sql, st, ids, &cap,
                                            &out->error);
        if (!out->returning)
            goto failed;
    }
    log_debug("writethrough.timing", "rows=%zu capture_us=%lld plan_us=%lld apply_us=%lld returning_us=%lld",
              cap.n, (long long)(t1 - t0), (long long)(t2 - t1), (long long)(t3 - t2),
              (long long)(wt_engine_now_us() - t3));
done:
    out->notice = in_block && out->applied > 0;
    wt_db_after_write(&ln->db, cap.n);
    wt_plan_free(&plan);
    wt_captures_free(&cap);
    json_decref(ids);
    return T_OK;
failed:
    out->failed = true;
    out->notice = in_block && out->applied > 0;
    wt_db_after_write(&ln->db, cap.n);
    wt_plan_free(&plan);
    wt_captures_free(&cap);
    json_decref(ids);
    return T_ERR;
}

void wt_lane_run(wt_lane *ln, wt_job *job)
{
    memset(&job->out, 0, sizeof(job->out));
    wt_execute(ln, &job->stmt, job->sql, job->nparams, (const char *const *)job->params,
               job->formats, job->lengths, job->user, job->in_block, &job->out);
}

void wt_outcome_free(wt_outcome *out)
{
    if (out && out->returning) {
        PQclear(out->returning);
        out->returning = NULL;
    }
}
