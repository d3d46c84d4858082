/*
 * http_client.c - see http_client.h. Owns its CURLM handle and one easy
 * handle per in-flight request; responses are malloc'ed into the request.
 */
#include "http/http_client.h"
#include "http/request_budget.h"
#include "util/common.h"
#include "util/json_fast.h"
#include "util/log.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP_DEFAULT_ATTEMPTS 8
#define HTTP_DEFAULT_TIMEOUT_MS 30000L
#define HTTP_POLL_MAX_MS 100

static void on_curl_timer(evutil_socket_t fd, short what, void *arg);
static void on_pace_timer(evutil_socket_t fd, short what, void *arg);
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp);
static int on_curl_timeout(CURLM *multi, long timeout_ms, void *userp);

int http_client_init_base(http_client *c, token_bucket *bucket, struct event_base *base)
{
    memset(c, 0, sizeof(*c));
    static int global_done;
    if (!global_done) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        global_done = 1;
    }
    c->base = base;
    if (!c->base) {
        c->base = event_base_new();
        c->own_base = true;
    }
    c->multi = curl_multi_init();
    if (!c->base || !c->multi)
        goto failed;
    c->curl_timer = evtimer_new(c->base, on_curl_timer, c);
    c->pace_timer = evtimer_new(c->base, on_pace_timer, c);
    if (!c->curl_timer || !c->pace_timer)
        goto failed;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timeout);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    c->bucket = bucket;
    c->max_attempts = HTTP_DEFAULT_ATTEMPTS;
    c->timeout_ms = HTTP_DEFAULT_TIMEOUT_MS;
    c->backoff_base_ms = 200;
    c->backoff_max_ms = 10000;
    return T_OK;
failed:
    http_client_cleanup(c);
    return T_ERR;
}

int http_client_init(http_client *c, token_bucket *bucket)
{
    return http_client_init_base(c, bucket, NULL);
}

void http_client_cleanup(http_client *c)
{
    if (c->multi)
        curl_multi_cleanup(c->multi); /* removes every socket: events freed in on_curl_socket */
    c->multi = NULL;
    if (c->curl_timer)
        event_free(c->curl_timer);
    if (c->pace_timer)
        event_free(c->pace_timer);
    c->curl_timer = c->pace_timer = NULL;
    if (c->own_base && c->base)
        event_base_free(c->base);
    c->base = NULL;
    json_fast_reader_free(&c->reader);
}

void http_request_init(http_request *r, const char *method, const char *url)
{
    memset(r, 0, sizeof(*r));
    r->method = method;
    snprintf(r->url, sizeof(r->url), "%s", url);
}

static void drop_response(http_request *r)
{
    free(r->resp);
    r->resp = NULL;
    r->resp_len = 0;
    r->resp_cap = 0;
    if (r->json)
        json_decref(r->json);
    r->json = NULL;
}

void http_request_reset(http_request *r)
{
    drop_response(r);
    if (r->easy)
        curl_easy_cleanup(r->easy);
    r->easy = NULL;
    if (r->hdrs)
        curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;
}

bool http_status_retryable(long status)
{
    return status == 0 || status == 429 || status >= 500;
}

int64_t http_backoff_ms(const http_client *c, int attempt, unsigned jitter_seed)
{
    int64_t ms = c->backoff_base_ms;
    for (int i = 1; i < attempt && ms < c->backoff_max_ms; i++)
        ms *= 2;
    if (ms > c->backoff_max_ms)
        ms = c->backoff_max_ms;
    /* jitter: 50%..100% of the computed delay */
    return ms / 2 + (int64_t)(jitter_seed % (unsigned)(ms / 2 + 1));
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    http_request *r = ud;
    size_t n = size * nmemb;
    if (r->resp_len + n + 1 > r->resp_cap) {
        /* double (at least 16 KiB): a 70 KiB page costs a few reallocs, not one per chunk */
        size_t cap = r->resp_cap ? r->resp_cap : 16384;
        while (cap < r->resp_len + n + 1)
            cap *= 2;
        char *p = realloc(r->resp, cap);
        if (!p)
            return 0;
        r->resp = p;
        r->resp_cap = cap;
    }
    memcpy(r->resp + r->resp_len, ptr, n);
    r->resp_len += n;
    r->resp[r->resp_len] = '\0';
    return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    http_request *r = ud;
    size_t n = size * nitems;
    char line[256];
    size_t k = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
    memcpy(line, buf, k);
    line[k] = '\0';
    while (k > 0 && (line[k - 1] == '\r' || line[k - 1] == '\n'))
        line[--k] = '\0';
    if (strncasecmp(line, "Retry-After:", 12) == 0) {
        long secs = strtol(line + 12, NULL, 10);
        if (secs > 0 && secs < 3600)
            r->retry_after_ms = secs * 1000;
    } else if (strncasecmp(line, "Request-Id:", 11) == 0) {
        const char *v = line + 11;
        while (*v == ' ')
            v++;
        size_t len = strnlen(v, sizeof(r->request_id) - 1);
        memcpy(r->request_id, v, len);
        r->request_id[len] = '\0';
    } else if (strncasecmp(line, "Date:", 5) == 0) {
        time_t t = curl_getdate(line + 5, NULL);
        if (t > 0)
            r->server_time = (int64_t)t;
    }
    return n;
}

