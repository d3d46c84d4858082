/*
 * sf_query.c - SOQL execution and query cursors for the Salesforce emulator
 * (see sf_query.h). Result row lists are owned by cursors; parsed queries are
 * freed before returning.
 */
#include "emulators/salesforce/sf_query.h"
#include "emulators/salesforce/sf_soql.h"
#include "util/iso_time.h"
#include "util/common.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SF_HTTP_BAD_REQUEST 400
#define SF_CURSOR_PREFIX "01g"

void sf_query_engine_free(sf_query_engine *qe)
{
    for (size_t i = 0; i < SF_QUERY_MAX_CURSORS; i++) {
        free(qe->cursors[i].fields);
        free(qe->cursors[i].rows);
    }
    memset(qe, 0, sizeof(*qe));
}

static void sf_cursor_clear(sf_cursor *c)
{
    free(c->fields);
    free(c->rows);
    memset(c, 0, sizeof(*c));
}

/* ---- binding ------------------------------------------------------------ */

static bool sf_query_lit_fits(const sf_field *f, const sf_soql_lit *lit)
{
    if (lit->kind == SF_LIT_NULL)
        return true;
    switch (f->type) {
    case SF_T_BOOLEAN: return lit->kind == SF_LIT_BOOL;
    case SF_T_DATETIME: return lit->kind == SF_LIT_DATETIME;
    case SF_T_DATE: return lit->kind == SF_LIT_DATE;
    case SF_T_ADDRESS: return false;
    default:
        if (sf_schema_type_is_numeric(f->type))
            return lit->kind == SF_LIT_NUMBER;
        return lit->kind == SF_LIT_STRING;
    }
}

/* Resolves NAME ("Field" or "Relationship.Field") on OBJ; INVALID_FIELD. */
static int sf_query_path(const sf_object *obj, const char *name, sf_path *out, sf_error *err)
{
    const char *dot = strchr(name, '.');
    out->ref = NULL;
    out->f = NULL;
    if (!dot) {
        out->f = sf_schema_field(obj, name);
    } else if (!strchr(dot + 1, '.')) {
        for (size_t i = 0; i < obj->nfields && !out->ref; i++) {
            const sf_field *r = &obj->fields[i];
            if (r->relationship_name && strlen(r->relationship_name) == (size_t)(dot - name) &&
                strncasecmp(r->relationship_name, name, (size_t)(dot - name)) == 0)
                out->ref = r;
        }
        if (!out->ref) {
            sf_error_set(err, SF_HTTP_BAD_REQUEST, "INVALID_FIELD", NULL,
                         "Didn't understand relationship '%.*s' in field path. If you are "
                         "attempting to use a custom relationship, be sure to append the '__r' "
                         "after the custom relationship name.",
                         (int)(dot - name > 80 ? 80 : dot - name), name);
            return T_ERR;
        }
        const sf_object *target = sf_schema_object(out->ref->reference_to);
        out->f = target ? sf_schema_field(target, dot + 1) : NULL;
        if (!out->f) {
            sf_error_set(err, SF_HTTP_BAD_REQUEST, "INVALID_FIELD", NULL,
                         "No such column '%.80s' on entity '%s'. If you are attempting to use "
                         "a custom field, be sure to append the '__c' after the custom field "
                         "name.",
                         dot + 1, out->ref->reference_to);
            return T_ERR;
        }
    }
    if (!out->f) {
        sf_error_set(err, SF_HTTP_BAD_REQUEST, "INVALID_FIELD", NULL,
                     "No such column '%.80s' on entity '%s'. If you are attempting to use a "
                     "custom field, be sure to append the '__c' after the custom field name.",
                     name, obj->name);
        return T_ERR;
    }
    return T_OK;
}

