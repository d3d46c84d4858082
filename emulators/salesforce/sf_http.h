/*
 * sf_http.h - internals shared by the Salesforce emulator's HTTP files:
 * sf_api.c (server, dispatch, faults), sf_auth.c (sessions, OAuth2, SOAP
 * login, identity) and sf_rest.c (the /services/data resources). Not for use
 * outside emulators/salesforce/. A request context and its body belong to
 * sf_api.c; a response body is malloc'd and handed to libmicrohttpd.
 */
#ifndef TETHER_EMULATORS_SF_HTTP_H
#define TETHER_EMULATORS_SF_HTTP_H

#include "emulators/salesforce/sf_api.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>

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

/* Sets R to STATUS with J serialised (consumes J; NULL gives no body). */
void sf_resp_json(sf_resp *r, int status, json_t *j);
/* Sets R to ERR as Salesforce's [{message, errorCode, fields}]. */
void sf_resp_error(sf_resp *r, const sf_error *err);
void sf_resp_err(sf_resp *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Query-string argument / request header (decoded, owned by MHD) or NULL. */
const char *sf_req_arg(const sf_req *q, const char *name);
const char *sf_req_header(const sf_req *q, const char *name);
/* The body as JSON (new reference), or NULL with R set to JSON_PARSER_ERROR. */
json_t *sf_req_json(const sf_req *q, sf_resp *r);

/* sf_auth.c: POST /services/oauth2/token (password, refresh_token, code). */
void sf_auth_token(sf_api *api, const sf_req *q, sf_resp *r);
/* GET /services/oauth2/authorize: approves at once, 302 with ?code=. */
void sf_auth_authorize(sf_api *api, const sf_req *q, sf_resp *r);
/* POST /services/oauth2/revoke: forgets the session of form field token. */
void sf_auth_revoke(sf_api *api, const sf_req *q, sf_resp *r);
/* POST /services/Soap/u/VERSION partner login (and logout). */
void sf_auth_soap_login(sf_api *api, const sf_req *q, sf_resp *r, const char *version);
/*
 * Parsers used by the login endpoints (exposed for the fuzzer): the decoded
 * value of NAME in an x-www-form-urlencoded BODY, and the unescaped text of
 * the first <TAG>…</TAG> in BODY, each copied into OUT (OUTLEN bytes). false /
 * NULL when absent or longer than OUT.
 */
bool sf_auth_form_get(const char *body, const char *name, char *out, size_t outlen);
char *sf_auth_xml_value(const char *body, const char *tag, char *out, size_t outlen);
/* Identity document of the configured user (new reference). */
json_t *sf_auth_identity(sf_api *api);
/* True when AUTH ("Bearer TOKEN") names a live session. */
bool sf_auth_session_ok(sf_api *api, const char *auth);

/* sf_rest.c: everything under /services/data/vVERSION/REST. */
void sf_rest_data(sf_api *api, const sf_req *q, sf_resp *r, const char *version,
                  const char *rest);
/* GET /services/data/ (new reference). */
json_t *sf_rest_versions(void);

#endif
