/* test_classify.c - unit tests for the proxy's statement classifier
 * (src/proxy/classify.c) against the real libpg_query parser. */
#include "proxy/classify.h"
#include "util/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static classify_synced_set *test_synced(void)
{
    classify_synced_set *s = classify_synced_set_new();
    assert_non_null(s);
    assert_int_equal(classify_synced_set_add(s, "public", "customers"), T_OK);
    assert_int_equal(classify_synced_set_add(s, "stripe", "invoices"), T_OK);
    assert_int_equal(classify_synced_set_add(s, "Sales", "Account"), T_OK);
    assert_int_equal(classify_synced_set_add(s, "alice", "notes"), T_OK);
    return s;
}

static int setup(void **state)
{
    *state = test_synced();
    return 0;
}

static int teardown(void **state)
{
    classify_synced_set_free(*state);
    return 0;
}

/* Classifies sql with the default path and asserts it parsed. */
static void classify_ok(void **state, const char *sql, classify_result *r)
{
    assert_int_equal(classify_statement(*state, sql, r), T_OK);
    assert_false(r->parse_error);
}

static void test_synced_set(void **state)
{
    classify_synced_set *s = *state;
    assert_true(classify_synced_set_contains(s, "public", "customers"));
    assert_false(classify_synced_set_contains(s, "public", "Customers"));
    assert_false(classify_synced_set_contains(s, "sales", "account"));
    assert_true(classify_synced_set_contains(s, "Sales", "Account"));
    assert_false(classify_synced_set_contains(NULL, "public", "customers"));
    assert_int_equal(classify_synced_set_add(s, "", "x"), T_ERR);
    assert_int_equal(classify_synced_set_add(s, "x", NULL), T_ERR);
    assert_int_equal(classify_synced_set_count(s), 4);
    /* Growth keeps every name. */
    classify_synced_set *big = classify_synced_set_new();
    char t[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(t, sizeof(t), "t%d", i);
        assert_int_equal(classify_synced_set_add(big, "s", t), T_OK);
    }
    assert_int_equal(classify_synced_set_add(big, "s", "t5"), T_OK);
    assert_int_equal(classify_synced_set_count(big), 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(t, sizeof(t), "t%d", i);
        assert_true(classify_synced_set_contains(big, "s", t));
    }
    assert_false(classify_synced_set_contains(big, "s", "t1000"));
    classify_synced_set_free(big);
}

static void test_select_fast_path(void **state)
{
    classify_result r;
    classify_ok(state, "SELECT * FROM customers WHERE id = $1", &r);
    assert_true(r.fast_path);
    assert_int_equal(r.n_stmts, 1);
    assert_int_equal(r.stmts[0].kind, CLASSIFY_SELECT);
    assert_false(r.writes_synced);
    classify_result_free(&r);

    classify_ok(state, "  /* hi /* nested */ */ -- c\n select updated_at from customers;  ", &r);
    assert_true(r.fast_path);
    assert_false(r.writes_synced);
    classify_result_free(&r);

    /* FOR UPDATE is a read, but the keyword sends it to the parser. */
    classify_ok(state, "SELECT * FROM customers FOR UPDATE", &r);
    assert_false(r.fast_path);
    assert_int_equal(r.stmts[0].kind, CLASSIFY_SELECT);
    assert_false(r.stmts[0].writes);
    assert_false(r.writes_synced);
    classify_result_free(&r);

    assert_true(classify_fast_path_read("SHOW search_path"));
    assert_true(classify_fast_path_read("SET search_path = public"));
    assert_true(classify_fast_path_read("BEGIN"));
    assert_true(classify_fast_path_read("commit work"));
    assert_true(classify_fast_path_read("WITH x AS (SELECT 1) SELECT * FROM x"));
    assert_false(classify_fast_path_read("COMMIT PREPARED 'x'"));
    assert_false(classify_fast_path_read("ROLLBACK TO SAVEPOINT a"));
    assert_false(classify_fast_path_read("SELECT 1; SELECT 2"));
    assert_false(classify_fast_path_read("SELECT 'insert'"));
    assert_false(classify_fast_path_read("WITH d AS (DELETE FROM customers RETURNING *) SELECT * FROM d"));
    assert_false(classify_fast_path_read("INSERT INTO customers VALUES (1)"));
    assert_false(classify_fast_path_read("/* unterminated"));
    assert_false(classify_fast_path_read(""));
    assert_false(classify_fast_path_read(NULL));
    /* Identifiers that merely contain a keyword do not disable it. */
    assert_true(classify_fast_path_read("SELECT updated_at, deleted, copy_no FROM t"));
    /* A quoted identifier right after the keyword still counts as a word. */
    assert_false(classify_fast_path_read("SELECT 1 FROM t WHERE x IN (SELECT 1) AND 'a'<>'update\"t\"'"));
}

