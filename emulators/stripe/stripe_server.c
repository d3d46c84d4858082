/*
 * stripe_server.c - the Stripe emulator's request entry point and lifecycle:
 * request ids, API-key auth (Bearer or Basic), injected faults, the
 * /_emulator control endpoints, Idempotency-Key replay, and start/stop.
 * Memory: the stripe_emu and everything in it is owned here.
 */
#include "emulators/stripe/stripe_internal.h"

#include "emulators/common/emu_form.h"
#include "util/common.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define STRIPE_RETRY_AFTER_SECONDS "1"
/* Idempotency records kept (Stripe keeps keys 24 h; we keep the newest N). */
#define STRIPE_IDEMPOTENCY_MAX_KEYS 200000

static double stripe_server_unit(stripe_store *st)
{
    return (double)(stripe_store_rand(st) >> 11) / (double)(1ull << 53);
}

static int stripe_server_auth(stripe_emu *emu, const emu_http_request *hreq, stripe_req *r)
{
    const char *auth = emu_http_header(hreq, "Authorization");
    char key[256] = "";
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        snprintf(key, sizeof key, "%s", auth + 7);
    } else if (auth && strncasecmp(auth, "Basic ", 6) == 0) {
        unsigned char dec[300];
        size_t inl = strlen(auth + 6);
        if (inl < 400) {
            int n = EVP_DecodeBlock(dec, (const unsigned char *)auth + 6, (int)inl);
            if (n > 0) {
                dec[n < 299 ? n : 299] = '\0';
                char *colon = strchr((char *)dec, ':');
                if (colon)
                    *colon = '\0';
                snprintf(key, sizeof key, "%.255s", (char *)dec);
            }
        }
    }
    if (!key[0])
        return stripe_err(r, 401, "invalid_request_error", NULL, NULL,
                          "You did not provide an API key. You need to provide your API key in the Authorization "
                          "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
                          "https://stripe.com/docs/api#authentication for details, or we can help at "
                          "https://support.stripe.com/.");
    int n = emu->cfg.n_api_keys;
    for (int i = 0; i < n; i++)
        if (strcmp(key, emu->cfg.api_keys[i]) == 0)
            return T_OK;
    if (n == 0 && strcmp(key, STRIPE_EMU_DEFAULT_KEY) == 0)
        return T_OK;
    size_t kl = strlen(key);
    char shown[40];
    snprintf(shown, sizeof shown, "%.8s%s%s", key, kl > 12 ? "****" : "", kl > 12 ? key + kl - 4 : "");
    return stripe_err(r, 401, "invalid_request_error", NULL, NULL, "Invalid API Key provided: %s", shown);
}

/* Reads fault settings from PARAMS (form or JSON); every field optional. */
static int stripe_server_set_faults(stripe_emu *emu, json_t *params, stripe_req *r)
{
    static const char *const names[] = {"rate_429", "rate_500", "drop_rate", "truncate_rate", "latency_ms",
                                        "event_delay_ms"};
    stripe_faults f = emu->faults;
    const char *k;
    json_t *v;
    json_object_foreach(params, k, v)
    {
        double d;
        if (json_is_number(v))
            d = json_number_value(v);
        else if (json_is_string(v)) {
            char *end;
            d = strtod(json_string_value(v), &end);
            if (*end || end == json_string_value(v))
                return stripe_err(r, 400, "invalid_request_error", NULL, k, "Invalid number: %s",
                                  json_string_value(v));
        } else
            return stripe_err(r, 400, "invalid_request_error", NULL, k, "Invalid number for %s", k);
        size_t i;
        for (i = 0; i < T_ARRAY_LEN(names); i++)
            if (strcmp(k, names[i]) == 0)
                break;
        if (i == T_ARRAY_LEN(names))
            return stripe_err(r, 400, "invalid_request_error", "parameter_unknown", k,
                              "Received unknown parameter: %s", k);
        if (d < 0 || (i < 4 && d > 1))
            return stripe_err(r, 400, "invalid_request_error", NULL, k, "Out of range: %s", k);
        switch (i) {
        case 0: f.rate_429 = d; break;
        case 1: f.rate_500 = d; break;
        case 2: f.drop_rate = d; break;
        case 3: f.truncate_rate = d; break;
        case 4: f.latency_ms = (int)d; break;
        default: f.event_delay_ms = (int)d; break;
        }
    }
    emu->faults = f;
    return T_OK;
}

static json_t *stripe_server_faults_json(const stripe_faults *f)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:i,s:i}", "rate_429", f->rate_429, "rate_500", f->rate_500, "drop_rate",
                     f->drop_rate, "truncate_rate", f->truncate_rate, "latency_ms", f->latency_ms, "event_delay_ms",
                     f->event_delay_ms);
}

