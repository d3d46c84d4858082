/*
 * sync_batch.c - see sync_batch.h. The batch owns its strings; libpq
 * results are cleared here.
 */
#include "sync/sync_batch.h"
#include "sync/sync_db.h"
#include "util/common.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *sync_batch_strdup(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

void sync_batch_add_owned(sync_batch *b, bool counts, char *sql, int n, char **params)
{
    assert(n >= 0 && n <= SYNC_BATCH_MAX_PARAMS);
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        sync_stmt *p = realloc(b->items, cap * sizeof(*p));
        if (!p)
            abort();
        b->items = p;
        b->cap = cap;
    }
    sync_stmt *s = &b->items[b->n++];
    memset(s, 0, sizeof(*s));
    s->sql = sql;
    s->nparams = n;
    s->counts = counts;
    for (int i = 0; i < n; i++)
        s->params[i] = params[i];
}

void sync_batch_add(sync_batch *b, bool counts, const char *sql, int n, const char *const *params)
{
    assert(n >= 0 && n <= SYNC_BATCH_MAX_PARAMS);
    char *p[SYNC_BATCH_MAX_PARAMS] = {0};
    for (int i = 0; i < n; i++)
        p[i] = sync_batch_strdup(params[i]);
    sync_batch_add_owned(b, counts, sync_batch_strdup(sql), n, p);
}

void sync_batch_free(sync_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->items[i].sql);
        for (int k = 0; k < b->items[i].nparams; k++)
            free(b->items[i].params[k]);
    }
    free(b->items);
    b->items = NULL;
    b->n = b->cap = 0;
}

static bool sync_batch_ok(const PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

int sync_batch_exec(PGconn *conn, sync_batch *b, char *err, size_t errlen)
{
    for (size_t i = 0; i < b->n; i++) {
        const sync_stmt *s = &b->items[i];
        PGresult *r = PQexecParams(conn, s->sql, s->nparams, NULL, (const char *const *)s->params,
                                   NULL, NULL, 0);
        if (!r || !sync_batch_ok(r)) {
            sync_db_result_error(conn, r, err, errlen);
            PQclear(r);
            return T_ERR;
        }
        if (s->counts)
            b->written += atol(PQcmdTuples(r));
        PQclear(r);
    }
    return T_OK;
}

/* "tether_<64-bit FNV-1a of SQL>": the same text always gets the same name. */
static void sync_batch_name(const char *sql, char out[24])
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    snprintf(out, 24, "tether_%016llx", (unsigned long long)h);
}

static bool sync_prepared_has(const sync_prepared *ps, const char *name)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->names[i], name) == 0)
            return true;
    return false;
}

static void sync_prepared_forget(sync_prepared *ps, const char *name)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->names[i], name) == 0) {
            memmove(ps->names[i], ps->names[ps->n - 1], sizeof(ps->names[i]));
            ps->n--;
            return;
        }
}

int sync_batch_send(PGconn *conn, sync_batch *b, sync_prepared *prepared, char *err, size_t errlen)
{
    if (PQpipelineStatus(conn) == PQ_PIPELINE_OFF && PQenterPipelineMode(conn) != 1) {
        sync_db_result_error(conn, NULL, err, errlen);
        return T_ERR;
    }
    for (size_t i = 0; i < b->n; i++) {
        sync_stmt *s = &b->items[i];
        s->preparing = false;
        s->name[0] = '\0';
        if (prepared) {
            char name[24];
            sync_batch_name(s->sql, name);
            if (sync_prepared_has(prepared, name)) {
                memcpy(s->name, name, sizeof(name));
            } else if (prepared->n < SYNC_PREPARED_MAX) {
                if (PQsendPrepare(conn, name, s->sql, s->nparams, NULL) != 1) {
                    sync_db_result_error(conn, NULL, err, errlen);
                    return T_ERR;
                }
                memcpy(prepared->names[prepared->n++], name, sizeof(name));
                memcpy(s->name, name, sizeof(name));
                s->preparing = true;
            }
        }
        int ok = s->name[0]
                     ? PQsendQueryPrepared(conn, s->name, s->nparams,
                                           (const char *const *)s->params, NULL, NULL, 0)
                     : PQsendQueryParams(conn, s->sql, s->nparams, NULL,
                                         (const char *const *)s->params, NULL, NULL, 0);
        if (ok != 1) {
            sync_db_result_error(conn, NULL, err, errlen);
            return T_ERR;
        }
    }
    if (PQpipelineSync(conn) != 1) {
        sync_db_result_error(conn, NULL, err, errlen);
        return T_ERR;
    }
    return T_OK;
}

int sync_batch_finish(PGconn *conn, sync_batch *b, sync_prepared *prepared, bool last, char *err,
                      size_t errlen)
{
    /* per statement: one result, then NULL; then the Sync's result. The
     * statement a result belongs to is counted from the results, not from
     * the NULLs between them. */
    long written = 0;
    bool failed = false, synced = false;
    size_t stmt = 0;
    bool parse = b->n > 0 && b->items[0].preparing; /* next result is a Parse's */
    int nulls = 0;
    b->error[0] = '\0';
    while (!synced) {
        PGresult *r = PQgetResult(conn);
        if (!r) {
            if (PQstatus(conn) != CONNECTION_OK || ++nulls > 1) {
                sync_db_result_error(conn, NULL, err, errlen);
                return T_ERR; /* the caller drops the connection */
            }
            continue;
        }
        nulls = 0;
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            synced = true;
        } else {
            bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
            if (!ok && st != PGRES_PIPELINE_ABORTED && !failed)
                sync_db_result_error(conn, r, b->error, sizeof(b->error));
            failed = failed || !ok;
            if (parse) {
                /* the statement was not prepared: prepare it again next time */
                if (!ok && prepared && stmt < b->n)
                    sync_prepared_forget(prepared, b->items[stmt].name);
                parse = false;
            } else {
                if (ok && stmt < b->n && b->items[stmt].counts)
                    written += atol(PQcmdTuples(r));
                stmt++;
                parse = stmt < b->n && b->items[stmt].preparing;
            }
        }
        PQclear(r);
    }
    if (last && PQexitPipelineMode(conn) != 1) {
        sync_db_result_error(conn, NULL, err, errlen);
        return T_ERR;
    }
    if (failed) {
        snprintf(err, errlen, "%s", b->error[0] ? b->error : "statement failed");
        return T_ERR;
    }
    b->written = written;
    return T_OK;
}
