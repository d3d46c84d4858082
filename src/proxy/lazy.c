/*
 * lazy.c - lazy upstream connections ([proxy] lazy_connect = on). After a
 * client authenticates, the proxy answers its startup itself with the
 * ParameterStatus values an earlier upstream login with the same startup
 * parameters reported, its own BackendKeyData and ReadyForQuery 'I', and
 * opens the upstream connection only when the client sends its first message
 * (Terminate excepted). An idle client therefore costs no Postgres backend.
 * The first client with a given set of startup parameters logs in eagerly
 * and fills the cache.
 *
 * Memory: the cache (struct proxy_param_cache) belongs to the proxy_settings
 * it hangs off and is freed with them (so a reload starts it afresh); its
 * entries are malloc'd copies. A session's login_status evbuffer is freed by
 * proxy_lazy_on_login_done or with the session (session.c).
 */
#include "proxy/session.h"

#include "util/common.h"
#include "util/log.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Distinct startup-parameter sets remembered; further ones log in eagerly. */
#define PROXY_PARAM_CACHE_MAX 256

typedef struct proxy_param_entry {
    char *key;         /* the session's params blob (name\0value\0 pairs) */
    size_t key_len;
    uint8_t *status;   /* concatenated ParameterStatus messages, wire format */
    size_t status_len;
} proxy_param_entry;

struct proxy_param_cache {
    size_t n;
    proxy_param_entry items[PROXY_PARAM_CACHE_MAX];
};

void proxy_lazy_cache_free(struct proxy_param_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->items[i].key);
        free(c->items[i].status);
    }
    free(c);
}

static const proxy_param_entry *proxy_lazy_find(const proxy_session *s)
{
    const struct proxy_param_cache *c = s->ctx->settings->param_cache;
    if (!c)
        return NULL;
    for (size_t i = 0; i < c->n; i++)
        if (c->items[i].key_len == s->params_len &&
            memcmp(c->items[i].key, s->params, s->params_len) == 0)
            return &c->items[i];
    return NULL;
}

bool proxy_lazy_answer_startup(proxy_session *s)
{
    if (!s->ctx->settings->lazy_connect)
        return false;
    const proxy_param_entry *e = proxy_lazy_find(s);
    if (!e) {
        /* Eager login; remember what the server reports for the next client. */
        s->login_status = evbuffer_new();
        return false;
    }
    proxy_cancel_register(s);
    if (!s->in_cancel_map)
        return false; /* no key: the eager path reports the failure */
    struct evbuffer *out = bufferevent_get_output(s->cbev);
    evbuffer_add(out, e->status, e->status_len);
    proto_put_backend_key(out, s->pid, s->key);
    static const uint8_t ready[] = {PqMsg_ReadyForQuery, 0, 0, 0, 5, 'I'};
    evbuffer_add(out, ready, sizeof(ready));
    s->lazy = true;
    s->txn_status = 'I';
    s->state = PS_LAZY_IDLE;
    if (s->timer)
        evtimer_del(s->timer);
    bufferevent_enable(s->cbev, EV_READ);
    log_debug("proxy.client.lazy_ready", "id=%llu user=%s", (unsigned long long)s->id,
              s->user_log);
    return true;
}

void proxy_lazy_client_read(proxy_session *s, struct evbuffer *in)
{
    size_t avail;
    proto_header h;
    const char *reason = NULL;
    proto_frame_status fs = proxy_session_peek(
        in, PROTO_FROM_CLIENT, s->ctx->settings->max_message_size, &h, &reason, &avail);
    if (fs == PROTO_FRAME_NEED_MORE)
        return;
    if (fs == PROTO_FRAME_BAD) {
        char msg[128];
        snprintf(msg, sizeof(msg), "invalid frontend message: %s", reason);
        proxy_session_fail(s, "08P01", msg, reason);
        return;
    }
    if (h.type == PqMsg_Terminate) {
        proxy_session_close(s, "client_terminate");
        return;
    }
    if (s->ctx->draining) {
        proxy_session_fail(s, "57P01", "terminating connection due to administrator command",
                           "shutdown");
        return;
    }
    /* The message stays buffered; proxy_client_enter_relay relays it. */
    bufferevent_disable(s->cbev, EV_READ);
    if (s->timer) {
        struct timeval tv = {s->ctx->settings->login_timeout_s, 0};
        evtimer_add(s->timer, &tv);
    }
    log_debug("proxy.client.lazy_connect", "id=%llu", (unsigned long long)s->id);
    if (proxy_pool_take(s))
        return;
    proxy_server_connect(s);
}

bool proxy_lazy_on_param_status(proxy_session *s, const uint8_t *msg, size_t total)
{
    if (!s->lazy) {
        if (s->login_status)
            evbuffer_add(s->login_status, msg, total);
        return true;
    }
    const proxy_param_entry *e = proxy_lazy_find(s);
    /* Messages are stored whole, so a byte match is the same name and value. */
    for (size_t off = 0; e && off + total <= e->status_len;) {
        uint32_t len = proto_get_u32(e->status + off + 1);
        if (len + 1 == total && memcmp(e->status + off, msg, total) == 0)
            return false;
        off += 1 + (size_t)len;
    }
    /* Not what the cache says (or reloaded since): tell the client, and never
     * give this connection to another lazy client (pool.c). */
    s->up_params_differ = true;
    return true;
}

void proxy_lazy_on_login_done(proxy_session *s)
{
    if (!s->login_status)
        return;
    proxy_settings *set = s->ctx->settings;
    size_t len = evbuffer_get_length(s->login_status);
    const proxy_param_entry *have = proxy_lazy_find(s);
    if (have) {
        /* Another eager login filled the cache: reuse only if this one agrees. */
        const uint8_t *mine = len ? evbuffer_pullup(s->login_status, -1) : NULL;
        if (have->status_len != len || (len && (!mine || memcmp(have->status, mine, len) != 0)))
            s->up_params_differ = true;
    }
    if (set->lazy_connect && !have) {
        if (!set->param_cache)
            set->param_cache = calloc(1, sizeof(*set->param_cache));
        struct proxy_param_cache *c = set->param_cache;
        if (c && c->n < PROXY_PARAM_CACHE_MAX) {
            proxy_param_entry *e = &c->items[c->n];
            e->key = malloc(s->params_len ? s->params_len : 1);
            e->status = malloc(len ? len : 1);
            if (e->key && e->status) {
                memcpy(e->key, s->params, s->params_len);
                e->key_len = s->params_len;
                evbuffer_copyout(s->login_status, e->status, len);
                e->status_len = len;
                c->n++;
            } else {
                free(e->key);
                free(e->status);
                e->key = NULL;
                e->status = NULL;
            }
        }
    }
    evbuffer_free(s->login_status);
    s->login_status = NULL;
}
