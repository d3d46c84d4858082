/*
 * test_pg_connect.c - first integration test against the real Postgres the
 * harness started: load a config whose database comes from the environment,
 * connect, create Tether's state schema twice (idempotent), and check that a
 * bad password fails with a message that does not contain the password.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pg/pgconn.h"
#include "util/common.h"
#include "util/config.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_connect_and_create_schema(void **state)
{
    const char *url = getenv("TETHER_TEST_DATABASE_URL");
    assert_non_null(url);
    char var[1024];
    snprintf(var, sizeof(var), "TETHER_TETHER_DATABASE=%s", url);
    char *env[] = {var, NULL};
    tether_config cfg;
    char err[T_ERRBUF_SIZE];
    config_init(&cfg);
    assert_int_equal(config_load(&cfg, NULL, env, err, sizeof(err)), T_OK);
    assert_string_equal(cfg.database, url);

    PGconn *conn = pgconn_connect(cfg.database, "tether-test", err, sizeof(err));
    if (!conn)
        fail_msg("connect failed: %s", err);
    char schema[128], sql[512];
    assert_int_equal(pgconn_quote_ident(cfg.state_schema, schema, sizeof(schema)), T_OK);
    snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS %s", schema);
    assert_int_equal(pgconn_exec(conn, sql, err, sizeof(err)), T_OK);
    assert_int_equal(pgconn_exec(conn, sql, err, sizeof(err)), T_OK);

    PGresult *res = PQexec(conn, "SELECT count(*) FROM pg_namespace WHERE nspname = '_tether'");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "1");
    PQclear(res);

    assert_int_equal(pgconn_exec(conn, "SELECT 1; SELECT * FROM no_such_table", err, sizeof(err)),
                     T_ERR);
    assert_non_null(strstr(err, "42P01"));
    assert_non_null(strstr(err, "no_such_table"));
    PQfinish(conn);
    config_free(&cfg);
}

static void test_bad_password_is_not_echoed(void **state)
{
    const char *port = getenv("PGPORT");
    char url[256], err[T_ERRBUF_SIZE];
    snprintf(url, sizeof(url), "postgres://postgres:WrongPass123@127.0.0.1:%s/postgres", port);
    log_add_secret("WrongPass123");
    PGconn *conn = pgconn_connect(url, NULL, err, sizeof(err));
    assert_null(conn);
    assert_non_null(strstr(err, "cannot connect to 127.0.0.1"));
    assert_null(strstr(err, "WrongPass123"));
}

static void test_quote_ident(void **state)
{
    char out[16];
    assert_int_equal(pgconn_quote_ident("a\"b", out, sizeof(out)), T_OK);
    assert_string_equal(out, "\"a\"\"b\"");
    assert_int_equal(pgconn_quote_ident("0123456789abcdef", out, sizeof(out)), T_ERR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_and_create_schema),
        cmocka_unit_test(test_bad_password_is_not_echoed),
        cmocka_unit_test(test_quote_ident),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
