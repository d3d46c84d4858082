/*
 * test_log.c - the structured logger: line format, levels, and redaction of
 * registered secrets and URL passwords.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/common.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char logpath[64];

static int setup(void **state)
{
    snprintf(logpath, sizeof(logpath), "/tmp/tether-test-log-XXXXXX");
    int fd = mkstemp(logpath);
    close(fd);
    log_reset();
    return log_open_file(logpath) == T_OK ? 0 : -1;
}

static int teardown(void **state)
{
    log_reset();
    unlink(logpath);
    return 0;
}

static char *read_log(void)
{
    static char buf[8192];
    FILE *f = fopen(logpath, "r");
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void test_line_format(void **state)
{
    log_info("proxy.listen", "addr=%s clients=%d", "127.0.0.1:6432", 3);
    char *out = read_log();
    assert_true(strncmp(out, "ts=", 3) == 0);
    assert_non_null(strstr(out, " level=info event=proxy.listen addr=127.0.0.1:6432 clients=3\n"));
    assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));
}

static void test_levels(void **state)
{
    log_set_level(LOG_LEVEL_WARN);
    log_info("hidden", "x=1");
    log_debug("hidden", "x=2");
    log_error("shown", "x=3");
    char *out = read_log();
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(out, "level=error event=shown x=3"));
    log_level l;
    assert_int_equal(log_level_parse("WARNING", &l), T_OK);
    assert_int_equal(l, LOG_LEVEL_WARN);
    assert_int_equal(log_level_parse("loud", &l), T_ERR);
}

static void test_redaction(void **state)
{
    log_add_secret("sk_test_SECRET");
    log_warn("sync.error", "key=%s url=%s", "sk_test_SECRET",
             "postgres://tether:pa55word@db.example:5432/app");
    char *out = read_log();
    assert_null(strstr(out, "sk_test_SECRET"));
    assert_null(strstr(out, "pa55word"));
    assert_non_null(strstr(out, "key=[redacted]"));
    assert_non_null(strstr(out, "url=postgres://tether:***@db.example:5432/app"));

    char dst[64];
    log_redact("https://api.example/v1?x=sk_test_SECRET", dst, sizeof(dst));
    assert_string_equal(dst, "https://api.example/v1?x=[redacted]");
    log_redact("postgres://only@host/db", dst, sizeof(dst));
    assert_string_equal(dst, "postgres://only@host/db");
    /* truncation keeps the buffer terminated */
    char tiny[8];
    log_redact("abcdefghijklmnop", tiny, sizeof(tiny));
    assert_string_equal(tiny, "abcdefg");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_line_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redaction, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
