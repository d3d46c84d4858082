/*
 * sf_api.c - HTTP layer of the Salesforce emulator (see sf_api.h): request
 * bodies, routing, sessions and OAuth2/SOAP login, API usage accounting,
 * fault injection and the REST resources. Each request's context is freed
 * when libmicrohttpd reports completion; every piece of shared state is
 * touched only with api->lock held.
 */
#include "emulators/salesforce/sf_api.h"
#include "emulators/salesforce/sf_time.h"
#include "util/common.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define SF_MAX_BODY (16u * 1024u * 1024u)
#define SF_COMPOSITE_MAX 200
#define HTTP_OK 200
#define HTTP_CREATED 201
#define HTTP_NO_CONTENT 204
#define HTTP_FOUND 302
#define HTTP_BAD_REQUEST 400
#define HTTP_UNAUTHORIZED 401
#define HTTP_FORBIDDEN 403
#define HTTP_NOT_FOUND 404
#define HTTP_METHOD_NOT_ALLOWED 405
#define HTTP_TOO_LARGE 413
#define HTTP_SERVER_ERROR 500
#define HTTP_UNAVAILABLE 503
#define SF_DATA_PREFIX "/services/data"
#define SF_CONTROL_PATH "/_emulator/faults"
#define SF_JSON_TYPE "application/json;charset=UTF-8"

struct sf_api {
    sf_api_config cfg;
    char base_url[160];
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    sf_store store;
    sf_query_engine qe;
    sf_faults faults;
    sf_session sessions[SF_MAX_SESSIONS];
    size_t next_session;
    char codes[16][72]; /* authorization codes waiting to be exchanged */
    size_t next_code;
    long api_used;
    unsigned rng;
};

typedef struct sf_req {
    sf_api *api;
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    char *body;
    size_t body_len;
    bool too_large;
} sf_req;

/* What the handler decided: status + body, or a fault. */
typedef struct sf_resp {
    int status;
    char *body; /* malloc'd */
    const char *content_type;
    char location[512];
    bool drop;
    bool truncate;
} sf_resp;

/* ---- responses ---------------------------------------------------------- */

static void sf_resp_json(sf_resp *r, int status, json_t *j)
{
    r->status = status;
    r->content_type = SF_JSON_TYPE;
    free(r->body);
    r->body = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
}

static void sf_resp_error(sf_resp *r, const sf_error *err)
{
    sf_resp_json(r, err->status, sf_error_json(err));
}

static void sf_resp_err(sf_resp *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void sf_resp_err(sf_resp *r, int status, const char *code, const char *fmt, ...)
{
    sf_error e;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sf_error_set(&e, status, code, NULL, "%s", msg);
    sf_resp_error(r, &e);
}

static const char *sf_req_arg(const sf_req *q, const char *name)
{
    return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, name);
}

static const char *sf_req_header(const sf_req *q, const char *name)
{
    return MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, name);
}

static double sf_api_random(sf_api *api)
{
    return (double)rand_r(&api->rng) / ((double)RAND_MAX + 1.0);
}

static void sf_api_token(char *out, size_t outlen, const char *org, const char *kind)
{
    unsigned char raw[24];
    char hex[49];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        memset(raw, 0x5a, sizeof(raw));
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    snprintf(out, outlen, "%.15s!%s%s", org, kind, hex);
}

/* ---- form bodies (application/x-www-form-urlencoded) ------------------- */

/* Finds NAME in the form BODY; copies the decoded value into OUT. */
static bool sf_form_get(const char *body, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *p = body;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t vlen = len - nlen - 1;
            if (vlen >= outlen)
                return false;
            memcpy(out, p + nlen + 1, vlen);
            out[vlen] = '\0';
            for (char *c = out; *c; c++)
                if (*c == '+')
                    *c = ' ';
            MHD_http_unescape(out);
            return true;
        }
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

static char *sf_xml_value(const char *body, const char *tag, char *out, size_t outlen)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *a = strstr(body, open), *b;
    if (!a || !(b = strstr(a, close)))
        return NULL;
    a += strlen(open);
    size_t n = (size_t)(b - a);
    if (n >= outlen)
        return NULL;
    /* Undo the five XML escapes jsforce applies. */
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        static const struct {
            const char *ent;
            char c;
        } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        bool done = false;
        for (size_t e = 0; e < T_ARRAY_LEN(ents) && !done; e++) {
            size_t el = strlen(ents[e].ent);
            if (i + el <= n && strncmp(a + i, ents[e].ent, el) == 0) {
                out[o++] = ents[e].c;
                i += el - 1;
                done = true;
            }
        }
        if (!done)
            out[o++] = a[i];
    }
    out[o] = '\0';
    return out;
}