static void test_insert_qualification(void **state)
{
    classify_result r;
    classify_ok(state, "INSERT INTO customers (id, email) VALUES (1, 'a@b')", &r);
    assert_false(r.fast_path);
    assert_int_equal(r.n_stmts, 1);
    classify_stmt *st = &r.stmts[0];
    assert_int_equal(st->kind, CLASSIFY_INSERT);
    assert_true(st->writes);
    assert_true(st->writes_synced);
    assert_true(r.writes_synced);
    assert_false(st->writes_in_cte);
    assert_false(st->returning);
    assert_int_equal(st->on_conflict, CLASSIFY_CONFLICT_NONE);
    assert_int_equal(st->n_targets, 1);
    assert_string_equal(st->targets[0].schema, "public");
    assert_string_equal(st->targets[0].table, "customers");
    assert_false(st->targets[0].qualified);
    assert_true(st->targets[0].synced);
    classify_result_free(&r);

    /* Case folding: unquoted names are lower-cased by the parser. */
    classify_ok(state, "insert INTO PUBLIC.CUSTOMERS VALUES (1)", &r);
    assert_true(r.writes_synced);
    assert_string_equal(r.stmts[0].targets[0].schema, "public");
    assert_true(r.stmts[0].targets[0].qualified);
    classify_result_free(&r);

    /* Quoted names keep case: "Customers" is another table. */
    classify_ok(state, "INSERT INTO \"Customers\" VALUES (1)", &r);
    assert_true(r.stmts[0].writes);
    assert_false(r.writes_synced);
    assert_string_equal(r.stmts[0].targets[0].table, "Customers");
    classify_result_free(&r);

    classify_ok(state, "UPDATE \"Sales\".\"Account\" SET \"Name\" = 'x'", &r);
    assert_true(r.writes_synced);
    assert_int_equal(r.stmts[0].kind, CLASSIFY_UPDATE);
    classify_result_free(&r);
    classify_ok(state, "UPDATE sales.account SET name = 'x'", &r);
    assert_false(r.writes_synced);
    classify_result_free(&r);

    /* Other schema, same table name. */
    classify_ok(state, "DELETE FROM other.customers", &r);
    assert_true(r.stmts[0].writes);
    assert_false(r.writes_synced);
    assert_string_equal(r.stmts[0].targets[0].schema, "other");
    classify_result_free(&r);

    /* Catalog-qualified names: the catalog is ignored. */
    classify_ok(state, "DELETE FROM db.stripe.invoices WHERE id = 'in_1'", &r);
    assert_true(r.writes_synced);
    assert_string_equal(r.stmts[0].targets[0].schema, "stripe");
    classify_result_free(&r);

    /* Unqualified stripe.invoices is not on the default path. */
    classify_ok(state, "DELETE FROM invoices", &r);
    assert_false(r.writes_synced);
    assert_string_equal(r.stmts[0].targets[0].schema, "public");
    classify_result_free(&r);
}

