/*
 * proxy.c - the proxy's lifecycle: settings from configuration (users file,
 * TLS contexts, upstream URL parsed by libpq's PQconninfoParse and resolved
 * once), the listener with its connection limit, signals (SIGTERM/SIGINT
 * drain, SIGHUP reload) and proxy_run() itself.
 * Memory: proxy_run owns the proxy_ctx and the current proxy_settings; a
 * reload builds new settings and frees the old ones (OpenSSL reference-counts
 * contexts still used by live connections).
 */
#include "proxy/proxy.h"

#include "proxy/sendq.h"
#include "proxy/session.h"
#include "util/common.h"
#include "util/log.h"
#include "writethrough/writethrough.h"

#include <errno.h>
#include <event2/buffer.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROXY_MAX_REJECTING 64 /* over-limit clients being sent 53300 at once */
#define PROXY_BACKLOG 1024

static void proxy_settings_free(proxy_settings *set)
{
    if (!set)
        return;
    proxy_users_free(set->users);
    if (set->client_tls)
        SSL_CTX_free(set->client_tls);
    if (set->upstream_tls)
        SSL_CTX_free(set->upstream_tls);
    proxy_lazy_cache_free(set->param_cache);
    OPENSSL_cleanse(set->up_password, sizeof(set->up_password));
    free(set);
}

static int proxy_parse_sslmode(const char *v, proxy_sslmode *out)
{
    static const struct {
        const char *name;
        proxy_sslmode mode;
    } modes[] = {{"disable", PROXY_SSL_DISABLE},     {"allow", PROXY_SSL_PREFER},
                 {"prefer", PROXY_SSL_PREFER},       {"require", PROXY_SSL_REQUIRE},
                 {"verify-ca", PROXY_SSL_VERIFY_CA}, {"verify-full", PROXY_SSL_VERIFY_FULL}};
    for (size_t i = 0; i < T_ARRAY_LEN(modes); i++)
        if (strcmp(v, modes[i].name) == 0) {
            *out = modes[i].mode;
            return T_OK;
        }
    return T_ERR;
}

static int proxy_copy(char *dst, size_t dstlen, const char *src, const char *what, char *errbuf,
                      size_t errlen)
{
    if (!src)
        src = "";
    if (strlen(src) >= dstlen) {
        snprintf(errbuf, errlen, "upstream %s is too long", what);
        return T_ERR;
    }
    memcpy(dst, src, strlen(src) + 1);
    return T_OK;
}

/* Upstream URL -> host/port/user/password/dbname/sslmode, then resolve. */
static int proxy_settings_upstream(proxy_settings *set, const tether_config *cfg, char *errbuf,
                                   size_t errlen)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(cfg->proxy_upstream, &perr);
    const char *sslmode = cfg->proxy_upstream_sslmode ? cfg->proxy_upstream_sslmode : "prefer";
    const char *rootcert = NULL;
    int rc = T_ERR;
    if (!opts) {
        snprintf(errbuf, errlen, "bad upstream URL: %s", perr ? perr : "out of memory");
        PQfreemem(perr);
        return T_ERR;
    }
    const char *host = NULL, *port = NULL, *user = NULL, *password = NULL, *dbname = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0 && !host)
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "user") == 0)
            user = o->val;
        else if (strcmp(o->keyword, "password") == 0)
            password = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            dbname = o->val;
        else if (strcmp(o->keyword, "sslmode") == 0)
            sslmode = o->val;
        else if (strcmp(o->keyword, "sslrootcert") == 0)
            rootcert = o->val;
    }
    if (!host || !host[0])
        host = "localhost";
    if (host[0] == '/' || strchr(host, ',')) {
        snprintf(errbuf, errlen, "upstream host must be one TCP host name or address");
        goto failed;
    }
    if (!user || !user[0]) {
        snprintf(errbuf, errlen, "upstream URL has no user");
        goto failed;
    }
    if (proxy_copy(set->up_host, sizeof(set->up_host), host, "host", errbuf, errlen) != T_OK ||
        proxy_copy(set->up_port, sizeof(set->up_port), port && port[0] ? port : "5432", "port",
                   errbuf, errlen) != T_OK ||
        proxy_copy(set->up_user, sizeof(set->up_user), user, "user", errbuf, errlen) != T_OK ||
        proxy_copy(set->up_password, sizeof(set->up_password), password, "password", errbuf,
                   errlen) != T_OK ||
        proxy_copy(set->up_dbname, sizeof(set->up_dbname), dbname ? dbname : user, "database",
                   errbuf, errlen) != T_OK)
        goto failed;
    if (proxy_parse_sslmode(sslmode, &set->upstream_sslmode) != T_OK) {
        snprintf(errbuf, errlen, "bad upstream sslmode '%s'", sslmode);
        goto failed;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(set->up_host, set->up_port, &hints, &res);
    if (gai != 0 || !res) {
        snprintf(errbuf, errlen, "cannot resolve upstream %s:%s: %s", set->up_host, set->up_port,
                 gai_strerror(gai));
        goto failed;
    }
    for (struct addrinfo *ai = res; ai && set->up_naddrs < PROXY_MAX_UP_ADDRS; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(set->up_addr[0]))
            continue;
        memcpy(&set->up_addr[set->up_naddrs], ai->ai_addr, ai->ai_addrlen);
        set->up_addrlen[set->up_naddrs] = ai->ai_addrlen;
        set->up_naddrs++;
    }
    freeaddrinfo(res);
    if (set->up_naddrs == 0) {
        snprintf(errbuf, errlen, "cannot resolve upstream %s:%s", set->up_host, set->up_port);
        goto failed;
    }
    if (set->upstream_sslmode != PROXY_SSL_DISABLE) {
        set->upstream_tls = SSL_CTX_new(TLS_client_method());
        if (!set->upstream_tls) {
            snprintf(errbuf, errlen, "cannot create the upstream TLS context");
            goto failed;
        }
        SSL_CTX_set_min_proto_version(set->upstream_tls, TLS1_2_VERSION);
        if (set->upstream_sslmode >= PROXY_SSL_VERIFY_CA) {
            SSL_CTX_set_verify(set->upstream_tls, SSL_VERIFY_PEER, NULL);
            int ok = rootcert ? SSL_CTX_load_verify_locations(set->upstream_tls, rootcert, NULL)
                              : SSL_CTX_set_default_verify_paths(set->upstream_tls);
            if (ok != 1) {
                snprintf(errbuf, errlen, "cannot load upstream root certificates");
                goto failed;
            }
        }
    }
    rc = T_OK;
