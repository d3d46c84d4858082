/*
 * test_connector_salesforce.c - the Salesforce connector's pure parts:
 * snake_case names, describe types -> column types (DESIGN.md section 2),
 * a describe body -> a collection, date-times, backfill cursors and error
 * bodies, including malformed input. No network, no database.
 */
#include "connectors/salesforce/salesforce.h"
#include "util/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void snake(const char *in, const char *want)
{
    char out[64];
    sf_snake_case(in, out, sizeof(out));
    assert_string_equal(out, want);
}

static void test_snake_case(void **state)
{
    (void)state;
    snake("LastName", "last_name");
    snake("Region__c", "region__c");
    snake("Invoice__c", "invoice__c");
    snake("Paid_At__c", "paid_at__c");
    snake("CreatedById", "created_by_id");
    snake("SystemModstamp", "system_modstamp");
    snake("IsDeleted", "is_deleted");
    snake("HTMLBody", "html_body");
    snake("MailingAddress", "mailing_address");
    snake("Account", "account");
    snake("OpportunityLineItem", "opportunity_line_item");
    snake("Name2Go", "name2_go");
    snake("", "");
    snake("a b-c", "a_b_c");
    char tiny[4];
    sf_snake_case("VeryLongFieldName", tiny, sizeof(tiny));
    assert_int_equal(strlen(tiny), 3);
}

static void test_types(void **state)
{
    (void)state;
    static const struct {
        const char *sf;
        conn_coltype want;
    } cases[] = {
        {"string", CONN_TEXT},     {"email", CONN_TEXT},       {"picklist", CONN_TEXT},
        {"phone", CONN_TEXT},      {"textarea", CONN_TEXT},    {"id", CONN_TEXT},
        {"reference", CONN_TEXT},  {"url", CONN_TEXT},         {"datetime", CONN_TIMESTAMPTZ},
        {"date", CONN_DATE},       {"double", CONN_NUMERIC},   {"currency", CONN_NUMERIC},
        {"percent", CONN_NUMERIC}, {"int", CONN_BIGINT},       {"boolean", CONN_BOOL},
        {"address", CONN_JSONB},   {"something_new", CONN_TEXT},
    };
    for (size_t i = 0; i < T_ARRAY_LEN(cases); i++) {
        conn_coltype t;
        assert_true(sf_field_coltype(cases[i].sf, &t));
        assert_int_equal(t, cases[i].want);
    }
    conn_coltype t;
    assert_false(sf_field_coltype("base64", &t));
    assert_false(sf_field_coltype(NULL, &t));
}

static void test_describe(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *d = json_loads(
        "{\"name\":\"Invoice__c\",\"custom\":true,\"fields\":["
        "{\"name\":\"Id\",\"type\":\"id\"},"
        "{\"name\":\"Amount__c\",\"type\":\"currency\"},"
        "{\"name\":\"Due_Date__c\",\"type\":\"date\"},"
        "{\"name\":\"Paid_At__c\",\"type\":\"datetime\"},"
        "{\"name\":\"Paid__c\",\"type\":\"boolean\",\"createable\":true,\"updateable\":true},"
        "{\"name\":\"CreatedDate\",\"type\":\"datetime\",\"createable\":false,\"updateable\":false},"
        "{\"name\":\"Origin__c\",\"type\":\"string\",\"createable\":true,\"updateable\":false},"
        "{\"name\":\"Body\",\"type\":\"base64\"},"
        "{\"name\":42,\"type\":\"string\"},"
        "{\"type\":\"string\"},"
        "{\"name\":\"Account__c\",\"type\":\"reference\"}]}",
        0, &jerr);
    assert_non_null(d);
    static conn_collection c;
    assert_int_equal(sf_collection_from_describe(d, &c), T_OK);
    assert_string_equal(c.name, "invoice__c");
    assert_string_equal(c.object_type, "Invoice__c");
    assert_true(c.backfill);
    assert_int_equal(c.ncols, 7);
    /* describe's createable/updateable: what the proxy may send */
    assert_false(conn_collection_column(&c, "paid__c")->no_create);
    assert_false(conn_collection_column(&c, "paid__c")->no_update);
    assert_true(conn_collection_column(&c, "created_date")->no_create);
    assert_true(conn_collection_column(&c, "created_date")->no_update);
    assert_false(conn_collection_column(&c, "origin__c")->no_create);
    assert_true(conn_collection_column(&c, "origin__c")->no_update);
    assert_false(conn_collection_column(&c, "amount__c")->no_update); /* flags absent: writable */
    const conn_column *col = conn_collection_column(&c, "amount__c");
    assert_non_null(col);
    assert_string_equal(col->field, "Amount__c");
    assert_int_equal(col->type, CONN_NUMERIC);
    assert_int_equal(conn_collection_column(&c, "paid_at__c")->type, CONN_TIMESTAMPTZ);
    assert_int_equal(conn_collection_column(&c, "due_date__c")->type, CONN_DATE);
    assert_null(conn_collection_column(&c, "id"));
    assert_null(conn_collection_column(&c, "body"));
    json_decref(d);

    /* not a describe */
    json_t *bad = json_loads("{\"name\":\"X\"}", 0, &jerr);
    assert_int_equal(sf_collection_from_describe(bad, &c), T_ERR);
    json_decref(bad);
    bad = json_loads("[1,2]", 0, &jerr);
    assert_int_equal(sf_collection_from_describe(bad, &c), T_ERR);
    json_decref(bad);
    assert_int_equal(sf_collection_from_describe(NULL, &c), T_ERR);
}

