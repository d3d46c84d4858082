/*
 * audit.c - every write Tether applies (or tries to) through the proxy is
 * recorded in <state schema>.write_audit: who (database user of the client),
 * what (sync, object type, operation, id, the fields sent), the API request
 * id when known, and the result ("applied", "rejected", "failed"). Best
 * effort: a failure to record is logged, never turned into a client error
 * (the API already has the change). Nothing here keeps memory.
 */
#include "writethrough/writethrough.h"

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

void wt_audit_record(PGconn *conn, const char *state_schema, const char *user, const char *sync,
                     const char *object_type, conn_write_op op, const char *id, json_t *fields,
                     const char *request_id, const char *result, const char *error)
{
    char *ss = PQescapeIdentifier(conn, state_schema, strlen(state_schema));
    if (!ss)
        return;
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s.write_audit (db_user, sync, object_type, operation, object_id,"
             " fields, request_id, result, error) VALUES ($1, $2, $3, $4, NULLIF($5, ''),"
             " $6::jsonb, NULLIF($7, ''), $8, NULLIF($9, ''))",
             ss);
    PQfreemem(ss);
    char *ftxt = fields ? json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    const char *p[] = {user ? user : "", sync ? sync : "", object_type, wt_audit_op(op), id ? id : "",
                       ftxt, request_id ? request_id : "", result, error ? error : ""};
    PGresult *r = PQexecParams(conn, sql, 9, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        log_warn("writethrough.audit_failed", "error=\"%s\"", PQresultErrorMessage(r));
    PQclear(r);
    free(ftxt);
}
