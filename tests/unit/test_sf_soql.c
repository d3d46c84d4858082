/*
 * test_sf_soql.c - the Salesforce emulator's SOQL parser and executor:
 * accepted grammar, and hostile input (deep nesting, huge literals, garbage)
 * that must end in MALFORMED_QUERY-style errors, never a crash.
 */
#include "emulators/salesforce/sf_query.h"
#include "emulators/salesforce/sf_soql.h"
#include "util/iso_time.h"
#include "util/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static sf_soql_query *parse_ok(const char *text)
{
    sf_soql_query *q = NULL;
    char err[256];
    int rc = sf_soql_parse(text, &q, err, sizeof(err));
    if (rc != T_OK)
        fail_msg("parse failed for [%s]: %s", text, err);
    return q;
}

static void parse_bad(const char *text)
{
    sf_soql_query *q = NULL;
    char err[256];
    assert_int_equal(sf_soql_parse(text, &q, err, sizeof(err)), T_ERR);
    assert_null(q);
    assert_true(err[0] != '\0');
}

static void test_parse_full(void **state)
{
    sf_soql_query *q = parse_ok(
        "select Id, Name, Account.Name FROM Contact WHERE (Email != null AND NOT Name LIKE "
        "'a\\%b%') OR Region__c IN ('EMEA', 'APAC') AND SystemModstamp >= "
        "2024-01-01T00:00:00Z ORDER BY LastName DESC NULLS FIRST, Id LIMIT 10 OFFSET 5");
    assert_int_equal(q->nfields, 3);
    assert_string_equal(q->fields[2], "Account.Name");
    assert_string_equal(q->object, "Contact");
    assert_int_equal(q->where->op, SF_OP_OR);
    assert_int_equal(q->where->rhs->op, SF_OP_AND);
    assert_int_equal(q->where->rhs->lhs->op, SF_OP_IN);
    assert_int_equal(q->where->rhs->lhs->nvalues, 2);
    assert_int_equal(q->where->rhs->rhs->values[0].kind, SF_LIT_DATETIME);
    assert_int_equal(q->where->rhs->rhs->values[0].ms, 1704067200000LL);
    assert_int_equal(q->norder, 2);
    assert_true(q->order[0].desc);
    assert_false(q->order[0].nulls_last);
    assert_false(q->order[1].desc);
    assert_int_equal(q->limit, 10);
    assert_int_equal(q->offset, 5);
    sf_soql_free(q);

    q = parse_ok("SELECT COUNT() FROM Lead");
    assert_true(q->count);
    sf_soql_free(q);
    q = parse_ok("SELECT count FROM Lead WHERE Amount > -1.5 AND IsDeleted = TRUE "
                 "AND CloseDate < 2024-02-29 AND x <> 'it\\'s'");
    assert_string_equal(q->where->rhs->values[0].text, "it's");
    sf_soql_free(q);
}

static void test_parse_offsets(void **state)
{
    sf_soql_query *q = parse_ok("SELECT Id FROM A WHERE SystemModstamp > 2024-01-01T01:00:00+01:00");
    assert_int_equal(q->where->values[0].ms, 1704067200000LL);
    sf_soql_free(q);
    q = parse_ok("SELECT Id FROM A WHERE SystemModstamp > 2024-01-01T00:00:00.250Z");
    assert_int_equal(q->where->values[0].ms, 1704067200250LL);
    sf_soql_free(q);
}

static void test_parse_garbage(void **state)
{
    static const char *const bad[] = {
        "", "SELECT", "SELECT FROM Contact", "SELECT Id", "SELECT Id FROM", "SELEC Id FROM A",
        "SELECT Id, FROM A", "SELECT Id FROM A WHERE", "SELECT Id FROM A WHERE x =",
        "SELECT Id FROM A WHERE x = 'unterminated", "SELECT Id FROM A WHERE (x = 1",
        "SELECT Id FROM A WHERE x = 1)", "SELECT Id FROM A WHERE x IN ()",
        "SELECT Id FROM A WHERE x IN (1,", "SELECT Id FROM A LIMIT -1", "SELECT Id FROM A LIMIT x",
        "SELECT Id FROM A LIMIT 99999999999999999999", "SELECT Id FROM A ORDER Id",
        "SELECT Id FROM A WHERE x = 2024-13-01", "SELECT Id FROM A WHERE x = 2024-01-01T25:00:00Z",
        "SELECT Id FROM A WHERE x = 2024-01-01T00:00:00", "SELECT Id FROM A WHERE x = 1.2.3",
        "SELECT Id FROM A WHERE x LIKE 3", "SELECT Id FROM A trailing", "SELECT Id FROM A.B",
        "SELECT Id FROM A WHERE x = 'bad \\q escape'", "SELECT Id FROM A WHERE AND",
        "SELECT Id FROM A WHERE NOT", "\x01\x02\xff", "SELECT . FROM A", "SELECT Id. FROM A",
        "SELECT Id FROM A WHERE x = @", "SELECT Id FROM A WHERE x === 1", "SELECT Id FROM A WHERE x = 'it''s'",
    };
    for (size_t i = 0; i < T_ARRAY_LEN(bad); i++)
        parse_bad(bad[i]);
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
    size_t len = strlen(head) + strlen(unit) * n + strlen(tail) + 1;
    char *s = malloc(len);
    assert_non_null(s);
    strcpy(s, head);
    char *p = s + strlen(head);
    for (size_t i = 0; i < n; i++, p += strlen(unit))
        memcpy(p, unit, strlen(unit));
    strcpy(p, tail);
    return s;
}

