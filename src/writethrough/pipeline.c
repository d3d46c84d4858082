/*
 * pipeline.c - sends several statements to Tether's apply connection in one
 * round trip (libpq pipeline mode, one Sync at the end) and keeps the
 * statements that recur on every write (the capture's setting and read, the
 * write-back's upserts, the audit insert) prepared on that connection, so
 * that Postgres parses and plans them once per connection instead of once
 * per write.
 *
 * Without an explicit BEGIN in it, everything before the Sync is one
 * implicit transaction: committed at the Sync, or rolled back as a whole
 * when a statement fails (the later ones are skipped).
 *
 * Memory: the statement cache (wt_prepared) owns copies of its SQL texts;
 * wt_prepared_free() releases them. A wt_pipe lives on the caller's stack
 * and owns nothing but the result it keeps (wt_pipe_finish hands it over).
 */
#include "writethrough/writethrough.h"

#include "util/common.h"
#include "util/log.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* More distinct statements than this are sent unprepared (a table per
 * collection, an upsert and a delete each, plus a few fixed ones). */
#define WT_PREPARED_MAX 256
#define WT_PREPARED_NAME_PREFIX "tether_wt_"

typedef struct wt_prepared_entry {
    uint64_t hash;
    char *sql;
    char name[32];
} wt_prepared_entry;

struct wt_prepared {
    wt_prepared_entry items[WT_PREPARED_MAX];
    size_t n;
    unsigned long next_id; /* names are never reused on one connection */
};

wt_prepared *wt_prepared_new(void)
{
    wt_prepared *p = calloc(1, sizeof(*p));
    if (!p)
        abort();
    return p;
}

void wt_prepared_forget(wt_prepared *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->items[i].sql);
    p->n = 0;
}

void wt_prepared_free(wt_prepared *p)
{
    wt_prepared_forget(p);
    free(p);
}

/* FNV-1a: only to skip most string comparisons. */
static uint64_t wt_prepared_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/*
 * The cache entry for SQL, or a new one (*FRESH = true: the caller sends the
 * Prepare), or NULL when the cache is full.
 */
static const wt_prepared_entry *wt_prepared_lookup(wt_prepared *p, const char *sql, bool *fresh)
{
    uint64_t h = wt_prepared_hash(sql);
    *fresh = false;
    for (size_t i = 0; i < p->n; i++)
        if (p->items[i].hash == h && strcmp(p->items[i].sql, sql) == 0)
            return &p->items[i];
    if (p->n == WT_PREPARED_MAX)
        return NULL;
    wt_prepared_entry *e = &p->items[p->n];
    e->sql = strdup(sql);
    if (!e->sql)
        abort();
    e->hash = h;
    snprintf(e->name, sizeof(e->name), WT_PREPARED_NAME_PREFIX "%lu", ++p->next_id);
    p->n++;
    *fresh = true;
    return e;
}

/* Records that a queued call failed to be sent (libpq's message). */
static void wt_pipe_send_failed(wt_pipe *pp)
{
    if (!pp->failed) {
        pp->failed = true;
        snprintf(pp->error.sqlstate, sizeof(pp->error.sqlstate), "08006");
        snprintf(pp->error.message, sizeof(pp->error.message), "%s", PQerrorMessage(pp->conn));
    }
}

int wt_pipe_begin(wt_pipe *pp, PGconn *conn, wt_prepared *prep)
{
    memset(pp, 0, sizeof(*pp));
    pp->conn = conn;
    pp->prep = prep;
    if (PQpipelineStatus(conn) != PQ_PIPELINE_OFF) {
        /* left over from a pipeline that broke: its results would be read as ours */
        wt_error_set(&pp->error, WT_SQLSTATE_UNAVAILABLE, NULL, NULL,
                     "Tether's database connection is out of step");
        pp->failed = pp->broken = true;
        return T_ERR;
    }
    if (!PQenterPipelineMode(conn)) {
        wt_pipe_send_failed(pp);
        return T_ERR;
    }
    pp->active = true;
    return T_OK;
}

