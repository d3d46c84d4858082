/*
 * stripe_objects.c - create/update/delete and actions for each Stripe object
 * kind, driven by per-kind parameter tables: validation in Stripe's error
 * shape, realistic default fields, side objects (a subscription bills an
 * invoice and a charge) and the events every change appends.
 * Memory: objects are built as jansson trees, rendered into the store (which
 * owns the rendering) and released here.
 */
#include "emulators/stripe/stripe_internal.h"

#include "util/common.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRIPE_MIN_CHARGE_AMOUNT 50
#define STRIPE_MAX_METADATA_KEYS 50
#define STRIPE_MAX_METADATA_KEY 40
#define STRIPE_MAX_METADATA_VALUE 500
#define STRIPE_PERIOD_MONTH (30 * 86400)

enum { F_STR, F_EMAIL, F_INT, F_BOOL, F_META, F_HASH, F_ENUM, F_REF, F_STRLIST, F_IGNORE, F_SPECIAL };
#define FC 1 /* allowed on create */
#define FU 2 /* allowed on update */
#define FR 4 /* required on create */
#define FN 8 /* "" sets null */

typedef struct stripe_field {
    const char *name;
    unsigned char kind, flags;
    const char *extra; /* F_ENUM: "a|b|c"; F_REF: object kind index as text */
} stripe_field;

static const stripe_field stripe_customer_fields[] = {
    {"address", F_HASH, FC | FU | FN, NULL},
    {"balance", F_INT, FC | FU, NULL},
    {"description", F_STR, FC | FU | FN, NULL},
    {"email", F_EMAIL, FC | FU | FN, NULL},
    {"invoice_prefix", F_STR, FC | FU, NULL},
    {"invoice_settings", F_HASH, FC | FU, NULL},
    {"metadata", F_META, FC | FU, NULL},
    {"name", F_STR, FC | FU | FN, NULL},
    {"phone", F_STR, FC | FU | FN, NULL},
    {"preferred_locales", F_STRLIST, FC | FU, NULL},
    {"shipping", F_HASH, FC | FU | FN, NULL},
    {"tax_exempt", F_ENUM, FC | FU, "none|exempt|reverse"},
    {"payment_method", F_IGNORE, FC, NULL},
    {"source", F_IGNORE, FC | FU, NULL},
    {"default_source", F_IGNORE, FU, NULL},
    {"test_clock", F_IGNORE, FC, NULL},
    {NULL, 0, 0, NULL},
};
static const stripe_field stripe_product_fields[] = {
    {"id", F_SPECIAL, FC, NULL},
    {"name", F_STR, FC | FU | FR, NULL},
    {"active", F_BOOL, FC | FU, NULL},
    {"description", F_STR, FC | FU | FN, NULL},
    {"images", F_STRLIST, FC | FU, NULL},
    {"metadata", F_META, FC | FU, NULL},
    {"shippable", F_BOOL, FC | FU, NULL},
    {"statement_descriptor", F_STR, FC | FU | FN, NULL},
    {"tax_code", F_STR, FC | FU | FN, NULL},
    {"unit_label", F_STR, FC | FU | FN, NULL},
    {"url", F_STR, FC | FU | FN, NULL},
    {"default_price", F_REF, FU, "2"},
    {"type", F_ENUM, FC, "good|service"},
    {NULL, 0, 0, NULL},
};
static const stripe_field stripe_price_fields[] = {
    {"currency", F_STR, FC | FR, NULL},
    {"product", F_REF, FC, "1"},
    {"product_data", F_SPECIAL, FC, NULL},
    {"unit_amount", F_INT, FC, NULL},
    {"unit_amount_decimal", F_STR, FC, NULL},
    {"recurring", F_SPECIAL, FC, NULL},
    {"active", F_BOOL, FC | FU, NULL},
    {"metadata", F_META, FC | FU, NULL},
    {"nickname", F_STR, FC | FU | FN, NULL},
    {"lookup_key", F_STR, FC | FU | FN, NULL},
    {"tax_behavior", F_ENUM, FC | FU, "exclusive|inclusive|unspecified"},
    {"billing_scheme", F_ENUM, FC, "per_unit|tiered"},
    {"transfer_lookup_key", F_IGNORE, FC | FU, NULL},
    {NULL, 0, 0, NULL},
};
static const stripe_field stripe_subscription_fields[] = {
    {"customer", F_REF, FC | FR, "0"},
    {"items", F_SPECIAL, FC | FU, NULL},
    {"metadata", F_META, FC | FU, NULL},
    {"description", F_STR, FC | FU | FN, NULL},
    {"cancel_at_period_end", F_BOOL, FC | FU, NULL},
    {"cancel_at", F_INT, FC | FU | FN, NULL},
    {"collection_method", F_ENUM, FC | FU, "charge_automatically|send_invoice"},
    {"days_until_due", F_INT, FC | FU | FN, NULL},
    {"default_payment_method", F_STR, FC | FU | FN, NULL},
    {"trial_period_days", F_SPECIAL, FC, NULL},
    {"proration_behavior", F_IGNORE, FC | FU, NULL},
    {"payment_behavior", F_IGNORE, FC | FU, NULL},
    {"off_session", F_IGNORE, FC | FU, NULL},
    {NULL, 0, 0, NULL},
};
static const stripe_field stripe_invoice_fields[] = {
    {"customer", F_REF, FC | FR, "0"},
    {"subscription", F_SPECIAL, FC, NULL},
    {"auto_advance", F_BOOL, FC | FU, NULL},
    {"collection_method", F_ENUM, FC | FU, "charge_automatically|send_invoice"},
    {"days_until_due", F_INT, FC | FU | FN, NULL},
    {"description", F_STR, FC | FU | FN, NULL},
    {"footer", F_STR, FC | FU | FN, NULL},
    {"metadata", F_META, FC | FU, NULL},
    {"currency", F_STR, FC, NULL},
    {"pending_invoice_items_behavior", F_IGNORE, FC, NULL},
    {NULL, 0, 0, NULL},
};
static const stripe_field stripe_charge_fields[] = {
    {"amount", F_INT, FC | FR, NULL},
    {"currency", F_STR, FC | FR, NULL},
    {"customer", F_REF, FC, "0"},
    {"description", F_STR, FC | FU | FN, NULL},
    {"metadata", F_META, FC | FU, NULL},
    {"receipt_email", F_EMAIL, FC | FU | FN, NULL},
    {"shipping", F_HASH, FC | FU | FN, NULL},
    {"statement_descriptor", F_STR, FC, NULL},
    {"source", F_IGNORE, FC, NULL},
    {"capture", F_SPECIAL, FC, NULL},
    {"fraud_details", F_IGNORE, FU, NULL},
    {NULL, 0, 0, NULL},
};
static const stripe_field stripe_pi_fields[] = {
    {"amount", F_INT, FC | FU | FR, NULL},
    {"currency", F_STR, FC | FU | FR, NULL},
    {"customer", F_REF, FC | FU, "0"},
    {"description", F_STR, FC | FU | FN, NULL},
    {"metadata", F_META, FC | FU, NULL},
    {"payment_method", F_STR, FC | FU | FN, NULL},
    {"payment_method_types", F_STRLIST, FC | FU, NULL},
    {"receipt_email", F_EMAIL, FC | FU | FN, NULL},
    {"capture_method", F_ENUM, FC | FU, "automatic|automatic_async|manual"},
    {"setup_future_usage", F_ENUM, FC | FU, "off_session|on_session"},
    {"statement_descriptor", F_STR, FC | FU | FN, NULL},
    {"automatic_payment_methods", F_HASH, FC, NULL},
    {"confirm", F_SPECIAL, FC, NULL},
    {"off_session", F_IGNORE, FC, NULL},
    {"return_url", F_IGNORE, FC, NULL},
    {NULL, 0, 0, NULL},
};
static const stripe_field stripe_we_fields[] = {
    {"url", F_STR, FC | FU | FR, NULL},
    {"enabled_events", F_STRLIST, FC | FU | FR, NULL},
    {"description", F_STR, FC | FU | FN, NULL},
    {"metadata", F_META, FC | FU, NULL},
    {"api_version", F_STR, FC, NULL},
    {"disabled", F_SPECIAL, FU, NULL},
    {"connect", F_IGNORE, FC, NULL},
    {NULL, 0, 0, NULL},
};

