/*
 * stripe_api.c - the Stripe emulator's HTTP front: auth, fault injection,
 * idempotency keys, the /_emulator control endpoints, routing, lists with
 * Stripe's pagination, retrieve with expand[], errors and events.
 * Memory: request params and replies are owned by the request and freed here.
 */
#include "emulators/stripe/stripe_internal.h"

#include "emulators/common/emu_form.h"
#include "util/common.h"
#include "util/log.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define STRIPE_LIST_DEFAULT_LIMIT 10
#define STRIPE_LIST_MAX_LIMIT 100
#define STRIPE_MAX_EXPAND_DEPTH 4

const stripe_kind_desc stripe_kinds[STRIPE_KIND_COUNT] = {
    [STRIPE_CUSTOMER] = {"customer", "customers", "cus", "customer"},
    [STRIPE_PRODUCT] = {"product", "products", "prod", "product"},
    [STRIPE_PRICE] = {"price", "prices", "price", "price"},
    [STRIPE_SUBSCRIPTION] = {"subscription", "subscriptions", "sub", "customer.subscription"},
    [STRIPE_INVOICE] = {"invoice", "invoices", "in", "invoice"},
    [STRIPE_CHARGE] = {"charge", "charges", "ch", "charge"},
    [STRIPE_PAYMENT_INTENT] = {"payment_intent", "payment_intents", "pi", "payment_intent"},
    [STRIPE_WEBHOOK_ENDPOINT] = {"webhook_endpoint", "webhook_endpoints", "we", NULL},
    [STRIPE_EVENT] = {"event", "events", "evt", NULL},
};

int64_t stripe_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int stripe_err(stripe_req *r, int status, const char *type, const char *code, const char *param, const char *fmt,
               ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *e = json_object();
    if (code)
        json_object_set_new(e, "code", json_string(code));
    if (code) {
        char url[160];
        snprintf(url, sizeof url, "https://stripe.com/docs/error-codes/%s", code);
        for (char *p = url; *p; p++)
            if (*p == '_')
                *p = '-';
        json_object_set_new(e, "doc_url", json_string(url));
    }
    json_object_set_new(e, "message", json_string(msg));
    if (param)
        json_object_set_new(e, "param", json_string(param));
    json_object_set_new(e, "request_log_url", json_sprintf("https://dashboard.stripe.com/test/logs/%s",
                                                            r->request_id ? r->request_id : ""));
    json_object_set_new(e, "type", json_string(type));
    json_t *root = json_pack("{s:o}", "error", e);
    free(r->body);
    r->body = stripe_store_dump(root);
    json_decref(root);
    r->status = status;
    return T_ERR;
}

int stripe_err_missing(stripe_req *r, const char *object, const char *id, const char *param, int status)
{
    return stripe_err(r, status, "invalid_request_error", "resource_missing", param, "No such %s: '%s'", object, id);
}

int stripe_reply(stripe_req *r, json_t *v)
{
    stripe_store_embed_children(v); /* the API shows the first items/lines only */
    free(r->body);
    r->body = stripe_store_dump(v);
    json_decref(v);
    r->status = 200;
    return T_OK;
}

/* ---- events ---- */

/* Does webhook endpoint W (stored object) want events of TYPE? */
static int stripe_endpoint_wants(const stripe_obj *w, const char *type)
{
    if (!w->json)
        return 0;
    json_t *v = stripe_store_load(w);
    const char *status = json_string_value(json_object_get(v, "status"));
    int match = 0;
    size_t k;
    json_t *e;
    json_array_foreach(json_object_get(v, "enabled_events"), k, e)
    {
        const char *s = json_string_value(e);
        if (s && (strcmp(s, "*") == 0 || strcmp(s, type) == 0))
            match = 1;
    }
    match = match && status && strcmp(status, "enabled") == 0;
    json_decref(v);
    return match;
}

