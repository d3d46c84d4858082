/*
 * sf_schema.c - static sObject and field tables of the Salesforce emulator and
 * their describe JSON. The tables are file-level data filled in at compile
 * time; sf_schema_init() only numbers the storage slots. Callers own (and
 * json_decref) the JSON objects returned.
 */
#include "emulators/salesforce/sf_schema.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define NIL SF_F_NILLABLE
#define CRE SF_F_CREATEABLE
#define UPD SF_F_UPDATEABLE
#define RW (SF_F_NILLABLE | SF_F_CREATEABLE | SF_F_UPDATEABLE)
#define REQ (SF_F_CREATEABLE | SF_F_UPDATEABLE)
#define CUS SF_F_CUSTOM

/* System fields every object has, in describe order. */
#define SF_SYSTEM_FIELDS                                                                      \
    {.name = "Id", .label = "Record ID", .type = SF_T_ID, .length = 18, .source = SF_SRC_ID,  \
     .flags = SF_F_DEFAULTED},                                                                \
    {.name = "IsDeleted", .label = "Deleted", .type = SF_T_BOOLEAN, .source = SF_SRC_ISDELETED, \
     .flags = SF_F_DEFAULTED},                                                                \
    {.name = "CreatedDate", .label = "Created Date", .type = SF_T_DATETIME,                  \
     .source = SF_SRC_CREATED, .flags = SF_F_DEFAULTED},                                      \
    {.name = "CreatedById", .label = "Created By ID", .type = SF_T_REFERENCE, .length = 18,   \
     .reference_to = "User", .relationship_name = "CreatedBy", .flags = SF_F_DEFAULTED},      \
    {.name = "LastModifiedDate", .label = "Last Modified Date", .type = SF_T_DATETIME,        \
     .source = SF_SRC_LASTMOD, .flags = SF_F_DEFAULTED},                                      \
    {.name = "LastModifiedById", .label = "Last Modified By ID", .type = SF_T_REFERENCE,      \
     .length = 18, .reference_to = "User", .relationship_name = "LastModifiedBy",             \
     .flags = SF_F_DEFAULTED},                                                                \
    {.name = "SystemModstamp", .label = "System Modstamp", .type = SF_T_DATETIME,             \
     .source = SF_SRC_STAMP, .flags = SF_F_DEFAULTED}

#define SF_OWNER_FIELD                                                                        \
    {.name = "OwnerId", .label = "Owner ID", .type = SF_T_REFERENCE, .length = 18,            \
     .reference_to = "User", .relationship_name = "Owner",                                    \
     .flags = SF_F_CREATEABLE | SF_F_UPDATEABLE | SF_F_DEFAULTED}

#define SF_ADDRESS_FIELDS(P, LBL)                                                             \
    {.name = P "Street", .label = LBL " Street", .type = SF_T_TEXTAREA, .length = 255,        \
     .flags = RW, .compound = P "Address"},                                                   \
    {.name = P "City", .label = LBL " City", .type = SF_T_STRING, .length = 40, .flags = RW,   \
     .compound = P "Address"},                                                                \
    {.name = P "State", .label = LBL " State/Province", .type = SF_T_STRING, .length = 80,     \
     .flags = RW, .compound = P "Address"},                                                   \
    {.name = P "PostalCode", .label = LBL " Zip/Postal Code", .type = SF_T_STRING,            \
     .length = 20, .flags = RW, .compound = P "Address"},                                     \
    {.name = P "Country", .label = LBL " Country", .type = SF_T_STRING, .length = 80,         \
     .flags = RW, .compound = P "Address"},                                                   \
    {.name = P "Address", .label = LBL " Address", .type = SF_T_ADDRESS, .flags = NIL,        \
     .source = SF_SRC_ADDRESS, .address_prefix = P}

static const char *const account_types[] = {"Prospect", "Customer - Direct", "Customer - Channel",
                                            "Channel Partner / Reseller", "Partner", "Other", NULL};
static const char *const industries[] = {"Agriculture", "Banking", "Education", "Energy",
                                         "Healthcare", "Manufacturing", "Retail", "Technology",
                                         NULL};
