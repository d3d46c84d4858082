/*
 * test_emu_form.c - the emulators' form-urlencoded parser: Stripe's nested
 * keys (hashes, indexed and appended arrays), percent-decoding, and hostile
 * input (deep nesting, huge keys, bad escapes, too many pairs) rejected
 * cleanly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "emulators/common/emu_form.h"
#include "util/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *parse_ok(const char *s)
{
    char err[T_ERRBUF_SIZE] = "";
    json_t *out = NULL;
    int rc = emu_form_parse(s, strlen(s), &out, err, sizeof err);
    if (rc != T_OK)
        fprintf(stderr, "unexpected error for '%.60s': %s\n", s, err);
    assert_int_equal(rc, T_OK);
    assert_non_null(out);
    return out;
}

static void expect_json(const char *form, const char *want)
{
    json_t *got = parse_ok(form);
    json_t *exp = json_loads(want, 0, NULL);
    assert_non_null(exp);
    if (!json_equal(got, exp)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        fprintf(stderr, "form: %s\n got: %s\nwant: %s\n", form, g, want);
        free(g);
    }
    assert_true(json_equal(got, exp));
    json_decref(got);
    json_decref(exp);
}

static void expect_error(const char *form, size_t len, const char *needle)
{
    char err[T_ERRBUF_SIZE] = "";
    json_t *out = (json_t *)0x1;
    assert_int_equal(emu_form_parse(form, len, &out, err, sizeof err), T_ERR);
    assert_null(out);
    assert_true(strlen(err) > 0);
    if (needle && !strstr(err, needle)) {
        fprintf(stderr, "error '%s' lacks '%s'\n", err, needle);
        fail();
    }
}

static void test_flat_and_decoding(void **state)
{
    expect_json("email=a%40b.com&name=Ada+Lovelace", "{\"email\":\"a@b.com\",\"name\":\"Ada Lovelace\"}");
    expect_json("", "{}");
    expect_json("&&a=1&&", "{\"a\":\"1\"}");
    expect_json("flag", "{\"flag\":\"\"}");
    expect_json("a=1&a=2", "{\"a\":\"2\"}");
    expect_json("k=%E2%82%AC", "{\"k\":\"\xe2\x82\xac\"}");
    expect_json("x=a%3Db%26c", "{\"x\":\"a=b&c\"}");
}

static void test_nested(void **state)
{
    expect_json("metadata[k]=v&metadata[z]=w", "{\"metadata\":{\"k\":\"v\",\"z\":\"w\"}}");
    expect_json("items[0][price]=p1&items[1][price]=p2&items[1][quantity]=3",
                "{\"items\":[{\"price\":\"p1\"},{\"price\":\"p2\",\"quantity\":\"3\"}]}");
    expect_json("expand[]=customer&expand[]=latest_invoice", "{\"expand\":[\"customer\",\"latest_invoice\"]}");
    expect_json("expand[0]=a&expand[1]=b", "{\"expand\":[\"a\",\"b\"]}");
    expect_json("items[10][price]=b&items[2][price]=a", "{\"items\":[{\"price\":\"a\"},{\"price\":\"b\"}]}");
    expect_json("created[gte]=5&created[lt]=9", "{\"created\":{\"gte\":\"5\",\"lt\":\"9\"}}");
    expect_json("metadata%5Bk%5D=v", "{\"metadata\":{\"k\":\"v\"}}");
    expect_json("a[b][c][d]=1", "{\"a\":{\"b\":{\"c\":{\"d\":\"1\"}}}}");
    expect_json("metadata[]=", "{\"metadata\":[\"\"]}");
}

static void test_bad_percent(void **state)
{
    expect_error("a=%ZZ", 5, "percent");
    expect_error("a=%4", 4, "percent");
    expect_error("a=%", 3, "percent");
    expect_error("a%=1", 4, "percent");
    expect_error("a=%00", 5, "percent");
    expect_error("a\0=1", 4, "percent");
}

static void test_bad_keys(void **state)
{
    expect_error("=1", 2, NULL);
    expect_error("[a]=1", 5, NULL);
    expect_error("a[=1", 4, NULL);
    expect_error("a]=1", 4, NULL);
    expect_error("a[b]c=1", 7, NULL);
    expect_error("a[[b]]=1", 8, NULL);
    expect_error("a=1&a[b]=2", 10, "both");
    expect_error("a[b]=2&a=1", 10, "both");
    expect_error("a[b]=2&a[b][c]=1", 16, "both");
}

static void test_deep_nesting(void **state)
{
    char buf[4096] = "a";
    for (int i = 0; i < EMU_FORM_MAX_DEPTH + 1; i++)
        strcat(buf, "[x]");
    strcat(buf, "=1");
    expect_error(buf, strlen(buf), "nested");
    /* just within the limit is fine */
    strcpy(buf, "a");
    for (int i = 0; i < EMU_FORM_MAX_DEPTH; i++)
        strcat(buf, "[x]");
    strcat(buf, "=1");
    json_t *ok = parse_ok(buf);
    json_decref(ok);
    /* thousands of levels never recurse */
    size_t n = 200000;
    char *deep = malloc(n * 3 + 8);
    strcpy(deep, "a");
    for (size_t i = 0; i < n; i++)
        memcpy(deep + 1 + 3 * i, "[b]", 3);
    strcpy(deep + 1 + 3 * n, "=1");
    expect_error(deep, strlen(deep), NULL);
    free(deep);
}

static void test_huge_input(void **state)
{
    size_t n = 1 << 20;
    char *big = malloc(n + 3);
    memset(big, 'k', n);
    memcpy(big + n, "=1", 3);
    expect_error(big, n + 2, "longer");
    /* a huge value is fine */
    memcpy(big, "v=", 2);
    json_t *ok = parse_ok(big);
    assert_int_equal(json_string_length(json_object_get(ok, "v")), n); /* "kkk…=1" */
    json_decref(ok);
    free(big);
    /* too many pairs */
    size_t cnt = EMU_FORM_MAX_PARAMS + 1;
    char *many = malloc(cnt * 12 + 1);
    size_t len = 0;
    for (size_t i = 0; i < cnt; i++)
        len += (size_t)sprintf(many + len, "%sk%zu=v", i ? "&" : "", i);
    expect_error(many, len, "Too many");
    free(many);
    /* an index beyond the array limit stays a hash key, not a huge array */
    json_t *h = parse_ok("items[99999999][price]=p");
    assert_true(json_is_object(json_object_get(h, "items")));
    json_decref(h);
}

static void test_decode(void **state)
{
    char *out = NULL;
    assert_int_equal(emu_form_decode("a+b%20c", 7, &out), T_OK);
    assert_string_equal(out, "a b c");
    free(out);
    assert_int_equal(emu_form_decode("%G0", 3, &out), T_ERR);
    assert_null(out);
    /* length is honoured: no read past LEN */
    assert_int_equal(emu_form_decode("ab%41", 2, &out), T_OK);
    assert_string_equal(out, "ab");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flat_and_decoding), cmocka_unit_test(test_nested),
        cmocka_unit_test(test_bad_percent),       cmocka_unit_test(test_bad_keys),
        cmocka_unit_test(test_deep_nesting),      cmocka_unit_test(test_huge_input),
        cmocka_unit_test(test_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