static const stripe_field *const stripe_fields[STRIPE_KIND_COUNT] = {
    [STRIPE_CUSTOMER] = stripe_customer_fields,
    [STRIPE_PRODUCT] = stripe_product_fields,
    [STRIPE_PRICE] = stripe_price_fields,
    [STRIPE_SUBSCRIPTION] = stripe_subscription_fields,
    [STRIPE_INVOICE] = stripe_invoice_fields,
    [STRIPE_CHARGE] = stripe_charge_fields,
    [STRIPE_PAYMENT_INTENT] = stripe_pi_fields,
    [STRIPE_WEBHOOK_ENDPOINT] = stripe_we_fields,
};

/* ---- helpers ---- */

static int stripe_email_valid(const char *s)
{
    size_t n = strlen(s);
    const char *at = strchr(s, '@');
    if (n > 512 || !at || at == s || strchr(at + 1, '@'))
        return 0;
    const char *dot = strrchr(at + 1, '.');
    if (!dot || dot == at + 1 || dot[1] == '\0')
        return 0;
    for (const char *p = s; *p; p++)
        if (isspace((unsigned char)*p) || *p == ',' || *p == '<' || *p == '>' || *p == '(' || *p == ')')
            return 0;
    return 1;
}

static int stripe_to_int(const char *s, long long *out)
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

static const char *stripe_str(json_t *params, const char *name)
{
    return json_string_value(json_object_get(params, name));
}

static int stripe_apply_meta(stripe_req *r, json_t *obj, json_t *v)
{
    json_t *meta = json_object_get(obj, "metadata");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(obj, "metadata", meta);
    }
    if (json_is_string(v)) {
        if (json_string_length(v) != 0)
            return stripe_err(r, 400, "invalid_request_error", NULL, "metadata",
                              "Invalid object: metadata must be a hash or an empty string.");
        json_object_clear(meta);
        return T_OK;
    }
    if (!json_is_object(v))
        return stripe_err(r, 400, "invalid_request_error", NULL, "metadata", "Invalid object");
    const char *k;
    json_t *val;
    json_object_foreach(v, k, val)
    {
        if (!json_is_string(val))
            return stripe_err(r, 400, "invalid_request_error", NULL, "metadata",
                              "Invalid value for metadata[%s]: metadata values must be strings.", k);
        if (strlen(k) > STRIPE_MAX_METADATA_KEY)
            return stripe_err(r, 400, "invalid_request_error", NULL, "metadata",
                              "Metadata keys can have up to %d characters.", STRIPE_MAX_METADATA_KEY);
        if (json_string_length(val) > STRIPE_MAX_METADATA_VALUE)
            return stripe_err(r, 400, "invalid_request_error", NULL, "metadata",
                              "Metadata values can have up to %d characters.", STRIPE_MAX_METADATA_VALUE);
        if (json_string_length(val) == 0)
            json_object_del(meta, k);
        else
            json_object_set(meta, k, val);
    }
    if (json_object_size(meta) > STRIPE_MAX_METADATA_KEYS)
        return stripe_err(r, 400, "invalid_request_error", NULL, "metadata",
                          "You can have up to %d metadata keys.", STRIPE_MAX_METADATA_KEYS);
    return T_OK;
}

/*
 * Applies R's params to OBJ per KIND's table. F_SPECIAL fields are left for
 * the caller. Returns T_OK or T_ERR with the error reply set.
 */
static int stripe_apply(stripe_req *r, stripe_kind kind, json_t *obj, int create)
{
    const stripe_field *fields = stripe_fields[kind];
    const char *k;
    json_t *v;
    json_object_foreach(r->params, k, v)
    {
        if (strcmp(k, "expand") == 0)
            continue;
        const stripe_field *f = NULL;
        for (const stripe_field *x = fields; x->name; x++)
            if (strcmp(x->name, k) == 0)
                f = x;
        if (!f || !(f->flags & (create ? FC : FU)))
            return stripe_err(r, 400, "invalid_request_error", "parameter_unknown", k,
                              "Received unknown parameter: %s", k);
        if (f->kind == F_SPECIAL || f->kind == F_IGNORE)
            continue;
        if (f->kind == F_META) {
            if (stripe_apply_meta(r, obj, v) != T_OK)
                return T_ERR;
            continue;
        }
        if (json_is_string(v) && json_string_length(v) == 0 && (f->flags & FN)) {
            json_object_set_new(obj, k, json_null());
            continue;
        }
        if (f->kind == F_HASH) {
            if (!json_is_object(v))
                return stripe_err(r, 400, "invalid_request_error", NULL, k, "Invalid object");
            json_object_set_new(obj, k, json_deep_copy(v));
            continue;
        }
        if (f->kind == F_STRLIST) {
            if (json_is_string(v) && json_string_length(v) == 0) {
                json_object_set_new(obj, k, json_array());
                continue;
            }
            if (!json_is_array(v))
                return stripe_err(r, 400, "invalid_request_error", NULL, k, "Invalid array");
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e) if (!json_is_string(e)) return stripe_err(
                r, 400, "invalid_request_error", NULL, k, "Invalid array");
            json_object_set(obj, k, v);
            continue;
        }
        if (!json_is_string(v))
            return stripe_err(r, 400, "invalid_request_error", NULL, k, "Invalid string: %s must be a string",
                              k);
        const char *s = json_string_value(v);
        switch (f->kind) {
        case F_STR: json_object_set(obj, k, v); break;
        case F_EMAIL:
            if (!stripe_email_valid(s))
                return stripe_err(r, 400, "invalid_request_error", "email_invalid", k,
                                  "Invalid email address: %s", s);
            json_object_set(obj, k, v);
            break;
        case F_INT: {
            long long n;
            if (stripe_to_int(s, &n) != T_OK)
                return stripe_err(r, 400, "invalid_request_error", "parameter_invalid_integer", k,
                                  "Invalid integer: %s", s);
            json_object_set_new(obj, k, json_integer(n));
            break;
        }
        case F_BOOL:
            if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
                return stripe_err(r, 400, "invalid_request_error", NULL, k, "Invalid boolean: %s", s);
            json_object_set_new(obj, k, json_boolean(strcmp(s, "true") == 0));
            break;
        case F_ENUM: {
            const char *ex = f->extra;
            size_t sl = strlen(s);
            int ok = 0;
            for (const char *p = ex; *p;) {
                const char *bar = strchr(p, '|');
                size_t l = bar ? (size_t)(bar - p) : strlen(p);
                if (l == sl && strncmp(p, s, l) == 0)
                    ok = 1;
                p += l + (bar ? 1 : 0);
            }
            if (!ok)
                return stripe_err(r, 400, "invalid_request_error", NULL, k,
                                  "Invalid %s: must be one of %s", k, ex);
            json_object_set(obj, k, v);
            break;
        }
        case F_REF: {
            int want = atoi(f->extra);
            stripe_obj *o = stripe_store_get(r->st, s);
            if (!o || o->kind != want || !o->json)
                return stripe_err_missing(r, stripe_kinds[want].object, s, k, 400);
            json_object_set(obj, k, v);
            break;
        }
        default: break;
        }
    }
    if (create) {
        for (const stripe_field *x = fields; x->name; x++)
            if ((x->flags & FR) && !json_object_get(r->params, x->name))
                return stripe_err(r, 400, "invalid_request_error", "parameter_missing", x->name,
                                  "Missing required param: %s.", x->name);
    }
    return T_OK;
}

