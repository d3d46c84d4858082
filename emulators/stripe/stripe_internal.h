/*
 * stripe_internal.h - what the Stripe emulator's files share: the emulator
 * state, the per-request context, error replies and object builders.
 * Not for use outside emulators/stripe/.
 */
#ifndef TETHER_STRIPE_INTERNAL_H
#define TETHER_STRIPE_INTERNAL_H

#include "emulators/common/emu_http.h"
#include "emulators/stripe/stripe_emulator.h"
#include "emulators/stripe/stripe_store.h"

#include <jansson.h>
#include <stdbool.h>

typedef struct stripe_webhooks stripe_webhooks;

struct stripe_emu {
    stripe_emu_config cfg;
    stripe_store store;   /* store.lock also guards faults */
    stripe_faults faults;
    emu_http_server *http;
    stripe_webhooks *wh;
};

/* One API call being served (under store.lock). */
typedef struct stripe_req {
    stripe_emu *emu;
    stripe_store *st;
    const char *request_id;
    const char *idempotency_key; /* may be NULL */
    json_t *params;              /* parsed form/query, borrowed */
    /* the reply */
    int status;
    char *body; /* malloc'd JSON */
} stripe_req;

/* Kind descriptors. */
typedef struct stripe_kind_desc {
    const char *object;       /* "customer" */
    const char *path;         /* "customers" */
    const char *prefix;       /* "cus" */
    const char *event_prefix; /* "customer", "customer.subscription"; NULL: no events */
} stripe_kind_desc;

extern const stripe_kind_desc stripe_kinds[STRIPE_KIND_COUNT];

/* Fills R with Stripe's error JSON and STATUS. PARAM/CODE may be NULL. Returns T_ERR. */
int stripe_err(stripe_req *r, int status, const char *type, const char *code, const char *param, const char *fmt,
               ...) __attribute__((format(printf, 6, 7)));

/* 404 resource_missing "No such OBJECT: 'ID'". Returns T_ERR. */
int stripe_err_missing(stripe_req *r, const char *object, const char *id, const char *param, int status);

/* Sets R's reply to 200 with V rendered (V is decref'd). Returns T_OK. */
int stripe_reply(stripe_req *r, json_t *v);

/* Applies the request's expand[] to V, then replies with it (V is decref'd). */
int stripe_reply_expanded(stripe_req *r, json_t *v);

/* Milliseconds since the epoch. */
int64_t stripe_now_ms(void);

/* Appends an event TYPE about OBJ (borrowed) with optional PREV (stolen). */
void stripe_event_emit(stripe_req *r, const char *type, json_t *obj, json_t *prev);

/* Route one /v1 call. Sets r->status/body. */
void stripe_api_route(stripe_req *r, const char *method, const char *path);

/* Object operations (stripe_objects.c): each fills the reply. */
int stripe_obj_create(stripe_req *r, stripe_kind kind);
int stripe_obj_update(stripe_req *r, stripe_kind kind, stripe_obj *o);
int stripe_obj_delete(stripe_req *r, stripe_kind kind, stripe_obj *o);
int stripe_obj_action(stripe_req *r, stripe_kind kind, stripe_obj *o, const char *action);

/* Keys for list filters of a rendered object (stripe_objects.c). */
void stripe_obj_keys(stripe_kind kind, const json_t *obj, char **key, char **key2);

/* Stores a freshly built object and emits its .created event. */
stripe_obj *stripe_obj_insert(stripe_req *r, stripe_kind kind, json_t *obj, bool emit);

/* Seeding (stripe_seed.c). T_OK or T_ERR. */
int stripe_seed(stripe_emu *emu, char *err, size_t errlen);

/* Webhooks (stripe_webhook.c). */
stripe_webhooks *stripe_webhooks_start(stripe_emu *emu);
void stripe_webhooks_stop(stripe_webhooks *wh);
/* Queues EVENT_JSON (copied) for URL signed with SECRET. */
void stripe_webhooks_enqueue(stripe_webhooks *wh, const char *url, const char *secret, const char *event_json);
/* Computes the Stripe-Signature header value into OUT (>= 100 bytes). */
void stripe_webhooks_sign(const char *secret, int64_t t, const char *payload, char *out, size_t outlen);

#endif