/* ---- sessions ----------------------------------------------------------- */

static sf_session *sf_api_new_session(sf_api *api, const char *refresh)
{
    sf_session *s = &api->sessions[api->next_session++ % SF_MAX_SESSIONS];
    sf_api_token(s->token, sizeof(s->token), api->store.org_id, "AQ");
    snprintf(s->refresh, sizeof(s->refresh), "%s", refresh ? refresh : "");
    s->issued_ms = sf_time_now_ms();
    return s;
}

static bool sf_api_session_ok(sf_api *api, const char *auth)
{
    if (!auth)
        return false;
    if (strncasecmp(auth, "Bearer ", 7) == 0)
        auth += 7;
    else if (strncasecmp(auth, "OAuth ", 6) == 0)
        auth += 6;
    else
        return false;
    int64_t now = sf_time_now_ms();
    for (size_t i = 0; i < SF_MAX_SESSIONS; i++) {
        sf_session *s = &api->sessions[i];
        if (!s->token[0] || strcmp(s->token, auth) != 0)
            continue;
        return api->faults.session_ttl <= 0 ||
               now - s->issued_ms < (int64_t)api->faults.session_ttl * 1000;
    }
    return false;
}

static bool sf_api_refresh_known(sf_api *api, const char *refresh)
{
    for (size_t i = 0; i < SF_MAX_SESSIONS; i++)
        if (api->sessions[i].refresh[0] && strcmp(api->sessions[i].refresh, refresh) == 0)
            return true;
    return false;
}

static void sf_api_token_response(sf_api *api, sf_resp *r, bool with_refresh,
                                  const char *refresh_in)
{
    char refresh[72] = "";
    if (with_refresh)
        sf_api_token(refresh, sizeof(refresh), api->store.org_id, "RT");
    const char *rt = refresh_in ? refresh_in : refresh;
    sf_session *s = sf_api_new_session(api, rt[0] ? rt : NULL);
    char id[256], issued[32], sig[EVP_MAX_MD_SIZE * 2];
    snprintf(id, sizeof(id), "%s/id/%s/%s", api->base_url, api->store.org_id,
             api->store.user_id);
    snprintf(issued, sizeof(issued), "%lld", (long long)s->issued_ms);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    char msg[300];
    snprintf(msg, sizeof(msg), "%s%s", id, issued);
    HMAC(EVP_sha256(), api->cfg.client_secret, (int)strlen(api->cfg.client_secret),
         (const unsigned char *)msg, strlen(msg), mac, &maclen);
    EVP_EncodeBlock((unsigned char *)sig, mac, (int)maclen);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "access_token", s->token,
                          "instance_url", api->base_url, "id", id, "token_type", "Bearer",
                          "issued_at", issued, "signature", sig);
    if (with_refresh)
        json_object_set_new(j, "refresh_token", json_string(refresh));
    json_object_set_new(j, "scope", json_string("api refresh_token full"));
    sf_resp_json(r, HTTP_OK, j);
}

static void sf_oauth_error(sf_resp *r, int status, const char *error, const char *desc)
{
    sf_resp_json(r, status,
                 json_pack("{s:s, s:s}", "error", error, "error_description", desc));
}