static int start_transfer(http_client *c, http_request *r)
{
    drop_response(r);
    r->retry_after_ms = 0;
    r->request_id[0] = '\0';
    if (r->easy)
        curl_easy_cleanup(r->easy);
    r->easy = curl_easy_init();
    if (!r->easy)
        return T_ERR;
    if (!r->hdrs) {
        for (size_t i = 0; i < HTTP_MAX_HEADERS && r->headers[i]; i++)
            r->hdrs = curl_slist_append(r->hdrs, r->headers[i]);
    }
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    if (r->body)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    else if (strcmp(r->method, "GET") == 0)
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "tether/0.1");
    r->attempts++;
    r->in_flight = true;
    c->stats.requests++;
    curl_multi_add_handle(c->multi, e);
    return T_OK;
}

/* Decides what to do with a finished attempt: final, or retry later. */
static void finish_attempt(http_client *c, http_request *r, CURLcode cc, int64_t now)
{
    long status = 0;
    r->in_flight = false;
    curl_multi_remove_handle(c->multi, r->easy);
    if (cc == CURLE_OK)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    r->status = status;
    bool retry = false;
    if (cc != CURLE_OK) {
        snprintf(r->error, sizeof(r->error), "%s", curl_easy_strerror(cc));
        retry = true;
    } else if (http_status_retryable(status)) {
        snprintf(r->error, sizeof(r->error), "HTTP %ld", status);
        retry = true;
        if (status == 429) {
            c->stats.throttled++;
            /* every process on this credential holds off, not just this request */
            request_budget_pause(c->budget, r->retry_after_ms > 0 ? r->retry_after_ms : c->backoff_base_ms);
        }
    } else if (r->expect_json) {
        json_error_t jerr;
        r->json = r->resp ? json_fast_read(&c->reader, r->resp, r->resp_len, &jerr) : NULL;
        if (!r->json || !json_is_object(r->json)) {
            snprintf(r->error, sizeof(r->error), "HTTP %ld with a body that is not a JSON object", status);
            if (r->json)
                json_decref(r->json);
            r->json = NULL;
            retry = true;
        }
    }
    if (!retry) {
        r->done = true;
        r->error[0] = '\0';
        return;
    }
    if (r->attempts >= c->max_attempts) {
        r->done = true;
        c->stats.failures++;
        log_warn("http.gave_up", "method=%s status=%ld attempts=%d error=\"%s\"", r->method, status,
                 r->attempts, r->error);
        return;
    }
    c->stats.retries++;
    int64_t wait = http_backoff_ms(c, r->attempts, (unsigned)rand());
    if (r->retry_after_ms > wait)
        wait = r->retry_after_ms;
    r->next_at_ms = now + wait;
    log_info("http.retry", "method=%s status=%ld attempt=%d wait_ms=%lld error=\"%s\"", r->method,
             status, r->attempts, (long long)wait, r->error);
}

/* Reads curl's finished transfers and settles their attempts. */
static void settle_finished(http_client *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        http_request *r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (!r || !r->in_flight)
            continue;
        finish_attempt(c, r, msg->data.result, token_bucket_now_ms());
        if (r->done)
            c->remaining--;
    }
}

