/*
 * sf_auth.c - authentication for the Salesforce emulator: random tokens,
 * the session table (expiry by TTL, refresh tokens), the OAuth2 token and
 * authorize endpoints, SOAP partner login and the identity document. Called
 * with api->lock held; sessions live in the sf_api struct.
 */
#include "emulators/salesforce/sf_http.h"
#include "util/iso_time.h"
#include "util/common.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void sf_auth_random_token(char *out, size_t outlen, const char *org, const char *kind)
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
bool sf_auth_form_get(const char *body, const char *name, char *out, size_t outlen)
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

char *sf_auth_xml_value(const char *body, const char *tag, char *out, size_t outlen)
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

static sf_session *sf_auth_new_session(sf_api *api, const char *refresh)
{
    sf_session *s = &api->sessions[api->next_session++ % SF_MAX_SESSIONS];
    sf_auth_random_token(s->token, sizeof(s->token), api->store.org_id, "AQ");
    snprintf(s->refresh, sizeof(s->refresh), "%s", refresh ? refresh : "");
    s->issued_ms = iso_time_now_ms();
    return s;
}

bool sf_auth_session_ok(sf_api *api, const char *auth)
{
    if (!auth)
        return false;
    if (strncasecmp(auth, "Bearer ", 7) == 0)
        auth += 7;
    else if (strncasecmp(auth, "OAuth ", 6) == 0)
        auth += 6;
    else
        return false;
    int64_t now = iso_time_now_ms();
    for (size_t i = 0; i < SF_MAX_SESSIONS; i++) {
        sf_session *s = &api->sessions[i];
        if (!s->token[0] || strcmp(s->token, auth) != 0)
            continue;
        return api->faults.session_ttl <= 0 ||
               now - s->issued_ms < (int64_t)api->faults.session_ttl * 1000;
    }
    return false;
}

static bool sf_auth_refresh_known(sf_api *api, const char *refresh)
{
    for (size_t i = 0; i < SF_MAX_SESSIONS; i++)
        if (api->sessions[i].refresh[0] && strcmp(api->sessions[i].refresh, refresh) == 0)
            return true;
    return false;
}

