/*
 * sf_schema.h - the Salesforce emulator's fixed metadata: which sObjects exist
 * (Account, Contact, Lead, Opportunity, User, Invoice__c), their fields with
 * the attributes describe() reports, and the JSON for describeGlobal/describe.
 *
 * Everything here is static, read-only data: nothing to free except the JSON
 * the sf_schema_*_json() functions return (caller json_decref()s it).
 */
#ifndef TETHER_EMULATORS_SF_SCHEMA_H
#define TETHER_EMULATORS_SF_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum sf_ftype {
    SF_T_ID,
    SF_T_STRING,
    SF_T_EMAIL,
    SF_T_PHONE,
    SF_T_URL,
    SF_T_PICKLIST,
    SF_T_REFERENCE,
    SF_T_BOOLEAN,
    SF_T_INT,
    SF_T_DOUBLE,
    SF_T_CURRENCY,
    SF_T_PERCENT,
    SF_T_DATE,
    SF_T_DATETIME,
    SF_T_TEXTAREA,
    SF_T_ADDRESS,
} sf_ftype;

/* Where a field's value lives: a slot of the record's packed values, a
 * member of the record header, or computed when read. */
typedef enum sf_fsource {
    SF_SRC_SLOT = 0,
    SF_SRC_ID,
    SF_SRC_ISDELETED,
    SF_SRC_CREATED,
    SF_SRC_LASTMOD,
    SF_SRC_STAMP,
    SF_SRC_FULLNAME, /* "FirstName LastName" */
    SF_SRC_ADDRESS,  /* compound: PREFIX{Street,City,State,PostalCode,Country} */
} sf_fsource;

#define SF_F_NILLABLE 0x01u
#define SF_F_CREATEABLE 0x02u
#define SF_F_UPDATEABLE 0x04u
#define SF_F_CUSTOM 0x08u
#define SF_F_CALCULATED 0x10u
#define SF_F_NAMEFIELD 0x20u
#define SF_F_DEFAULTED 0x40u
#define SF_F_RESTRICTED 0x80u /* restricted picklist */

typedef struct sf_field {
    const char *name;
    const char *label;
    sf_ftype type;
    int length; /* strings: max characters; numbers: precision */
    int scale;
    unsigned flags;
    sf_fsource source;
    const char *reference_to;      /* reference: target object */
    const char *relationship_name; /* reference: e.g. "Account" */
    const char *const *picklist;   /* NULL-terminated values */
    const char *default_value;     /* applied on create when absent */
    const char *compound;          /* component of this compound field */
    const char *address_prefix;    /* SF_SRC_ADDRESS: "Mailing", "Billing" */
    int slot;                      /* SF_SRC_SLOT: index into the values */
} sf_field;

typedef struct sf_object {
    const char *name;
    const char *label;
    const char *label_plural;
    const char *key_prefix; /* three characters */
    bool custom;
    sf_field *fields;
    size_t nfields;
    size_t nslots;
} sf_object;

/* Assigns slots; idempotent and must run before anything else here. */
void sf_schema_init(void);

/* Number of objects, and the I-th one (NULL past the end). */
size_t sf_schema_object_count(void);
const sf_object *sf_schema_object_at(size_t i);
/* Case-insensitive lookup by API name; NULL when unknown. */
const sf_object *sf_schema_object(const char *name);
/* Lookup by three-character key prefix; NULL when unknown. */
const sf_object *sf_schema_object_by_prefix(const char *prefix);
/* Case-insensitive field lookup; NULL when unknown. */
const sf_field *sf_schema_field(const sf_object *obj, const char *name);

/* describe() type name ("string", "reference", ...). */
const char *sf_schema_type_name(sf_ftype t);
/* int/double/currency/percent. */
bool sf_schema_type_is_numeric(sf_ftype t);
/* string-like types compared as text (string, email, phone, url, picklist, textarea). */
bool sf_schema_type_is_text(sf_ftype t);

/* describeGlobal body and sobjects/X/describe body. VERSION like "59.0". */
json_t *sf_schema_global_json(const char *version);
json_t *sf_schema_describe_json(const sf_object *obj, const char *version);
/* sobjects/X (basic info) body. */
json_t *sf_schema_basic_json(const sf_object *obj, const char *version);

#endif
