/*
 * stripe_schema.c - the Stripe collections Tether syncs and their columns,
 * and the rule that types a field Stripe adds later (new column). Static
 * tables only; describe() copies them into the caller's conn_schema.
 */
#include "connectors/stripe/stripe.h"
#include "util/common.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* "column:type[:field]" with type one of text bigint numeric bool ts jsonb text[] ref. */
typedef struct stripe_coll_def {
    const char *name, *object_type, *path, *parent, *parent_column;
    const char *const *cols;
} stripe_coll_def;

static const char *const customer_cols[] = {
    "email:text", "name:text", "description:text", "phone:text", "currency:text",
    "balance:bigint", "delinquent:bool", "created:ts", "livemode:bool", "metadata:jsonb",
    "address:jsonb", "shipping:jsonb", "invoice_settings:jsonb", "invoice_prefix:text",
    "preferred_locales:text[]", "tax_exempt:text", "default_source_id:ref:default_source", NULL};
static const char *const product_cols[] = {
    "name:text", "active:bool", "description:text", "created:ts", "updated:ts",
    "livemode:bool", "metadata:jsonb", "images:text[]", "default_price_id:ref:default_price",
    "type:text", "unit_label:text", "url:text", "statement_descriptor:text", "shippable:bool",
    "package_dimensions:jsonb", "tax_code_id:ref:tax_code", NULL};
static const char *const price_cols[] = {
    "product_id:ref:product", "active:bool", "currency:text", "unit_amount:bigint",
    "unit_amount_decimal:numeric", "type:text", "recurring:jsonb", "billing_scheme:text",
    "created:ts", "livemode:bool", "metadata:jsonb", "nickname:text", "lookup_key:text",
    "tiers_mode:text", "transform_quantity:jsonb", "tax_behavior:text", NULL};
static const char *const subscription_cols[] = {
    "customer_id:ref:customer", "status:text", "created:ts", "current_period_start:ts",
    "current_period_end:ts", "cancel_at:ts", "cancel_at_period_end:bool", "canceled_at:ts",
    "ended_at:ts", "start_date:ts", "trial_start:ts", "trial_end:ts", "collection_method:text",
    "currency:text", "default_payment_method_id:ref:default_payment_method",
    "latest_invoice_id:ref:latest_invoice", "metadata:jsonb", "livemode:bool",
    "description:text", "days_until_due:bigint", "billing_cycle_anchor:ts", "quantity:bigint",
    NULL};
static const char *const subscription_item_cols[] = {
    "subscription_id:ref:subscription", "price_id:ref:price", "quantity:bigint", "created:ts",
    "metadata:jsonb", "billing_thresholds:jsonb", "tax_rates:jsonb", NULL};
static const char *const invoice_cols[] = {
    "customer_id:ref:customer", "subscription_id:ref:subscription", "status:text",
    "amount_due:bigint", "amount_paid:bigint", "amount_remaining:bigint", "subtotal:bigint",
    "total:bigint", "currency:text", "created:ts", "due_date:ts", "period_start:ts",
    "period_end:ts", "number:text", "paid:bool", "attempted:bool", "billing_reason:text",
    "collection_method:text", "hosted_invoice_url:text", "invoice_pdf:text", "metadata:jsonb",
    "charge_id:ref:charge", "payment_intent_id:ref:payment_intent", "status_transitions:jsonb",
    "livemode:bool", "description:text", "customer_email:text", "auto_advance:bool",
    "attempt_count:bigint", "starting_balance:bigint", "ending_balance:bigint",
    "next_payment_attempt:ts", NULL};
static const char *const invoice_line_item_cols[] = {
    "invoice_id:ref:invoice", "amount:bigint", "currency:text", "description:text",
    "period:jsonb", "price_id:ref:price", "quantity:bigint", "subscription_id:ref:subscription",
    "subscription_item_id:ref:subscription_item", "type:text", "proration:bool",
    "metadata:jsonb", "livemode:bool", "discountable:bool", NULL};
