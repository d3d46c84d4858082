/*
 * test_json_fast.c - the fast JSON reader against jansson's own: documents
 * both accept give the same tree (compact dumps equal, key order included),
 * and every kind of malformed input jsmn alone would let through is refused
 * with a position. fuzz/fuzz_json_fast.c checks the same on random input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/json_fast.h"

#include <stdbool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses TEXT (LEN bytes) both ways; both must agree on acceptance and tree. */
static bool same_as_jansson(const char *text, size_t len)
{
    json_error_t je, fe;
    json_t *want = json_loadb(text, len, 0, &je);
    json_t *got = json_fast_loadb(text, len, &fe);
    assert_int_equal(!want, !got);
    if (!got) {
        assert_true(fe.text[0] != '\0'); /* a reason is always given */
        assert_true(fe.position >= 0 && (size_t)fe.position <= len);
        return false;
    }
    size_t flags = JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17);
    char *a = json_dumps(want, flags), *b = json_dumps(got, flags);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(want);
    json_decref(got);
    return true;
}

static bool same(const char *text)
{
    return same_as_jansson(text, strlen(text));
}

static void test_accepts_like_jansson(void **state)
{
    assert_true(same("{}"));
    assert_true(same(" [ ] "));
    assert_true(same("\r\n\t{\"a\" : [1 , -0, 0.5, -1.25e-3, 2E+10, 1e-400, true, false, null]}\n"));
    assert_true(same("{\"id\":\"cus_1\",\"metadata\":{\"k\":\"v\"},\"n\":9223372036854775807,"
                     "\"m\":-9223372036854775808}"));
    assert_true(same("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\\ud83d\\ude00\", \"caf\xc3\xa9\"]"));
    assert_true(same("{\"dup\":1,\"other\":2,\"dup\":3}")); /* the later one wins, in place */
    assert_true(same("[[[[[[[[[[{\"deep\":[]}]]]]]]]]]]"));
    assert_true(same("{\"\":\"\",\"k\\u00e9y\":\"\\u0041\"}"));
}

static void test_refuses_what_jsmn_lets_through(void **state)
{
    const char *bad[] = {
        "[1 2]", "[1,]", "[,1]", "[1,,2]", "{\"a\" 1}", "{\"a\":}", "{\"a\":1,}", "{,\"a\":1}",
        "{\"a\"::1}", "{\"a\":1 \"b\":2}", "{\"a\":\"b\":\"c\"}", "{1:2}", "[01]", "[1.]", "[.5]",
        "[-]", "[1e]", "[1e+]", "[+1]", "[tru]", "[nul]", "[truex]", "[\"\\u0000\"]",
        "[\"\\ud800\"]", "[\"\\ud800\\u0041\"]", "[\"\\udc00\"]", "[\"\\x\"]", "[\"\\u12\"]",
        "[\"a\x01\"]", "[\"\xff\"]", "[\"\xc3\"]", "{\"\xff\":1}", "[99999999999999999999]",
        "[-99999999999999999999]", "[1e999]", "{} x", "{}{}", "[] []", "1", "\"s\"", "true",
        "", "   ", "[", "{\"a\":[1}", "[1]]", "\xef\xbb\xbf[]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (same(bad[i])) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
            fail();
        }
    }
}

static void test_embedded_nul_and_length(void **state)
{
    assert_false(same_as_jansson("[1]\0", 4));
    assert_false(same_as_jansson("[\"a\0b\"]", 7));
    assert_true(same_as_jansson("[1]xyz", 3)); /* only LEN bytes are read */
    /* jansson skips a NUL right after a number; json_fast refuses it */
    json_error_t err;
    json_t *lenient = json_loadb("[1\0]", 4, 0, &err);
    assert_non_null(lenient);
    json_decref(lenient);
    assert_null(json_fast_loadb("[1\0]", 4, &err));
}

static void test_depth_limit(void **state)
{
    size_t n = JSON_FAST_MAX_DEPTH + 10;
    char *deep = malloc(2 * n + 1);
    assert_non_null(deep);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    json_error_t err;
    assert_null(json_fast_loadb(deep, 2 * n, &err));
    assert_non_null(strstr(err.text, "depth"));
    assert_false(same_as_jansson(deep, 2 * n));
    free(deep);
}

static void test_large_page(void **state)
{
    /* a Stripe-like page of 2,000 objects: more tokens than the first guess */
    size_t cap = 2000 * 200 + 64, len = 0;
    char *page = malloc(cap);
    assert_non_null(page);
    len += (size_t)snprintf(page, cap, "{\"object\":\"list\",\"data\":[");
    for (int i = 0; i < 2000; i++)
        len += (size_t)snprintf(page + len, cap - len,
                                "%s{\"id\":\"cus_%d\",\"a\":[1,2,3,4,5,6,7,8],\"b\":{\"c\":null}}",
                                i ? "," : "", i);
    len += (size_t)snprintf(page + len, cap - len, "],\"has_more\":false}");
    assert_true(same_as_jansson(page, len));
    free(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_like_jansson),
        cmocka_unit_test(test_refuses_what_jsmn_lets_through),
        cmocka_unit_test(test_embedded_nul_and_length),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_large_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
