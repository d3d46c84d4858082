/*
 * relay.c - the hot path: once a session is authenticated on both sides,
 * bytes flow client <-> upstream. Only message headers are parsed (type and
 * length, checked against max_message_size and the protocol's type set);
 * payloads are never copied: each read moves the whole run of buffered bytes
 * to the other side with one evbuffer_remove_buffer (chain moves, no memcpy).
 * A message may be forwarded before it is complete (a large DataRow or
 * CopyData streams through), so per-session memory stays bounded by the
 * output high-water mark plus one socket read.
 *
 * Hook point: proxy_relay_client_msg() sees every client message header
 * before it is forwarded; write-through (a later issue) decides there.
 * Backpressure: when one side's output passes PROXY_HIGH_WATER, reading the
 * other side pauses until the output drains under PROXY_LOW_WATER.
 */
#include "proxy/sendq.h"
#include "proxy/session.h"

#include "util/common.h"
#include "util/log.h"
#include "writethrough/proxy_hook.h"

#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* Bytes asked of the kernel per direct read. */
#define PROXY_READ_CHUNK 16384
/* Buffer pieces one direct write sends at most (the rest is queued). */
#define PROXY_SEND_IOV 8

/* What to do with a client message once the hook has seen it. */
typedef enum proxy_relay_action {
    PROXY_RELAY_FORWARD = 0, /* pass it upstream unchanged */
} proxy_relay_action;

/*
 * Client message types the hook must see whole (body buffered, at most
 * max_message_size) before anything of them is forwarded. None for the
 * transparent proxy; write-through adds Query/Parse/Bind/Execute here.
 */
static bool proxy_relay_client_wants_body(const proxy_session *s, char type)
{
    (void)s;
    (void)type;
    return false;
}

/*
 * The hook: called once per client message, in order, before any of it is
 * forwarded. BODY (H->len - 4 bytes) is the complete message body when
 * proxy_relay_client_wants_body() asked for it, else NULL.
 */
static proxy_relay_action proxy_relay_client_msg(proxy_session *s, const proto_header *h,
                                                 const uint8_t *body)
{
    (void)body;
    switch (h->type) {
    case PqMsg_Query:
    case PqMsg_Sync:
    case PqMsg_FunctionCall:
        s->pending_syncs++;
        break;
    default:
        break;
    }
    s->last_client_type = h->type;
    return PROXY_RELAY_FORWARD;
}

/*
 * Writes the first RUN bytes of IN to socket FD with one send() (one chunk,
 * the usual case) or sendmsg(): cheaper in the kernel than the writev()
 * libevent would use. Drains what was written; returns the byte count.
 */
static size_t proxy_relay_write_now(struct evbuffer *in, evutil_socket_t fd, size_t run)
{
    struct evbuffer_iovec v[PROXY_SEND_IOV];
    int nv = evbuffer_peek(in, (ev_ssize_t)run, NULL, v, PROXY_SEND_IOV);
    if (nv <= 0)
        return 0;
    if (nv > PROXY_SEND_IOV)
        nv = PROXY_SEND_IOV;
    ssize_t n;
    if (nv == 1) {
        n = send(fd, v[0].iov_base, v[0].iov_len < run ? v[0].iov_len : run, MSG_NOSIGNAL);
    } else {
        struct iovec iov[PROXY_SEND_IOV];
        size_t left = run;
        for (int i = 0; i < nv; i++) {
            iov[i].iov_base = v[i].iov_base;
            iov[i].iov_len = v[i].iov_len < left ? v[i].iov_len : left;
            left -= iov[i].iov_len;
        }
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)nv};
        n = sendmsg(fd, &mh, MSG_NOSIGNAL);
    }
    if (n <= 0)
        return 0; /* EAGAIN or an error: libevent's write reports errors */
    evbuffer_drain(in, (size_t)n);
    return (size_t)n;
}

/*
 * Moves the first RUN bytes of IN to DST. When DST is a plain socket with
 * nothing queued on its output: a small run goes to the send queue (sendq.c,
 * sent with the loop pass's other sends in one io_uring_enter), a large one
 * (or any, without io_uring) is written straight from IN to the socket (no
 * output buffering, no extra poll round). Whatever the kernel does not take
 * is queued on DST's output for libevent to finish.
 */
