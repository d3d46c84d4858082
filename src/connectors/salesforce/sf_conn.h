/*
 * sf_conn.h - internal to src/connectors/salesforce/: the connector's
 * instance (sf_conn) and the helpers its files share. salesforce.c holds
 * login, describe, backfill, polling and the request plumbing; sf_write.c
 * the writes for the proxy (apply, apply_batch). Nothing outside this
 * folder includes it.
 */
#ifndef TETHER_CONNECTORS_SALESFORCE_SF_CONN_H
#define TETHER_CONNECTORS_SALESFORCE_SF_CONN_H

#include "connectors/salesforce/salesforce.h"
#include "http/http_client.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define SF_CHANGES_MAX_BATCHES 5       /* nextRecordsUrl batches per collection per poll */
#define SF_SOQL_FIELDS_MAX 1400        /* bytes of field list in one SOQL statement */
#define SF_LIMIT_BACKOFF_MIN_MS 1000
#define SF_LIMIT_BACKOFF_MAX_MS 600000
#define SF_DAY_MS 86400000LL
#define SF_HTTP_UNAUTHORIZED 401
#define SF_HTTP_FORBIDDEN 403
#define SF_BODY_ATTEMPTS 5
#define SF_CREATE_ATTEMPTS 4
#define SF_CREATE_LOOKBACK_MS 60000
#define SF_COMPOSITE_MAX 200            /* records per /composite/sobjects call */


typedef struct sf_conn {
    char login_url[512];
    char api_version[16];
    char *client_id, *client_secret, *username, *password, *collections;
    http_client *http;
    int page_size;
    pthread_mutex_t lock; /* guards everything below */
    char instance[512];   /* instance_url of the session, "" before login */
    char token[1024];
    int64_t budget;       /* requests per day */
    bool budget_hard;     /* configured explicitly: a cap, not only pacing */
    int64_t day, day_requests;
    int64_t next_poll_ms; /* steady-state pacing of changes() */
    int64_t paused_until_ms, limit_backoff_ms;
} sf_conn;

/* Wall clock in unix milliseconds. */
int64_t sf_now_ms(void);

/*
 * Prepares R as METHOD on PATH (relative to the instance, or a full
 * "/services/..." path) with JSON expected. The auth header is set by sf_run.
 */
void sf_req(sf_conn *s, http_request *r, const char *method, const char *path);

/*
 * Runs REQS[0..N) with the session's token: logs in first when there is no
 * session, and once more when any answer is 401 (expired/invalid session),
 * then retries those requests once. Counts the requests against the budget
 * and pauses after REQUEST_LIMIT_EXCEEDED. T_ERR only when login failed
 * (ERR says why); check each r->status otherwise.
 */
int sf_run(sf_conn *s, http_request *reqs, size_t n, char *err, size_t errlen);

/*
 * Whether API calls are allowed now: not paused after REQUEST_LIMIT_EXCEEDED
 * and, with a configured budget, not past it today. WHY gets the reason.
 */
bool sf_may_call(sf_conn *s, char *why, size_t len);

/* Whether a final response is Salesforce's given error code. */
bool sf_is_error(const http_request *r, const char *code);

/* Writes into PATH the query (or queryAll when ALL) resource for SOQL Q, URL-encoded. */
void sf_query_path(const sf_conn *s, bool all, const char *q, char *path, size_t len);

/*
 * Replaces every real number among REC's fields by its shortest decimal text
 * that reads back as the same double (currency 872.27 stays "872.27").
 */
void sf_record_normalize(json_t *rec);

/* A record's SystemModstamp in ms, or -1. */
int64_t sf_record_stamp(json_t *rec);

/* The interface's version (unix seconds) of a SystemModstamp in ms. */
int64_t sf_version_of(int64_t ms);

/* sf_write.c: the connector's apply and apply_batch (connector.h). */
int sf_apply(void *self, const conn_collection *coll, conn_write_op op, const char *id, json_t *fields,
             json_t **canonical, conn_api_error *api_err);
int sf_apply_batch(void *self, const conn_collection *coll, conn_write *w, size_t n);

#endif
