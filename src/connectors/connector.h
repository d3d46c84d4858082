/*
 * connector.h - the one interface every source API implements (Stripe first,
 * Salesforce next). The sync engine and the proxy use only this interface;
 * nothing source-specific leaks out of src/connectors/<name>/.
 *
 *   describe      the collections and their columns (static for Stripe,
 *                 from describe calls for Salesforce), growable at run time
 *   feed_position the current head of the change feed, recorded before a
 *                 backfill starts (Stripe: newest event id; Salesforce: the
 *                 server time for SystemModstamp)
 *   backfill      one page of a collection from an opaque cursor; several
 *                 collections' pages run concurrently in one call
 *   changes       the changes after a durable cursor (Stripe /v1/events,
 *                 Salesforce SOQL on SystemModstamp), plus the cursor that may
 *                 be made durable (only past the safety window)
 *   push          verify and decode a pushed notification (Stripe webhook)
 *   apply         create/update/delete one object at the API; returns the
 *                 API's canonical object or its error (used by the proxy)
 *   apply_batch   optional: several writes of one kind in few API calls
 *                 (Salesforce composite), each with its own outcome; NULL
 *                 makes the proxy call apply once per row
 *
 * A change is an upsert of a whole object, a delete, or "these are all the
 * children of parent P" (Stripe subscription items and invoice lines arrive
 * embedded in their parent). Each carries a version (seconds, from the API's
 * clock); the engine never lets an older version overwrite a newer row.
 *
 * How Salesforce fits: open() does the OAuth login through the given HTTP
 * client and keeps the token (re-login on 401); describe() builds columns
 * from the describe calls (custom objects and fields included) and
 * infer_column() is not needed; backfill cursors are SOQL positions such as
 * "<SystemModstamp>|<Id>" or a queryMore locator (opaque to the engine);
 * changes() polls SystemModstamp with an overlap window and reports deletes
 * from queryAll/IsDeleted as CONN_DELETE; push may be NULL.
 *
 * Pacing: every request of an instance goes through the http_client given to
 * open() and its token bucket; a proxy that shares that client shares the
 * credential's budget.
 *
 * Memory: a connector instance owns its state; conn_change objects hold a
 * json_t reference each, released by conn_changes_free().
 */
#ifndef TETHER_CONNECTORS_CONNECTOR_H
#define TETHER_CONNECTORS_CONNECTOR_H

#include "http/http_client.h"
#include "util/config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum conn_coltype {
    CONN_TEXT,
    CONN_BIGINT,
    CONN_NUMERIC,
    CONN_BOOL,
    CONN_TIMESTAMPTZ, /* API value: unix seconds (Stripe) or ISO text */
    CONN_DATE,
    CONN_JSONB,
    CONN_TEXT_ARRAY,
} conn_coltype;

/* How a column's value is taken from the object's field. */
typedef enum conn_colsrc {
    CONN_SRC_VALUE, /* the field as is */
    CONN_SRC_REF,   /* a reference: an id string, or an expanded object's "id" */
} conn_colsrc;

typedef struct conn_column {
    char name[64];   /* Postgres column name (snake_case) */
    char field[64];  /* the API field it comes from */
    conn_coltype type;
    conn_colsrc src;
    bool no_create;  /* the API refuses this field on a create (read-only) */
    bool no_update;  /* the API refuses this field on an update (read-only/create-only) */
} conn_column;

#define CONN_MAX_COLUMNS 160
#define CONN_MAX_COLLECTIONS 64

typedef struct conn_collection {
    char name[64];          /* table name, singular snake_case */
    char object_type[64];   /* the API's type name ("customer", "Contact") */
    char parent[64];        /* "" or the collection this one is embedded in */
    char parent_column[64]; /* column holding the parent's id ("subscription_id") */
    bool backfill;          /* paged on its own (children come with parents) */
    bool soft_delete;       /* keeps a `deleted` column instead of deleting */
    bool disabled;          /* left out by configuration: no table, no writes */
    conn_column cols[CONN_MAX_COLUMNS];
    size_t ncols;
} conn_collection;

typedef struct conn_schema {
    conn_collection colls[CONN_MAX_COLLECTIONS];
    size_t n;
} conn_schema;

typedef enum conn_change_kind {
    CONN_UPSERT,
    CONN_DELETE,
    CONN_CHILDREN, /* object = JSON array of every child of parent_id */
} conn_change_kind;

typedef struct conn_change {
    conn_change_kind kind;
    size_t coll;        /* index into conn_schema.colls */
    char id[128];       /* object id (parent id for CONN_CHILDREN) */
    json_t *object;     /* owned reference (NULL for deletes) */
    int64_t version;    /* API time in seconds; higher wins */
    char event_id[128]; /* the change's own id for the event log, or "" */
    char event_type[96];
    json_t *event;      /* owned raw event for the event log, or NULL */
} conn_change;

typedef struct conn_changes {
    conn_change *items;
    size_t n, cap;
    int64_t server_time;    /* the API's clock when this was read */
    char next_cursor[256];  /* durable cursor to store (may equal the old) */
    size_t new_events;      /* feed entries seen in this read */
    bool strictly_newer;    /* pushed (webhook) changes: an equal version never
                               replaces a row, so a late push cannot undo a
                               same-second newer change; the ordered poll can */
} conn_changes;