static const char *const salutations[] = {"Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", NULL};
static const char *const regions[] = {"AMER", "EMEA", "APAC", NULL};
static const char *const lead_statuses[] = {"Open - Not Contacted", "Working - Contacted",
                                            "Closed - Converted", "Closed - Not Converted", NULL};
static const char *const ratings[] = {"Hot", "Warm", "Cold", NULL};
static const char *const stages[] = {"Prospecting", "Qualification", "Needs Analysis",
                                     "Proposal/Price Quote", "Negotiation/Review",
                                     "Closed Won", "Closed Lost", NULL};
static const char *const invoice_statuses[] = {"Draft", "Sent", "Paid", "Void", NULL};

static sf_field account_fields[] = {
    SF_SYSTEM_FIELDS,
    {.name = "Name", .label = "Account Name", .type = SF_T_STRING, .length = 255,
     .flags = REQ | SF_F_NAMEFIELD},
    {.name = "Type", .label = "Account Type", .type = SF_T_PICKLIST, .length = 255, .flags = RW,
     .picklist = account_types},
    {.name = "Industry", .label = "Industry", .type = SF_T_PICKLIST, .length = 255, .flags = RW,
     .picklist = industries},
    {.name = "Phone", .label = "Account Phone", .type = SF_T_PHONE, .length = 40, .flags = RW},
    {.name = "Website", .label = "Website", .type = SF_T_URL, .length = 255, .flags = RW},
    {.name = "AnnualRevenue", .label = "Annual Revenue", .type = SF_T_CURRENCY, .length = 18,
     .flags = RW},
    {.name = "NumberOfEmployees", .label = "Employees", .type = SF_T_INT, .length = 8,
     .flags = RW},
    {.name = "Description", .label = "Account Description", .type = SF_T_TEXTAREA,
     .length = 32000, .flags = RW},
    SF_ADDRESS_FIELDS("Billing", "Billing"),
    SF_OWNER_FIELD,
};

static sf_field contact_fields[] = {
    SF_SYSTEM_FIELDS,
    {.name = "FirstName", .label = "First Name", .type = SF_T_STRING, .length = 40, .flags = RW},
    {.name = "LastName", .label = "Last Name", .type = SF_T_STRING, .length = 80, .flags = REQ},
    {.name = "Name", .label = "Full Name", .type = SF_T_STRING, .length = 121,
     .flags = SF_F_NAMEFIELD, .source = SF_SRC_FULLNAME},
    {.name = "Salutation", .label = "Salutation", .type = SF_T_PICKLIST, .length = 40,
     .flags = RW, .picklist = salutations},
    {.name = "Title", .label = "Title", .type = SF_T_STRING, .length = 128, .flags = RW},
    {.name = "Email", .label = "Email", .type = SF_T_EMAIL, .length = 80, .flags = RW},
    {.name = "Phone", .label = "Business Phone", .type = SF_T_PHONE, .length = 40, .flags = RW},
    {.name = "MobilePhone", .label = "Mobile Phone", .type = SF_T_PHONE, .length = 40,
     .flags = RW},
    {.name = "AccountId", .label = "Account ID", .type = SF_T_REFERENCE, .length = 18,
     .flags = RW, .reference_to = "Account", .relationship_name = "Account"},
    {.name = "Birthdate", .label = "Birthdate", .type = SF_T_DATE, .flags = RW},
    {.name = "DoNotCall", .label = "Do Not Call", .type = SF_T_BOOLEAN,
     .flags = CRE | UPD | SF_F_DEFAULTED, .default_value = "false"},
    {.name = "Description", .label = "Contact Description", .type = SF_T_TEXTAREA,
     .length = 32000, .flags = RW},
    SF_ADDRESS_FIELDS("Mailing", "Mailing"),
    {.name = "Region__c", .label = "Region", .type = SF_T_PICKLIST, .length = 255,
     .flags = RW | CUS, .picklist = regions},
    SF_OWNER_FIELD,
};