void stripe_event_emit(stripe_req *r, const char *type, json_t *obj, json_t *prev)
{
    stripe_store *st = r->st;
    stripe_obj **we = st->objs[STRIPE_WEBHOOK_ENDPOINT];
    size_t n_we = st->n[STRIPE_WEBHOOK_ENDPOINT];
    /* Who gets it: --webhook flags, then enabled endpoints from the API. */
    int pending = r->emu->wh ? r->emu->cfg.n_webhooks : 0;
    unsigned char *wants = n_we && r->emu->wh ? calloc(n_we, 1) : NULL;
    for (size_t i = 0; wants && i < n_we; i++)
        if ((wants[i] = (unsigned char)stripe_endpoint_wants(we[i], type)))
            pending++;
    char id[32];
    stripe_store_new_id(st, "evt", id);
    int64_t created = stripe_store_now(st);
    json_t *shown = json_deep_copy(obj);
    stripe_store_embed_children(shown); /* events carry the object as the API shows it */
    json_t *data = json_pack("{s:o}", "object", shown);
    if (prev)
        json_object_set_new(data, "previous_attributes", prev);
    json_t *ev = json_pack("{s:s,s:s,s:s,s:I,s:o,s:b,s:i,s:{s:s?,s:s?},s:s}", "id", id, "object", "event",
                           "api_version", STRIPE_EMU_API_VERSION, "created", (json_int_t)created, "data", data,
                           "livemode", 0, "pending_webhooks", pending, "request", "id", r->request_id,
                           "idempotency_key", r->idempotency_key, "type", type);
    char *json = stripe_store_dump(ev);
    json_decref(ev);
    stripe_obj *o = json ? stripe_store_add(st, STRIPE_EVENT, id, created, json, strdup(type), NULL) : NULL;
    if (o) {
        o->created_ms = stripe_now_ms();
        for (int i = 0; r->emu->wh && i < r->emu->cfg.n_webhooks; i++)
            stripe_webhooks_enqueue(r->emu->wh, r->emu->cfg.webhook_urls[i], r->emu->cfg.webhook_secrets[i],
                                    o->json);
        for (size_t i = 0; wants && i < n_we; i++)
            if (wants[i])
                stripe_webhooks_enqueue(r->emu->wh, we[i]->key, we[i]->key2, o->json);
    }
    free(wants);
}

/* ---- expand ---- */

static int stripe_expand_path(stripe_req *r, json_t *parent, const char *path, const char *full, int depth)
{
    if (depth > STRIPE_MAX_EXPAND_DEPTH)
        return stripe_err(r, 400, "invalid_request_error", NULL, "expand",
                          "You cannot expand more than %d levels of a property. Property: %s",
                          STRIPE_MAX_EXPAND_DEPTH, full);
    char seg[128];
    const char *dot = strchr(path, '.');
    size_t sl = dot ? (size_t)(dot - path) : strlen(path);
    if (sl == 0 || sl >= sizeof seg)
        return stripe_err(r, 400, "invalid_request_error", NULL, "expand",
                          "This property cannot be expanded (%s).", full);
    memcpy(seg, path, sl);
    seg[sl] = '\0';
    if (json_is_array(parent)) {
        size_t i;
        json_t *el;
        json_array_foreach(parent, i, el)
        {
            if (stripe_expand_path(r, el, path, full, depth + 1) != T_OK)
                return T_ERR;
        }
        return T_OK;
    }
    json_t *field = json_object_get(parent, seg);
    if (!field)
        return stripe_err(r, 400, "invalid_request_error", NULL, "expand",
                          "This property cannot be expanded (%s).", full);
    if (json_is_string(field)) {
        const char *id = json_string_value(field);
        stripe_obj *o = stripe_store_get(r->st, id);
        if (!o || o->kind == STRIPE_EVENT || o->kind == STRIPE_WEBHOOK_ENDPOINT ||
            strcmp(seg, "id") == 0 || strcmp(seg, "object") == 0)
            return stripe_err(r, 400, "invalid_request_error", NULL, "expand",
                              "This property cannot be expanded (%s).", full);
        json_t *sub = o->json ? stripe_store_load(o)
                              : json_pack("{s:s,s:s,s:b}", "id", o->id, "object", stripe_kinds[o->kind].object,
                                          "deleted", 1);
        json_object_set_new(parent, seg, sub);
        field = sub;
    } else if (json_is_null(field)) {
        return T_OK;
    }
    if (dot)
        return stripe_expand_path(r, field, dot + 1, full, depth + 1);
    return T_OK;
}