static void test_search_path(void **state)
{
    classify_result r;
    assert_int_equal(classify_statement_path(*state, "stripe, public", NULL,
                                             "DELETE FROM invoices", &r), T_OK);
    assert_true(r.writes_synced);
    assert_string_equal(r.stmts[0].targets[0].schema, "stripe");
    classify_result_free(&r);

    assert_int_equal(classify_statement_path(*state, "\"$user\", public", "alice",
                                             "UPDATE notes SET x = 1", &r), T_OK);
    assert_true(r.writes_synced);
    assert_string_equal(r.stmts[0].targets[0].schema, "alice");
    classify_result_free(&r);

    /* Without a user, "$user" is skipped. */
    assert_int_equal(classify_statement_path(*state, NULL, NULL, "UPDATE notes SET x = 1", &r),
                     T_OK);
    assert_false(r.writes_synced);
    assert_string_equal(r.stmts[0].targets[0].schema, "public");
    classify_result_free(&r);

    /* Quoted path entries keep case, unquoted ones fold. */
    assert_int_equal(classify_statement_path(*state, "\"Sales\"", NULL,
                                             "INSERT INTO \"Account\" DEFAULT VALUES", &r), T_OK);
    assert_true(r.writes_synced);
    classify_result_free(&r);
    assert_int_equal(classify_statement_path(*state, "Sales", NULL,
                                             "INSERT INTO \"Account\" DEFAULT VALUES", &r), T_OK);
    assert_false(r.writes_synced);
    assert_string_equal(r.stmts[0].targets[0].schema, "sales");
    classify_result_free(&r);

    /* Empty or junk path: unqualified names resolve nowhere. */
    assert_int_equal(classify_statement_path(*state, "", NULL, "DELETE FROM customers", &r),
                     T_OK);
    assert_false(r.writes_synced);
    assert_true(r.stmts[0].writes);
    assert_string_equal(r.stmts[0].targets[0].schema, "");
    classify_result_free(&r);
    assert_int_equal(classify_statement_path(*state, "pg_catalog, ,, \"unterminated", NULL,
                                             "DELETE FROM customers", &r), T_OK);
    assert_false(r.writes_synced);
    classify_result_free(&r);
}

static void test_ctes(void **state)
{
    classify_result r;
    classify_ok(state,
                "WITH d AS (DELETE FROM customers WHERE id = 1 RETURNING *) "
                "SELECT * FROM d",
                &r);
    classify_stmt *st = &r.stmts[0];
    assert_int_equal(st->kind, CLASSIFY_SELECT);
    assert_true(st->writes_synced);
    assert_true(st->writes_in_cte);
    assert_false(st->returning); /* no top-level write */
    assert_int_equal(st->n_targets, 1);
    assert_int_equal(st->targets[0].op, CLASSIFY_DELETE);
    assert_true(st->targets[0].in_cte);
    assert_true(st->targets[0].returning);
    classify_result_free(&r);

    /* Nested: a CTE inside a CTE of an INSERT, plus an UPDATE CTE. */
    classify_ok(state,
                "WITH a AS (UPDATE stripe.invoices SET paid = true RETURNING id), "
                "b AS (WITH c AS (INSERT INTO audit VALUES (1) RETURNING 1) SELECT * FROM c) "
                "INSERT INTO log SELECT id FROM a RETURNING *",
                &r);
    st = &r.stmts[0];
    assert_int_equal(st->kind, CLASSIFY_INSERT);
    assert_int_equal(st->n_targets, 3);
    assert_true(st->writes_synced);
    assert_true(st->writes_in_cte);
    assert_true(st->returning);
    int seen = 0;
    for (size_t i = 0; i < st->n_targets; i++) {
        classify_target *t = &st->targets[i];
        if (strcmp(t->table, "log") == 0) {
            assert_false(t->in_cte);
            assert_false(t->synced);
            seen |= 1;
        } else if (strcmp(t->table, "invoices") == 0) {
            assert_true(t->in_cte);
            assert_true(t->synced);
            assert_int_equal(t->op, CLASSIFY_UPDATE);
            seen |= 2;
        } else if (strcmp(t->table, "audit") == 0) {
            assert_true(t->in_cte);
            assert_int_equal(t->op, CLASSIFY_INSERT);
            seen |= 4;
        }
    }
    assert_int_equal(seen, 7);
    classify_result_free(&r);

    /* A read-only CTE with a keyword in a string is parsed and found harmless. */
    classify_ok(state, "WITH x AS (SELECT 'delete from customers' AS s) SELECT * FROM x", &r);
    assert_false(r.fast_path);
    assert_false(r.stmts[0].writes);
    classify_result_free(&r);

    /* Writes hidden in EXPLAIN ANALYZE run; plain EXPLAIN does not. */
    classify_ok(state, "EXPLAIN ANALYZE DELETE FROM customers", &r);
    assert_int_equal(r.stmts[0].kind, CLASSIFY_EXPLAIN);
    assert_true(r.writes_synced);
    classify_result_free(&r);
    classify_ok(state, "EXPLAIN (ANALYZE false, COSTS off) DELETE FROM customers", &r);
    assert_false(r.writes_synced);
    classify_result_free(&r);
    classify_ok(state, "EXPLAIN (ANALYZE on) DELETE FROM customers", &r);
    assert_true(r.writes_synced);
    classify_result_free(&r);
    classify_ok(state, "EXPLAIN DELETE FROM customers", &r);
    assert_false(r.writes_synced);
    classify_result_free(&r);
}

