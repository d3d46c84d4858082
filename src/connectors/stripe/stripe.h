/*
 * stripe.h - the Stripe connector (implements connectors/connector.h).
 * Internal to src/connectors/stripe/; the engine sees only
 * stripe_connector_ops through connector_find("stripe").
 */
#ifndef TETHER_CONNECTORS_STRIPE_STRIPE_H
#define TETHER_CONNECTORS_STRIPE_STRIPE_H

#include "connectors/connector.h"

#define STRIPE_DEFAULT_API_BASE "https://api.stripe.com"
#define STRIPE_PAGE_LIMIT 100

/* stripe_schema.c */
int stripe_describe(void *self, conn_schema *out, char *err, size_t errlen);
int stripe_infer_column(void *self, const conn_collection *coll, const char *field,
                        json_t *value, conn_column *out);
/* List path of a collection ("/v1/customers"), NULL for children and events. */
const char *stripe_list_path(const char *collection);

/*
 * Turns one Stripe event (a JSON object) into changes: the event row itself,
 * then an upsert or delete of data.object, then its embedded children.
 * Unknown object types yield only the event row. Returns T_ERR when EVENT is
 * not an event. Takes no ownership of EVENT (adds references).
 */
int stripe_event_to_changes(const conn_schema *schema, json_t *event, conn_changes *out);

/* Adds an upsert of OBJ (a listed object) at VERSION and its children. */
void stripe_object_to_changes(const conn_schema *schema, size_t coll, json_t *obj, int64_t version,
                              conn_changes *out);

/* A backfill cursor: "" | "A:<T>:<top>:<after>" | "<id>@<created>" (see stripe.c). */
typedef enum stripe_cursor_kind { STRIPE_CUR_EMPTY, STRIPE_CUR_ANCHOR, STRIPE_CUR_AFTER } stripe_cursor_kind;

typedef struct stripe_cursor {
    stripe_cursor_kind kind;
    int64_t created;
    char id[128], top[128], after[128];
} stripe_cursor;

/* Parses TEXT (may be NULL) into C; anything malformed is STRIPE_CUR_EMPTY. */
void stripe_cursor_parse(const char *text, stripe_cursor *c);

/* Form-encodes JSON FIELDS Stripe-style (a[b]=c, a[0]=d). Caller frees. */
char *stripe_form_encode(json_t *fields);

#endif
