/*
 * test_sync_db.c - the sync engine's Postgres layer against the real server:
 * tables and state are created idempotently; batched upserts keep the newest
 * version (an older or duplicate change never overwrites, an identical row is
 * not rewritten); deletes leave tombstones so replays cannot resurrect rows;
 * embedded children are replaced; new API fields become columns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "connectors/connector.h"
#include "pg/pgconn.h"
#include "sync/sync_db.h"
#include "util/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static PGconn *conn;
static conn_schema *schema;
static const connector_ops *ops;

static int setup(void **state)
{
    char err[T_ERRBUF_SIZE];
    conn = pgconn_connect(getenv("TETHER_TEST_DATABASE_URL"), "test", err, sizeof(err));
    if (!conn)
        return -1;
    schema = calloc(1, sizeof(*schema));
    ops = connector_find("stripe");
    if (ops->describe(NULL, schema, err, sizeof(err)) != T_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    PQfinish(conn);
    free(schema);
    return 0;
}

static char *val(const char *sql)
{
    static char buf[1024];
    PGresult *r = PQexec(conn, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    snprintf(buf, sizeof(buf), "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "<none>");
    PQclear(r);
    return buf;
}

static long apply(conn_changes *ch)
{
    char err[T_ERRBUF_SIZE];
    long written = -1;
    assert_int_equal(pgconn_exec(conn, "BEGIN", err, sizeof(err)), T_OK);
    if (sync_db_apply(conn, "_tether", "stripe", schema, ops, NULL, ch, "tether_read", &written, err,
                      sizeof(err)) != T_OK)
        fail_msg("apply: %s", err);
    assert_int_equal(pgconn_exec(conn, "COMMIT", err, sizeof(err)), T_OK);
    conn_changes_free(ch);
    return written;
}

static void upsert(conn_changes *ch, const char *coll, const char *json, int64_t v)
{
    json_error_t e;
    json_t *o = json_loads(json, 0, &e);
    assert_non_null(o);
    int ci = conn_schema_find(schema, coll);
    conn_changes_push(ch, CONN_UPSERT, (size_t)ci, json_string_value(json_object_get(o, "id")), o, v);
}

static void test_ddl_idempotent(void **state)
{
    char err[T_ERRBUF_SIZE];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sync_db_ensure_state(conn, "_tether", err, sizeof(err)), T_OK);
        if (sync_db_ensure_tables(conn, "stripe", schema, "tether_read", err, sizeof(err)) != T_OK)
            fail_msg("%s", err);
    }
    assert_string_equal(val("SELECT data_type FROM information_schema.columns WHERE table_schema='stripe'"
                            " AND table_name='subscription' AND column_name='current_period_end'"),
                        "timestamp with time zone");
    assert_string_equal(val("SELECT count(*) FROM pg_indexes WHERE schemaname='stripe' AND"
                            " tablename='invoice' AND indexdef LIKE '%(customer_id)'"), "1");
    assert_string_equal(val("SELECT has_table_privilege('tether_read','stripe.event','SELECT')"), "t");
}

static void test_version_guard(void **state)
{
    conn_changes ch = {0};
    upsert(&ch, "customer", "{\"id\":\"cus_1\",\"object\":\"customer\",\"name\":\"A\",\"created\":1700000000,"
                            "\"metadata\":{\"user_id\":\"user_abc\"},\"balance\":5}", 100);
    assert_int_equal(apply(&ch), 1);
    assert_string_equal(val("SELECT name || ' ' || (metadata->>'user_id') || ' ' || balance || ' ' ||"
                            " extract(epoch from created)::bigint FROM stripe.customer WHERE id='cus_1'"),
                        "A user_abc 5 1700000000");
    /* older: ignored */
    upsert(&ch, "customer", "{\"id\":\"cus_1\",\"name\":\"old\"}", 50);
    assert_int_equal(apply(&ch), 0);
    assert_string_equal(val("SELECT name FROM stripe.customer WHERE id='cus_1'"), "A");
    /* same version, same data: not rewritten (xmin unchanged) */
    char xmin[64];
    snprintf(xmin, sizeof(xmin), "%s", val("SELECT xmin FROM stripe.customer WHERE id='cus_1'"));
    upsert(&ch, "customer", "{\"id\":\"cus_1\",\"object\":\"customer\",\"name\":\"A\",\"created\":1700000000,"
                            "\"metadata\":{\"user_id\":\"user_abc\"},\"balance\":5}", 100);
    assert_int_equal(apply(&ch), 0);
    assert_string_equal(val("SELECT xmin FROM stripe.customer WHERE id='cus_1'"), xmin);
    /* newer: applied; within one batch the later change of an id wins */
    upsert(&ch, "customer", "{\"id\":\"cus_1\",\"name\":\"B\"}", 200);
    upsert(&ch, "customer", "{\"id\":\"cus_1\",\"name\":\"C\"}", 200);
    assert_int_equal(apply(&ch), 1);
    assert_string_equal(val("SELECT name || ' ' || _version FROM stripe.customer WHERE id='cus_1'"), "C 200");
    /* a pushed (webhook) change of the same version does not replace the row */
    upsert(&ch, "customer", "{\"id\":\"cus_1\",\"name\":\"late\"}", 200);
    ch.strictly_newer = true;
    assert_int_equal(apply(&ch), 0);
    assert_string_equal(val("SELECT name FROM stripe.customer WHERE id='cus_1'"), "C");
    upsert(&ch, "customer", "{\"id\":\"cus_1\",\"name\":\"D\"}", 201);
    ch.strictly_newer = true;
    assert_int_equal(apply(&ch), 1);
    assert_string_equal(val("SELECT name FROM stripe.customer WHERE id='cus_1'"), "D");
}