/* Binds every comparison of C to a path from POOL (capacity SF_SOQL_MAX_CONDITIONS). */
static int sf_query_bind(const sf_object *obj, sf_soql_cond *c, sf_path *pool, size_t *used,
                         sf_error *err)
{
    for (; c; c = c->lhs) {
        if (c->op == SF_OP_AND || c->op == SF_OP_OR) {
            if (sf_query_bind(obj, c->rhs, pool, used, err) != T_OK)
                return T_ERR;
            continue;
        }
        if (c->op == SF_OP_NOT)
            continue;
        assert(*used < SF_SOQL_MAX_CONDITIONS);
        sf_path *path = &pool[(*used)++];
        if (sf_query_path(obj, c->field, path, err) != T_OK)
            return T_ERR;
        const sf_field *f = path->f;
        if (f->type == SF_T_ADDRESS || f->type == SF_T_TEXTAREA) {
            sf_error_set(err, SF_HTTP_BAD_REQUEST, "INVALID_FIELD", NULL,
                         "field '%s' can not be filtered in a query call", f->name);
            return T_ERR;
        }
        for (size_t i = 0; i < c->nvalues; i++) {
            if (!sf_query_lit_fits(f, &c->values[i]) ||
                (c->op == SF_OP_LIKE && !sf_schema_type_is_text(f->type) &&
                 f->type != SF_T_ID && f->type != SF_T_REFERENCE)) {
                sf_error_set(err, SF_HTTP_BAD_REQUEST, "INVALID_FIELD", NULL,
                             "value of filter criterion for field '%s' must be of type %s and "
                             "should not be enclosed in quotes",
                             f->name, sf_schema_type_name(f->type));
                return T_ERR;
            }
        }
        c->bound = path;
    }
    return T_OK;
}

/* ---- evaluation --------------------------------------------------------- */

/* Datetime value of a record field in ms; false when null. */
static bool sf_query_ms(const sf_table *t, uint32_t idx, const sf_field *f, int64_t *ms)
{
    const sf_record *r = &t->recs[idx];
    switch (f->source) {
    case SF_SRC_CREATED: *ms = r->created; return true;
    case SF_SRC_LASTMOD: *ms = r->modified; return true;
    case SF_SRC_STAMP: *ms = r->stamp; return true;
    default: {
        char buf[SF_VALUE_BUFLEN];
        const char *v = sf_store_value(t, idx, f, buf);
        return v && iso_time_parse(v, 0, ms) == T_OK;
    }
    }
}

static int sf_query_cmp_num(double a, double b) { return a < b ? -1 : a > b; }
static int sf_query_cmp_ms(int64_t a, int64_t b) { return a < b ? -1 : a > b; }

static int sf_query_cmp_text(const sf_field *f, const char *a, const char *b)
{
    if ((f->type == SF_T_ID || f->type == SF_T_REFERENCE) && strlen(a) >= 15 &&
        strlen(b) >= 15)
        return strncmp(a, b, 15);
    return strcasecmp(a, b);
}

/* Compares the record's value with LIT; *IS_NULL when the record value is null. */
static int sf_query_cmp(const sf_table *t, uint32_t idx, const sf_field *f,
                        const sf_soql_lit *lit, bool *is_null)
{
    char buf[SF_VALUE_BUFLEN];
    *is_null = false;
    if (f->type == SF_T_DATETIME) {
        int64_t ms;
        if (!sf_query_ms(t, idx, f, &ms)) {
            *is_null = true;
            return 0;
        }
        return sf_query_cmp_ms(ms, lit->ms);
    }
    const char *v = sf_store_value(t, idx, f, buf);
    if (!v) {
        *is_null = true;
        return 0;
    }
    if (sf_schema_type_is_numeric(f->type))
        return sf_query_cmp_num(strtod(v, NULL), lit->num);
    if (f->type == SF_T_BOOLEAN || f->type == SF_T_DATE)
        return strcmp(v, lit->text);
    return sf_query_cmp_text(f, v, lit->text);
}

/* SQL LIKE with % and _, case-insensitive, backslash escapes. */
static bool sf_query_like(const char *s, const char *pat)
{
    const char *star_p = NULL, *star_s = NULL;
    while (*s) {
        char pc = *pat;
        bool escaped = pc == '\\' && pat[1];
        if (escaped)
            pc = pat[1];
        if (!escaped && pc == '%') {
            star_p = ++pat;
            star_s = s;
            continue;
        }
        if (pc && ((!escaped && pc == '_') ||
                   (unsigned char)tolower((unsigned char)pc) == tolower((unsigned char)*s))) {
            pat += escaped ? 2 : 1;
            s++;
            continue;
        }
        if (!star_p)
            return false;
        pat = star_p;
        s = ++star_s;
    }
    while (*pat == '%')
        pat++;
    return *pat == '\0';
}