static void test_on_conflict(void **state)
{
    classify_result r;
    classify_ok(state,
                "INSERT INTO customers (id, email) VALUES (1, 'x') "
                "ON CONFLICT (id, \"Email\") DO UPDATE SET email = excluded.email RETURNING id",
                &r);
    classify_stmt *st = &r.stmts[0];
    assert_int_equal(st->on_conflict, CLASSIFY_CONFLICT_UPDATE);
    assert_true(st->returning);
    assert_int_equal(st->targets[0].n_conflict_columns, 2);
    assert_string_equal(st->targets[0].conflict_columns[0], "id");
    assert_string_equal(st->targets[0].conflict_columns[1], "Email");
    assert_null(st->targets[0].conflict_constraint);
    classify_result_free(&r);

    classify_ok(state, "INSERT INTO customers VALUES (1) ON CONFLICT DO NOTHING", &r);
    assert_int_equal(r.stmts[0].on_conflict, CLASSIFY_CONFLICT_NOTHING);
    assert_int_equal(r.stmts[0].targets[0].n_conflict_columns, 0);
    classify_result_free(&r);

    classify_ok(state,
                "INSERT INTO customers VALUES (1) ON CONFLICT ON CONSTRAINT customers_pkey "
                "DO NOTHING",
                &r);
    assert_int_equal(r.stmts[0].on_conflict, CLASSIFY_CONFLICT_NOTHING);
    assert_string_equal(r.stmts[0].targets[0].conflict_constraint, "customers_pkey");
    classify_result_free(&r);

    /* Expression index element: reported with an empty name. */
    classify_ok(state,
                "INSERT INTO customers VALUES (1) ON CONFLICT (lower(email)) WHERE id > 0 "
                "DO NOTHING",
                &r);
    assert_int_equal(r.stmts[0].targets[0].n_conflict_columns, 1);
    assert_string_equal(r.stmts[0].targets[0].conflict_columns[0], "");
    classify_result_free(&r);
}

static void test_merge_copy_truncate(void **state)
{
    classify_result r;
    classify_ok(state,
                "MERGE INTO customers c USING staging s ON c.id = s.id "
                "WHEN MATCHED THEN UPDATE SET email = s.email "
                "WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.email)",
                &r);
    assert_int_equal(r.stmts[0].kind, CLASSIFY_MERGE);
    assert_true(r.writes_synced);
    assert_int_equal(r.stmts[0].n_targets, 1);
    assert_int_equal(r.stmts[0].targets[0].op, CLASSIFY_MERGE);
    classify_result_free(&r);

    classify_ok(state, "COPY customers (id, email) FROM STDIN WITH (FORMAT csv)", &r);
    assert_int_equal(r.stmts[0].kind, CLASSIFY_COPY_FROM);
    assert_true(r.writes_synced);
    assert_int_equal(r.stmts[0].targets[0].op, CLASSIFY_COPY_FROM);
    classify_result_free(&r);

    classify_ok(state, "COPY customers TO STDOUT", &r);
    assert_int_equal(r.stmts[0].kind, CLASSIFY_COPY_TO);
    assert_false(r.stmts[0].writes);
    classify_result_free(&r);

    classify_ok(state, "COPY (SELECT * FROM customers) TO STDOUT", &r);
    assert_int_equal(r.stmts[0].kind, CLASSIFY_COPY_TO);
    assert_false(r.stmts[0].writes);
    classify_result_free(&r);

    classify_ok(state, "COPY (DELETE FROM customers RETURNING *) TO STDOUT", &r);
    assert_int_equal(r.stmts[0].kind, CLASSIFY_COPY_TO);
    assert_true(r.writes_synced);
    classify_result_free(&r);

    classify_ok(state, "TRUNCATE a, public.customers, ONLY stripe.invoices, \"Sales\".\"Account\" CASCADE",
                &r);
    classify_stmt *st = &r.stmts[0];
    assert_int_equal(st->kind, CLASSIFY_TRUNCATE);
    assert_int_equal(st->n_targets, 4);
    assert_false(st->targets[0].synced);
    assert_true(st->targets[1].synced);
    assert_true(st->targets[2].synced);
    assert_true(st->targets[3].synced);
    assert_int_equal(st->targets[3].op, CLASSIFY_TRUNCATE);
    classify_result_free(&r);

    classify_ok(state, "TRUNCATE TABLE unrelated", &r);
    assert_true(r.stmts[0].writes);
    assert_false(r.writes_synced);
    classify_result_free(&r);
}

