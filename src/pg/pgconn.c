/*
 * pgconn.c - libpq helpers declared in pgconn.h. Errors are copied into the
 * caller's buffer after redaction; no memory is kept here.
 */
#include "pg/pgconn.h"
#include "util/common.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>

/* Copies a libpq message without its trailing newline. */
static void copy_message(const char *msg, char *dst, size_t dstlen)
{
    char tmp[T_ERRBUF_SIZE];
    snprintf(tmp, sizeof(tmp), "%s", msg ? msg : "unknown error");
    size_t n = strlen(tmp);
    while (n > 0 && (tmp[n - 1] == '\n' || tmp[n - 1] == ' '))
        tmp[--n] = '\0';
    log_redact(tmp, dst, dstlen);
}

PGconn *pgconn_connect(const char *url, const char *application_name, char *errbuf,
                       size_t errlen)
{
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {url, application_name ? application_name : "tether", "10", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (!conn) {
        snprintf(errbuf, errlen, "cannot connect: out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        char msg[T_ERRBUF_SIZE];
        copy_message(PQerrorMessage(conn), msg, sizeof(msg));
        snprintf(errbuf, errlen, "cannot connect to %s:%s/%s: %s", PQhost(conn) ? PQhost(conn) : "?",
                 PQport(conn) ? PQport(conn) : "?", PQdb(conn) ? PQdb(conn) : "?", msg);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

int pgconn_exec(PGconn *conn, const char *sql, char *errbuf, size_t errlen)
{
    if (!PQsendQuery(conn, sql)) {
        copy_message(PQerrorMessage(conn), errbuf, errlen);
        return T_ERR;
    }
    int rc = T_OK;
    PGresult *res;
    while ((res = PQgetResult(conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (rc == T_OK && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
            st != PGRES_EMPTY_QUERY) {
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            char msg[T_ERRBUF_SIZE];
            copy_message(PQresultErrorMessage(res), msg, sizeof(msg));
            snprintf(errbuf, errlen, "%s%s%s", state ? state : "", state ? ": " : "", msg);
            rc = T_ERR;
        }
        PQclear(res);
    }
    return rc;
}

int pgconn_quote_ident(const char *name, char *dst, size_t dstlen)
{
    size_t j = 0;
    if (dstlen < 3)
        return T_ERR;
    dst[j++] = '"';
    for (const char *p = name; *p; p++) {
        size_t need = (*p == '"') ? 2 : 1;
        if (j + need + 2 > dstlen)
            return T_ERR;
        dst[j++] = *p;
        if (*p == '"')
            dst[j++] = '"';
    }
    dst[j++] = '"';
    dst[j] = '\0';
    return T_OK;
}
