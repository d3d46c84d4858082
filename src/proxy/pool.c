/*
 * pool.c - server connection reuse ([proxy] server_idle_timeout > 0, with
 * lazy_connect on). When a client leaves (Terminate or EOF) while its
 * upstream connection is idle (ReadyForQuery 'I' received, nothing in
 * flight), the upstream is not closed: it moves to a PROXY_KIND_POOLED
 * session, which sends `DISCARD ALL` (as PgBouncer's session pooling does
 * with server_reset_query) and, once the server answers ReadyForQuery 'I',
 * waits up to server_idle_timeout seconds for a lazy client with the same
 * startup parameters. That client gets the connection instead of a new
 * upstream login (a fork, authentication and cold caches in Postgres).
 *
 * Only connections whose login reported exactly the ParameterStatus values of
 * the lazy cache are kept, so a client that reuses one was told the truth at
 * its lazy startup. A pooled connection that says anything while idle, fails
 * its reset, or times out is closed. Pooled connections are closed on drain
 * and on reload (settings may have changed).
 *
 * Memory: a pooled session (session.c) owns the upstream bufferevent, its
 * startup parameters (moved from the client session) and a timer; it is on
 * ctx->sessions like every session and also on ctx->pool.
 */
#include "proxy/session.h"

#include "util/common.h"
#include "util/log.h"

#include <assert.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a released connection runs before reuse (PgBouncer's default
 * server_reset_query): closes cursors, resets settings and the session
 * authorization, drops prepared statements, temporary tables, LISTENs and
 * advisory locks. */
static const char proxy_pool_reset_sql[] = "DISCARD ALL";

/* True when S relays, its upstream is idle (ReadyForQuery 'I'), and nothing
 * is half-relayed or awaited in either direction. */
static bool proxy_pool_quiet(const proxy_session *s)
{
    if (s->state != PS_RELAY || !s->sbev || s->txn_status != 'I' || s->pending_syncs != 0 ||
        s->remaining[PROTO_FROM_CLIENT] != 0 || s->remaining[PROTO_FROM_SERVER] != 0)
        return false;
    if (proxy_session_in_batch(s->last_client_type))
        return false; /* an extended batch without its Sync */
    switch (s->last_client_type) {
    case PqMsg_CopyData:
    case PqMsg_CopyDone:
    case PqMsg_CopyFail:
    case PqMsg_Terminate:
        return false; /* COPY in flight, or a goodbye */
    default:
        break;
    }
    return evbuffer_get_length(bufferevent_get_input(s->sbev)) == 0;
}

static void proxy_pool_unlink(proxy_session *p)
{
    proxy_ctx *ctx = p->ctx;
    if (p->pool_prev)
        p->pool_prev->pool_next = p->pool_next;
    else if (ctx->pool == p)
        ctx->pool = p->pool_next;
    if (p->pool_next)
        p->pool_next->pool_prev = p->pool_prev;
    p->pool_prev = p->pool_next = NULL;
    ctx->npooled--;
}

/* Ends pooled session P now (it has no client). */
static void proxy_pool_close(proxy_session *p, const char *reason)
{
    assert(p->kind == PROXY_KIND_POOLED);
    proxy_pool_unlink(p);
    proxy_session_close(p, reason);
}

static void proxy_pool_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    proxy_session *p = arg;
    proxy_pool_close(p, p->state == PS_POOL_RESET ? "pool_reset_timeout" : "pool_idle_timeout");
}

static void proxy_pool_arm(proxy_session *p, int seconds)
{
    struct timeval tv = {seconds, 0};
    evtimer_add(p->timer, &tv);
}

/* Reads the answer to DISCARD ALL; anything said while idle closes P. */
static void proxy_pool_read_cb(struct bufferevent *bev, void *arg)
{
    proxy_session *p = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (p->state != PS_POOL_RESET) {
        proxy_pool_close(p, "pool_server_spoke");
        return;
    }
    for (;;) {
        size_t avail = evbuffer_get_length(in);
        uint8_t head[PQ_MSG_HEADER_LEN + 1];
        size_t want = avail < sizeof(head) ? avail : sizeof(head);
        proto_header h;
        const char *reason = NULL;
        evbuffer_copyout(in, head, want);
        proto_frame_status fs =
            proto_frame_header(head, want, PROTO_FROM_SERVER, PQ_MAX_SERVER_MSG_LEN, &h, &reason);
        if (fs == PROTO_FRAME_NEED_MORE || (fs == PROTO_FRAME_OK && avail < h.total))
            return;
        if (fs == PROTO_FRAME_BAD) {
            proxy_pool_close(p, "pool_protocol_error");
            return;
        }
        switch (h.type) {
        case PqMsg_CommandComplete:
        case PqMsg_ParameterStatus: /* RESET ALL reporting defaults back */
        case PqMsg_NoticeResponse:
            evbuffer_drain(in, h.total);
            continue;
        case PqMsg_ReadyForQuery:
            if (h.len != 5 || head[PQ_MSG_HEADER_LEN] != 'I' || avail != h.total) {
                proxy_pool_close(p, "pool_reset_failed");
                return;
            }
            evbuffer_drain(in, h.total);
            p->state = PS_POOL_IDLE;
            proxy_pool_arm(p, p->ctx->settings->server_idle_timeout_s);
            log_info("proxy.pool.ready", "id=%llu pooled=%d", (unsigned long long)p->id,
                     p->ctx->npooled);
            return;
        default: /* ErrorResponse or anything unexpected */
            proxy_pool_close(p, "pool_reset_failed");
            return;
        }
    }
}

