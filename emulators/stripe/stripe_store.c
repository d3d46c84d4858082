/*
 * stripe_store.c - per-kind arrays in creation order + an open-addressing
 * id hash (see stripe_store.h). Every object and string is owned here.
 */
#include "emulators/stripe/stripe_store.h"

#include "util/common.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char stripe_store_b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#define STRIPE_STORE_SEQ_CHARS 8
#define STRIPE_STORE_RAND_CHARS 6

int stripe_store_init(stripe_store *st, uint64_t seed)
{
    memset(st, 0, sizeof *st);
    if (pthread_mutex_init(&st->lock, NULL) != 0)
        return T_ERR;
    st->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
    st->table_cap = 1024;
    st->table = calloc(st->table_cap, sizeof *st->table);
    st->idem = json_object();
    if (!st->table || !st->idem)
        return T_ERR;
    return T_OK;
}

static void stripe_store_free_objects(stripe_store *st)
{
    for (int k = 0; k < STRIPE_KIND_COUNT; k++) {
        for (size_t i = 0; i < st->n[k]; i++) {
            stripe_obj *o = st->objs[k][i];
            free(o->id);
            free(o->json);
            free(o->full);
            free(o->key);
            free(o->key2);
            free(o);
        }
        free(st->objs[k]);
        st->objs[k] = NULL;
        st->n[k] = st->cap[k] = st->live[k] = 0;
    }
}

void stripe_store_free(stripe_store *st)
{
    stripe_store_free_objects(st);
    free(st->table);
    st->table = NULL;
    json_decref(st->idem);
    st->idem = NULL;
    pthread_mutex_destroy(&st->lock);
}

void stripe_store_reset(stripe_store *st)
{
    stripe_store_free_objects(st);
    memset(st->table, 0, st->table_cap * sizeof *st->table);
    st->table_used = 0;
    json_object_clear(st->idem);
}