static void test_delete_tombstone(void **state)
{
    conn_changes ch = {0};
    int ci = conn_schema_find(schema, "customer");
    upsert(&ch, "customer", "{\"id\":\"cus_2\",\"name\":\"X\"}", 100);
    apply(&ch);
    /* a delete older than the row does not remove it */
    conn_changes_push(&ch, CONN_DELETE, (size_t)ci, "cus_2", NULL, 90);
    assert_int_equal(apply(&ch), 0);
    assert_string_equal(val("SELECT count(*) FROM stripe.customer WHERE id='cus_2'"), "1");
    conn_changes_push(&ch, CONN_DELETE, (size_t)ci, "cus_2", NULL, 300);
    assert_int_equal(apply(&ch), 1);
    /* a replayed older event cannot bring it back */
    upsert(&ch, "customer", "{\"id\":\"cus_2\",\"name\":\"X\"}", 200);
    assert_int_equal(apply(&ch), 0);
    assert_string_equal(val("SELECT count(*) FROM stripe.customer WHERE id='cus_2'"), "0");
    /* create then delete in one batch: deleted */
    upsert(&ch, "customer", "{\"id\":\"cus_3\",\"name\":\"Y\"}", 400);
    conn_changes_push(&ch, CONN_DELETE, (size_t)ci, "cus_3", NULL, 400);
    apply(&ch);
    assert_string_equal(val("SELECT count(*) FROM stripe.customer WHERE id='cus_3'"), "0");
}

static void test_children(void **state)
{
    conn_changes ch = {0};
    int si = conn_schema_find(schema, "subscription_item");
    json_error_t e;
    conn_changes_push(&ch, CONN_CHILDREN, (size_t)si, "sub_1",
                      json_loads("[{\"id\":\"si_1\",\"price\":{\"id\":\"price_1\",\"object\":\"price\"},\"quantity\":2},"
                                 "{\"id\":\"si_2\",\"price\":\"price_2\"}]", 0, &e), 10);
    apply(&ch);
    assert_string_equal(val("SELECT string_agg(id || ':' || subscription_id || ':' || price_id, ',' ORDER BY id)"
                            " FROM stripe.subscription_item"), "si_1:sub_1:price_1,si_2:sub_1:price_2");
    conn_changes_push(&ch, CONN_CHILDREN, (size_t)si, "sub_1", json_loads("[{\"id\":\"si_2\"}]", 0, &e), 20);
    apply(&ch);
    assert_string_equal(val("SELECT string_agg(id, ',') FROM stripe.subscription_item"), "si_2");
    /* the older list replayed: si_1 stays gone */
    conn_changes_push(&ch, CONN_CHILDREN, (size_t)si, "sub_1",
                      json_loads("[{\"id\":\"si_1\"},{\"id\":\"si_2\"}]", 0, &e), 10);
    apply(&ch);
    assert_string_equal(val("SELECT string_agg(id, ',') FROM stripe.subscription_item"), "si_2");
}

static void test_new_field_becomes_column(void **state)
{
    conn_changes ch = {0};
    upsert(&ch, "product", "{\"id\":\"prod_1\",\"name\":\"P\",\"loyalty_tier\":\"gold\",\"launch_at\":1700000000,"
                           "\"labels\":[\"a\",\"b\"],\"supplier\":\"acct_1234567890\",\"later\":null}", 10);
    apply(&ch);
    assert_string_equal(val("SELECT loyalty_tier || ' ' || extract(epoch from launch_at)::bigint || ' ' ||"
                            " array_to_string(labels, '+') || ' ' || supplier_id FROM stripe.product"),
                        "gold 1700000000 a+b acct_1234567890");
    assert_string_equal(val("SELECT count(*) FROM information_schema.columns WHERE table_schema='stripe'"
                            " AND table_name='product' AND column_name='later'"), "0");
    assert_string_equal(val("SELECT has_column_privilege('tether_read','stripe.product','loyalty_tier','SELECT')"), "t");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ddl_idempotent),
        cmocka_unit_test(test_version_guard),
        cmocka_unit_test(test_delete_tombstone),
        cmocka_unit_test(test_children),
        cmocka_unit_test(test_new_field_becomes_column),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