/* The record P reads: (T, IDX) itself or its parent; false when none. */
static bool sf_query_deref(sf_store *st, const sf_table *t, uint32_t idx, const sf_path *p,
                           const sf_table **tt, uint32_t *ti)
{
    if (!p->ref) {
        *tt = t;
        *ti = idx;
        return true;
    }
    char buf[SF_VALUE_BUFLEN];
    const char *v = sf_store_value(t, idx, p->ref, buf);
    sf_table *rt;
    if (!v || sf_store_resolve(st, v, &rt, ti) != T_OK)
        return false;
    *tt = rt;
    return true;
}

static bool sf_query_eval(sf_store *st, const sf_table *t0, uint32_t idx0,
                          const sf_soql_cond *c)
{
    switch (c->op) {
    case SF_OP_AND: return sf_query_eval(st, t0, idx0, c->lhs) && sf_query_eval(st, t0, idx0, c->rhs);
    case SF_OP_OR: return sf_query_eval(st, t0, idx0, c->lhs) || sf_query_eval(st, t0, idx0, c->rhs);
    case SF_OP_NOT: return !sf_query_eval(st, t0, idx0, c->lhs);
    default: break;
    }
    const sf_path *path = c->bound;
    const sf_field *f = path->f;
    const sf_table *t;
    uint32_t idx;
    bool is_null;
    if (!sf_query_deref(st, t0, idx0, path, &t, &idx)) {
        /* No parent record: every field of it is null. */
        bool null_listed = false;
        for (size_t i = 0; i < c->nvalues; i++)
            null_listed |= c->values[i].kind == SF_LIT_NULL;
        switch (c->op) {
        case SF_OP_IN: return null_listed;
        case SF_OP_NOT_IN: return !null_listed;
        case SF_OP_EQ: return null_listed;
        case SF_OP_NE: return !null_listed;
        default: return false;
        }
    }
    if (c->op == SF_OP_IN || c->op == SF_OP_NOT_IN) {
        bool found = false;
        for (size_t i = 0; i < c->nvalues && !found; i++) {
            int cmp = sf_query_cmp(t, idx, f, &c->values[i], &is_null);
            found = c->values[i].kind == SF_LIT_NULL ? is_null : (!is_null && cmp == 0);
        }
        return c->op == SF_OP_IN ? found : !found;
    }
    const sf_soql_lit *lit = &c->values[0];
    if (c->op == SF_OP_LIKE) {
        char buf[SF_VALUE_BUFLEN];
        const char *v = sf_store_value(t, idx, f, buf);
        return v && sf_query_like(v, lit->text);
    }
    int cmp = sf_query_cmp(t, idx, f, lit, &is_null);
    if (lit->kind == SF_LIT_NULL) {
        if (c->op == SF_OP_EQ)
            return is_null;
        if (c->op == SF_OP_NE)
            return !is_null;
        return false;
    }
    if (is_null)
        return c->op == SF_OP_NE;
    switch (c->op) {
    case SF_OP_EQ: return cmp == 0;
    case SF_OP_NE: return cmp != 0;
    case SF_OP_LT: return cmp < 0;
    case SF_OP_LE: return cmp <= 0;
    case SF_OP_GT: return cmp > 0;
    case SF_OP_GE: return cmp >= 0;
    default: return false;
    }
}

/* ---- ordering ----------------------------------------------------------- */

typedef struct sf_order_ctx {
    sf_store *st;
    const sf_table *t;
    const sf_soql_order *order;
    const sf_path *paths;
    size_t n;
} sf_order_ctx;