static void stripe_server_control(stripe_emu *emu, const emu_http_request *hreq, stripe_req *r)
{
    const char *path = hreq->path;
    int is_post = strcmp(hreq->method, "POST") == 0;
    char err[T_ERRBUF_SIZE];
    if (strcmp(path, "/_emulator/health") == 0) {
        stripe_reply(r, json_pack("{s:s}", "status", "ok"));
        return;
    }
    if (strcmp(path, "/_emulator/faults") == 0) {
        pthread_mutex_lock(&emu->store.lock);
        if (is_post) {
            json_t *params = NULL;
            const char *ct = emu_http_header(hreq, "Content-Type");
            if (ct && strncmp(ct, "application/json", 16) == 0) {
                params = json_loadb(hreq->body, hreq->body_len, 0, NULL);
                if (!json_is_object(params)) {
                    json_decref(params);
                    params = NULL;
                    snprintf(err, sizeof err, "Invalid JSON body.");
                }
            } else if (emu_form_parse(hreq->body, hreq->body_len, &params, err, sizeof err) != T_OK) {
                params = NULL;
            }
            if (!params)
                stripe_err(r, 400, "invalid_request_error", NULL, NULL, "%s", err);
            else if (stripe_server_set_faults(emu, params, r) == T_OK) {
                log_info("emulator.faults", "rate_429=%g rate_500=%g drop=%g truncate=%g latency_ms=%d "
                                            "event_delay_ms=%d",
                         emu->faults.rate_429, emu->faults.rate_500, emu->faults.drop_rate,
                         emu->faults.truncate_rate, emu->faults.latency_ms, emu->faults.event_delay_ms);
                stripe_reply(r, stripe_server_faults_json(&emu->faults));
            }
            json_decref(params);
        } else {
            stripe_reply(r, stripe_server_faults_json(&emu->faults));
        }
        pthread_mutex_unlock(&emu->store.lock);
        return;
    }
    if (strcmp(path, "/_emulator/reset") == 0 && is_post) {
        pthread_mutex_lock(&emu->store.lock);
        stripe_store_reset(&emu->store);
        memset(&emu->faults, 0, sizeof emu->faults);
        pthread_mutex_unlock(&emu->store.lock);
        log_info("emulator.reset", "api=stripe");
        stripe_reply(r, json_pack("{s:b}", "reset", 1));
        return;
    }
    stripe_err(r, 404, "invalid_request_error", NULL, NULL, "Unknown emulator control endpoint %s", path);
}

/* Fingerprint of a request for idempotency: method, path and body. */
static json_t *stripe_server_fingerprint(const emu_http_request *hreq)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, hreq->method, strlen(hreq->method));
    EVP_DigestUpdate(ctx, " ", 1);
    EVP_DigestUpdate(ctx, hreq->path, strlen(hreq->path));
    EVP_DigestUpdate(ctx, "\n", 1);
    EVP_DigestUpdate(ctx, hreq->body, hreq->body_len);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return json_string(hex);
}