static const char *const charge_cols[] = {
    "customer_id:ref:customer", "invoice_id:ref:invoice", "payment_intent_id:ref:payment_intent",
    "payment_method_id:ref:payment_method", "amount:bigint", "amount_captured:bigint",
    "amount_refunded:bigint", "currency:text", "status:text", "paid:bool", "captured:bool",
    "refunded:bool", "disputed:bool", "created:ts", "description:text", "failure_code:text",
    "failure_message:text", "metadata:jsonb", "billing_details:jsonb", "outcome:jsonb",
    "payment_method_details:jsonb", "receipt_email:text", "receipt_url:text", "livemode:bool",
    "balance_transaction_id:ref:balance_transaction", NULL};
static const char *const payment_intent_cols[] = {
    "customer_id:ref:customer", "invoice_id:ref:invoice", "payment_method_id:ref:payment_method",
    "latest_charge_id:ref:latest_charge", "amount:bigint", "amount_received:bigint",
    "amount_capturable:bigint", "currency:text", "status:text", "created:ts", "canceled_at:ts",
    "cancellation_reason:text", "capture_method:text", "confirmation_method:text",
    "description:text", "payment_method_types:text[]", "metadata:jsonb",
    "last_payment_error:jsonb", "livemode:bool", "receipt_email:text",
    "setup_future_usage:text", "next_action:jsonb", NULL};
static const char *const event_cols[] = {
    "type:text", "created:ts", "data:jsonb", "api_version:text", "request:jsonb",
    "livemode:bool", "pending_webhooks:bigint", NULL};

static const stripe_coll_def stripe_colls[] = {
    {"customer", "customer", "/v1/customers", "", "", customer_cols},
    {"product", "product", "/v1/products", "", "", product_cols},
    {"price", "price", "/v1/prices", "", "", price_cols},
    {"subscription", "subscription", "/v1/subscriptions?status=all", "", "", subscription_cols},
    {"subscription_item", "subscription_item", NULL, "subscription", "subscription_id",
     subscription_item_cols},
    {"invoice", "invoice", "/v1/invoices", "", "", invoice_cols},
    {"invoice_line_item", "line_item", NULL, "invoice", "invoice_id", invoice_line_item_cols},
    {"charge", "charge", "/v1/charges", "", "", charge_cols},
    {"payment_intent", "payment_intent", "/v1/payment_intents", "", "", payment_intent_cols},
    {"event", "event", NULL, "", "", event_cols},
};

const char *stripe_list_path(const char *collection)
{
    for (size_t i = 0; i < T_ARRAY_LEN(stripe_colls); i++)
        if (strcmp(stripe_colls[i].name, collection) == 0)
            return stripe_colls[i].path;
    return NULL;
}

static conn_coltype type_of(const char *t, conn_colsrc *src)
{
    *src = CONN_SRC_VALUE;
    if (strcmp(t, "bigint") == 0) return CONN_BIGINT;
    if (strcmp(t, "numeric") == 0) return CONN_NUMERIC;
    if (strcmp(t, "bool") == 0) return CONN_BOOL;
    if (strcmp(t, "ts") == 0) return CONN_TIMESTAMPTZ;
    if (strcmp(t, "jsonb") == 0) return CONN_JSONB;
    if (strcmp(t, "text[]") == 0) return CONN_TEXT_ARRAY;
    if (strcmp(t, "ref") == 0) *src = CONN_SRC_REF;
    return CONN_TEXT;
}

int stripe_describe(void *self, conn_schema *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < T_ARRAY_LEN(stripe_colls); i++) {
        const stripe_coll_def *d = &stripe_colls[i];
        conn_collection *c = &out->colls[out->n++];
        snprintf(c->name, sizeof(c->name), "%s", d->name);
        snprintf(c->object_type, sizeof(c->object_type), "%s", d->object_type);
        snprintf(c->parent, sizeof(c->parent), "%s", d->parent);
        snprintf(c->parent_column, sizeof(c->parent_column), "%s", d->parent_column);
        c->backfill = d->path != NULL;
        for (const char *const *p = d->cols; *p; p++) {
            char spec[60];
            snprintf(spec, sizeof(spec), "%s", *p);
            char *name = spec, *type = strchr(spec, ':'), *field = NULL;
            if (!type)
                continue;
            *type++ = '\0';
            field = strchr(type, ':');
            if (field)
                *field++ = '\0';
            conn_column col = {0};
            snprintf(col.name, sizeof(col.name), "%s", name);
            snprintf(col.field, sizeof(col.field), "%s", field ? field : name);
            col.type = type_of(type, &col.src);
            if (conn_collection_add_column(c, &col) != T_OK) {
                snprintf(err, errlen, "too many columns in %s", c->name);
                return T_ERR;
            }
        }
    }
    return T_OK;
}

