/*
 * test_write_plan.c - write-through without a database: planning captured
 * rows into API writes (changed columns only, metadata key removal, read-only
 * columns, the row limit, creates, deletes), API errors to SQLSTATE and
 * message, and the guard's setting detector.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/common.h"
#include "writethrough/writethrough.h"

#include <stdlib.h>
#include <string.h>

static conn_schema *test_schema(void)
{
    conn_schema *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->n = 1;
    conn_collection *c = &s->colls[0];
    strcpy(c->name, "customer");
    strcpy(c->object_type, "customer");
    const struct { const char *name; conn_coltype t; } cols[] = {
        {"id", CONN_TEXT}, {"email", CONN_TEXT}, {"name", CONN_TEXT},
        {"metadata", CONN_JSONB}, {"created", CONN_TIMESTAMPTZ}, {"balance", CONN_BIGINT},
    };
    for (size_t i = 0; i < T_ARRAY_LEN(cols); i++) {
        strcpy(c->cols[i].name, cols[i].name);
        strcpy(c->cols[i].field, cols[i].name);
        c->cols[i].type = cols[i].t;
    }
    c->ncols = T_ARRAY_LEN(cols);
    return s;
}

static void test_target(wt_target *t, conn_schema *s, int max_rows)
{
    memset(t, 0, sizeof(*t));
    t->schema = s;
    strcpy(t->schema_name, "stripe");
    t->max_rows = max_rows;
}

static void add_capture(wt_captures *cap, const char *op, const char *old_row, const char *new_row)
{
    cap->rows = realloc(cap->rows, (cap->n + 1) * sizeof(*cap->rows));
    assert_non_null(cap->rows);
    wt_capture *c = &cap->rows[cap->n++];
    memset(c, 0, sizeof(*c));
    strcpy(c->op, op);
    json_error_t je;
    c->old_row = old_row ? json_loads(old_row, 0, &je) : NULL;
    c->new_row = new_row ? json_loads(new_row, 0, &je) : NULL;
}

static void test_update_sends_only_changes(void **state)
{
    (void)state;
    conn_schema *s = test_schema();
    wt_target t;
    test_target(&t, s, 100);
    wt_captures cap = {0};
    add_capture(&cap, "UPDATE",
                "{\"id\":\"cus_1\",\"email\":\"a@x.com\",\"name\":\"A\",\"metadata\":{\"k\":\"v\",\"gone\":\"x\"},"
                "\"created\":\"2026-01-01T00:00:00+00:00\",\"_version\":5}",
                "{\"id\":\"cus_1\",\"email\":\"b@x.com\",\"name\":\"A\",\"metadata\":{\"k\":\"v\",\"n\":1},"
                "\"created\":\"2026-01-01T00:00:00+00:00\",\"_version\":5}");
    add_capture(&cap, "UPDATE", "{\"id\":\"cus_2\",\"name\":\"same\"}", "{\"id\":\"cus_2\",\"name\":\"same\"}");
    wt_plan p;
    wt_error err;
    assert_int_equal(wt_plan_build(&t, 0, &cap, CLASSIFY_CONFLICT_NONE, NULL, &p, &err), T_OK);
    assert_int_equal(p.matched, 2);
    assert_int_equal(p.n, 1); /* the unchanged row makes no API call */
    assert_int_equal(p.writes[0].op, CONN_WRITE_UPDATE);
    assert_string_equal(p.writes[0].id, "cus_1");
    char *f = json_dumps(p.writes[0].fields, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(f, "{\"email\":\"b@x.com\",\"metadata\":{\"gone\":\"\",\"k\":\"v\",\"n\":\"1\"}}");
    free(f);
    wt_plan_free(&p);
    wt_captures_free(&cap);
    free(s);
}

static void test_read_only_and_limit(void **state)
{
    (void)state;
    conn_schema *s = test_schema();
    wt_target t;
    test_target(&t, s, 2);
    wt_captures cap = {0};
    add_capture(&cap, "UPDATE", "{\"id\":\"cus_1\",\"created\":\"2026-01-01T00:00:00+00:00\"}",
                "{\"id\":\"cus_1\",\"created\":\"2026-02-01T00:00:00+00:00\"}");
    wt_plan p;
    wt_error err;
    assert_int_equal(wt_plan_build(&t, 0, &cap, CLASSIFY_CONFLICT_NONE, NULL, &p, &err), T_ERR);
    assert_string_equal(err.sqlstate, WT_SQLSTATE_READ_ONLY);
    assert_non_null(strstr(err.message, "column \"created\" of stripe.customer is read-only"));
    wt_captures_free(&cap);
    /* an explicit id on a plain INSERT */
    add_capture(&cap, "INSERT", NULL, "{\"id\":\"cus_mine\",\"email\":\"m@x.com\"}");
    assert_int_equal(wt_plan_build(&t, 0, &cap, CLASSIFY_CONFLICT_NONE, NULL, &p, &err), T_ERR);
    assert_string_equal(err.sqlstate, WT_SQLSTATE_READ_ONLY);
    wt_captures_free(&cap);
    /* three rows over a limit of two */
    for (int i = 0; i < 3; i++)
        add_capture(&cap, "DELETE", "{\"id\":\"cus_x\"}", NULL);
    assert_int_equal(wt_plan_build(&t, 0, &cap, CLASSIFY_CONFLICT_NONE, NULL, &p, &err), T_ERR);
    assert_string_equal(err.sqlstate, WT_SQLSTATE_TOO_MANY);
    assert_non_null(strstr(err.message, "at most 2 rows"));
    wt_captures_free(&cap);
    free(s);
}