static void proxy_relay_send(proxy_session *s, struct evbuffer *in, struct bufferevent *dst,
                             size_t run)
{
    struct evbuffer *out = bufferevent_get_output(dst);
    if (!bufferevent_get_underlying(dst)) {
        proxy_sendq *q = s->ctx->sendq;
        if (q && run <= PROXY_SENDQ_MAX_RUN && proxy_sendq_push(q, dst, in, run))
            return;
        if (q && proxy_sendq_pending(q, dst))
            proxy_sendq_flush(q); /* queued bytes go first */
        if (evbuffer_get_length(out) == 0)
            run -= proxy_relay_write_now(in, bufferevent_getfd(dst), run);
    }
    if (run)
        evbuffer_remove_buffer(in, out, run);
}

/*
 * Scans the messages in IN (side SIDE) and moves every available byte of
 * them to OUT. Returns false when the session was closed (protocol error).
 */
static bool proxy_relay_pump(proxy_session *s, proto_side side, struct evbuffer *in,
                             struct bufferevent *dst)
{
    size_t avail = evbuffer_get_length(in);
    size_t run = 0;
    size_t *remaining = &s->remaining[side];
    /* Client messages may be buffered whole (the hook), so they get the
     * configured limit; server messages only stream through, so they are
     * held to the protocol's own bound and large rows keep working. */
    uint32_t max = side == PROTO_FROM_CLIENT ? s->ctx->settings->max_message_size
                                             : PQ_MAX_SERVER_MSG_LEN;
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(in, &pos, 0, EVBUFFER_PTR_SET);
    while (run < avail) {
        if (*remaining > 0) {
            size_t take = avail - run < *remaining ? avail - run : *remaining;
            run += take;
            *remaining -= take;
            if (*remaining > 0)
                break;
            continue;
        }
        if (avail - run < PQ_MSG_HEADER_LEN)
            break;
        uint8_t head[PQ_MSG_HEADER_LEN + 1];
        size_t want = avail - run > sizeof(head) ? sizeof(head) : avail - run;
        evbuffer_ptr_set(in, &pos, run, EVBUFFER_PTR_SET);
        evbuffer_copyout_from(in, &pos, head, want);
        proto_header h;
        const char *reason = NULL;
        if (proto_frame_header(head, want, side, max, &h, &reason) != PROTO_FRAME_OK) {
            /* Forward what came before the bad message, then end the session. */
            if (run)
                proxy_relay_send(s, in, dst, run);
            if (s->remaining[PROTO_FROM_SERVER] != 0) {
                /* Mid-way through a server message: an error now would be garbage. */
                proxy_session_close_after_flush(
                    s, side == PROTO_FROM_CLIENT ? reason : "upstream_protocol_error");
            } else if (side == PROTO_FROM_CLIENT) {
                char msg[128];
                snprintf(msg, sizeof(msg), "invalid frontend message: %s", reason);
                proxy_session_fail(s, "08P01", msg, reason);
            } else {
                log_warn("proxy.upstream.bad_message", "id=%llu reason=%s",
                         (unsigned long long)s->id, reason);
                proxy_session_fail(s, "08P01", "invalid message from upstream server",
                                   "upstream_protocol_error");
            }
            return false;
        }
        if (s->ctx->wt) {
            /* write-through: writes to synced tables are taken out of the stream */
            wt_hook_action a = side == PROTO_FROM_CLIENT ? wt_hook_client_msg(s, in, &run, &h)
                                                         : wt_hook_server_msg(s, in, &run, &h);
            if (a == WT_HOOK_NEED_MORE || a == WT_HOOK_WAIT)
                break;
            if (a == WT_HOOK_CONSUMED) {
                avail = evbuffer_get_length(in);
                continue;
            }
        }
        if (side == PROTO_FROM_CLIENT) {
            const uint8_t *body = NULL;
            if (proxy_relay_client_wants_body(s, h.type)) {
                if (avail - run < h.total)
                    break; /* wait for the whole message; the header is re-read then */
                if (run) {
                    proxy_relay_send(s, in, dst, run);
                    avail -= run;
                    run = 0;
                }
                uint8_t *m = evbuffer_pullup(in, (ev_ssize_t)h.total);
                if (!m) {
                    proxy_session_close_after_flush(s, "out_of_memory");
                    return false;
                }
                body = m + PQ_MSG_HEADER_LEN;
            }
            if (h.type == PqMsg_Terminate) {
                /* The client leaves: with server_idle_timeout its idle upstream
                 * is kept for the next client instead of being told to quit. */
                if (run) {
                    proxy_relay_send(s, in, dst, run);
                    avail -= run;
                    run = 0;
                }
                if (proxy_pool_release(s)) {
                    s->last_client_type = PqMsg_Terminate;
                    evbuffer_drain(in, evbuffer_get_length(in));
                    proxy_session_close_after_flush(s, "client_terminate");
                    return false;
                }
            }
            proxy_relay_action act = proxy_relay_client_msg(s, &h, body);
            assert(act == PROXY_RELAY_FORWARD);
            (void)act;
        } else if (h.type == PqMsg_ReadyForQuery) {
            if (want < PQ_MSG_HEADER_LEN + 1)
                break; /* need the status byte: wait for it */
            s->txn_status = (char)head[PQ_MSG_HEADER_LEN];
            s->pending_syncs--;
        }
        *remaining = h.total;
    }
    if (run)
        proxy_relay_send(s, in, dst, run);
    return true;
}