/* Starts every request that is due and has a token; arms the pace timer. */
static void schedule(http_client *c)
{
    int64_t now = token_bucket_now_ms();
    int64_t wait_ms = HTTP_POLL_MAX_MS; /* also how often the stop flag is seen */
    for (size_t i = 0; i < c->batch_n; i++) {
        http_request *r = &c->batch[i];
        if (r->done || r->in_flight)
            continue;
        if (r->next_at_ms > now) {
            if (r->next_at_ms - now < wait_ms)
                wait_ms = r->next_at_ms - now;
            continue;
        }
        if (c->daily_budget > 0) {
            int64_t day = (int64_t)time(NULL) / 86400;
            if (day != c->budget_day) {
                c->budget_day = day;
                c->used_today = 0;
            }
            if (c->used_today >= c->daily_budget) {
                if (c->used_today == c->daily_budget) {
                    log_warn("http.daily_budget_exhausted", "budget=%ld", c->daily_budget);
                    c->used_today++; /* log once a day */
                }
                continue; /* waits for the next UTC day; re-checked every pace tick */
            }
        }
        int64_t w = c->bucket ? token_bucket_take(c->bucket, now) : 0;
        if (w == 0 && c->budget) {
            w = request_budget_take(c->budget, now); /* the credential's, across processes */
            if (w > 0 && c->bucket)
                token_bucket_refund(c->bucket);
        }
        if (w > 0) {
            r->next_at_ms = now + w;
            if (w < wait_ms)
                wait_ms = w;
            continue;
        }
        if (start_transfer(c, r) != T_OK) {
            r->done = true;
            snprintf(r->error, sizeof(r->error), "out of memory");
            c->remaining--;
        } else if (c->daily_budget > 0) {
            c->used_today++;
        }
    }
    struct timeval tv = {(time_t)(wait_ms / 1000), (suseconds_t)((wait_ms % 1000) * 1000)};
    evtimer_add(c->pace_timer, &tv);
}

static void on_pace_timer(evutil_socket_t fd, short what, void *arg)
{
    http_client *c = arg;
    if (c->batch && c->remaining > 0)
        schedule(c);
}

static void on_curl_timer(evutil_socket_t fd, short what, void *arg)
{
    http_client *c = arg;
    int running = 0;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    settle_finished(c);
    if (c->batch && c->remaining > 0)
        schedule(c);
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    http_client *c = arg;
    int flags = ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running = 0;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    settle_finished(c);
    if (c->batch && c->remaining > 0)
        schedule(c);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    http_client *c = userp;
    struct event *ev = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (ev)
            event_free(ev);
        curl_multi_assign(c->multi, s, NULL);
        return 0;
    }
    short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0) |
                         EV_PERSIST);
    if (ev) {
        event_del(ev);
        event_assign(ev, c->base, s, kind, on_socket_event, c);
    } else {
        ev = event_new(c->base, s, kind, on_socket_event, c);
        if (!ev)
            return -1;
        curl_multi_assign(c->multi, s, ev);
    }
    event_add(ev, NULL);
    return 0;
}

static int on_curl_timeout(CURLM *multi, long timeout_ms, void *userp)
{
    http_client *c = userp;
    if (timeout_ms < 0) {
        evtimer_del(c->curl_timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(c->curl_timer, &tv);
    return 0;
}

int http_client_run(http_client *c, http_request *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        reqs[i].done = reqs[i].in_flight = false;
        reqs[i].attempts = 0;
        reqs[i].next_at_ms = 0;
        reqs[i].status = 0;
        reqs[i].error[0] = '\0';
    }
    c->batch = reqs;
    c->batch_n = n;
    c->remaining = n;
    schedule(c);
    while (c->remaining > 0) {
        if (c->stop && *c->stop) {
            for (size_t i = 0; i < n; i++) {
                http_request *r = &reqs[i];
                if (r->in_flight) {
                    curl_multi_remove_handle(c->multi, r->easy);
                    r->in_flight = false;
                }
                if (!r->done) {
                    r->done = true;
                    snprintf(r->error, sizeof(r->error), "stopped");
                }
            }
            c->remaining = 0;
            break;
        }
        event_base_loop(c->base, EVLOOP_ONCE);
    }
    evtimer_del(c->pace_timer);
    c->batch = NULL;
    c->batch_n = 0;
    int rc = T_OK;
    for (size_t i = 0; i < n; i++)
        if (reqs[i].error[0])
            rc = T_ERR;
    return rc;
}