static void test_create_and_delete(void **state)
{
    (void)state;
    conn_schema *s = test_schema();
    wt_target t;
    test_target(&t, s, 100);
    wt_captures cap = {0};
    add_capture(&cap, "INSERT", NULL,
                "{\"id\":null,\"email\":\"n@x.com\",\"name\":null,\"metadata\":{\"u\":\"1\"},\"_synced_at\":\"2026-01-01T00:00:00+00:00\",\"_version\":0}");
    wt_plan p;
    wt_error err;
    assert_int_equal(wt_plan_build(&t, 0, &cap, CLASSIFY_CONFLICT_NONE, NULL, &p, &err), T_OK);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.writes[0].op, CONN_WRITE_CREATE);
    char *f = json_dumps(p.writes[0].fields, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(f, "{\"email\":\"n@x.com\",\"metadata\":{\"u\":\"1\"}}");
    free(f);
    wt_plan_free(&p);
    wt_captures_free(&cap);
    add_capture(&cap, "DELETE", "{\"id\":\"cus_9\",\"email\":\"d@x.com\"}", NULL);
    assert_int_equal(wt_plan_build(&t, 0, &cap, CLASSIFY_CONFLICT_NONE, NULL, &p, &err), T_OK);
    assert_int_equal(p.writes[0].op, CONN_WRITE_DELETE);
    assert_string_equal(p.writes[0].id, "cus_9");
    assert_null(p.writes[0].fields);
    wt_plan_free(&p);
    wt_captures_free(&cap);
    free(s);
}

static void test_errors(void **state)
{
    (void)state;
    assert_string_equal(wt_error_sqlstate(400), "22023");
    assert_string_equal(wt_error_sqlstate(404), "P0002");
    assert_string_equal(wt_error_sqlstate(401), "28000");
    assert_string_equal(wt_error_sqlstate(429), "53400");
    assert_string_equal(wt_error_sqlstate(0), "08006");
    assert_string_equal(wt_error_sqlstate(503), "08006");
    assert_string_equal(wt_error_sqlstate(418), "XX000");
    conn_api_error ae = {.http_status = 400};
    strcpy(ae.code, "email_invalid");
    strcpy(ae.param, "email");
    strcpy(ae.message, "Invalid email address: new@");
    wt_error e;
    wt_error_from_api(&e, CONN_WRITE_UPDATE, "customer", "cus_123", &ae);
    assert_string_equal(e.message, "Error updating customer cus_123: Invalid email address: new@");
    assert_string_equal(e.detail, "API status 400, code email_invalid, param email");
    assert_string_equal(e.sqlstate, "22023");
    conn_api_error none = {0};
    wt_error_from_api(&e, CONN_WRITE_CREATE, "customer", "", &none);
    assert_string_equal(e.message, "Error creating customer: the API did not answer");
    assert_string_equal(e.sqlstate, "08006");
    assert_true(e.hint[0] != '\0');
}

static void test_guard_settings(void **state)
{
    (void)state;
    const char *yes[] = {"SET tether.write = 'x'", "select set_config('TETHER.CAPTURE','on',false)",
                         "SHOW tether.write", "SET \"tether.write\" TO 'x'"};
    const char *no[] = {"SELECT * FROM _tether.write_audit", "SELECT 'tether.writer'",
                        "SELECT 1", "UPDATE x SET tether_write = 1", ""};
    for (size_t i = 0; i < T_ARRAY_LEN(yes); i++)
        assert_true(wt_guard_mentions_setting(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < T_ARRAY_LEN(no); i++)
        assert_false(wt_guard_mentions_setting(no[i], strlen(no[i])));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_sends_only_changes),
        cmocka_unit_test(test_read_only_and_limit),
        cmocka_unit_test(test_create_and_delete),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_guard_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