static void test_multi_statement(void **state)
{
    const char *sql = "BEGIN; SELECT 1; UPDATE customers SET x = 1 WHERE id = 2;"
                      " SAVEPOINT s; ROLLBACK TO SAVEPOINT s; RELEASE s; COMMIT";
    classify_result r;
    classify_ok(state, sql, &r);
    assert_int_equal(r.n_stmts, 7);
    assert_int_equal(r.stmts[0].kind, CLASSIFY_BEGIN);
    assert_int_equal(r.stmts[1].kind, CLASSIFY_SELECT);
    assert_int_equal(r.stmts[2].kind, CLASSIFY_UPDATE);
    assert_int_equal(r.stmts[3].kind, CLASSIFY_SAVEPOINT);
    assert_int_equal(r.stmts[4].kind, CLASSIFY_ROLLBACK_TO);
    assert_int_equal(r.stmts[5].kind, CLASSIFY_RELEASE);
    assert_int_equal(r.stmts[6].kind, CLASSIFY_COMMIT);
    assert_true(r.writes_synced);
    assert_true(r.stmts[2].writes_synced);
    assert_false(r.stmts[1].writes_synced);
    /* Offsets slice the original text. */
    assert_int_equal(strncmp(sql + r.stmts[2].offset, "UPDATE customers SET x = 1 WHERE id = 2",
                             r.stmts[2].length),
                     0);
    assert_int_equal(r.stmts[2].length, strlen("UPDATE customers SET x = 1 WHERE id = 2"));
    assert_int_equal(strncmp(sql + r.stmts[6].offset, "COMMIT", r.stmts[6].length), 0);
    classify_result_free(&r);

    classify_ok(state, "START TRANSACTION ISOLATION LEVEL SERIALIZABLE; END; ABORT; "
                       "PREPARE TRANSACTION 'g'; COMMIT PREPARED 'g'; ROLLBACK PREPARED 'g'",
                &r);
    assert_int_equal(r.n_stmts, 6);
    assert_int_equal(r.stmts[0].kind, CLASSIFY_BEGIN);
    assert_int_equal(r.stmts[1].kind, CLASSIFY_COMMIT);
    assert_int_equal(r.stmts[2].kind, CLASSIFY_ROLLBACK);
    assert_int_equal(r.stmts[3].kind, CLASSIFY_PREPARE_TRANSACTION);
    assert_int_equal(r.stmts[4].kind, CLASSIFY_COMMIT_PREPARED);
    assert_int_equal(r.stmts[5].kind, CLASSIFY_ROLLBACK_PREPARED);
    classify_result_free(&r);

    /* Empty statements and a lone ';'. */
    classify_ok(state, ";;", &r);
    assert_false(r.writes_synced);
    classify_result_free(&r);
    classify_ok(state, "", &r);
    assert_int_equal(r.n_stmts, 0);
    classify_result_free(&r);
    classify_ok(state, "-- only a comment", &r);
    assert_int_equal(r.n_stmts, 0);
    classify_result_free(&r);

    /* A ';' inside a literal does not split. */
    classify_ok(state, "SELECT 'a;b'; INSERT INTO customers VALUES ('c;d')", &r);
    assert_int_equal(r.n_stmts, 2);
    assert_true(r.stmts[1].writes_synced);
    classify_result_free(&r);
}