void stripe_obj_keys(stripe_kind kind, const json_t *obj, char **key, char **key2)
{
    const char *k = NULL, *k2 = NULL;
    switch (kind) {
    case STRIPE_CUSTOMER: k = json_string_value(json_object_get(obj, "email")); break;
    case STRIPE_PRICE: k = json_string_value(json_object_get(obj, "product")); break;
    case STRIPE_SUBSCRIPTION:
        k = json_string_value(json_object_get(obj, "customer"));
        k2 = json_string_value(json_object_get(obj, "status"));
        break;
    case STRIPE_INVOICE:
        k = json_string_value(json_object_get(obj, "customer"));
        k2 = json_string_value(json_object_get(
            json_object_get(json_object_get(obj, "parent"), "subscription_details"), "subscription"));
        break;
    case STRIPE_CHARGE:
    case STRIPE_PAYMENT_INTENT: k = json_string_value(json_object_get(obj, "customer")); break;
    case STRIPE_WEBHOOK_ENDPOINT:
        k = json_string_value(json_object_get(obj, "url"));
        k2 = json_string_value(json_object_get(obj, "secret"));
        break;
    default: break;
    }
    *key = k ? strdup(k) : NULL;
    *key2 = k2 ? strdup(k2) : NULL;
}

static void stripe_event_name(char *out, size_t len, stripe_kind kind, const char *verb)
{
    snprintf(out, len, "%s.%s", stripe_kinds[kind].event_prefix, verb);
}

stripe_obj *stripe_obj_insert(stripe_req *r, stripe_kind kind, json_t *obj, bool emit)
{
    char *key, *key2;
    stripe_obj_keys(kind, obj, &key, &key2);
    json_t *secret = NULL;
    if (kind == STRIPE_WEBHOOK_ENDPOINT) { /* the secret is shown once, on create */
        secret = json_incref(json_object_get(obj, "secret"));
        json_object_del(obj, "secret");
    }
    char *json = stripe_store_dump(obj);
    if (secret) {
        json_object_set_new(obj, "secret", secret);
    }
    const char *id = json_string_value(json_object_get(obj, "id"));
    int64_t created = json_integer_value(json_object_get(obj, "created"));
    stripe_obj *o = stripe_store_add(r->st, kind, id, created, json, key, key2);
    if (o && emit && stripe_kinds[kind].event_prefix) {
        char type[80];
        stripe_event_name(type, sizeof type, kind, "created");
        stripe_event_emit(r, type, obj, NULL);
    }
    return o;
}

/* Stores OBJ as O's new state and emits KIND.updated with previous attributes. */
static void stripe_obj_save(stripe_req *r, stripe_kind kind, stripe_obj *o, json_t *old, json_t *obj,
                            const char *verb)
{
    json_t *prev = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(old, k, v)
    {
        json_t *nv = json_object_get(obj, k);
        if (!nv || !json_equal(v, nv))
            json_object_set(prev, k, v);
    }
    char *key, *key2;
    stripe_obj_keys(kind, obj, &key, &key2);
    if (kind == STRIPE_WEBHOOK_ENDPOINT) { /* keep the stored secret */
        free(key2);
        key2 = o->key2 ? strdup(o->key2) : NULL;
    }
    stripe_store_set_key(o, 1, key);
    stripe_store_set_key(o, 2, key2);
    stripe_store_set_json(r->st, o, stripe_store_dump(obj));
    if (stripe_kinds[kind].event_prefix && json_object_size(prev) > 0) {
        char type[80];
        stripe_event_name(type, sizeof type, kind, verb ? verb : "updated");
        stripe_event_emit(r, type, obj, prev);
    } else {
        json_decref(prev);
    }
}

/* ---- builders ---- */

static json_t *stripe_base(stripe_req *r, stripe_kind kind, const char *id_override)
{
    char id[40];
    if (id_override)
        snprintf(id, sizeof id, "%s", id_override);
    else
        stripe_store_new_id(r->st, stripe_kinds[kind].prefix, id);
    return json_pack("{s:s,s:s}", "id", id, "object", stripe_kinds[kind].object);
}