/* Applies expand[] (array of strings) to OBJ; PREFIX "data." for lists. */
static int stripe_expand(stripe_req *r, json_t *obj, const char *strip_prefix)
{
    json_t *exp = json_object_get(r->params, "expand");
    if (!exp)
        return T_OK;
    size_t i;
    json_t *e;
    json_array_foreach(exp, i, e)
    {
        const char *p = json_string_value(e);
        if (!p)
            continue;
        if (strip_prefix) {
            size_t pl = strlen(strip_prefix);
            if (strncmp(p, strip_prefix, pl) != 0)
                continue;
            p += pl;
        }
        if (stripe_expand_path(r, obj, p, p, 0) != T_OK)
            return T_ERR;
    }
    return T_OK;
}

static int stripe_check_expand_param(stripe_req *r)
{
    json_t *exp = json_object_get(r->params, "expand");
    if (exp && !json_is_array(exp))
        return stripe_err(r, 400, "invalid_request_error", NULL, "expand",
                          "Invalid array: expand must be an array of strings.");
    return T_OK;
}

int stripe_reply_expanded(stripe_req *r, json_t *v)
{
    if (stripe_check_expand_param(r) != T_OK || stripe_expand(r, v, NULL) != T_OK) {
        json_decref(v);
        return T_ERR;
    }
    return stripe_reply(r, v);
}

static int stripe_retrieve(stripe_req *r, stripe_kind kind, stripe_obj *o)
{
    if (!o->json) {
        if (kind == STRIPE_CUSTOMER)
            return stripe_reply(r, json_pack("{s:s,s:s,s:b}", "id", o->id, "object", "customer", "deleted", 1));
        return stripe_err_missing(r, stripe_kinds[kind].object, o->id, "id", 404);
    }
    if (kind == STRIPE_EVENT && o->created_ms + r->emu->faults.event_delay_ms > stripe_now_ms())
        return stripe_err_missing(r, "event", o->id, "id", 404);
    if (!json_object_get(r->params, "expand")) {
        free(r->body);
        r->body = strdup(o->json);
        r->status = 200;
        return T_OK;
    }
    json_t *v = stripe_store_load(o);
    if (stripe_expand(r, v, NULL) != T_OK) {
        json_decref(v);
        return T_ERR;
    }
    return stripe_reply(r, v);
}

/* ---- lists ---- */

static int stripe_parse_int(const char *s, long long *out)
{
    if (!s || !*s)
        return T_ERR;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end)
        return T_ERR;
    *out = v;
    return T_OK;
}

/* Reads created=… or created[gt|gte|lt|lte]=… into inclusive bounds. */
static int stripe_created_bounds(stripe_req *r, int64_t *gte, int64_t *lte)
{
    *gte = INT64_MIN;
    *lte = INT64_MAX;
    json_t *c = json_object_get(r->params, "created");
    if (!c)
        return T_OK;
    long long v;
    if (json_is_string(c)) {
        if (stripe_parse_int(json_string_value(c), &v) != T_OK)
            return stripe_err(r, 400, "invalid_request_error", "parameter_invalid_integer", "created",
                              "Invalid integer: %s", json_string_value(c));
        *gte = *lte = v;
        return T_OK;
    }
    if (!json_is_object(c))
        return stripe_err(r, 400, "invalid_request_error", NULL, "created", "Invalid created: must be a hash.");
    const char *k;
    json_t *val;
    json_object_foreach(c, k, val)
    {
        if (!json_is_string(val) || stripe_parse_int(json_string_value(val), &v) != T_OK)
            return stripe_err(r, 400, "invalid_request_error", "parameter_invalid_integer", "created",
                              "Invalid integer: %s", json_is_string(val) ? json_string_value(val) : "(hash)");
        if (strcmp(k, "gt") == 0)
            *gte = v + 1 > *gte ? v + 1 : *gte;
        else if (strcmp(k, "gte") == 0)
            *gte = v > *gte ? v : *gte;
        else if (strcmp(k, "lt") == 0)
            *lte = v - 1 < *lte ? v - 1 : *lte;
        else if (strcmp(k, "lte") == 0)
            *lte = v < *lte ? v : *lte;
        else
            return stripe_err(r, 400, "invalid_request_error", "parameter_unknown", "created",
                              "Received unknown parameter: created[%s]", k);
    }
    return T_OK;
}