/* Stripe id prefixes of objects a string field can refer to. */
static bool looks_like_ref(const char *s)
{
    static const char *const prefixes[] = {
        "cus_", "prod_", "price_", "sub_", "si_", "in_", "il_", "ch_", "pi_", "pm_", "card_",
        "src_", "txn_", "re_", "ba_", "seti_", "py_", "po_", "tr_", "acct_", "file_", "cs_",
        "promo_", "di_", "txr_", "sub_sched_", "ii_", "cn_", "evt_", "plan_", "coupon_", "dp_",
        "mandate_", "tax_", "txcd_", "inv_", "sli_", NULL};
    for (const char *const *p = prefixes; *p; p++) {
        size_t n = strlen(*p);
        if (strncmp(s, *p, n) == 0 && strlen(s) > n + 3) {
            for (const char *q = s + n; *q; q++)
                if (!isalnum((unsigned char)*q) && *q != '_')
                    return false;
            return true;
        }
    }
    return false;
}

static bool is_time_field(const char *f)
{
    size_t n = strlen(f);
    return strcmp(f, "created") == 0 || strcmp(f, "updated") == 0 ||
           (n > 3 && strcmp(f + n - 3, "_at") == 0) || (n > 5 && strcmp(f + n - 5, "_date") == 0) ||
           strcmp(f, "period_start") == 0 || strcmp(f, "period_end") == 0 ||
           strcmp(f, "trial_start") == 0 || strcmp(f, "trial_end") == 0 ||
           strncmp(f, "current_period_", 15) == 0;
}

int stripe_infer_column(void *self, const conn_collection *coll, const char *field, json_t *value,
                        conn_column *out)
{
    memset(out, 0, sizeof(*out));
    if (strcmp(field, "id") == 0 || strcmp(field, "object") == 0 || !value || json_is_null(value))
        return T_ERR;
    /* embedded child lists have their own table */
    if ((strcmp(coll->name, "subscription") == 0 && strcmp(field, "items") == 0) ||
        (strcmp(coll->name, "invoice") == 0 && strcmp(field, "lines") == 0))
        return T_ERR;
    if (strlen(field) + 4 > sizeof(out->name))
        return T_ERR;
    for (const char *p = field; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_')
            return T_ERR;
    snprintf(out->field, sizeof(out->field), "%s", field);
    snprintf(out->name, sizeof(out->name), "%s", field);
    out->src = CONN_SRC_VALUE;
    if ((json_is_string(value) && looks_like_ref(json_string_value(value))) ||
        (json_is_object(value) && json_is_string(json_object_get(value, "id")) &&
         json_is_string(json_object_get(value, "object")))) {
        snprintf(out->name, sizeof(out->name), "%s_id", field);
        out->src = CONN_SRC_REF;
        out->type = CONN_TEXT;
    } else if (json_is_integer(value)) {
        out->type = is_time_field(field) ? CONN_TIMESTAMPTZ : CONN_BIGINT;
    } else if (json_is_real(value)) {
        out->type = CONN_NUMERIC;
    } else if (json_is_boolean(value)) {
        out->type = CONN_BOOL;
    } else if (json_is_string(value)) {
        out->type = CONN_TEXT;
    } else if (json_is_array(value)) {
        bool all_strings = json_array_size(value) > 0;
        size_t i;
        json_t *v;
        json_array_foreach(value, i, v) if (!json_is_string(v)) all_strings = false;
        out->type = all_strings ? CONN_TEXT_ARRAY : CONN_JSONB;
    } else {
        out->type = CONN_JSONB;
    }
    return T_OK;
}
