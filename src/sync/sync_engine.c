/*
 * sync_engine.c - see sync_engine.h. One loop per process: Postgres calls
 * are synchronous libpq, API calls go through the curl-multi batch client
 * (pages of several collections run concurrently). Webhooks and /status are
 * served on libmicrohttpd's thread: a verified webhook's changes are queued
 * under a mutex and the loop is woken through a pipe. The engine owns every
 * worker, connection and server it creates.
 */
#include "sync/sync_engine.h"
#include "connectors/connector.h"
#include "http/http_client.h"
#include "http/http_server.h"
#include "http/request_budget.h"
#include "http/token_bucket.h"
#include "writethrough/writethrough.h"
#include "pg/pgconn.h"
#include "sync/sync_batch.h"
#include "sync/sync_db.h"
#include "sync/sync_status.h"
#include "util/common.h"
#include "util/log.h"

#include <assert.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ENGINE_MAX_CONCURRENT_PAGES 4
#define ENGINE_BACKOFF_MIN_MS 200
#define ENGINE_BACKOFF_MAX_MS 5000
#define ENGINE_WEBHOOK_SETTLE_MS 250 /* the settling poll after webhooks, at most this late */
#define ENGINE_CAUGHT_UP_WRITE_MS 2000 /* resolution of the lag when idle */
#define ENGINE_BACKFILL_STEP_MS 1000   /* a backfill step pages for at most this long */
#define ENGINE_PAGES_IN_FLIGHT 3       /* page transactions sent and not yet read, per step */

typedef struct sync_worker {
    const sync_config *cfg;
    const connector_ops *ops;
    void *self;
    conn_schema *schema;
    char target[64];
    token_bucket bucket;
    request_budget *budget; /* the credential's, shared with other processes */
    http_client http;
    bool holds_lease, tables_ready, steady;
    int64_t next_lease_ms, next_step_ms, backoff_ms;
    int64_t caught_up_written_ms; /* when caught_up_at was last stored */
    pthread_mutex_t qlock;
    conn_changes queue; /* verified webhook changes waiting for the loop */
} sync_worker;

typedef struct sync_engine {
    const tether_config *cfg;
    PGconn *pg;
    int64_t next_connect_ms, connect_backoff_ms;
    char holder[128];
    sync_worker workers[CONFIG_MAX_SYNCS];
    size_t n;
    http_server *webhook, *status;
    struct event_base *base;  /* the process's one loop: HTTP transfers, wake-ups, timers */
    struct event *wake_ev, *wait_timer, *renew_timer;
    int wake[2];
    volatile sig_atomic_t *stop;
    bool pipelined; /* writes in flight on pg: the loop's timers keep off it */
    sync_prepared prepared; /* statements prepared on pg */
} sync_engine;

static void drop_pg(sync_engine *e)
{
    if (e->pg)
        PQfinish(e->pg);
    e->pg = NULL;
    memset(&e->prepared, 0, sizeof(e->prepared));
    for (size_t i = 0; i < e->n; i++) {
        e->workers[i].holds_lease = false;
        e->workers[i].tables_ready = false;
    }
}

/* After a failed statement: is the connection gone? Then reconnect later. */
static void check_pg(sync_engine *e)
{
    if (e->pg && PQstatus(e->pg) != CONNECTION_OK) {
        log_warn("sync.pg_lost", "reconnecting=true");
        drop_pg(e);
    }
}

static int exec_simple(sync_engine *e, const char *sql, int n, const char *const *p, char *err,
                       size_t errlen)
{
    PGresult *r = sync_db_query(e->pg, sql, n, p, err, errlen);
    if (!r)
        return T_ERR;
    PQclear(r);
    return T_OK;
}

static void rollback(sync_engine *e)
{
    if (!e->pg)
        return;
    PGresult *r = PQexec(e->pg, "ROLLBACK");
    PQclear(r);
}

static void record_error(sync_engine *e, sync_worker *w, const char *msg)
{
    log_warn("sync.error", "sync=%s error=\"%s\"", w->cfg->name, msg);
    if (!e->pg)
        return;
    char sql[256], err[T_ERRBUF_SIZE];
    snprintf(sql, sizeof(sql),
             "UPDATE %s.sync SET last_error = $2, last_error_at = now(), updated_at = now() WHERE name = $1",
             e->cfg->state_schema);
    const char *p[] = {w->cfg->name, msg};
    if (exec_simple(e, sql, 2, p, err, sizeof(err)) != T_OK)
        check_pg(e);
}

/*
 * Takes or renews the lease KEY ("<sync>" for the sync as a whole: feed
 * position, polling; "<sync>/<collection>" for one collection's backfill).
 * *HELD says whether this process holds it now. Logs a takeover.
 */
static int lease_try(sync_engine *e, const char *key, bool *held, char *err, size_t errlen)
{
    char sql[1024], secs[32];
    const char *ss = e->cfg->state_schema;
    *held = false;
    snprintf(secs, sizeof(secs), "%d", e->cfg->lease_seconds);
    snprintf(sql, sizeof(sql), "INSERT INTO %s.lease (sync) VALUES ($1) ON CONFLICT DO NOTHING", ss);
    const char *p1[] = {key};
    if (exec_simple(e, sql, 1, p1, err, errlen) != T_OK)
        return T_ERR;
    snprintf(sql, sizeof(sql),
             "WITH l AS (SELECT sync, holder AS old FROM %s.lease WHERE sync = $1"
             " AND (holder = $2 OR expires_at < now()) FOR UPDATE SKIP LOCKED)"
             " UPDATE %s.lease SET holder = $2, expires_at = now() + make_interval(secs => $3::int)"
             " FROM l WHERE lease.sync = l.sync RETURNING l.old IS DISTINCT FROM $2",
             ss, ss);
    const char *p[] = {key, e->holder, secs};
    PGresult *r = sync_db_query(e->pg, sql, 3, p, err, errlen);
    if (!r)
        return T_ERR;
    *held = PQntuples(r) > 0;
    if (*held && strcmp(PQgetvalue(r, 0, 0), "t") == 0)
        log_info("sync.lease_acquired", "%s=%s holder=%s", strchr(key, '/') ? "key" : "sync", key,
                 e->holder);
    PQclear(r);
    return T_OK;
}

