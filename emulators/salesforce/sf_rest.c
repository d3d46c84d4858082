/*
 * sf_rest.c - the /services/data resources of the Salesforce emulator:
 * sObject CRUD, describe, SOQL query/queryAll and cursors, composite
 * sobjects, updated/deleted feeds, limits and the versions list. Called with
 * api->lock held; JSON built here is handed to the response (sf_resp_json).
 */
#include "emulators/salesforce/sf_http.h"
#include "util/iso_time.h"
#include "util/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

json_t *sf_req_json(const sf_req *q, sf_resp *r)
{
    json_error_t jerr;
    json_t *j = q->body ? json_loadb(q->body, q->body_len, 0, &jerr) : NULL;
    if (!j)
        sf_resp_err(r, HTTP_BAD_REQUEST, "JSON_PARSER_ERROR",
                    "Unexpected character at [line:%d, column:%d]", q->body ? jerr.line : 1,
                    q->body ? jerr.column : 1);
    return j;
}

/* Resolves ID as a live or deleted record of OBJ; sets a 404 on failure. */
static bool sf_rest_find(sf_api *api, const sf_object *obj, const char *id, sf_table **t,
                        uint32_t *idx, sf_resp *r, bool allow_deleted)
{
    if (sf_store_resolve(&api->store, id, t, idx) != T_OK || (*t)->obj != obj) {
        sf_resp_err(r, HTTP_NOT_FOUND, "NOT_FOUND", "The requested resource does not exist");
        return false;
    }
    if ((*t)->recs[*idx].deleted && !allow_deleted) {
        sf_resp_err(r, HTTP_NOT_FOUND, "ENTITY_IS_DELETED", "entity is deleted");
        return false;
    }
    return true;
}

static void sf_rest_get_record(sf_api *api, const sf_req *q, sf_resp *r, const sf_object *obj,
                              const char *id, const char *version)
{
    sf_table *t;
    uint32_t idx;
    if (!sf_rest_find(api, obj, id, &t, &idx, r, false))
        return;
    const char *fields = sf_req_arg(q, "fields");
    if (!fields || !fields[0]) {
        sf_resp_json(r, HTTP_OK, sf_store_record_json(t, idx, NULL, 0, version));
        return;
    }
    const sf_field *list[256];
    size_t n = 0;
    char *copy = strdup(fields), *save = NULL;
    if (!copy)
        return;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        const sf_field *f = sf_schema_field(obj, tok);
        if (!f) {
            sf_resp_err(r, HTTP_BAD_REQUEST, "INVALID_FIELD",
                        "No such column '%.80s' on entity '%s'. If you are attempting to use a "
                        "custom field, be sure to append the '__c' after the custom field name.",
                        tok, obj->name);
            free(copy);
            return;
        }
        if (n < T_ARRAY_LEN(list))
            list[n++] = f;
    }
    free(copy);
    sf_resp_json(r, HTTP_OK, sf_store_record_json(t, idx, list, n, version));
}

static void sf_rest_create(sf_api *api, const sf_req *q, sf_resp *r, const sf_object *obj)
{
    json_t *body = sf_req_json(q, r);
    if (!body)
        return;
    sf_change ch;
    sf_error err;
    if (sf_store_prepare(&api->store, obj, SF_NONE, body, &ch, &err) != T_OK) {
        sf_resp_error(r, &err);
    } else {
        char id[SF_ID_LEN + 1];
        sf_store_apply(&api->store, &ch, id);
        sf_resp_json(r, HTTP_CREATED,
                     json_pack("{s:s, s:b, s:[]}", "id", id, "success", 1, "errors"));
    }
    json_decref(body);
}

static void sf_rest_update(sf_api *api, const sf_req *q, sf_resp *r, const sf_object *obj,
                          const char *id)
{
    sf_table *t;
    uint32_t idx;
    if (!sf_rest_find(api, obj, id, &t, &idx, r, false))
        return;
    json_t *body = sf_req_json(q, r);
    if (!body)
        return;
    sf_change ch;
    sf_error err;
    char out[SF_ID_LEN + 1];
    if (sf_store_prepare(&api->store, obj, idx, body, &ch, &err) != T_OK) {
        sf_resp_error(r, &err);
    } else {
        sf_store_apply(&api->store, &ch, out);
        r->status = HTTP_NO_CONTENT;
    }
    json_decref(body);
}

