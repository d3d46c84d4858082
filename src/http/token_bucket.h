/*
 * token_bucket.h - a request budget per credential: RATE tokens per second,
 * at most BURST saved up. Pure arithmetic on caller-supplied clocks (ms), so
 * it is deterministic to test. Shared by the sync and (later) the proxy's
 * writes, which must draw on the same bucket. Holds no heap memory.
 */
#ifndef TETHER_HTTP_TOKEN_BUCKET_H
#define TETHER_HTTP_TOKEN_BUCKET_H

#include <stdint.h>

typedef struct token_bucket {
    double rate;     /* tokens per second; <= 0 means unlimited */
    double burst;    /* capacity */
    double tokens;   /* current level */
    int64_t last_ms; /* time of the last refill */
} token_bucket;

/* Starts full at NOW_MS. RATE <= 0 disables pacing. */
void token_bucket_init(token_bucket *tb, double rate, double burst, int64_t now_ms);

/* Changes the rate (e.g. backfill -> steady state) keeping the saved tokens. */
void token_bucket_set_rate(token_bucket *tb, double rate, double burst, int64_t now_ms);

/*
 * Takes one token if available at NOW_MS and returns 0; otherwise takes
 * nothing and returns how many ms to wait until one is available (>= 1).
 */
int64_t token_bucket_take(token_bucket *tb, int64_t now_ms);

/* Gives back one token taken at NOW_MS that was not used (capped at the burst). */
void token_bucket_refund(token_bucket *tb);

/* Monotonic clock in milliseconds. */
int64_t token_bucket_now_ms(void);

#endif