static void sf_api_oauth_token(sf_api *api, const sf_req *q, sf_resp *r)
{
    char grant[64], client_id[256], secret[256], user[256], pass[256], token[256];
    const char *body = q->body ? q->body : "";
    if (!sf_form_get(body, "grant_type", grant, sizeof(grant))) {
        sf_oauth_error(r, HTTP_BAD_REQUEST, "unsupported_grant_type", "grant type not supported");
        return;
    }
    bool have_id = sf_form_get(body, "client_id", client_id, sizeof(client_id));
    bool have_secret = sf_form_get(body, "client_secret", secret, sizeof(secret));
    if (!have_id || strcmp(client_id, api->cfg.client_id) != 0) {
        sf_oauth_error(r, HTTP_BAD_REQUEST, "invalid_client_id", "client identifier invalid");
        return;
    }
    if (have_secret && strcmp(secret, api->cfg.client_secret) != 0) {
        sf_oauth_error(r, HTTP_BAD_REQUEST, "invalid_client", "invalid client credentials");
        return;
    }
    if (strcmp(grant, "password") == 0) {
        if (!have_secret) {
            sf_oauth_error(r, HTTP_BAD_REQUEST, "invalid_client", "invalid client credentials");
            return;
        }
        if (!sf_form_get(body, "username", user, sizeof(user)) ||
            !sf_form_get(body, "password", pass, sizeof(pass)) ||
            strcmp(user, api->cfg.username) != 0 || strcmp(pass, api->cfg.password) != 0) {
            sf_oauth_error(r, HTTP_BAD_REQUEST, "invalid_grant", "authentication failure");
            return;
        }
        sf_api_token_response(api, r, false, NULL);
    } else if (strcmp(grant, "refresh_token") == 0) {
        if (!sf_form_get(body, "refresh_token", token, sizeof(token)) ||
            !sf_api_refresh_known(api, token)) {
            sf_oauth_error(r, HTTP_BAD_REQUEST, "invalid_grant", "expired access/refresh token");
            return;
        }
        sf_api_token_response(api, r, false, token);
    } else if (strcmp(grant, "authorization_code") == 0) {
        bool found = false;
        if (sf_form_get(body, "code", token, sizeof(token)))
            for (size_t i = 0; i < T_ARRAY_LEN(api->codes) && !found; i++)
                if (api->codes[i][0] && strcmp(api->codes[i], token) == 0) {
                    found = true;
                    api->codes[i][0] = '\0';
                }
        if (!found) {
            sf_oauth_error(r, HTTP_BAD_REQUEST, "invalid_grant", "invalid authorization code");
            return;
        }
        sf_api_token_response(api, r, true, NULL);
    } else {
        sf_oauth_error(r, HTTP_BAD_REQUEST, "unsupported_grant_type", "grant type not supported");
    }
}

/* GET /services/oauth2/authorize: approves at once as the configured user. */
static void sf_api_oauth_authorize(sf_api *api, const sf_req *q, sf_resp *r)
{
    const char *client = sf_req_arg(q, "client_id"), *redirect = sf_req_arg(q, "redirect_uri");
    const char *state = sf_req_arg(q, "state");
    if (!client || strcmp(client, api->cfg.client_id) != 0 || !redirect) {
        sf_oauth_error(r, HTTP_BAD_REQUEST, "invalid_client_id", "client identifier invalid");
        return;
    }
    char *code = api->codes[api->next_code++ % T_ARRAY_LEN(api->codes)];
    sf_api_token(code, sizeof(api->codes[0]), api->store.org_id, "CD");
    snprintf(r->location, sizeof(r->location), "%s%scode=%s%s%s", redirect,
             strchr(redirect, '?') ? "&" : "?", code, state ? "&state=" : "", state ? state : "");
    r->status = HTTP_FOUND;
    r->content_type = "text/html";
    r->body = strdup("");
}

static void sf_api_soap_fault(sf_resp *r, const char *code, const char *msg)
{
    char buf[1024];
    snprintf(buf, sizeof(buf),
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope "
             "xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
             "xmlns:sf=\"urn:fault.partner.soap.sforce.com\"><soapenv:Body><soapenv:Fault>"
             "<faultcode>sf:%s</faultcode><faultstring>%s: %s</faultstring>"
             "</soapenv:Fault></soapenv:Body></soapenv:Envelope>",
             code, code, msg);
    r->status = HTTP_SERVER_ERROR;
    r->content_type = "text/xml;charset=UTF-8";
    r->body = strdup(buf);
}