static void test_hostile(void **state)
{
    /* Deep nesting: fails cleanly instead of exhausting the stack. */
    char *deep = repeat("SELECT Id FROM A WHERE ", "(", 50000, "x = 1");
    parse_bad(deep);
    free(deep);
    char *nots = repeat("SELECT Id FROM A WHERE ", "NOT ", 50000, "x = 1");
    parse_bad(nots);
    free(nots);
    /* Nesting within the limit parses. */
    char *ok = repeat("SELECT Id FROM A WHERE ", "(", 20, "x = 1))))))))))))))))))))");
    sf_soql_query *q = parse_ok(ok);
    sf_soql_free(q);
    free(ok);
    /* A long AND chain beyond the condition limit. */
    char *chain = repeat("SELECT Id FROM A WHERE x = 1", " AND x = 1", 5000, "");
    parse_bad(chain);
    free(chain);
    /* A huge string literal within the length limit parses; beyond it fails. */
    char *lit = repeat("SELECT Id FROM A WHERE x = '", "a", 90000, "'");
    q = parse_ok(lit);
    assert_int_equal(strlen(q->where->values[0].text), 90000);
    sf_soql_free(q);
    free(lit);
    char *big = repeat("SELECT Id FROM A WHERE x = '", "a", SF_SOQL_MAX_LEN, "'");
    parse_bad(big);
    free(big);
    char *fields = repeat("SELECT Id", ", Id", 2000, " FROM A");
    parse_bad(fields);
    free(fields);
    char *in = repeat("SELECT Id FROM A WHERE x IN ('a'", ",'a'", 1500, ")");
    parse_bad(in);
    free(in);
    char *num = repeat("SELECT Id FROM A WHERE x = ", "9", 5000, "");
    q = parse_ok(num);
    sf_soql_free(q);
    free(num);
}

static void run_query(sf_store *st, sf_query_engine *qe, const char *soql, const char *code,
                      json_int_t total)
{
    json_t *out = NULL;
    sf_error err;
    int rc = sf_query_run(st, qe, soql, false, 2000, "59.0", &out, &err);
    if (code) {
        assert_int_equal(rc, T_ERR);
        assert_string_equal(err.code, code);
        assert_int_equal(err.status, 400);
        assert_null(out);
        return;
    }
    if (rc != T_OK)
        fail_msg("query [%s] failed: %s %s", soql, err.code, err.message);
    assert_int_equal(json_integer_value(json_object_get(out, "totalSize")), total);
    json_decref(out);
}

