/*
 * test_connector_stripe.c - the Stripe connector without the network: its
 * collections and typed columns, events turned into changes (upserts,
 * deletes, canceled subscriptions, embedded children, unknown types, junk),
 * typing of fields Stripe adds later, and form encoding for writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "connectors/connector.h"
#include "connectors/stripe/stripe.h"
#include "util/common.h"

#include <stdlib.h>
#include <string.h>

static conn_schema *schema;

static int setup(void **state)
{
    schema = calloc(1, sizeof(*schema));
    char err[T_ERRBUF_SIZE];
    const connector_ops *ops = connector_find("stripe");
    if (!ops || ops->describe(NULL, schema, err, sizeof(err)) != T_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    free(schema);
    return 0;
}

static const conn_collection *coll(const char *name)
{
    int i = conn_schema_find(schema, name);
    assert_true(i >= 0);
    return &schema->colls[i];
}

static void test_describe(void **state)
{
    const char *names[] = {"customer", "product", "price", "subscription", "subscription_item",
                           "invoice", "invoice_line_item", "charge", "payment_intent", "event"};
    for (size_t i = 0; i < T_ARRAY_LEN(names); i++)
        coll(names[i]);
    assert_null(connector_find("nosuch"));
    const conn_column *c = conn_collection_column(coll("subscription"), "customer_id");
    assert_non_null(c);
    assert_int_equal(c->src, CONN_SRC_REF);
    assert_string_equal(c->field, "customer");
    assert_int_equal(conn_collection_column(coll("customer"), "created")->type, CONN_TIMESTAMPTZ);
    assert_int_equal(conn_collection_column(coll("customer"), "metadata")->type, CONN_JSONB);
    assert_int_equal(conn_collection_column(coll("price"), "unit_amount")->type, CONN_BIGINT);
    assert_string_equal(coll("subscription_item")->parent, "subscription");
    assert_false(coll("subscription_item")->backfill);
    assert_true(coll("customer")->backfill);
    assert_false(coll("event")->backfill);
}

static json_t *ev(const char *json)
{
    json_error_t e;
    json_t *j = json_loads(json, 0, &e);
    assert_non_null(j);
    return j;
}

static void test_event_upsert_and_children(void **state)
{
    json_t *e = ev("{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"customer.subscription.updated\","
                   "\"created\":1700000000,\"data\":{\"object\":{\"id\":\"sub_1\",\"object\":\"subscription\","
                   "\"customer\":\"cus_1\",\"items\":{\"object\":\"list\",\"has_more\":false,\"data\":["
                   "{\"id\":\"si_1\",\"object\":\"subscription_item\"}]}}}}");
    conn_changes ch = {0};
    assert_int_equal(stripe_event_to_changes(schema, e, &ch), T_OK);
    assert_int_equal(ch.n, 3);
    assert_int_equal(ch.items[0].coll, (size_t)conn_schema_find(schema, "event"));
    assert_string_equal(ch.items[0].event_id, "evt_1");
    assert_int_equal(ch.items[1].kind, CONN_UPSERT);
    assert_string_equal(ch.items[1].id, "sub_1");
    assert_int_equal(ch.items[1].version, 1700000000);
    assert_int_equal(ch.items[2].kind, CONN_CHILDREN);
    assert_string_equal(ch.items[2].id, "sub_1");
    assert_int_equal(json_array_size(ch.items[2].object), 1);
    conn_changes_free(&ch);
    json_decref(e);
}

static void test_event_delete_and_canceled(void **state)
{
    json_t *e = ev("{\"id\":\"evt_2\",\"object\":\"event\",\"type\":\"customer.deleted\",\"created\":5,"
                   "\"data\":{\"object\":{\"id\":\"cus_1\",\"object\":\"customer\"}}}");
    conn_changes ch = {0};
    assert_int_equal(stripe_event_to_changes(schema, e, &ch), T_OK);
    assert_int_equal(ch.n, 2);
    assert_int_equal(ch.items[1].kind, CONN_DELETE);
    assert_string_equal(ch.items[1].id, "cus_1");
    conn_changes_free(&ch);
    json_decref(e);
    /* Stripe keeps a "deleted" (canceled) subscription: it is an update */
    e = ev("{\"id\":\"evt_3\",\"object\":\"event\",\"type\":\"customer.subscription.deleted\",\"created\":5,"
           "\"data\":{\"object\":{\"id\":\"sub_1\",\"object\":\"subscription\",\"status\":\"canceled\"}}}");
    assert_int_equal(stripe_event_to_changes(schema, e, &ch), T_OK);
    assert_int_equal(ch.items[1].kind, CONN_UPSERT);
    conn_changes_free(&ch);
    json_decref(e);
    /* a deleted invoice takes its lines with it */
    e = ev("{\"id\":\"evt_4\",\"object\":\"event\",\"type\":\"invoice.deleted\",\"created\":5,"
           "\"data\":{\"object\":{\"id\":\"in_1\",\"object\":\"invoice\"}}}");
    assert_int_equal(stripe_event_to_changes(schema, e, &ch), T_OK);
    assert_int_equal(ch.n, 3);
    assert_int_equal(ch.items[2].kind, CONN_CHILDREN);
    assert_int_equal(json_array_size(ch.items[2].object), 0);
    conn_changes_free(&ch);
    json_decref(e);
}