/* Pauses reading FROM when TO's output is past the high-water mark. */
static void proxy_relay_backpressure(proxy_session *s, proto_side from, struct bufferevent *src,
                                     struct bufferevent *dst)
{
    if (evbuffer_get_length(bufferevent_get_output(dst)) > PROXY_HIGH_WATER) {
        if (s->raw_read[from])
            event_del(s->raw_read[from]);
        else
            bufferevent_disable(src, EV_READ);
        s->backpressure[from] = true;
    }
}

static void proxy_relay_resume(proxy_session *s, proto_side from, struct bufferevent *src)
{
    s->backpressure[from] = false;
    if (s->raw_read[from])
        event_add(s->raw_read[from], NULL);
    else
        bufferevent_enable(src, EV_READ);
}

static void proxy_relay_after_server_msg(proxy_session *s)
{
    /* Draining: an idle client is let go at a transaction boundary. */
    if (s->ctx->draining && proxy_session_idle(s))
        proxy_session_fail(s, "57P01", "terminating connection due to administrator command",
                           "shutdown");
}

void proxy_relay_client_read(struct bufferevent *bev, void *arg)
{
    proxy_session *s = arg;
    if (s->state != PS_RELAY || !s->sbev)
        return;
    if (!proxy_relay_pump(s, PROTO_FROM_CLIENT, bufferevent_get_input(bev), s->sbev))
        return;
    proxy_relay_backpressure(s, PROTO_FROM_CLIENT, bev, s->sbev);
    if (s->wt_job && !s->wt_held && !s->backpressure[PROTO_FROM_CLIENT] &&
        evbuffer_get_length(bufferevent_get_input(bev)) > PROXY_HIGH_WATER) {
        /* a write is under way: what the client pipelines behind it is held,
         * up to the high-water mark, then the client waits */
        if (s->raw_read[PROTO_FROM_CLIENT])
            event_del(s->raw_read[PROTO_FROM_CLIENT]);
        else
            bufferevent_disable(bev, EV_READ);
        s->wt_held = true;
    }
}

void proxy_relay_write_done(proxy_session *s)
{
    if (s->state != PS_RELAY || !s->cbev)
        return;
    if (s->wt_held) {
        s->wt_held = false;
        if (!s->backpressure[PROTO_FROM_CLIENT])
            proxy_relay_resume(s, PROTO_FROM_CLIENT, s->cbev);
    }
    if (s->ctx->draining && proxy_session_idle(s)) {
        proxy_session_fail(s, "57P01", "terminating connection due to administrator command",
                           "shutdown");
        return;
    }
    if (evbuffer_get_length(bufferevent_get_input(s->cbev)) > 0)
        proxy_relay_client_read(s->cbev, s);
}

void proxy_relay_server_read(struct bufferevent *bev, void *arg)
{
    proxy_session *s = arg;
    if (s->state != PS_RELAY)
        return;
    if (!proxy_relay_pump(s, PROTO_FROM_SERVER, bufferevent_get_input(bev), s->cbev))
        return;
    proxy_relay_backpressure(s, PROTO_FROM_SERVER, bev, s->cbev);
    proxy_relay_after_server_msg(s);
    if (s->ctx->wt && s->state == PS_RELAY)
        wt_hook_after_server(s);
}

/* Client output drained below the low-water mark: resume reading upstream. */
void proxy_relay_client_write(struct bufferevent *bev, void *arg)
{
    proxy_session *s = arg;
    if (s->state == PS_RELAY && s->backpressure[PROTO_FROM_SERVER]) {
        proxy_relay_resume(s, PROTO_FROM_SERVER, s->sbev);
        if (evbuffer_get_length(bufferevent_get_input(s->sbev)) > 0)
            proxy_relay_server_read(s->sbev, s);
    }
}

