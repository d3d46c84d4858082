/*
 * writethrough.h - writes through the proxy: an INSERT/UPDATE/DELETE on a
 * synced table is captured (Postgres evaluates it, a BEFORE ROW trigger in
 * capture mode records OLD/NEW and returns NULL), planned into connector
 * writes (changed writable columns only), applied to the API, and the API's
 * canonical objects are written back with the sync engine's versioned upsert.
 * The guard trigger makes every other write to a synced table fail.
 *
 * Files: guard.c (the trigger, the per-process secret), capture.c (running a
 * statement in capture mode), plan.c (captured rows -> writes), apply.c
 * (connector calls, write-back, RETURNING), errors.c (API error -> SQLSTATE),
 * audit.c (_tether.write_audit), engine.c (configuration, connections),
 * pipeline.c (one round trip for several statements, prepared statements on
 * the apply connection), workers.c (the pool of threads that run writes off
 * the event loop), proxy_hook.c (the one place the proxy calls in).
 *
 * Threads: a wt_engine is made, started and freed by the proxy's event-loop
 * thread, which alone uses its classification cache and its own connection
 * (Describe of write statements). Writes run on worker threads
 * (workers.c), each with its lane (wt_lane): its own Postgres connection and
 * its own connector instances and HTTP clients, so a slow API call blocks
 * only its worker. What lanes share (the synced set, the token bucket and the
 * credential's budget under a lock, the row locks) is thread-safe.
 *
 * Memory: wt_engine_new() returns an engine the caller frees with
 * wt_engine_free(). A wt_outcome owns its strings and PGresult; release it
 * with wt_outcome_free().
 */
#ifndef TETHER_WRITETHROUGH_H
#define TETHER_WRITETHROUGH_H

#include "connectors/connector.h"
#include "proxy/classify.h"
#include "util/config.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SQLSTATEs (docs/writethrough.md lists them). */
#define WT_SQLSTATE_VALIDATION "22023"   /* API 400: invalid parameter */
#define WT_SQLSTATE_NOT_FOUND "P0002"    /* API 404 */
#define WT_SQLSTATE_AUTH "28000"         /* API 401/403 */
#define WT_SQLSTATE_CONFLICT "40001"     /* API 409 (idempotency/lock conflict) */
#define WT_SQLSTATE_RATE_LIMIT "53400"   /* API 429 after every retry */
#define WT_SQLSTATE_UNAVAILABLE "08006"  /* API 5xx, timeout, unreachable */
#define WT_SQLSTATE_API_OTHER "XX000"    /* any other API answer */
#define WT_SQLSTATE_READ_ONLY "428C9"    /* a read-only column changed */
#define WT_SQLSTATE_TOO_MANY "54000"     /* more rows than the connector's limit */
#define WT_SQLSTATE_UNSUPPORTED "0A000"  /* a write the proxy cannot apply */
#define WT_SQLSTATE_GUARD "42501"        /* guard: not through Tether's write path */
#define WT_SQLSTATE_WRITEBACK "XX000"    /* applied at the API, local write-back failed */
#define WT_SQLSTATE_CANCELED "57014"     /* canceled before a worker took it (query_canceled) */

/* The session settings the guard reads. Clients may not set them. */
#define WT_GUC_TOKEN "tether.write"
#define WT_GUC_CAPTURE "tether.capture"

struct event_base;
typedef struct wt_engine wt_engine;
typedef struct wt_lane wt_lane;

/* One synced target: a sync's connector, schema and collections. */
typedef struct wt_target {
    const sync_config *cfg;
    const connector_ops *ops;
    void *self;              /* connector instance */
    conn_schema *schema;     /* described collections (malloc'd) */
    char schema_name[64];    /* Postgres schema of the tables */
    int max_rows;            /* statement row limit */
} wt_target;

/* An error to send to the client as an ErrorResponse. */
typedef struct wt_error {
    char sqlstate[6];
    char message[1024];
    char detail[1024];
    char hint[512];
} wt_error;

/* What one statement did, for the proxy to answer the client with. */
typedef struct wt_outcome {
    bool failed;             /* error is set */
    wt_error error;
    char tag[64];            /* CommandComplete tag ("UPDATE 1") */
    PGresult *returning;     /* RETURNING rows (text format), or NULL */
    long applied;            /* writes the API accepted */
    bool notice;             /* tell the client the writes outlive a ROLLBACK */
} wt_outcome;

/* One planned API write. */
typedef struct wt_write {
    conn_write_op op;
    char id[128];            /* object id ("" for a create) */
    json_t *fields;          /* owned: API fields to send (NULL for delete) */
    json_t *old_row;         /* borrowed from the capture: the row before (or NULL) */
    char request_id[96];     /* the API's id for the call that applied it, for the audit */
} wt_write;