static json_t *stripe_customer_new(stripe_req *r)
{
    json_t *o = stripe_base(r, STRIPE_CUSTOMER, NULL);
    char prefix[9];
    stripe_store_rand_str(r->st, prefix, 8);
    for (char *p = prefix; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    json_t *rest = json_pack(
        "{s:n,s:i,s:I,s:n,s:n,s:b,s:n,s:n,s:n,s:s,s:{s:n,s:n,s:n,s:n},s:b,s:{},s:n,s:i,s:n,s:[],s:n,s:s,s:n}",
        "address", "balance", 0, "created", (json_int_t)stripe_store_now(r->st), "currency", "default_source",
        "delinquent", 0, "description", "discount", "email", "invoice_prefix", prefix, "invoice_settings",
        "custom_fields", "default_payment_method", "footer", "rendering_options", "livemode", 0, "metadata", "name",
        "next_invoice_sequence", 1, "phone", "preferred_locales", "shipping", "tax_exempt", "none", "test_clock");
    json_object_update(o, rest);
    json_decref(rest);
    return o;
}

static json_t *stripe_product_new(stripe_req *r, const char *id)
{
    json_t *o = stripe_base(r, STRIPE_PRODUCT, id);
    int64_t now = stripe_store_now(r->st);
    json_t *rest = json_pack("{s:b,s:[],s:I,s:n,s:n,s:[],s:b,s:[],s:{},s:s,s:n,s:n,s:n,s:n,s:s,s:n,s:I,s:n}",
                             "active", 1, "attributes", "created", (json_int_t)now, "default_price", "description",
                             "images", "livemode", 0, "marketing_features", "metadata", "name", "", "package_dimensions",
                             "shippable", "statement_descriptor", "tax_code", "type", "service", "unit_label",
                             "updated", (json_int_t)now, "url");
    json_object_update(o, rest);
    json_decref(rest);
    return o;
}

static json_t *stripe_price_new(stripe_req *r)
{
    json_t *o = stripe_base(r, STRIPE_PRICE, NULL);
    json_t *rest = json_pack("{s:b,s:s,s:I,s:s,s:n,s:b,s:n,s:{},s:n,s:n,s:n,s:s,s:n,s:n,s:s,s:n,s:n}", "active", 1,
                             "billing_scheme", "per_unit", "created", (json_int_t)stripe_store_now(r->st), "currency",
                             "usd", "custom_unit_amount", "livemode", 0, "lookup_key", "metadata", "nickname",
                             "product", "recurring", "tax_behavior", "unspecified", "tiers_mode",
                             "transform_quantity", "type", "one_time", "unit_amount", "unit_amount_decimal");
    json_object_update(o, rest);
    json_decref(rest);
    return o;
}

static int stripe_price_create(stripe_req *r, json_t *o)
{
    json_t *pd = json_object_get(r->params, "product_data");
    if (!json_object_get(r->params, "product") && !pd)
        return stripe_err(r, 400, "invalid_request_error", "parameter_missing", "product",
                          "Missing required param: product.");
    if (pd) {
        const char *name = stripe_str(pd, "name");
        if (!json_is_object(pd) || !name)
            return stripe_err(r, 400, "invalid_request_error", "parameter_missing", "product_data[name]",
                              "Missing required param: product_data[name].");
        json_t *prod = stripe_product_new(r, NULL);
        json_object_set_new(prod, "name", json_string(name));
        if (json_is_object(json_object_get(pd, "metadata")))
            json_object_set(prod, "metadata", json_object_get(pd, "metadata"));
        stripe_obj_insert(r, STRIPE_PRODUCT, prod, true);
        json_object_set(o, "product", json_object_get(prod, "id"));
        json_decref(prod);
    }
    json_t *ua = json_object_get(o, "unit_amount");
    if (json_is_integer(ua)) {
        if (json_integer_value(ua) < 0)
            return stripe_err(r, 400, "invalid_request_error", NULL, "unit_amount",
                              "This value must be greater than or equal to 0.");
        json_object_set_new(o, "unit_amount_decimal", json_sprintf("%lld", (long long)json_integer_value(ua)));
    } else if (!json_object_get(r->params, "unit_amount_decimal")) {
        return stripe_err(r, 400, "invalid_request_error", "parameter_missing", "unit_amount",
                          "Missing required param: unit_amount.");
    }
    json_t *rec = json_object_get(r->params, "recurring");
    if (rec) {
        const char *interval = stripe_str(rec, "interval");
        if (!interval || (strcmp(interval, "day") && strcmp(interval, "week") && strcmp(interval, "month") &&
                          strcmp(interval, "year")))
            return stripe_err(r, 400, "invalid_request_error", NULL, "recurring[interval]",
                              "Invalid recurring[interval]: must be one of day, week, month, or year");
        long long count = 1;
        const char *c = stripe_str(rec, "interval_count");
        if (c && (stripe_to_int(c, &count) != T_OK || count < 1))
            return stripe_err(r, 400, "invalid_request_error", "parameter_invalid_integer",
                              "recurring[interval_count]", "Invalid integer: %s", c);
        const char *ut = stripe_str(rec, "usage_type");
        json_object_set_new(o, "recurring",
                            json_pack("{s:s,s:I,s:n,s:n,s:s}", "interval", interval, "interval_count",
                                      (json_int_t)count, "meter", "trial_period_days", "usage_type",
                                      ut ? ut : "licensed"));
        json_object_set_new(o, "type", json_string("recurring"));
    }
    return T_OK;
}

static json_t *stripe_charge_new(stripe_req *r, long long amount, const char *currency, const char *customer,
                                 const char *invoice, const char *pi)
{
    json_t *o = stripe_base(r, STRIPE_CHARGE, NULL);
    char pm[32], txn[32], fp[17];
    stripe_store_new_id(r->st, "pm", pm);
    stripe_store_new_id(r->st, "txn", txn);
    stripe_store_rand_str(r->st, fp, 16);
    json_t *rest = json_pack(
        "{s:I,s:I,s:i,s:s,s:{s:{s:n,s:n,s:n,s:n,s:n,s:n},s:n,s:n,s:n},s:b,s:I,s:s,s:s?,s:n,s:b,s:n,s:n,s:b,"
        "s:{},s:{s:s,s:n,s:s,s:i,s:s,s:s},s:b,s:s?,s:s,s:{s:s,s:{s:s,s:i,s:i,s:s,s:s}},s:n,s:b,s:s,s:s?}",
        "amount", (json_int_t)amount, "amount_captured", (json_int_t)amount, "amount_refunded", 0,
        "balance_transaction", txn, "billing_details", "address", "city", "country", "line1", "line2",
        "postal_code", "state", "email", "name", "phone", "captured", 1, "created",
        (json_int_t)stripe_store_now(r->st), "currency", currency, "customer", customer, "description", "disputed", 0,
        "failure_code", "failure_message", "livemode", 0, "metadata", "outcome", "network_status",
        "approved_by_network", "reason", "risk_level", "normal", "risk_score", 32, "seller_message",
        "Payment complete.", "type", "authorized", "paid", 1, "payment_intent", pi, "payment_method", pm,
        "payment_method_details", "type", "card", "card", "brand", "visa", "exp_month", 12, "exp_year", 2030,
        "fingerprint", fp, "last4", "4242", "receipt_email", "refunded", 0, "status", "succeeded", "invoice", invoice);
    json_object_update(o, rest);
    json_decref(rest);
    char refunds_url[80];
    snprintf(refunds_url, sizeof refunds_url, "/v1/charges/%s/refunds", json_string_value(json_object_get(o, "id")));
    json_object_update_new(
        o, json_pack("{s:n,s:n,s:n,s:s,s:n,s:{},s:n,s:n,s:n,s:{s:s,s:[],s:b,s:s},s:n,s:n,s:n,s:n,s:n,s:n,s:n}",
                     "application", "application_fee", "application_fee_amount", "calculated_statement_descriptor",
                     "TETHER EMULATOR", "failure_balance_transaction", "fraud_details", "on_behalf_of",
                     "receipt_number", "receipt_url", "refunds", "object", "list", "data", "has_more", 0, "url",
                     refunds_url, "review", "shipping", "source_transfer", "statement_descriptor",
                     "statement_descriptor_suffix", "transfer_data", "transfer_group"));
    return o;
}

static json_t *stripe_invoice_new(stripe_req *r, const char *customer, const char *currency, const char *sub,
                                  const char *reason)
{
    json_t *o = stripe_base(r, STRIPE_INVOICE, NULL);
    int64_t now = stripe_store_now(r->st);
    stripe_obj *c = stripe_store_get(r->st, customer);
    json_t *cj = c ? stripe_store_load(c) : NULL;
    char url[80];
    snprintf(url, sizeof url, "/v1/invoices/%s/lines", json_string_value(json_object_get(o, "id")));
    json_t *rest = json_pack(
        "{s:s,s:i,s:i,s:i,s:i,s:b,s:b,s:s,s:I,s:s,s:s,s:s,s:O?,s:O?,s:n,s:n,s:i,s:n,s:{s:[],s:b,s:i,s:s},"
        "s:b,s:{},s:n,s:I,s:I,s:s,s:{s:n,s:n,s:n,s:n},s:i,s:i}",
        "account_country", "US", "amount_due", 0, "amount_paid", 0, "amount_remaining", 0, "attempt_count", 0,
        "attempted", 0, "auto_advance", 1, "billing_reason", reason, "created", (json_int_t)now, "collection_method",
        "charge_automatically", "currency", currency, "customer", customer, "customer_email",
        cj ? json_object_get(cj, "email") : NULL, "customer_name", cj ? json_object_get(cj, "name") : NULL,
        "description", "due_date", "ending_balance", 0, "hosted_invoice_url", "lines", "data", "has_more", 0,
        "total_count", 0, "url", url, "livemode", 0, "metadata", "number", "period_end", (json_int_t)now,
        "period_start", (json_int_t)now, "status", "draft", "status_transitions", "finalized_at",
        "marked_uncollectible_at", "paid_at", "voided_at", "subtotal", 0, "total", 0);
    json_object_update(o, rest);
    json_decref(rest);
    json_decref(cj);
    if (sub)
        json_object_set_new(o, "parent",
                            json_pack("{s:n,s:{s:{},s:s},s:s}", "quote_details", "subscription_details", "metadata",
                                      "subscription", sub, "type", "subscription_details"));
    else
        json_object_set_new(o, "parent", json_null());
    return o;
}

/* Finalizes (number, open) and, when PAY, pays INV creating a charge. */
static void stripe_invoice_advance(stripe_req *r, json_t *inv, int pay)
{
    int64_t now = stripe_store_now(r->st);
    json_t *st = json_object_get(inv, "status_transitions");
    if (strcmp(json_string_value(json_object_get(inv, "status")), "draft") == 0) {
        const char *prefix = "INV";
        json_object_set_new(inv, "number", json_sprintf("%s-%04llu", prefix, (unsigned long long)(r->st->seq % 10000)));
        json_object_set_new(inv, "status", json_string("open"));
        json_object_set_new(st, "finalized_at", json_integer(now));
    }
    if (!pay)
        return;
    long long due = json_integer_value(json_object_get(inv, "amount_due"));
    if (due > 0) {
        json_t *ch = stripe_charge_new(r, due, json_string_value(json_object_get(inv, "currency")),
                                       json_string_value(json_object_get(inv, "customer")),
                                       json_string_value(json_object_get(inv, "id")), NULL);
        stripe_event_emit(r, "charge.succeeded", ch, NULL);
        char *key, *key2;
        stripe_obj_keys(STRIPE_CHARGE, ch, &key, &key2);
        stripe_store_add(r->st, STRIPE_CHARGE, json_string_value(json_object_get(ch, "id")),
                         json_integer_value(json_object_get(ch, "created")), stripe_store_dump(ch), key, key2);
        json_decref(ch);
    }
    json_object_set_new(inv, "status", json_string("paid"));
    json_object_set_new(inv, "amount_paid", json_integer(due));
    json_object_set_new(inv, "amount_remaining", json_integer(0));
    json_object_set_new(inv, "attempted", json_true());
    json_object_set_new(inv, "attempt_count", json_integer(1));
    json_object_set_new(st, "paid_at", json_integer(now));
}

/* Builds subscription items from items[] params into ITEMS (array). */
static int stripe_sub_items(stripe_req *r, json_t *sub, json_t *params_items, json_t *items, int64_t now,
                            int64_t period_end, int updating)
{
    if (!json_is_array(params_items))
        return stripe_err(r, 400, "invalid_request_error", NULL, "items", "Invalid array");
    size_t i;
    json_t *it;
    const char *sub_id = json_string_value(json_object_get(sub, "id"));
    json_array_foreach(params_items, i, it)
    {
        char param[48];
        if (!json_is_object(it))
            return stripe_err(r, 400, "invalid_request_error", NULL, "items", "Invalid object");
        const char *k;
        json_t *v;
        json_object_foreach(it, k, v)
        {
            if (strcmp(k, "price") && strcmp(k, "quantity") && strcmp(k, "metadata") && strcmp(k, "id") &&
                strcmp(k, "deleted") && strcmp(k, "clear_usage") && strcmp(k, "tax_rates")) {
                snprintf(param, sizeof param, "items[%zu][%s]", i, k);
                return stripe_err(r, 400, "invalid_request_error", "parameter_unknown", param,
                                  "Received unknown parameter: %s", param);
            }
        }
        json_t *target = NULL;
        size_t tidx = 0;
        const char *iid = stripe_str(it, "id");
        if (iid) {
            size_t j;
            json_t *ex;
            json_array_foreach(items, j, ex)
            {
                if (strcmp(json_string_value(json_object_get(ex, "id")), iid) == 0) {
                    target = ex;
                    tidx = j;
                }
            }
            if (!updating || !target)
                return stripe_err_missing(r, "subscription_item", iid, "items", 400);
            const char *del = stripe_str(it, "deleted");
            if (del && strcmp(del, "true") == 0) {
                json_array_remove(items, tidx);
                continue;
            }
        }
        const char *price = stripe_str(it, "price");
        if (!target && !price) {
            snprintf(param, sizeof param, "items[%zu][price]", i);
            return stripe_err(r, 400, "invalid_request_error", "parameter_missing", param,
                              "Missing required param: %s.", param);
        }
        json_t *pj = NULL;
        if (price) {
            stripe_obj *po = stripe_store_get(r->st, price);
            if (!po || po->kind != STRIPE_PRICE || !po->json)
                return stripe_err_missing(r, "price", price, "items", 400);
            pj = stripe_store_load(po);
            if (!json_is_object(json_object_get(pj, "recurring"))) {
                json_decref(pj);
                return stripe_err(r, 400, "invalid_request_error", NULL, "items",
                                  "The price specified is set to `type=one_time` but this field only accepts "
                                  "prices with `type=recurring`.");
            }
        }
        long long qty = 1;
        const char *q = stripe_str(it, "quantity");
        if (q && (stripe_to_int(q, &qty) != T_OK || qty < 0)) {
            json_decref(pj);
            snprintf(param, sizeof param, "items[%zu][quantity]", i);
            return stripe_err(r, 400, "invalid_request_error", "parameter_invalid_integer", param,
                              "Invalid integer: %s", q);
        }
        if (!target) {
            char si[32];
            stripe_store_new_id(r->st, "si", si);
            target = json_pack("{s:s,s:s,s:I,s:I,s:I,s:[],s:{},s:n,s:I,s:s}", "id", si, "object",
                               "subscription_item", "created", (json_int_t)now, "current_period_end",
                               (json_int_t)period_end, "current_period_start", (json_int_t)now, "discounts",
                               "metadata", "price", "quantity", (json_int_t)qty, "subscription", sub_id);
            json_array_append_new(items, target);
        }
        if (pj)
            json_object_set_new(target, "price", pj);
        if (q)
            json_object_set_new(target, "quantity", json_integer(qty));
        json_t *meta = json_object_get(it, "metadata");
        if (json_is_object(meta))
            json_object_set(target, "metadata", meta);
    }
    return T_OK;
}

static void stripe_sub_set_items(json_t *sub, json_t *items)
{
    char url[80];
    snprintf(url, sizeof url, "/v1/subscription_items?subscription=%s", json_string_value(json_object_get(sub, "id")));
    json_object_set_new(sub, "items",
                        json_pack("{s:s,s:O,s:b,s:i,s:s}", "object", "list", "data", items, "has_more", 0,
                                  "total_count", (int)json_array_size(items), "url", url));
    json_t *first = json_array_get(items, 0);
    json_t *price = json_object_get(first, "price");
    if (price)
        json_object_set(sub, "currency", json_object_get(price, "currency"));
}

static int stripe_subscription_create(stripe_req *r, json_t *sub)
{
    int64_t now = stripe_store_now(r->st);
    json_t *pi = json_object_get(r->params, "items");
    if (!pi || json_array_size(pi) == 0)
        return stripe_err(r, 400, "invalid_request_error", "parameter_missing", "items",
                          "Missing required param: items.");
    long long trial = 0;
    const char *tp = stripe_str(r->params, "trial_period_days");
    if (tp && (stripe_to_int(tp, &trial) != T_OK || trial < 0 || trial > 730))
        return stripe_err(r, 400, "invalid_request_error", "parameter_invalid_integer", "trial_period_days",
                          "Invalid integer: %s", tp);
    int64_t period_end = now + (trial ? trial * 86400 : STRIPE_PERIOD_MONTH);
    json_t *items = json_array();
    if (stripe_sub_items(r, sub, pi, items, now, period_end, 0) != T_OK) {
        json_decref(items);
        return T_ERR;
    }
    stripe_sub_set_items(sub, items);
    if (trial) {
        json_object_set_new(sub, "status", json_string("trialing"));
        json_object_set_new(sub, "trial_start", json_integer(now));
        json_object_set_new(sub, "trial_end", json_integer(period_end));
    }
    /* The first invoice, with a line per item, paid at once. */
    const char *cust = json_string_value(json_object_get(sub, "customer"));
    json_t *inv = stripe_invoice_new(r, cust, json_string_value(json_object_get(sub, "currency")),
                                     json_string_value(json_object_get(sub, "id")), "subscription_create");
    json_t *lines = json_object_get(json_object_get(inv, "lines"), "data");
    long long total = 0;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        json_t *price = json_object_get(it, "price");
        long long qty = json_integer_value(json_object_get(it, "quantity"));
        long long amount = trial ? 0 : qty * json_integer_value(json_object_get(price, "unit_amount"));
        total += amount;
        char il[32];
        stripe_store_new_id(r->st, "il", il);
        json_array_append_new(
            lines, json_pack("{s:s,s:s,s:I,s:O,s:s,s:O,s:b,s:{},s:{s:I,s:I},s:{s:{s:O,s:O},s:s,s:O},s:I,"
                             "s:{s:{s:s,s:s},s:s}}",
                             "id", il, "object", "line_item", "amount", (json_int_t)amount, "currency",
                             json_object_get(price, "currency"), "description", "Subscription item", "invoice",
                             json_object_get(inv, "id"), "livemode", 0, "metadata", "period", "end",
                             (json_int_t)period_end, "start", (json_int_t)now, "pricing", "price_details", "price",
                             json_object_get(price, "id"), "product", json_object_get(price, "product"), "type",
                             "price_details", "unit_amount_decimal", json_object_get(price, "unit_amount_decimal"),
                             "quantity", (json_int_t)qty, "parent", "subscription_item_details", "subscription",
                             json_string_value(json_object_get(sub, "id")), "subscription_item",
                             json_string_value(json_object_get(it, "id")), "type", "subscription_item_details"));
    }
    json_object_set_new(json_object_get(inv, "lines"), "total_count", json_integer((json_int_t)json_array_size(lines)));
    json_object_set_new(inv, "amount_due", json_integer(total));
    json_object_set_new(inv, "amount_remaining", json_integer(total));
    json_object_set_new(inv, "subtotal", json_integer(total));
    json_object_set_new(inv, "total", json_integer(total));
    json_object_set_new(inv, "period_end", json_integer(now));
    json_object_set(sub, "latest_invoice", json_object_get(inv, "id"));
    stripe_obj_insert(r, STRIPE_SUBSCRIPTION, sub, true);
    stripe_invoice_advance(r, inv, 1);
    stripe_obj_insert(r, STRIPE_INVOICE, inv, true);
    stripe_event_emit(r, "invoice.paid", inv, NULL);
    json_decref(items);
    json_decref(inv);
    return T_OK;
}