static void stripe_server_handle(void *ctx, const emu_http_request *hreq, emu_http_response *resp)
{
    stripe_emu *emu = ctx;
    stripe_store *st = &emu->store;
    char reqid[32] = "req_";
    char err[T_ERRBUF_SIZE];
    pthread_mutex_lock(&st->lock);
    stripe_store_rand_str(st, reqid + 4, 14);
    stripe_faults faults = emu->faults;
    double u429 = stripe_server_unit(st), u500 = stripe_server_unit(st), udrop = stripe_server_unit(st),
           utrunc = stripe_server_unit(st);
    pthread_mutex_unlock(&st->lock);

    stripe_req r = {.emu = emu, .st = st, .request_id = reqid};
    json_t *params = NULL;
    emu_http_add_header(resp, "Request-Id", reqid);
    const char *ver = emu_http_header(hreq, "Stripe-Version");
    emu_http_add_header(resp, "Stripe-Version", ver && *ver ? ver : STRIPE_EMU_API_VERSION);

    if (strncmp(hreq->path, "/_emulator/", 11) == 0) {
        stripe_server_control(emu, hreq, &r);
        goto done;
    }
    if (strncmp(hreq->path, "/v1/", 4) != 0) {
        stripe_err(&r, 404, "invalid_request_error", NULL, NULL,
                   "Unrecognized request URL (%s: %s). Please see https://stripe.com/docs or we can help at "
                   "https://support.stripe.com/.",
                   hreq->method, hreq->path);
        goto done;
    }
    if (stripe_server_auth(emu, hreq, &r) != T_OK)
        goto done;
    if (faults.latency_ms > 0)
        usleep((useconds_t)faults.latency_ms * 1000);
    if (udrop < faults.drop_rate) {
        resp->fault = EMU_HTTP_FAULT_DROP;
        log_debug("emulator.fault", "kind=drop path=%s", hreq->path);
        goto done;
    }
    if (u429 < faults.rate_429) {
        stripe_err(&r, 429, "invalid_request_error", "rate_limit", NULL,
                   "Request rate limit exceeded. Learn more about rate limits here "
                   "https://stripe.com/docs/rate-limits.");
        emu_http_add_header(resp, "Retry-After", STRIPE_RETRY_AFTER_SECONDS);
        goto done;
    }
    if (u500 < faults.rate_500) {
        stripe_err(&r, 500, "api_error", NULL, NULL,
                   "An unknown error occurred while processing your request (injected by the emulator).");
        goto done;
    }
    params = json_object();
    if (emu_http_query(hreq, params, err, sizeof err) != T_OK) {
        stripe_err(&r, 400, "invalid_request_error", NULL, NULL, "%s", err);
        goto done;
    }
    emu_form_finish(params, err, sizeof err);
    if (hreq->body_len) {
        json_t *bp = NULL;
        if (emu_form_parse(hreq->body, hreq->body_len, &bp, err, sizeof err) != T_OK) {
            stripe_err(&r, 400, "invalid_request_error", NULL, NULL, "%s", err);
            goto done;
        }
        json_object_update(params, bp);
        json_decref(bp);
    }
    r.params = params;
    const char *idem = strcmp(hreq->method, "POST") == 0 ? emu_http_header(hreq, "Idempotency-Key") : NULL;
    if (idem && strlen(idem) > 255) {
        stripe_err(&r, 400, "invalid_request_error", NULL, NULL,
                   "Idempotency-Key must be at most 255 characters long.");
        goto done;
    }
    r.idempotency_key = idem;
    pthread_mutex_lock(&st->lock);
    json_t *fp = idem ? stripe_server_fingerprint(hreq) : NULL;
    json_t *prior = idem ? json_object_get(st->idem, idem) : NULL;
    if (prior) {
        if (!json_equal(json_object_get(prior, "fp"), fp)) {
            stripe_err(&r, 400, "idempotency_error", NULL, NULL,
                       "Keys for idempotent requests can only be used with the same parameters they were first "
                       "used with. Try using a key other than '%s' if you meant to execute a different request.",
                       idem);
        } else {
            r.status = (int)json_integer_value(json_object_get(prior, "status"));
            r.body = strdup(json_string_value(json_object_get(prior, "body")));
            emu_http_add_header(resp, "Idempotent-Replayed", "true");
            emu_http_add_header(resp, "Original-Request", json_string_value(json_object_get(prior, "req")));
        }
    } else {
        stripe_api_route(&r, hreq->method, hreq->path);
        if (idem && r.status < 500 && r.body && json_object_size(st->idem) >= STRIPE_IDEMPOTENCY_MAX_KEYS) {
            /* forget the oldest key (objects iterate in insertion order) */
            void *first = json_object_iter(st->idem);
            if (first)
                json_object_del(st->idem, json_object_iter_key(first));
        }
        if (idem && r.status < 500 && r.body)
            json_object_set_new(st->idem, idem,
                                json_pack("{s:O,s:i,s:s,s:s}", "fp", fp, "status", r.status, "body", r.body, "req",
                                          reqid));
    }
    json_decref(fp);
    pthread_mutex_unlock(&st->lock);
    if (utrunc < faults.truncate_rate)
        resp->fault = EMU_HTTP_FAULT_TRUNCATE;
done:
    json_decref(params);
    if (r.status >= 400 && r.status != 429)
        emu_http_add_header(resp, "Stripe-Should-Retry", r.status >= 500 ? "true" : "false");
    resp->status = r.status ? r.status : 500;
    resp->body = r.body;
    resp->body_len = r.body ? strlen(r.body) : 0;
    log_debug("emulator.request", "method=%s path=%s status=%d request_id=%s", hreq->method, hreq->path,
              resp->status, reqid);
}

stripe_emu *stripe_emu_start(const stripe_emu_config *cfg, char *err, size_t errlen)
{
    stripe_emu *emu = calloc(1, sizeof *emu);
    if (!emu) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    emu->cfg = *cfg;
    emu->faults = cfg->faults;
    if (stripe_store_init(&emu->store, cfg->seed_random ? cfg->seed_random : (uint64_t)time(NULL) * 2654435761u) !=
        T_OK) {
        snprintf(err, errlen, "out of memory");
        free(emu);
        return NULL;
    }
    if (stripe_seed(emu, err, errlen) != T_OK)
        goto failed;
    emu->wh = stripe_webhooks_start(emu);
    emu->http = emu_http_start(cfg->host ? cfg->host : "127.0.0.1", cfg->port, stripe_server_handle, emu, err,
                               errlen);
    if (!emu->http)
        goto failed;
    return emu;
failed:
    stripe_webhooks_stop(emu->wh);
    stripe_store_free(&emu->store);
    free(emu);
    return NULL;
}

int stripe_emu_port(const stripe_emu *emu)
{
    return emu_http_port(emu->http);
}

void stripe_emu_stop(stripe_emu *emu)
{
    if (!emu)
        return;
    emu_http_stop(emu->http);
    stripe_webhooks_stop(emu->wh);
    stripe_store_free(&emu->store);
    free(emu);
}