failed:
    PQconninfoFree(opts);
    return rc;
}

static int proxy_settings_client_tls(proxy_settings *set, const tether_config *cfg, char *errbuf,
                                     size_t errlen)
{
    const char *cert = cfg->proxy_tls_cert, *key = cfg->proxy_tls_key;
    if ((!cert || !cert[0]) && (!key || !key[0]))
        return T_OK;
    if (!cert || !cert[0] || !key || !key[0]) {
        snprintf(errbuf, errlen, "TLS needs both tls_cert and tls_key");
        return T_ERR;
    }
    set->client_tls = SSL_CTX_new(TLS_server_method());
    if (!set->client_tls) {
        snprintf(errbuf, errlen, "cannot create the TLS context");
        return T_ERR;
    }
    SSL_CTX_set_min_proto_version(set->client_tls, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(set->client_tls, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(set->client_tls, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(set->client_tls) != 1) {
        char e[200];
        ERR_error_string_n(ERR_get_error(), e, sizeof(e));
        snprintf(errbuf, errlen, "cannot load TLS certificate %s / key %s: %s", cert, key, e);
        ERR_clear_error();
        return T_ERR;
    }
    return T_OK;
}

/* Builds settings from CFG. Returns NULL with the reason in ERRBUF. */
static proxy_settings *proxy_settings_build(const tether_config *cfg, char *errbuf, size_t errlen)
{
    proxy_settings *set = calloc(1, sizeof(*set));
    if (!set) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    const char *auth = cfg->proxy_auth_type ? cfg->proxy_auth_type : "scram";
    if (strcmp(auth, "trust") == 0)
        set->auth_type = PROXY_AUTH_TRUST;
    else if (strcmp(auth, "md5") == 0)
        set->auth_type = PROXY_AUTH_MD5;
    else if (strcmp(auth, "scram") == 0 || strcmp(auth, "scram-sha-256") == 0)
        set->auth_type = PROXY_AUTH_SCRAM;
    else {
        snprintf(errbuf, errlen, "unknown auth_type '%s' (trust, md5 or scram)", auth);
        goto failed;
    }
    if (cfg->proxy_auth_file && cfg->proxy_auth_file[0]) {
        if (proxy_users_load(cfg->proxy_auth_file, &set->users, errbuf, errlen) != T_OK)
            goto failed;
    } else if (set->auth_type != PROXY_AUTH_TRUST) {
        snprintf(errbuf, errlen, "auth_type %s needs a users file (auth_file / --users)", auth);
        goto failed;
    }
    if (set->users && set->auth_type != PROXY_AUTH_TRUST) {
        /* MD5 secrets cannot answer SCRAM, nor SCRAM secrets MD5. */
        proxy_secret_kind unusable =
            set->auth_type == PROXY_AUTH_SCRAM ? PROXY_SECRET_MD5 : PROXY_SECRET_SCRAM;
        size_t n = 0;
        for (size_t i = 0; i < set->users->n; i++)
            n += set->users->items[i].kind == unusable;
        if (n)
            log_warn("proxy.users.unusable", "count=%zu auth=%s note=\"%s secrets cannot log in "
                     "with this auth_type\"", n, auth,
                     unusable == PROXY_SECRET_MD5 ? "md5" : "SCRAM");
    }
    set->max_message_size = (uint32_t)cfg->proxy_max_message_size;
    set->max_client_conn = cfg->proxy_max_client_conn;
    set->login_timeout_s = cfg->proxy_login_timeout_s > 0 ? cfg->proxy_login_timeout_s : 15;
    set->shutdown_timeout_s = cfg->proxy_shutdown_timeout_s;
    set->server_idle_timeout_s = cfg->proxy_server_idle_timeout_s;
    const char *lazy = cfg->proxy_lazy_connect ? cfg->proxy_lazy_connect : "on";
    if (strcmp(lazy, "on") == 0 || strcmp(lazy, "true") == 0 || strcmp(lazy, "1") == 0)
        set->lazy_connect = true;
    else if (strcmp(lazy, "off") == 0 || strcmp(lazy, "false") == 0 || strcmp(lazy, "0") == 0)
        set->lazy_connect = false;
    else {
        snprintf(errbuf, errlen, "lazy_connect must be on or off, not '%s'", lazy);
        goto failed;
    }
    if (!cfg->proxy_upstream || !cfg->proxy_upstream[0]) {
        snprintf(errbuf, errlen, "no upstream database ([proxy] upstream)");
        goto failed;
    }
    if (proxy_settings_client_tls(set, cfg, errbuf, errlen) != T_OK ||
        proxy_settings_upstream(set, cfg, errbuf, errlen) != T_OK)
        goto failed;
    return set;
failed:
    proxy_settings_free(set);
    return NULL;
}

static void proxy_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *addr,
                            int socklen, void *arg)
{
    proxy_ctx *ctx = arg;
    bool over = ctx->nclients >= ctx->settings->max_client_conn;
    if (ctx->draining || (over && ctx->nrejecting >= PROXY_MAX_REJECTING)) {
        log_warn("proxy.client.close", "reason=%s",
                 ctx->draining ? "shutting_down" : "max_client_conn_flood");
        evutil_closesocket(fd);
        return;
    }
    evutil_make_socket_nonblocking(fd);
    proxy_session *s = proxy_session_new(ctx, PROXY_KIND_CLIENT);
    if (!s) {
        log_error("proxy.client.close", "reason=out_of_memory");
        evutil_closesocket(fd);
        return;
    }
    if (over) {
        s->over_limit = true;
        ctx->nrejecting++;
    }
    proxy_client_start(s, fd);
}

static void proxy_accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    proxy_ctx *ctx = arg;
    if (!ctx->draining && ctx->listener)
        evconnlistener_enable(ctx->listener);
}