static void test_datetime(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(sf_parse_datetime("2024-01-01T00:00:00.000+0000", &ms), T_OK);
    assert_int_equal(ms, 1704067200000LL);
    assert_int_equal(sf_parse_datetime("2024-01-01T00:00:00.123Z", &ms), T_OK);
    assert_int_equal(ms, 1704067200123LL);
    assert_int_equal(sf_parse_datetime("2024-01-01T01:00:00+01:00", &ms), T_OK);
    assert_int_equal(ms, 1704067200000LL);
    assert_int_equal(sf_parse_datetime("2024-01-01T00:00:00.5-0130", &ms), T_OK);
    assert_int_equal(ms, 1704067200500LL + 5400000LL);
    char out[40];
    sf_format_datetime(1704067200123LL, out, sizeof(out));
    assert_string_equal(out, "2024-01-01T00:00:00.123Z");
    const char *bad[] = {"", "2024-01-01", "2024-13-01T00:00:00Z", "2024-01-01T00:00:00",
                         "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00Zjunk", "2024-01-01 00:00:00Z",
                         "2024-01-01T00:00:00+1", "abcd-01-01T00:00:00Z", NULL};
    for (size_t i = 0; bad[i]; i++)
        assert_int_equal(sf_parse_datetime(bad[i], &ms), T_ERR);
    assert_int_equal(sf_parse_datetime(NULL, &ms), T_ERR);
}

static void test_cursor(void **state)
{
    (void)state;
    int64_t ms;
    char id[32];
    assert_int_equal(sf_cursor_parse("1704067200123|003Dn000000001AAAA", &ms, id, sizeof(id)), T_OK);
    assert_int_equal(ms, 1704067200123LL);
    assert_string_equal(id, "003Dn000000001AAAA");
    assert_int_equal(sf_cursor_parse("5|001Dn0000000001", &ms, id, sizeof(id)), T_OK);
    const char *bad[] = {"", "|003Dn000000001AAAA", "12|", "12|003' OR Id != '", "x1|003Dn000000001AAAA",
                         "12|003Dn000000001AAA", "99999999999999999999|003Dn000000001AAAA", "12", NULL};
    for (size_t i = 0; bad[i]; i++)
        assert_int_equal(sf_cursor_parse(bad[i], &ms, id, sizeof(id)), T_ERR);
    assert_int_equal(sf_cursor_parse(NULL, &ms, id, sizeof(id)), T_ERR);
}

static void test_errors(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *b = json_loads("[{\"message\":\"Email: invalid email address: bad@\","
                           "\"errorCode\":\"INVALID_EMAIL_ADDRESS\",\"fields\":[\"Email\"]}]",
                           0, &jerr);
    conn_api_error e;
    sf_error_from_body(400, b, &e);
    assert_int_equal(e.http_status, 400);
    assert_string_equal(e.code, "INVALID_EMAIL_ADDRESS");
    assert_string_equal(e.param, "Email");
    assert_string_equal(e.message, "Email: invalid email address: bad@");
    json_decref(b);
    b = json_loads("[{\"message\":\"m\",\"errorCode\":\"REQUIRED_FIELD_MISSING\",\"fields\":[\"LastName\",\"Company\"]}]",
                   0, &jerr);
    sf_error_from_body(400, b, &e);
    assert_string_equal(e.param, "LastName,Company");
    json_decref(b);
    b = json_loads("{\"error\":\"invalid_grant\",\"error_description\":\"authentication failure\"}", 0, &jerr);
    sf_error_from_body(400, b, &e);
    assert_string_equal(e.code, "invalid_grant");
    assert_string_equal(e.message, "authentication failure");
    json_decref(b);
    sf_error_from_body(502, NULL, &e);
    assert_int_equal(e.http_status, 502);
    assert_string_equal(e.code, "");
    assert_string_equal(e.message, "request failed");
}

static void test_registered(void **state)
{
    (void)state;
    const connector_ops *ops = connector_find("salesforce");
    assert_non_null(ops);
    assert_string_equal(ops->source, "salesforce");
    assert_non_null(ops->apply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snake_case), cmocka_unit_test(test_types),
        cmocka_unit_test(test_describe),   cmocka_unit_test(test_datetime),
        cmocka_unit_test(test_cursor),     cmocka_unit_test(test_errors),
        cmocka_unit_test(test_registered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