static void test_other_kinds(void **state)
{
    static const struct {
        const char *sql;
        classify_kind kind;
        bool writes_synced;
    } cases[] = {
        {"PREPARE p (int) AS DELETE FROM customers WHERE id = $1", CLASSIFY_PREPARE, true},
        {"PREPARE q AS SELECT 1", CLASSIFY_PREPARE, false},
        {"EXECUTE p(1)", CLASSIFY_EXECUTE, false},
        {"DEALLOCATE p", CLASSIFY_DEALLOCATE, false},
        {"DEALLOCATE ALL", CLASSIFY_DEALLOCATE, false},
        {"SET search_path TO stripe, public", CLASSIFY_SET, false},
        {"SHOW ALL", CLASSIFY_SHOW, false},
        {"LISTEN chan", CLASSIFY_LISTEN, false},
        {"NOTIFY chan, 'payload'", CLASSIFY_NOTIFY, false},
        {"CREATE TABLE t (id int)", CLASSIFY_OTHER, false},
        {"ALTER TABLE customers ADD COLUMN x int", CLASSIFY_OTHER, false},
        {"DROP TABLE customers", CLASSIFY_OTHER, false},
        {"DO $$ BEGIN DELETE FROM customers; END $$", CLASSIFY_OTHER, false},
        {"CALL p()", CLASSIFY_OTHER, false},
        {"CREATE TABLE x AS SELECT * FROM customers", CLASSIFY_OTHER, false},
        {"CREATE RULE r AS ON INSERT TO t DO INSTEAD DELETE FROM customers", CLASSIFY_OTHER, false},
        {"CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DELETE FROM customers'",
         CLASSIFY_OTHER, false},
        {"SELECT * INTO newt FROM customers", CLASSIFY_SELECT, false},
        {"VALUES (1), (2)", CLASSIFY_SELECT, false},
        {"TABLE customers", CLASSIFY_SELECT, false},
        {"DECLARE c CURSOR FOR SELECT * FROM customers", CLASSIFY_OTHER, false},
        {"UPDATE customers SET x = (SELECT max(y) FROM stripe.invoices) RETURNING *",
         CLASSIFY_UPDATE, true},
        {"DELETE FROM ONLY customers USING other WHERE other.id = customers.id", CLASSIFY_DELETE,
         true},
        {"INSERT INTO stripe.invoices SELECT * FROM customers", CLASSIFY_INSERT, true},
        {"INSERT INTO other SELECT * FROM stripe.invoices", CLASSIFY_INSERT, false},
    };
    for (size_t i = 0; i < T_ARRAY_LEN(cases); i++) {
        classify_result r;
        classify_ok(state, cases[i].sql, &r);
        if (r.n_stmts != 1 || r.stmts[0].kind != cases[i].kind ||
            r.writes_synced != cases[i].writes_synced)
            fail_msg("%s: got kind %s writes_synced %d (n=%zu)", cases[i].sql,
                     r.n_stmts ? classify_kind_name(r.stmts[0].kind) : "-", r.writes_synced,
                     r.n_stmts);
        classify_result_free(&r);
    }
    classify_result r;
    classify_ok(state, "PREPARE p (int) AS DELETE FROM customers WHERE id = $1", &r);
    assert_string_equal(r.stmts[0].name, "p");
    classify_result_free(&r);
    classify_ok(state, "EXECUTE \"My Stmt\"", &r);
    assert_string_equal(r.stmts[0].name, "My Stmt");
    classify_result_free(&r);
    assert_string_equal(classify_kind_name(CLASSIFY_COPY_FROM), "COPY FROM");
    assert_string_equal(classify_kind_name((classify_kind)999), "UNKNOWN");
}