/* POST /services/Soap/u/VERSION with a partner-API <login> envelope. */
static void sf_api_soap_login(sf_api *api, const sf_req *q, sf_resp *r, const char *version)
{
    char user[256], pass[256];
    const char *body = q->body ? q->body : "";
    if (!strstr(body, "<login") || !sf_xml_value(body, "username", user, sizeof(user)) ||
        !sf_xml_value(body, "password", pass, sizeof(pass))) {
        sf_api_soap_fault(r, "INVALID_LOGIN", "Invalid username, password, security token; "
                                              "or user locked out.");
        return;
    }
    if (strcmp(user, api->cfg.username) != 0 || strcmp(pass, api->cfg.password) != 0) {
        sf_api_soap_fault(r, "INVALID_LOGIN", "Invalid username, password, security token; "
                                              "or user locked out.");
        return;
    }
    sf_session *s = sf_api_new_session(api, NULL);
    size_t cap = 4096;
    char *buf = malloc(cap);
    if (!buf)
        return;
    snprintf(buf, cap,
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope "
             "xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
             "xmlns=\"urn:partner.soap.sforce.com\" "
             "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>"
             "<loginResponse><result>"
             "<metadataServerUrl>%s/services/Soap/m/%s/%.15s</metadataServerUrl>"
             "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
             "<serverUrl>%s/services/Soap/u/%s/%.15s</serverUrl>"
             "<sessionId>%s</sessionId><userId>%s</userId>"
             "<userInfo><organizationId>%s</organizationId><organizationName>Tether Emulator"
             "</organizationName><userEmail>admin@example.com</userEmail>"
             "<userFullName>Admin User</userFullName><userId>%s</userId>"
             "<userName>%s</userName></userInfo></result></loginResponse>"
             "</soapenv:Body></soapenv:Envelope>",
             api->base_url, version, api->store.org_id, api->base_url, version,
             api->store.org_id, s->token, api->store.user_id, api->store.org_id,
             api->store.user_id, api->cfg.username);
    r->status = HTTP_OK;
    r->content_type = "text/xml;charset=UTF-8";
    r->body = buf;
}

static json_t *sf_api_identity(sf_api *api)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/id/%s/%s", api->base_url, api->store.org_id,
             api->store.user_id);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s}", "id", url,
                     "user_id", api->store.user_id, "organization_id", api->store.org_id,
                     "username", api->cfg.username, "display_name", "Admin User", "email",
                     "admin@example.com", "nick_name", "admin", "active", 1, "user_type",
                     "STANDARD", "language", "en_US");
}

/* ---- REST data resources ------------------------------------------------ */