typedef struct stripe_list_filter {
    const char *key;  /* match obj->key */
    const char *key2; /* match obj->key2 */
    json_t *types;    /* events: types[] */
    int exclude_key2_canceled; /* subscriptions default */
    int events;
    int64_t event_delay_ms;
    const char *json_field[2]; /* JSON-level equality filters */
    const char *json_value[2];
} stripe_list_filter;

/* Adds a JSON-level equality filter FIELD == VALUE when VALUE is set. */
static void stripe_list_filter_json(stripe_list_filter *f, const char *field, const char *value)
{
    if (!value)
        return;
    int i = f->json_field[0] ? 1 : 0;
    assert(!f->json_field[i]);
    f->json_field[i] = field;
    f->json_value[i] = value;
}

static int stripe_list_match(const stripe_obj *o, const stripe_list_filter *f, int64_t now_ms)
{
    if (!o->json)
        return 0;
    if (f->events && o->created_ms + f->event_delay_ms > now_ms)
        return 0;
    if (f->key && (!o->key || strcmp(o->key, f->key) != 0))
        return 0;
    if (f->key2 && (!o->key2 || strcmp(o->key2, f->key2) != 0))
        return 0;
    if (f->exclude_key2_canceled && o->key2 && strcmp(o->key2, "canceled") == 0)
        return 0;
    if (f->types) {
        int any = 0;
        size_t i;
        json_t *t;
        json_array_foreach(f->types, i, t)
        {
            const char *s = json_string_value(t);
            size_t sl = s ? strlen(s) : 0;
            if (!s || !o->key)
                continue;
            if (sl && s[sl - 1] == '*' ? strncmp(o->key, s, sl - 1) == 0 : strcmp(o->key, s) == 0)
                any = 1;
        }
        if (!any)
            return 0;
    }
    if (f->json_field[0]) {
        json_t *v = json_loads(o->json, 0, NULL);
        int ok = 1;
        for (int i = 0; i < 2 && f->json_field[i]; i++) {
            json_t *fv = json_object_get(v, f->json_field[i]);
            char buf[64];
            const char *s = NULL;
            if (json_is_string(fv))
                s = json_string_value(fv);
            else if (json_is_boolean(fv))
                s = json_is_true(fv) ? "true" : "false";
            else if (json_is_integer(fv)) {
                snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(fv));
                s = buf;
            }
            if (!s || strcmp(s, f->json_value[i]) != 0)
                ok = 0;
        }
        json_decref(v);
        if (!ok)
            return 0;
    }
    return 1;
}

/* Which params each list accepts beyond the common ones. */
static const char *const stripe_list_params[STRIPE_KIND_COUNT][8] = {
    [STRIPE_CUSTOMER] = {"email"},
    [STRIPE_PRODUCT] = {"active"},
    [STRIPE_PRICE] = {"active", "currency", "product", "type"},
    [STRIPE_SUBSCRIPTION] = {"customer", "price", "status"},
    [STRIPE_INVOICE] = {"customer", "subscription", "status"},
    [STRIPE_CHARGE] = {"customer", "payment_intent"},
    [STRIPE_PAYMENT_INTENT] = {"customer"},
    [STRIPE_WEBHOOK_ENDPOINT] = {NULL},
    [STRIPE_EVENT] = {"type", "types"},
};

static const char *stripe_param_str(stripe_req *r, const char *name)
{
    return json_string_value(json_object_get(r->params, name));
}

/*
 * A list's paging parameters: `limit` (default 10, 1..100) into *LIMIT and
 * the `starting_after` / `ending_before` cursors (NULL when absent; at most
 * one of them). T_OK, or a 400 reply and T_ERR.
 */
