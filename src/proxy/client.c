/*
 * client.c - the client side of a session until it relays: the startup
 * packet (SSLRequest -> TLS, GSSENCRequest refused, CancelRequest forwarded,
 * protocol 3.0 with NegotiateProtocolVersion for newer minors and _pq_
 * options), then authentication against the proxy's users (trust, MD5 or
 * SCRAM-SHA-256), then hands over to server.c. Everything it buffers is
 * bounded: startup packets by PQ_MAX_STARTUP_LEN, auth messages by
 * PROXY_AUTH_MSG_MAX. The session (session.c) owns all memory touched here.
 */
#include "proxy/session.h"

#include "util/common.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void proxy_client_login_timeout(evutil_socket_t fd, short what, void *arg)
{
    proxy_session *s = arg;
    if (s->state >= PS_UP_CONNECTING && s->state < PS_RELAY)
        proxy_session_fail(s, "08006", "upstream connection failed: login timed out",
                           "upstream_login_timeout");
    else if (s->state < PS_RELAY)
        proxy_session_close(s, "login_timeout");
}

static void proxy_client_peer_name(proxy_session *s, evutil_socket_t fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
            port = ntohs(a->sin6_port);
        }
    }
    snprintf(s->peer, sizeof(s->peer), "%s:%d", host, port);
}

void proxy_client_start(proxy_session *s, evutil_socket_t fd)
{
    proxy_ctx *ctx = s->ctx;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    proxy_client_peer_name(s, fd);
    s->cbev = bufferevent_socket_new(ctx->base, fd, BEV_OPT_CLOSE_ON_FREE);
    s->timer = evtimer_new(ctx->base, proxy_client_login_timeout, s);
    if (!s->cbev || !s->timer) {
        if (!s->cbev)
            evutil_closesocket(fd);
        proxy_session_close(s, "out_of_memory");
        return;
    }
    struct timeval tv = {ctx->settings->login_timeout_s, 0};
    evtimer_add(s->timer, &tv);
    bufferevent_setcb(s->cbev, proxy_client_read_cb, NULL, proxy_client_event_cb, s);
    bufferevent_enable(s->cbev, EV_READ | EV_WRITE);
}

/* Sends FATAL 08P01 for a protocol violation and closes with REASON. */
static void proxy_client_protocol_error(proxy_session *s, const char *reason)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "invalid frontend message: %s", reason);
    proxy_session_fail(s, "08P01", msg, reason);
}

static void proxy_client_auth_failed(proxy_session *s, const char *reason)
{
    char msg[160];
    snprintf(msg, sizeof(msg), "password authentication failed for user \"%s\"", s->user);
    log_warn("proxy.client.auth_failed", "client=%s user=%s reason=%s", s->peer, s->user_log,
             reason);
    proxy_session_fail(s, "28P01", msg, "auth_failed");
}

/* Authentication done: tell the client and open the upstream connection. */
static void proxy_client_auth_ok(proxy_session *s)
{
    proto_put_auth(bufferevent_get_output(s->cbev), PQ_AUTH_OK, NULL, 0);
    log_debug("proxy.client.auth_ok", "id=%llu user=%s", (unsigned long long)s->id, s->user_log);
    bufferevent_disable(s->cbev, EV_READ);
    if (proxy_lazy_answer_startup(s))
        return;
    proxy_server_connect(s);
}