static json_t *sf_api_parse_body(const sf_req *q, sf_resp *r)
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
static bool sf_api_find(sf_api *api, const sf_object *obj, const char *id, sf_table **t,
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

static void sf_api_get_record(sf_api *api, const sf_req *q, sf_resp *r, const sf_object *obj,
                              const char *id, const char *version)
{
    sf_table *t;
    uint32_t idx;
    if (!sf_api_find(api, obj, id, &t, &idx, r, false))
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

static void sf_api_create(sf_api *api, const sf_req *q, sf_resp *r, const sf_object *obj)
{
    json_t *body = sf_api_parse_body(q, r);
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

static void sf_api_update(sf_api *api, const sf_req *q, sf_resp *r, const sf_object *obj,
                          const char *id)
{
    sf_table *t;
    uint32_t idx;
    if (!sf_api_find(api, obj, id, &t, &idx, r, false))
        return;
    json_t *body = sf_api_parse_body(q, r);
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

static void sf_api_delete(sf_api *api, sf_resp *r, const sf_object *obj, const char *id)
{
    sf_table *t;
    uint32_t idx;
    sf_error err;
    if (!sf_api_find(api, obj, id, &t, &idx, r, false))
        return;
    if (sf_store_delete(&api->store, id, &err) != T_OK)
        sf_resp_error(r, &err);
    else
        r->status = HTTP_NO_CONTENT;
}

static bool sf_api_range(const sf_req *q, sf_resp *r, int64_t *start, int64_t *end)
{
    const char *s = sf_req_arg(q, "start"), *e = sf_req_arg(q, "end");
    if (!s || !e) {
        sf_resp_err(r, HTTP_BAD_REQUEST, "MISSING_ARGUMENT",
                    "Both start and end parameters are required");
        return false;
    }
    if (sf_time_parse(s, 1, start) != T_OK || sf_time_parse(e, 1, end) != T_OK) {
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
static void sf_api_replication(sf_api *api, const sf_req *q, sf_resp *r, const sf_object *obj,
                               bool deleted)
{
    int64_t start, end;
    if (!sf_api_range(q, r, &start, &end))
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
        char id[SF_ID_LEN + 1], when[SF_TIME_BUFLEN];
        sf_store_make_id(obj, i, id);
        if (deleted) {
            sf_time_format(rec->stamp, when);
            json_array_insert_new(list, 0,
                                  json_pack("{s:s, s:s}", "id", id, "deletedDate", when));
        } else {
            json_array_insert_new(list, 0, json_string(id));
        }
    }
    if (t->head != SF_NONE && t->recs[t->head].stamp < earliest)
        earliest = t->recs[t->head].stamp;
    char latest[SF_TIME_BUFLEN], first[SF_TIME_BUFLEN];
    int64_t now = sf_time_now_ms();
    sf_time_format((end < now ? end : now) / 60000 * 60000, latest);
    sf_time_format(earliest, first);
    json_t *j = deleted ? json_pack("{s:o, s:s, s:s}", "deletedRecords", list,
                                    "earliestDateAvailable", first, "latestDateCovered", latest)
                        : json_pack("{s:o, s:s}", "ids", list, "latestDateCovered", latest);
    sf_resp_json(r, HTTP_OK, j);
}

static size_t sf_api_batch_size(const sf_req *q)
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

static void sf_api_query(sf_api *api, const sf_req *q, sf_resp *r, const char *rest, bool all,
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
        rc = sf_query_run(&api->store, &api->qe, soql, all, sf_api_batch_size(q), version,
                          &out, &err);
    }
    if (rc != T_OK)
        sf_resp_error(r, &err);
    else
        sf_resp_json(r, HTTP_OK, out);
}

/* One composite item's outcome. */
static json_t *sf_api_item_result(const char *id, const sf_error *err)
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

static void sf_api_composite(sf_api *api, const sf_req *q, sf_resp *r)
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
        if (!(body = sf_api_parse_body(q, r)))
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
            json_array_append_new(results, sf_api_item_result(is_delete ? ids_list[i] : NULL,
                                                              &errs[i]));
            continue;
        }
        if (all_or_none && nfailed) {
            if (!is_delete)
                sf_change_free(&changes[i]);
            json_array_append_new(results, sf_api_item_result(NULL, &rolled));
            continue;
        }
        if (is_delete) {
            sf_error err;
            snprintf(id, sizeof(id), "%s", ids_list[i]);
            if (sf_store_delete(&api->store, ids_list[i], &err) != T_OK) {
                json_array_append_new(results, sf_api_item_result(id, &err));
                continue;
            }
            sf_table *t;
            uint32_t idx;
            if (sf_store_resolve(&api->store, ids_list[i], &t, &idx) == T_OK)
                sf_store_make_id(t->obj, idx, id);
        } else {
            sf_store_apply(&api->store, &changes[i], id);
        }
        json_array_append_new(results, sf_api_item_result(id, NULL));
    }
    sf_resp_json(r, HTTP_OK, results);
done:
    free(ids_copy);
    json_decref(body);
}

/* GET ?ids=&fields= or POST {ids, fields} /composite/sobjects/TYPE. */
static void sf_api_retrieve_many(sf_api *api, const sf_req *q, sf_resp *r, const char *type,
                                 const char *version)
{
    const sf_object *obj = sf_schema_object(type);
    if (!obj) {
        sf_resp_err(r, HTTP_NOT_FOUND, "NOT_FOUND", "The requested resource does not exist");
        return;
    }
    json_t *ids = NULL, *fields = NULL, *body = NULL;
    if (strcmp(q->method, "POST") == 0) {
        if (!(body = sf_api_parse_body(q, r)))
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

static json_t *sf_api_limits(sf_api *api)
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

static json_t *sf_api_versions(void)
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

static json_t *sf_api_resources(const char *version)
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
static void sf_api_data(sf_api *api, const sf_req *q, sf_resp *r, const char *version,
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
        sf_resp_json(r, HTTP_OK, sf_api_resources(version));
    } else if (np == 1 && get && strcmp(parts[0], "limits") == 0) {
        sf_resp_json(r, HTTP_OK, sf_api_limits(api));
    } else if (np <= 2 && get &&
               (strcmp(parts[0], "query") == 0 || strcmp(parts[0], "queryAll") == 0)) {
        sf_api_query(api, q, r, np == 2 ? parts[1] : NULL, strcmp(parts[0], "queryAll") == 0,
                     version);
    } else if (np == 3 && strcmp(parts[0], "composite") == 0 &&
               strcmp(parts[1], "sobjects") == 0) {
        sf_api_retrieve_many(api, q, r, parts[2], version);
    } else if (np == 2 && strcmp(parts[0], "composite") == 0 &&
               strcmp(parts[1], "sobjects") == 0) {
        sf_api_composite(api, q, r);
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
            sf_api_create(api, q, r, obj);
        else if (np == 3 && get && strcmp(parts[2], "describe") == 0)
            sf_resp_json(r, HTTP_OK, sf_schema_describe_json(obj, version));
        else if (np == 3 && get && strcmp(parts[2], "updated") == 0)
            sf_api_replication(api, q, r, obj, false);
        else if (np == 3 && get && strcmp(parts[2], "deleted") == 0)
            sf_api_replication(api, q, r, obj, true);
        else if (np == 3 && get)
            sf_api_get_record(api, q, r, obj, parts[2], version);
        else if (np == 3 && strcmp(m, "PATCH") == 0)
            sf_api_update(api, q, r, obj, parts[2]);
        else if (np == 3 && strcmp(m, "DELETE") == 0)
            sf_api_delete(api, r, obj, parts[2]);
        else
            sf_resp_err(r, HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED",
                        "HTTP Method '%s' not allowed", m);
    } else {
        sf_resp_err(r, HTTP_NOT_FOUND, "NOT_FOUND", "The requested resource does not exist");
    }
}

/* ---- fault control ------------------------------------------------------- */

static json_t *sf_api_faults_json(const sf_faults *f)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:f, s:i, s:i}", "error_503_rate", f->rate_503,
                     "error_500_rate", f->rate_500, "limit_exceeded_rate", f->rate_limit,
                     "drop_rate", f->rate_drop, "truncate_rate", f->rate_truncate, "latency_ms",
                     f->latency_ms, "session_ttl", f->session_ttl);
}