static sf_field lead_fields[] = {
    SF_SYSTEM_FIELDS,
    {.name = "FirstName", .label = "First Name", .type = SF_T_STRING, .length = 40, .flags = RW},
    {.name = "LastName", .label = "Last Name", .type = SF_T_STRING, .length = 80, .flags = REQ},
    {.name = "Name", .label = "Full Name", .type = SF_T_STRING, .length = 121,
     .flags = SF_F_NAMEFIELD, .source = SF_SRC_FULLNAME},
    {.name = "Company", .label = "Company", .type = SF_T_STRING, .length = 255, .flags = REQ},
    {.name = "Email", .label = "Email", .type = SF_T_EMAIL, .length = 80, .flags = RW},
    {.name = "Phone", .label = "Phone", .type = SF_T_PHONE, .length = 40, .flags = RW},
    {.name = "Status", .label = "Lead Status", .type = SF_T_PICKLIST, .length = 255,
     .flags = REQ | SF_F_DEFAULTED, .picklist = lead_statuses,
     .default_value = "Open - Not Contacted"},
    {.name = "Rating", .label = "Rating", .type = SF_T_PICKLIST, .length = 255, .flags = RW,
     .picklist = ratings},
    {.name = "IsConverted", .label = "Converted", .type = SF_T_BOOLEAN,
     .flags = SF_F_DEFAULTED, .default_value = "false"},
    SF_OWNER_FIELD,
};

static sf_field opportunity_fields[] = {
    SF_SYSTEM_FIELDS,
    {.name = "Name", .label = "Name", .type = SF_T_STRING, .length = 120,
     .flags = REQ | SF_F_NAMEFIELD},
    {.name = "AccountId", .label = "Account ID", .type = SF_T_REFERENCE, .length = 18,
     .flags = RW, .reference_to = "Account", .relationship_name = "Account"},
    {.name = "StageName", .label = "Stage", .type = SF_T_PICKLIST, .length = 255, .flags = REQ,
     .picklist = stages},
    {.name = "CloseDate", .label = "Close Date", .type = SF_T_DATE, .flags = REQ},
    {.name = "Amount", .label = "Amount", .type = SF_T_CURRENCY, .length = 18, .scale = 2,
     .flags = RW},
    {.name = "Probability", .label = "Probability (%)", .type = SF_T_PERCENT, .length = 3,
     .flags = RW},
    {.name = "Description", .label = "Description", .type = SF_T_TEXTAREA, .length = 32000,
     .flags = RW},
    SF_OWNER_FIELD,
};

static sf_field user_fields[] = {
    SF_SYSTEM_FIELDS,
    {.name = "Username", .label = "Username", .type = SF_T_STRING, .length = 80, .flags = REQ},
    {.name = "FirstName", .label = "First Name", .type = SF_T_STRING, .length = 40, .flags = RW},
    {.name = "LastName", .label = "Last Name", .type = SF_T_STRING, .length = 80, .flags = REQ},
    {.name = "Name", .label = "Full Name", .type = SF_T_STRING, .length = 121,
     .flags = SF_F_NAMEFIELD, .source = SF_SRC_FULLNAME},
    {.name = "Email", .label = "Email", .type = SF_T_EMAIL, .length = 128, .flags = REQ},
    {.name = "Alias", .label = "Alias", .type = SF_T_STRING, .length = 8, .flags = RW},
    {.name = "IsActive", .label = "Active", .type = SF_T_BOOLEAN,
     .flags = CRE | UPD | SF_F_DEFAULTED, .default_value = "true"},
};

static sf_field invoice_fields[] = {
    SF_SYSTEM_FIELDS,
    {.name = "Name", .label = "Invoice Name", .type = SF_T_STRING, .length = 80,
     .flags = RW | SF_F_NAMEFIELD},
    {.name = "Amount__c", .label = "Amount", .type = SF_T_CURRENCY, .length = 16, .scale = 2,
     .flags = RW | CUS},
    {.name = "Account__c", .label = "Account", .type = SF_T_REFERENCE, .length = 18,
     .flags = RW | CUS, .reference_to = "Account", .relationship_name = "Account__r"},
    {.name = "Status__c", .label = "Status", .type = SF_T_PICKLIST, .length = 255,
     .flags = RW | CUS | SF_F_RESTRICTED, .picklist = invoice_statuses},
    {.name = "Due_Date__c", .label = "Due Date", .type = SF_T_DATE, .flags = RW | CUS},
    {.name = "Paid_At__c", .label = "Paid At", .type = SF_T_DATETIME, .flags = RW | CUS},
    {.name = "Paid__c", .label = "Paid", .type = SF_T_BOOLEAN,
     .flags = CRE | UPD | CUS | SF_F_DEFAULTED, .default_value = "false"},
    SF_OWNER_FIELD,
};