static int proxy_client_start_tls(proxy_session *s)
{
    proxy_ctx *ctx = s->ctx;
    SSL *ssl = SSL_new(ctx->settings->client_tls);
    if (!ssl)
        return T_ERR;
    struct bufferevent *tls = bufferevent_openssl_filter_new(
        ctx->base, s->cbev, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!tls) {
        SSL_free(ssl);
        return T_ERR;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
    /* The filter stops encrypting while the socket's output holds this much,
     * so backpressure shows on the filter's own output. */
    bufferevent_setwatermark(s->cbev, EV_WRITE, 0, PROXY_TLS_UNDER_HIGH_WATER);
    s->cbev = tls;
    s->client_tls = true;
    s->state = PS_TLS_HANDSHAKE;
    bufferevent_setcb(tls, proxy_client_read_cb, NULL, proxy_client_event_cb, s);
    bufferevent_enable(tls, EV_READ | EV_WRITE);
    return T_OK;
}

/* Copies the startup parameters to pass upstream into s->params, sized to
 * fit (at most PROXY_PARAMS_MAX bytes; an idle session keeps only what it
 * needs). Returns T_ERR when out of memory. */
static int proxy_client_save_params(proxy_session *s, const proto_startup *st)
{
    size_t total = 0;
    for (size_t i = 0; i < st->nparams; i++)
        total += strlen(st->names[i]) + strlen(st->values[i]) + 2;
    if (total > PROXY_PARAMS_MAX)
        total = PROXY_PARAMS_MAX;
    free(s->params);
    s->params = malloc(total ? total : 1);
    if (!s->params)
        return T_ERR;
    s->params_len = 0;
    s->nparams = 0;
    for (size_t i = 0; i < st->nparams; i++) {
        const char *n = st->names[i], *v = st->values[i];
        if (strcmp(n, "user") == 0 || strcmp(n, "database") == 0)
            continue;
        size_t nl = strlen(n) + 1, vl = strlen(v) + 1;
        if (s->params_len + nl + vl > total)
            break;
        memcpy(s->params + s->params_len, n, nl);
        memcpy(s->params + s->params_len + nl, v, vl);
        s->params_len += nl + vl;
        s->nparams++;
    }
    return T_OK;
}

/* A normal startup packet: negotiate, then begin authentication. */
static void proxy_client_on_startup(proxy_session *s, const proto_startup *st)
{
    proxy_ctx *ctx = s->ctx;
    struct evbuffer *out = bufferevent_get_output(s->cbev);
    snprintf(s->user, sizeof(s->user), "%s", st->user);
    size_t i;
    for (i = 0; s->user[i] && i + 1 < sizeof(s->user_log); i++) {
        unsigned char ch = (unsigned char)s->user[i];
        s->user_log[i] = (ch <= ' ' || ch == '"' || ch == 0x7f) ? '?' : (char)ch;
    }
    s->user_log[i] = '\0';
    if (s->over_limit) {
        proxy_session_fail(s, "53300", "sorry, too many clients already (max_client_conn)",
                           "max_client_conn");
        return;
    }
    if (ctx->draining) {
        proxy_session_fail(s, "57P03", "the database system is shutting down", "shutting_down");
        return;
    }
    if ((st->version & 0xffff) != 0 || st->nunknown_pq > 0)
        proto_put_negotiate_version(out, 0, st->unknown_pq, st->nunknown_pq);
    if (proxy_client_save_params(s, st) != T_OK) {
        proxy_session_close_after_flush(s, "out_of_memory");
        return;
    }
    const proxy_settings *set = ctx->settings;
    switch (set->auth_type) {
    case PROXY_AUTH_TRUST:
        proxy_client_auth_ok(s);
        return;
    case PROXY_AUTH_MD5:
        RAND_bytes(s->md5_salt, sizeof(s->md5_salt));
        proto_put_auth(out, PQ_AUTH_MD5, s->md5_salt, sizeof(s->md5_salt));
        s->state = PS_AUTH_MD5;
        return;
    case PROXY_AUTH_SCRAM: {
        /* on TLS, channel binding is offered first, as Postgres does */
        static const char mechs[] = SCRAM_MECHANISM "\0";
        static const char mechs_tls[] = SCRAM_MECHANISM_PLUS "\0" SCRAM_MECHANISM "\0";
        if (s->client_tls)
            proto_put_auth(out, PQ_AUTH_SASL, mechs_tls, sizeof(mechs_tls));
        else
            proto_put_auth(out, PQ_AUTH_SASL, mechs, sizeof(mechs));
        s->state = PS_AUTH_SASL_INIT;
        return;
    }
    }
}

static void proxy_client_on_md5(proxy_session *s, const uint8_t *body, size_t len)
{
    proto_reader r;
    proto_reader_init(&r, body, len);
    const char *resp = proto_read_cstring(&r);
    if (!resp) {
        proxy_client_protocol_error(s, "bad_password_message");
        return;
    }
    const proxy_user *u = proxy_users_find(s->ctx->settings->users, s->user);
    char secret[36], want[36];
    if (!u || u->kind == PROXY_SECRET_SCRAM) {
        proxy_client_auth_failed(s, u ? "scram_secret_with_md5_auth" : "unknown_user");
        return;
    }
    if (u->kind == PROXY_SECRET_MD5)
        snprintf(secret, sizeof(secret), "%s", u->secret);
    else
        proxy_md5_secret(u->secret, s->user, secret);
    proxy_md5_response(secret, s->md5_salt, want);
    if (!proxy_secret_equal(want, resp)) {
        proxy_client_auth_failed(s, "password_mismatch");
        return;
    }
    proxy_client_auth_ok(s);
}

static void proxy_client_on_sasl_init(proxy_session *s, const uint8_t *body, size_t len)
{
    proto_reader r;
    proto_reader_init(&r, body, len);
    const char *mech = proto_read_cstring(&r);
    int32_t n = proto_read_int32(&r);
    const uint8_t *data = n >= 0 ? proto_read_bytes(&r, (size_t)n) : NULL;
    if (!mech || !data) {
        proxy_client_protocol_error(s, "bad_sasl_initial_response");
        return;
    }
    bool plus = s->client_tls && strcmp(mech, SCRAM_MECHANISM_PLUS) == 0;
    if (!plus && strcmp(mech, SCRAM_MECHANISM) != 0) {
        proxy_session_fail(s, "28000", "client selected an invalid SASL authentication mechanism",
                           "bad_sasl_mechanism");
        return;
    }
    s->scram = calloc(1, sizeof(*s->scram));
    if (!s->scram) {
        proxy_session_close_after_flush(s, "out_of_memory");
        return;
    }
    s->scram->plus_offered = s->client_tls;
    s->scram->plus_selected = plus;
    if (plus) {
        SSL *ssl = bufferevent_openssl_get_ssl(s->cbev);
        if (!ssl || proxy_scram_tls_end_point(SSL_get_certificate(ssl), s->scram->cbind,
                                              &s->scram->cbind_len) != T_OK) {
            proxy_session_fail(s, "28000", "could not compute the TLS channel binding data",
                               "scram_channel_binding_unavailable");
            return;
        }
    }
    proxy_user *u = proxy_users_find(s->ctx->settings->users, s->user);
    int rc = T_ERR;
    if (u && u->kind == PROXY_SECRET_SCRAM) {
        rc = proxy_scram_parse_secret(u->secret, &s->scram->keys);
    } else if (u && u->kind == PROXY_SECRET_PLAIN) {
        if (!u->derived) {
            proxy_scram_keys *k = malloc(sizeof(*k));
            if (k && proxy_scram_keys_from_password(u->secret, k) == T_OK)
                u->derived = k;
            else
                free(k);
        }
        if (u->derived) {
            s->scram->keys = *u->derived;
            rc = T_OK;
        }
    }
    if (rc != T_OK)
        proxy_scram_mock_keys(&s->scram->keys); /* fails at the proof, like Postgres */
    char reply[SCRAM_MSG_MAX];
    const char *reason = NULL;
    if (proxy_scram_server_first(s->scram, data, (size_t)n, reply, sizeof(reply), &reason) !=
        T_OK) {
        proxy_client_protocol_error(s, reason);
        return;
    }
    proto_put_auth(bufferevent_get_output(s->cbev), PQ_AUTH_SASL_CONTINUE, reply, strlen(reply));
    s->state = PS_AUTH_SASL_FINAL;
}

static void proxy_client_on_sasl_final(proxy_session *s, const uint8_t *body, size_t len)
{
    char reply[SCRAM_MSG_MAX];
    const char *reason = NULL;
    if (proxy_scram_server_final(s->scram, body, len, reply, sizeof(reply), &reason) != T_OK) {
        if (strcmp(reason, "password_mismatch") == 0 ||
            !proxy_users_find(s->ctx->settings->users, s->user))
            proxy_client_auth_failed(s, reason);
        else
            proxy_client_protocol_error(s, reason);
        return;
    }
    const proxy_user *u = proxy_users_find(s->ctx->settings->users, s->user);
    if (!u) { /* mock keys cannot verify, but be explicit */
        proxy_client_auth_failed(s, "unknown_user");
        return;
    }
    proto_put_auth(bufferevent_get_output(s->cbev), PQ_AUTH_SASL_FINAL, reply, strlen(reply));
    proxy_client_auth_ok(s);
}

/* Handles one complete startup packet at the head of IN. Returns false to stop reading. */
static bool proxy_client_startup_step(proxy_session *s, struct evbuffer *in)
{
    size_t avail = evbuffer_get_length(in);
    uint8_t head[4];
    uint32_t len = 0;
    const char *reason = NULL;
    evbuffer_copyout(in, head, avail < 4 ? avail : 4);
    proto_frame_status fs = proto_startup_length(head, avail, &len, &reason);
    if (fs == PROTO_FRAME_NEED_MORE)
        return false;
    if (fs == PROTO_FRAME_BAD) {
        proxy_client_protocol_error(s, reason);
        return false;
    }
    if (avail < len)
        return false;
    uint8_t *pkt = evbuffer_pullup(in, len);
    if (!pkt) {
        proxy_session_close_after_flush(s, "out_of_memory");
        return false;
    }
    proto_startup st;
    if (proto_startup_parse(pkt, len, &st, &reason) != T_OK) {
        if (st.kind == PROTO_STARTUP_NORMAL && (st.version >> 16) != 3)
            proxy_session_fail(s, "0A000", "unsupported frontend protocol", reason);
        else
            proxy_client_protocol_error(s, reason);
        return false;
    }
    switch (st.kind) {
    case PROTO_STARTUP_SSL:
        evbuffer_drain(in, len);
        if (s->client_tls) {
            proxy_client_protocol_error(s, "ssl_request_inside_tls");
            return false;
        }
        if (!s->ctx->settings->client_tls) {
            bufferevent_write(s->cbev, "N", 1);
            return true;
        }
        if (evbuffer_get_length(in) != 0) {
            /* Bytes sent before the handshake must not be trusted (CVE-2021-23214). */
            proxy_session_close(s, "data_after_ssl_request");
            return false;
        }
        bufferevent_write(s->cbev, "S", 1);
        if (proxy_client_start_tls(s) != T_OK)
            proxy_session_close(s, "tls_setup_failed");
        return false;
    case PROTO_STARTUP_GSSENC:
        evbuffer_drain(in, len);
        bufferevent_write(s->cbev, "N", 1);
        return true;
    case PROTO_STARTUP_CANCEL:
        proxy_cancel_forward(s->ctx, st.cancel_pid, st.cancel_key, s->peer);
        evbuffer_drain(in, len);
        proxy_session_close(s, "cancel_request");
        return false;
    case PROTO_STARTUP_NORMAL:
        proxy_client_on_startup(s, &st);
        evbuffer_drain(in, len);
        return s->state != PS_CLOSING && s->state != PS_UP_CONNECTING;
    }
    return false;
}

/* Handles one complete auth message at the head of IN. Returns false to stop reading. */
static bool proxy_client_auth_step(proxy_session *s, struct evbuffer *in)
{
    size_t avail;
    proto_header h;
    const char *reason = NULL;
    proto_frame_status fs =
        proxy_session_peek(in, PROTO_FROM_CLIENT, PROXY_AUTH_MSG_MAX, &h, &reason, &avail);
    if (fs == PROTO_FRAME_NEED_MORE)
        return false;
    if (fs == PROTO_FRAME_BAD) {
        proxy_client_protocol_error(s, reason);
        return false;
    }
    if (h.type == PqMsg_Terminate) {
        proxy_session_close(s, "client_terminate");
        return false;
    }
    if (h.type != PqMsg_PasswordMessage) {
        proxy_client_protocol_error(s, "expected_password_message");
        return false;
    }
    if (avail < h.total)
        return false;
    uint8_t *msg = evbuffer_pullup(in, (ssize_t)h.total);
    if (!msg) {
        proxy_session_close(s, "out_of_memory");
        return false;
    }
    const uint8_t *body = msg + PQ_MSG_HEADER_LEN;
    size_t blen = h.len - 4;
    proxy_state st = s->state;
    if (st == PS_AUTH_MD5)
        proxy_client_on_md5(s, body, blen);
    else if (st == PS_AUTH_SASL_INIT)
        proxy_client_on_sasl_init(s, body, blen);
    else
        proxy_client_on_sasl_final(s, body, blen);
    if (s->state == PS_CLOSING)
        return false;
    evbuffer_drain(in, h.total);
    return s->state == PS_AUTH_SASL_FINAL || s->state == PS_LAZY_IDLE;
}

void proxy_client_read_cb(struct bufferevent *bev, void *arg)
{
    proxy_session *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        switch (s->state) {
        case PS_STARTUP:
            if (!proxy_client_startup_step(s, in))
                return;
            break;
        case PS_AUTH_MD5:
        case PS_AUTH_SASL_INIT:
        case PS_AUTH_SASL_FINAL:
            if (!proxy_client_auth_step(s, in))
                return;
            break;
        case PS_RELAY:
            proxy_relay_client_read(bev, s);
            return;
        case PS_LAZY_IDLE:
            proxy_lazy_client_read(s, in);
            return;
        default:
            return; /* waiting for upstream; the bytes stay buffered */
        }
    }
}