/* Takes or renews W's sync lease. Sets holds_lease. */
static int lease_step(sync_engine *e, sync_worker *w)
{
    char err[T_ERRBUF_SIZE];
    bool held = false;
    if (lease_try(e, w->cfg->name, &held, err, sizeof(err)) != T_OK) {
        log_warn("sync.lease_error", "sync=%s error=\"%s\"", w->cfg->name, err);
        w->holds_lease = false;
        check_pg(e);
        return T_ERR;
    }
    if (!held && w->holds_lease)
        log_warn("sync.lease_lost", "sync=%s holder=%s", w->cfg->name, e->holder);
    w->holds_lease = held;
    return T_OK;
}

/* BEGIN and re-check lease KEY inside the transaction (fencing). */
static int begin_fenced(sync_engine *e, sync_worker *w, const char *key, char *err, size_t errlen)
{
    if (exec_simple(e, "BEGIN", 0, NULL, err, errlen) != T_OK)
        return T_ERR;
    char sql[512], secs[32];
    snprintf(secs, sizeof(secs), "%d", e->cfg->lease_seconds);
    snprintf(sql, sizeof(sql),
             "UPDATE %s.lease SET expires_at = now() + make_interval(secs => $3::int)"
             " WHERE sync = $1 AND holder = $2",
             e->cfg->state_schema);
    const char *p[] = {key, e->holder, secs};
    PGresult *r = sync_db_query(e->pg, sql, 3, p, err, errlen);
    if (!r) {
        rollback(e);
        return T_ERR;
    }
    bool ok = atoi(PQcmdTuples(r)) == 1;
    PQclear(r);
    if (!ok) {
        snprintf(err, errlen, "lease %s lost", key);
        if (strcmp(key, w->cfg->name) == 0)
            w->holds_lease = false;
        rollback(e);
        return T_ERR;
    }
    return T_OK;
}

static int commit(sync_engine *e, char *err, size_t errlen)
{
    if (exec_simple(e, "COMMIT", 0, NULL, err, errlen) != T_OK) {
        rollback(e);
        return T_ERR;
    }
    return T_OK;
}

/* Logs one line per feed entry not already in the event log. */
static void log_new_events(sync_engine *e, sync_worker *w, const conn_changes *ch, const char *how)
{
    int ev = conn_schema_find(w->schema, "event");
    json_t *ids = json_array();
    for (size_t i = 0; i < ch->n; i++)
        if (ch->items[i].event_id[0])
            json_array_append_new(ids, json_string(ch->items[i].event_id));
    if (json_array_size(ids) == 0 || ev < 0) {
        json_decref(ids);
        return;
    }
    char *arr = json_dumps(ids, JSON_COMPACT);
    json_decref(ids);
    char sql[512], err[T_ERRBUF_SIZE];
    snprintf(sql, sizeof(sql),
             "SELECT x FROM jsonb_array_elements_text($1::jsonb) x WHERE NOT EXISTS"
             " (SELECT 1 FROM %s.event e WHERE e.id = x)",
             w->target);
    const char *p[] = {arr};
    PGresult *r = sync_db_query(e->pg, sql, 1, p, err, sizeof(err));
    free(arr);
    if (!r)
        return;
    for (int row = 0; row < PQntuples(r); row++) {
        const char *id = PQgetvalue(r, row, 0);
        for (size_t i = 0; i < ch->n; i++) {
            const conn_change *c = &ch->items[i];
            if (strcmp(c->event_id, id) != 0)
                continue;
            json_t *obj = json_object_get(json_object_get(c->event, "data"), "object");
            log_info("sync.event", "sync=%s via=%s id=%s type=%s object=%s", w->cfg->name, how, id,
                     c->event_type, json_string_value(json_object_get(obj, "id")) ?: "-");
            break;
        }
    }
    PQclear(r);
}

/* Applies CH and runs STATE_SQL(STATE_PARAMS) in one transaction fenced by lease KEY. */
static int write_txn(sync_engine *e, sync_worker *w, const char *key, const conn_changes *ch,
                     const char *state_sql, int nparams, const char *const *params, long *written,
                     char *err, size_t errlen)
{
    if (begin_fenced(e, w, key, err, errlen) != T_OK)
        return T_ERR;
    if (sync_db_apply(e->pg, e->cfg->state_schema, w->target, w->schema, w->ops, w->self, ch,
                      e->cfg->read_role, written, err, errlen) != T_OK)
        goto failed;
    if (state_sql && exec_simple(e, state_sql, nparams, params, err, errlen) != T_OK)
        goto failed;
    return commit(e, err, errlen);
failed:
    rollback(e);
    return T_ERR;
}

static int start_backfill(sync_engine *e, sync_worker *w, char *err, size_t errlen)
{
    char cursor[256], sql[1024];
    if (w->ops->feed_position(w->self, cursor, sizeof(cursor), err, errlen) != T_OK)
        return T_ERR;
    if (begin_fenced(e, w, w->cfg->name, err, errlen) != T_OK)
        return T_ERR;
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s.sync (name, source, target_schema, feed_cursor, backfill_started_at)"
             " VALUES ($1, $2, $3, $4, now()) ON CONFLICT (name) DO UPDATE SET feed_cursor = excluded.feed_cursor,"
             " backfill_started_at = now(), backfill_done = false, updated_at = now()",
             e->cfg->state_schema);
    const char *p[] = {w->cfg->name, w->ops->source, w->target, cursor};
    if (exec_simple(e, sql, 4, p, err, errlen) != T_OK)
        goto failed;
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s.collection (sync, collection) VALUES ($1, $2) ON CONFLICT DO NOTHING",
             e->cfg->state_schema);
    for (size_t i = 0; i < w->schema->n; i++) {
        if (!w->schema->colls[i].backfill)
            continue;
        const char *q[] = {w->cfg->name, w->schema->colls[i].name};
        if (exec_simple(e, sql, 2, q, err, errlen) != T_OK)
            goto failed;
    }
    if (commit(e, err, errlen) != T_OK)
        return T_ERR;
    log_info("sync.backfill_start", "sync=%s feed_position=%s", w->cfg->name, cursor[0] ? cursor : "-");
    return T_OK;
