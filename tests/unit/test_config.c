/*
 * test_config.c - the configuration loader: defaults, INI sections, environment
 * overrides, errors naming file/line/key, and secrets never shown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/common.h"
#include "util/config.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *write_temp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/tether-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_defaults(void **state)
{
    tether_config cfg;
    config_init(&cfg);
    assert_string_equal(cfg.log_level, "info");
    assert_string_equal(cfg.proxy_listen, "127.0.0.1:6432");
    assert_string_equal(cfg.state_schema, "_tether");
    assert_int_equal(cfg.proxy_max_client_conn, 10000);
    assert_null(cfg.database);
    assert_int_equal(cfg.nsyncs, 0);
    config_free(&cfg);
}

static void test_file_and_sections(void **state)
{
    const char *path = write_temp("; comment\n"
                                  "[tether]\n"
                                  "database = postgres://tether:pw@db:5432/app\n"
                                  "log_level = debug\n"
                                  "[proxy]\n"
                                  "listen = 0.0.0.0:7000\n"
                                  "max_client_conn = 50\n"
                                  "[sync.stripe]\n"
                                  "source = stripe\n"
                                  "api_key = sk_test_123\n"
                                  "poll_interval_ms = 250\n"
                                  "rate_backfill = 12.5\n");
    tether_config cfg;
    char err[T_ERRBUF_SIZE];
    config_init(&cfg);
    char *env[] = {NULL};
    assert_int_equal(config_load(&cfg, path, env, err, sizeof(err)), T_OK);
    assert_string_equal(cfg.database, "postgres://tether:pw@db:5432/app");
    assert_string_equal(cfg.log_level, "debug");
    assert_string_equal(cfg.proxy_listen, "0.0.0.0:7000");
    assert_int_equal(cfg.proxy_max_client_conn, 50);
    assert_int_equal(cfg.nsyncs, 1);
    sync_config *s = config_find_sync(&cfg, "stripe");
    assert_non_null(s);
    assert_string_equal(s->source, "stripe");
    assert_string_equal(s->api_key, "sk_test_123");
    assert_int_equal(s->poll_interval_ms, 250);
    assert_int_equal(s->safety_window_ms, 5000);
    assert_true(s->rate_backfill > 12.4 && s->rate_backfill < 12.6);
    config_free(&cfg);
    unlink(path);
}

static void test_env_overrides(void **state)
{
    const char *path = write_temp("[proxy]\nlisten = 127.0.0.1:1\n"
                                  "[sync.stripe]\nsource = stripe\napi_key = sk_file\n");
    tether_config cfg;
    char err[T_ERRBUF_SIZE];
    config_init(&cfg);
    char *env[] = {"TETHER_PROXY_LISTEN=127.0.0.1:2", "TETHER_SYNC_STRIPE_API_KEY=sk_env",
                   "TETHER_TETHER_LOG_LEVEL=warn", "TETHER_SYNC_CRM_SOURCE=salesforce",
                   "TETHER_SYNC_CRM_USERNAME=ada", "UNRELATED=1", NULL};
    assert_int_equal(config_load(&cfg, path, env, err, sizeof(err)), T_OK);
    assert_string_equal(cfg.proxy_listen, "127.0.0.1:2");
    assert_string_equal(cfg.log_level, "warn");
    assert_string_equal(config_find_sync(&cfg, "stripe")->api_key, "sk_env");
    sync_config *crm = config_find_sync(&cfg, "crm");
    assert_non_null(crm);
    assert_string_equal(crm->source, "salesforce");
    assert_string_equal(crm->username, "ada");
    config_free(&cfg);
    unlink(path);
}

static void test_errors_name_file_line_key(void **state)
{
    tether_config cfg;
    char err[T_ERRBUF_SIZE];
    char *env[] = {NULL};

    const char *path = write_temp("[tether]\nlog_level = info\nbogus_key = 1\n");
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, path, env, err, sizeof(err)), T_ERR);
    char want[128];
    snprintf(want, sizeof(want), "%s:3: unknown key 'bogus_key' in section [tether]", path);
    assert_string_equal(err, want);
    config_free(&cfg);
    unlink(path);

    path = write_temp("[proxy]\n\nmax_client_conn = lots\n");
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, path, env, err, sizeof(err)), T_ERR);
    snprintf(want, sizeof(want), "%s:3: invalid value for key 'max_client_conn'", path);
    assert_non_null(strstr(err, want));
    config_free(&cfg);
    unlink(path);

    path = write_temp("[nonsense]\nx = 1\n");
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, path, env, err, sizeof(err)), T_ERR);
    assert_non_null(strstr(err, "unknown section [nonsense]"));
    config_free(&cfg);
    unlink(path);

    path = write_temp("[sync.s]\napi_key = sk_live_secret\n");
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, path, env, err, sizeof(err)), T_ERR);
    assert_non_null(strstr(err, "has no 'source'"));
    assert_null(strstr(err, "sk_live_secret"));
    config_free(&cfg);
    unlink(path);

    config_init(&cfg);
    assert_int_equal(config_load(&cfg, "/nonexistent/tether.ini", env, err, sizeof(err)), T_ERR);
    assert_non_null(strstr(err, "/nonexistent/tether.ini: cannot open"));
    config_free(&cfg);

    char *badenv[] = {"TETHER_PROXY_MAX_CLIENT_CONN=-5", NULL};
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, NULL, badenv, err, sizeof(err)), T_ERR);
    assert_non_null(strstr(err, "TETHER_PROXY_MAX_CLIENT_CONN"));
    config_free(&cfg);
}

static void test_dump_masks_secrets(void **state)
{
    tether_config cfg;
    char err[T_ERRBUF_SIZE];
    config_init(&cfg);
    assert_int_equal(config_set(&cfg, "sync.stripe", "source", "stripe", err, sizeof(err)), T_OK);
    assert_int_equal(config_set(&cfg, "sync.stripe", "api_key", "sk_test_zzz", err, sizeof(err)),
                     T_OK);
    assert_int_equal(config_set(&cfg, "tether", "database", "postgres://u:hunter2@h/d", err,
                                sizeof(err)), T_OK);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_dump(&cfg, f);
    fclose(f);
    assert_null(strstr(buf, "sk_test_zzz"));
    assert_null(strstr(buf, "hunter2"));
    assert_non_null(strstr(buf, "api_key = ***"));
    assert_non_null(strstr(buf, "[sync.stripe]"));
    free(buf);
    config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_and_sections),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_errors_name_file_line_key),
        cmocka_unit_test(test_dump_masks_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