/* Upstream output drained below the low-water mark: resume reading the client. */
void proxy_relay_server_write(struct bufferevent *bev, void *arg)
{
    proxy_session *s = arg;
    if (s->state == PS_RELAY && s->backpressure[PROTO_FROM_CLIENT]) {
        proxy_relay_resume(s, PROTO_FROM_CLIENT, s->cbev);
        if (evbuffer_get_length(bufferevent_get_input(s->cbev)) > 0)
            proxy_relay_client_read(s->cbev, s);
    }
}

/*
 * Direct reads: on a plain socket the relay reads with one recv() (recvmsg()
 * when the free space is split) into the bufferevent's input buffer, instead
 * of letting the bufferevent read (which asks the kernel for FIONREAD first
 * and uses readv): one system call fewer per hop, and a cheaper one. EOF and
 * errors go to the same event callbacks the bufferevent would have called.
 */
static void proxy_relay_raw_read(proxy_session *s, proto_side side, evutil_socket_t fd)
{
    struct bufferevent *bev = side == PROTO_FROM_CLIENT ? s->cbev : s->sbev;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_iovec v[2];
    /* A bufferevent freezes the end of its input; thaw it for our own read, as
     * the bufferevent does for its reads. */
    evbuffer_unfreeze(in, 0);
    int nv = evbuffer_reserve_space(in, PROXY_READ_CHUNK, v, 2);
    if (nv <= 0) {
        evbuffer_freeze(in, 0);
        proxy_session_close_after_flush(s, "out_of_memory");
        return;
    }
    ssize_t n;
    if (nv == 1) {
        n = recv(fd, v[0].iov_base, v[0].iov_len, 0);
    } else {
        struct iovec iov[2];
        for (int i = 0; i < nv; i++) {
            iov[i].iov_base = v[i].iov_base;
            iov[i].iov_len = v[i].iov_len;
        }
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)nv};
        n = recvmsg(fd, &mh, 0);
    }
    if (n <= 0)
        evbuffer_freeze(in, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        short what = BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR);
        if (side == PROTO_FROM_CLIENT)
            proxy_client_event_cb(bev, what, s);
        else
            proxy_server_event_cb(bev, what, s);
        return;
    }
    size_t left = (size_t)n;
    for (int i = 0; i < nv; i++) {
        if (v[i].iov_len > left)
            v[i].iov_len = left;
        left -= v[i].iov_len;
    }
    evbuffer_commit_space(in, v, nv);
    evbuffer_freeze(in, 0);
    if (side == PROTO_FROM_CLIENT)
        proxy_relay_client_read(bev, s);
    else
        proxy_relay_server_read(bev, s);
}

static void proxy_relay_raw_client_cb(evutil_socket_t fd, short what, void *arg)
{
    proxy_relay_raw_read(arg, PROTO_FROM_CLIENT, fd);
}

static void proxy_relay_raw_server_cb(evutil_socket_t fd, short what, void *arg)
{
    proxy_relay_raw_read(arg, PROTO_FROM_SERVER, fd);
}

void proxy_relay_start(proxy_session *s)
{
    struct bufferevent *bevs[2] = {s->cbev, s->sbev};
    event_callback_fn cbs[2] = {proxy_relay_raw_client_cb, proxy_relay_raw_server_cb};
    for (int side = 0; side < 2; side++) {
        struct bufferevent *bev = bevs[side];
        if (!bev || bufferevent_get_underlying(bev) || s->raw_read[side])
            continue; /* TLS sides keep the bufferevent's own reading */
        struct event *ev =
            event_new(s->ctx->base, bufferevent_getfd(bev), EV_READ | EV_PERSIST, cbs[side], s);
        if (!ev)
            continue; /* the bufferevent keeps reading: slower, still correct */
        bufferevent_disable(bev, EV_READ);
        s->raw_read[side] = ev;
        if (!s->backpressure[side])
            event_add(ev, NULL);
    }
}

void proxy_relay_stop(proxy_session *s)
{
    /* The send queue may hold bytes for this session's bufferevents, which
     * are about to be freed or handed to a pooled session: send them now. */
    proxy_sendq_flush(s->ctx->sendq);
    for (int side = 0; side < 2; side++) {
        if (s->raw_read[side]) {
            event_free(s->raw_read[side]);
            s->raw_read[side] = NULL;
        }
    }
}