typedef struct wt_plan {
    wt_target *target;
    size_t coll;             /* index in target->schema */
    classify_kind op;
    wt_write *writes;
    size_t n, cap;
    long matched;            /* rows the statement touched (for the tag) */
} wt_plan;

/* A captured row: the statement's OLD/NEW as jsonb text, parsed. */
typedef struct wt_capture {
    char op[8];              /* INSERT, UPDATE, DELETE */
    json_t *old_row, *new_row;
} wt_capture;

typedef struct wt_captures {
    wt_capture *rows;
    size_t n;
    char table_schema[64], table_name[64];
} wt_captures;

/* ---- engine.c ---- */

/*
 * Builds the engine for CFG's [sync.*] sections: opens each connector,
 * describes its collections, connects to the upstream database
 * (cfg->proxy_upstream, or [tether] database) and installs the guard on
 * every synced table. Returns NULL with ERR when nothing is configured
 * (ERR empty: write-through disabled) or on failure (ERR says why).
 */
wt_engine *wt_engine_new(const tether_config *cfg, char *err, size_t errlen);
void wt_engine_free(wt_engine *wt);
/* The synced set the proxy classifies against (owned by the engine). */
const classify_synced_set *wt_engine_synced(const wt_engine *wt);
/* The engine's classification cache (owned by the engine). */
classify_cache *wt_engine_cache(wt_engine *wt);
/*
 * Starts the write workers on the proxy's loop BASE (call once, on the loop
 * thread, after wt_engine_new): makes each lane's connector instances and
 * HTTP clients (TETHER_WRITE_WORKERS lanes, default 4) and the threads.
 * T_OK, or T_ERR + ERR. wt_engine_free() stops them (an API call under way
 * is finished and written back first).
 */
int wt_engine_start(wt_engine *wt, struct event_base *base, char *err, size_t errlen);

/*
 * Runs one client statement SQL (classified as ST; with NPARAMS PARAMS in
 * PARAM_FORMATS, NULL = none) that writes a synced table on lane LN (its
 * worker's thread): capture, plan, apply, write back, audit.
 * USER is the client's user name (audit), IN_BLOCK whether the client is
 * inside a transaction block. Always fills OUT (failed + error, or tag and
 * returning rows). Returns T_OK, or T_ERR when OUT holds an error.
 */
int wt_execute(wt_lane *ln, const classify_stmt *st, const char *sql, int nparams,
               const char *const *params, const int *param_formats, const int *param_lengths,
               const char *user, bool in_block, wt_outcome *out);
void wt_outcome_free(wt_outcome *out);

/* ---- workers.c ---- */

/*
 * One write handed to the workers. The loop thread makes it (wt_job_new
 * copies the statement and parameters, so the session's own state may go
 * away meanwhile), submits it, and gets it back on the loop thread through
 * DONE, which then owns it and frees it with wt_job_free(). OWNER and DONE
 * are touched only on the loop thread: a session that ends while its job
 * runs sets OWNER to NULL, and the finished job is then freed without DONE
 * (its API change was written back and audited by the worker all the same).
 */
typedef struct wt_job wt_job;
typedef void (*wt_job_done_fn)(wt_job *job);
struct wt_job {
    /* in: owned copies */
    classify_stmt stmt;  /* the statement's classification (targets deep-copied; no
                          * name or conflict columns: wt_execute does not use them) */
    char *sql;
    int nparams;
    char **params;
    int *lengths, *formats;
    char user[64];
    bool in_block;
    /* out: filled by the worker */
    wt_outcome out;
    /* loop thread only */
    wt_job_done_fn done;
    void *owner;   /* the proxy session, NULL once it ended */
    int kind;      /* the caller's (simple or extended protocol) */
    uint64_t id;   /* for logs */
    /* the pool's */
    wt_job *next;
    int64_t submitted_us;
};

/*
 * Copies statement SQL, its classification ST (from the loop's cache, which
 * may evict it meanwhile) and its parameters (NULL PARAMS: none). Never NULL
 * (out of memory aborts).
 */
wt_job *wt_job_new(const classify_stmt *st, const char *sql, int nparams, const char *const *params,
                   const int *lengths, const int *formats, const char *user, bool in_block);
void wt_job_free(wt_job *job);
/* Hands JOB to a worker (the engine owns it until DONE is called on the loop thread). */
void wt_engine_submit(wt_engine *wt, wt_job *job);
/*
 * A CancelRequest for JOB's session: when JOB still waits for a free worker
 * (nothing was sent to the API), takes it out of the queue and has it come
 * back failed with 57014; returns true. Returns false when a worker already
 * runs it (it completes: an API call cannot be taken back).
 */