static void sf_rest_delete(sf_api *api, sf_resp *r, const sf_object *obj, const char *id)
{
    sf_table *t;
    uint32_t idx;
    sf_error err;
    if (!sf_rest_find(api, obj, id, &t, &idx, r, false))
        return;
    if (sf_store_delete(&api->store, id, &err) != T_OK)
        sf_resp_error(r, &err);
    else
        r->status = HTTP_NO_CONTENT;
}

static bool sf_rest_range(const sf_req *q, sf_resp *r, int64_t *start, int64_t *end)
{
    const char *s = sf_req_arg(q, "start"), *e = sf_req_arg(q, "end");
    if (!s || !e) {
        sf_resp_err(r, HTTP_BAD_REQUEST, "MISSING_ARGUMENT",
                    "Both start and end parameters are required");
        return false;
    }
    if (iso_time_parse(s, 1, start) != T_OK || iso_time_parse(e, 1, end) != T_OK) {
        sf_resp_err(r, HTTP_BAD_REQUEST, "INVALID_REPLICATION_DATE",
                    "start and end must be ISO 8601 date-times");
        return false;
    }
    if (*end < *start) {
        sf_resp_err(r, HTTP_BAD_REQUEST, "INVALID_REPLICATION_DATE",
                    "start date must be before end date");
        return false;
    }
    return true;
}

/* GET sobjects/X/updated and sobjects/X/deleted: walks the change list. */
static void sf_rest_replication(sf_api *api, const sf_req *q, sf_resp *r, const sf_object *obj,
                               bool deleted)
{
    int64_t start, end;
    if (!sf_rest_range(q, r, &start, &end))
        return;
    sf_table *t = sf_store_table(&api->store, obj);
    json_t *list = json_array();
    int64_t earliest = end;
    for (uint32_t i = t->tail; i != SF_NONE; i = t->recs[i].prev) {
        sf_record *rec = &t->recs[i];
        if (rec->stamp < start)
            break;
        if (rec->stamp > end || rec->deleted != deleted)
            continue;
        char id[SF_ID_LEN + 1], when[ISO_TIME_BUFLEN];
        sf_store_make_id(obj, i, id);
        if (deleted) {
            iso_time_format_sf(rec->stamp, when);
            json_array_insert_new(list, 0,
                                  json_pack("{s:s, s:s}", "id", id, "deletedDate", when));
        } else {
            json_array_insert_new(list, 0, json_string(id));
        }
    }
    if (t->head != SF_NONE && t->recs[t->head].stamp < earliest)
        earliest = t->recs[t->head].stamp;
    char latest[ISO_TIME_BUFLEN], first[ISO_TIME_BUFLEN];
    int64_t now = iso_time_now_ms();
    iso_time_format_sf((end < now ? end : now) / 60000 * 60000, latest);
    iso_time_format_sf(earliest, first);
    json_t *j = deleted ? json_pack("{s:o, s:s, s:s}", "deletedRecords", list,
                                    "earliestDateAvailable", first, "latestDateCovered", latest)
                        : json_pack("{s:o, s:s}", "ids", list, "latestDateCovered", latest);
    sf_resp_json(r, HTTP_OK, j);
}

static size_t sf_rest_batch_size(const sf_req *q)
{
    const char *opts = sf_req_header(q, "Sforce-Query-Options");
    const char *b = opts ? strcasestr(opts, "batchSize=") : NULL;
    if (!b)
        return SF_QUERY_DEFAULT_BATCH;
    long n = strtol(b + strlen("batchSize="), NULL, 10);
    if (n < SF_QUERY_MIN_BATCH)
        n = SF_QUERY_MIN_BATCH;
    if (n > SF_QUERY_DEFAULT_BATCH)
        n = SF_QUERY_DEFAULT_BATCH;
    return (size_t)n;
}