failed:
    rollback(e);
    return T_ERR;
}

/*
 * The transaction of backfill page PG, fetched from cursor FROM, as a
 * batch: the lease fence of "<sync>/<collection>" first (renews it, or
 * fails the whole transaction when another process holds it; the lease row
 * stays locked until the commit), then the page's rows, then the move of
 * the collection's cursor from FROM to the page's next cursor, which fails
 * the transaction unless the cursor is at FROM (so a page sent behind one
 * that failed cannot commit). T_ERR + ERR when building failed (DDL for a
 * new field).
 */
static int page_batch(sync_engine *e, sync_worker *w, const conn_page *pg, const char *from,
                      sync_batch *b, char *err, size_t errlen)
{
    const char *ss = e->cfg->state_schema;
    const char *cname = w->schema->colls[pg->coll].name;
    char sql[512], key[160], secs[32], nrows[32];
    snprintf(key, sizeof(key), "%s/%s", w->cfg->name, cname);
    snprintf(secs, sizeof(secs), "%d", e->cfg->lease_seconds);
    snprintf(nrows, sizeof(nrows), "%zu", pg->rows.n);
    snprintf(sql, sizeof(sql), "SELECT %s.lease_fence($1, $2, $3::int)", ss);
    const char *fp[] = {key, e->holder, secs};
    sync_batch_add(b, false, sql, 3, fp);
    if (sync_db_apply_build(e->pg, ss, w->target, w->schema, w->ops, w->self, &pg->rows,
                            e->cfg->read_role, b, err, errlen) != T_OK)
        return T_ERR;
    snprintf(sql, sizeof(sql), "SELECT %s.cursor_advance($1, $2, $3, $4, $5::boolean, $6::bigint)", ss);
    const char *q[] = {w->cfg->name, cname, from, pg->cursor, pg->done ? "true" : "false", nrows};
    sync_batch_add(b, false, sql, 6, q);
    return T_OK;
}

/* Monotonic microseconds, for the step's timing line. */
static int64_t engine_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One round of pages (one per claimed collection) and their transactions. */
typedef struct page_wave {
    conn_page pages[ENGINE_MAX_CONCURRENT_PAGES];
    char from[ENGINE_MAX_CONCURRENT_PAGES][256]; /* the cursor each page was read from */
    sync_batch batches[ENGINE_MAX_CONCURRENT_PAGES];
    bool sent[ENGINE_MAX_CONCURRENT_PAGES];
    size_t n;
} page_wave;

/*
 * Reads the results of W's sent batches (oldest first), logs the pages,
 * frees W. Returns false when a page failed (first error into ERR unless
 * *FAILED already); sets *LOST when the connection's results are out of
 * step (the caller drops it).
 */
static void wave_finish(sync_engine *e, sync_worker *w, page_wave *wv, bool *failed, bool *lost,
                        char *err, size_t errlen)
{
    for (size_t i = 0; i < wv->n; i++) {
        conn_page *pg = &wv->pages[i];
        const char *cname = w->schema->colls[pg->coll].name;
        if (wv->sent[i] && !*lost) {
            char e2[1100];
            if (sync_batch_finish(e->pg, &wv->batches[i], &e->prepared, false, e2, sizeof(e2)) != T_OK) {
                if (!*failed)
                    snprintf(err, errlen, "backfill %.60s: %.400s", cname, e2);
                *failed = true;
                /* no statement error: the results are out of step */
                *lost = wv->batches[i].error[0] == '\0' || PQstatus(e->pg) != CONNECTION_OK;
            } else {
                log_info("sync.backfill_page", "sync=%s collection=%s rows=%zu written=%ld done=%s",
                         w->cfg->name, cname, pg->rows.n, wv->batches[i].written,
                         pg->done ? "true" : "false");
            }
        }
        sync_batch_free(&wv->batches[i]);
        conn_changes_free(&pg->rows);
        wv->sent[i] = false;
    }
    wv->n = 0;
}

/*
 * Pages the claimed collections PAGES[0..N) (cursors set) for up to
 * ENGINE_BACKFILL_STEP_MS, or until one of them is done (a new step then
 * lets the next undone collection start at once). Each page commits with
 * its cursor in one transaction (page_batch), sent as a libpq pipeline
 * segment; the loop does not wait for it: it fetches and parses the next
 * page (its cursor is known once a page is parsed), builds and sends that
 * one, and reads a page's results only when ENGINE_PAGES_IN_FLIGHT later
 * pages have been sent. So Postgres has pages queued while Tether fetches,
 * parses and builds, and neither waits for the other's hiccups. A page
 * that fails makes every page sent behind it fail too (cursor_advance), the
 * step ends, and the next step resumes from the committed cursors.
 */