bool wt_engine_cancel(wt_engine *wt, wt_job *job);

/* The worker pool (engine.c holds it). */
typedef struct wt_pool wt_pool;
/* Starts NLANES threads, thread i running on LANES[i], reporting on BASE. NULL + ERR on failure. */
wt_pool *wt_pool_new(wt_engine *wt, wt_lane **lanes, int nlanes, struct event_base *base,
                     char *err, size_t errlen);
void wt_pool_submit(wt_pool *p, wt_job *job);
/* See wt_engine_cancel. */
bool wt_pool_cancel(wt_pool *p, wt_job *job);
/* Stops the threads (each finishes the job it runs), frees jobs left over. NULL allowed. */
void wt_pool_free(wt_pool *p);

/* engine.c, for workers.c: runs JOB on lane LN (on LN's worker thread). */
void wt_lane_run(wt_lane *ln, wt_job *job);

/* ---- guard.c ---- */

/*
 * Creates (idempotently, under an advisory lock) the state schema, the
 * secret table, the audit table and the guard function. T_OK or T_ERR+ERR.
 */
int wt_guard_install(PGconn *conn, const char *state_schema, char *err, size_t errlen);
/* Attaches the guard triggers to SCHEMA.TABLE unless present; T_OK without
 * doing anything while the table does not exist yet (the sync engine guards
 * the tables it creates). */
int wt_guard_protect(PGconn *conn, const char *state_schema, const char *schema,
                     const char *table, char *err, size_t errlen);
/*
 * Lets this session write synced tables: makes a random secret, stores its
 * SHA-256 in the secret table and sets tether.write to it for the session.
 * Called by the proxy's apply connection and by the sync engine.
 */
int wt_guard_enable(PGconn *conn, const char *state_schema, char *err, size_t errlen);
/*
 * For the sync engine, right after it connects: installs the guard function
 * and enables this session (install + enable). T_OK or T_ERR+ERR.
 */
int wt_guard_session_hook(PGconn *conn, const char *state_schema, char *err, size_t errlen);
/* For the sync engine, after it created its tables: guards every collection of S in SCHEMA. */
int wt_guard_tables_hook(PGconn *conn, const char *state_schema, const char *schema,
                         const conn_schema *s, char *err, size_t errlen);
/* True when SQL (LEN bytes) mentions a guard setting (case-insensitive). */
bool wt_guard_mentions_setting(const char *sql, size_t len);

/* ---- pipeline.c ---- */

/* Statements prepared on the apply connection (forget them when it reconnects). */
typedef struct wt_prepared wt_prepared;
wt_prepared *wt_prepared_new(void);
void wt_prepared_free(wt_prepared *p);
/* Forgets every statement (the connection is new, or DEALLOCATE ALL ran). */
void wt_prepared_forget(wt_prepared *p);

/*
 * Statements sent in one round trip: wt_pipe_begin() puts CONN in pipeline
 * mode, wt_pipe_send() queues statements, wt_pipe_finish() sends the Sync
 * and reads every result. Without a BEGIN among them the statements are one
 * implicit transaction (committed at the Sync, rolled back together when one
 * fails).
 */
typedef struct wt_pipe {
    PGconn *conn;
    wt_prepared *prep;   /* NULL: nothing is prepared */
    int nqueued;         /* results to read */
    bool active;         /* in pipeline mode */
    bool failed;         /* error is set */
    bool broken;         /* the connection is out of step: reconnect it */
    bool prepared_here;  /* a Prepare is among the queued calls */
    wt_error error;      /* the first failure (server error, or libpq's) */
} wt_pipe;

/* Enters pipeline mode on CONN (idle, outside a pipeline). T_OK, or T_ERR with PP->error. */
int wt_pipe_begin(wt_pipe *pp, PGconn *conn, wt_prepared *prep);
/*
 * Queues SQL with NPARAMS parameters (lengths/formats as PQsendQueryParams;
 * NULL = text). PREPARE: run it as a statement prepared on first use (SQL
 * without a statement-specific literal, or the cache fills up). Returns the
 * index of its result for wt_pipe_finish(), or -1 (PP->error says why; the
 * pipeline still has to be finished).
 */
int wt_pipe_send(wt_pipe *pp, const char *sql, int nparams, const char *const *params,
                 const int *param_lengths, const int *param_formats, bool prepare);
/*
 * Sends the Sync, reads every result and leaves pipeline mode. The result
 * with index KEEP goes to *KEPT (caller PQclears; NULL on failure). T_OK, or
 * T_ERR with PP->error holding the first failure; after a failure the
 * connection is idle outside a transaction (a BEGIN of the pipeline is
 * rolled back), or PP->broken is set.
 */
int wt_pipe_finish(wt_pipe *pp, int keep, PGresult **kept);

