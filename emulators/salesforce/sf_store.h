/*
 * sf_store.h - the Salesforce emulator's in-memory records.
 *
 * One table per sObject; a record is a small header (timestamps, deleted flag,
 * links of the change-ordered list) plus ONE malloc'd blob holding its field
 * values as packed NUL-terminated strings, so a million records stay compact
 * and cheap to create. Record ids encode the table index (no id hash needed):
 * KEYPREFIX + "Dn" + 10 base-62 digits of index+1 + the 3-character
 * case-safe checksum, i.e. valid 18-character Salesforce ids.
 *
 * Every table keeps a doubly-linked list of its records in SystemModstamp
 * order (a change moves the record to the tail), so change feeds and
 * "ORDER BY SystemModstamp" scans need no sort. SystemModstamp is strictly
 * increasing across the whole store.
 *
 * The store is not thread-safe; the server serialises access. The store owns
 * every record; sf_store_free() releases everything.
 */
#ifndef TETHER_EMULATORS_SF_STORE_H
#define TETHER_EMULATORS_SF_STORE_H

#include "emulators/salesforce/sf_schema.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define SF_ID_LEN 18
#define SF_NONE UINT32_MAX
#define SF_MAX_OBJECTS 8

typedef struct sf_record {
    int64_t created;
    int64_t modified;
    int64_t stamp;
    uint32_t prev, next; /* change-ordered list, SF_NONE at the ends */
    bool deleted;
    char *blob; /* uint32 offsets[nslots] then the strings; NULL = no values */
} sf_record;

typedef struct sf_table {
    const sf_object *obj;
    sf_record *recs;
    uint32_t n, cap;
    uint32_t head, tail;
} sf_table;

typedef struct sf_store {
    sf_table tables[SF_MAX_OBJECTS];
    int64_t last_ms;
    char user_id[SF_ID_LEN + 1];
    char org_id[SF_ID_LEN + 1];
} sf_store;

/* An API error as Salesforce reports it: status, errorCode, message, fields. */
typedef struct sf_error {
    int status;
    char code[64];
    char message[512];
    char field[64]; /* "" when the error names no field */
} sf_error;

/* Fills ERR (message printf-formatted, truncated to fit; FIELD may be NULL). */
void sf_error_set(sf_error *err, int status, const char *code, const char *field,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* [{"message","errorCode","fields"}] — new reference. */
json_t *sf_error_json(const sf_error *err);
/* The single error object (as used inside composite results). */
json_t *sf_error_object(const sf_error *err);

/* A validated write, ready to apply: full value array (owned strings). */
typedef struct sf_change {
    const sf_object *obj;
    uint32_t idx; /* update: record index; create: SF_NONE */
    char **vals;  /* nslots entries, NULL = null */
} sf_change;

/*
 * Initialises ST (schema slots included) and creates the admin user
 * USERNAME, dated a day back. T_OK, or T_ERR on allocation failure (then
 * call sf_store_free). USERNAME is copied.
 */
int sf_store_init(sf_store *st, const char *username);
/* Frees every record of ST; ST may be initialised again afterwards. */
void sf_store_free(sf_store *st);

/* The table of OBJ (never NULL for a schema object). */
sf_table *sf_store_table(sf_store *st, const sf_object *obj);

/* Next SystemModstamp: max(now, last + 1) milliseconds. */
int64_t sf_store_tick(sf_store *st);

/* Writes the 18-character id of record IDX of OBJ into OUT (19 bytes). */
void sf_store_make_id(const sf_object *obj, uint32_t idx, char *out);

/*
 * Resolves a 15- or 18-character id to its table and index. Returns T_OK when
 * it names an existing record (deleted or not), else T_ERR (malformed id,
 * unknown prefix or no such record).
 */
int sf_store_resolve(sf_store *st, const char *id, sf_table **table, uint32_t *idx);

/*
 * The text value of field F of record R (a slot or a system field formatted
 * into BUF of SF_VALUE_BUFLEN bytes); NULL when the value is null. Computed
 * fields (Name, addresses) are handled by sf_store_field_json().
 */
#define SF_VALUE_BUFLEN 512
const char *sf_store_value(const sf_table *t, uint32_t idx, const sf_field *f, char *buf);

/* JSON value of F for record IDX (typed: booleans, numbers, address objects). */
json_t *sf_store_field_json(const sf_table *t, uint32_t idx, const sf_field *f);

/*
 * The record as the REST API returns it: {"attributes":{type,url}, fields...}
 * with FIELDS (NFIELDS entries), or every field when FIELDS is NULL.
 */
json_t *sf_store_record_json(const sf_table *t, uint32_t idx, const sf_field *const *fields,
                             size_t nfields, const char *version);

/*
 * Validates BODY (a JSON object of field → value) for a create (IDX SF_NONE)
 * or an update of record IDX and fills CHANGE. The keys "attributes" and (for
 * updates) "Id"/"id" are ignored. On failure fills ERR and returns T_ERR with
 * nothing to free; on success the caller applies or frees CHANGE.
 */
int sf_store_prepare(sf_store *st, const sf_object *obj, uint32_t idx, const json_t *body,
                     sf_change *change, sf_error *err);
/* Applies CHANGE (consumes its values) and writes the record id to ID_OUT. */
void sf_store_apply(sf_store *st, sf_change *change, char *id_out);
/* Frees a prepared change that will not be applied (idempotent). */
void sf_change_free(sf_change *change);

/* Soft-deletes a record. ENTITY_IS_DELETED / NOT_FOUND / MALFORMED_ID in ERR. */
int sf_store_delete(sf_store *st, const char *id, sf_error *err);

/*
 * Moves the store clock back so that seeding N records (one millisecond
 * apart) ends before now: call once with the total before sf_store_seed().
 */
void sf_store_backdate(sf_store *st, uint64_t n);

/* Seeds N synthetic records of OBJ (fast path, no validation). T_OK/T_ERR. */
int sf_store_seed(sf_store *st, const sf_object *obj, uint32_t n);

#endif