static void sf_auth_token_response(sf_api *api, sf_resp *r, bool with_refresh,
                                  const char *refresh_in)
{
    char refresh[72] = "";
    if (with_refresh)
        sf_auth_random_token(refresh, sizeof(refresh), api->store.org_id, "RT");
    const char *rt = refresh_in ? refresh_in : refresh;
    sf_session *s = sf_auth_new_session(api, rt[0] ? rt : NULL);
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

static void sf_auth_oauth_error(sf_resp *r, int status, const char *error, const char *desc)
{
    sf_resp_json(r, status,
                 json_pack("{s:s, s:s}", "error", error, "error_description", desc));
}

void sf_auth_token(sf_api *api, const sf_req *q, sf_resp *r)
{
    char grant[64], client_id[256], secret[256], user[256], pass[256], token[256];
    const char *body = q->body ? q->body : "";
    if (!sf_auth_form_get(body, "grant_type", grant, sizeof(grant))) {
        sf_auth_oauth_error(r, HTTP_BAD_REQUEST, "unsupported_grant_type", "grant type not supported");
        return;
    }
    bool have_id = sf_auth_form_get(body, "client_id", client_id, sizeof(client_id));
    bool have_secret = sf_auth_form_get(body, "client_secret", secret, sizeof(secret));
    if (!have_id || strcmp(client_id, api->cfg.client_id) != 0) {
        sf_auth_oauth_error(r, HTTP_BAD_REQUEST, "invalid_client_id", "client identifier invalid");
        return;
    }
    if (have_secret && strcmp(secret, api->cfg.client_secret) != 0) {
        sf_auth_oauth_error(r, HTTP_BAD_REQUEST, "invalid_client", "invalid client credentials");
        return;
    }
    if (strcmp(grant, "password") == 0) {
        if (!have_secret) {
            sf_auth_oauth_error(r, HTTP_BAD_REQUEST, "invalid_client", "invalid client credentials");
            return;
        }
        if (!sf_auth_form_get(body, "username", user, sizeof(user)) ||
            !sf_auth_form_get(body, "password", pass, sizeof(pass)) ||
            strcmp(user, api->cfg.username) != 0 || strcmp(pass, api->cfg.password) != 0) {
            sf_auth_oauth_error(r, HTTP_BAD_REQUEST, "invalid_grant", "authentication failure");
            return;
        }
        sf_auth_token_response(api, r, false, NULL);
    } else if (strcmp(grant, "refresh_token") == 0) {
        if (!sf_auth_form_get(body, "refresh_token", token, sizeof(token)) ||
            !sf_auth_refresh_known(api, token)) {
            sf_auth_oauth_error(r, HTTP_BAD_REQUEST, "invalid_grant", "expired access/refresh token");
            return;
        }
        sf_auth_token_response(api, r, false, token);
    } else if (strcmp(grant, "authorization_code") == 0) {
        bool found = false;
        if (sf_auth_form_get(body, "code", token, sizeof(token)))
            for (size_t i = 0; i < T_ARRAY_LEN(api->codes) && !found; i++)
                if (api->codes[i][0] && strcmp(api->codes[i], token) == 0) {
                    found = true;
                    api->codes[i][0] = '\0';
                }
        if (!found) {
            sf_auth_oauth_error(r, HTTP_BAD_REQUEST, "invalid_grant", "invalid authorization code");
            return;
        }
        sf_auth_token_response(api, r, true, NULL);
    } else {
        sf_auth_oauth_error(r, HTTP_BAD_REQUEST, "unsupported_grant_type", "grant type not supported");
    }
}

/* GET /services/oauth2/authorize: approves at once as the configured user. */
void sf_auth_authorize(sf_api *api, const sf_req *q, sf_resp *r)
{
    const char *client = sf_req_arg(q, "client_id"), *redirect = sf_req_arg(q, "redirect_uri");
    const char *state = sf_req_arg(q, "state");
    if (!client || strcmp(client, api->cfg.client_id) != 0 || !redirect) {
        sf_auth_oauth_error(r, HTTP_BAD_REQUEST, "invalid_client_id", "client identifier invalid");
        return;
    }
    char *code = api->codes[api->next_code++ % T_ARRAY_LEN(api->codes)];
    sf_auth_random_token(code, sizeof(api->codes[0]), api->store.org_id, "CD");
    snprintf(r->location, sizeof(r->location), "%s%scode=%s%s%s", redirect,
             strchr(redirect, '?') ? "&" : "?", code, state ? "&state=" : "", state ? state : "");
    r->status = HTTP_FOUND;
    r->content_type = "text/html";
    r->body = strdup("");
}

static void sf_auth_soap_fault(sf_resp *r, const char *code, const char *msg)
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
/* Forgets every session whose access or refresh token is TOKEN. */
static bool sf_auth_revoke_token(sf_api *api, const char *token)
{
    bool found = false;
    for (size_t i = 0; i < SF_MAX_SESSIONS && token[0]; i++) {
        sf_session *s = &api->sessions[i];
        if (strcmp(s->token, token) == 0 || strcmp(s->refresh, token) == 0) {
            memset(s, 0, sizeof(*s));
            found = true;
        }
    }
    return found;
}

void sf_auth_revoke(sf_api *api, const sf_req *q, sf_resp *r)
{
    char token[256];
    if (!sf_auth_form_get(q->body ? q->body : "", "token", token, sizeof(token)) &&
        !(sf_req_arg(q, "token") && snprintf(token, sizeof(token), "%s", sf_req_arg(q, "token"))))
        token[0] = '\0';
    if (!sf_auth_revoke_token(api, token)) {
        sf_auth_oauth_error(r, HTTP_BAD_REQUEST, "unsupported_token_type", "this token type is not supported");
        return;
    }
    r->status = HTTP_OK;
    r->body = strdup("");
}

void sf_auth_soap_login(sf_api *api, const sf_req *q, sf_resp *r, const char *version)
{
    char user[256], pass[256], session[256];
    const char *body = q->body ? q->body : "";
    if (strstr(body, "<logout") && sf_auth_xml_value(body, "sessionId", session, sizeof(session))) {
        sf_auth_revoke_token(api, session);
        r->status = HTTP_OK;
        r->content_type = "text/xml;charset=UTF-8";
        r->body = strdup("<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope "
                         "xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
                         "xmlns=\"urn:partner.soap.sforce.com\"><soapenv:Body><logoutResponse/>"
                         "</soapenv:Body></soapenv:Envelope>");
        return;
    }
    if (!strstr(body, "<login") || !sf_auth_xml_value(body, "username", user, sizeof(user)) ||
        !sf_auth_xml_value(body, "password", pass, sizeof(pass))) {
        sf_auth_soap_fault(r, "INVALID_LOGIN", "Invalid username, password, security token; "
                                              "or user locked out.");
        return;
    }
    if (strcmp(user, api->cfg.username) != 0 || strcmp(pass, api->cfg.password) != 0) {
        sf_auth_soap_fault(r, "INVALID_LOGIN", "Invalid username, password, security token; "
                                              "or user locked out.");
        return;
    }
    sf_session *s = sf_auth_new_session(api, NULL);
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

json_t *sf_auth_identity(sf_api *api)
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