/* Out of descriptors: pause accepting for a moment instead of spinning. */
static void proxy_accept_error_cb(struct evconnlistener *l, void *arg)
{
    proxy_ctx *ctx = arg;
    int err = EVUTIL_SOCKET_ERROR();
    log_warn("proxy.accept.error", "error=\"%s\" sessions=%d", evutil_socket_error_to_string(err),
             ctx->nclients);
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        evconnlistener_disable(l);
        struct timeval tv = {0, 100 * 1000};
        event_base_once(ctx->base, -1, EV_TIMEOUT, proxy_accept_resume_cb, ctx, &tv);
    }
}

/* Raises the descriptor limit toward what max_client_conn needs (two per client). */
static void proxy_raise_nofile(int max_client_conn)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)max_client_conn * 2 + 64;
    if (rl.rlim_cur >= want)
        return;
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
        log_info("proxy.nofile",
                 "limit=%llu needed=%llu note=\"raise ulimit -n for max_client_conn\"",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)want);
    else
        log_debug("proxy.nofile", "old=%llu new=%llu", (unsigned long long)old,
                  (unsigned long long)rl.rlim_cur);
}

void proxy_maybe_finish_drain(proxy_ctx *ctx)
{
    if (ctx->draining && !ctx->sessions) {
        log_info("proxy.stopped", "reason=drained");
        event_base_loopexit(ctx->base, NULL);
    }
}

