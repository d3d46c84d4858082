/*
 * sf_schema.c - the Salesforce connector's pure helpers: API names to
 * snake_case, describe field types to column types, an sObject describe to a
 * collection, date-times, backfill cursors and error bodies. Nothing here
 * allocates beyond the caller's buffers (jansson values are borrowed).
 */
#include "connectors/salesforce/salesforce.h"
#include "util/common.h"
#include "util/iso_time.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void sf_snake_case(const char *in, char *out, size_t len)
{
    assert(out && len > 0);
    size_t o = 0;
    for (size_t i = 0; in && in[i] && o + 1 < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (isupper(c)) {
            unsigned char prev = i > 0 ? (unsigned char)in[i - 1] : 0;
            unsigned char next = (unsigned char)in[i + 1];
            bool boundary = i > 0 && prev != '_' &&
                            (islower(prev) || isdigit(prev) || (isupper(prev) && islower(next)));
            if (boundary && o + 2 < len)
                out[o++] = '_';
            out[o++] = (char)tolower(c);
        } else if (isalnum(c) || c == '_') {
            out[o++] = (char)c;
        } else {
            out[o++] = '_';
        }
    }
    out[o] = '\0';
}

bool sf_field_coltype(const char *t, conn_coltype *out)
{
    static const struct {
        const char *sf;
        conn_coltype col;
    } map[] = {
        {"datetime", CONN_TIMESTAMPTZ}, {"date", CONN_DATE},       {"double", CONN_NUMERIC},
        {"currency", CONN_NUMERIC},     {"percent", CONN_NUMERIC}, {"int", CONN_BIGINT},
        {"long", CONN_BIGINT},          {"boolean", CONN_BOOL},    {"address", CONN_JSONB},
        {"location", CONN_JSONB},
    };
    if (!t)
        return false;
    if (strcmp(t, "base64") == 0)
        return false;
    for (size_t i = 0; i < T_ARRAY_LEN(map); i++)
        if (strcmp(map[i].sf, t) == 0) {
            *out = map[i].col;
            return true;
        }
    /* string, email, picklist, multipicklist, phone, url, textarea, id,
     * reference, combobox, encryptedstring, time, anyType: text */
    *out = CONN_TEXT;
    return true;
}

int sf_collection_from_describe(json_t *describe, conn_collection *coll)
{
    const char *name = json_string_value(json_object_get(describe, "name"));
    json_t *fields = json_object_get(describe, "fields");
    if (!name || !*name || strlen(name) >= sizeof(coll->object_type) || !json_is_array(fields))
        return T_ERR;
    memset(coll, 0, sizeof(*coll));
    sf_snake_case(name, coll->name, sizeof(coll->name));
    snprintf(coll->object_type, sizeof(coll->object_type), "%s", name);
    coll->backfill = true;
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f) {
        const char *fname = json_string_value(json_object_get(f, "name"));
        const char *ftype = json_string_value(json_object_get(f, "type"));
        if (!fname || !*fname || strlen(fname) >= sizeof(((conn_column *)0)->field) ||
            strcmp(fname, "Id") == 0)
            continue;
        conn_column col;
        memset(&col, 0, sizeof(col));
        if (!sf_field_coltype(ftype, &col.type))
            continue;
        sf_snake_case(fname, col.name, sizeof(col.name));
        if (!col.name[0] || strcmp(col.name, "id") == 0 || col.name[0] == '_')
            continue;
        snprintf(col.field, sizeof(col.field), "%s", fname);
        col.src = CONN_SRC_VALUE;
        /* describe says what a write may set; absent flags mean writable */
        col.no_create = json_is_false(json_object_get(f, "createable"));
        col.no_update = json_is_false(json_object_get(f, "updateable"));
        if (conn_collection_add_column(coll, &col) != T_OK)
            break; /* full: the rest are not synced */
    }
    return T_OK;
}

int sf_parse_datetime(const char *s, int64_t *ms)
{
    /* the API always answers "YYYY-MM-DDTHH:MM:SS...": anything looser is not from it */
    if (!s || strlen(s) < 19 || s[10] != 'T' || s[16] != ':')
        return T_ERR;
    return iso_time_parse(s, 1, ms);
}

void sf_format_datetime(int64_t ms, char *out, size_t len)
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int frac = (int)(ms - secs * 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

int sf_cursor_parse(const char *cursor, int64_t *ms, char *id, size_t idlen)
{
    const char *bar = cursor ? strchr(cursor, '|') : NULL;
    if (!bar || bar == cursor)
        return T_ERR;
    int64_t v = 0;
    for (const char *p = cursor; p < bar; p++) {
        if (!isdigit((unsigned char)*p) || v > INT64_MAX / 10 - 10)
            return T_ERR;
        v = v * 10 + (*p - '0');
    }
    size_t n = strlen(bar + 1);
    if ((n != 15 && n != 18) || n >= idlen)
        return T_ERR;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)bar[1 + i]))
            return T_ERR;
    memcpy(id, bar + 1, n + 1);
    *ms = v;
    return T_OK;
}

void sf_error_from_body(long status, json_t *body, conn_api_error *e)
{
    memset(e, 0, sizeof(*e));
    e->http_status = (int)status;
    json_t *first = json_is_array(body) ? json_array_get(body, 0) : body;
    const char *code = json_string_value(json_object_get(first, "errorCode"));
    const char *msg = json_string_value(json_object_get(first, "message"));
    if (!code) /* OAuth errors and composite results use other names */
        code = json_string_value(json_object_get(first, "error")) ?: json_string_value(json_object_get(first, "statusCode"));
    if (!msg)
        msg = json_string_value(json_object_get(first, "error_description"));
    json_t *fields = json_object_get(first, "fields");
    size_t i;
    json_t *f;
    size_t o = 0;
    json_array_foreach(fields, i, f) {
        const char *fn = json_string_value(f);
        if (!fn)
            continue;
        int w = snprintf(e->param + o, sizeof(e->param) - o, "%s%s", o ? "," : "", fn);
        if (w < 0 || (size_t)w >= sizeof(e->param) - o)
            break;
        o += (size_t)w;
    }
    snprintf(e->code, sizeof(e->code), "%s", code ? code : "");
    snprintf(e->message, sizeof(e->message), "%s", msg ? msg : "request failed");
}
