/*
 * test_sf_store.c - the Salesforce emulator's record store and command line:
 * 18-character ids with checksums and key prefixes, validation errors,
 * strictly increasing SystemModstamp with the change-ordered list, soft
 * delete, and flag handling of sf_emulator_main.
 */
#include "emulators/salesforce/sf_emulator.h"
#include "emulators/salesforce/sf_store.h"
#include "util/iso_time.h"
#include "util/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void test_ids(void **state)
{
    sf_store st;
    assert_int_equal(sf_store_init(&st, "u@example.com"), T_OK);
    assert_int_equal(strlen(st.user_id), 18);
    assert_memory_equal(st.user_id, "005", 3);
    char id[SF_ID_LEN + 1];
    const sf_object *contact = sf_schema_object("contact");
    assert_non_null(contact);
    sf_store_make_id(contact, 0, id);
    /* 003Dn0000000001 -> checksum of chunks "003Dn","00000","00001". */
    assert_string_equal(id, "003Dn0000000001IAA");
    sf_store_make_id(sf_schema_object("Invoice__c"), 61, id);
    assert_memory_equal(id, "a0X", 3);
    sf_table *t;
    uint32_t idx;
    assert_int_equal(sf_store_resolve(&st, "003Dn0000000001IAA", &t, &idx), T_ERR); /* none yet */
    assert_int_equal(sf_store_resolve(&st, st.user_id, &t, &idx), T_OK);
    assert_int_equal(idx, 0);
    char fifteen[16];
    memcpy(fifteen, st.user_id, 15);
    fifteen[15] = '\0';
    assert_int_equal(sf_store_resolve(&st, fifteen, &t, &idx), T_OK);
    char bad[SF_ID_LEN + 1];
    strcpy(bad, st.user_id);
    bad[16] = bad[16] == 'A' ? 'B' : 'A';
    assert_int_equal(sf_store_resolve(&st, bad, &t, &idx), T_ERR);
    assert_int_equal(sf_store_resolve(&st, "", &t, &idx), T_ERR);
    assert_int_equal(sf_store_resolve(&st, "zzzzzzzzzzzzzzzzzz", &t, &idx), T_ERR);
    sf_store_free(&st);
}

static int create(sf_store *st, const char *obj, const char *json, char *id, sf_error *err)
{
    json_t *body = json_loads(json, 0, NULL);
    assert_non_null(body);
    sf_change ch;
    int rc = sf_store_prepare(st, sf_schema_object(obj), SF_NONE, body, &ch, err);
    if (rc == T_OK)
        sf_store_apply(st, &ch, id);
    json_decref(body);
    return rc;
}

static void expect_error(sf_store *st, const char *obj, const char *json, const char *code,
                         const char *field)
{
    char id[SF_ID_LEN + 1];
    sf_error err;
    assert_int_equal(create(st, obj, json, id, &err), T_ERR);
    assert_string_equal(err.code, code);
    assert_string_equal(err.field, field);
}