static void sf_rest_query(sf_api *api, const sf_req *q, sf_resp *r, const char *rest, bool all,
                         const char *version)
{
    json_t *out = NULL;
    sf_error err;
    int rc;
    if (rest && *rest) {
        rc = sf_query_more(&api->store, &api->qe, rest, version, &out, &err);
    } else {
        const char *soql = sf_req_arg(q, "q");
        if (!soql) {
            sf_resp_err(r, HTTP_BAD_REQUEST, "MALFORMED_QUERY", "query parameter q is required");
            return;
        }
        rc = sf_query_run(&api->store, &api->qe, soql, all, sf_rest_batch_size(q), version,
                          &out, &err);
    }
    if (rc != T_OK)
        sf_resp_error(r, &err);
    else
        sf_resp_json(r, HTTP_OK, out);
}

/* One composite item's outcome. */
static json_t *sf_rest_item_result(const char *id, const sf_error *err)
{
    json_t *errors = json_array();
    if (err) {
        json_t *fields = json_array();
        if (err->field[0])
            json_array_append_new(fields, json_string(err->field));
        json_array_append_new(errors, json_pack("{s:s, s:s, s:o}", "statusCode", err->code,
                                                "message", err->message, "fields", fields));
    }
    return json_pack("{s:s?, s:b, s:o}", "id", id && id[0] ? id : NULL, "success", err == NULL,
                     "errors", errors);
}