uint64_t stripe_store_rand(stripe_store *st)
{
    uint64_t x = st->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    st->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

void stripe_store_rand_str(stripe_store *st, char *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = stripe_store_b62[stripe_store_rand(st) % 62];
    out[n] = '\0';
}

void stripe_store_new_id(stripe_store *st, const char *prefix, char *out)
{
    uint64_t s = ++st->seq;
    size_t pl = strlen(prefix);
    assert(pl < 12);
    memcpy(out, prefix, pl);
    out[pl] = '_';
    char *p = out + pl + 1;
    for (int i = STRIPE_STORE_SEQ_CHARS - 1; i >= 0; i--) {
        p[i] = stripe_store_b62[s % 62];
        s /= 62;
    }
    stripe_store_rand_str(st, p + STRIPE_STORE_SEQ_CHARS, STRIPE_STORE_RAND_CHARS);
}

int64_t stripe_store_now(stripe_store *st)
{
    int64_t now = (int64_t)time(NULL);
    if (now < st->last_created)
        now = st->last_created;
    st->last_created = now;
    return now;
}

static uint64_t stripe_store_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static int stripe_store_grow(stripe_store *st)
{
    size_t ncap = st->table_cap * 2;
    stripe_obj **nt = calloc(ncap, sizeof *nt);
    if (!nt)
        return T_ERR;
    for (size_t i = 0; i < st->table_cap; i++) {
        stripe_obj *o = st->table[i];
        if (!o)
            continue;
        size_t j = stripe_store_hash(o->id) & (ncap - 1);
        while (nt[j])
            j = (j + 1) & (ncap - 1);
        nt[j] = o;
    }
    free(st->table);
    st->table = nt;
    st->table_cap = ncap;
    return T_OK;
}

int stripe_store_embed_children(json_t *v)
{
    const char *object = json_string_value(json_object_get(v, "object"));
    const char *field = !object                              ? NULL
                        : strcmp(object, "subscription") == 0 ? "items"
                        : strcmp(object, "invoice") == 0      ? "lines"
                                                              : NULL;
    json_t *list = field ? json_object_get(v, field) : NULL;
    json_t *data = list ? json_object_get(list, "data") : NULL;
    if (!json_is_array(data) || json_array_size(data) <= STRIPE_EMBEDDED_CHILDREN)
        return 0;
    json_t *first = json_array();
    for (size_t i = 0; i < STRIPE_EMBEDDED_CHILDREN; i++)
        json_array_append(first, json_array_get(data, i));
    json_t *cut = json_copy(list); /* shallow: the other members are shared */
    json_object_set_new(cut, "data", first);
    json_object_set_new(cut, "has_more", json_true());
    json_object_set_new(v, field, cut);
    return 1;
}

/*
 * Stores JSON (taken) in O: as is, or for a subscription/invoice with more
 * children than the API embeds, the full text in o->full and the cut one in
 * o->json. Out of memory keeps the full text in o->json.
 */
static void stripe_store_split_children(stripe_obj *o, stripe_kind kind, char *json)
{
    o->json = json;
    o->full = NULL;
    if (!json || (kind != STRIPE_SUBSCRIPTION && kind != STRIPE_INVOICE))
        return;
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    char *shown = v && stripe_store_embed_children(v) ? stripe_store_dump(v) : NULL;
    json_decref(v);
    if (shown) {
        o->full = json;
        o->json = shown;
    }
}

stripe_obj *stripe_store_add(stripe_store *st, stripe_kind kind, const char *id, int64_t created, char *json,
                             char *key, char *key2)
{
    stripe_obj *o = NULL;
    if ((st->table_used + 1) * 10 > st->table_cap * 7 && stripe_store_grow(st) != T_OK)
        goto failed;
    if (st->n[kind] == st->cap[kind]) {
        size_t ncap = st->cap[kind] ? st->cap[kind] * 2 : 64;
        stripe_obj **na = realloc(st->objs[kind], ncap * sizeof *na);
        if (!na)
            goto failed;
        st->objs[kind] = na;
        st->cap[kind] = ncap;
    }
    o = calloc(1, sizeof *o);
    if (!o)
        goto failed;
    o->id = strdup(id);
    if (!o->id)
        goto failed;
    stripe_store_split_children(o, kind, json);
    o->key = key;
    o->key2 = key2;
    o->created = created;
    o->kind = (uint8_t)kind;
    o->pos = (uint32_t)st->n[kind];
    st->objs[kind][st->n[kind]++] = o;
    st->live[kind]++;
    size_t j = stripe_store_hash(id) & (st->table_cap - 1);
    while (st->table[j])
        j = (j + 1) & (st->table_cap - 1);
    st->table[j] = o;
    st->table_used++;
    return o;
failed:
    if (o)
        free(o->id);
    free(o);
    free(json);
    free(key);
    free(key2);
    return NULL;
}

stripe_obj *stripe_store_get(stripe_store *st, const char *id)
{
    size_t j = stripe_store_hash(id) & (st->table_cap - 1);
    while (st->table[j]) {
        if (strcmp(st->table[j]->id, id) == 0)
            return st->table[j];
        j = (j + 1) & (st->table_cap - 1);
    }
    return NULL;
}

void stripe_store_set_json(stripe_store *st, stripe_obj *obj, char *json)
{
    if (obj->json && !json)
        st->live[obj->kind]--;
    free(obj->json);
    free(obj->full);
    obj->full = NULL;
    stripe_store_split_children(obj, (stripe_kind)obj->kind, json);
}

void stripe_store_set_key(stripe_obj *obj, int which, char *val)
{
    char **slot = which == 1 ? &obj->key : &obj->key2;
    free(*slot);
    *slot = val;
}

json_t *stripe_store_load(const stripe_obj *obj)
{
    if (!obj->json)
        return NULL;
    return json_loads(obj->full ? obj->full : obj->json, JSON_DECODE_ANY, NULL);
}

char *stripe_store_dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

void stripe_store_created_range(stripe_store *st, stripe_kind kind, int64_t gte, int64_t lte, size_t *lo,
                                size_t *hi)
{
    stripe_obj **a = st->objs[kind];
    size_t n = st->n[kind];
    size_t l = 0, h = n; /* first created >= gte */
    while (l < h) {
        size_t m = l + (h - l) / 2;
        if (a[m]->created < gte)
            l = m + 1;
        else
            h = m;
    }
    *lo = l;
    h = n; /* first created > lte */
    while (l < h) {
        size_t m = l + (h - l) / 2;
        if (a[m]->created <= lte)
            l = m + 1;
        else
            h = m;
    }
    *hi = l;
}
