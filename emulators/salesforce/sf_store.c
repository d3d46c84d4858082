/*
 * sf_store.c - in-memory record tables of the Salesforce emulator: ids,
 * packed values, the change-ordered list, validation of writes, soft delete
 * and seeding (see sf_store.h). The store owns all record memory.
 */
#include "emulators/salesforce/sf_store.h"
#include "util/iso_time.h"
#include "util/common.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SF_ID_DIGITS 10
#define SF_ID_POD "Dn"
#define SF_ORG_AGE_MS (24LL * 3600 * 1000)
#define SF_HTTP_BAD_REQUEST 400
#define SF_HTTP_NOT_FOUND 404

static const char sf_base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

void sf_error_set(sf_error *err, int status, const char *code, const char *field,
                  const char *fmt, ...)
{
    err->status = status;
    snprintf(err->code, sizeof(err->code), "%s", code);
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

json_t *sf_error_object(const sf_error *err)
{
    json_t *fields = json_array();
    if (err->field[0])
        json_array_append_new(fields, json_string(err->field));
    return json_pack("{s:s, s:s, s:o}", "message", err->message, "errorCode", err->code,
                     "fields", fields);
}

json_t *sf_error_json(const sf_error *err)
{
    return json_pack("[o]", sf_error_object(err));
}

sf_table *sf_store_table(sf_store *st, const sf_object *obj)
{
    for (size_t i = 0; i < SF_MAX_OBJECTS; i++)
        if (st->tables[i].obj == obj)
            return &st->tables[i];
    return NULL;
}

int64_t sf_store_tick(sf_store *st)
{
    int64_t now = iso_time_now_ms();
    st->last_ms = now > st->last_ms ? now : st->last_ms + 1;
    return st->last_ms;
}

static void sf_store_checksum(char *id)
{
    static const char map[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    for (int chunk = 0; chunk < 3; chunk++) {
        int bits = 0;
        for (int j = 0; j < 5; j++) {
            char c = id[chunk * 5 + j];
            if (c >= 'A' && c <= 'Z')
                bits |= 1 << j;
        }
        id[15 + chunk] = map[bits];
    }
    id[SF_ID_LEN] = '\0';
}

void sf_store_make_id(const sf_object *obj, uint32_t idx, char *out)
{
    memcpy(out, obj->key_prefix, 3);
    memcpy(out + 3, SF_ID_POD, 2);
    uint64_t v = (uint64_t)idx + 1;
    for (int i = SF_ID_DIGITS - 1; i >= 0; i--) {
        out[5 + i] = sf_base62[v % 62];
        v /= 62;
    }
    sf_store_checksum(out);
}

int sf_store_resolve(sf_store *st, const char *id, sf_table **table, uint32_t *idx)
{
    size_t len = strlen(id);
    if (len != 15 && len != SF_ID_LEN)
        return T_ERR;
    const sf_object *obj = sf_schema_object_by_prefix(id);
    if (!obj || memcmp(id + 3, SF_ID_POD, 2) != 0)
        return T_ERR;
    uint64_t v = 0;
    for (int i = 0; i < SF_ID_DIGITS; i++) {
        const char *p = memchr(sf_base62, id[5 + i], 62);
        if (!p || id[5 + i] == '\0')
            return T_ERR;
        v = v * 62 + (uint64_t)(p - sf_base62);
    }
    if (len == SF_ID_LEN) {
        char canon[SF_ID_LEN + 1];
        memcpy(canon, id, 15);
        sf_store_checksum(canon);
        if (strcasecmp(canon + 15, id + 15) != 0)
            return T_ERR;
    }
    sf_table *t = sf_store_table(st, obj);
    if (!t || v == 0 || v > t->n)
        return T_ERR;
    *table = t;
    *idx = (uint32_t)(v - 1);
    return T_OK;
}

/* ---- packed values ---------------------------------------------------- */

static const char *sf_store_slot(const sf_table *t, const sf_record *r, int slot)
{
    if (!r->blob || slot < 0)
        return NULL;
    uint32_t off;
    memcpy(&off, r->blob + (size_t)slot * sizeof(uint32_t), sizeof(off));
    if (off == SF_NONE)
        return NULL;
    return r->blob + t->obj->nslots * sizeof(uint32_t) + off;
}

static char *sf_store_pack(size_t nslots, char *const *vals)
{
    size_t total = nslots * sizeof(uint32_t);
    for (size_t i = 0; i < nslots; i++)
        if (vals[i])
            total += strlen(vals[i]) + 1;
    char *blob = malloc(total ? total : 1);
    if (!blob)
        return NULL;
    size_t off = 0;
    char *strings = blob + nslots * sizeof(uint32_t);
    for (size_t i = 0; i < nslots; i++) {
        uint32_t o = SF_NONE;
        if (vals[i]) {
            size_t n = strlen(vals[i]) + 1;
            memcpy(strings + off, vals[i], n);
            o = (uint32_t)off;
            off += n;
        }
        memcpy(blob + i * sizeof(uint32_t), &o, sizeof(o));
    }
    return blob;
}

static void sf_store_unlink(sf_table *t, uint32_t idx)
{
    sf_record *r = &t->recs[idx];
    if (r->prev != SF_NONE)
        t->recs[r->prev].next = r->next;
    else
        t->head = r->next;
    if (r->next != SF_NONE)
        t->recs[r->next].prev = r->prev;
    else
        t->tail = r->prev;
    r->prev = r->next = SF_NONE;
}

static void sf_store_link_tail(sf_table *t, uint32_t idx)
{
    sf_record *r = &t->recs[idx];
    r->prev = t->tail;
    r->next = SF_NONE;
    if (t->tail != SF_NONE)
        t->recs[t->tail].next = idx;
    else
        t->head = idx;
    t->tail = idx;
}

static int sf_store_grow(sf_table *t, uint32_t extra)
{
    if (t->n + (uint64_t)extra <= t->cap)
        return T_OK;
    uint64_t cap = t->cap ? t->cap : 64;
    while (cap < t->n + (uint64_t)extra)
        cap *= 2;
    if (cap > SF_NONE - 1)
        return T_ERR;
    sf_record *recs = realloc(t->recs, cap * sizeof(*recs));
    if (!recs)
        return T_ERR;
    t->recs = recs;
    t->cap = (uint32_t)cap;
    return T_OK;
}

/* Appends a record with VALS (copied into a blob). Returns its index or SF_NONE. */
static uint32_t sf_store_append(sf_table *t, char *const *vals, int64_t stamp)
{
    if (sf_store_grow(t, 1) != T_OK)
        return SF_NONE;
    char *blob = sf_store_pack(t->obj->nslots, vals);
    if (!blob)
        return SF_NONE;
    uint32_t idx = t->n++;
    sf_record *r = &t->recs[idx];
    memset(r, 0, sizeof(*r));
    r->created = r->modified = r->stamp = stamp;
    r->blob = blob;
    r->prev = r->next = SF_NONE;
    sf_store_link_tail(t, idx);
    return idx;
}

static int sf_slot_of(const sf_object *obj, const char *name)
{
    const sf_field *f = sf_schema_field(obj, name);
    return f ? f->slot : -1;
}

int sf_store_init(sf_store *st, const char *username)
{
    memset(st, 0, sizeof(*st));
    sf_schema_init();
    assert(sf_schema_object_count() <= SF_MAX_OBJECTS);
    for (size_t i = 0; i < sf_schema_object_count(); i++) {
        st->tables[i].obj = sf_schema_object_at(i);
        st->tables[i].head = st->tables[i].tail = SF_NONE;
    }
    memcpy(st->org_id, "00D", 3);
    memcpy(st->org_id + 3, SF_ID_POD "0000000001", 12);
    sf_store_checksum(st->org_id);
    const sf_object *user = sf_schema_object("User");
    sf_store_make_id(user, 0, st->user_id);
    char *vals[32] = {0};
    assert(user->nslots <= T_ARRAY_LEN(vals));
    vals[sf_slot_of(user, "Username")] = (char *)username;
    vals[sf_slot_of(user, "FirstName")] = "Admin";
    vals[sf_slot_of(user, "LastName")] = "User";
    vals[sf_slot_of(user, "Email")] = "admin@example.com";
    vals[sf_slot_of(user, "Alias")] = "admin";
    vals[sf_slot_of(user, "IsActive")] = "true";
    vals[sf_slot_of(user, "CreatedById")] = st->user_id;
    vals[sf_slot_of(user, "LastModifiedById")] = st->user_id;
    /* The org (and its admin) were created a day ago. */
    st->last_ms = iso_time_now_ms() - SF_ORG_AGE_MS;
    return sf_store_append(sf_store_table(st, user), vals, st->last_ms) == SF_NONE ? T_ERR : T_OK;
}

void sf_store_free(sf_store *st)
{
    for (size_t i = 0; i < SF_MAX_OBJECTS; i++) {
        sf_table *t = &st->tables[i];
        for (uint32_t r = 0; r < t->n; r++)
            free(t->recs[r].blob);
        free(t->recs);
    }
    memset(st, 0, sizeof(*st));
}

/* ---- reading ------------------------------------------------------------ */

const char *sf_store_value(const sf_table *t, uint32_t idx, const sf_field *f, char *buf)
{
    const sf_record *r = &t->recs[idx];
    switch (f->source) {
    case SF_SRC_SLOT: return sf_store_slot(t, r, f->slot);
    case SF_SRC_ID: sf_store_make_id(t->obj, idx, buf); return buf;
    case SF_SRC_ISDELETED: return r->deleted ? "true" : "false";
    case SF_SRC_CREATED: iso_time_format_sf(r->created, buf); return buf;
    case SF_SRC_LASTMOD: iso_time_format_sf(r->modified, buf); return buf;
    case SF_SRC_STAMP: iso_time_format_sf(r->stamp, buf); return buf;
    case SF_SRC_FULLNAME: {
        const char *first = sf_store_slot(t, r, sf_slot_of(t->obj, "FirstName"));
        const char *last = sf_store_slot(t, r, sf_slot_of(t->obj, "LastName"));
        snprintf(buf, SF_VALUE_BUFLEN, "%s%s%s", first ? first : "", first && last ? " " : "",
                 last ? last : "");
        return buf[0] ? buf : NULL;
    }
    case SF_SRC_ADDRESS: return NULL;
    }
    return NULL;
}

static json_t *sf_store_typed(const sf_field *f, const char *v)
{
    if (!v)
        return json_null();
    switch (f->type) {
    case SF_T_BOOLEAN: return json_boolean(strcmp(v, "true") == 0);
    case SF_T_INT: return json_integer(strtoll(v, NULL, 10));
    case SF_T_DOUBLE:
    case SF_T_CURRENCY:
    case SF_T_PERCENT: return json_real(strtod(v, NULL));
    default: return json_string(v);
    }
}

json_t *sf_store_field_json(const sf_table *t, uint32_t idx, const sf_field *f)
{
    char buf[SF_VALUE_BUFLEN];
    if (f->source != SF_SRC_ADDRESS)
        return sf_store_typed(f, sf_store_value(t, idx, f, buf));
    static const char *const parts[][2] = {{"Street", "street"}, {"City", "city"},
                                           {"State", "state"},   {"PostalCode", "postalCode"},
                                           {"Country", "country"}};
    json_t *addr = json_object();
    bool any = false;
    for (size_t i = 0; i < T_ARRAY_LEN(parts); i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s%s", f->address_prefix, parts[i][0]);
        const char *v = sf_store_slot(t, &t->recs[idx], sf_slot_of(t->obj, name));
        any |= v != NULL;
        json_object_set_new(addr, parts[i][1], v ? json_string(v) : json_null());
    }
    json_object_set_new(addr, "geocodeAccuracy", json_null());
    json_object_set_new(addr, "latitude", json_null());
    json_object_set_new(addr, "longitude", json_null());
    if (!any) {
        json_decref(addr);
        return json_null();
    }
    return addr;
}

json_t *sf_store_record_json(const sf_table *t, uint32_t idx, const sf_field *const *fields,
                             size_t nfields, const char *version)
{
    char id[SF_ID_LEN + 1], url[160];
    sf_store_make_id(t->obj, idx, id);
    snprintf(url, sizeof(url), "/services/data/v%s/sobjects/%s/%s", version, t->obj->name, id);
    json_t *j = json_object();
    json_object_set_new(j, "attributes",
                        json_pack("{s:s, s:s}", "type", t->obj->name, "url", url));
    size_t n = fields ? nfields : t->obj->nfields;
    for (size_t i = 0; i < n; i++) {
        const sf_field *f = fields ? fields[i] : &t->obj->fields[i];
        json_object_set_new(j, f->name, sf_store_field_json(t, idx, f));
    }
    return j;
}

/* ---- writing ------------------------------------------------------------ */

void sf_change_free(sf_change *change)
{
    if (change->vals) {
        for (size_t i = 0; i < change->obj->nslots; i++)
            free(change->vals[i]);
        free(change->vals);
    }
    change->vals = NULL;
}

static bool sf_store_email_ok(const char *s)
{
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@'))
        return false;
    const char *dot = strrchr(at + 1, '.');
    if (!dot || dot == at + 1 || dot[1] == '\0')
        return false;
    for (const char *p = s; *p; p++)
        if (isspace((unsigned char)*p) || *p == ',' || *p == ';' || *p == '<' || *p == '>')
            return false;
    return strstr(at, "..") == NULL;
}

static size_t sf_store_utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Converts one JSON value for F into canonical text (*OUT malloc'd or NULL). */
static int sf_store_convert(sf_store *st, const sf_object *obj, const sf_field *f,
                            const json_t *v, char **out, sf_error *err)
{
    char buf[64];
    *out = NULL;
    if (json_is_null(v))
        return T_OK;
    switch (f->type) {
    case SF_T_BOOLEAN:
        if (json_is_boolean(v))
            *out = strdup(json_is_true(v) ? "true" : "false");
        else if (json_is_string(v) && (!strcasecmp(json_string_value(v), "true") ||
                                       !strcasecmp(json_string_value(v), "false")))
            *out = strdup(strcasecmp(json_string_value(v), "true") == 0 ? "true" : "false");
        else
            goto bad_json;
        break;
    case SF_T_INT:
    case SF_T_DOUBLE:
    case SF_T_CURRENCY:
    case SF_T_PERCENT: {
        double d;
        if (json_is_number(v)) {
            d = json_number_value(v);
        } else if (json_is_string(v)) {
            char *end;
            errno = 0;
            d = strtod(json_string_value(v), &end);
            if (end == json_string_value(v) || *end || errno)
                goto bad_json;
        } else {
            goto bad_json;
        }
        if (!isfinite(d) || (f->type == SF_T_INT && d != floor(d)))
            goto bad_json;
        if (f->type == SF_T_INT)
            snprintf(buf, sizeof(buf), "%lld", (long long)d);
        else
            snprintf(buf, sizeof(buf), "%.15g", d);
        *out = strdup(buf);
        break;
    }
    case SF_T_DATE:
        if (!json_is_string(v) || iso_time_parse_date(json_string_value(v)) != T_OK)
            goto bad_json;
        *out = strdup(json_string_value(v));
        break;
    case SF_T_DATETIME: {
        int64_t ms;
        if (!json_is_string(v) || iso_time_parse(json_string_value(v), 0, &ms) != T_OK)
            goto bad_json;
        iso_time_format_sf(ms, buf);
        *out = strdup(buf);
        break;
    }
    case SF_T_REFERENCE: {
        sf_table *t;
        uint32_t idx;
        if (!json_is_string(v))
            goto bad_json;
        const char *s = json_string_value(v);
        if (!s[0])
            return T_OK;
        if (sf_store_resolve(st, s, &t, &idx) != T_OK) {
            sf_error_set(err, SF_HTTP_BAD_REQUEST, "MALFORMED_ID", f->name,
                         "%s: id value of incorrect type: %s", f->label, s);
            return T_ERR;
        }
        if (strcmp(t->obj->name, f->reference_to) != 0 || t->recs[idx].deleted) {
            sf_error_set(err, SF_HTTP_BAD_REQUEST, "FIELD_INTEGRITY_EXCEPTION", f->name,
                         "%s: id value of incorrect type: %s", f->label, s);
            return T_ERR;
        }
        sf_store_make_id(t->obj, idx, buf);
        *out = strdup(buf);
        break;
    }
    default: {
        const char *s;
        if (json_is_string(v)) {
            s = json_string_value(v);
        } else if (json_is_number(v)) {
            snprintf(buf, sizeof(buf), "%.15g", json_number_value(v));
            s = buf;
        } else if (json_is_boolean(v)) {
            s = json_is_true(v) ? "true" : "false";
        } else {
            goto bad_json;
        }
        if (!s[0])
            return T_OK; /* Salesforce stores "" as null */
        if (f->length > 0 && sf_store_utf8_len(s) > (size_t)f->length) {
            sf_error_set(err, SF_HTTP_BAD_REQUEST, "STRING_TOO_LONG", f->name,
                         "%s: data value too large: %.60s (max length=%d)", f->label, s,
                         f->length);
            return T_ERR;
        }
        if (f->type == SF_T_EMAIL && !sf_store_email_ok(s)) {
            sf_error_set(err, SF_HTTP_BAD_REQUEST, "INVALID_EMAIL_ADDRESS", f->name,
                         "%s: invalid email address: %.200s", f->label, s);
            return T_ERR;
        }
        if (f->type == SF_T_PICKLIST && (f->flags & SF_F_RESTRICTED)) {
            bool found = false;
            for (size_t i = 0; f->picklist[i]; i++)
                found |= strcmp(f->picklist[i], s) == 0;
            if (!found) {
                sf_error_set(err, SF_HTTP_BAD_REQUEST, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                             f->name, "%s: bad value for restricted picklist field: %.200s",
                             f->label, s);
                return T_ERR;
            }
        }
        *out = strdup(s);
        break;
    }
    }
    if (!*out) {
        sf_error_set(err, 500, "UNKNOWN_EXCEPTION", NULL, "out of memory");
        return T_ERR;
    }
    return T_OK;
bad_json:
    sf_error_set(err, SF_HTTP_BAD_REQUEST, "JSON_PARSER_ERROR", f->name,
                 "Cannot deserialize instance of %s from %s value for field %s (%s)",
                 sf_schema_type_name(f->type), json_is_string(v) ? "VALUE_STRING" : "JSON",
                 f->name, obj->name);
    return T_ERR;
}

static bool sf_store_required(const sf_field *f)
{
    return f->source == SF_SRC_SLOT && !(f->flags & SF_F_NILLABLE) &&
           (f->flags & SF_F_CREATEABLE) && f->type != SF_T_BOOLEAN;
}

int sf_store_prepare(sf_store *st, const sf_object *obj, uint32_t idx, const json_t *body,
                     sf_change *change, sf_error *err)
{
    bool create = idx == SF_NONE;
    sf_table *t = sf_store_table(st, obj);
    memset(change, 0, sizeof(*change));
    change->obj = obj;
    change->idx = idx;
    if (!json_is_object(body)) {
        sf_error_set(err, SF_HTTP_BAD_REQUEST, "JSON_PARSER_ERROR", NULL,
                     "The request body must be a JSON object");
        return T_ERR;
    }
    change->vals = calloc(obj->nslots ? obj->nslots : 1, sizeof(char *));
    if (!change->vals)
        goto oom;
    if (!create) {
        for (size_t f = 0; f < obj->nfields; f++) {
            const sf_field *fd = &obj->fields[f];
            const char *v = fd->source == SF_SRC_SLOT ? sf_store_slot(t, &t->recs[idx], fd->slot)
                                                       : NULL;
            if (v && !(change->vals[fd->slot] = strdup(v)))
                goto oom;
        }
    }
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)body, key, value) {
        if (strcmp(key, "attributes") == 0 || (!create && strcasecmp(key, "Id") == 0))
            continue;
        const sf_field *fd = sf_schema_field(obj, key);
        if (!fd) {
            sf_error_set(err, SF_HTTP_BAD_REQUEST, "INVALID_FIELD", key,
                         "No such column '%s' on sobject of type %s", key, obj->name);
            goto failed;
        }
        unsigned need = create ? SF_F_CREATEABLE : SF_F_UPDATEABLE;
        if (fd->source != SF_SRC_SLOT || !(fd->flags & need)) {
            sf_error_set(err, SF_HTTP_BAD_REQUEST, "INVALID_FIELD_FOR_INSERT_UPDATE", fd->name,
                         "Unable to create/update fields: %s. Please check the security "
                         "settings of this field and verify that it is read/write for your "
                         "profile or permission set.",
                         fd->name);
            goto failed;
        }
        char *v;
        if (sf_store_convert(st, obj, fd, value, &v, err) != T_OK)
            goto failed;
        free(change->vals[fd->slot]);
        change->vals[fd->slot] = v;
    }
    for (size_t f = 0; f < obj->nfields; f++) {
        const sf_field *fd = &obj->fields[f];
        if (fd->source != SF_SRC_SLOT)
            continue;
        char **slot = &change->vals[fd->slot];
        if (create && !*slot && fd->default_value && !(*slot = strdup(fd->default_value)))
            goto oom;
        if (create && !*slot && fd->name[0] == 'O' && strcmp(fd->name, "OwnerId") == 0 &&
            !(*slot = strdup(st->user_id)))
            goto oom;
        if (create && strcmp(fd->name, "CreatedById") == 0 && !(*slot = strdup(st->user_id)))
            goto oom;
        if (strcmp(fd->name, "LastModifiedById") == 0) {
            free(*slot);
            if (!(*slot = strdup(st->user_id)))
                goto oom;
        }
        if (!*slot && sf_store_required(fd)) {
            sf_error_set(err, SF_HTTP_BAD_REQUEST, "REQUIRED_FIELD_MISSING", fd->name,
                         "Required fields are missing: [%s]", fd->name);
            goto failed;
        }
    }
    return T_OK;
oom:
    sf_error_set(err, 500, "UNKNOWN_EXCEPTION", NULL, "out of memory");
failed:
    sf_change_free(change);
    return T_ERR;
}

void sf_store_apply(sf_store *st, sf_change *change, char *id_out)
{
    sf_table *t = sf_store_table(st, change->obj);
    int64_t now = sf_store_tick(st);
    uint32_t idx = change->idx;
    if (idx == SF_NONE) {
        idx = sf_store_append(t, change->vals, now);
    } else {
        char *blob = sf_store_pack(t->obj->nslots, change->vals);
        if (blob) {
            free(t->recs[idx].blob);
            t->recs[idx].blob = blob;
            t->recs[idx].modified = t->recs[idx].stamp = now;
            sf_store_unlink(t, idx);
            sf_store_link_tail(t, idx);
        } else {
            idx = SF_NONE;
        }
    }
    if (idx == SF_NONE)
        id_out[0] = '\0';
    else
        sf_store_make_id(t->obj, idx, id_out);
    sf_change_free(change);
}

int sf_store_delete(sf_store *st, const char *id, sf_error *err)
{
    sf_table *t;
    uint32_t idx;
    if (sf_store_resolve(st, id, &t, &idx) != T_OK) {
        bool shaped = strlen(id) == 15 || strlen(id) == SF_ID_LEN;
        sf_error_set(err, SF_HTTP_NOT_FOUND, shaped ? "NOT_FOUND" : "MALFORMED_ID", NULL,
                     shaped ? "The requested resource does not exist"
                            : "malformed id %.40s",
                     id);
        return T_ERR;
    }
    sf_record *r = &t->recs[idx];
    if (r->deleted) {
        sf_error_set(err, SF_HTTP_NOT_FOUND, "ENTITY_IS_DELETED", NULL, "entity is deleted");
        return T_ERR;
    }
    r->deleted = true;
    r->modified = r->stamp = sf_store_tick(st);
    sf_store_unlink(t, idx);
    sf_store_link_tail(t, idx);
    return T_OK;
}

/* ---- seeding ------------------------------------------------------------ */

void sf_store_backdate(sf_store *st, uint64_t n)
{
    int64_t start = iso_time_now_ms() - (int64_t)n - 1;
    if (start > st->last_ms)
        st->last_ms = start;
}

int sf_store_seed(sf_store *st, const sf_object *obj, uint32_t n)
{
    sf_table *t = sf_store_table(st, obj);
    sf_table *accounts = sf_store_table(st, sf_schema_object("Account"));
    if (!t || sf_store_grow(t, n) != T_OK)
        return T_ERR;
    char *vals[64];
    char a[96], b[96], c[96], d[64], e[32], acct[SF_ID_LEN + 1];
    assert(obj->nslots <= T_ARRAY_LEN(vals));
    int64_t base = st->last_ms + 1;
    static const char *const regions[] = {"AMER", "EMEA", "APAC"};
    static const char *const stages[] = {"Prospecting", "Qualification", "Closed Won"};
    static const char *const statuses[] = {"Draft", "Sent", "Paid"};
    for (uint32_t i = 0; i < n; i++) {
        memset(vals, 0, sizeof(vals));
        uint32_t k = t->n + 1;
        bool has_acct = accounts->n > 0;
        if (has_acct)
            sf_store_make_id(accounts->obj, k % accounts->n, acct);
#define SET(name, val) vals[sf_slot_of(obj, name)] = (char *)(val)
        SET("CreatedById", st->user_id);
        SET("LastModifiedById", st->user_id);
        if (strcmp(obj->name, "User") != 0)
            SET("OwnerId", st->user_id);
        if (strcmp(obj->name, "Account") == 0) {
            snprintf(a, sizeof(a), "Account %u", k);
            SET("Name", a);
            SET("Industry", "Technology");
            SET("BillingCity", "Springfield");
        } else if (strcmp(obj->name, "Contact") == 0 || strcmp(obj->name, "Lead") == 0 ||
                   strcmp(obj->name, "User") == 0) {
            snprintf(a, sizeof(a), "First%u", k);
            snprintf(b, sizeof(b), "Last%u", k);
            snprintf(c, sizeof(c), "%s%u@example.com", obj->name[0] == 'C' ? "contact" : "lead",
                     k);
            SET("FirstName", a);
            SET("LastName", b);
            SET("Email", c);
            if (obj->name[0] == 'C') {
                SET("Region__c", regions[k % 3]);
                SET("DoNotCall", "false");
                if (has_acct)
                    SET("AccountId", acct);
            } else if (obj->name[0] == 'L') {
                snprintf(d, sizeof(d), "Company %u", k);
                SET("Company", d);
                SET("Status", "Open - Not Contacted");
                SET("IsConverted", "false");
            } else {
                snprintf(d, sizeof(d), "user%u@example.com", k);
                SET("Username", d);
                SET("IsActive", "true");
            }
        } else if (strcmp(obj->name, "Opportunity") == 0) {
            snprintf(a, sizeof(a), "Opportunity %u", k);
            snprintf(e, sizeof(e), "%u", (k % 1000) * 100);
            SET("Name", a);
            SET("StageName", stages[k % 3]);
            SET("CloseDate", "2026-12-31");
            SET("Amount", e);
            if (has_acct)
                SET("AccountId", acct);
        } else {
            snprintf(a, sizeof(a), "INV-%06u", k);
            snprintf(e, sizeof(e), "%u.5", k % 10000);
            SET("Name", a);
            SET("Amount__c", e);
            SET("Status__c", statuses[k % 3]);
            SET("Paid__c", "false");
            if (has_acct)
                SET("Account__c", acct);
        }
#undef SET
        if (sf_store_append(t, vals, base + i) == SF_NONE)
            return T_ERR;
    }
    if (base + (int64_t)n - 1 > st->last_ms)
        st->last_ms = base + (int64_t)n - 1;
    return T_OK;
}