static void sf_rest_composite(sf_api *api, const sf_req *q, sf_resp *r)
{
    bool is_delete = strcmp(q->method, "DELETE") == 0;
    bool is_create = strcmp(q->method, "POST") == 0;
    if (!is_delete && !is_create && strcmp(q->method, "PATCH") != 0) {
        sf_resp_err(r, HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED",
                    "HTTP Method '%s' not allowed. Allowed are POST,PATCH,DELETE", q->method);
        return;
    }
    json_t *body = NULL, *records = NULL;
    bool all_or_none = false;
    char *ids_copy = NULL;
    const char *ids_list[SF_COMPOSITE_MAX];
    size_t n = 0;
    if (is_delete) {
        const char *ids = sf_req_arg(q, "ids"), *aon = sf_req_arg(q, "allOrNone");
        all_or_none = aon && strcasecmp(aon, "true") == 0;
        if (!ids || !ids[0] || !(ids_copy = strdup(ids))) {
            sf_resp_err(r, HTTP_BAD_REQUEST, "MISSING_ARGUMENT", "ids parameter is required");
            return;
        }
        char *save = NULL;
        for (char *tok = strtok_r(ids_copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (n == SF_COMPOSITE_MAX) {
                sf_resp_err(r, HTTP_BAD_REQUEST, "EXCEEDED_ID_LIMIT",
                            "Record limit reached. Max: %d", SF_COMPOSITE_MAX);
                free(ids_copy);
                return;
            }
            ids_list[n++] = tok;
        }
    } else {
        if (!(body = sf_req_json(q, r)))
            return;
        records = json_object_get(body, "records");
        all_or_none = json_is_true(json_object_get(body, "allOrNone"));
        if (!json_is_array(records)) {
            sf_resp_err(r, HTTP_BAD_REQUEST, "JSON_PARSER_ERROR", "records must be an array");
            goto done;
        }
        n = json_array_size(records);
        if (n > SF_COMPOSITE_MAX) {
            sf_resp_err(r, HTTP_BAD_REQUEST, "EXCEEDED_ID_LIMIT",
                        "Record limit reached. Max: %d", SF_COMPOSITE_MAX);
            goto done;
        }
    }
    sf_change changes[SF_COMPOSITE_MAX];
    sf_error errs[SF_COMPOSITE_MAX];
    bool failed[SF_COMPOSITE_MAX];
    size_t nfailed = 0;
    for (size_t i = 0; i < n; i++) {
        failed[i] = false;
        changes[i].vals = NULL;
        sf_table *t;
        uint32_t idx = SF_NONE;
        if (is_delete) {
            if (sf_store_resolve(&api->store, ids_list[i], &t, &idx) != T_OK) {
                sf_error_set(&errs[i], HTTP_NOT_FOUND, "INVALID_CROSS_REFERENCE_KEY", NULL,
                             "invalid cross reference id");
                failed[i] = true;
            } else if (t->recs[idx].deleted) {
                sf_error_set(&errs[i], HTTP_NOT_FOUND, "ENTITY_IS_DELETED", NULL,
                             "entity is deleted");
                failed[i] = true;
            }
        } else {
            json_t *rec = json_array_get(records, i);
            json_t *type = json_object_get(json_object_get(rec, "attributes"), "type");
            const sf_object *obj = json_is_string(type) ? sf_schema_object(json_string_value(type))
                                                        : NULL;
            if (!obj) {
                sf_error_set(&errs[i], HTTP_BAD_REQUEST, "INVALID_TYPE", NULL,
                             "Must specify a valid sObject type in attributes");
                failed[i] = true;
                goto next;
            }
            if (!is_create) {
                json_t *id = json_object_get(rec, "Id");
                if (!id)
                    id = json_object_get(rec, "id");
                if (!json_is_string(id)) {
                    sf_error_set(&errs[i], HTTP_BAD_REQUEST, "MISSING_ARGUMENT", "Id",
                                 "Id not specified in an update call");
                    failed[i] = true;
                    goto next;
                }
                if (sf_store_resolve(&api->store, json_string_value(id), &t, &idx) != T_OK ||
                    t->obj != obj) {
                    sf_error_set(&errs[i], HTTP_BAD_REQUEST, "MALFORMED_ID", "Id",
                                 "%s ID: id value of incorrect type: %.40s", obj->name,
                                 json_string_value(id));
                    failed[i] = true;
                    goto next;
                }
                if (t->recs[idx].deleted) {
                    sf_error_set(&errs[i], HTTP_BAD_REQUEST, "ENTITY_IS_DELETED", NULL,
                                 "entity is deleted");
                    failed[i] = true;
                    goto next;
                }
            }
            if (sf_store_prepare(&api->store, obj, idx, rec, &changes[i], &errs[i]) != T_OK)
                failed[i] = true;
        }
    next:
        nfailed += failed[i];
    }
    json_t *results = json_array();
    sf_error rolled;
    sf_error_set(&rolled, HTTP_BAD_REQUEST, "ALL_OR_NONE_OPERATION_ROLLED_BACK", NULL,
                 "Record rolled back because not all records were valid and the request was "
                 "using AllOrNone header");
    for (size_t i = 0; i < n; i++) {
        char id[SF_ID_LEN + 1] = "";
        if (failed[i]) {
            json_array_append_new(results, sf_rest_item_result(is_delete ? ids_list[i] : NULL,
                                                              &errs[i]));
            continue;
        }
        if (all_or_none && nfailed) {
            if (!is_delete)
                sf_change_free(&changes[i]);
            json_array_append_new(results, sf_rest_item_result(NULL, &rolled));
            continue;
        }
        if (is_delete) {
            sf_error err;
            snprintf(id, sizeof(id), "%s", ids_list[i]);
            if (sf_store_delete(&api->store, ids_list[i], &err) != T_OK) {
                json_array_append_new(results, sf_rest_item_result(id, &err));
                continue;
            }
            sf_table *t;
            uint32_t idx;
            if (sf_store_resolve(&api->store, ids_list[i], &t, &idx) == T_OK)
                sf_store_make_id(t->obj, idx, id);
        } else {
            sf_store_apply(&api->store, &changes[i], id);
        }
        json_array_append_new(results, sf_rest_item_result(id, NULL));
    }
    sf_resp_json(r, HTTP_OK, results);
done:
    free(ids_copy);
    json_decref(body);
}

/* GET ?ids=&fields= or POST {ids, fields} /composite/sobjects/TYPE. */
static void sf_rest_retrieve_many(sf_api *api, const sf_req *q, sf_resp *r, const char *type,
                                 const char *version)
{
    const sf_object *obj = sf_schema_object(type);
    if (!obj) {
        sf_resp_err(r, HTTP_NOT_FOUND, "NOT_FOUND", "The requested resource does not exist");
        return;
    }
    json_t *ids = NULL, *fields = NULL, *body = NULL;
    if (strcmp(q->method, "POST") == 0) {
        if (!(body = sf_req_json(q, r)))
            return;
        ids = json_incref(json_object_get(body, "ids"));
        fields = json_incref(json_object_get(body, "fields"));
    } else if (strcmp(q->method, "GET") == 0) {
        const char *lists[2] = {sf_req_arg(q, "ids"), sf_req_arg(q, "fields")};
        json_t **outs[2] = {&ids, &fields};
        for (size_t k = 0; k < 2; k++) {
            if (!lists[k])
                continue;
            *outs[k] = json_array();
            char *copy = strdup(lists[k]), *save = NULL;
            for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t;
                 t = strtok_r(NULL, ",", &save))
                json_array_append_new(*outs[k], json_string(t));
            free(copy);
        }
    } else {
        sf_resp_err(r, HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED",
                    "HTTP Method '%s' not allowed. Allowed are GET,POST", q->method);
        return;
    }
    const sf_field *list[128];
    size_t nf = 0;
    if (!json_is_array(ids) || !json_is_array(fields) || json_array_size(ids) > SF_COMPOSITE_MAX) {
        sf_resp_err(r, HTTP_BAD_REQUEST, "MISSING_ARGUMENT",
                    "ids (at most %d) and fields are required", SF_COMPOSITE_MAX);
        goto done;
    }
    for (size_t i = 0; i < json_array_size(fields); i++) {
        json_t *n = json_array_get(fields, i);
        const sf_field *f = json_is_string(n) ? sf_schema_field(obj, json_string_value(n)) : NULL;
        if (!f) {
            sf_resp_err(r, HTTP_BAD_REQUEST, "INVALID_FIELD",
                        "No such column '%.80s' on entity '%s'",
                        json_is_string(n) ? json_string_value(n) : "?", obj->name);
            goto done;
        }
        if (nf < T_ARRAY_LEN(list))
            list[nf++] = f;
    }
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(ids); i++) {
        json_t *id = json_array_get(ids, i);
        sf_table *t;
        uint32_t idx;
        if (json_is_string(id) &&
            sf_store_resolve(&api->store, json_string_value(id), &t, &idx) == T_OK &&
            t->obj == obj && !t->recs[idx].deleted)
            json_array_append_new(out, sf_store_record_json(t, idx, list, nf, version));
        else
            json_array_append_new(out, json_null());
    }
    sf_resp_json(r, HTTP_OK, out);
