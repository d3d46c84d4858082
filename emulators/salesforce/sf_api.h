/*
 * sf_api.h - the Salesforce emulator's HTTP server: routing, authentication
 * (sessions, OAuth2/SOAP login), API limits and fault injection on top of
 * sf_store/sf_query. One mutex serialises all state; libmicrohttpd runs a
 * thread per connection so injected latency does not block other clients.
 *
 * The server owns its store, cursors and sessions; sf_api_stop() frees them.
 */
#ifndef TETHER_EMULATORS_SF_API_H
#define TETHER_EMULATORS_SF_API_H

#include "emulators/salesforce/sf_query.h"
#include "emulators/salesforce/sf_store.h"

#include <pthread.h>
#include <stdint.h>

#define SF_API_VERSION "59.0"
#define SF_MAX_SESSIONS 4096

typedef struct sf_faults {
    double rate_503;       /* share of API calls answered 503 */
    double rate_500;       /* share answered 500 UNKNOWN_EXCEPTION */
    double rate_limit;     /* share answered 403 REQUEST_LIMIT_EXCEEDED */
    double rate_drop;      /* share whose connection is closed without a reply */
    double rate_truncate;  /* share whose body is cut in half */
    int latency_ms;        /* added to every request */
    int session_ttl;       /* seconds a session lives; 0 = forever */
} sf_faults;

typedef struct sf_api_config {
    const char *host;
    int port; /* 0: pick a free one */
    const char *public_url; /* NULL: http://HOST:PORT */
    const char *client_id, *client_secret, *username, *password;
    long api_limit; /* DailyApiRequests maximum */
    unsigned seed;  /* fault RNG seed */
    sf_faults faults;
} sf_api_config;

typedef struct sf_session {
    char token[72];
    char refresh[72]; /* refresh token this session came from ("" if none) */
    int64_t issued_ms;
} sf_session;

typedef struct sf_api sf_api;

/*
 * Starts serving with CFG (strings are borrowed and must outlive the server)
 * after seeding via SEED (called with the store before listening; may be
 * NULL). On success *OUT is the running server; on failure prints the reason
 * and returns T_ERR.
 */
int sf_api_start(const sf_api_config *cfg, int (*seed)(sf_store *st, void *arg), void *arg,
                 sf_api **out);
/* The base URL clients use (instance_url). */
const char *sf_api_base_url(const sf_api *api);
/* Stops the server and frees everything. NULL is fine. */
void sf_api_stop(sf_api *api);

#endif