#define SF_OBJ(n, l, lp, p, c, f) {n, l, lp, p, c, f, T_LEN(f), 0}
#define T_LEN(a) (sizeof(a) / sizeof((a)[0]))

static sf_object objects[] = {
    SF_OBJ("Account", "Account", "Accounts", "001", false, account_fields),
    SF_OBJ("Contact", "Contact", "Contacts", "003", false, contact_fields),
    SF_OBJ("Lead", "Lead", "Leads", "00Q", false, lead_fields),
    SF_OBJ("Opportunity", "Opportunity", "Opportunities", "006", false, opportunity_fields),
    SF_OBJ("User", "User", "Users", "005", false, user_fields),
    SF_OBJ("Invoice__c", "Invoice", "Invoices", "a0X", true, invoice_fields),
};

void sf_schema_init(void)
{
    for (size_t i = 0; i < T_LEN(objects); i++) {
        size_t slot = 0;
        for (size_t f = 0; f < objects[i].nfields; f++) {
            sf_field *fd = &objects[i].fields[f];
            fd->slot = fd->source == SF_SRC_SLOT ? (int)slot++ : -1;
        }
        objects[i].nslots = slot;
    }
}

size_t sf_schema_object_count(void) { return T_LEN(objects); }

const sf_object *sf_schema_object_at(size_t i)
{
    return i < T_LEN(objects) ? &objects[i] : NULL;
}

const sf_object *sf_schema_object(const char *name)
{
    for (size_t i = 0; i < T_LEN(objects); i++)
        if (strcasecmp(objects[i].name, name) == 0)
            return &objects[i];
    return NULL;
}

const sf_object *sf_schema_object_by_prefix(const char *prefix)
{
    for (size_t i = 0; i < T_LEN(objects); i++)
        if (strncmp(objects[i].key_prefix, prefix, 3) == 0)
            return &objects[i];
    return NULL;
}

const sf_field *sf_schema_field(const sf_object *obj, const char *name)
{
    for (size_t f = 0; f < obj->nfields; f++)
        if (strcasecmp(obj->fields[f].name, name) == 0)
            return &obj->fields[f];
    return NULL;
}

const char *sf_schema_type_name(sf_ftype t)
{
    static const char *const names[] = {
        [SF_T_ID] = "id",         [SF_T_STRING] = "string",     [SF_T_EMAIL] = "email",
        [SF_T_PHONE] = "phone",   [SF_T_URL] = "url",           [SF_T_PICKLIST] = "picklist",
        [SF_T_REFERENCE] = "reference", [SF_T_BOOLEAN] = "boolean", [SF_T_INT] = "int",
        [SF_T_DOUBLE] = "double", [SF_T_CURRENCY] = "currency", [SF_T_PERCENT] = "percent",
        [SF_T_DATE] = "date",     [SF_T_DATETIME] = "datetime", [SF_T_TEXTAREA] = "textarea",
        [SF_T_ADDRESS] = "address",
    };
    return names[t];
}

static const char *sf_schema_soap_type(sf_ftype t)
{
    switch (t) {
    case SF_T_ID: case SF_T_REFERENCE: return "tns:ID";
    case SF_T_BOOLEAN: return "xsd:boolean";
    case SF_T_INT: return "xsd:int";
    case SF_T_DOUBLE: case SF_T_CURRENCY: case SF_T_PERCENT: return "xsd:double";
    case SF_T_DATE: return "xsd:date";
    case SF_T_DATETIME: return "xsd:dateTime";
    case SF_T_ADDRESS: return "urn:address";
    default: return "xsd:string";
    }
}