static int stripe_list_paging(stripe_req *r, long long *limit, const char **after, const char **before)
{
    *after = stripe_param_str(r, "starting_after");
    *before = stripe_param_str(r, "ending_before");
    if (*after && *before)
        return stripe_err(r, 400, "invalid_request_error", NULL, "ending_before",
                          "You may only specify one of these parameters: ending_before, starting_after.");
    *limit = STRIPE_LIST_DEFAULT_LIMIT;
    json_t *lim = json_object_get(r->params, "limit");
    if (!lim)
        return T_OK;
    if (!json_is_string(lim) || stripe_parse_int(json_string_value(lim), limit) != T_OK)
        return stripe_err(r, 400, "invalid_request_error", "parameter_invalid_integer", "limit",
                          "Invalid integer: %s", json_is_string(lim) ? json_string_value(lim) : "(hash)");
    if (*limit < 1 || *limit > STRIPE_LIST_MAX_LIMIT)
        return stripe_err(r, 400, "invalid_request_error", NULL, "limit",
                          "This value must be greater than or equal to 1 and less than or equal to %d.",
                          STRIPE_LIST_MAX_LIMIT);
    return T_OK;
}

static int stripe_list(stripe_req *r, stripe_kind kind)
{
    stripe_store *st = r->st;
    const char *k;
    json_t *v;
    json_object_foreach(r->params, k, v)
    {
        int ok = !strcmp(k, "limit") || !strcmp(k, "starting_after") || !strcmp(k, "ending_before") ||
                 !strcmp(k, "expand") || !strcmp(k, "created");
        for (int i = 0; !ok && i < 8 && stripe_list_params[kind][i]; i++)
            ok = strcmp(k, stripe_list_params[kind][i]) == 0;
        if (!ok)
            return stripe_err(r, 400, "invalid_request_error", "parameter_unknown", k,
                              "Received unknown parameter: %s", k);
    }
    long long limit;
    const char *after, *before;
    if (stripe_list_paging(r, &limit, &after, &before) != T_OK)
        return T_ERR;
    if (stripe_check_expand_param(r) != T_OK)
        return T_ERR;
    int64_t gte, lte;
    if (stripe_created_bounds(r, &gte, &lte) != T_OK)
        return T_ERR;
    stripe_list_filter f = {0};
    const char *s;
    switch (kind) {
    case STRIPE_CUSTOMER: f.key = stripe_param_str(r, "email"); break;
    case STRIPE_PRICE:
        f.key = stripe_param_str(r, "product");
        stripe_list_filter_json(&f, "active", stripe_param_str(r, "active"));
        stripe_list_filter_json(&f, "type", stripe_param_str(r, "type"));
        if (!f.json_field[1] && (s = stripe_param_str(r, "currency")))
            stripe_list_filter_json(&f, "currency", s);
        else if (stripe_param_str(r, "currency") && stripe_param_str(r, "active") && stripe_param_str(r, "type"))
            return stripe_err(r, 400, "invalid_request_error", NULL, "currency",
                              "The emulator filters prices on at most two of active, type and currency.");
        break;
    case STRIPE_PRODUCT: stripe_list_filter_json(&f, "active", stripe_param_str(r, "active")); break;
    case STRIPE_SUBSCRIPTION:
        f.key = stripe_param_str(r, "customer");
        s = stripe_param_str(r, "status");
        if (!s)
            f.exclude_key2_canceled = 1;
        else if (strcmp(s, "all") != 0)
            f.key2 = s;
        break;
    case STRIPE_INVOICE:
        f.key = stripe_param_str(r, "customer");
        f.key2 = stripe_param_str(r, "subscription");
        stripe_list_filter_json(&f, "status", stripe_param_str(r, "status"));
        break;
    case STRIPE_CHARGE:
        f.key = stripe_param_str(r, "customer");
        stripe_list_filter_json(&f, "payment_intent", stripe_param_str(r, "payment_intent"));
        break;
    case STRIPE_PAYMENT_INTENT: f.key = stripe_param_str(r, "customer"); break;
    case STRIPE_EVENT:
        f.events = 1;
        f.event_delay_ms = r->emu->faults.event_delay_ms;
        f.key = stripe_param_str(r, "type");
        if (f.key && strchr(f.key, '*')) {
            f.types = json_pack("[s]", f.key);
            f.key = NULL;
        } else if (json_is_array(json_object_get(r->params, "types"))) {
            f.types = json_incref(json_object_get(r->params, "types"));
        }
        break;
    default: break;
    }
    const char *price_filter = kind == STRIPE_SUBSCRIPTION ? stripe_param_str(r, "price") : NULL;
    stripe_obj *cursor = NULL;
    const char *cid = after ? after : before;
    if (cid) {
        cursor = stripe_store_get(st, cid);
        if (!cursor || cursor->kind != kind) {
            json_decref(f.types);
            return stripe_err_missing(r, stripe_kinds[kind].object, cid, after ? "starting_after" : "ending_before",
                                      400);
        }
    }
    size_t lo, hi;
    stripe_store_created_range(st, kind, gte, lte, &lo, &hi);
    stripe_obj **a = st->objs[kind];
    stripe_obj **page = malloc((size_t)(limit + 1) * sizeof *page);
    if (!page) {
        json_decref(f.types);
        return stripe_err(r, 500, "api_error", NULL, NULL, "Out of memory.");
    }
    size_t n = 0;
    int has_more = 0;
    int64_t now_ms = stripe_now_ms();
#define STRIPE_MATCH(o) (stripe_list_match((o), &f, now_ms) && (!price_filter || strstr((o)->json, price_filter)))
    if (before) {
        size_t from = cursor->pos + 1 > lo ? cursor->pos + 1 : lo;
        for (size_t i = from; i < hi; i++) {
            if (!STRIPE_MATCH(a[i]))
                continue;
            if (n == (size_t)limit) {
                has_more = 1;
                break;
            }
            page[n++] = a[i];
        }
        for (size_t i = 0; i < n / 2; i++) { /* newest first */
            stripe_obj *t = page[i];
            page[i] = page[n - 1 - i];
            page[n - 1 - i] = t;
        }
    } else {
        size_t top = hi;
        if (after && cursor->pos < top)
            top = cursor->pos;
        for (size_t i = top; i > lo; i--) {
            if (!STRIPE_MATCH(a[i - 1]))
                continue;
            if (n == (size_t)limit) {
                has_more = 1;
                break;
            }
            page[n++] = a[i - 1];
        }
    }
#undef STRIPE_MATCH
    json_decref(f.types);
    /* Render: concatenate stored JSON unless expand[] asks for data.* */
    int expand = 0;
    json_t *exp = json_object_get(r->params, "expand");
    size_t i;
    json_t *e;
    json_array_foreach(exp, i, e)
    {
        if (json_is_string(e) && strncmp(json_string_value(e), "data.", 5) == 0)
            expand = 1;
    }
    size_t cap = 128, len = 0;
    for (i = 0; i < n; i++)
        cap += strlen(page[i]->json) + 1;
    char *out = NULL;
    char **rendered = NULL;
    if (expand) {
        rendered = calloc(n ? n : 1, sizeof *rendered);
        if (!rendered) {
            free(page);
            return stripe_err(r, 500, "api_error", NULL, NULL, "Out of memory.");
        }
        for (i = 0; i < n; i++) {
            json_t *obj = stripe_store_load(page[i]);
            if (stripe_expand(r, obj, "data.") != T_OK) {
                json_decref(obj);
                for (size_t j = 0; j < i; j++)
                    free(rendered[j]);
                free(rendered);
                free(page);
                return T_ERR;
            }
            rendered[i] = stripe_store_dump(obj);
            json_decref(obj);
            cap += strlen(rendered[i]);
        }
    }
    out = malloc(cap);
    if (!out) {
        if (expand)
            for (i = 0; i < n; i++)
                free(rendered[i]);
        free(rendered);
        free(page);
        return stripe_err(r, 500, "api_error", NULL, NULL, "Out of memory.");
    }
    len += (size_t)snprintf(out, cap, "{\"object\":\"list\",\"data\":[");
    for (i = 0; i < n; i++) {
        const char *js = expand ? rendered[i] : page[i]->json;
        size_t jl = strlen(js);
        if (i)
            out[len++] = ',';
        memcpy(out + len, js, jl);
        len += jl;
        if (expand)
            free(rendered[i]);
    }
    len += (size_t)snprintf(out + len, cap - len, "],\"has_more\":%s,\"url\":\"/v1/%s\"}",
                            has_more ? "true" : "false", stripe_kinds[kind].path);
    free(rendered);
    free(page);
    free(r->body);
    r->body = out;
    r->status = 200;
    return T_OK;
}

