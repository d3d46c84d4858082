/*
 * test_http_token_bucket.c - the request budget: burst, refill at the rate,
 * waiting time when empty, rate changes keep saved tokens, unlimited mode;
 * and the HTTP client's retry policy and backoff bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/http_client.h"
#include "http/token_bucket.h"
#include "util/common.h"

static void test_burst_then_wait(void **state)
{
    token_bucket tb;
    token_bucket_init(&tb, 10, 5, 1000);
    for (int i = 0; i < 5; i++)
        assert_int_equal(token_bucket_take(&tb, 1000), 0);
    int64_t w = token_bucket_take(&tb, 1000);
    assert_int_equal(w, 100); /* one token per 100 ms at 10/s */
    assert_int_equal(token_bucket_take(&tb, 1050), 50);
    assert_int_equal(token_bucket_take(&tb, 1100), 0);
    assert_true(token_bucket_take(&tb, 1100) > 0);
}

static void test_refill_capped_at_burst(void **state)
{
    token_bucket tb;
    token_bucket_init(&tb, 100, 3, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(token_bucket_take(&tb, 0), 0);
    /* a long idle time saves at most BURST tokens */
    for (int i = 0; i < 3; i++)
        assert_int_equal(token_bucket_take(&tb, 1000000), 0);
    assert_true(token_bucket_take(&tb, 1000000) > 0);
}

static void test_rate_change_and_unlimited(void **state)
{
    token_bucket tb;
    token_bucket_init(&tb, 1, 1, 0);
    assert_int_equal(token_bucket_take(&tb, 0), 0);
    assert_int_equal(token_bucket_take(&tb, 0), 1000);
    token_bucket_set_rate(&tb, 1000, 10, 0);
    assert_int_equal(token_bucket_take(&tb, 1), 0);
    token_bucket_set_rate(&tb, 0, 1, 1);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(token_bucket_take(&tb, 1), 0);
}

static void test_retry_policy(void **state)
{
    assert_true(http_status_retryable(0));
    assert_true(http_status_retryable(429));
    assert_true(http_status_retryable(500));
    assert_true(http_status_retryable(503));
    assert_false(http_status_retryable(200));
    assert_false(http_status_retryable(400));
    assert_false(http_status_retryable(404));
    http_client c;
    assert_int_equal(http_client_init(&c, NULL), T_OK);
    for (int attempt = 1; attempt < 20; attempt++) {
        for (unsigned seed = 0; seed < 50; seed++) {
            int64_t ms = http_backoff_ms(&c, attempt, seed * 7919u);
            assert_true(ms >= c.backoff_base_ms / 2);
            assert_true(ms <= c.backoff_max_ms);
        }
    }
    assert_true(http_backoff_ms(&c, 1, 0) < http_backoff_ms(&c, 6, 0));
    http_client_cleanup(&c);
}

static void test_unreachable_gives_up(void **state)
{
    /* a closed port: transport errors are retried, then reported */
    http_client c;
    assert_int_equal(http_client_init(&c, NULL), T_OK);
    c.max_attempts = 3;
    c.backoff_base_ms = 2;
    c.backoff_max_ms = 4;
    http_request r;
    http_request_init(&r, "GET", "http://127.0.0.1:1/v1/events");
    r.expect_json = true;
    assert_int_equal(http_client_run(&c, &r, 1), T_ERR);
    assert_int_equal(r.attempts, 3);
    assert_int_equal(r.status, 0);
    assert_true(r.error[0] != '\0');
    assert_int_equal(c.stats.retries, 2);
    http_request_reset(&r);
    http_client_cleanup(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_wait),
        cmocka_unit_test(test_refill_capped_at_burst),
        cmocka_unit_test(test_rate_change_and_unlimited),
        cmocka_unit_test(test_retry_policy),
        cmocka_unit_test(test_unreachable_gives_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