done:
    json_decref(ids);
    json_decref(fields);
    json_decref(body);
}

static json_t *sf_rest_limits(sf_api *api)
{
    json_t *j = json_object();
    json_object_set_new(j, "DailyApiRequests",
                        json_pack("{s:I, s:I}", "Max", (json_int_t)api->cfg.api_limit,
                                  "Remaining",
                                  (json_int_t)(api->cfg.api_limit - api->api_used > 0
                                                   ? api->cfg.api_limit - api->api_used
                                                   : 0)));
    json_object_set_new(j, "DailyBulkApiBatches",
                        json_pack("{s:i, s:i}", "Max", 15000, "Remaining", 15000));
    json_object_set_new(j, "DataStorageMB", json_pack("{s:i, s:i}", "Max", 1024, "Remaining",
                                                      1024));
    return j;
}

json_t *sf_rest_versions(void)
{
    static const char *const v[][2] = {{"Winter '24", "59.0"}, {"Spring '24", "60.0"},
                                       {"Summer '24", "61.0"}, {"Winter '25", "62.0"}};
    json_t *list = json_array();
    json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "label", "Winter '21", "url",
                                          "/services/data/v50.0", "version", "50.0"));
    for (size_t i = 0; i < T_ARRAY_LEN(v); i++) {
        char url[64];
        snprintf(url, sizeof(url), "/services/data/v%s", v[i][1]);
        json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "label", v[i][0], "url", url,
                                              "version", v[i][1]));
    }
    return list;
}