static int backfill_pages(sync_engine *e, sync_worker *w, conn_page *pages, size_t n, char *err,
                          size_t errlen)
{
    /* where the step's time went: fetching+parsing, building+sending, and
     * waiting for Postgres's results (logged at debug level) */
    int64_t t_fetch = 0, t_build = 0, t_wait = 0, t0 = engine_now_us();
    size_t npages = 0;
    /* a ring: up to ENGINE_PAGES_IN_FLIGHT waves sent and not yet read, plus
     * the one being fetched */
    const size_t nring = ENGINE_PAGES_IN_FLIGHT + 1;
    page_wave *ring = calloc(nring, sizeof(*ring));
    if (!ring)
        abort();
    size_t oldest = 0, inflight = 0;
    page_wave *cur = &ring[0];
    memcpy(cur->pages, pages, n * sizeof(*pages));
    cur->n = n;
    for (size_t i = 0; i < n; i++)
        snprintf(cur->from[i], sizeof(cur->from[i]), "%s", pages[i].cursor);
    int64_t until = token_bucket_now_ms() + ENGINE_BACKFILL_STEP_MS;
    e->pipelined = false;
    w->ops->backfill(w->self, w->schema, cur->pages, cur->n);
    t_fetch += engine_now_us() - t0;
    bool failed = false, lost = false;
    for (;;) {
        int64_t tb = engine_now_us();
        bool finished = false;
        for (size_t i = 0; i < cur->n; i++)
            if (cur->pages[i].error[0] && !failed) {
                snprintf(err, errlen, "backfill %.60s: %.250s",
                         w->schema->colls[cur->pages[i].coll].name, cur->pages[i].error);
                failed = true;
            }
        /* a new field means DDL while building: read what is in flight first */
        bool ddl = false;
        for (size_t i = 0; i < cur->n && inflight > 0 && !ddl; i++)
            ddl = sync_db_needs_columns(w->schema, w->ops, w->self, &cur->pages[i].rows);
        if (ddl) {
            for (; inflight > 0; inflight--, oldest = (oldest + 1) % nring)
                wave_finish(e, w, &ring[oldest], &failed, &lost, err, errlen);
            if (!lost && PQpipelineStatus(e->pg) != PQ_PIPELINE_OFF && PQexitPipelineMode(e->pg) != 1)
                lost = true;
        }
        /* build every batch before sending any: building may run DDL */
        bool built[ENGINE_MAX_CONCURRENT_PAGES] = {false};
        for (size_t i = 0; i < cur->n && !failed && !lost; i++) {
            char e2[400];
            if (page_batch(e, w, &cur->pages[i], cur->from[i], &cur->batches[i], e2, sizeof(e2)) != T_OK) {
                snprintf(err, errlen, "backfill %.60s: %.400s",
                         w->schema->colls[cur->pages[i].coll].name, e2);
                failed = true;
                break;
            }
            built[i] = true;
        }
        for (size_t i = 0; i < cur->n && built[i] && !failed && !lost; i++) {
            conn_page *pg = &cur->pages[i];
            char e2[400];
            if (sync_batch_send(e->pg, &cur->batches[i], &e->prepared, e2, sizeof(e2)) != T_OK) {
                snprintf(err, errlen, "backfill %.60s: %.400s", w->schema->colls[pg->coll].name, e2);
                failed = lost = true; /* maybe half sent: start over on a new connection */
                break;
            }
            cur->sent[i] = true;
            npages++;
            finished = finished || pg->done;
        }
        inflight++; /* CUR, sent or not: it is read (or freed) in ring order */
        int64_t tw = engine_now_us();
        t_build += tw - tb;
        /* keep a slot free for the next fetch: read the oldest waves (Postgres
         * had them while the later ones were fetched and built) */
        while (inflight > ENGINE_PAGES_IN_FLIGHT) {
            wave_finish(e, w, &ring[oldest], &failed, &lost, err, errlen);
            oldest = (oldest + 1) % nring;
            inflight--;
        }
        int64_t tf = engine_now_us();
        t_wait += tf - tw;
        bool go_on = !failed && !lost && !finished && !*e->stop && token_bucket_now_ms() < until;
        if (!go_on)
            break;
        /* prefetch: the next wave while Postgres writes the ones in flight */
        page_wave *last = cur;
        cur = &ring[(oldest + inflight) % nring];
        assert(cur->n == 0);
        cur->n = last->n;
        for (size_t i = 0; i < last->n; i++) {
            memset(&cur->pages[i], 0, sizeof(cur->pages[i]));
            cur->pages[i].coll = last->pages[i].coll;
            snprintf(cur->pages[i].cursor, sizeof(cur->pages[i].cursor), "%s", last->pages[i].cursor);
            snprintf(cur->from[i], sizeof(cur->from[i]), "%s", last->pages[i].cursor);
        }
        e->pipelined = true;
        w->ops->backfill(w->self, w->schema, cur->pages, cur->n);
        e->pipelined = false;
        t_fetch += engine_now_us() - tf;
    }
    int64_t tw = engine_now_us();
    for (; inflight > 0; inflight--, oldest = (oldest + 1) % nring)
        wave_finish(e, w, &ring[oldest], &failed, &lost, err, errlen);
    t_wait += engine_now_us() - tw;
    free(ring);
    log_debug("sync.backfill_timing", "sync=%s pages=%zu fetch_ms=%.1f build_ms=%.1f wait_ms=%.1f",
              w->cfg->name, npages, (double)t_fetch / 1000, (double)t_build / 1000,
              (double)t_wait / 1000);
    if (!lost && e->pg && PQpipelineStatus(e->pg) != PQ_PIPELINE_OFF && PQexitPipelineMode(e->pg) != 1)
        lost = true;
    if (lost) {
        log_warn("sync.pg_pipeline_broken", "reconnecting=true");
        drop_pg(e);
    }
    return failed || lost ? T_ERR : T_OK;
}

