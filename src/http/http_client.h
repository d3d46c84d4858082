/*
 * http_client.h - the HTTP client the connectors use: a batch of requests runs
 * concurrently on one libcurl multi handle, each paced by a shared token
 * bucket and retried with exponential backoff on 429 (honouring Retry-After),
 * 5xx, transport errors and timeouts, and bodies that are not the JSON the
 * caller expected (truncated responses).
 *
 * Transfers are driven by libevent: curl_multi_socket_action() with an event
 * per socket and an event timer for curl's timeouts and for pacing, on an
 * event_base that the caller may share (the sync engine uses one base per
 * process for HTTP, its wake-ups and its timers). The batch call is
 * synchronous for its caller: it runs the base until every request of the
 * batch has finished (success, a final 4xx, or retries exhausted); it must
 * not be called from inside a callback of that base.
 *
 * Memory: the caller owns each http_request and the strings it points to;
 * the response (resp, json) belongs to the request and is released by
 * http_request_reset(). The client owns its curl handles.
 */
#ifndef TETHER_HTTP_HTTP_CLIENT_H
#define TETHER_HTTP_HTTP_CLIENT_H

#include "http/token_bucket.h"
#include "util/json_fast.h"

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS 8

typedef struct http_request {
    /* in */
    const char *method;             /* "GET", "POST", "DELETE" */
    char url[2048];
    const char *body;               /* request body (form-encoded) or NULL */
    const char *headers[HTTP_MAX_HEADERS]; /* "Name: value", NULL-terminated */
    bool expect_json;               /* a body that does not parse is retried */
    /* out */
    long status;                    /* final HTTP status, 0 when none */
    char *resp;                     /* final body (NUL-terminated) */
    size_t resp_len;
    size_t resp_cap;                /* bytes allocated at resp (grows geometrically) */
    json_t *json;                   /* parsed body when expect_json */
    int64_t server_time;            /* Date header as unix seconds, 0 if none */
    char request_id[96];            /* Request-Id header of the final answer, "" if none */
    int attempts;
    char error[256];                /* why it failed, when it did */
    /* private */
    void *easy;
    struct curl_slist *hdrs;
    int64_t next_at_ms;
    int64_t retry_after_ms;
    bool done, in_flight;
} http_request;

typedef struct http_client_stats {
    uint64_t requests, retries, throttled, failures;
} http_client_stats;

struct event_base;
struct event;

typedef struct http_client {
    void *multi;
    struct event_base *base;        /* borrowed, or owned when own_base */
    bool own_base;
    struct event *curl_timer;       /* curl's timeout */
    struct event *pace_timer;       /* next paced start or retry */
    http_request *batch;            /* the batch being run */
    size_t batch_n, remaining;
    token_bucket *bucket;           /* shared, not owned; may be NULL */
    struct request_budget *budget;  /* the credential's budget across processes
                                     * (request_budget.h); not owned; may be NULL */
    int max_attempts;               /* default 8 */
    long timeout_ms;                /* per attempt, default 30000 */
    int64_t backoff_base_ms;        /* default 200 */
    int64_t backoff_max_ms;         /* default 10000 */
    volatile sig_atomic_t *stop;    /* when set, the batch is abandoned */
    long daily_budget;              /* requests per UTC day, 0 = unlimited */
    long used_today;
    int64_t budget_day;             /* unix day of used_today */
    http_client_stats stats;
    json_fast_reader reader;        /* parses the responses; kept between them */
} http_client;

/*
 * Initialises C over BUCKET (may be NULL) on event base BASE (NULL: the
 * client makes and owns one). Returns T_OK or T_ERR.
 */
int http_client_init_base(http_client *c, token_bucket *bucket, struct event_base *base);
/* Same with a base of its own. */
int http_client_init(http_client *c, token_bucket *bucket);
void http_client_cleanup(http_client *c);

/* Prepares R for METHOD and URL (copied). Clears any previous response. */
void http_request_init(http_request *r, const char *method, const char *url);

/* Frees the response of R (and its curl state); R can be reused. */
void http_request_reset(http_request *r);

/*
 * Runs REQS[0..N) concurrently with pacing and retries. Returns T_OK when
 * every request got a final answer (2xx or a non-retryable status: check
 * r->status), T_ERR when one exhausted its retries or the stop flag was set
 * (r->error says why). Never leaves a transfer running.
 */
int http_client_run(http_client *c, http_request *reqs, size_t n);

/* Whether an attempt that ended with STATUS (0 = transport error) is retried. */
bool http_status_retryable(long status);

/* Backoff before attempt ATTEMPT (1-based) with jitter in [50%,100%]. */
int64_t http_backoff_ms(const http_client *c, int attempt, unsigned jitter_seed);

#endif
