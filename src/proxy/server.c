/*
 * server.c - the upstream side of a session until it relays: TCP connect,
 * optional TLS (SSLRequest, then a bufferevent_openssl filter), the startup
 * packet with the proxy's upstream credentials and the client's other
 * parameters, authentication (cleartext, MD5, SCRAM-SHA-256), then the
 * ParameterStatus/BackendKeyData/ReadyForQuery run, which is passed to the
 * client with the backend key replaced by the proxy's own. Also carries a
 * CancelRequest upstream for cancel sessions (kind PROXY_KIND_CANCEL).
 * Memory: everything belongs to the session (session.c).
 */
#include "proxy/session.h"

#include "util/common.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void proxy_server_read_cb(struct bufferevent *bev, void *arg);

static void proxy_server_fail(proxy_session *s, const char *what, const char *reason)
{
    char msg[300];
    snprintf(msg, sizeof(msg), "upstream connection failed: %s", what);
    log_warn("proxy.upstream.fail", "id=%llu reason=%s detail=\"%s\"", (unsigned long long)s->id,
             reason, what);
    proxy_session_fail(s, "08006", msg, reason);
}

void proxy_server_connect(proxy_session *s)
{
    proxy_ctx *ctx = s->ctx;
    const proxy_settings *set = ctx->settings;
    s->state = PS_UP_CONNECTING;
    s->sbev = bufferevent_socket_new(ctx->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!s->sbev) {
        proxy_server_fail(s, "out of memory", "out_of_memory");
        return;
    }
    bufferevent_setcb(s->sbev, proxy_server_read_cb, NULL, proxy_server_event_cb, s);
    bufferevent_enable(s->sbev, EV_READ | EV_WRITE);
    if (s->kind == PROXY_KIND_CLIENT) {
        int i = s->up_addr_index < set->up_naddrs ? s->up_addr_index : 0;
        memcpy(&s->up_addr, &set->up_addr[i], set->up_addrlen[i]);
        s->up_addrlen = set->up_addrlen[i];
    }
    /* A cancel session goes to its target's address, even after a reload. */
    if (bufferevent_socket_connect(s->sbev, (const struct sockaddr *)&s->up_addr,
                                   (int)s->up_addrlen) != 0) {
        proxy_server_fail(s, "connect failed", "upstream_connect_failed");
        return;
    }
}

static void proxy_server_send_startup(proxy_session *s)
{
    const proxy_settings *set = s->ctx->settings;
    struct evbuffer *out = bufferevent_get_output(s->sbev);
    if (s->kind == PROXY_KIND_CANCEL) {
        proto_put_cancel(out, s->up_pid, s->up_key);
        s->state = PS_UP_AUTH;
        return;
    }
    const char *names[PROTO_MAX_PARAMS + 2], *values[PROTO_MAX_PARAMS + 2];
    size_t n = 0;
    names[n] = "user";
    values[n++] = set->up_user;
    names[n] = "database";
    values[n++] = set->up_dbname[0] ? set->up_dbname : set->up_user;
    const char *p = s->params;
    for (size_t i = 0; i < s->nparams && n < T_ARRAY_LEN(names); i++) {
        names[n] = p;
        p += strlen(p) + 1;
        values[n++] = p;
        p += strlen(p) + 1;
    }
    proto_put_startup(out, names, values, n);
    s->state = PS_UP_AUTH;
}