static void test_garbage(void **state)
{
    static const char *const bad[] = {
        "INSERT INTO", "DELETE customers", "UPDATE SET", "SELEC 1", "MERGE INTO x",
        "'unterminated", "\"unterminated", "$$unterminated", "/* unterminated comment",
        "INSERT INTO customers VALUES (1); GARBAGE", "\x01\x02\x03\xff\xfe", "((((((((",
        "COPY customers FROM", "INSERT INTO customers VALUES (1) ON CONFLICT DO SOMETHING",
        /* PostgreSQL 16+ syntax the v15 grammar rejects */
        "MERGE INTO customers USING s ON true WHEN MATCHED THEN DELETE RETURNING *",
    };
    for (size_t i = 0; i < T_ARRAY_LEN(bad); i++) {
        classify_result r;
        assert_int_equal(classify_statement(*state, bad[i], &r), T_OK);
        if (!r.parse_error)
            fail_msg("expected a parse error for: %s", bad[i]);
        assert_non_null(r.error_message);
        assert_false(r.writes_synced);
        assert_int_equal(r.n_stmts, 0);
        classify_result_free(&r);
    }
    classify_result r;
    assert_int_equal(classify_statement(*state, "INSERT INTO customers VALUES (1); GARBAGE", &r),
                     T_OK);
    assert_true(r.error_cursor > 0);
    classify_result_free(&r);
    assert_int_equal(classify_statement(*state, NULL, &r), T_ERR);
    classify_result_free(&r);
    assert_int_equal(classify_statement(*state, "SELECT 1", NULL), T_ERR);
    /* No synced set: nothing is synced, writes are still seen. */
    assert_int_equal(classify_statement(NULL, "DELETE FROM customers", &r), T_OK);
    assert_true(r.stmts[0].writes);
    assert_false(r.writes_synced);
    classify_result_free(&r);
    classify_result_free(NULL);
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * n + tl + 1);
    assert_non_null(s);
    memcpy(s, head, hl);
    for (size_t i = 0; i < n; i++)
        memcpy(s + hl + i * ul, unit, ul);
    memcpy(s + hl + ul * n, tail, tl + 1);
    return s;
}

static void test_huge_inputs(void **state)
{
    classify_result r;
    /* 0.9 MB of VALUES rows into a synced table. */
    char *sql = repeat("INSERT INTO customers VALUES (0)", ",(12345678)", 80000, "");
    classify_ok(state, sql, &r);
    assert_true(r.writes_synced);
    classify_result_free(&r);
    free(sql);

    /* 20,000 statements. */
    sql = repeat("", "SELECT 1;", 20000, "DELETE FROM customers");
    classify_ok(state, sql, &r);
    assert_int_equal(r.n_stmts, 20001);
    assert_true(r.stmts[20000].writes_synced);
    classify_result_free(&r);
    free(sql);

    /* Deep nesting: the parser refuses it or we walk it without recursion. */
    size_t depth = 5000;
    char *open = repeat("SELECT ", "(", depth, "1");
    char *closed = repeat(open, ")", depth, "");
    assert_int_equal(classify_statement(*state, closed, &r), T_OK);
    assert_false(r.writes_synced);
    classify_result_free(&r);
    free(open);
    free(closed);

    /* Deeply nested data-modifying CTE chain. */
    sql = repeat("", "WITH a AS (SELECT 1) ", 200, "DELETE FROM customers");
    assert_int_equal(classify_statement(*state, sql, &r), T_OK);
    if (!r.parse_error)
        assert_true(r.writes_synced);
    classify_result_free(&r);
    free(sql);

    /* Left-deep expression chains: 500 terms are classified; 30,000 (60 KB)
     * are refused as too deeply nested, quickly and without a crash. */
    sql = repeat("UPDATE customers SET a = 0", "+1", 500, "");
    classify_ok(state, sql, &r);
    assert_true(r.writes_synced);
    classify_result_free(&r);
    free(sql);
    sql = repeat("DELETE FROM customers WHERE 'a' = 'a'", "||'a'", 300, "");
    classify_ok(state, sql, &r);
    assert_true(r.writes_synced);
    classify_result_free(&r);
    free(sql);
    sql = repeat("UPDATE customers SET a = 0", "+1", 30000, "");
    assert_int_equal(classify_statement(*state, sql, &r), T_OK);
    assert_true(r.parse_error);
    assert_false(r.writes_synced);
    assert_non_null(strstr(r.error_message, "too deeply nested"));
    classify_result_free(&r);
    free(sql);
    /* Right-deep ones hit the grammar's own depth limit. */
    sql = repeat("DELETE FROM customers WHERE ", "NOT ", 15000, "true");
    assert_int_equal(classify_statement(*state, sql, &r), T_OK);
    assert_true(r.parse_error);
    classify_result_free(&r);
    free(sql);

    /* Past CLASSIFY_MAX_SQL nothing is parsed: reported, not fatal. */
    sql = repeat("DELETE FROM customers WHERE 1 = 1", " AND 1 = 1", CLASSIFY_MAX_SQL / 10, "");
    assert_int_equal(classify_statement(*state, sql, &r), T_OK);
    assert_true(r.parse_error);
    assert_false(r.writes_synced);
    assert_non_null(strstr(r.error_message, "too large"));
    classify_result_free(&r);
    free(sql);

    /* A 1 MB fast-path read. */
    sql = repeat("SELECT 1", " + 1", 250000, "");
    classify_ok(state, sql, &r);
    assert_true(r.fast_path);
    classify_result_free(&r);
    free(sql);
}

