/* fuzz_write_plan.c - libFuzzer target for write-through's input handling:
 * any bytes as a captured row (OLD and NEW as JSON, as the guard trigger
 * records them) through wt_plan_build() for UPDATE, INSERT (plain and
 * upsert) and DELETE, and as SQL through the guard-setting detector; no
 * crash, leak or out-of-bounds read, and a failed plan always carries a
 * SQLSTATE. */
#include "util/common.h"
#include "writethrough/writethrough.h"

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static conn_schema *fuzz_schema(void)
{
    static conn_schema s;
    if (s.n)
        return &s;
    s.n = 1;
    conn_collection *c = &s.colls[0];
    strcpy(c->name, "customer");
    strcpy(c->object_type, "customer");
    const char *names[] = {"id", "email", "name", "metadata", "created", "balance", "tags"};
    const conn_coltype types[] = {CONN_TEXT, CONN_TEXT, CONN_TEXT, CONN_JSONB, CONN_TIMESTAMPTZ,
                                  CONN_BIGINT, CONN_TEXT_ARRAY};
    for (size_t i = 0; i < T_ARRAY_LEN(names); i++) {
        strcpy(c->cols[i].name, names[i]);
        strcpy(c->cols[i].field, names[i]);
        c->cols[i].type = types[i];
    }
    c->ncols = T_ARRAY_LEN(names);
    return &s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)wt_guard_mentions_setting((const char *)data, size);
    /* input: OLD JSON, a NUL, NEW JSON */
    const uint8_t *nul = memchr(data, 0, size);
    size_t olen = nul ? (size_t)(nul - data) : size;
    json_error_t je;
    json_t *old_row = json_loadb((const char *)data, olen, 0, &je);
    json_t *new_row = nul ? json_loadb((const char *)nul + 1, size - olen - 1, 0, &je) : NULL;
    if (!json_is_object(old_row) && old_row) {
        json_decref(old_row);
        old_row = NULL;
    }
    if (!json_is_object(new_row) && new_row) {
        json_decref(new_row);
        new_row = NULL;
    }
    wt_target t;
    memset(&t, 0, sizeof(t));
    t.schema = fuzz_schema();
    strcpy(t.schema_name, "stripe");
    t.max_rows = 100;
    static const char *const ops[] = {"UPDATE", "INSERT", "DELETE"};
    for (size_t k = 0; k < T_ARRAY_LEN(ops); k++) {
        if ((k != 1 && !old_row) || (k != 2 && !new_row))
            continue;
        wt_capture row;
        memset(&row, 0, sizeof(row));
        strcpy(row.op, ops[k]);
        row.old_row = k == 1 ? NULL : old_row;
        row.new_row = k == 2 ? NULL : new_row;
        wt_captures cap = {.rows = &row, .n = 1};
        wt_plan p;
        wt_error err;
        if (wt_plan_build(&t, 0, &cap, CLASSIFY_CONFLICT_NONE, NULL, &p, &err) == T_OK)
            wt_plan_free(&p);
        else
            assert(strlen(err.sqlstate) == 5);
    }
    json_decref(old_row);
    json_decref(new_row);
    return 0;
}
