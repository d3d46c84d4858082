/*
 * capture.c - runs a client's write statement in capture mode on Tether's
 * apply connection: inside a transaction that is always rolled back,
 * tether.capture is set locally and the guard trigger (guard.c) records each
 * row's OLD/NEW into the session's temporary table _tether_capture and
 * returns NULL, so Postgres evaluates every expression, WHERE, FROM, subquery
 * and default while nothing is written. The captured rows are returned as
 * parsed JSON (the caller frees them with wt_captures_free()).
 *
 * The rolled-back rows stay in the table's file as dead tuples (autovacuum
 * never visits temporary tables), so every read of the table would scan all
 * the rows ever captured on the connection: the engine has the table
 * vacuumed every so often (wt_capture_vacuum_send), off the write's path.
 */
#include "writethrough/writethrough.h"

#include "util/common.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int wt_capture_prepare(PGconn *conn, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, "CREATE TEMP TABLE IF NOT EXISTS _tether_capture ("
                               " seq bigserial, op text, tschema text, tname text,"
                               " old_row jsonb, new_row jsonb)");
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? T_OK : T_ERR;
    if (rc != T_OK)
        snprintf(err, errlen, "cannot create the capture table: %s", PQerrorMessage(conn));
    PQclear(r);
    return rc;
}

int wt_capture_vacuum_send(PGconn *conn)
{
    return PQsendQuery(conn, "VACUUM pg_temp._tether_capture") ? T_OK : T_ERR;
}

/* The statements around the client's, prepared on the apply connection. */
#define WT_CAPTURE_SET "SELECT set_config('" WT_GUC_CAPTURE "', 'on', true)"
#define WT_CAPTURE_READ                                                                            \
    "SELECT op, tschema, tname, old_row::text, new_row::text FROM pg_temp._tether_capture"         \
    " ORDER BY seq"

/*
 * Sends BEGIN, the capture setting, the statement, the read of the capture
 * table and ROLLBACK as one libpq pipeline (one round trip). Returns the
 * capture rows (caller PQclears) or NULL with ERR_OUT set, the transaction
 * rolled back either way.
 */
static PGresult *wt_capture_pipeline(PGconn *conn, wt_prepared *prep, const char *sql, int nparams,
                                     const char *const *params, const int *param_formats,
                                     const int *param_lengths, wt_error *err_out)
{
    wt_pipe pp;
    PGresult *rows = NULL;
    int read = -1;
    if (wt_pipe_begin(&pp, conn, prep) == T_OK) {
        wt_pipe_send(&pp, "BEGIN", 0, NULL, NULL, NULL, true);
        wt_pipe_send(&pp, WT_CAPTURE_SET, 0, NULL, NULL, NULL, true);
        wt_pipe_send(&pp, sql, nparams, params, param_lengths, param_formats, false);
        read = wt_pipe_send(&pp, WT_CAPTURE_READ, 0, NULL, NULL, NULL, true);
        wt_pipe_send(&pp, "ROLLBACK", 0, NULL, NULL, NULL, true);
    }
    if (wt_pipe_finish(&pp, read, &rows) != T_OK) {
        *err_out = pp.error;
        return NULL;
    }
    return rows;
}

int wt_capture_run(PGconn *conn, wt_prepared *prep, const char *sql, int nparams,
                   const char *const *params, const int *param_formats, const int *param_lengths,
                   wt_captures *out, wt_error *err_out)
{
    memset(out, 0, sizeof(*out));
    PGresult *r = wt_capture_pipeline(conn, prep, sql, nparams, params, param_formats,
                                      param_lengths, err_out);
    if (!r)
        return T_ERR;
    int n = PQntuples(r);
    out->rows = n ? calloc((size_t)n, sizeof(*out->rows)) : NULL;
    if (n && !out->rows)
        abort();
    for (int i = 0; i < n; i++) {
        wt_capture *c = &out->rows[i];
        snprintf(c->op, sizeof(c->op), "%s", PQgetvalue(r, i, 0));
        if (i == 0) {
            snprintf(out->table_schema, sizeof(out->table_schema), "%s", PQgetvalue(r, i, 1));
            snprintf(out->table_name, sizeof(out->table_name), "%s", PQgetvalue(r, i, 2));
        } else if (strcmp(out->table_schema, PQgetvalue(r, i, 1)) != 0 ||
                   strcmp(out->table_name, PQgetvalue(r, i, 2)) != 0) {
            out->n = (size_t)i;
            wt_error_set(err_out, WT_SQLSTATE_UNSUPPORTED, NULL,
                         "Write one synced table per statement.",
                         "a statement through Tether may write only one synced table");
            PQclear(r);
            return T_ERR;
        }
        json_error_t je;
        if (!PQgetisnull(r, i, 3))
            c->old_row = json_loads(PQgetvalue(r, i, 3), JSON_DECODE_ANY, &je);
        if (!PQgetisnull(r, i, 4))
            c->new_row = json_loads(PQgetvalue(r, i, 4), JSON_DECODE_ANY, &je);
        out->n = (size_t)i + 1;
    }
    PQclear(r);
    return T_OK;
}

void wt_captures_free(wt_captures *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        json_decref(c->rows[i].old_row);
        json_decref(c->rows[i].new_row);
    }
    free(c->rows);
    memset(c, 0, sizeof(*c));
}
