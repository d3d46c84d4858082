/*
 * test_request_budget.c - the per-credential request budget shared through
 * the real Postgres server (src/http/request_budget.c):
 *   - two handles on one credential (two processes) together never take more
 *     than the rate allows (one burst + rate x elapsed + one grant each);
 *   - another credential is not held back by an exhausted one;
 *   - a 429 pause set through one handle makes the other wait;
 *   - an unreachable database fails open (requests go, paced only locally);
 *   - keys: equal for equal credentials, different otherwise, never the secret.
 * The rate bound is an upper bound on a count: a slow machine only makes
 * fewer requests, so it does not depend on timing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/request_budget.h"
#include "http/token_bucket.h"
#include "pg/pgconn.h"
#include "util/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *url(void)
{
    return getenv("TETHER_TEST_DATABASE_URL");
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Takes from A and B alternately for DURATION_MS; returns the tokens granted. */
static long take_for(request_budget *a, request_budget *b, int64_t duration_ms)
{
    long granted = 0;
    int64_t end = token_bucket_now_ms() + duration_ms;
    int64_t wa = 0, wb = 0;
    while (token_bucket_now_ms() < end) {
        int64_t now = token_bucket_now_ms();
        if (now >= wa) {
            int64_t w = request_budget_take(a, now);
            if (w == 0)
                granted++;
            else
                wa = now + w;
        }
        if (b && now >= wb) {
            int64_t w = request_budget_take(b, now);
            if (w == 0)
                granted++;
            else
                wb = now + w;
        }
        sleep_ms(1);
    }
    return granted;
}

static void test_shared_rate(void **state)
{
    (void)state;
    const double rate = 40; /* burst 40, grants of 4 */
    request_budget *a = request_budget_open(url(), "_tether", "test-shared", "a", rate);
    request_budget *b = request_budget_open(url(), "_tether", "test-shared", "b", rate);
    assert_non_null(a);
    assert_non_null(b);
    int64_t t0 = token_bucket_now_ms();
    long granted = take_for(a, b, 1500);
    double elapsed = (double)(token_bucket_now_ms() - t0) / 1000.0;
    long bound = (long)(rate + rate * elapsed) + 2 * 4 + 2; /* + one grant per handle */
    print_message("granted %ld in %.2fs, bound %ld\n", granted, elapsed, bound);
    assert_true(granted > 0);
    assert_true(granted <= bound);
    /* alone, one handle would have had the same budget: together they did not double it */
    request_budget_close(a);
    request_budget_close(b);
}

static void test_credentials_independent(void **state)
{
    (void)state;
    request_budget *a = request_budget_open(url(), "_tether", "test-ind-a", "a", 5);
    request_budget *b = request_budget_open(url(), "_tether", "test-ind-b", "b", 5);
    int64_t now = token_bucket_now_ms();
    int taken = 0;
    while (request_budget_take(a, now) == 0 && taken < 100)
        taken++;
    assert_in_range(taken, 5, 6); /* the burst, then it must wait */
    assert_true(request_budget_take(a, now) > 0);
    assert_int_equal(request_budget_take(b, now), 0);
    request_budget_close(a);
    request_budget_close(b);
}

static void test_pause_is_shared(void **state)
{
    (void)state;
    request_budget *a = request_budget_open(url(), "_tether", "test-pause", "a", 100);
    request_budget *b = request_budget_open(url(), "_tether", "test-pause", "b", 100);
    assert_int_equal(request_budget_take(a, token_bucket_now_ms()), 0);
    request_budget_pause(a, 400);
    int64_t w = request_budget_take(b, token_bucket_now_ms());
    assert_in_range(w, 1, 400);
    assert_true(request_budget_take(a, token_bucket_now_ms()) > 0); /* its grant was dropped too */
    sleep_ms(w + 20);
    assert_int_equal(request_budget_take(b, token_bucket_now_ms()), 0);
    request_budget_close(a);
    request_budget_close(b);
}

static void test_unreachable_fails_open(void **state)
{
    (void)state;
    request_budget *a = request_budget_open("postgres://nobody@127.0.0.1:1/none?connect_timeout=2", "_tether",
                                            "test-down", "down", 1);
    assert_non_null(a);
    for (int i = 0; i < 20; i++)
        assert_int_equal(request_budget_take(a, token_bucket_now_ms()), 0);
    request_budget_close(a);
}

static void test_no_budget(void **state)
{
    (void)state;
    assert_null(request_budget_open(url(), "_tether", "k", "n", 0));
    assert_int_equal(request_budget_take(NULL, 0), 0);
    request_budget_pause(NULL, 10);
    request_budget_close(NULL);
}

static void test_keys(void **state)
{
    (void)state;
    sync_config a = {.name = "a", .source = "stripe", .api_key = "sk_test_secret_1"};
    sync_config b = a, c = a;
    b.name = "b"; /* another sync on the same key */
    c.api_key = "sk_test_secret_2";
    char ka[REQUEST_BUDGET_KEY_LEN], kb[REQUEST_BUDGET_KEY_LEN], kc[REQUEST_BUDGET_KEY_LEN];
    request_budget_key(&a, ka);
    request_budget_key(&b, kb);
    request_budget_key(&c, kc);
    assert_int_equal(strlen(ka), 64);
    assert_string_equal(ka, kb);
    assert_string_not_equal(ka, kc);
    assert_null(strstr(ka, "secret"));
    sync_config sf1 = {.source = "salesforce", .login_url = "https://login", .client_id = "x", .username = "u1"};
    sync_config sf2 = sf1;
    sf2.username = "u2";
    char k1[REQUEST_BUDGET_KEY_LEN], k2[REQUEST_BUDGET_KEY_LEN];
    request_budget_key(&sf1, k1);
    request_budget_key(&sf2, k2);
    assert_string_not_equal(k1, k2);
    /* field boundaries matter: ("ab","c") is not ("a","bc") */
    sync_config p = {.source = "ab", .api_key = "c"}, q = {.source = "a", .api_key = "bc"};
    request_budget_key(&p, k1);
    request_budget_key(&q, k2);
    assert_string_not_equal(k1, k2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_no_budget),
        cmocka_unit_test(test_credentials_independent),
        cmocka_unit_test(test_shared_rate),
        cmocka_unit_test(test_pause_is_shared),
        cmocka_unit_test(test_unreachable_fails_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