static int backfill_step(sync_engine *e, sync_worker *w, bool *more, char *err, size_t errlen)
{
    *more = true;
    char sql[1024];
    const char *ss = e->cfg->state_schema;
    snprintf(sql, sizeof(sql),
             "SELECT collection, cursor FROM %s.collection WHERE sync = $1 AND NOT done ORDER BY collection",
             ss);
    const char *p[] = {w->cfg->name};
    PGresult *r = sync_db_query(e->pg, sql, 1, p, err, errlen);
    if (!r)
        return T_ERR;
    conn_page pages[ENGINE_MAX_CONCURRENT_PAGES];
    size_t n = 0;
    int undone = PQntuples(r);
    for (int row = 0; row < PQntuples(r) && n < ENGINE_MAX_CONCURRENT_PAGES; row++) {
        int ci = conn_schema_find(w->schema, PQgetvalue(r, row, 0));
        if (ci < 0)
            continue;
        /* several processes split the backfill: one lease per collection */
        char key[160];
        bool held = false;
        snprintf(key, sizeof(key), "%s/%s", w->cfg->name, w->schema->colls[ci].name);
        if (lease_try(e, key, &held, err, errlen) != T_OK) {
            PQclear(r);
            return T_ERR;
        }
        if (!held)
            continue;
        memset(&pages[n], 0, sizeof(pages[n]));
        pages[n].coll = (size_t)ci;
        snprintf(pages[n].cursor, sizeof(pages[n].cursor), "%s", PQgetvalue(r, row, 1));
        n++;
    }
    PQclear(r);
    if (n == 0 && undone > 0) {
        *more = false; /* other processes hold the rest: look again later */
        return T_OK;
    }
    if (n == 0) {
        if (!w->holds_lease) {
            *more = false;
            return T_OK;
        }
        snprintf(sql, sizeof(sql),
                 "UPDATE %s.sync SET backfill_done = true, backfill_done_at = now(), updated_at = now()"
                 " WHERE name = $1",
                 ss);
        if (begin_fenced(e, w, w->cfg->name, err, errlen) != T_OK)
            return T_ERR;
        if (exec_simple(e, sql, 1, p, err, errlen) != T_OK) {
            rollback(e);
            return T_ERR;
        }
        if (commit(e, err, errlen) != T_OK)
            return T_ERR;
        log_info("sync.backfill_done", "sync=%s", w->cfg->name);
        return T_OK;
    }
    return backfill_pages(e, w, pages, n, err, errlen);
}

static int poll_step(sync_engine *e, sync_worker *w, const char *cursor, char *err, size_t errlen)
{
    conn_changes ch = {0};
    if (w->ops->changes(w->self, w->schema, cursor, w->cfg->safety_window_ms, &ch, err, errlen) != T_OK) {
        conn_changes_free(&ch);
        return T_ERR;
    }
    int rc = T_OK;
    if (ch.n > 0 || strcmp(ch.next_cursor, cursor) != 0) {
        const char *last_id = NULL;
        int64_t last_at = 0;
        for (size_t i = 0; i < ch.n; i++)
            if (ch.items[i].event_id[0]) {
                last_id = ch.items[i].event_id;
                last_at = ch.items[i].version;
            }
        log_new_events(e, w, &ch, "poll");
        char sql[1024], at[32] = "", nev[32];
        if (last_at)
            sync_db_iso_time(last_at, at, sizeof(at));
        snprintf(nev, sizeof(nev), "%zu", ch.new_events);
        snprintf(sql, sizeof(sql),
                 "UPDATE %s.sync SET feed_cursor = $2, last_event_id = coalesce($3, last_event_id),"
                 " last_event_at = greatest(last_event_at, $4::timestamptz), caught_up_at = now(),"
                 " updated_at = now()"
                 " WHERE name = $1",
                 e->cfg->state_schema);
        const char *p[] = {w->cfg->name, ch.next_cursor, last_id, last_at ? at : NULL};
        long written = 0;
        rc = write_txn(e, w, w->cfg->name, &ch, sql, 4, p, &written, err, errlen);
        if (rc == T_OK)
            w->caught_up_written_ms = token_bucket_now_ms();
        if (rc == T_OK && written > 0)
            log_debug("sync.poll_applied", "sync=%s changes=%zu written=%ld cursor=%s", w->cfg->name,
                      ch.n, written, ch.next_cursor);
    } else if (token_bucket_now_ms() - w->caught_up_written_ms >= ENGINE_CAUGHT_UP_WRITE_MS) {
        /* nothing new: record now and then that the sync is current (for lag) */
        char sql[256];
        snprintf(sql, sizeof(sql), "UPDATE %s.sync SET caught_up_at = now() WHERE name = $1",
                 e->cfg->state_schema);
        const char *p[] = {w->cfg->name};
        rc = exec_simple(e, sql, 1, p, err, errlen);
        if (rc == T_OK)
            w->caught_up_written_ms = token_bucket_now_ms();
    }
    conn_changes_free(&ch);
    return rc;
}

/* One unit of work for W: returns whether more work is ready at once. */
static int worker_step(sync_engine *e, sync_worker *w, bool *more, char *err, size_t errlen)
{
    *more = false;
    if (!w->tables_ready) {
        if (sync_db_ensure_tables(e->pg, w->target, w->schema, e->cfg->read_role, err, errlen) != T_OK ||
            wt_guard_tables_hook(e->pg, e->cfg->state_schema, w->target, w->schema, err, errlen) != T_OK)
            return T_ERR;
        w->tables_ready = true;
    }
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT feed_cursor, backfill_done FROM %s.sync WHERE name = $1",
             e->cfg->state_schema);
    const char *p[] = {w->cfg->name};
    PGresult *r = sync_db_query(e->pg, sql, 1, p, err, errlen);
    if (!r)
        return T_ERR;
    bool exists = PQntuples(r) > 0;
    bool done = exists && strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    char cursor[256];
    snprintf(cursor, sizeof(cursor), "%s", exists ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    int64_t now = token_bucket_now_ms();
    if (!exists) {
        if (!w->holds_lease)
            return T_OK; /* the sync's lease holder records the feed position first */
        *more = true;
        return start_backfill(e, w, err, errlen);
    }
    if (!done) {
        if (w->steady) {
            token_bucket_set_rate(&w->bucket, w->cfg->rate_backfill, w->cfg->rate_backfill, now);
            w->steady = false;
        }
        return backfill_step(e, w, more, err, errlen);
    }
    if (!w->holds_lease)
        return T_OK; /* real time belongs to the sync's lease holder */
    if (!w->steady) {
        token_bucket_set_rate(&w->bucket, w->cfg->rate_steady, w->cfg->rate_steady, now);
        w->steady = true;
    }
    return poll_step(e, w, cursor, err, errlen);
}