static void proxy_server_start_tls(proxy_session *s)
{
    proxy_ctx *ctx = s->ctx;
    const proxy_settings *set = ctx->settings;
    SSL *ssl = SSL_new(set->upstream_tls);
    if (!ssl) {
        proxy_server_fail(s, "TLS setup failed", "upstream_tls_failed");
        return;
    }
    struct in6_addr tmp;
    bool numeric =
        inet_pton(AF_INET, set->up_host, &tmp) == 1 || inet_pton(AF_INET6, set->up_host, &tmp) == 1;
    if (!numeric)
        SSL_set_tlsext_host_name(ssl, set->up_host);
    if (set->upstream_sslmode == PROXY_SSL_VERIFY_FULL)
        SSL_set1_host(ssl, set->up_host);
    struct bufferevent *tls = bufferevent_openssl_filter_new(
        ctx->base, s->sbev, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (!tls) {
        SSL_free(ssl);
        proxy_server_fail(s, "TLS setup failed", "upstream_tls_failed");
        return;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
    /* The filter stops encrypting while the socket's output holds this much,
     * so backpressure shows on the filter's own output. */
    bufferevent_setwatermark(s->sbev, EV_WRITE, 0, PROXY_TLS_UNDER_HIGH_WATER);
    s->sbev = tls;
    s->state = PS_UP_TLS_HANDSHAKE;
    bufferevent_setcb(tls, proxy_server_read_cb, NULL, proxy_server_event_cb, s);
    bufferevent_enable(tls, EV_READ | EV_WRITE);
}

static void proxy_server_on_ssl_reply(proxy_session *s, struct evbuffer *in)
{
    uint8_t c;
    if (evbuffer_remove(in, &c, 1) != 1)
        return;
    const proxy_settings *set = s->ctx->settings;
    if (c == 'S') {
        if (evbuffer_get_length(in) != 0) {
            proxy_server_fail(s, "data after SSL response", "upstream_protocol_error");
            return;
        }
        proxy_server_start_tls(s);
    } else if (c == 'N') {
        if (set->upstream_sslmode >= PROXY_SSL_REQUIRE) {
            proxy_server_fail(s, "server does not support TLS", "upstream_tls_refused");
            return;
        }
        proxy_server_send_startup(s);
    } else {
        proxy_server_fail(s, "bad response to SSLRequest", "upstream_protocol_error");
    }
}

/* One authentication request from upstream. */
static void proxy_server_on_auth(proxy_session *s, const uint8_t *body, size_t len)
{
    const proxy_settings *set = s->ctx->settings;
    struct evbuffer *out = bufferevent_get_output(s->sbev);
    proto_reader r;
    proto_reader_init(&r, body, len);
    int32_t code = proto_read_int32(&r);
    const char *reason = NULL;
    switch (code) {
    case PQ_AUTH_OK:
        s->state = PS_UP_READY_WAIT;
        return;
    case PQ_AUTH_CLEARTEXT:
        proto_put_password(out, set->up_password, strlen(set->up_password) + 1);
        return;
    case PQ_AUTH_MD5: {
        const uint8_t *salt = proto_read_bytes(&r, 4);
        if (!salt)
            break;
        char secret[36], resp[36];
        proxy_md5_secret(set->up_password, set->up_user, secret);
        proxy_md5_response(secret, salt, resp);
        proto_put_password(out, resp, strlen(resp) + 1);
        return;
    }
    case PQ_AUTH_SASL: {
        bool have = false;
        const char *mech;
        while ((mech = proto_read_cstring(&r)) && mech[0])
            if (strcmp(mech, SCRAM_MECHANISM) == 0)
                have = true;
        if (!have) {
            proxy_server_fail(s, "no supported SASL mechanism", "upstream_auth_unsupported");
            return;
        }
        s->up_scram = calloc(1, sizeof(*s->up_scram));
        char first[SCRAM_MSG_MAX];
        int n = s->up_scram ? proxy_scram_client_first(s->up_scram, first, sizeof(first)) : -1;
        if (n < 0) {
            proxy_server_fail(s, "SCRAM setup failed", "out_of_memory");
            return;
        }
        proto_put_sasl_initial(out, SCRAM_MECHANISM, first, (size_t)n);
        return;
    }
    case PQ_AUTH_SASL_CONTINUE: {
        if (!s->up_scram)
            break;
        char fin[SCRAM_MSG_MAX];
        int n = proxy_scram_client_final(s->up_scram, set->up_password,
                                         &s->ctx->settings->up_scram_cache, r.p, r.left, fin,
                                         sizeof(fin), &reason);
        if (n < 0) {
            proxy_server_fail(s, "bad SCRAM challenge", reason);
            return;
        }
        proto_put_password(out, fin, (size_t)n);
        return;
    }
    case PQ_AUTH_SASL_FINAL:
        if (!s->up_scram)
            break;
        if (proxy_scram_client_verify(s->up_scram, r.p, r.left, &reason) != T_OK) {
            proxy_server_fail(s, "server SCRAM signature invalid", reason);
            return;
        }
        return;
    default:
        proxy_server_fail(s, "unsupported authentication method", "upstream_auth_unsupported");
        return;
    }
    proxy_server_fail(s, "malformed authentication request", "upstream_protocol_error");
}

static void proxy_server_go_relay(proxy_session *s)
{
    if (s->up_scram) {
        free(s->up_scram);
        s->up_scram = NULL;
    }
    bufferevent_setcb(s->sbev, proxy_server_read_cb, proxy_relay_server_write,
                      proxy_server_event_cb, s);
    bufferevent_setwatermark(s->sbev, EV_WRITE, PROXY_LOW_WATER, 0);
    log_info("proxy.client.ready", "id=%llu client=%s user=%s tls=%d reused=%d",
             (unsigned long long)s->id, s->peer, s->user_log, (int)s->client_tls,
             (int)s->up_reused);
    proxy_client_enter_relay(s);
    /* Anything the server sent right after ReadyForQuery (a notice) goes on too. */
    if (s->state == PS_RELAY && evbuffer_get_length(bufferevent_get_input(s->sbev)) > 0)
        proxy_relay_server_read(s->sbev, s);
}

void proxy_server_adopt(proxy_session *s)
{
    proxy_server_go_relay(s);
}

/* Handles one login-phase message; returns false to stop the loop. */
static bool proxy_server_login_step(proxy_session *s, struct evbuffer *in)
{
    size_t avail;
    proto_header h;
    const char *reason = NULL;
    proto_frame_status fs = proxy_session_peek(
        in, PROTO_FROM_SERVER, s->ctx->settings->max_message_size, &h, &reason, &avail);
    if (fs == PROTO_FRAME_NEED_MORE)
        return false;
    if (fs == PROTO_FRAME_BAD) {
        proxy_server_fail(s, "invalid message from server", reason);
        return false;
    }
    if (avail < h.total)
        return false;
    uint8_t *msg = evbuffer_pullup(in, (ssize_t)h.total);
    if (!msg) {
        proxy_server_fail(s, "out of memory", "out_of_memory");
        return false;
    }
    const uint8_t *body = msg + PQ_MSG_HEADER_LEN;
    size_t blen = h.len - 4;
    struct evbuffer *cout = bufferevent_get_output(s->cbev);
    switch (h.type) {
    case PqMsg_AuthenticationRequest:
        if (s->state != PS_UP_AUTH) {
            proxy_server_fail(s, "unexpected authentication request", "upstream_protocol_error");
            return false;
        }
        proxy_server_on_auth(s, body, blen);
        break;
    case PqMsg_ErrorResponse: {
        proto_error_fields ef;
        proto_error_parse(body, blen, &ef);
        log_warn("proxy.upstream.error", "id=%llu code=%s message=\"%s\"",
                 (unsigned long long)s->id, ef.code ? ef.code : "-", ef.message ? ef.message : "-");
        evbuffer_add(cout, msg, h.total); /* the upstream's own words, every field */
        evbuffer_drain(in, h.total);
        proxy_session_close_after_flush(s, s->state == PS_UP_AUTH ? "upstream_auth_failed"
                                                                  : "upstream_login_error");
        return false;
    }
    case PqMsg_NoticeResponse:
        evbuffer_add(cout, msg, h.total);
        break;
    case PqMsg_ParameterStatus:
        if (proxy_lazy_on_param_status(s, msg, h.total))
            evbuffer_add(cout, msg, h.total);
        break;
    case PqMsg_BackendKeyData:
        if (blen == 8) {
            s->up_pid = (int32_t)proto_get_u32(body);
            s->up_key = (int32_t)proto_get_u32(body + 4);
            s->have_up_key = true;
        }
        if (s->lazy)
            break; /* the client has the proxy's key since its lazy startup */
        proxy_cancel_register(s);
        proto_put_backend_key(cout, s->pid, s->key);
        break;
    case PqMsg_NegotiateProtocolVersion:
        break; /* we asked for 3.0 with no options; nothing to adopt */
    case PqMsg_ReadyForQuery:
        if (s->state != PS_UP_READY_WAIT || blen != 1) {
            proxy_server_fail(s, "unexpected ReadyForQuery", "upstream_protocol_error");
            return false;
        }
        s->txn_status = (char)body[0];
        if (!s->in_cancel_map)
            proxy_cancel_register(s); /* no BackendKeyData: still give the client a key */
        if (!s->in_cancel_map) {
            proxy_server_fail(s, "out of memory", "out_of_memory");
            return false;
        }
        if (!s->lazy) /* a lazy client had its ReadyForQuery from the proxy */
            evbuffer_add(cout, msg, h.total);
        evbuffer_drain(in, h.total);
        proxy_lazy_on_login_done(s);
        proxy_server_go_relay(s);
        return false;
    default:
        proxy_server_fail(s, "unexpected message during login", "upstream_protocol_error");
        return false;
    }
    if (s->state == PS_CLOSING)
        return false;
    evbuffer_drain(in, h.total);
    return true;
}

static void proxy_server_read_cb(struct bufferevent *bev, void *arg)
{
    proxy_session *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    switch (s->state) {
    case PS_UP_SSL_REPLY:
        proxy_server_on_ssl_reply(s, in);
        return;
    case PS_UP_AUTH:
    case PS_UP_READY_WAIT:
        if (s->kind == PROXY_KIND_CANCEL) {
            evbuffer_drain(in, evbuffer_get_length(in));
            return;
        }
        while (proxy_server_login_step(s, in))
            ;
        return;
    case PS_RELAY:
        proxy_relay_server_read(bev, s);
        return;
    default:
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
}

void proxy_server_event_cb(struct bufferevent *bev, short what, void *arg)
{
    proxy_session *s = arg;
    const proxy_settings *set = s->ctx->settings;
    if (what & BEV_EVENT_CONNECTED) {
        if (s->state == PS_UP_CONNECTING) {
            int one = 1;
            evutil_socket_t fd = bufferevent_getfd(bev);
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            if (set->upstream_sslmode != PROXY_SSL_DISABLE && set->upstream_tls && !s->up_no_tls) {
                proto_put_ssl_request(bufferevent_get_output(bev));
                s->state = PS_UP_SSL_REPLY;
            } else {
                proxy_server_send_startup(s);
            }
        } else if (s->state == PS_UP_TLS_HANDSHAKE) {
            proxy_server_send_startup(s);
        }
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    if (s->kind == PROXY_KIND_CANCEL) {
        proxy_session_close(s, (what & BEV_EVENT_EOF) ? "cancel_sent" : "cancel_upstream_error");
        return;
    }
    /* Data and EOF can be reported together: handle the data (often a FATAL) first. */
    if (evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
        proxy_server_read_cb(bev, s);
        if (s->state == PS_CLOSING)
            return;
    }
    if (s->state == PS_RELAY) {
        /* Whatever the server said last (often a FATAL) is already forwarded. */
        if (s->last_client_type == PqMsg_Terminate)
            proxy_session_close(s, "client_terminate"); /* the server just followed the client */
        else
            proxy_session_close_after_flush(s, (what & BEV_EVENT_EOF) ? "server_closed"
                                                                      : "server_error");
        return;
    }
    /* sslmode=prefer, like libpq: a failed TLS handshake is retried in the clear. */
    if (s->state == PS_UP_TLS_HANDSHAKE && set->upstream_sslmode == PROXY_SSL_PREFER &&
        !s->up_no_tls) {
        log_info("proxy.upstream.tls_fallback", "id=%llu", (unsigned long long)s->id);
        s->up_no_tls = true;
        bufferevent_free(s->sbev);
        s->sbev = NULL;
        proxy_server_connect(s);
        return;
    }
    /* localhost may resolve to ::1 and 127.0.0.1: try the next address. */
    if (s->state == PS_UP_CONNECTING && s->kind == PROXY_KIND_CLIENT &&
        s->up_addr_index + 1 < set->up_naddrs) {
        s->up_addr_index++;
        bufferevent_free(s->sbev);
        s->sbev = NULL;
        proxy_server_connect(s);
        return;
    }
    char detail[200];
    unsigned long e = bufferevent_get_openssl_error(bev);
    if (e)
        ERR_error_string_n(e, detail, sizeof(detail));
    else
        snprintf(detail, sizeof(detail), "%s",
                 (what & BEV_EVENT_EOF) ? "server closed the connection"
                                        : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    proxy_server_fail(s, detail,
                      s->state == PS_UP_CONNECTING      ? "upstream_connect_failed"
                      : s->state == PS_UP_TLS_HANDSHAKE ? "upstream_tls_failed"
                                                        : "upstream_closed_during_login");
}