/* ---- public operations ---- */

int stripe_obj_create(stripe_req *r, stripe_kind kind)
{
    json_t *o = NULL;
    int64_t now;
    const char *s;
    switch (kind) {
    case STRIPE_CUSTOMER: o = stripe_customer_new(r); break;
    case STRIPE_PRODUCT:
        s = stripe_str(r->params, "id");
        if (s && stripe_store_get(r->st, s)) {
            return stripe_err(r, 400, "invalid_request_error", "resource_already_exists", "id",
                              "Product already exists.");
        }
        if (s && (strlen(s) == 0 || strlen(s) > 30))
            return stripe_err(r, 400, "invalid_request_error", NULL, "id", "Invalid product id: %s", s);
        o = stripe_product_new(r, s);
        break;
    case STRIPE_PRICE: o = stripe_price_new(r); break;
    case STRIPE_SUBSCRIPTION:
        now = stripe_store_now(r->st);
        o = stripe_base(r, kind, NULL);
        json_object_update_new(
            o, json_pack("{s:n,s:I,s:n,s:b,s:n,s:s,s:I,s:s,s:n,s:n,s:n,s:n,s:[],s:n,s:n,s:b,s:{},s:I,s:s,s:n,s:n}",
                         "application", "billing_cycle_anchor", (json_int_t)now, "cancel_at", "cancel_at_period_end",
                         0, "canceled_at", "collection_method", "charge_automatically", "created", (json_int_t)now,
                         "currency", "usd", "customer", "days_until_due", "default_payment_method", "description",
                         "discounts", "ended_at", "latest_invoice", "livemode", 0, "metadata", "start_date",
                         (json_int_t)now, "status", "active", "trial_end", "trial_start"));
        break;
    case STRIPE_INVOICE: o = stripe_invoice_new(r, "", "usd", NULL, "manual"); break;
    case STRIPE_CHARGE: o = stripe_charge_new(r, 0, "usd", NULL, NULL, NULL); break;
    case STRIPE_PAYMENT_INTENT: {
        now = stripe_store_now(r->st);
        o = stripe_base(r, kind, NULL);
        char secret[25];
        stripe_store_rand_str(r->st, secret, 24);
        json_object_update_new(
            o, json_pack("{s:i,s:i,s:i,s:n,s:n,s:s,s:s++,s:s,s:I,s:s,s:n,s:n,s:n,s:n,s:b,s:{},s:n,s:[s],s:n,s:n,"
                         "s:n,s:s}",
                         "amount", 0, "amount_capturable", 0, "amount_received", 0, "automatic_payment_methods",
                         "canceled_at", "capture_method", "automatic", "client_secret",
                         json_string_value(json_object_get(o, "id")), "_secret_", secret, "confirmation_method",
                         "automatic", "created", (json_int_t)now, "currency", "usd", "customer", "description",
                         "last_payment_error", "latest_charge", "livemode", 0, "metadata", "payment_method",
                         "payment_method_types", "card", "receipt_email", "setup_future_usage",
                         "statement_descriptor", "status", "requires_payment_method"));
        break;
    }
    case STRIPE_WEBHOOK_ENDPOINT: {
        char secret[40] = "whsec_";
        stripe_store_rand_str(r->st, secret + 6, 32);
        o = stripe_base(r, kind, NULL);
        json_object_update_new(o, json_pack("{s:n,s:n,s:I,s:n,s:[s],s:b,s:{},s:s,s:s,s:s}", "api_version",
                                            "application", "created", (json_int_t)stripe_store_now(r->st),
                                            "description", "enabled_events", "*", "livemode", 0, "metadata",
                                            "secret", secret, "status", "enabled", "url", ""));
        break;
    }
    default: return stripe_err(r, 404, "invalid_request_error", NULL, NULL, "Unrecognized request URL.");
    }
    if (stripe_apply(r, kind, o, 1) != T_OK)
        goto failed;
    switch (kind) {
    case STRIPE_PRICE:
        if (stripe_price_create(r, o) != T_OK)
            goto failed;
        break;
    case STRIPE_SUBSCRIPTION:
        if (stripe_subscription_create(r, o) != T_OK)
            goto failed;
        goto reply;
    case STRIPE_INVOICE:
        if ((s = stripe_str(r->params, "subscription"))) {
            stripe_obj *so = stripe_store_get(r->st, s);
            if (!so || so->kind != STRIPE_SUBSCRIPTION)
            {
                stripe_err_missing(r, "subscription", s, "subscription", 400);
                goto failed;
            }
            json_object_set_new(o, "parent",
                                json_pack("{s:n,s:{s:{},s:s},s:s}", "quote_details", "subscription_details",
                                          "metadata", "subscription", s, "type", "subscription_details"));
        }
        {
            stripe_obj *c = stripe_store_get(r->st, stripe_str(r->params, "customer"));
            json_t *cj = stripe_store_load(c);
            json_object_set(o, "customer_email", json_object_get(cj, "email"));
            json_object_set(o, "customer_name", json_object_get(cj, "name"));
            json_decref(cj);
        }
        break;
    case STRIPE_CHARGE: {
        long long amount = json_integer_value(json_object_get(o, "amount"));
        if (amount < STRIPE_MIN_CHARGE_AMOUNT) {
            stripe_err(r, 400, "invalid_request_error", "amount_too_small", "amount",
                       "Amount must be at least $0.50 usd");
            goto failed;
        }
        json_object_set_new(o, "amount_captured", json_integer(amount));
        s = stripe_str(r->params, "capture");
        if (s && strcmp(s, "false") == 0) {
            json_object_set_new(o, "captured", json_false());
            json_object_set_new(o, "amount_captured", json_integer(0));
        }
        stripe_obj_insert(r, kind, o, false);
        stripe_event_emit(r, "charge.succeeded", o, NULL);
        goto reply;
    }
    case STRIPE_PAYMENT_INTENT: {
        long long amount = json_integer_value(json_object_get(o, "amount"));
        if (amount < STRIPE_MIN_CHARGE_AMOUNT) {
            stripe_err(r, 400, "invalid_request_error", "amount_too_small", "amount",
                       "Amount must be at least $0.50 usd");
            goto failed;
        }
        if (json_is_string(json_object_get(o, "payment_method")))
            json_object_set_new(o, "status", json_string("requires_confirmation"));
        stripe_obj *po = stripe_obj_insert(r, kind, o, true);
        s = stripe_str(r->params, "confirm");
        json_decref(o);
        if (s && strcmp(s, "true") == 0)
            return stripe_obj_action(r, kind, po, "confirm");
        free(r->body);
        r->body = strdup(po->json);
        r->status = 200;
        return T_OK;
    }
    case STRIPE_WEBHOOK_ENDPOINT: {
        s = json_string_value(json_object_get(o, "url"));
        if (!s || (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)) {
            stripe_err(r, 400, "invalid_request_error", "url_invalid", "url", "Invalid URL: %s", s ? s : "");
            goto failed;
        }
        break;
    }
    default: break;
    }
    stripe_obj_insert(r, kind, o, true);
reply:
    return stripe_reply_expanded(r, o);
failed:
    json_decref(o);
    return T_ERR;
}