/* ---- routing ---- */

static int stripe_kind_by_path(const char *seg)
{
    for (int k = 0; k < STRIPE_KIND_COUNT; k++)
        if (strcmp(stripe_kinds[k].path, seg) == 0)
            return k;
    return -1;
}

static int stripe_unrecognized(stripe_req *r, const char *method, const char *path)
{
    return stripe_err(r, 404, "invalid_request_error", NULL, NULL,
                      "Unrecognized request URL (%s: %s). Please see https://stripe.com/docs or we can help at "
                      "https://support.stripe.com/.",
                      method, path);
}

/*
 * Lists of sub-objects: /v1/invoices/:id/lines and /v1/subscription_items,
 * paged like every list (limit, starting_after, ending_before by child id,
 * in the parent's order).
 */
static int stripe_sublist(stripe_req *r, stripe_obj *o, const char *field, const char *url)
{
    long long limit;
    const char *after, *before;
    if (stripe_list_paging(r, &limit, &after, &before) != T_OK)
        return T_ERR;
    json_t *v = stripe_store_load(o);
    json_t *data = json_object_get(json_object_get(v, field), "data");
    size_t n = json_array_size(data), from = 0, to = n;
    const char *cursor = after ? after : before;
    if (cursor) {
        size_t at = n;
        for (size_t i = 0; i < n && at == n; i++)
            if (strcmp(json_string_value(json_object_get(json_array_get(data, i), "id")) ?: "", cursor) == 0)
                at = i;
        if (at == n) {
            json_decref(v);
            return stripe_err_missing(r, field[0] == 'l' ? "line_item" : "subscription_item", cursor,
                                      after ? "starting_after" : "ending_before", 400);
        }
        if (after)
            from = at + 1;
        else
            to = at;
    }
    if (to - from > (size_t)limit) {
        if (before)
            from = to - (size_t)limit;
        else
            to = from + (size_t)limit;
    }
    json_t *page = json_array();
    for (size_t i = from; i < to; i++)
        json_array_append(page, json_array_get(data, i));
    bool more = before ? from > 0 : to < n;
    json_t *out = json_pack("{s:s,s:o,s:b,s:s}", "object", "list", "data", page, "has_more", more, "url", url);
    json_decref(v);
    return stripe_reply(r, out);
}