bool sf_schema_type_is_numeric(sf_ftype t)
{
    return t == SF_T_INT || t == SF_T_DOUBLE || t == SF_T_CURRENCY || t == SF_T_PERCENT;
}

bool sf_schema_type_is_text(sf_ftype t)
{
    return t == SF_T_STRING || t == SF_T_EMAIL || t == SF_T_PHONE || t == SF_T_URL ||
           t == SF_T_PICKLIST || t == SF_T_TEXTAREA;
}

static json_t *sf_schema_urls(const sf_object *obj, const char *version)
{
    char base[128];
    snprintf(base, sizeof(base), "/services/data/v%s/sobjects/%s", version, obj->name);
    return json_pack("{s:s, s:s+, s:s+, s:s+}", "sobject", base, "describe", base,
                     "/describe", "rowTemplate", base, "/{ID}", "defaultValues", base,
                     "/defaultValues?recordTypeId&fields");
}

static json_t *sf_schema_object_summary(const sf_object *obj, const char *version)
{
    bool user = strcmp(obj->name, "User") == 0;
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, "
                     "s:b, s:b, s:b, s:b, s:b, s:n, s:o}",
                     "name", obj->name, "label", obj->label, "labelPlural", obj->label_plural,
                     "keyPrefix", obj->key_prefix, "custom", obj->custom, "customSetting", 0,
                     "createable", 1, "updateable", 1, "deletable", !user, "undeletable", !user,
                     "queryable", 1, "retrieveable", 1, "searchable", 1, "layoutable", 1,
                     "replicateable", 1, "triggerable", 1, "mergeable", !obj->custom && !user,
                     "feedEnabled", 0, "deprecatedAndHidden", 0, "associateEntityType",
                     "urls", sf_schema_urls(obj, version));
}

json_t *sf_schema_global_json(const char *version)
{
    json_t *list = json_array();
    for (size_t i = 0; i < T_LEN(objects); i++)
        json_array_append_new(list, sf_schema_object_summary(&objects[i], version));
    return json_pack("{s:s, s:i, s:o}", "encoding", "UTF-8", "maxBatchSize", 200, "sobjects",
                     list);
}

static json_t *sf_schema_field_json(const sf_field *f)
{
    bool textual = sf_schema_type_is_text(f->type) || f->type == SF_T_ID ||
                   f->type == SF_T_REFERENCE;
    int length = textual ? f->length : 0;
    bool numeric = sf_schema_type_is_numeric(f->type);
    json_t *picklist = json_array();
    for (size_t i = 0; f->picklist && f->picklist[i]; i++)
        json_array_append_new(
            picklist, json_pack("{s:b, s:b, s:s, s:n, s:s}", "active", 1, "defaultValue",
                                f->default_value && !strcmp(f->default_value, f->picklist[i]),
                                "label", f->picklist[i], "validFor", "value", f->picklist[i]));
    json_t *refs = json_array();
    if (f->reference_to)
        json_array_append_new(refs, json_string(f->reference_to));
    bool calculated = f->source == SF_SRC_FULLNAME || (f->flags & SF_F_CALCULATED);
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:b, s:b, s:b, s:b, s:b, s:b, s:b, "
        "s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:o, s:o}",
        "name", f->name, "label", f->label, "type", sf_schema_type_name(f->type), "soapType",
        sf_schema_soap_type(f->type), "length", length, "byteLength", length * 3, "precision",
        numeric && f->type != SF_T_INT ? f->length : 0, "scale", numeric ? f->scale : 0,
        "digits", f->type == SF_T_INT ? f->length : 0, "nillable", 0,
        "createable", (f->flags & SF_F_CREATEABLE) != 0, "updateable",
        (f->flags & SF_F_UPDATEABLE) != 0, "custom", (f->flags & SF_F_CUSTOM) != 0,
        "calculated", calculated, "autoNumber", 0, "defaultedOnCreate",
        (f->flags & SF_F_DEFAULTED) != 0, "unique", 0, "externalId", 0, "idLookup",
        f->type == SF_T_ID || f->type == SF_T_EMAIL || (f->flags & SF_F_NAMEFIELD),
        "filterable", f->type != SF_T_ADDRESS && f->type != SF_T_TEXTAREA, "sortable",
        f->type != SF_T_ADDRESS && f->type != SF_T_TEXTAREA, "groupable",
        f->type != SF_T_ADDRESS && !numeric && f->type != SF_T_DATETIME, "nameField",
        (f->flags & SF_F_NAMEFIELD) != 0, "restrictedPicklist", (f->flags & SF_F_RESTRICTED) != 0,
        "dependentPicklist", 0, "htmlFormatted", 0, "picklistValues", picklist, "referenceTo",
        refs);
    assert(j);
    /* nillable as describe reports it: booleans never, otherwise the flag. */
    json_object_set_new(j, "nillable",
                        json_boolean(f->type != SF_T_BOOLEAN && (f->flags & SF_F_NILLABLE)));
    json_object_set_new(j, "relationshipName",
                        f->relationship_name ? json_string(f->relationship_name) : json_null());
    json_object_set_new(j, "compoundFieldName",
                        f->compound ? json_string(f->compound) : json_null());
    json_object_set_new(j, "defaultValue",
                        !f->default_value ? json_null()
                        : f->type == SF_T_BOOLEAN
                            ? json_boolean(strcmp(f->default_value, "true") == 0)
                            : json_string(f->default_value));
    json_object_set_new(j, "extraTypeInfo",
                        f->type == SF_T_TEXTAREA ? json_string("plaintextarea") : json_null());
    json_object_set_new(j, "inlineHelpText", json_null());
    json_object_set_new(j, "calculatedFormula", json_null());
    json_object_set_new(j, "relationshipOrder", json_null());
    json_object_set_new(j, "cascadeDelete", json_false());
    json_object_set_new(j, "writeRequiresMasterRead", json_false());
    return j;
}

