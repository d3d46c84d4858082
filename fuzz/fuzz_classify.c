/* fuzz_classify.c - libFuzzer target for the proxy's statement classifier:
 * any bytes as SQL, through the prefilter, libpg_query and the tree walk, both
 * directly and through the cache, with no crash, leak or out-of-bounds read;
 * reported statement slices must lie inside the input. */
#include "proxy/classify.h"
#include "util/common.h"

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void fuzz_check(const classify_result *r, size_t len)
{
    for (size_t i = 0; i < r->n_stmts; i++) {
        const classify_stmt *st = &r->stmts[i];
        assert(st->offset <= len && st->length <= len - st->offset);
        for (size_t j = 0; j < st->n_targets; j++)
            assert(st->targets[j].schema && st->targets[j].table);
        if (st->writes_synced)
            assert(r->writes_synced);
    }
    if (r->parse_error)
        assert(r->error_message && !r->writes_synced);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static classify_synced_set *synced;
    static classify_cache *cache;
    if (!synced) {
        synced = classify_synced_set_new();
        classify_synced_set_add(synced, "public", "customers");
        classify_synced_set_add(synced, "stripe", "invoices");
        cache = classify_cache_new(synced, 8);
    }
    char *sql = malloc(size + 1);
    if (!sql)
        return 0;
    memcpy(sql, data, size);
    sql[size] = '\0';
    size_t len = strlen(sql);
    classify_result r;
    if (classify_statement_path(synced, "stripe, \"$user\", public", "u", sql, &r) == T_OK) {
        fuzz_check(&r, len);
        classify_result_free(&r);
    }
    const classify_result *cr;
    if (classify_cache_get(cache, NULL, NULL, sql, &cr) == T_OK)
        fuzz_check(cr, len);
    (void)classify_fast_path_read(sql);
    free(sql);
    return 0;
}