/* Ends every session that is idle (or all of them when FORCE). */
static void proxy_drain_sweep(proxy_ctx *ctx, bool force)
{
    proxy_session *next;
    for (proxy_session *s = ctx->sessions; s; s = next) {
        next = s->next;
        if (s->state == PS_CLOSING || s->kind != PROXY_KIND_CLIENT)
            continue;
        if (force || proxy_session_idle(s))
            proxy_session_fail(s, "57P01", "terminating connection due to administrator command",
                               force ? "shutdown_timeout" : "shutdown");
    }
}

static void proxy_drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    proxy_ctx *ctx = arg;
    log_warn("proxy.drain.timeout", "sessions_left=%d", ctx->nclients);
    proxy_drain_sweep(ctx, true);
    /* Lingering closes flush within ~2 s; then stop regardless. */
    struct timeval tv = {3, 0};
    event_base_loopexit(ctx->base, &tv);
}

static void proxy_signal_term_cb(evutil_socket_t sig, short what, void *arg)
{
    proxy_ctx *ctx = arg;
    if (ctx->draining) {
        log_info("proxy.drain.force", "signal=%d", (int)sig);
        proxy_drain_sweep(ctx, true);
        struct timeval tv = {3, 0};
        event_base_loopexit(ctx->base, &tv);
        return;
    }
    ctx->draining = true;
    log_info("proxy.drain", "signal=%d sessions=%d timeout_s=%d", (int)sig, ctx->nclients,
             ctx->settings->shutdown_timeout_s);
    if (ctx->listener)
        evconnlistener_disable(ctx->listener);
    proxy_pool_flush(ctx, "shutdown");
    proxy_drain_sweep(ctx, false);
    struct timeval tv = {ctx->settings->shutdown_timeout_s, 0};
    evtimer_add(ctx->drain_timer, &tv);
    proxy_maybe_finish_drain(ctx);
}

static void proxy_signal_hup_cb(evutil_socket_t sig, short what, void *arg)
{
    proxy_ctx *ctx = arg;
    char err[T_ERRBUF_SIZE] = "";
    proxy_settings *set = NULL;
    if (ctx->reload) {
        tether_config fresh;
        if (ctx->reload(ctx->reload_arg, &fresh) != T_OK) {
            log_error("proxy.reload.fail", "reason=config");
            return;
        }
        set = proxy_settings_build(&fresh, err, sizeof(err));
        if (set && fresh.proxy_listen && ctx->cfg->proxy_listen &&
            strcmp(fresh.proxy_listen, ctx->cfg->proxy_listen) != 0)
            log_warn("proxy.reload.listen", "note=\"listen address changes need a restart\"");
        config_free(&fresh);
    } else {
        set = proxy_settings_build(ctx->cfg, err, sizeof(err));
    }
    if (!set) {
        log_error("proxy.reload.fail", "error=\"%s\"", err);
        return;
    }
    proxy_pool_flush(ctx, "reload"); /* the upstream or its login may have changed */
    proxy_settings_free(ctx->settings);
    ctx->settings = set;
    log_info("proxy.reload", "users=%zu auth=%d max_client_conn=%d", set->users ? set->users->n : 0,
             (int)set->auth_type, set->max_client_conn);
}

