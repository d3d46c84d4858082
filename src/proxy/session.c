/*
 * session.c - a proxy session's life: allocation, the list of live sessions,
 * and every way it ends (immediately, or after flushing a final message to
 * the client). Each end logs one proxy.client.close line with a reason.
 * A session owns its bufferevents, timer and auth state; all freed here.
 */
#include "proxy/session.h"

#include "util/common.h"
#include "util/log.h"
#include "writethrough/proxy_hook.h"

#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define PROXY_LINGER_MS 20
#define PROXY_LINGER_MAX_TICKS 100 /* two seconds to flush a final message */

proxy_session *proxy_session_new(proxy_ctx *ctx, proxy_session_kind kind)
{
    proxy_session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->ctx = ctx;
    s->kind = kind;
    s->id = ++ctx->next_id;
    s->txn_status = 'I';
    s->next = ctx->sessions;
    if (ctx->sessions)
        ctx->sessions->prev = s;
    ctx->sessions = s;
    if (kind == PROXY_KIND_CLIENT)
        ctx->nclients++;
    return s;
}

static void proxy_session_free(proxy_session *s)
{
    proxy_ctx *ctx = s->ctx;
    proxy_cancel_unregister(s);
    proxy_relay_stop(s);
    if (s->timer)
        event_free(s->timer);
    if (s->cbev)
        bufferevent_free(s->cbev);
    if (s->sbev)
        bufferevent_free(s->sbev);
    if (s->scram) {
        OPENSSL_cleanse(s->scram, sizeof(*s->scram));
        free(s->scram);
    }
    wt_hook_session_end(s);
    wt_session_free(s->wt);
    free(s->params);
    if (s->login_status)
        evbuffer_free(s->login_status);
    if (s->up_scram) {
        OPENSSL_cleanse(s->up_scram, sizeof(*s->up_scram));
        free(s->up_scram);
    }
    if (s->prev)
        s->prev->next = s->next;
    else
        ctx->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (s->kind == PROXY_KIND_CLIENT)
        ctx->nclients--;
    if (s->over_limit)
        ctx->nrejecting--;
    free(s);
    proxy_maybe_finish_drain(ctx);
}

void proxy_session_close(proxy_session *s, const char *reason)
{
    if (s->kind == PROXY_KIND_CANCEL)
        log_debug("proxy.cancel.close", "reason=%s", reason);
    else if (s->kind == PROXY_KIND_POOLED)
        log_info("proxy.pool.close", "reason=%s id=%llu", reason, (unsigned long long)s->id);
    else
        log_info("proxy.client.close", "reason=%s id=%llu client=%s user=%s state=%d", reason,
                 (unsigned long long)s->id, s->peer, s->user_log[0] ? s->user_log : "-",
                 (int)s->state);
    proxy_session_free(s);
}

/* Bytes still waiting to reach the client's socket (TLS filter included). */
static size_t proxy_session_client_pending(proxy_session *s)
{
    if (!s->cbev)
        return 0;
    size_t n = evbuffer_get_length(bufferevent_get_output(s->cbev));
    struct bufferevent *under = bufferevent_get_underlying(s->cbev);
    if (under)
        n += evbuffer_get_length(bufferevent_get_output(under));
    return n;
}

static void proxy_session_linger_cb(evutil_socket_t fd, short what, void *arg)
{
    proxy_session *s = arg;
    if (proxy_session_client_pending(s) == 0 || ++s->linger_ticks > PROXY_LINGER_MAX_TICKS) {
        proxy_session_close(s, s->close_reason);
        return;
    }
    struct timeval tv = {0, PROXY_LINGER_MS * 1000};
    evtimer_add(s->timer, &tv);
}

static void proxy_session_closing_event_cb(struct bufferevent *bev, short what, void *arg)
{
    proxy_session *s = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        proxy_session_close(s, s->close_reason);
}

void proxy_session_close_after_flush(proxy_session *s, const char *reason)
{
    s->state = PS_CLOSING;
    s->close_reason = reason;
    proxy_relay_stop(s);
    if (s->sbev) {
        bufferevent_free(s->sbev);
        s->sbev = NULL;
    }
    if (!s->cbev) {
        proxy_session_close(s, reason);
        return;
    }
    bufferevent_disable(s->cbev, EV_READ);
    bufferevent_setcb(s->cbev, NULL, NULL, proxy_session_closing_event_cb, s);
    if (s->timer)
        event_free(s->timer);
    s->timer = evtimer_new(s->ctx->base, proxy_session_linger_cb, s);
    if (!s->timer) {
        proxy_session_close(s, reason);
        return;
    }
    s->linger_ticks = 0;
    struct timeval tv = {0, 0};
    evtimer_add(s->timer, &tv);
}

void proxy_session_fail(proxy_session *s, const char *sqlstate, const char *message,
                        const char *reason)
{
    if (s->cbev && s->state != PS_CLOSING)
        proto_put_error(bufferevent_get_output(s->cbev), "FATAL", sqlstate, message);
    proxy_session_close_after_flush(s, reason);
}

bool proxy_session_in_batch(char last_client_type)
{
    switch (last_client_type) {
    case PqMsg_Parse:
    case PqMsg_Bind:
    case PqMsg_Describe:
    case PqMsg_Execute:
    case PqMsg_Close:
    case PqMsg_Flush:
        return true;
    default:
        return false;
    }
}

proto_frame_status proxy_session_peek(struct evbuffer *in, proto_side side, uint32_t max_len,
                                      proto_header *h, const char **reason, size_t *avail)
{
    uint8_t head[PQ_MSG_HEADER_LEN];
    *avail = evbuffer_get_length(in);
    evbuffer_copyout(in, head, *avail < sizeof(head) ? *avail : sizeof(head));
    return proto_frame_header(head, *avail, side, max_len, h, reason);
}

bool proxy_session_idle(const proxy_session *s)
{
    if (s->state != PS_RELAY)
        return s->state < PS_UP_CONNECTING || s->state == PS_TLS_HANDSHAKE;
    return s->txn_status == 'I' && s->pending_syncs <= 0 && !s->wt_job &&
           s->remaining[PROTO_FROM_CLIENT] == 0 &&
           s->remaining[PROTO_FROM_SERVER] == 0 &&
           !proxy_session_in_batch(s->last_client_type) &&
           evbuffer_get_length(bufferevent_get_input(s->cbev)) == 0;
}
