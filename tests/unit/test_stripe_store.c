/*
 * test_stripe_store.c - the Stripe emulator's object store: ids that sort in
 * creation order, the id hash across growth, deleted slots, created-range
 * binary search and reset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "emulators/stripe/stripe_store.h"
#include "util/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_OBJECTS 50000

static void test_ids_sort_and_hash(void **state)
{
    stripe_store st;
    assert_int_equal(stripe_store_init(&st, 7), T_OK);
    char prev[32] = "", id[32];
    for (int i = 0; i < N_OBJECTS; i++) {
        stripe_store_new_id(&st, "cus", id);
        assert_int_equal(strlen(id), 4 + 14);
        assert_true(strcmp(prev, id) < 0);
        strcpy(prev, id);
        char json[64];
        snprintf(json, sizeof json, "{\"n\":%d}", i);
        stripe_obj *o = stripe_store_add(&st, STRIPE_CUSTOMER, id, 1000 + i / 10, strdup(json), NULL, NULL);
        assert_non_null(o);
        assert_int_equal(o->pos, i);
    }
    assert_int_equal(st.n[STRIPE_CUSTOMER], N_OBJECTS);
    for (int i = 0; i < N_OBJECTS; i += 997) {
        stripe_obj *o = st.objs[STRIPE_CUSTOMER][i];
        assert_ptr_equal(stripe_store_get(&st, o->id), o);
    }
    assert_null(stripe_store_get(&st, "cus_missing"));
    /* deleted objects keep their slot and id */
    stripe_obj *o = st.objs[STRIPE_CUSTOMER][5];
    stripe_store_set_json(&st, o, NULL);
    assert_ptr_equal(stripe_store_get(&st, o->id), o);
    assert_null(stripe_store_load(o));
    assert_int_equal(st.live[STRIPE_CUSTOMER], N_OBJECTS - 1);
    stripe_store_reset(&st);
    assert_int_equal(st.n[STRIPE_CUSTOMER], 0);
    assert_null(stripe_store_get(&st, prev));
    stripe_store_free(&st);
}

static void test_created_range(void **state)
{
    stripe_store st;
    assert_int_equal(stripe_store_init(&st, 1), T_OK);
    char id[32];
    /* created: 10,10,11,11,...,19,19 */
    for (int i = 0; i < 20; i++) {
        stripe_store_new_id(&st, "prod", id);
        assert_non_null(stripe_store_add(&st, STRIPE_PRODUCT, id, 10 + i / 2, strdup("{}"), NULL, NULL));
    }
    size_t lo, hi;
    stripe_store_created_range(&st, STRIPE_PRODUCT, INT64_MIN, INT64_MAX, &lo, &hi);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 20);
    stripe_store_created_range(&st, STRIPE_PRODUCT, 12, 13, &lo, &hi);
    assert_int_equal(lo, 4);
    assert_int_equal(hi, 8);
    stripe_store_created_range(&st, STRIPE_PRODUCT, 30, INT64_MAX, &lo, &hi);
    assert_int_equal(lo, 20);
    assert_int_equal(hi, 20);
    stripe_store_created_range(&st, STRIPE_PRODUCT, 15, 14, &lo, &hi);
    assert_true(hi <= lo);
    stripe_store_created_range(&st, STRIPE_CUSTOMER, 0, 100, &lo, &hi);
    assert_int_equal(hi, 0);
    stripe_store_free(&st);
}

static void test_now_non_decreasing(void **state)
{
    stripe_store st;
    assert_int_equal(stripe_store_init(&st, 3), T_OK);
    st.last_created = INT64_C(4000000000); /* in the future */
    assert_true(stripe_store_now(&st) == INT64_C(4000000000));
    int64_t a = stripe_store_now(&st), b = stripe_store_now(&st);
    assert_true(b >= a);
    stripe_store_free(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_sort_and_hash),
        cmocka_unit_test(test_created_range),
        cmocka_unit_test(test_now_non_decreasing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