static void test_writes(void **state)
{
    sf_store st;
    assert_int_equal(sf_store_init(&st, "u@example.com"), T_OK);
    char acct[SF_ID_LEN + 1], c1[SF_ID_LEN + 1], c2[SF_ID_LEN + 1];
    sf_error err;
    assert_int_equal(create(&st, "Account", "{\"Name\":\"Acme\",\"AnnualRevenue\":\"12.5\"}", acct,
                            &err), T_OK);
    char json[256];
    snprintf(json, sizeof(json),
             "{\"LastName\":\"L\",\"Email\":\"a@b.co\",\"AccountId\":\"%s\",\"Birthdate\":"
             "\"2000-02-29\",\"DoNotCall\":true}", acct);
    assert_int_equal(create(&st, "Contact", json, c1, &err), T_OK);
    assert_int_equal(create(&st, "Contact", "{\"LastName\":\"M\"}", c2, &err), T_OK);
    expect_error(&st, "Contact", "{\"LastName\":\"X\",\"Email\":\"bad@\"}", "INVALID_EMAIL_ADDRESS",
                 "Email");
    expect_error(&st, "Contact", "{\"FirstName\":\"X\"}", "REQUIRED_FIELD_MISSING", "LastName");
    expect_error(&st, "Contact", "{\"LastName\":null}", "REQUIRED_FIELD_MISSING", "LastName");
    expect_error(&st, "Contact", "{\"LastName\":\"X\",\"Bogus\":1}", "INVALID_FIELD", "Bogus");
    expect_error(&st, "Contact", "{\"LastName\":\"X\",\"Id\":\"x\"}",
                 "INVALID_FIELD_FOR_INSERT_UPDATE", "Id");
    expect_error(&st, "Contact", "{\"LastName\":\"X\",\"Birthdate\":\"2001-02-29\"}",
                 "JSON_PARSER_ERROR", "Birthdate");
    expect_error(&st, "Contact", "{\"LastName\":\"X\",\"DoNotCall\":\"maybe\"}",
                 "JSON_PARSER_ERROR", "DoNotCall");
    expect_error(&st, "Contact", "{\"LastName\":\"X\",\"AccountId\":\"001\"}", "MALFORMED_ID",
                 "AccountId");
    snprintf(json, sizeof(json), "{\"LastName\":\"X\",\"AccountId\":\"%s\"}", c1);
    expect_error(&st, "Contact", json, "FIELD_INTEGRITY_EXCEPTION", "AccountId");
    expect_error(&st, "Invoice__c", "{\"Status__c\":\"Nope\"}",
                 "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Status__c");
    expect_error(&st, "Account", "{\"Name\":\"A\",\"NumberOfEmployees\":1.5}", "JSON_PARSER_ERROR",
                 "NumberOfEmployees");
    expect_error(&st, "Contact", "[1]", "JSON_PARSER_ERROR", "");

    /* The message of the email error is exactly Salesforce's. */
    char id[SF_ID_LEN + 1];
    create(&st, "Contact", "{\"LastName\":\"X\",\"Email\":\"bad@\"}", id, &err);
    assert_string_equal(err.message, "Email: invalid email address: bad@");

    /* SystemModstamp strictly increases and the change list follows it. */
    sf_table *t;
    uint32_t i1, i2;
    assert_int_equal(sf_store_resolve(&st, c1, &t, &i1), T_OK);
    assert_int_equal(sf_store_resolve(&st, c2, &t, &i2), T_OK);
    assert_true(t->recs[i2].stamp > t->recs[i1].stamp);
    assert_int_equal(t->tail, i2);
    json_t *upd = json_loads("{\"Title\":\"Boss\",\"Id\":\"ignored\"}", 0, NULL);
    sf_change ch;
    assert_int_equal(sf_store_prepare(&st, t->obj, i1, upd, &ch, &err), T_OK);
    sf_store_apply(&st, &ch, id);
    json_decref(upd);
    assert_string_equal(id, c1);
    assert_int_equal(t->tail, i1);
    assert_int_equal(t->head, i2);
    assert_true(t->recs[i1].stamp > t->recs[i2].stamp);
    assert_true(t->recs[i1].created < t->recs[i1].modified);
    json_t *rec = sf_store_record_json(t, i1, NULL, 0, "59.0");
    assert_string_equal(json_string_value(json_object_get(rec, "Title")), "Boss");
    assert_string_equal(json_string_value(json_object_get(rec, "Name")), "L");
    assert_true(json_is_true(json_object_get(rec, "DoNotCall")));
    assert_string_equal(json_string_value(json_object_get(rec, "OwnerId")), st.user_id);
    json_decref(rec);

    /* Soft delete. */
    assert_int_equal(sf_store_delete(&st, c2, &err), T_OK);
    assert_true(t->recs[i2].deleted);
    assert_int_equal(t->tail, i2);
    assert_int_equal(sf_store_delete(&st, c2, &err), T_ERR);
    assert_string_equal(err.code, "ENTITY_IS_DELETED");
    assert_int_equal(sf_store_delete(&st, "003Dn00000000ZZZZZ", &err), T_ERR);
    sf_store_free(&st);
}

static void test_seed_order(void **state)
{
    sf_store st;
    assert_int_equal(sf_store_init(&st, "u@example.com"), T_OK);
    sf_store_backdate(&st, 20000);
    assert_int_equal(sf_store_seed(&st, sf_schema_object("Account"), 10000), T_OK);
    assert_int_equal(sf_store_seed(&st, sf_schema_object("Contact"), 10000), T_OK);
    assert_true(st.last_ms <= iso_time_now_ms());
    sf_table *t = sf_store_table(&st, sf_schema_object("Contact"));
    int64_t prev = 0;
    size_t n = 0;
    for (uint32_t i = t->head; i != SF_NONE; i = t->recs[i].next, n++) {
        assert_true(t->recs[i].stamp > prev);
        prev = t->recs[i].stamp;
    }
    assert_int_equal(n, 10000);
    sf_store_free(&st);
}

static void test_cli(void **state)
{
    char *unknown[] = {"salesforce", "--bogus", NULL};
    assert_int_equal(sf_emulator_main(2, unknown), T_EXIT_USAGE);
    char *badrate[] = {"salesforce", "--fault-503-rate", "2", NULL};
    assert_int_equal(sf_emulator_main(3, badrate), T_EXIT_USAGE);
    char *badlisten[] = {"salesforce", "--listen", "nope", NULL};
    assert_int_equal(sf_emulator_main(3, badlisten), T_EXIT_USAGE);
    char *missing[] = {"salesforce", "--seed-contacts", NULL};
    assert_int_equal(sf_emulator_main(2, missing), T_EXIT_USAGE);
    char *extra[] = {"salesforce", "stray", NULL};
    assert_int_equal(sf_emulator_main(2, extra), T_EXIT_USAGE);
    char *help[] = {"salesforce", "--help", NULL};
    assert_int_equal(sf_emulator_main(2, help), T_EXIT_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_writes),
        cmocka_unit_test(test_seed_order),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