json_t *sf_schema_describe_json(const sf_object *obj, const char *version)
{
    json_t *j = sf_schema_object_summary(obj, version);
    json_t *fields = json_array();
    for (size_t f = 0; f < obj->nfields; f++)
        json_array_append_new(fields, sf_schema_field_json(&obj->fields[f]));
    json_object_set_new(j, "fields", fields);
    json_t *children = json_array();
    for (size_t i = 0; i < T_LEN(objects); i++) {
        for (size_t f = 0; f < objects[i].nfields; f++) {
            const sf_field *fd = &objects[i].fields[f];
            if (!fd->reference_to || strcmp(fd->reference_to, obj->name) != 0 ||
                fd->source != SF_SRC_SLOT || !(fd->flags & SF_F_NILLABLE))
                continue;
            char rel[96];
            snprintf(rel, sizeof(rel), "%s", objects[i].label_plural);
            if (objects[i].custom)
                snprintf(rel, sizeof(rel), "%s__r", objects[i].label_plural);
            json_array_append_new(
                children, json_pack("{s:s, s:s, s:s, s:b, s:b, s:b}", "childSObject",
                                    objects[i].name, "field", fd->name, "relationshipName", rel,
                                    "cascadeDelete", 0, "restrictedDelete", 0,
                                    "deprecatedAndHidden", 0));
        }
    }
    json_object_set_new(j, "childRelationships", children);
    json_object_set_new(
        j, "recordTypeInfos",
        json_pack("[{s:b, s:b, s:b, s:b, s:s, s:s, s:s}]", "active", 1, "available", 1,
                  "defaultRecordTypeMapping", 1, "master", 1, "name", "Master",
                  "developerName", "Master", "recordTypeId", "012000000000000AAA"));
    json_object_set_new(j, "supportedScopes", json_array());
    json_object_set_new(j, "namedLayoutInfos", json_array());
    json_object_set_new(j, "actionOverrides", json_array());
    json_object_set_new(j, "compactLayoutable", json_true());
    json_object_set_new(j, "searchLayoutable", json_true());
    return j;
}

json_t *sf_schema_basic_json(const sf_object *obj, const char *version)
{
    return json_pack("{s:o, s:[]}", "objectDescribe", sf_schema_object_summary(obj, version),
                     "recentItems");
}