/* ---- capture.c ---- */

/* Creates the session's capture table (temporary). */
int wt_capture_prepare(PGconn *conn, char *err, size_t errlen);
/*
 * Runs SQL in capture mode inside a transaction that is rolled back, in one
 * round trip (PREP: the fixed statements are prepared): fills OUT with every
 * row the statement would have written. On a statement error, fills ERR_OUT
 * with the server's error and returns T_ERR.
 */
int wt_capture_run(PGconn *conn, wt_prepared *prep, const char *sql, int nparams,
                   const char *const *params, const int *param_formats, const int *param_lengths,
                   wt_captures *out, wt_error *err_out);
void wt_captures_free(wt_captures *c);
/*
 * Sends (does not wait for) a VACUUM of the capture table, which keeps the
 * dead rows of every capture so far: the caller reads its result before the
 * connection's next use. T_OK, or T_ERR when it could not be sent.
 */
int wt_capture_vacuum_send(PGconn *conn);

/* ---- plan.c ---- */

/*
 * Turns captured rows into API writes for collection COLL of T: updates send
 * only changed writable columns; a read-only change, an explicit id on a
 * plain INSERT or more rows than the limit fail with ERR_OUT (no API call).
 * ON_CONFLICT and EXISTING (ids already in the table, for upserts) decide
 * between create and update. Returns T_OK or T_ERR.
 */
int wt_plan_build(wt_target *t, size_t coll, const wt_captures *cap,
                  classify_on_conflict on_conflict, PGconn *conn, wt_plan *out, wt_error *err_out);
void wt_plan_free(wt_plan *p);
/* True when COLUMN of COLL may be sent to the API. */
bool wt_plan_column_writable(const conn_collection *coll, const char *column);

/* ---- errors.c ---- */

/* Fills ERR from an API error for OP on OBJECT_TYPE ID (id may be ""). */
void wt_error_from_api(wt_error *err, conn_write_op op, const char *object_type, const char *id,
                       const conn_api_error *api);
void wt_error_set(wt_error *err, const char *sqlstate, const char *detail, const char *hint,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The SQLSTATE for an API answer with HTTP status STATUS (0 = no answer). */
const char *wt_error_sqlstate(int status);

/* ---- audit.c ---- */

/*
 * Queues the audit row of one write attempt (STATE_SCHEMA.write_audit) on
 * PP. Returns its result index, or -1 (PP->error says why).
 */
int wt_audit_send(wt_pipe *pp, const char *state_schema, const char *user, const char *sync,
                  const char *object_type, conn_write_op op, const char *id, json_t *fields,
                  const char *request_id, const char *result, const char *error);
/* Records one write attempt at once, in its own round trip (best effort: logs on failure). */
void wt_audit_record(PGconn *conn, wt_prepared *prep, const char *state_schema, const char *user,
                     const char *sync, const char *object_type, conn_write_op op, const char *id,
                     json_t *fields, const char *request_id, const char *result, const char *error);

/* ---- apply.c ---- */

/*
 * Applies PLAN to the API, writing each accepted canonical object back
 * (versioned upsert) and auditing it. Row by row, stopping at the first
 * rejection; or, when the connector has apply_batch and PLAN has 2..limit
 * writes of one op, in one batch where every row has its own outcome. On a
 * rejection OUT gets the error, naming the (first rejected) row and how many
 * were applied. IDS gets the ids written (for RETURNING), caller json_decrefs.
 */
int wt_apply_plan(wt_lane *ln, wt_plan *plan, const char *user, json_t *ids, wt_outcome *out);
/*
 * The RETURNING rows of statement SQL (classified as ST) on table T/COLL:
 * IDS (written objects, read back from the table) or, for a DELETE, the
 * captured OLD rows. Returns a PGresult (caller PQclears) or NULL + ERR.
 */
PGresult *wt_apply_returning(PGconn *conn, const wt_target *t, const conn_collection *coll,
                             const char *sql, const classify_stmt *st, json_t *ids,
                             const wt_captures *cap, wt_error *err);

/* engine.c internals shared with apply.c and proxy_extended.c */
/* The loop thread's own connection (Describe), settled; NULL when down. */
PGconn *wt_engine_conn(wt_engine *wt);
/* Lane LN's connection and its prepared statements (LN's worker thread only). */
PGconn *wt_lane_conn(wt_lane *ln);
wt_prepared *wt_lane_prepared(wt_lane *ln);
wt_engine *wt_lane_engine(wt_lane *ln);
const char *wt_engine_state_schema(const wt_engine *wt);
const char *wt_engine_read_role(const wt_engine *wt);
/* CLOCK_MONOTONIC in microseconds (timings in debug logs). */
int64_t wt_engine_now_us(void);

#endif