static void test_execute(void **state)
{
    sf_store st;
    sf_query_engine qe = {0};
    assert_int_equal(sf_store_init(&st, "u@example.com"), T_OK);
    sf_store_backdate(&st, 3100);
    assert_int_equal(sf_store_seed(&st, sf_schema_object("Account"), 100), T_OK);
    assert_int_equal(sf_store_seed(&st, sf_schema_object("Contact"), 3000), T_OK);
    run_query(&st, &qe, "SELECT Id FROM Contact", NULL, 3000);
    run_query(&st, &qe, "SELECT Id FROM Contact WHERE Region__c = 'emea'", NULL, 1000);
    run_query(&st, &qe, "SELECT Id FROM Contact WHERE LastName LIKE 'last1_'", NULL, 10);
    run_query(&st, &qe, "SELECT Id FROM Contact WHERE NOT (LastName LIKE 'Last1%')", NULL, 1889);
    run_query(&st, &qe, "SELECT Id FROM Contact WHERE SystemModstamp > 2000-01-01T00:00:00Z "
                        "ORDER BY SystemModstamp LIMIT 5", NULL, 5);
    run_query(&st, &qe, "SELECT Id FROM Account WHERE Name IN ('Account 1', 'Account 2') OR "
                        "Name = null", NULL, 2);
    run_query(&st, &qe, "SELECT COUNT() FROM Contact WHERE IsDeleted = false", NULL, 3000);
    run_query(&st, &qe, "SELECT Id FROM Contact ORDER BY Email DESC, Id OFFSET 2990", NULL, 10);
    /* Lower bounds that let the scan start late give the same answers. */
    sf_table *ct = sf_store_table(&st, sf_schema_object("Contact"));
    char soql[256], stamp[ISO_TIME_BUFLEN], id[SF_ID_LEN + 1];
    iso_time_format_sf(ct->recs[2899].stamp, stamp);
    stamp[19] = '\0'; /* whole seconds: the literal drops the milliseconds */
    int64_t cut;
    snprintf(soql, sizeof(soql), "%sZ", stamp);
    assert_int_equal(iso_time_parse(soql, 1, &cut), T_OK);
    json_int_t want = 0;
    for (uint32_t i = 0; i < ct->n; i++)
        want += ct->recs[i].stamp > cut;
    snprintf(soql, sizeof(soql), "SELECT Id FROM Contact WHERE SystemModstamp > %sZ AND "
             "LastName != null ORDER BY SystemModstamp", stamp);
    run_query(&st, &qe, soql, NULL, want);
    sf_store_make_id(ct->obj, 2899, id);
    snprintf(soql, sizeof(soql), "SELECT Id FROM Contact WHERE Id > '%s' ORDER BY Id", id);
    run_query(&st, &qe, soql, NULL, 100);
    snprintf(soql, sizeof(soql), "SELECT Id FROM Contact WHERE Id >= '%s'", id);
    run_query(&st, &qe, soql, NULL, 101);
    snprintf(soql, sizeof(soql), "SELECT Id FROM Contact WHERE Id > '%s' OR Id = '%s'", id, id);
    run_query(&st, &qe, soql, NULL, 101);
    run_query(&st, &qe, "SELECT Id, Account.Name FROM Contact WHERE Account.Name LIKE "
                        "'Account 1_' ORDER BY Account.Name DESC", NULL, 300);
    run_query(&st, &qe, "SELECT Id FROM Contact WHERE Owner.Name = 'Admin User'", NULL, 3000);
    run_query(&st, &qe, "SELECT Account.Nope FROM Contact", "INVALID_FIELD", 0);
    run_query(&st, &qe, "SELECT Id FROM Contact WHERE Bogus.Name = 'x'", "INVALID_FIELD", 0);
    run_query(&st, &qe, "SELECT Account.Owner.Name FROM Contact", "INVALID_FIELD", 0);
    run_query(&st, &qe, "SELECT Nope FROM Contact", "INVALID_FIELD", 0);
    run_query(&st, &qe, "SELECT Id FROM Contact WHERE SystemModstamp > 5", "INVALID_FIELD", 0);
    run_query(&st, &qe, "SELECT Id FROM Contact WHERE IsDeleted = 'x'", "INVALID_FIELD", 0);
    run_query(&st, &qe, "SELECT Id FROM Nope", "INVALID_TYPE", 0);
    run_query(&st, &qe, "SELECT Id FROM Contact WHERE (", "MALFORMED_QUERY", 0);

    /* Paging: 3000 rows in batches of 2000 via a locator. */
    json_t *out = NULL, *more = NULL;
    sf_error err;
    assert_int_equal(sf_query_run(&st, &qe, "SELECT Id FROM Contact", false, 2000, "59.0", &out,
                                  &err), T_OK);
    const char *next = json_string_value(json_object_get(out, "nextRecordsUrl"));
    assert_non_null(next);
    const char *loc = strrchr(next, '/') + 1;
    assert_int_equal(sf_query_more(&st, &qe, loc, "59.0", &more, &err), T_OK);
    assert_int_equal(json_array_size(json_object_get(more, "records")), 1000);
    assert_true(json_is_true(json_object_get(more, "done")));
    json_decref(more);
    assert_int_equal(sf_query_more(&st, &qe, "01gDn000000000999-0", "59.0", &more, &err), T_ERR);
    assert_string_equal(err.code, "INVALID_QUERY_LOCATOR");
    assert_int_equal(sf_query_more(&st, &qe, "garbage", "59.0", &more, &err), T_ERR);
    json_decref(out);
    sf_query_engine_free(&qe);
    sf_store_free(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_full),   cmocka_unit_test(test_parse_offsets),
        cmocka_unit_test(test_parse_garbage), cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_execute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