int stripe_obj_update(stripe_req *r, stripe_kind kind, stripe_obj *so)
{
    json_t *old = stripe_store_load(so);
    json_t *o = json_deep_copy(old);
    if (stripe_apply(r, kind, o, 0) != T_OK)
        goto failed;
    if (kind == STRIPE_SUBSCRIPTION) {
        if (strcmp(json_string_value(json_object_get(o, "status")), "canceled") == 0) {
            const char *k;
            json_t *v;
            json_object_foreach(r->params, k, v)
            {
                if (strcmp(k, "metadata") && strcmp(k, "expand")) {
                    stripe_err(r, 400, "invalid_request_error", NULL, NULL,
                               "A canceled subscription can only update its cancellation_details and metadata.");
                    goto failed;
                }
            }
        }
        json_t *pi = json_object_get(r->params, "items");
        if (pi) {
            json_t *items = json_deep_copy(json_object_get(json_object_get(o, "items"), "data"));
            json_t *first = json_array_get(items, 0);
            int64_t now = stripe_store_now(r->st);
            int64_t pe = first ? json_integer_value(json_object_get(first, "current_period_end")) : now;
            if (stripe_sub_items(r, o, pi, items, now, pe, 1) != T_OK) {
                json_decref(items);
                goto failed;
            }
            stripe_sub_set_items(o, items);
            json_decref(items);
        }
    }
    if (kind == STRIPE_PRODUCT)
        json_object_set_new(o, "updated", json_integer(stripe_store_now(r->st)));
    if (kind == STRIPE_WEBHOOK_ENDPOINT) {
        const char *d = stripe_str(r->params, "disabled");
        if (d)
            json_object_set_new(o, "status", json_string(strcmp(d, "true") == 0 ? "disabled" : "enabled"));
        stripe_store_set_key(so, 1, strdup(json_string_value(json_object_get(o, "url"))));
    }
    stripe_obj_save(r, kind, so, old, o, NULL);
    json_decref(old);
    return stripe_reply_expanded(r, o);
failed:
    json_decref(old);
    json_decref(o);
    return T_ERR;
}

