/*
 * capture.c - runs a client's write statement in capture mode on Tether's
 * apply connection: inside a transaction that is always rolled back,
 * tether.capture is set locally and the guard trigger (guard.c) records each
 * row's OLD/NEW into the session's temporary table _tether_capture and
 * returns NULL, so Postgres evaluates every expression, WHERE, FROM, subquery
 * and default while nothing is written. The captured rows are returned as
 * parsed JSON (the caller frees them with wt_captures_free()).
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

/* Copies the server error of R into E (falling back to the connection's message). */
static void wt_capture_server_error(PGconn *conn, const PGresult *r, wt_error *e)
{
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;
    const char *hint = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_HINT) : NULL;
    if (!msg) {
        msg = PQerrorMessage(conn);
        st = st ? st : "08006";
    }
    wt_error_set(e, st ? st : "XX000", detail, hint, "%s", msg);
    size_t n = strlen(e->message);
    while (n > 0 && e->message[n - 1] == '\n')
        e->message[--n] = '\0';
}

static void wt_capture_rollback(PGconn *conn)
{
    PQclear(PQexec(conn, "ROLLBACK"));
}

/*
 * Sends BEGIN, the capture setting, the statement, the read of the capture
 * table and ROLLBACK as one libpq pipeline (one round trip). Returns the
 * capture rows (caller PQclears) or NULL with ERR_OUT set, the transaction
 * rolled back either way.
 */
static PGresult *wt_capture_pipeline(PGconn *conn, const char *sql, int nparams,
                                     const char *const *params, const int *param_formats,
                                     const int *param_lengths, wt_error *err_out)
{
    static const char *const pre[] = {"BEGIN", "SELECT set_config('" WT_GUC_CAPTURE "', 'on', true)"};
    if (!PQenterPipelineMode(conn)) {
        wt_capture_server_error(conn, NULL, err_out);
        return NULL;
    }
    bool sent = PQsendQueryParams(conn, pre[0], 0, NULL, NULL, NULL, NULL, 0) &&
                PQsendQueryParams(conn, pre[1], 0, NULL, NULL, NULL, NULL, 0) &&
                PQsendQueryParams(conn, sql, nparams, NULL, params, param_lengths, param_formats, 0) &&
                PQsendQueryParams(conn,
                                  "SELECT op, tschema, tname, old_row::text, new_row::text"
                                  " FROM pg_temp._tether_capture ORDER BY seq",
                                  0, NULL, NULL, NULL, NULL, 0) &&
                PQsendQueryParams(conn, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0) &&
                PQpipelineSync(conn);
    PGresult *rows = NULL;
    bool failed = !sent;
    if (!sent)
        wt_capture_server_error(conn, NULL, err_out);
    /* five results (each followed by NULL), then the sync */
    for (int q = 0; sent && q < 5; q++) {
        PGresult *r = PQgetResult(conn);
        if (!r) {
            failed = true;
            wt_capture_server_error(conn, NULL, err_out);
            break;
        }
        ExecStatusType st = PQresultStatus(r);
        if (!failed && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            failed = true;
            wt_capture_server_error(conn, r, err_out);
        }
        if (q == 3 && !failed)
            rows = r;
        else
            PQclear(r);
        PGresult *end = PQgetResult(conn); /* NULL after each query's result */
        PQclear(end);
    }
    for (PGresult *r; sent && (r = PQgetResult(conn)) != NULL;) {
        bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (sync)
            break;
    }
    PQexitPipelineMode(conn);
    if (failed) {
        PQclear(rows);
        wt_capture_rollback(conn);
        return NULL;
    }
    return rows;
}

int wt_capture_run(PGconn *conn, const char *sql, int nparams, const char *const *params,
                   const int *param_formats, const int *param_lengths, wt_captures *out,
                   wt_error *err_out)
{
    memset(out, 0, sizeof(*out));
    PGresult *r = wt_capture_pipeline(conn, sql, nparams, params, param_formats, param_lengths, err_out);
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