static json_t *sf_rest_resources(const char *version)
{
    static const char *const names[] = {"sobjects", "query", "queryAll", "composite", "limits"};
    json_t *j = json_object();
    for (size_t i = 0; i < T_ARRAY_LEN(names); i++) {
        char url[96];
        snprintf(url, sizeof(url), "/services/data/v%s/%s", version, names[i]);
        json_object_set_new(j, names[i], json_string(url));
    }
    return j;
}

/* Everything under /services/data/vX.Y/ once the session is valid. */
void sf_rest_data(sf_api *api, const sf_req *q, sf_resp *r, const char *version,
                  const char *rest)
{
    const char *m = q->method;
    char path[512];
    snprintf(path, sizeof(path), "%s", rest);
    size_t len = strlen(path);
    while (len > 0 && path[len - 1] == '/')
        path[--len] = '\0';
    char *parts[6] = {0};
    size_t np = 0;
    char *save = NULL;
    for (char *tok = strtok_r(path, "/", &save); tok && np < T_ARRAY_LEN(parts);
         tok = strtok_r(NULL, "/", &save))
        parts[np++] = tok;
    bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    if (np == 0 && get) {
        sf_resp_json(r, HTTP_OK, sf_rest_resources(version));
    } else if (np == 1 && get && strcmp(parts[0], "limits") == 0) {
        sf_resp_json(r, HTTP_OK, sf_rest_limits(api));
    } else if (np <= 2 && get &&
               (strcmp(parts[0], "query") == 0 || strcmp(parts[0], "queryAll") == 0)) {
        sf_rest_query(api, q, r, np == 2 ? parts[1] : NULL, strcmp(parts[0], "queryAll") == 0,
                     version);
    } else if (np == 3 && strcmp(parts[0], "composite") == 0 &&
               strcmp(parts[1], "sobjects") == 0) {
        sf_rest_retrieve_many(api, q, r, parts[2], version);
    } else if (np == 2 && strcmp(parts[0], "composite") == 0 &&
               strcmp(parts[1], "sobjects") == 0) {
        sf_rest_composite(api, q, r);
    } else if (np == 1 && get && strcmp(parts[0], "sobjects") == 0) {
        sf_resp_json(r, HTTP_OK, sf_schema_global_json(version));
    } else if (np >= 2 && np <= 3 && strcmp(parts[0], "sobjects") == 0) {
        const sf_object *obj = sf_schema_object(parts[1]);
        if (!obj) {
            sf_resp_err(r, HTTP_NOT_FOUND, "NOT_FOUND", "The requested resource does not exist");
            return;
        }
        if (np == 2 && get)
            sf_resp_json(r, HTTP_OK, sf_schema_basic_json(obj, version));
        else if (np == 2 && strcmp(m, "POST") == 0)
            sf_rest_create(api, q, r, obj);
        else if (np == 3 && get && strcmp(parts[2], "describe") == 0)
            sf_resp_json(r, HTTP_OK, sf_schema_describe_json(obj, version));
        else if (np == 3 && get && strcmp(parts[2], "updated") == 0)
            sf_rest_replication(api, q, r, obj, false);
        else if (np == 3 && get && strcmp(parts[2], "deleted") == 0)
            sf_rest_replication(api, q, r, obj, true);
        else if (np == 3 && get)
            sf_rest_get_record(api, q, r, obj, parts[2], version);
        else if (np == 3 && strcmp(m, "PATCH") == 0)
            sf_rest_update(api, q, r, obj, parts[2]);
        else if (np == 3 && strcmp(m, "DELETE") == 0)
            sf_rest_delete(api, r, obj, parts[2]);
        else
            sf_resp_err(r, HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED",
                        "HTTP Method '%s' not allowed", m);
    } else {
        sf_resp_err(r, HTTP_NOT_FOUND, "NOT_FOUND", "The requested resource does not exist");
    }
}