static int sf_query_order_cmp(const void *pa, const void *pb, void *arg)
{
    const sf_order_ctx *ctx = arg;
    uint32_t a0 = *(const uint32_t *)pa, b0 = *(const uint32_t *)pb;
    for (size_t i = 0; i < ctx->n; i++) {
        const sf_field *f = ctx->paths[i].f;
        const sf_table *ta, *tb;
        uint32_t a, b;
        bool ha = sf_query_deref(ctx->st, ctx->t, a0, &ctx->paths[i], &ta, &a);
        bool hb = sf_query_deref(ctx->st, ctx->t, b0, &ctx->paths[i], &tb, &b);
        int cmp = 0;
        bool na, nb;
        if (!ha || !hb) {
            na = !ha;
            nb = !hb;
        } else if (f->type == SF_T_ID) {
            cmp = a < b ? -1 : a > b;
            na = nb = false;
        } else if (f->type == SF_T_DATETIME) {
            int64_t ma = 0, mb = 0;
            na = !sf_query_ms(ta, a, f, &ma);
            nb = !sf_query_ms(tb, b, f, &mb);
            cmp = sf_query_cmp_ms(ma, mb);
        } else {
            char ba[SF_VALUE_BUFLEN], bb[SF_VALUE_BUFLEN];
            const char *va = sf_store_value(ta, a, f, ba);
            const char *vb = sf_store_value(tb, b, f, bb);
            na = !va;
            nb = !vb;
            if (va && vb)
                cmp = sf_schema_type_is_numeric(f->type)
                          ? sf_query_cmp_num(strtod(va, NULL), strtod(vb, NULL))
                          : sf_query_cmp_text(f, va, vb);
        }
        if (na != nb)
            return na == ctx->order[i].nulls_last ? 1 : -1;
        if (na)
            continue;
        if (cmp)
            return ctx->order[i].desc ? -cmp : cmp;
    }
    return a0 < b0 ? -1 : a0 > b0;
}

/* ---- running ------------------------------------------------------------ */

/*
 * Finds a "FIELD > lit" or "FIELD >= lit" conjunct on the field with source
 * SRC (SystemModstamp or Id) in the top-level AND chain of C.
 */
static const sf_soql_cond *sf_query_lower_bound(const sf_soql_cond *c, sf_fsource src)
{
    for (; c; c = c->lhs) {
        if (c->op == SF_OP_AND) {
            const sf_soql_cond *r = sf_query_lower_bound(c->rhs, src);
            if (r)
                return r;
            continue;
        }
        const sf_path *p = c->bound;
        if ((c->op == SF_OP_GT || c->op == SF_OP_GE) && p && !p->ref && p->f->source == src &&
            c->values[0].kind != SF_LIT_NULL)
            return c;
        return NULL;
    }
    return NULL;
}

/*
 * First row worth scanning: rows before it cannot match. For the change
 * list this walks back from the tail over the matching rows only, so
 * incremental "SystemModstamp > X" reads cost what they return.
 */
static uint32_t sf_query_scan_start(sf_store *st, const sf_table *t, const sf_soql_cond *where,
                                    bool by_stamp)
{
    if (by_stamp) {
        const sf_soql_cond *c = sf_query_lower_bound(where, SF_SRC_STAMP);
        if (!c)
            return t->head;
        int64_t x = c->values[0].ms;
        uint32_t start = SF_NONE;
        for (uint32_t i = t->tail; i != SF_NONE; i = t->recs[i].prev) {
            if (c->op == SF_OP_GT ? t->recs[i].stamp <= x : t->recs[i].stamp < x)
                break;
            start = i;
        }
        return start;
    }
    const sf_soql_cond *c = sf_query_lower_bound(where, SF_SRC_ID);
    sf_table *rt;
    uint32_t idx;
    if (!c || sf_store_resolve(st, c->values[0].text, &rt, &idx) != T_OK || rt != t)
        return 0;
    return c->op == SF_OP_GT ? idx + 1 : idx;
}

static json_t *sf_query_attributes(const sf_table *t, uint32_t idx, const char *version)
{
    char id[SF_ID_LEN + 1], url[160];
    sf_store_make_id(t->obj, idx, id);
    snprintf(url, sizeof(url), "/services/data/v%s/sobjects/%s/%s", version, t->obj->name, id);
    return json_pack("{s:s, s:s}", "type", t->obj->name, "url", url);
}