/* GET/POST /_emulator/faults: read or change fault settings (JSON object). */
static void sf_api_control(sf_api *api, const sf_req *q, sf_resp *r)
{
    if (strcmp(q->method, "POST") == 0) {
        json_t *body = sf_api_parse_body(q, r);
        if (!body)
            return;
        static const struct {
            const char *key;
            size_t off;
        } rates[] = {{"error_503_rate", offsetof(sf_faults, rate_503)},
                     {"error_500_rate", offsetof(sf_faults, rate_500)},
                     {"limit_exceeded_rate", offsetof(sf_faults, rate_limit)},
                     {"drop_rate", offsetof(sf_faults, rate_drop)},
                     {"truncate_rate", offsetof(sf_faults, rate_truncate)}};
        for (size_t i = 0; i < T_ARRAY_LEN(rates); i++) {
            json_t *v = json_object_get(body, rates[i].key);
            if (json_is_number(v))
                *(double *)((char *)&api->faults + rates[i].off) = json_number_value(v);
        }
        json_t *v = json_object_get(body, "latency_ms");
        if (json_is_integer(v))
            api->faults.latency_ms = (int)json_integer_value(v);
        if (json_is_integer(v = json_object_get(body, "session_ttl")))
            api->faults.session_ttl = (int)json_integer_value(v);
        if (json_is_true(json_object_get(body, "expire_sessions")))
            for (size_t i = 0; i < SF_MAX_SESSIONS; i++)
                api->sessions[i].token[0] = '\0'; /* refresh tokens stay valid */
        if (json_is_integer(v = json_object_get(body, "api_used")))
            api->api_used = (long)json_integer_value(v);
        json_decref(body);
        log_info("sf_emulator.faults", "rate_503=%.3f rate_500=%.3f rate_limit=%.3f "
                 "drop=%.3f truncate=%.3f latency_ms=%d session_ttl=%d",
                 api->faults.rate_503, api->faults.rate_500, api->faults.rate_limit,
                 api->faults.rate_drop, api->faults.rate_truncate, api->faults.latency_ms,
                 api->faults.session_ttl);
    }
    sf_resp_json(r, HTTP_OK, sf_api_faults_json(&api->faults));
}

/* ---- dispatch ------------------------------------------------------------ */

static bool sf_api_version_ok(const char *v, size_t len)
{
    if (len < 4 || v[0] != 'v')
        return false;
    size_t dots = 0;
    for (size_t i = 1; i < len; i++) {
        if (v[i] == '.')
            dots++;
        else if (v[i] < '0' || v[i] > '9')
            return false;
    }
    return dots == 1 && v[len - 1] != '.';
}