static void drain_webhooks(sync_engine *e, sync_worker *w)
{
    conn_changes ch;
    pthread_mutex_lock(&w->qlock);
    ch = w->queue;
    memset(&w->queue, 0, sizeof(w->queue));
    pthread_mutex_unlock(&w->qlock);
    if (ch.n == 0)
        return;
    if (!e->pg || !w->holds_lease || !w->tables_ready) {
        /* not ours to write: the poll of the lease holder will see these events */
        conn_changes_free(&ch);
        return;
    }
    char err[T_ERRBUF_SIZE];
    long written = 0;
    ch.strictly_newer = true;
    log_new_events(e, w, &ch, "webhook");
    if (write_txn(e, w, w->cfg->name, &ch, NULL, 0, NULL, &written, err, sizeof(err)) != T_OK) {
        record_error(e, w, err);
        check_pg(e);
    }
    conn_changes_free(&ch);
    /* pushed changes only win when strictly newer; the ordered poll settles
     * changes from the same second, so run it soon rather than at its
     * interval - but coalesced: a poll per webhook would use up the steady
     * request budget and hold the loop waiting for tokens while later
     * webhooks queue behind it */
    int64_t settle = token_bucket_now_ms() + ENGINE_WEBHOOK_SETTLE_MS;
    if (w->next_step_ms > settle)
        w->next_step_ms = settle;
}

static void wake_loop(sync_engine *e)
{
    char b = 1;
    ssize_t n = write(e->wake[1], &b, 1);
    (void)n;
}

static void webhook_handler(void *ud, const http_server_request *req, http_server_response *resp)
{
    sync_engine *e = ud;
    resp->content_type = "application/json";
    if (strcmp(req->method, "POST") != 0 || strncmp(req->path, "/webhook", 8) != 0) {
        resp->status = 404;
        resp->body = strdup("{\"error\":\"not found\"}");
        return;
    }
    const char *name = req->path[8] == '/' ? req->path + 9 : NULL;
    sync_worker *w = NULL;
    for (size_t i = 0; i < e->n && !w; i++)
        if (!name || !*name || strcmp(e->workers[i].cfg->name, name) == 0)
            w = &e->workers[i];
    if (!w || !w->ops->push) {
        resp->status = 404;
        resp->body = strdup("{\"error\":\"no such sync\"}");
        return;
    }
    conn_changes ch = {0};
    char err[T_ERRBUF_SIZE];
    const char *sig = http_server_header(req, "Stripe-Signature");
    if (w->ops->push(w->self, w->schema, sig, req->body, req->body_len, (int64_t)time(NULL), &ch,
                     err, sizeof(err)) != T_OK) {
        log_warn("sync.webhook_rejected", "sync=%s reason=\"%s\" bytes=%zu", w->cfg->name, err,
                 req->body_len);
        conn_changes_free(&ch);
        resp->status = 400;
        json_t *j = json_pack("{s:s}", "error", err);
        resp->body = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        return;
    }
    pthread_mutex_lock(&w->qlock);
    for (size_t i = 0; i < ch.n; i++) {
        conn_change *src = &ch.items[i];
        conn_change *dst = conn_changes_push(&w->queue, src->kind, src->coll, src->id, src->object,
                                             src->version);
        memcpy(dst->event_id, src->event_id, sizeof(dst->event_id));
        memcpy(dst->event_type, src->event_type, sizeof(dst->event_type));
        dst->event = src->event;
        src->object = src->event = NULL; /* moved */
    }
    pthread_mutex_unlock(&w->qlock);
    conn_changes_free(&ch);
    wake_loop(e);
    resp->status = 200;
    resp->body = strdup("{\"received\":true}");
}

static void status_handler(void *ud, const http_server_request *req, http_server_response *resp)
{
    sync_engine *e = ud;
    bool metrics = strcmp(req->path, "/metrics") == 0;
    if (strcmp(req->method, "GET") != 0 || (!metrics && strcmp(req->path, "/status") != 0)) {
        resp->status = 404;
        resp->body = strdup("not found\n");
        return;
    }
    char err[T_ERRBUF_SIZE];
    /* the loop's connection is not thread-safe: use one of our own */
    PGconn *c = pgconn_connect(e->cfg->database, "tether-status", err, sizeof(err));
    json_t *st = c ? sync_status_read(c, e->cfg->state_schema, err, sizeof(err)) : NULL;
    if (c)
        PQfinish(c);
    if (!st) {
        resp->status = 503;
        resp->content_type = "application/json";
        json_t *j = json_pack("{s:s}", "error", err);
        resp->body = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        return;
    }
    resp->status = 200;
    if (metrics) {
        resp->content_type = "text/plain; version=0.0.4";
        resp->body = sync_status_metrics(st);
    } else {
        resp->content_type = "application/json";
        resp->body = json_dumps(st, JSON_INDENT(2));
    }
    json_decref(st);
}

/* Writes ",a,b," for the comma list SPEC (spaces dropped) into OUT. */
static void collections_list(const char *spec, char *out, size_t len)
{
    size_t j = 0;
    out[j++] = ',';
    for (const char *q = spec; *q && j < len - 2; q++)
        if (*q != ' ')
            out[j++] = *q;
    out[j++] = ',';
    out[j] = '\0';
}

/*
 * Keeps only the collections named in SC->collections (with their children
 * and the event log); an unknown name is an error.
 */
static int select_collections(sync_worker *w, const sync_config *sc)
{
    char list[1024], copy[1024];
    collections_list(sc->collections, list, sizeof(list));
    snprintf(copy, sizeof(copy), "%s", list);
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
        if (conn_schema_find(w->schema, tok) < 0) {
            fprintf(stderr, "tether sync: sync '%s': unknown collection '%s'\n", sc->name, tok);
            return T_ERR;
        }
    }
    for (size_t k = 0; k < w->schema->n; k++) {
        conn_collection *c = &w->schema->colls[k];
        char needle[80];
        snprintf(needle, sizeof(needle), ",%s,", c->parent[0] ? c->parent : c->name);
        if (strcmp(c->name, "event") != 0 && !strstr(list, needle)) {
            c->disabled = true;
            c->backfill = false;
        }
    }
    return T_OK;
}