/* A result row: selected fields, parent fields nested under the relationship. */
static json_t *sf_query_record_json(sf_store *st, const sf_table *t, uint32_t idx,
                                    const sf_path *paths, size_t n, const char *version)
{
    json_t *j = json_object();
    json_object_set_new(j, "attributes", sf_query_attributes(t, idx, version));
    for (size_t i = 0; i < n; i++) {
        const sf_path *p = &paths[i];
        if (!p->ref) {
            json_object_set_new(j, p->f->name, sf_store_field_json(t, idx, p->f));
            continue;
        }
        json_t *sub = json_object_get(j, p->ref->relationship_name);
        const sf_table *pt;
        uint32_t pi;
        if (!sub) {
            if (!sf_query_deref(st, t, idx, p, &pt, &pi)) {
                json_object_set_new(j, p->ref->relationship_name, json_null());
                continue;
            }
            sub = json_object();
            json_object_set_new(sub, "attributes", sf_query_attributes(pt, pi, version));
            json_object_set_new(j, p->ref->relationship_name, sub);
        }
        if (json_is_object(sub) && sf_query_deref(st, t, idx, p, &pt, &pi))
            json_object_set_new(sub, p->f->name, sf_store_field_json(pt, pi, p->f));
    }
    return j;
}

static json_t *sf_query_batch(sf_store *st, const sf_table *t, sf_cursor *c, size_t offset,
                              bool *done, const char *version, char *locator, size_t total)
{
    json_t *records = json_array();
    size_t end = offset + c->batch < c->nrows ? offset + c->batch : c->nrows;
    for (size_t i = offset; i < end; i++)
        json_array_append_new(records, sf_query_record_json(st, t, c->rows[i], c->fields,
                                                            c->nfields, version));
    *done = end >= c->nrows;
    json_t *out = json_pack("{s:I, s:b}", "totalSize", (json_int_t)total, "done", *done);
    if (!*done) {
        char url[128];
        snprintf(url, sizeof(url), "/services/data/v%s/query/%s-%zu", version, locator, end);
        json_object_set_new(out, "nextRecordsUrl", json_string(url));
    }
    json_object_set_new(out, "records", records);
    return out;
}

static void sf_query_locator(const sf_cursor *c, char *out)
{
    snprintf(out, 32, SF_CURSOR_PREFIX "Dn%012llu", (unsigned long long)c->serial);
}