/*
 * GET /v1/subscription_items/:id. Items live inside their subscription, so
 * this scans subscriptions newest first for the id: O(subscriptions), fine
 * for the occasional retrieve (lists go through the subscription).
 */
static int stripe_subitem_retrieve(stripe_req *r, const char *id)
{
    stripe_obj **a = r->st->objs[STRIPE_SUBSCRIPTION];
    for (size_t i = r->st->n[STRIPE_SUBSCRIPTION]; i > 0; i--) {
        stripe_obj *o = a[i - 1];
        if (!o->json || !strstr(o->json, id))
            continue;
        json_t *v = stripe_store_load(o);
        json_t *data = json_object_get(json_object_get(v, "items"), "data");
        size_t k;
        json_t *it;
        json_array_foreach(data, k, it)
        {
            if (strcmp(json_string_value(json_object_get(it, "id")), id) == 0) {
                json_t *copy = json_incref(it);
                json_decref(v);
                return stripe_reply_expanded(r, copy);
            }
        }
        json_decref(v);
    }
    return stripe_err_missing(r, "subscription_item", id, "id", 404);
}

void stripe_api_route(stripe_req *r, const char *method, const char *path)
{
    char segs[4][160];
    int ns = 0;
    const char *p = path + strlen("/v1/");
    while (*p && ns < 4) {
        const char *sl = strchr(p, '/');
        size_t l = sl ? (size_t)(sl - p) : strlen(p);
        if (l == 0 || l >= sizeof segs[0]) {
            stripe_unrecognized(r, method, path);
            return;
        }
        memcpy(segs[ns], p, l);
        segs[ns][l] = '\0';
        ns++;
        p += l;
        if (*p == '/')
            p++;
    }
    if (*p || ns == 0) {
        stripe_unrecognized(r, method, path);
        return;
    }
    int is_get = strcmp(method, "GET") == 0, is_post = strcmp(method, "POST") == 0,
        is_del = strcmp(method, "DELETE") == 0;
    if (ns == 1 && strcmp(segs[0], "subscription_items") == 0 && is_get) {
        const char *sub = stripe_param_str(r, "subscription");
        stripe_obj *o = sub ? stripe_store_get(r->st, sub) : NULL;
        if (!sub) {
            stripe_err(r, 400, "invalid_request_error", "parameter_missing", "subscription",
                       "Missing required param: subscription.");
            return;
        }
        if (!o || o->kind != STRIPE_SUBSCRIPTION || !o->json) {
            stripe_err_missing(r, "subscription", sub, "subscription", 400);
            return;
        }
        stripe_sublist(r, o, "items", "/v1/subscription_items");
        return;
    }
    if (ns == 2 && strcmp(segs[0], "subscription_items") == 0 && is_get) {
        stripe_subitem_retrieve(r, segs[1]);
        return;
    }
    int kind = stripe_kind_by_path(segs[0]);
    if (kind < 0) {
        stripe_unrecognized(r, method, path);
        return;
    }
    if (ns == 1) {
        if (is_get)
            stripe_list(r, (stripe_kind)kind);
        else if (is_post && kind != STRIPE_EVENT)
            stripe_obj_create(r, (stripe_kind)kind);
        else
            stripe_unrecognized(r, method, path);
        return;
    }
    stripe_obj *o = stripe_store_get(r->st, segs[1]);
    if (ns == 2 && strcmp(segs[1], "search") == 0) {
        stripe_unrecognized(r, method, path);
        return;
    }
    if (!o || o->kind != kind) {
        stripe_err_missing(r, stripe_kinds[kind].object, segs[1], "id", 404);
        return;
    }
    if (ns == 2) {
        if (is_get) {
            const char *k;
            json_t *v;
            json_object_foreach(r->params, k, v)
            {
                if (strcmp(k, "expand") != 0) {
                    stripe_err(r, 400, "invalid_request_error", "parameter_unknown", k,
                               "Received unknown parameter: %s", k);
                    return;
                }
            }
            if (stripe_check_expand_param(r) == T_OK)
                stripe_retrieve(r, (stripe_kind)kind, o);
        } else if (is_post && kind != STRIPE_EVENT) {
            if (!o->json)
                stripe_err_missing(r, stripe_kinds[kind].object, o->id, "id", 404);
            else
                stripe_obj_update(r, (stripe_kind)kind, o);
        } else if (is_del) {
            if (!o->json)
                stripe_err_missing(r, stripe_kinds[kind].object, o->id, "id", 404);
            else
                stripe_obj_delete(r, (stripe_kind)kind, o);
        } else {
            stripe_unrecognized(r, method, path);
        }
        return;
    }
    if (!o->json) {
        stripe_err_missing(r, stripe_kinds[kind].object, o->id, "id", 404);
        return;
    }
    if (ns == 3 && kind == STRIPE_INVOICE && strcmp(segs[2], "lines") == 0 && is_get) {
        char url[80];
        snprintf(url, sizeof url, "/v1/invoices/%s/lines", o->id);
        stripe_sublist(r, o, "lines", url);
        return;
    }
    if (ns == 3 && is_post) {
        stripe_obj_action(r, (stripe_kind)kind, o, segs[2]);
        return;
    }
    stripe_unrecognized(r, method, path);
}