/*
 * Renews every lease this process holds. Runs on the loop's timer, so also
 * while a long HTTP batch is in flight (never inside a transaction: the loop
 * only runs between Postgres calls), which keeps slow backfill steps from
 * losing their collection leases to another process.
 */
static void on_renew_timer(evutil_socket_t fd, short what, void *arg)
{
    sync_engine *e = arg;
    if (!e->pg || e->pipelined || PQpipelineStatus(e->pg) != PQ_PIPELINE_OFF ||
        PQtransactionStatus(e->pg) != PQTRANS_IDLE)
        return;
    char sql[256], secs[32], err[T_ERRBUF_SIZE];
    snprintf(secs, sizeof(secs), "%d", e->cfg->lease_seconds);
    snprintf(sql, sizeof(sql),
             "UPDATE %s.lease SET expires_at = now() + make_interval(secs => $2::int) WHERE holder = $1",
             e->cfg->state_schema);
    const char *p[] = {e->holder, secs};
    if (exec_simple(e, sql, 2, p, err, sizeof(err)) != T_OK)
        log_warn("sync.lease_renew_failed", "error=\"%s\"", err);
}

/* The webhook thread wrote to the pipe: drain it and let the loop run. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    sync_engine *e = arg;
    char buf[64];
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
    event_base_loopbreak(e->base);
}

static void on_wait_timer(evutil_socket_t fd, short what, void *arg)
{
    sync_engine *e = arg;
    event_base_loopbreak(e->base);
}

static int engine_open(sync_engine *e, const tether_config *cfg, volatile sig_atomic_t *stop)
{
    memset(e, 0, sizeof(*e));
    e->cfg = cfg;
    e->stop = stop;
    e->wake[0] = e->wake[1] = -1;
    char host[128] = "";
    gethostname(host, sizeof(host) - 1);
    snprintf(e->holder, sizeof(e->holder), "%.80s:%d:%lld", host, (int)getpid(),
             (long long)time(NULL));
    if (pipe(e->wake) != 0)
        return T_ERR;
    fcntl(e->wake[0], F_SETFL, O_NONBLOCK);
    fcntl(e->wake[1], F_SETFL, O_NONBLOCK);
    e->base = event_base_new();
    if (!e->base)
        return T_ERR;
    e->wake_ev = event_new(e->base, e->wake[0], EV_READ | EV_PERSIST, on_wake, e);
    e->wait_timer = evtimer_new(e->base, on_wait_timer, e);
    e->renew_timer = event_new(e->base, -1, EV_PERSIST, on_renew_timer, e);
    if (!e->wake_ev || !e->wait_timer || !e->renew_timer)
        return T_ERR;
    event_add(e->wake_ev, NULL);
    int64_t renew_ms = (int64_t)cfg->lease_seconds * 1000 / 3;
    struct timeval rtv = {(time_t)(renew_ms / 1000), (suseconds_t)((renew_ms % 1000) * 1000)};
    event_add(e->renew_timer, &rtv);
    char err[T_ERRBUF_SIZE];
    for (size_t i = 0; i < cfg->nsyncs; i++) {
        const sync_config *sc = &cfg->syncs[i];
        sync_worker *w = &e->workers[e->n];
        w->cfg = sc;
        w->ops = connector_find(sc->source);
        if (!w->ops) {
            fprintf(stderr, "tether sync: sync '%s': source '%s' is not supported yet\n", sc->name,
                    sc->source ? sc->source : "");
            log_error("sync.unsupported_source", "sync=%s source=%s", sc->name, sc->source ?: "");
            return T_ERR;
        }
        pthread_mutex_init(&w->qlock, NULL);
        e->n++;
        snprintf(w->target, sizeof(w->target), "%s", sc->schema && *sc->schema ? sc->schema : sc->source);
        token_bucket_init(&w->bucket, sc->rate_backfill, sc->rate_backfill, token_bucket_now_ms());
        if (http_client_init_base(&w->http, &w->bucket, e->base) != T_OK)
            return T_ERR;
        w->http.stop = stop;
        w->http.daily_budget = sc->daily_request_budget;
        w->budget = request_budget_for_sync(sc, cfg->database, cfg->state_schema);
        w->http.budget = w->budget;
        if (sc->database && *sc->database && (!cfg->database || strcmp(sc->database, cfg->database) != 0))
            log_warn("sync.database_ignored",
                     "sync=%s detail=\"one database per process: [tether] database is used\"", sc->name);
        w->self = w->ops->open(sc, &w->http, err, sizeof(err));
        if (!w->self) {
            fprintf(stderr, "tether sync: %s\n", err);
            return T_ERR;
        }
        w->schema = calloc(1, sizeof(*w->schema));
        if (!w->schema)
            abort();
        if (w->ops->describe(w->self, w->schema, err, sizeof(err)) != T_OK) {
            fprintf(stderr, "tether sync: %s\n", err);
            return T_ERR;
        }
        if (sc->collections && *sc->collections && select_collections(w, sc) != T_OK)
            return T_ERR;
        if (!sc->webhook_secret && cfg->webhook_listen)
            log_warn("sync.no_webhook_secret", "sync=%s webhooks=rejected", sc->name);
    }
    if (cfg->webhook_listen && *cfg->webhook_listen) {
        int port = 0;
        e->webhook = http_server_start(cfg->webhook_listen, webhook_handler, e, &port, err, sizeof(err));
        if (!e->webhook) {
            fprintf(stderr, "tether sync: webhooks: %s\n", err);
            return T_ERR;
        }
        log_info("sync.webhook_listen", "addr=%s port=%d", cfg->webhook_listen, port);
    }
    if (cfg->status_listen && *cfg->status_listen) {
        int port = 0;
        e->status = http_server_start(cfg->status_listen, status_handler, e, &port, err, sizeof(err));
        if (!e->status) {
            fprintf(stderr, "tether sync: status: %s\n", err);
            return T_ERR;
        }
        log_info("sync.status_listen", "addr=%s port=%d", cfg->status_listen, port);
    }
    return T_OK;
}

static void engine_close(sync_engine *e)
{
    http_server_stop(e->webhook);
    http_server_stop(e->status);
    if (e->pg) {
        /* hand the leases over at once instead of after they expire */
        char sql[256], err[T_ERRBUF_SIZE];
        snprintf(sql, sizeof(sql),
                 "UPDATE %s.lease SET expires_at = '-infinity' WHERE holder = $1", e->cfg->state_schema);
        const char *p[] = {e->holder};
        exec_simple(e, sql, 1, p, err, sizeof(err));
    }
    drop_pg(e);
    for (size_t i = 0; i < e->n; i++) {
        sync_worker *w = &e->workers[i];
        if (w->self)
            w->ops->close(w->self);
        http_client_cleanup(&w->http);
        request_budget_close(w->budget);
        conn_changes_free(&w->queue);
        free(w->schema);
        pthread_mutex_destroy(&w->qlock);
    }
    if (e->wake_ev)
        event_free(e->wake_ev);
    if (e->wait_timer)
        event_free(e->wait_timer);
    if (e->renew_timer)
        event_free(e->renew_timer);
    if (e->base)
        event_base_free(e->base);
    if (e->wake[0] >= 0)
        close(e->wake[0]);
    if (e->wake[1] >= 0)
        close(e->wake[1]);
}

