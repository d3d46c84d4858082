/*
 * cancel.c - query cancellation. Each client gets a proxy-generated backend
 * pid and secret key (BackendKeyData); this file maps them back to the
 * session and, when a client sends a CancelRequest on a new connection,
 * opens a short-lived upstream connection (a PROXY_KIND_CANCEL session) that
 * sends the upstream backend's own pid and key. The map is a fixed array of
 * buckets in proxy_ctx chained through the sessions; it owns nothing.
 */
#include "proxy/session.h"

#include "util/common.h"
#include "util/log.h"
#include "writethrough/proxy_hook.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <assert.h>
#include <stdio.h>

static size_t proxy_cancel_bucket(int32_t pid)
{
    return (size_t)((uint32_t)pid % PROXY_CANCEL_BUCKETS);
}

static proxy_session *proxy_cancel_find(proxy_ctx *ctx, int32_t pid)
{
    for (proxy_session *p = ctx->cancel_map[proxy_cancel_bucket(pid)]; p; p = p->cancel_next)
        if (p->pid == pid)
            return p;
    return NULL;
}

void proxy_cancel_register(proxy_session *s)
{
    proxy_ctx *ctx = s->ctx;
    if (s->in_cancel_map)
        return;
    /* Unique positive pid among live sessions; random secret key. */
    do {
        ctx->next_pid = (ctx->next_pid + 1) & 0x7fffffff;
        if (ctx->next_pid == 0)
            ctx->next_pid = 1;
    } while (proxy_cancel_find(ctx, (int32_t)ctx->next_pid));
    s->pid = (int32_t)ctx->next_pid;
    if (RAND_bytes((unsigned char *)&s->key, sizeof(s->key)) != 1)
        return;
    size_t b = proxy_cancel_bucket(s->pid);
    s->cancel_next = ctx->cancel_map[b];
    ctx->cancel_map[b] = s;
    s->in_cancel_map = true;
}

void proxy_cancel_unregister(proxy_session *s)
{
    if (!s->in_cancel_map)
        return;
    proxy_session **pp = &s->ctx->cancel_map[proxy_cancel_bucket(s->pid)];
    while (*pp && *pp != s)
        pp = &(*pp)->cancel_next;
    assert(*pp == s);
    *pp = s->cancel_next;
    s->in_cancel_map = false;
}

static void proxy_cancel_timeout(evutil_socket_t fd, short what, void *arg)
{
    proxy_session_close(arg, "cancel_timeout");
}

void proxy_cancel_forward(proxy_ctx *ctx, int32_t pid, int32_t key, const char *peer)
{
    proxy_session *target = proxy_cancel_find(ctx, pid);
    if (!target || CRYPTO_memcmp(&target->key, &key, sizeof(key)) != 0) {
        log_warn("proxy.cancel.unknown", "client=%s pid=%d", peer, (int)pid);
        return;
    }
    if (target->wt_job)
        wt_hook_cancel(target); /* a write waiting for a worker is dropped */
    if (!target->have_up_key || target->state != PS_RELAY) {
        log_info("proxy.cancel.skip", "id=%llu reason=not_running", (unsigned long long)target->id);
        return;
    }
    proxy_session *c = proxy_session_new(ctx, PROXY_KIND_CANCEL);
    if (!c) {
        log_warn("proxy.cancel.fail", "reason=out_of_memory");
        return;
    }
    c->timer = evtimer_new(ctx->base, proxy_cancel_timeout, c);
    if (!c->timer) {
        proxy_session_close(c, "out_of_memory");
        return;
    }
    struct timeval tv = {ctx->settings->login_timeout_s, 0};
    evtimer_add(c->timer, &tv);
    memcpy(&c->up_addr, &target->up_addr, sizeof(c->up_addr));
    c->up_addrlen = target->up_addrlen;
    c->up_pid = target->up_pid;
    c->up_key = target->up_key;
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    log_info("proxy.cancel", "id=%llu client=%s", (unsigned long long)target->id, peer);
    proxy_server_connect(c); /* may free c on immediate failure */
}
