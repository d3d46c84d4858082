/*
 * request_budget.h - one request budget per API credential, shared by every
 * Tether process that uses the credential: the syncs (several processes may
 * split one sync) and the proxies applying writes. DESIGN.md section 3:
 * "each credential has a request budget (token bucket) ... proxy writes
 * share the budget with the sync."
 *
 * The bucket lives in Postgres, in <state_schema>.request_budget (one row
 * per credential, keyed by a SHA-256 of the credential, never the secret
 * itself; `granted` counts every token handed out, for operators). A
 * process takes tokens in small grants (about 100 ms worth of the rate,
 * unused ones lapse after a second) with one prepared UPDATE that refills
 * the row by elapsed time and debits the grant under the row lock, so the
 * sum over all processes never exceeds the rate (plus one burst and one
 * grant per process). A 429 seen by one process pauses the credential for
 * all of them (request_budget_pause). Each process keeps its own local
 * token_bucket too (rate_backfill, rate_steady, TETHER_WRITE_RATE): a
 * request needs a token from both.
 *
 * Failure mode: when the database cannot be reached the budget fails open
 * (the local bucket still paces), logs once, and retries the connection
 * every few seconds; it never stops a sync or a write on its own.
 *
 * Memory: a request_budget owns its PGconn and its strings; the caller owns
 * the handle and frees it with request_budget_close(). Blocking: a grant
 * request is one synchronous round trip to Postgres.
 */
#ifndef TETHER_HTTP_REQUEST_BUDGET_H
#define TETHER_HTTP_REQUEST_BUDGET_H

#include "util/config.h"

#include <stddef.h>
#include <stdint.h>

#define REQUEST_BUDGET_KEY_LEN 65 /* SHA-256 in hex + NUL */

typedef struct request_budget request_budget;

/*
 * Writes into OUT the key that identifies SC's credential: the SHA-256 (hex)
 * of the source, its API address and the identity that is billed (Stripe's
 * API key; Salesforce's login URL, client id and username). Two syncs or a
 * sync and a proxy configured with the same credential get the same key.
 */
void request_budget_key(const sync_config *sc, char out[REQUEST_BUDGET_KEY_LEN]);

/*
 * Opens the shared budget KEY (from request_budget_key) at RATE requests/s
 * (burst one second's worth) in STATE_SCHEMA of the database at CONNINFO.
 * NAME is used in log lines. RATE <= 0 returns NULL: no shared budget
 * (callers treat NULL as "unlimited"). The connection is made on the first
 * take. Never fails otherwise (out of memory aborts).
 */
request_budget *request_budget_open(const char *conninfo, const char *state_schema, const char *key,
                                    const char *name, double rate);

/*
 * request_budget_open for sync SC: its credential's key, and its
 * credential_rate (0 = the larger of rate_backfill and rate_steady).
 */
request_budget *request_budget_for_sync(const sync_config *sc, const char *conninfo,
                                        const char *state_schema);

/* Closes the connection and frees B. NULL is a no-op. */
void request_budget_close(request_budget *b);

/*
 * Takes one token at NOW_MS (token_bucket_now_ms clock): returns 0 when the
 * request may go, else how many ms to wait before asking again (>= 1).
 * NULL B always returns 0.
 */
int64_t request_budget_take(request_budget *b, int64_t now_ms);

/*
 * The API said "too many requests" (429, optionally with Retry-After):
 * every process on this credential waits PAUSE_MS before its next request.
 * Best effort (a database error is logged). NULL B is a no-op.
 */
void request_budget_pause(request_budget *b, int64_t pause_ms);

#endif