static void test_event_unknown_and_junk(void **state)
{
    conn_changes ch = {0};
    json_t *e = ev("{\"id\":\"evt_5\",\"object\":\"event\",\"type\":\"payout.paid\",\"created\":5,"
                   "\"data\":{\"object\":{\"id\":\"po_1\",\"object\":\"payout\"}}}");
    assert_int_equal(stripe_event_to_changes(schema, e, &ch), T_OK);
    assert_int_equal(ch.n, 1); /* the event log row only */
    conn_changes_free(&ch);
    json_decref(e);
    const char *junk[] = {"{}", "[]", "{\"id\":\"evt_6\",\"object\":\"event\",\"type\":\"x\"}",
                          "{\"id\":\"evt_7\",\"object\":\"customer\",\"type\":\"x\",\"data\":{\"object\":{}}}",
                          "{\"id\":7,\"object\":\"event\",\"type\":\"x\",\"data\":{\"object\":{}}}"};
    for (size_t i = 0; i < T_ARRAY_LEN(junk); i++) {
        e = ev(junk[i]);
        assert_int_equal(stripe_event_to_changes(schema, e, &ch), T_ERR);
        json_decref(e);
    }
    assert_int_equal(ch.n, 0);
    conn_changes_free(&ch);
}

static void test_infer_column(void **state)
{
    conn_column col;
    const conn_collection *c = coll("customer");
    json_t *v = json_string("cus_ABCDEFGH12");
    assert_int_equal(stripe_infer_column(NULL, c, "parent_customer", v, &col), T_OK);
    assert_string_equal(col.name, "parent_customer_id");
    assert_int_equal(col.src, CONN_SRC_REF);
    json_decref(v);
    v = json_integer(1700000000);
    assert_int_equal(stripe_infer_column(NULL, c, "trial_ends_at", v, &col), T_OK);
    assert_int_equal(col.type, CONN_TIMESTAMPTZ);
    assert_int_equal(stripe_infer_column(NULL, c, "loyalty_points", v, &col), T_OK);
    assert_int_equal(col.type, CONN_BIGINT);
    json_decref(v);
    v = json_pack("[ss]", "a", "b");
    assert_int_equal(stripe_infer_column(NULL, c, "tags", v, &col), T_OK);
    assert_int_equal(col.type, CONN_TEXT_ARRAY);
    json_decref(v);
    v = json_string("past_due");
    assert_int_equal(stripe_infer_column(NULL, c, "state", v, &col), T_OK);
    assert_int_equal(col.src, CONN_SRC_VALUE);
    assert_int_equal(stripe_infer_column(NULL, c, "Bad-Name", v, &col), T_ERR);
    assert_int_equal(stripe_infer_column(NULL, c, "object", v, &col), T_ERR);
    json_decref(v);
    assert_int_equal(stripe_infer_column(NULL, c, "nothing_yet", json_null(), &col), T_ERR);
    v = json_object();
    assert_int_equal(stripe_infer_column(NULL, coll("subscription"), "items", v, &col), T_ERR);
    json_decref(v);
}

static void test_form_encode(void **state)
{
    json_t *f = json_pack("{s:s,s:{s:s},s:[{s:s}],s:i,s:b,s:n}", "email", "a b@x.com", "metadata",
                          "user_id", "u&1", "items", "price", "price_1", "amount", 42, "flag", 1,
                          "gone");
    char *s = stripe_form_encode(f);
    assert_non_null(strstr(s, "email=a%20b%40x.com"));
    assert_non_null(strstr(s, "metadata%5Buser_id%5D=u%261"));
    assert_non_null(strstr(s, "items%5B0%5D%5Bprice%5D=price_1"));
    assert_non_null(strstr(s, "amount=42"));
    assert_non_null(strstr(s, "flag=true"));
    assert_non_null(strstr(s, "gone="));
    free(s);
    json_decref(f);
}

static void test_cursor_parse(void **state)
{
    stripe_cursor c;
    stripe_cursor_parse("", &c);
    assert_int_equal(c.kind, STRIPE_CUR_EMPTY);
    stripe_cursor_parse(NULL, &c);
    assert_int_equal(c.kind, STRIPE_CUR_EMPTY);
    stripe_cursor_parse("cus_123@1700000000", &c);
    assert_int_equal(c.kind, STRIPE_CUR_AFTER);
    assert_string_equal(c.id, "cus_123");
    assert_int_equal(c.created, 1700000000);
    stripe_cursor_parse("A:1700000000:prod_9:prod_3", &c);
    assert_int_equal(c.kind, STRIPE_CUR_ANCHOR);
    assert_string_equal(c.top, "prod_9");
    assert_string_equal(c.after, "prod_3");
    const char *bad[] = {"@12", "A:", "A:1:x", "A:0:x:y", "A:1::y", "cus_1"};
    for (size_t i = 0; i < T_ARRAY_LEN(bad); i++) {
        stripe_cursor_parse(bad[i], &c);
        assert_int_equal(c.kind, STRIPE_CUR_EMPTY);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_event_upsert_and_children),
        cmocka_unit_test(test_event_delete_and_canceled),
        cmocka_unit_test(test_event_unknown_and_junk),
        cmocka_unit_test(test_infer_column),
        cmocka_unit_test(test_form_encode),
        cmocka_unit_test(test_cursor_parse),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