/* Cancels subscription SO now (O is its loaded state, updated in place). */
static void stripe_sub_cancel(stripe_req *r, stripe_obj *so, json_t *o)
{
    json_t *old = json_deep_copy(o);
    int64_t now = stripe_store_now(r->st);
    json_object_set_new(o, "status", json_string("canceled"));
    json_object_set_new(o, "canceled_at", json_integer(now));
    json_object_set_new(o, "ended_at", json_integer(now));
    stripe_obj_save(r, STRIPE_SUBSCRIPTION, so, old, o, "deleted");
    json_decref(old);
}

int stripe_obj_delete(stripe_req *r, stripe_kind kind, stripe_obj *so)
{
    json_t *o = stripe_store_load(so);
    const char *k;
    json_t *v;
    json_object_foreach(r->params, k, v)
    {
        if (kind == STRIPE_SUBSCRIPTION &&
            (!strcmp(k, "invoice_now") || !strcmp(k, "prorate") || !strcmp(k, "cancellation_details") ||
             !strcmp(k, "expand")))
            continue;
        json_decref(o);
        return stripe_err(r, 400, "invalid_request_error", "parameter_unknown", k, "Received unknown parameter: %s",
                          k);
    }
    switch (kind) {
    case STRIPE_SUBSCRIPTION: {
        if (strcmp(json_string_value(json_object_get(o, "status")), "canceled") == 0) {
            json_decref(o);
            return stripe_err(r, 400, "invalid_request_error", "resource_missing", NULL,
                              "No such subscription: '%s'", so->id);
        }
        stripe_sub_cancel(r, so, o);
        return stripe_reply_expanded(r, o);
    }
    case STRIPE_INVOICE:
        if (strcmp(json_string_value(json_object_get(o, "status")), "draft") != 0) {
            json_decref(o);
            return stripe_err(r, 400, "invalid_request_error", NULL, NULL, "You can only delete draft invoices.");
        }
        break;
    case STRIPE_CUSTOMER: { /* as Stripe: deleting a customer cancels its subscriptions */
        stripe_obj **subs = r->st->objs[STRIPE_SUBSCRIPTION];
        for (size_t i = 0; i < r->st->n[STRIPE_SUBSCRIPTION]; i++) {
            stripe_obj *sub = subs[i];
            if (!sub->json || !sub->key || strcmp(sub->key, so->id) != 0 ||
                (sub->key2 && strcmp(sub->key2, "canceled") == 0))
                continue;
            json_t *sj = stripe_store_load(sub);
            stripe_sub_cancel(r, sub, sj);
            json_decref(sj);
        }
        break;
    }
    case STRIPE_PRODUCT: {
        stripe_obj **prices = r->st->objs[STRIPE_PRICE];
        for (size_t i = 0; i < r->st->n[STRIPE_PRICE]; i++) {
            if (prices[i]->json && prices[i]->key && strcmp(prices[i]->key, so->id) == 0) {
                json_decref(o);
                return stripe_err(r, 400, "invalid_request_error", NULL, NULL,
                                  "This product cannot be deleted because it has one or more user-created prices.");
            }
        }
        break;
    }
    case STRIPE_WEBHOOK_ENDPOINT: break;
    default:
        json_decref(o);
        return stripe_err(r, 404, "invalid_request_error", NULL, NULL,
                          "Unrecognized request URL (DELETE: /v1/%s/%s).", stripe_kinds[kind].path, so->id);
    }
    stripe_store_set_json(r->st, so, NULL);
    if (stripe_kinds[kind].event_prefix) {
        char type[80];
        stripe_event_name(type, sizeof type, kind, "deleted");
        stripe_event_emit(r, type, o, NULL);
    }
    json_decref(o);
    return stripe_reply(r, json_pack("{s:s,s:s,s:b}", "id", so->id, "object", stripe_kinds[kind].object, "deleted", 1));
}