static void sf_api_dispatch(sf_api *api, const sf_req *q, sf_resp *r)
{
    const char *url = q->url;
    if (strcmp(url, SF_CONTROL_PATH) == 0) {
        sf_api_control(api, q, r);
        return;
    }
    if (strcmp(url, "/services/oauth2/token") == 0 && strcmp(q->method, "POST") == 0) {
        sf_api_oauth_token(api, q, r);
        return;
    }
    if (strcmp(url, "/services/oauth2/authorize") == 0) {
        sf_api_oauth_authorize(api, q, r);
        return;
    }
    if (strcmp(url, "/services/oauth2/revoke") == 0) {
        r->status = HTTP_OK;
        r->body = strdup("");
        return;
    }
    if (strncmp(url, "/services/Soap/u/", 17) == 0 && strcmp(q->method, "POST") == 0) {
        sf_api_soap_login(api, q, r, url + 17);
        return;
    }
    bool is_data = strncmp(url, SF_DATA_PREFIX, strlen(SF_DATA_PREFIX)) == 0 &&
                   (url[strlen(SF_DATA_PREFIX)] == '\0' || url[strlen(SF_DATA_PREFIX)] == '/');
    bool is_identity = strncmp(url, "/id/", 4) == 0 ||
                       strcmp(url, "/services/oauth2/userinfo") == 0;
    if (!is_data && !is_identity) {
        sf_resp_err(r, HTTP_NOT_FOUND, "NOT_FOUND", "The requested resource does not exist");
        return;
    }
    const char *rest = url + strlen(SF_DATA_PREFIX);
    if (is_data && (rest[0] == '\0' || strcmp(rest, "/") == 0)) {
        sf_resp_json(r, HTTP_OK, sf_api_versions());
        return;
    }
    /* An API call: faults, limits, then the session. */
    double roll = sf_api_random(api);
    const sf_faults *f = &api->faults;
    if ((roll -= f->rate_drop) < 0) {
        r->drop = true;
        return;
    }
    if ((roll -= f->rate_503) < 0) {
        sf_resp_err(r, HTTP_UNAVAILABLE, "SERVER_UNAVAILABLE",
                    "Server temporarily unavailable (injected fault)");
        return;
    }
    if ((roll -= f->rate_500) < 0) {
        sf_resp_err(r, HTTP_SERVER_ERROR, "UNKNOWN_EXCEPTION",
                    "An unexpected error occurred. Please include this ErrorId if you contact "
                    "support: 0-0 (injected fault)");
        return;
    }
    if ((roll -= f->rate_limit) < 0 || api->api_used >= api->cfg.api_limit) {
        sf_resp_err(r, HTTP_FORBIDDEN, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.");
        return;
    }
    r->truncate = (roll -= f->rate_truncate) < 0;
    api->api_used++;
    if (!sf_api_session_ok(api, sf_req_header(q, MHD_HTTP_HEADER_AUTHORIZATION))) {
        sf_resp_err(r, HTTP_UNAUTHORIZED, "INVALID_SESSION_ID", "Session expired or invalid");
        return;
    }
    if (is_identity) {
        sf_resp_json(r, HTTP_OK, sf_api_identity(api));
        return;
    }
    rest++; /* skip '/' */
    const char *slash = strchr(rest, '/');
    size_t vlen = slash ? (size_t)(slash - rest) : strlen(rest);
    if (!sf_api_version_ok(rest, vlen)) {
        sf_resp_err(r, HTTP_NOT_FOUND, "NOT_FOUND", "The requested resource does not exist");
        return;
    }
    char version[16];
    snprintf(version, sizeof(version), "%.*s", (int)(vlen - 1 < 15 ? vlen - 1 : 15), rest + 1);
    sf_api_data(api, q, r, version, slash ? slash + 1 : "");
}

/* ---- libmicrohttpd plumbing ----------------------------------------------- */

typedef struct sf_trunc {
    char *body;
    size_t len, sent;
} sf_trunc;

static ssize_t sf_trunc_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sf_trunc *t = cls;
    if (pos >= t->len / 2)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = t->len / 2 - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(buf, t->body + pos, n);
    return (ssize_t)n;
}

static void sf_trunc_free(void *cls)
{
    sf_trunc *t = cls;
    free(t->body);
    free(t);
}

