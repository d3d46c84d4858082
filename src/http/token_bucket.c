/*
 * token_bucket.c - see token_bucket.h. No allocation.
 */
#include "http/token_bucket.h"

#include <math.h>
#include <time.h>

static void refill(token_bucket *tb, int64_t now_ms)
{
    if (now_ms > tb->last_ms) {
        tb->tokens += (double)(now_ms - tb->last_ms) * tb->rate / 1000.0;
        if (tb->tokens > tb->burst)
            tb->tokens = tb->burst;
        tb->last_ms = now_ms;
    }
}

void token_bucket_init(token_bucket *tb, double rate, double burst, int64_t now_ms)
{
    tb->rate = rate;
    tb->burst = burst < 1 ? 1 : burst;
    tb->tokens = tb->burst;
    tb->last_ms = now_ms;
}

void token_bucket_set_rate(token_bucket *tb, double rate, double burst, int64_t now_ms)
{
    refill(tb, now_ms);
    tb->rate = rate;
    tb->burst = burst < 1 ? 1 : burst;
    if (tb->tokens > tb->burst)
        tb->tokens = tb->burst;
}

int64_t token_bucket_take(token_bucket *tb, int64_t now_ms)
{
    if (tb->rate <= 0)
        return 0;
    refill(tb, now_ms);
    if (tb->tokens >= 1.0) {
        tb->tokens -= 1.0;
        return 0;
    }
    double wait = ceil((1.0 - tb->tokens) * 1000.0 / tb->rate);
    return wait < 1 ? 1 : (int64_t)wait;
}

void token_bucket_refund(token_bucket *tb)
{
    if (tb->rate <= 0)
        return;
    tb->tokens += 1.0;
    if (tb->tokens > tb->burst)
        tb->tokens = tb->burst;
}

int64_t token_bucket_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