int stripe_obj_action(stripe_req *r, stripe_kind kind, stripe_obj *so, const char *action)
{
    json_t *old = stripe_store_load(so);
    json_t *o = json_deep_copy(old);
    const char *status = json_string_value(json_object_get(o, "status"));
    const char *verb = "updated";
    if (kind == STRIPE_INVOICE && (!strcmp(action, "finalize") || !strcmp(action, "pay"))) {
        if (!strcmp(status, "paid") || !strcmp(status, "void")) {
            stripe_err(r, 400, "invalid_request_error", "invoice_not_editable", NULL, "Invoice is already %s.",
                       status);
            goto failed;
        }
        stripe_invoice_advance(r, o, !strcmp(action, "pay"));
        verb = !strcmp(action, "pay") ? "paid" : "finalized";
    } else if (kind == STRIPE_INVOICE && !strcmp(action, "void")) {
        if (strcmp(status, "open") != 0) {
            stripe_err(r, 400, "invalid_request_error", NULL, NULL, "You can only void open invoices.");
            goto failed;
        }
        json_object_set_new(o, "status", json_string("void"));
        json_object_set_new(json_object_get(o, "status_transitions"), "voided_at",
                            json_integer(stripe_store_now(r->st)));
        verb = "voided";
    } else if (kind == STRIPE_PAYMENT_INTENT && !strcmp(action, "confirm")) {
        const char *pm = stripe_str(r->params, "payment_method");
        if (pm)
            json_object_set_new(o, "payment_method", json_string(pm));
        if (!json_is_string(json_object_get(o, "payment_method"))) {
            stripe_err(r, 400, "invalid_request_error", "payment_intent_unexpected_state", NULL,
                       "You cannot confirm this PaymentIntent because it's missing a payment method. To confirm "
                       "the PaymentIntent with %s, specify a payment method attached to this customer along with "
                       "the customer ID.",
                       so->id);
            goto failed;
        }
        if (strcmp(status, "requires_payment_method") && strcmp(status, "requires_confirmation")) {
            stripe_err(r, 400, "invalid_request_error", "payment_intent_unexpected_state", NULL,
                       "This PaymentIntent's status is %s, so it cannot be confirmed.", status);
            goto failed;
        }
        long long amount = json_integer_value(json_object_get(o, "amount"));
        json_t *ch = stripe_charge_new(r, amount, json_string_value(json_object_get(o, "currency")),
                                       json_string_value(json_object_get(o, "customer")), NULL, so->id);
        stripe_obj_insert(r, STRIPE_CHARGE, ch, false);
        stripe_event_emit(r, "charge.succeeded", ch, NULL);
        json_object_set(o, "latest_charge", json_object_get(ch, "id"));
        json_decref(ch);
        json_object_set_new(o, "amount_received", json_integer(amount));
        json_object_set_new(o, "status", json_string("succeeded"));
        verb = "succeeded";
    } else if (kind == STRIPE_PAYMENT_INTENT && !strcmp(action, "cancel")) {
        if (!strcmp(status, "succeeded") || !strcmp(status, "canceled")) {
            stripe_err(r, 400, "invalid_request_error", "payment_intent_unexpected_state", NULL,
                       "You cannot cancel this PaymentIntent because it has a status of %s.", status);
            goto failed;
        }
        json_object_set_new(o, "status", json_string("canceled"));
        json_object_set_new(o, "canceled_at", json_integer(stripe_store_now(r->st)));
        verb = "canceled";
    } else {
        stripe_err(r, 404, "invalid_request_error", NULL, NULL, "Unrecognized request URL (POST: /v1/%s/%s/%s).",
                   stripe_kinds[kind].path, so->id, action);
        goto failed;
    }
    stripe_obj_save(r, kind, so, old, o, verb);
    json_decref(old);
    return stripe_reply_expanded(r, o);
failed:
    json_decref(old);
    json_decref(o);
    return T_ERR;
}