static void proxy_pool_event_cb(struct bufferevent *bev, short what, void *arg)
{
    proxy_session *p = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        proxy_pool_close(p, (what & BEV_EVENT_EOF) ? "pool_server_closed" : "pool_server_error");
}

bool proxy_pool_release(proxy_session *s)
{
    proxy_ctx *ctx = s->ctx;
    const proxy_settings *set = ctx->settings;
    if (s->kind != PROXY_KIND_CLIENT || set->server_idle_timeout_s <= 0 || !set->lazy_connect ||
        ctx->wt || ctx->draining || s->up_params_differ || !proxy_pool_quiet(s))
        return false;
    if (s->ctx->settings->max_client_conn <= ctx->npooled)
        return false; /* bounded like the clients themselves */
    proxy_session *p = proxy_session_new(ctx, PROXY_KIND_POOLED);
    if (!p)
        return false;
    p->timer = evtimer_new(ctx->base, proxy_pool_timer_cb, p);
    if (!p->timer) {
        proxy_session_close(p, "out_of_memory");
        return false;
    }
    /* The direct-read events belong to S; the pooled side reads through the
     * bufferevent (rarely: one answer to DISCARD ALL). */
    proxy_relay_stop(s);
    p->sbev = s->sbev;
    s->sbev = NULL;
    p->params = s->params;
    p->params_len = s->params_len;
    p->nparams = s->nparams;
    s->params = NULL;
    s->params_len = s->nparams = 0;
    p->up_pid = s->up_pid;
    p->up_key = s->up_key;
    p->have_up_key = s->have_up_key;
    memcpy(&p->up_addr, &s->up_addr, sizeof(p->up_addr));
    p->up_addrlen = s->up_addrlen;
    snprintf(p->peer, sizeof(p->peer), "%s", s->peer);
    snprintf(p->user_log, sizeof(p->user_log), "%s", s->user_log);
    p->state = PS_POOL_RESET;
    bufferevent_setcb(p->sbev, proxy_pool_read_cb, NULL, proxy_pool_event_cb, p);
    bufferevent_setwatermark(p->sbev, EV_WRITE, 0, 0);
    bufferevent_enable(p->sbev, EV_READ | EV_WRITE);
    struct evbuffer *out = bufferevent_get_output(p->sbev);
    uint8_t head[PQ_MSG_HEADER_LEN];
    head[0] = PqMsg_Query;
    proto_set_u32(head + 1, (uint32_t)(4 + sizeof(proxy_pool_reset_sql)));
    evbuffer_add(out, head, sizeof(head));
    evbuffer_add(out, proxy_pool_reset_sql, sizeof(proxy_pool_reset_sql));
    p->pool_next = ctx->pool;
    if (ctx->pool)
        ctx->pool->pool_prev = p;
    ctx->pool = p;
    ctx->npooled++;
    proxy_pool_arm(p, set->login_timeout_s);
    log_debug("proxy.pool.release", "id=%llu client_id=%llu", (unsigned long long)p->id,
              (unsigned long long)s->id);
    return true;
}

bool proxy_pool_take(proxy_session *s)
{
    proxy_ctx *ctx = s->ctx;
    proxy_session *p;
    for (p = ctx->pool; p; p = p->pool_next)
        if (p->state == PS_POOL_IDLE && p->params_len == s->params_len &&
            memcmp(p->params, s->params, s->params_len) == 0)
            break;
    if (!p)
        return false;
    /* Reading stays enabled: a TLS upstream keeps reading through its
     * bufferevent; a plain one is switched to direct reads by the relay. */
    s->sbev = p->sbev;
    p->sbev = NULL;
    s->up_pid = p->up_pid;
    s->up_key = p->up_key;
    s->have_up_key = p->have_up_key;
    memcpy(&s->up_addr, &p->up_addr, sizeof(s->up_addr));
    s->up_addrlen = p->up_addrlen;
    s->txn_status = 'I';
    s->pending_syncs = 0;
    s->up_reused = true;
    log_debug("proxy.pool.reuse", "id=%llu pooled=%llu", (unsigned long long)s->id,
              (unsigned long long)p->id);
    proxy_pool_close(p, "pool_reused");
    proxy_server_adopt(s);
    return true;
}

void proxy_pool_flush(proxy_ctx *ctx, const char *reason)
{
    while (ctx->pool)
        proxy_pool_close(ctx->pool, reason);
}
