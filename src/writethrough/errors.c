/*
 * errors.c - turns an API rejection into what a Postgres client expects: a
 * SQLSTATE per kind of error (docs/writethrough.md has the table), a message
 * naming the operation, the object and the API's own words, DETAIL with the
 * API's error code and parameter, HINT where there is something to do.
 * Nothing here allocates.
 */
#include "writethrough/writethrough.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void wt_error_set(wt_error *err, const char *sqlstate, const char *detail, const char *hint,
                  const char *fmt, ...)
{
    snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", sqlstate);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    snprintf(err->detail, sizeof(err->detail), "%s", detail ? detail : "");
    snprintf(err->hint, sizeof(err->hint), "%s", hint ? hint : "");
}

const char *wt_error_sqlstate(int status)
{
    if (status == 400 || status == 402 || status == 422)
        return WT_SQLSTATE_VALIDATION;
    if (status == 404)
        return WT_SQLSTATE_NOT_FOUND;
    if (status == 401 || status == 403)
        return WT_SQLSTATE_AUTH;
    if (status == 409)
        return WT_SQLSTATE_CONFLICT;
    if (status == 429)
        return WT_SQLSTATE_RATE_LIMIT;
    if (status == 0 || status >= 500)
        return WT_SQLSTATE_UNAVAILABLE;
    return WT_SQLSTATE_API_OTHER;
}

static const char *wt_error_verb(conn_write_op op)
{
    switch (op) {
    case CONN_WRITE_CREATE: return "creating";
    case CONN_WRITE_UPDATE: return "updating";
    case CONN_WRITE_DELETE: return "deleting";
    }
    return "writing";
}

void wt_error_from_api(wt_error *err, conn_write_op op, const char *object_type, const char *id,
                       const conn_api_error *api)
{
    const char *st = api->rate_limited ? WT_SQLSTATE_RATE_LIMIT : wt_error_sqlstate(api->http_status);
    const char *words = api->message[0] ? api->message : "the API did not answer";
    char detail[512];
    int n = snprintf(detail, sizeof(detail), "API status %d", api->http_status);
    if (api->code[0] && n > 0 && (size_t)n < sizeof(detail))
        n += snprintf(detail + n, sizeof(detail) - (size_t)n, ", code %s", api->code);
    if (api->param[0] && n > 0 && (size_t)n < sizeof(detail))
        snprintf(detail + n, sizeof(detail) - (size_t)n, ", param %s", api->param);
    const char *hint = NULL;
    if (strcmp(st, WT_SQLSTATE_RATE_LIMIT) == 0)
        hint = api->rate_limited
                   ? "The API's usage limit is reached; retry later."
                   : "The API kept answering 429 (rate limited) within the retry deadline; retry later.";
    else if (strcmp(st, WT_SQLSTATE_UNAVAILABLE) == 0)
        hint = op == CONN_WRITE_CREATE
                   ? "The API did not answer in time; the change may have been applied. A create "
                     "retried by Tether carried the same Idempotency-Key."
                   : "The API did not answer in time; the change may have been applied.";
    else if (strcmp(st, WT_SQLSTATE_AUTH) == 0)
        hint = "Check the API key of this sync.";
    if (id && *id)
        wt_error_set(err, st, detail, hint, "Error %s %s %s: %s", wt_error_verb(op), object_type, id,
                     words);
    else
        wt_error_set(err, st, detail, hint, "Error %s %s: %s", wt_error_verb(op), object_type, words);
}
