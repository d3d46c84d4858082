/*
 * stripe_webhook.c - delivers events to webhook endpoints from one thread:
 * each delivery is POSTed with a Stripe-Signature header
 * (t=UNIX,v1=hex(HMAC-SHA256(secret, "t.payload"))) and, on a failure (no
 * connection or a non-2xx answer), retried with exponential backoff.
 * Memory: the queue owns copies of url, secret and payload of each delivery.
 */
#include "emulators/stripe/stripe_internal.h"

#include "util/common.h"
#include "util/log.h"

#include <curl/curl.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STRIPE_WEBHOOK_TIMEOUT_MS 10000
#define STRIPE_WEBHOOK_DEFAULT_BASE_MS 1000
#define STRIPE_WEBHOOK_DEFAULT_ATTEMPTS 8

typedef struct stripe_delivery {
    char *url, *secret, *payload;
    int attempt;
    int64_t due_ms;
    struct stripe_delivery *next;
} stripe_delivery;

struct stripe_webhooks {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    stripe_delivery *head, *tail;
    int stop;
    int base_ms, max_attempts;
};

void stripe_webhooks_sign(const char *secret, int64_t t, const char *payload, char *out, size_t outlen)
{
    char ts[24];
    snprintf(ts, sizeof ts, "%lld", (long long)t);
    size_t tl = strlen(ts), pl = strlen(payload);
    unsigned char *msg = malloc(tl + 1 + pl);
    if (!msg) {
        snprintf(out, outlen, "t=%s", ts);
        return;
    }
    memcpy(msg, ts, tl);
    msg[tl] = '.';
    memcpy(msg + tl + 1, payload, pl);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, tl + 1 + pl, md, &mdlen);
    free(msg);
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(out, outlen, "t=%s,v1=%s", ts, hex);
}

static size_t stripe_webhook_discard(char *p, size_t sz, size_t n, void *ud)
{
    return sz * n;
}

/* One POST; returns the HTTP status or 0 when no answer came. */
static long stripe_webhook_post(CURL *curl, const stripe_delivery *d)
{
    char sig[200], hdr[240];
    stripe_webhooks_sign(d->secret ? d->secret : "", (int64_t)time(NULL), d->payload, sig, sizeof sig);
    snprintf(hdr, sizeof hdr, "Stripe-Signature: %s", sig);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json; charset=utf-8");
    h = curl_slist_append(h, hdr);
    h = curl_slist_append(h, "User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)");
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, d->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, d->payload);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)STRIPE_WEBHOOK_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, stripe_webhook_discard);
    long code = 0;
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    return code;
}

static void stripe_delivery_free(stripe_delivery *d)
{
    free(d->url);
    free(d->secret);
    free(d->payload);
    free(d);
}

/* Inserts D keeping the queue ordered by due time. Lock held. */
static void stripe_webhooks_insert(stripe_webhooks *wh, stripe_delivery *d)
{
    stripe_delivery **pp = &wh->head;
    while (*pp && (*pp)->due_ms <= d->due_ms)
        pp = &(*pp)->next;
    d->next = *pp;
    *pp = d;
    pthread_cond_signal(&wh->cond);
}

static void *stripe_webhooks_main(void *arg)
{
    stripe_webhooks *wh = arg;
    CURL *curl = curl_easy_init();
    pthread_mutex_lock(&wh->lock);
    while (!wh->stop) {
        if (!wh->head) {
            pthread_cond_wait(&wh->cond, &wh->lock);
            continue;
        }
        int64_t now = stripe_now_ms();
        if (wh->head->due_ms > now) {
            int64_t due = wh->head->due_ms;
            struct timespec ts = {.tv_sec = due / 1000, .tv_nsec = (due % 1000) * 1000000};
            pthread_cond_timedwait(&wh->cond, &wh->lock, &ts);
            continue;
        }
        stripe_delivery *d = wh->head;
        wh->head = d->next;
        pthread_mutex_unlock(&wh->lock);
        long code = curl ? stripe_webhook_post(curl, d) : 0;
        d->attempt++;
        pthread_mutex_lock(&wh->lock);
        if (code >= 200 && code < 300) {
            log_debug("emulator.webhook.delivered", "url=%s attempt=%d", d->url, d->attempt);
            stripe_delivery_free(d);
        } else if (d->attempt >= wh->max_attempts) {
            log_warn("emulator.webhook.gave_up", "url=%s attempts=%d status=%ld", d->url, d->attempt, code);
            stripe_delivery_free(d);
        } else {
            int64_t delay = (int64_t)wh->base_ms << (d->attempt - 1);
            log_info("emulator.webhook.retry", "url=%s attempt=%d status=%ld delay_ms=%lld", d->url, d->attempt,
                     code, (long long)delay);
            d->due_ms = stripe_now_ms() + delay;
            stripe_webhooks_insert(wh, d);
        }
    }
    pthread_mutex_unlock(&wh->lock);
    if (curl)
        curl_easy_cleanup(curl);
    return NULL;
}

stripe_webhooks *stripe_webhooks_start(stripe_emu *emu)
{
    stripe_webhooks *wh = calloc(1, sizeof *wh);
    if (!wh)
        return NULL;
    wh->base_ms = emu->cfg.webhook_retry_base_ms > 0 ? emu->cfg.webhook_retry_base_ms : STRIPE_WEBHOOK_DEFAULT_BASE_MS;
    wh->max_attempts =
        emu->cfg.webhook_max_attempts > 0 ? emu->cfg.webhook_max_attempts : STRIPE_WEBHOOK_DEFAULT_ATTEMPTS;
    pthread_mutex_init(&wh->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&wh->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&wh->thread, NULL, stripe_webhooks_main, wh) != 0) {
        pthread_mutex_destroy(&wh->lock);
        pthread_cond_destroy(&wh->cond);
        free(wh);
        return NULL;
    }
    return wh;
}

void stripe_webhooks_stop(stripe_webhooks *wh)
{
    if (!wh)
        return;
    pthread_mutex_lock(&wh->lock);
    wh->stop = 1;
    pthread_cond_signal(&wh->cond);
    pthread_mutex_unlock(&wh->lock);
    pthread_join(wh->thread, NULL);
    while (wh->head) {
        stripe_delivery *d = wh->head;
        wh->head = d->next;
        stripe_delivery_free(d);
    }
    pthread_mutex_destroy(&wh->lock);
    pthread_cond_destroy(&wh->cond);
    free(wh);
}

void stripe_webhooks_enqueue(stripe_webhooks *wh, const char *url, const char *secret, const char *event_json)
{
    if (!wh || !url)
        return;
    stripe_delivery *d = calloc(1, sizeof *d);
    if (!d)
        return;
    d->url = strdup(url);
    d->secret = secret ? strdup(secret) : NULL;
    d->payload = strdup(event_json);
    d->due_ms = stripe_now_ms();
    pthread_mutex_lock(&wh->lock);
    stripe_webhooks_insert(wh, d);
    pthread_mutex_unlock(&wh->lock);
}