static void test_cache(void **state)
{
    classify_cache *c = classify_cache_new(*state, 2);
    assert_non_null(c);
    assert_null(classify_cache_new(*state, 0));
    const classify_result *r;
    classify_cache_stats st;

    assert_int_equal(classify_cache_get(c, NULL, NULL, "DELETE FROM customers WHERE id = $1", &r),
                     T_OK);
    assert_true(r->writes_synced);
    assert_int_equal(classify_cache_get(c, NULL, NULL, "DELETE FROM customers WHERE id = $1", &r),
                     T_OK);
    assert_true(r->writes_synced);
    classify_cache_stats_get(c, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.entries, 1);

    /* The search path is part of the key. */
    assert_int_equal(classify_cache_get(c, "stripe", NULL, "DELETE FROM invoices", &r), T_OK);
    assert_true(r->writes_synced);
    assert_int_equal(classify_cache_get(c, NULL, NULL, "DELETE FROM invoices", &r), T_OK);
    assert_false(r->writes_synced);
    classify_cache_stats_get(c, &st);
    assert_int_equal(st.misses, 3);
    assert_int_equal(st.evictions, 1); /* capacity 2 */
    assert_int_equal(st.entries, 2);

    /* LRU: touching "stripe" keeps it; the next miss evicts the other. */
    assert_int_equal(classify_cache_get(c, "stripe", NULL, "DELETE FROM invoices", &r), T_OK);
    assert_int_equal(classify_cache_get(c, NULL, NULL, "UPDATE customers SET a = 1", &r), T_OK);
    assert_int_equal(classify_cache_get(c, "stripe", NULL, "DELETE FROM invoices", &r), T_OK);
    classify_cache_stats_get(c, &st);
    assert_int_equal(st.hits, 3);
    assert_int_equal(st.evictions, 2);

    /* Fast-path reads never enter the table. */
    assert_int_equal(classify_cache_get(c, NULL, NULL, "SELECT 1", &r), T_OK);
    assert_true(r->fast_path);
    assert_int_equal(r->stmts[0].kind, CLASSIFY_SELECT);
    classify_cache_stats_get(c, &st);
    assert_int_equal(st.entries, 2);

    /* Parse errors are cached too, and oversized texts are not. */
    assert_int_equal(classify_cache_get(c, NULL, NULL, "INSERT INTO", &r), T_OK);
    assert_true(r->parse_error);
    char *big = repeat("UPDATE customers SET a = 0", ",b=1", CLASSIFY_CACHE_MAX_SQL / 4 + 1, "");
    assert_int_equal(classify_cache_get(c, NULL, NULL, big, &r), T_OK);
    assert_true(r->writes_synced);
    classify_cache_stats_get(c, &st);
    assert_int_equal(st.uncacheable, 1);
    free(big);

    classify_cache_clear(c);
    classify_cache_stats_get(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(classify_cache_get(c, NULL, NULL, NULL, &r), T_ERR);
    assert_null(r);
    classify_cache_free(c);
    classify_cache_free(NULL);

    /* Many distinct statements through a small cache. */
    c = classify_cache_new(*state, 16);
    char sql[64];
    for (int i = 0; i < 500; i++) {
        snprintf(sql, sizeof(sql), "DELETE FROM customers WHERE id = %d", i % 40);
        assert_int_equal(classify_cache_get(c, NULL, NULL, sql, &r), T_OK);
        assert_true(r->writes_synced);
    }
    classify_cache_stats_get(c, &st);
    assert_int_equal(st.entries, 16);
    assert_int_equal(st.hits + st.misses, 500);
    classify_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_synced_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_select_fast_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_qualification, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_on_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_copy_truncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_statement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