static enum MHD_Result sf_api_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    sf_api *api = cls;
    sf_req *q = *con_cls;
    if (!q) {
        q = calloc(1, sizeof(*q));
        if (!q)
            return MHD_NO;
        *con_cls = q;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!q->too_large && q->body_len + *upload_data_size <= SF_MAX_BODY) {
            char *b = realloc(q->body, q->body_len + *upload_data_size + 1);
            if (!b)
                return MHD_NO;
            memcpy(b + q->body_len, upload_data, *upload_data_size);
            q->body = b;
            q->body_len += *upload_data_size;
            q->body[q->body_len] = '\0';
        } else {
            q->too_large = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    q->api = api;
    q->conn = conn;
    q->method = method;
    q->url = url;
    sf_resp r = {.status = HTTP_OK};
    int latency;
    pthread_mutex_lock(&api->lock);
    latency = api->faults.latency_ms;
    pthread_mutex_unlock(&api->lock);
    if (latency > 0 && strcmp(url, SF_CONTROL_PATH) != 0)
        usleep((useconds_t)latency * 1000u);
    pthread_mutex_lock(&api->lock);
    if (q->too_large)
        sf_resp_err(&r, HTTP_TOO_LARGE, "REQUEST_TOO_LARGE", "request body too large");
    else
        sf_api_dispatch(api, q, &r);
    char limit[64];
    snprintf(limit, sizeof(limit), "api-usage=%ld/%ld", api->api_used, api->cfg.api_limit);
    pthread_mutex_unlock(&api->lock);
    log_debug("sf_emulator.request", "method=%s path=%s status=%d", method, url, r.status);
    if (r.drop) {
        free(r.body);
        return MHD_NO;
    }
    size_t len = r.body ? strlen(r.body) : 0;
    struct MHD_Response *resp;
    if (r.truncate && len > 1) {
        sf_trunc *t = malloc(sizeof(*t));
        if (!t) {
            free(r.body);
            return MHD_NO;
        }
        t->body = r.body;
        t->len = len;
        t->sent = 0;
        resp = MHD_create_response_from_callback(len, 4096, sf_trunc_read, t, sf_trunc_free);
    } else {
        resp = MHD_create_response_from_buffer(len, r.body ? r.body : (char *)"",
                                               r.body ? MHD_RESPMEM_MUST_FREE
                                                      : MHD_RESPMEM_PERSISTENT);
    }
    if (!resp) {
        free(r.body);
        return MHD_NO;
    }
    if (r.content_type && r.status != HTTP_NO_CONTENT)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type);
    if (r.location[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r.location);
    MHD_add_response_header(resp, "Sforce-Limit-Info", limit);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void sf_api_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                             enum MHD_RequestTerminationCode toe)
{
    sf_req *q = *con_cls;
    if (q) {
        free(q->body);
        free(q);
        *con_cls = NULL;
    }
}

int sf_api_start(const sf_api_config *cfg, int (*seed)(sf_store *st, void *arg), void *arg,
                 sf_api **out)
{
    *out = NULL;
    sf_api *api = calloc(1, sizeof(*api));
    if (!api) {
        fprintf(stderr, "tether emulate salesforce: out of memory\n");
        return T_ERR;
    }
    api->cfg = *cfg;
    api->faults = cfg->faults;
    api->rng = cfg->seed;
    pthread_mutex_init(&api->lock, NULL);
    if (sf_store_init(&api->store, cfg->username) != T_OK || (seed && seed(&api->store, arg))) {
        fprintf(stderr, "tether emulate salesforce: seeding failed (out of memory?)\n");
        goto failed;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
    if (inet_pton(AF_INET, cfg->host, &addr.sin_addr) != 1) {
        fprintf(stderr, "tether emulate salesforce: --listen host must be an IPv4 address: %s\n",
                cfg->host);
        goto failed;
    }
    api->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
        sf_api_handler, api, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, sf_api_completed, api, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)120, MHD_OPTION_END);
    if (!api->daemon) {
        fprintf(stderr, "tether emulate salesforce: cannot listen on %s:%d\n", cfg->host,
                cfg->port);
        goto failed;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->daemon,
                                                           MHD_DAEMON_INFO_BIND_PORT);
    int port = info ? info->port : cfg->port;
    if (cfg->public_url)
        snprintf(api->base_url, sizeof(api->base_url), "%s", cfg->public_url);
    else
        snprintf(api->base_url, sizeof(api->base_url), "http://%s:%d", cfg->host, port);
    *out = api;
    return T_OK;
failed:
    sf_api_stop(api);
    return T_ERR;
}

const char *sf_api_base_url(const sf_api *api) { return api->base_url; }

void sf_api_stop(sf_api *api)
{
    if (!api)
        return;
    if (api->daemon)
        MHD_stop_daemon(api->daemon);
    sf_query_engine_free(&api->qe);
    sf_store_free(&api->store);
    pthread_mutex_destroy(&api->lock);
    free(api);
}