/* Server notices (e.g. from DDL IF NOT EXISTS) go to the debug log, not stderr. */
static void on_pg_notice(void *arg, const char *message)
{
    (void)arg;
    char line[512];
    snprintf(line, sizeof(line), "%s", message);
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    log_debug("sync.pg_notice", "message=\"%s\"", line);
}

static void engine_connect(sync_engine *e)
{
    int64_t now = token_bucket_now_ms();
    if (e->pg || now < e->next_connect_ms)
        return;
    char err[T_ERRBUF_SIZE];
    e->pg = pgconn_connect(e->cfg->database, "tether-sync", err, sizeof(err));
    if (e->pg)
        PQsetNoticeProcessor(e->pg, on_pg_notice, NULL);
    if (e->pg && (sync_db_ensure_state(e->pg, e->cfg->state_schema, err, sizeof(err)) != T_OK ||
                  wt_guard_session_hook(e->pg, e->cfg->state_schema, err, sizeof(err)) != T_OK)) {
        PQfinish(e->pg);
        e->pg = NULL;
    }
    if (!e->pg) {
        e->connect_backoff_ms = e->connect_backoff_ms ? e->connect_backoff_ms * 2 : ENGINE_BACKOFF_MIN_MS;
        if (e->connect_backoff_ms > ENGINE_BACKOFF_MAX_MS)
            e->connect_backoff_ms = ENGINE_BACKOFF_MAX_MS;
        e->next_connect_ms = now + e->connect_backoff_ms;
        log_warn("sync.pg_connect_failed", "error=\"%s\" retry_ms=%lld", err,
                 (long long)e->connect_backoff_ms);
        return;
    }
    e->connect_backoff_ms = 0;
    log_info("sync.pg_connected", "holder=%s", e->holder);
    for (size_t i = 0; i < e->n; i++)
        e->workers[i].next_lease_ms = 0;
}

int sync_engine_run(const tether_config *cfg, volatile sig_atomic_t *stop)
{
    sync_engine *e = calloc(1, sizeof(*e));
    if (!e)
        abort();
    if (engine_open(e, cfg, stop) != T_OK) {
        engine_close(e);
        free(e);
        return T_ERR;
    }
    log_info("sync.start", "syncs=%zu holder=%s", e->n, e->holder);
    while (!*stop) {
        engine_connect(e);
        int64_t now = token_bucket_now_ms();
        int64_t next = now + 1000;
        for (size_t i = 0; i < e->n && e->pg && !*stop; i++) {
            sync_worker *w = &e->workers[i];
            if (now >= w->next_lease_ms) {
                lease_step(e, w);
                w->next_lease_ms = now + (int64_t)cfg->lease_seconds * 1000 / 3;
            }
            if (!e->pg)
                break;
            if (now >= w->next_step_ms) {
                bool more = false;
                char err[T_ERRBUF_SIZE] = "";
                if (worker_step(e, w, &more, err, sizeof(err)) != T_OK) {
                    if (!*stop) {
                        record_error(e, w, err);
                        check_pg(e);
                    }
                    w->backoff_ms = w->backoff_ms ? w->backoff_ms * 2 : ENGINE_BACKOFF_MIN_MS;
                    if (w->backoff_ms > ENGINE_BACKOFF_MAX_MS)
                        w->backoff_ms = ENGINE_BACKOFF_MAX_MS;
                    w->next_step_ms = token_bucket_now_ms() + w->backoff_ms;
                } else {
                    w->backoff_ms = 0;
                    w->next_step_ms = more ? 0 : token_bucket_now_ms() + w->cfg->poll_interval_ms;
                }
            }
            if (w->next_step_ms < next)
                next = w->next_step_ms;
            if (w->next_lease_ms < next)
                next = w->next_lease_ms;
        }
        for (size_t i = 0; i < e->n && e->pg; i++)
            drain_webhooks(e, &e->workers[i]);
        if (!e->pg && e->next_connect_ms < next)
            next = e->next_connect_ms;
        now = token_bucket_now_ms();
        if (next > now && !*stop) {
            /* sleep on the loop until the next timer or a webhook wakes us */
            int64_t ms = next - now;
            struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
            evtimer_add(e->wait_timer, &tv);
            event_base_loop(e->base, 0);
            evtimer_del(e->wait_timer);
        }
    }
    log_info("sync.stop", "holder=%s", e->holder);
    engine_close(e);
    free(e);
    return T_OK;
}