static struct evconnlistener *proxy_listen(proxy_ctx *ctx, const char *listen, char *errbuf,
                                           size_t errlen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host) || !colon[1]) {
        snprintf(errbuf, errlen, "listen address '%s' is not HOST:PORT", listen);
        return NULL;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *h = host;
    if (h[0] == '[' && h[strlen(h) - 1] == ']') {
        h[strlen(h) - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = getaddrinfo(strcmp(h, "*") == 0 ? NULL : h, colon + 1, &hints, &res);
    if (gai != 0 || !res) {
        snprintf(errbuf, errlen, "cannot resolve listen address '%s': %s", listen,
                 gai_strerror(gai));
        return NULL;
    }
    struct evconnlistener *l = evconnlistener_new_bind(
        ctx->base, proxy_accept_cb, ctx, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, PROXY_BACKLOG,
        res->ai_addr, (int)res->ai_addrlen);
    if (!l)
        snprintf(errbuf, errlen, "cannot listen on %s: %s", listen, strerror(errno));
    freeaddrinfo(res);
    if (l)
        evconnlistener_set_error_cb(l, proxy_accept_error_cb);
    return l;
}

int proxy_run_with_reload(const tether_config *cfg, proxy_reload_fn reload, void *arg)
{
    char err[T_ERRBUF_SIZE] = "";
    int rc = T_ERR;
    proxy_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.cfg = cfg;
    ctx.reload = reload;
    ctx.reload_arg = arg;
    uint32_t seed = 0;
    RAND_bytes((unsigned char *)&seed, sizeof(seed));
    ctx.next_pid = seed & 0x3fffffff;
    signal(SIGPIPE, SIG_IGN);
    ctx.settings = proxy_settings_build(cfg, err, sizeof(err));
    if (!ctx.settings)
        goto failed;
    ctx.wt = wt_engine_new(cfg, err, sizeof(err)); /* NULL with empty err: no syncs */
    if (!ctx.wt && err[0])
        goto failed;
    proxy_raise_nofile(ctx.settings->max_client_conn);
    ctx.base = event_base_new();
    if (!ctx.base) {
        snprintf(err, sizeof(err), "cannot create the event loop");
        goto failed;
    }
    const char *uring = cfg->proxy_io_uring ? cfg->proxy_io_uring : "on";
    if (strcmp(uring, "on") == 0) {
        ctx.sendq = proxy_sendq_new(); /* NULL (logged): one send() per run instead */
    } else if (strcmp(uring, "off") != 0) {
        snprintf(err, sizeof(err), "io_uring must be on or off, not '%s'", uring);
        goto failed;
    }
    if (ctx.wt && wt_engine_start(ctx.wt, ctx.base, err, sizeof(err)) != T_OK)
        goto failed;
    const char *listen = cfg->proxy_listen ? cfg->proxy_listen : "127.0.0.1:6432";
    ctx.listener = proxy_listen(&ctx, listen, err, sizeof(err));
    if (!ctx.listener)
        goto failed;
    ctx.sig_term = evsignal_new(ctx.base, SIGTERM, proxy_signal_term_cb, &ctx);
    ctx.sig_int = evsignal_new(ctx.base, SIGINT, proxy_signal_term_cb, &ctx);
    ctx.sig_hup = evsignal_new(ctx.base, SIGHUP, proxy_signal_hup_cb, &ctx);
    ctx.drain_timer = evtimer_new(ctx.base, proxy_drain_timeout_cb, &ctx);
    if (!ctx.sig_term || !ctx.sig_int || !ctx.sig_hup || !ctx.drain_timer ||
        evsignal_add(ctx.sig_term, NULL) || evsignal_add(ctx.sig_int, NULL) ||
        evsignal_add(ctx.sig_hup, NULL)) {
        snprintf(err, sizeof(err), "cannot install signal handlers");
        goto failed;
    }
    log_info("proxy.listen",
             "addr=%s upstream=%s:%s db=%s auth=%s tls=%d upstream_sslmode=%d "
             "max_client_conn=%d io_uring=%d",
             listen, ctx.settings->up_host, ctx.settings->up_port, ctx.settings->up_dbname,
             cfg->proxy_auth_type ? cfg->proxy_auth_type : "scram",
             ctx.settings->client_tls != NULL, (int)ctx.settings->upstream_sslmode,
             ctx.settings->max_client_conn, ctx.sendq != NULL);
    /* One pass of the loop at a time: the relay's sends staged during a pass
     * go out together after it (sendq.c), before the loop waits again. */
    for (;;) {
        int r = event_base_loop(ctx.base, EVLOOP_ONCE);
        proxy_sendq_flush(ctx.sendq);
        if (r != 0 || event_base_got_exit(ctx.base) || event_base_got_break(ctx.base))
            break;
    }
    rc = T_OK;
failed:
    if (rc != T_OK)
        log_error("proxy.start.fail", "error=\"%s\"", err);
    /* Free whatever is left (the loop stopped after a drain timeout). */
    ctx.draining = false;
    proxy_pool_flush(&ctx, "shutdown");
    int left = 0;
    while (ctx.sessions) {
        proxy_session_close(ctx.sessions, "shutdown");
        left++;
    }
    if (left)
        log_info("proxy.stopped", "reason=shutdown_timeout closed=%d", left);
    proxy_sendq_free(ctx.sendq);
    if (ctx.listener)
        evconnlistener_free(ctx.listener);
    if (ctx.sig_term)
        event_free(ctx.sig_term);
    if (ctx.sig_int)
        event_free(ctx.sig_int);
    if (ctx.sig_hup)
        event_free(ctx.sig_hup);
    if (ctx.drain_timer)
        event_free(ctx.drain_timer);
    proxy_settings_free(ctx.settings);
    wt_engine_free(ctx.wt);
    if (ctx.base)
        event_base_free(ctx.base);
    if (rc != T_OK)
        fprintf(stderr, "tether proxy: %s\n", err);
    return rc;
}

int proxy_run(const tether_config *cfg)
{
    return proxy_run_with_reload(cfg, NULL, NULL);
}