int wt_pipe_send(wt_pipe *pp, const char *sql, int nparams, const char *const *params,
                 const int *param_lengths, const int *param_formats, bool prepare)
{
    assert(pp->active);
    if (pp->failed)
        return -1;
    bool fresh = false;
    const wt_prepared_entry *e =
        prepare && pp->prep ? wt_prepared_lookup(pp->prep, sql, &fresh) : NULL;
    bool ok;
    if (e && fresh) {
        pp->prepared_here = true; /* in the cache from now on: forgotten if this pipeline fails */
        ok = PQsendPrepare(pp->conn, e->name, sql, nparams, NULL) != 0;
        if (ok)
            pp->nqueued++; /* the Prepare's own result */
    } else {
        ok = true;
    }
    if (ok)
        ok = e ? PQsendQueryPrepared(pp->conn, e->name, nparams, params, param_lengths,
                                     param_formats, 0) != 0
               : PQsendQueryParams(pp->conn, sql, nparams, NULL, params, param_lengths,
                                   param_formats, 0) != 0;
    if (!ok) {
        wt_pipe_send_failed(pp);
        return -1;
    }
    return pp->nqueued++;
}

/* Copies the error of R (or, without one, the connection's) into PP->error. */
static void wt_pipe_take_error(wt_pipe *pp, const PGresult *r)
{
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;
    const char *hint = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_HINT) : NULL;
    if (!msg) {
        msg = PQerrorMessage(pp->conn);
        st = st ? st : "08006";
    }
    wt_error_set(&pp->error, st ? st : "XX000", detail, hint, "%s", msg);
    size_t n = strlen(pp->error.message);
    while (n > 0 && (pp->error.message[n - 1] == '\n' || pp->error.message[n - 1] == ' '))
        pp->error.message[--n] = '\0';
    pp->failed = true;
}

int wt_pipe_finish(wt_pipe *pp, int keep, PGresult **kept)
{
    if (kept)
        *kept = NULL;
    if (!pp->active)
        return T_ERR;
    bool synced = !pp->failed && PQpipelineSync(pp->conn) != 0;
    if (!synced)
        wt_pipe_send_failed(pp);
    /* each queued call: its result, then NULL; then the Sync */
    for (int q = 0; synced && q < pp->nqueued; q++) {
        PGresult *r = PQgetResult(pp->conn);
        if (!r) {
            if (!pp->failed)
                wt_pipe_take_error(pp, NULL);
            synced = PQstatus(pp->conn) == CONNECTION_OK;
            break;
        }
        ExecStatusType st = PQresultStatus(r);
        if (!pp->failed && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
            wt_pipe_take_error(pp, r);
        if (q == keep && kept && !pp->failed)
            *kept = r;
        else
            PQclear(r);
        PQclear(PQgetResult(pp->conn)); /* the NULL that ends this call's results */
    }
    for (PGresult *r; synced && (r = PQgetResult(pp->conn)) != NULL;) {
        bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (sync)
            break;
    }
    pp->active = false;
    if (!PQexitPipelineMode(pp->conn)) {
        /* results left over: the connection is out of step, have it reconnect */
        log_warn("writethrough.pipeline_stuck", "error=\"%s\"", PQerrorMessage(pp->conn));
        if (!pp->failed)
            wt_pipe_take_error(pp, NULL);
        pp->broken = true;
    }
    if (pp->failed && !pp->broken && PQtransactionStatus(pp->conn) != PQTRANS_IDLE)
        PQclear(PQexec(pp->conn, "ROLLBACK")); /* a BEGIN of the pipeline is still open */
    if (pp->failed && pp->prepared_here && pp->prep) {
        /* a Prepare of this pipeline may have failed: start the cache afresh */
        wt_prepared_forget(pp->prep);
        if (!pp->broken)
            PQclear(PQexec(pp->conn, "DEALLOCATE ALL"));
    }
    if (pp->failed && kept && *kept) {
        PQclear(*kept);
        *kept = NULL;
    }
    return pp->failed ? T_ERR : T_OK;
}
