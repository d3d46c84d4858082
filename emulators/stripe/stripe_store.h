/*
 * stripe_store.h - the Stripe emulator's in-memory object store.
 *
 * Each object kind keeps an array of objects in creation order (so `created`
 * is non-decreasing along it, and list pages are a walk backwards from a
 * cursor found in O(1) through the id hash). An object is stored as its
 * rendered JSON (compact: ~0.5 KB per customer, 1M customers fit easily),
 * plus the few fields lists filter on. Deleted objects keep their slot
 * (json == NULL) so cursors on them still work.
 *
 * Ids are PREFIX_ + 8 base-62 characters of a global sequence (in ASCII
 * order, so ids sort by creation) + 6 random characters.
 *
 * The store is not locked internally: the caller holds store->lock around
 * every call. The store owns every string it holds.
 */
#ifndef TETHER_STRIPE_STORE_H
#define TETHER_STRIPE_STORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef enum stripe_kind {
    STRIPE_CUSTOMER = 0,
    STRIPE_PRODUCT,
    STRIPE_PRICE,
    STRIPE_SUBSCRIPTION,
    STRIPE_INVOICE,
    STRIPE_CHARGE,
    STRIPE_PAYMENT_INTENT,
    STRIPE_WEBHOOK_ENDPOINT,
    STRIPE_EVENT,
    STRIPE_KIND_COUNT
} stripe_kind;

typedef struct stripe_obj {
    char *id;
    char *json;       /* compact rendering as the API shows it; NULL once deleted */
    char *full;       /* subscriptions/invoices with more than STRIPE_EMBEDDED_CHILDREN
                       * items/lines: the rendering with every child (json then embeds
                       * the first ones and has_more); NULL otherwise */
    char *key;        /* list filter: email (customer), customer id, product id, event type; may be NULL */
    char *key2;       /* second filter: subscription id (invoice), status (subscription) */
    int64_t created;  /* seconds */
    int64_t created_ms; /* events: creation in ms; shown once created_ms + event delay has passed */
    uint32_t pos;     /* index in its kind's array */
    uint8_t kind;
} stripe_obj;

/* How many items/lines a subscription/invoice embeds, like Stripe; the rest via their list endpoints. */
#define STRIPE_EMBEDDED_CHILDREN 10

typedef struct stripe_store {
    pthread_mutex_t lock;
    stripe_obj **objs[STRIPE_KIND_COUNT];
    size_t n[STRIPE_KIND_COUNT], cap[STRIPE_KIND_COUNT];
    size_t live[STRIPE_KIND_COUNT];
    stripe_obj **table; /* open addressing by id */
    size_t table_cap, table_used;
    uint64_t seq;
    int64_t last_created;
    uint64_t rng;
    json_t *idem; /* idempotency key -> {fp, status, body} */
} stripe_store;

/* Initialises an empty store seeded with SEED for ids. T_OK or T_ERR. */
int stripe_store_init(stripe_store *st, uint64_t seed);

/* Frees every object; the store can be re-initialised. */
void stripe_store_free(stripe_store *st);

/* Next pseudo-random 64-bit value (xorshift64*). */
uint64_t stripe_store_rand(stripe_store *st);

/* Writes a new id "PREFIX_…" into OUT (at least 32 bytes). */
void stripe_store_new_id(stripe_store *st, const char *prefix, char *out);

/* Random base-62 string of N chars into OUT (N+1 bytes). */
void stripe_store_rand_str(stripe_store *st, char *out, size_t n);

/*
 * A `created` timestamp for a new object: max(now, last one handed out), so
 * creation order and `created` order agree across every kind.
 */
int64_t stripe_store_now(stripe_store *st);

/*
 * Adds an object of KIND. Takes ownership of JSON (the full object, see
 * stripe_store_set_json), KEY and KEY2 (malloc'd, KEY/KEY2 may be NULL); ID
 * is copied. Returns the object or NULL (out of
 * memory; the passed strings are freed).
 */
stripe_obj *stripe_store_add(stripe_store *st, stripe_kind kind, const char *id, int64_t created, char *json,
                             char *key, char *key2);

/* Object by id (deleted ones included), or NULL. */
stripe_obj *stripe_store_get(stripe_store *st, const char *id);

/*
 * Replaces OBJ's rendering (takes JSON, the full object). NULL JSON marks it
 * deleted. Subscriptions and invoices with more children than Stripe embeds
 * keep the full rendering aside (obj->full) and show the first ones.
 */
void stripe_store_set_json(stripe_store *st, stripe_obj *obj, char *json);

/*
 * Cuts V's embedded child list (a subscription's items, an invoice's lines)
 * to the first STRIPE_EMBEDDED_CHILDREN with has_more true, as the API
 * shows them. Returns whether anything was cut. Other objects are untouched.
 */
int stripe_store_embed_children(json_t *v);

/* Replaces a filter key (takes VAL, may be NULL). WHICH is 1 or 2. */
void stripe_store_set_key(stripe_obj *obj, int which, char *val);

/* Parses OBJ's full JSON (every child; new reference) or NULL when deleted. */
json_t *stripe_store_load(const stripe_obj *obj);

/* Renders V compactly in a malloc'd string (never NULL unless out of memory). */
char *stripe_store_dump(const json_t *v);

/*
 * Position range [*LO, *HI) of KIND's objects whose created satisfies the
 * bounds (INT64_MIN / INT64_MAX for none; gt/lt already turned into
 * inclusive gte/lte by the caller). Binary search: O(log n).
 */
void stripe_store_created_range(stripe_store *st, stripe_kind kind, int64_t gte, int64_t lte, size_t *lo,
                                size_t *hi);

/* Drops every object and idempotency record. */
void stripe_store_reset(stripe_store *st);

#endif
