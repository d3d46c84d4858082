/*
 * sf_query.h - runs parsed SOQL against the emulator's store: binds names to
 * the schema (INVALID_TYPE / INVALID_FIELD errors), filters, orders, applies
 * LIMIT/OFFSET and pages results through query cursors ("query locators"):
 * nextRecordsUrl = /services/data/vXX.X/query/<cursor>-<offset>.
 *
 * Like Salesforce, at most SF_QUERY_MAX_CURSORS cursors stay open; the least
 * recently used one is dropped (its locator then gives INVALID_QUERY_LOCATOR).
 * Field paths may follow one parent relationship (Account.Name, Owner.Name,
 * Account__r.Name) in SELECT, WHERE and ORDER BY.
 * The engine owns its cursors; sf_query_engine_free() releases them. Result
 * JSON is returned as a new reference for the caller to json_decref().
 */
#ifndef TETHER_EMULATORS_SF_QUERY_H
#define TETHER_EMULATORS_SF_QUERY_H

#include "emulators/salesforce/sf_store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define SF_QUERY_MAX_CURSORS 10
#define SF_QUERY_DEFAULT_BATCH 2000
#define SF_QUERY_MIN_BATCH 200

/* A selected/filtered field: F of this object, or (REF set) F of the record
 * the reference field REF points to ("Account.Name"). */
typedef struct sf_path {
    const sf_field *ref;
    const sf_field *f;
} sf_path;

typedef struct sf_cursor {
    uint64_t serial; /* 0: free slot */
    uint64_t used;   /* LRU clock */
    const sf_object *obj;
    sf_path *fields;
    size_t nfields;
    uint32_t *rows;
    size_t nrows;
    size_t batch;
} sf_cursor;

typedef struct sf_query_engine {
    sf_cursor cursors[SF_QUERY_MAX_CURSORS];
    uint64_t next_serial;
    uint64_t clock;
} sf_query_engine;

/* Frees every open cursor; QE (zero-initialised to start) can be reused. */
void sf_query_engine_free(sf_query_engine *qe);

/*
 * Runs SOQL (ALL: queryAll, i.e. include deleted rows) returning the first
 * batch of at most BATCH records in *OUT. T_OK, or T_ERR with ERR filled
 * (MALFORMED_QUERY, INVALID_TYPE, INVALID_FIELD).
 */
int sf_query_run(sf_store *st, sf_query_engine *qe, const char *soql, bool all, size_t batch,
                 const char *version, json_t **out, sf_error *err);

/* Fetches the batch at LOCATOR ("<cursor>-<offset>"). INVALID_QUERY_LOCATOR. */
int sf_query_more(sf_store *st, sf_query_engine *qe, const char *locator, const char *version,
                  json_t **out, sf_error *err);

#endif
