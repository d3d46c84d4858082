/*
 * sf_api.c - HTTP server of the Salesforce emulator (see sf_api.h): request
 * bodies, response helpers, dispatch, API usage accounting, fault injection
 * and the libmicrohttpd plumbing; authentication lives in sf_auth.c and the
 * REST resources in sf_rest.c. Each request's context is freed when
 * libmicrohttpd reports completion; shared state is touched only with
 * api->lock held.
 */
#include "emulators/salesforce/sf_http.h"
#include "util/iso_time.h"
#include "util/common.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define SF_DATA_PREFIX "/services/data"
#define SF_CONTROL_PATH "/_emulator/faults"

/* ---- responses ---------------------------------------------------------- */

void sf_resp_json(sf_resp *r, int status, json_t *j)
{
    r->status = status;
    r->content_type = SF_JSON_TYPE;
    free(r->body);
    r->body = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
}

void sf_resp_error(sf_resp *r, const sf_error *err)
{
    sf_resp_json(r, err->status, sf_error_json(err));
}

void sf_resp_err(sf_resp *r, int status, const char *code, const char *fmt, ...)
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

const char *sf_req_arg(const sf_req *q, const char *name)
{
    return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *sf_req_header(const sf_req *q, const char *name)
{
    return MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, name);
}

static double sf_api_random(sf_api *api)
{
    return (double)rand_r(&api->rng) / ((double)RAND_MAX + 1.0);
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
        json_t *body = sf_req_json(q, r);
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
        sf_auth_token(api, q, r);
        return;
    }
    if (strcmp(url, "/services/oauth2/authorize") == 0) {
        sf_auth_authorize(api, q, r);
        return;
    }
    if (strcmp(url, "/services/oauth2/revoke") == 0) {
        sf_auth_revoke(api, q, r);
        return;
    }
    if (strncmp(url, "/services/Soap/u/", 17) == 0 && strcmp(q->method, "POST") == 0) {
        sf_auth_soap_login(api, q, r, url + 17);
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
        sf_resp_json(r, HTTP_OK, sf_rest_versions());
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
    if (!sf_auth_session_ok(api, sf_req_header(q, MHD_HTTP_HEADER_AUTHORIZATION))) {
        sf_resp_err(r, HTTP_UNAUTHORIZED, "INVALID_SESSION_ID", "Session expired or invalid");
        return;
    }
    if (is_identity) {
        sf_resp_json(r, HTTP_OK, sf_auth_identity(api));
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
    sf_rest_data(api, q, r, version, slash ? slash + 1 : "");
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
