/*
 * test_sync_stripe_sig.c - Stripe-Signature parsing and verification: a
 * correct signature passes, forged, stale, future, malformed and secretless
 * ones fail with the documented reason; several v1 entries and unknown
 * schemes are handled as Stripe documents.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "connectors/stripe/stripe_sig.h"
#include "util/common.h"

#include <stdio.h>
#include <string.h>

static const char *secret = "whsec_test_secret";
static const char *body = "{\"id\":\"evt_1\",\"object\":\"event\"}";

static void header_for(int64_t t, char *out, size_t len)
{
    char sig[STRIPE_SIG_HEX_LEN + 1];
    stripe_sig_compute(secret, t, body, strlen(body), sig);
    snprintf(out, len, "t=%lld,v1=%s", (long long)t, sig);
}

static void test_known_vector(void **state)
{
    char sig[STRIPE_SIG_HEX_LEN + 1];
    stripe_sig_compute("key", 0, "", 0, sig);
    /* openssl: printf '0.' | openssl dgst -sha256 -hmac key */
    assert_string_equal(sig, "85841b4efc3cd7776c3c8f9b7cca9e281c550e5d19889d78e9e669c6337f000d");
}

static void test_valid(void **state)
{
    char h[256], err[T_ERRBUF_SIZE];
    header_for(1700000000, h, sizeof(h));
    assert_int_equal(stripe_sig_verify(h, body, strlen(body), secret, 1700000010, 300, err, sizeof(err)), T_OK);
}

static void test_forged_and_tampered(void **state)
{
    char h[256], err[T_ERRBUF_SIZE];
    header_for(1700000000, h, sizeof(h));
    assert_int_equal(stripe_sig_verify(h, body, strlen(body), "whsec_other", 1700000000, 300, err, sizeof(err)), T_ERR);
    assert_string_equal(err, "no matching signature");
    const char *tampered = "{\"id\":\"evt_2\",\"object\":\"event\"}";
    assert_int_equal(stripe_sig_verify(h, tampered, strlen(tampered), secret, 1700000000, 300, err, sizeof(err)), T_ERR);
    /* a signature for another timestamp does not carry over */
    char h2[256];
    header_for(1700000000, h2, sizeof(h2));
    h2[3] = '1';
    assert_int_equal(stripe_sig_verify(h2, body, strlen(body), secret, 1700000000, 300, err, sizeof(err)), T_ERR);
}

static void test_stale_and_future(void **state)
{
    char h[256], err[T_ERRBUF_SIZE];
    header_for(1700000000, h, sizeof(h));
    assert_int_equal(stripe_sig_verify(h, body, strlen(body), secret, 1700000301, 300, err, sizeof(err)), T_ERR);
    assert_string_equal(err, "timestamp outside tolerance");
    assert_int_equal(stripe_sig_verify(h, body, strlen(body), secret, 1699999000, 300, err, sizeof(err)), T_ERR);
}

static void test_multiple_v1_and_unknown_schemes(void **state)
{
    char sig[STRIPE_SIG_HEX_LEN + 1], h[512], err[T_ERRBUF_SIZE];
    stripe_sig_compute(secret, 1700000000, body, strlen(body), sig);
    snprintf(h, sizeof(h), "t=1700000000,v0=abc,v1=%064d,v1=%s,x=y", 0, sig);
    assert_int_equal(stripe_sig_verify(h, body, strlen(body), secret, 1700000000, 300, err, sizeof(err)), T_OK);
    stripe_sig_header ph;
    assert_int_equal(stripe_sig_parse(h, &ph), T_OK);
    assert_int_equal(ph.nv1, 2);
    assert_int_equal(ph.timestamp, 1700000000);
}

static void test_malformed(void **state)
{
    const char *bad[] = {"", "t=", "t=abc,v1=00", "v1=" /* no t */, "t=1700000000",
                         "t=1700000000,v1=short", "t=99999999999999999999,v1=00", ",,,", "t=1,v1=zz"};
    char err[T_ERRBUF_SIZE];
    for (size_t i = 0; i < T_ARRAY_LEN(bad); i++) {
        assert_int_equal(stripe_sig_verify(bad[i], body, strlen(body), secret, 1700000000, 300, err, sizeof(err)), T_ERR);
        assert_string_equal(err, "malformed signature header");
    }
    assert_int_equal(stripe_sig_verify(NULL, body, strlen(body), secret, 0, 300, err, sizeof(err)), T_ERR);
    char h[256];
    header_for(1700000000, h, sizeof(h));
    assert_int_equal(stripe_sig_verify(h, body, strlen(body), "", 1700000000, 300, err, sizeof(err)), T_ERR);
    assert_string_equal(err, "no webhook secret configured");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vector),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_forged_and_tampered),
        cmocka_unit_test(test_stale_and_future),
        cmocka_unit_test(test_multiple_v1_and_unknown_schemes),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