int sf_query_run(sf_store *st, sf_query_engine *qe, const char *soql, bool all, size_t batch,
                 const char *version, json_t **out, sf_error *err)
{
    char perr[256];
    sf_soql_query *q = NULL;
    sf_cursor c = {0};
    sf_path *order_fields = NULL, *pool = NULL;
    size_t pool_used = 0;
    *out = NULL;
    if (sf_soql_parse(soql, &q, perr, sizeof(perr)) != T_OK) {
        sf_error_set(err, SF_HTTP_BAD_REQUEST, "MALFORMED_QUERY", NULL, "%s", perr);
        return T_ERR;
    }
    const sf_object *obj = sf_schema_object(q->object);
    if (!obj) {
        sf_error_set(err, SF_HTTP_BAD_REQUEST, "INVALID_TYPE", NULL,
                     "sObject type '%.80s' is not supported. If you are attempting to use a "
                     "custom object, be sure to append the '__c' after the entity name.",
                     q->object);
        goto failed;
    }
    sf_table *t = sf_store_table(st, obj);
    c.obj = obj;
    c.fields = calloc(q->nfields ? q->nfields : 1, sizeof(*c.fields));
    order_fields = calloc(q->norder ? q->norder : 1, sizeof(*order_fields));
    pool = calloc(SF_SOQL_MAX_CONDITIONS, sizeof(*pool));
    if (!c.fields || !order_fields || !pool)
        goto oom;
    for (size_t i = 0; i < q->nfields; i++)
        if (sf_query_path(obj, q->fields[i], &c.fields[c.nfields++], err) != T_OK)
            goto failed;
    for (size_t i = 0; i < q->norder; i++) {
        if (sf_query_path(obj, q->order[i].field, &order_fields[i], err) != T_OK)
            goto failed;
        if (order_fields[i].f->type == SF_T_ADDRESS || order_fields[i].f->type == SF_T_TEXTAREA) {
            sf_error_set(err, SF_HTTP_BAD_REQUEST, "INVALID_FIELD", NULL,
                         "field '%s' can not be sorted in a query call", order_fields[i].f->name);
            goto failed;
        }
    }
    if (sf_query_bind(obj, q->where, pool, &pool_used, err) != T_OK)
        goto failed;

    /* Candidate rows: change order when ordering by SystemModstamp ASC. */
    bool by_stamp = q->norder >= 1 && !order_fields[0].ref &&
                    order_fields[0].f->source == SF_SRC_STAMP &&
                    !q->order[0].desc;
    c.rows = malloc((t->n ? t->n : 1) * sizeof(uint32_t));
    if (!c.rows)
        goto oom;
    uint32_t idx = sf_query_scan_start(st, t, q->where, by_stamp);
    while (by_stamp ? idx != SF_NONE : idx < t->n) {
        if ((all || !t->recs[idx].deleted) && (!q->where || sf_query_eval(st, t, idx, q->where)))
            c.rows[c.nrows++] = idx;
        idx = by_stamp ? t->recs[idx].next : idx + 1;
    }
    if (q->norder > (by_stamp ? 1u : 0u) && !(q->norder == 1 && !order_fields[0].ref && order_fields[0].f->type == SF_T_ID &&
                                              !q->order[0].desc)) {
        sf_order_ctx ctx = {st, t, q->order, order_fields, q->norder};
        qsort_r(c.rows, c.nrows, sizeof(uint32_t), sf_query_order_cmp, &ctx);
    }
    size_t offset = q->offset > 0 ? (size_t)q->offset : 0;
    if (offset > c.nrows)
        offset = c.nrows;
    memmove(c.rows, c.rows + offset, (c.nrows - offset) * sizeof(uint32_t));
    c.nrows -= offset;
    if (q->limit >= 0 && (size_t)q->limit < c.nrows)
        c.nrows = (size_t)q->limit;
    c.batch = batch;

    if (q->count) {
        *out = json_pack("{s:I, s:b, s:[]}", "totalSize", (json_int_t)c.nrows, "done", 1,
                         "records");
        sf_cursor_clear(&c);
        goto done;
    }
    bool finished;
    char locator[32];
    if (c.nrows <= batch) {
        c.serial = 0;
        *out = sf_query_batch(st, t, &c, 0, &finished, version, locator, c.nrows);
        sf_cursor_clear(&c);
        goto done;
    }
    /* Keep a cursor: reuse a free slot or drop the least recently used. */
    size_t slot = 0;
    for (size_t i = 0; i < SF_QUERY_MAX_CURSORS; i++) {
        if (!qe->cursors[i].serial) {
            slot = i;
            break;
        }
        if (qe->cursors[i].used < qe->cursors[slot].used)
            slot = i;
    }
    sf_cursor_clear(&qe->cursors[slot]);
    c.serial = ++qe->next_serial;
    c.used = ++qe->clock;
    qe->cursors[slot] = c;
    sf_query_locator(&qe->cursors[slot], locator);
    *out = sf_query_batch(st, t, &qe->cursors[slot], 0, &finished, version, locator, c.nrows);
done:
    free(pool);
    free(order_fields);
    sf_soql_free(q);
    return T_OK;
oom:
    sf_error_set(err, 500, "UNKNOWN_EXCEPTION", NULL, "out of memory");
failed:
    free(pool);
    free(order_fields);
    sf_cursor_clear(&c);
    sf_soql_free(q);
    return T_ERR;
}

int sf_query_more(sf_store *st, sf_query_engine *qe, const char *locator, const char *version,
                  json_t **out, sf_error *err)
{
    *out = NULL;
    unsigned long long serial;
    size_t offset;
    int used = 0;
    if (sscanf(locator, SF_CURSOR_PREFIX "Dn%12llu-%zu%n", &serial, &offset, &used) != 2 ||
        (size_t)used != strlen(locator))
        goto invalid;
    for (size_t i = 0; i < SF_QUERY_MAX_CURSORS; i++) {
        sf_cursor *c = &qe->cursors[i];
        if (c->serial != serial || !serial || offset > c->nrows)
            continue;
        char loc[32];
        bool done;
        sf_query_locator(c, loc);
        c->used = ++qe->clock;
        *out = sf_query_batch(st, sf_store_table(st, c->obj), c, offset, &done, version, loc,
                              c->nrows);
        if (done)
            sf_cursor_clear(c);
        return T_OK;
    }
invalid:
    sf_error_set(err, SF_HTTP_BAD_REQUEST, "INVALID_QUERY_LOCATOR", NULL,
                 "invalid query locator");
    return T_ERR;
}