/* One page request of a backfill, for one collection. */
typedef struct conn_page {
    size_t coll;             /* in */
    char cursor[256];        /* in: "" for the first page; out: next cursor */
    bool done;               /* out: no more pages */
    conn_changes rows;       /* out: upserts (and children) of this page */
    char error[256];         /* out: when the page failed */
} conn_page;

/* An API error returned by apply(), for the proxy to turn into SQLSTATE. */
typedef struct conn_api_error {
    int http_status;
    char code[64];
    char param[64];
    char message[512];
    /* Filled on success too, when the API sends them: its id for the request
     * (Stripe's Request-Id header) for the audit log, and its clock (the Date
     * header, unix seconds, 0 if none) to version the written-back row. */
    char request_id[96];
    int64_t server_time;
    bool rate_limited; /* a usage limit, whatever the status (Salesforce 403
                          REQUEST_LIMIT_EXCEEDED): the proxy answers 53400 */
} conn_api_error;

typedef enum conn_write_op { CONN_WRITE_CREATE, CONN_WRITE_UPDATE, CONN_WRITE_DELETE } conn_write_op;

/* One write of a batch (apply_batch): inputs, then the outcome. */
typedef struct conn_write {
    conn_write_op op;      /* in: the same for every write of a batch */
    const char *id;        /* in: object id, NULL or "" for a create */
    json_t *fields;        /* in, borrowed: fields to send (NULL for a delete) */
    bool ok;               /* out: the API accepted this write */
    json_t *canonical;     /* out, owned by the caller: the API's object when ok */
    conn_api_error error;  /* out: why not, when !ok */
} conn_write;

typedef struct conn_limits {
    int page_size;          /* rows per backfill page */
    int max_rows_per_write; /* proxy statement limit */
    double rate_backfill, rate_steady; /* default requests/s */
} conn_limits;

typedef struct connector connector;

typedef struct connector_ops {
    const char *source; /* "stripe" */
    /* Creates the instance for CFG using HTTP (borrowed). NULL + ERR on failure. */
    void *(*open)(const sync_config *cfg, http_client *http, char *err, size_t errlen);
    void (*close)(void *self);
    /* Fills OUT with every collection and its known columns. */
    int (*describe)(void *self, conn_schema *out, char *err, size_t errlen);
    /*
     * A field the API returned that COLL has no column for: fill OUT with a
     * column for it (name, type) and return T_OK, or T_ERR to ignore it
     * (e.g. value null: type unknown yet).
     */
    int (*infer_column)(void *self, const conn_collection *coll, const char *field,
                        json_t *value, conn_column *out);
    /* Writes the current head of the change feed into CURSOR ("" = empty feed). */
    int (*feed_position)(void *self, char *cursor, size_t len, char *err, size_t errlen);
    /* Fetches PAGES[0..N) concurrently. T_ERR if any failed (see page->error). */
    int (*backfill)(void *self, const conn_schema *schema, conn_page *pages, size_t n);
    /*
     * Reads the changes after CURSOR, oldest first, into OUT; sets
     * OUT->next_cursor to the newest position older than SAFETY_MS before
     * the API's clock (the window is re-read next time).
     */
    int (*changes)(void *self, const conn_schema *schema, const char *cursor, int64_t safety_ms,
                   conn_changes *out, char *err, size_t errlen);
    /*
     * Verifies a pushed notification (headers as "name: value" lines) at NOW
     * (unix seconds) and decodes it into OUT. T_ERR + ERR when forged/stale.
     */
    int (*push)(void *self, const conn_schema *schema, const char *signature_header,
                const char *body, size_t len, int64_t now, conn_changes *out, char *err,
                size_t errlen);
    /* Applies one write; on success *CANONICAL is the API's object (caller decrefs). */
    int (*apply)(void *self, const conn_collection *coll, conn_write_op op, const char *id,
                 json_t *fields, json_t **canonical, conn_api_error *api_err);
    /*
     * Optional (NULL: the caller uses apply per write). Applies WRITES[0..N),
     * all of one op and N at most limits().max_rows_per_write, not all-or-none:
     * every write gets its own outcome (ok + canonical, or error), whatever
     * the others' are. A write whose outcome is unknown (no answer) is !ok with
     * http_status 0. Returns T_OK when every write was accepted, else T_ERR.
     */
    int (*apply_batch)(void *self, const conn_collection *coll, conn_write *writes, size_t n);
    conn_limits (*limits)(void *self);
} connector_ops;

/* Finds the connector for SOURCE ("stripe"), or NULL. */
const connector_ops *connector_find(const char *source);

/* Appends a change (takes ownership of OBJECT and EVENT). Returns the slot. */
conn_change *conn_changes_push(conn_changes *ch, conn_change_kind kind, size_t coll,
                               const char *id, json_t *object, int64_t version);
void conn_changes_free(conn_changes *ch);

/* Finds a collection by table name or API object type; returns index or -1. */
int conn_schema_find(const conn_schema *s, const char *name);
int conn_schema_find_type(const conn_schema *s, const char *object_type);

/* Adds column COL to COLL unless present. T_ERR when full. */
int conn_collection_add_column(conn_collection *coll, const conn_column *col);
const conn_column *conn_collection_column(const conn_collection *coll, const char *name);

const char *conn_coltype_sql(conn_coltype t);

#endif