void proxy_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
    proxy_session *s = arg;
    if (what & BEV_EVENT_CONNECTED) {
        if (s->state == PS_TLS_HANDSHAKE) {
            s->state = PS_STARTUP;
            log_debug("proxy.client.tls", "id=%llu", (unsigned long long)s->id);
            proxy_client_read_cb(bev, s);
        }
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        /* Data and EOF can be reported together (TLS): relay the data (often a
         * Terminate) first. */
        if (s->state == PS_RELAY && evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
            proxy_relay_client_read(bev, s);
            if (s->state != PS_RELAY)
                return;
        }
        if (s->state == PS_RELAY && (what & BEV_EVENT_EOF))
            proxy_pool_release(s); /* gone without Terminate: keep an idle upstream */
        const char *reason;
        if (s->state == PS_TLS_HANDSHAKE)
            reason = "tls_handshake_failed";
        else if (s->state == PS_LAZY_IDLE)
            reason = (what & BEV_EVENT_EOF) ? "client_disconnect" : "client_error";
        else if (s->state == PS_RELAY && s->last_client_type == PqMsg_Terminate)
            reason = "client_terminate";
        else if (s->state < PS_RELAY)
            reason =
                (what & BEV_EVENT_EOF) ? "client_eof_during_login" : "client_error_during_login";
        else
            reason = (what & BEV_EVENT_EOF) ? "client_disconnect" : "client_error";
        proxy_session_close(s, reason);
    }
}

void proxy_client_enter_relay(proxy_session *s)
{
    if (s->ctx->draining) {
        proxy_session_fail(s, "57P01", "terminating connection due to administrator command",
                           "shutdown");
        return;
    }
    s->state = PS_RELAY;
    if (s->timer)
        evtimer_del(s->timer);
    bufferevent_setcb(s->cbev, proxy_client_read_cb, proxy_relay_client_write,
                      proxy_client_event_cb, s);
    bufferevent_setwatermark(s->cbev, EV_WRITE, PROXY_LOW_WATER, 0);
    bufferevent_enable(s->cbev, EV_READ);
    proxy_relay_start(s);
    log_debug("proxy.client.relay", "id=%llu", (unsigned long long)s->id);
    /* A client may have pipelined its first query behind the startup. */
    if (evbuffer_get_length(bufferevent_get_input(s->cbev)) > 0)
        proxy_relay_client_read(s->cbev, s);
}
