/*
 * audit.c - every write Tether applies (or tries to) through the proxy is
 * recorded in <state schema>.write_audit: who (database user of the client),
 * what (sync, object type, operation, id, the fields sent), the API request
 * id when known, and the result ("applied", "rejected", "failed"). The
 * insert is a statement prepared on the apply connection; the write-back
 * queues it in its own pipeline (same transaction as the table write).
 * Best effort on its own: a failure to record is logged, never turned into
 * a client error (the API already has the change). Nothing here keeps memory.
 */
#include "writethrough/writethrough.h"

#include "pg/pgconn.h"
#include "util/common.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *wt_audit_op(conn_write_op op)
{
    switch (op) {
    case CONN_WRITE_CREATE: return "create";
    case CONN_WRITE_UPDATE: return "update";
    case CONN_WRITE_DELETE: return "delete";
    }
    return "?";
}

int wt_audit_send(wt_pipe *pp, const char *state_schema, const char *user, const char *sync,
                  const char *object_type, conn_write_op op, const char *id, json_t *fields,
                  const char *request_id, const char *result, const char *error)
{
    char ss[140];
    if (pgconn_quote_ident(state_schema, ss, sizeof(ss)) != T_OK)
        return -1;
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s.write_audit (db_user, sync, object_type, operation, object_id,"
             " fields, request_id, result, error) VALUES ($1, $2, $3, $4, NULLIF($5, ''),"
             " $6::jsonb, NULLIF($7, ''), $8, NULLIF($9, ''))",
             ss);
    char *ftxt = fields ? json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    const char *p[] = {user ? user : "", sync ? sync : "", object_type, wt_audit_op(op), id ? id : "",
                       ftxt, request_id ? request_id : "", result, error ? error : ""};
    int ix = wt_pipe_send(pp, sql, 9, p, NULL, NULL, true);
    free(ftxt);
    return ix;
}

void wt_audit_record(PGconn *conn, wt_prepared *prep, const char *state_schema, const char *user,
                     const char *sync, const char *object_type, conn_write_op op, const char *id,
                     json_t *fields, const char *request_id, const char *result, const char *error)
{
    wt_pipe pp;
    if (wt_pipe_begin(&pp, conn, prep) == T_OK)
        wt_audit_send(&pp, state_schema, user, sync, object_type, op, id, fields, request_id,
                      result, error);
    if (wt_pipe_finish(&pp, -1, NULL) != T_OK)
        log_warn("writethrough.audit_failed", "error=\"%s\"", pp.error.message);
}
