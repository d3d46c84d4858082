/*
 * session.h - internal to src/proxy: the proxy's shared state (proxy_ctx) and
 * one client session (proxy_session) with its 1:1 upstream connection, plus
 * the functions the proxy's files call on each other.
 *
 * Memory: proxy_ctx is owned by proxy_run() for the life of the loop. Each
 * proxy_session is malloc'd at accept (or for an upstream cancel request) and
 * freed by proxy_session_free(), which also frees its bufferevents and timer.
 * The session is on ctx->sessions until freed.
 */
#ifndef TETHER_PROXY_SESSION_H
#define TETHER_PROXY_SESSION_H

#include "proxy/auth_scram.h"
#include "proxy/auth_users.h"
#include "proxy/proto.h"
#include "proxy/proxy.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

typedef enum proxy_auth_type {
    PROXY_AUTH_TRUST = 0,
    PROXY_AUTH_MD5,
    PROXY_AUTH_SCRAM,
} proxy_auth_type;

typedef enum proxy_sslmode {
    PROXY_SSL_DISABLE = 0,
    PROXY_SSL_PREFER,
    PROXY_SSL_REQUIRE,
    PROXY_SSL_VERIFY_CA,
    PROXY_SSL_VERIFY_FULL,
} proxy_sslmode;

#define PROXY_MAX_UP_ADDRS 4

/* Everything SIGHUP can change; swapped as a whole on reload. */
typedef struct proxy_settings {
    proxy_auth_type auth_type;
    proxy_users *users; /* NULL for trust without a file */
    uint32_t max_message_size;
    int max_client_conn;
    int login_timeout_s;
    int shutdown_timeout_s;
    SSL_CTX *client_tls;   /* NULL: no TLS offered to clients */
    SSL_CTX *upstream_tls; /* NULL when upstream sslmode is disable */
    proxy_sslmode upstream_sslmode;
    char up_host[256], up_port[16], up_user[128], up_password[256], up_dbname[128];
    struct sockaddr_storage up_addr[PROXY_MAX_UP_ADDRS]; /* tried in order on connect */
    socklen_t up_addrlen[PROXY_MAX_UP_ADDRS];
    int up_naddrs;
    proxy_scram_cache up_scram_cache; /* upstream SCRAM keys, filled on first login */
    bool lazy_connect;                /* answer the startup, connect upstream on first message */
    int server_idle_timeout_s;        /* pool.c: keep released upstreams this long (0: off) */
    struct proxy_param_cache *param_cache; /* lazy.c: ParameterStatus per startup parameters */
} proxy_settings;

typedef struct proxy_session proxy_session;

#define PROXY_CANCEL_BUCKETS 1024

typedef struct proxy_ctx {
    struct event_base *base;
    struct evconnlistener *listener;
    proxy_settings *settings;
    proxy_session *sessions; /* doubly-linked list of every live session */
    int nclients;            /* client sessions (not cancel forwarders) */
    int nrejecting;          /* clients being told "too many clients" */
    uint32_t next_pid;       /* proxy-generated backend pids */
    proxy_session *cancel_map[PROXY_CANCEL_BUCKETS];
    bool draining;
    struct event *sig_term, *sig_int, *sig_hup, *drain_timer;
    const tether_config *cfg; /* the configuration proxy_run was given */
    proxy_reload_fn reload;
    void *reload_arg;
    uint64_t next_id;
    struct wt_engine *wt;        /* write-through (src/writethrough), NULL when off */
    proxy_session *pool;         /* pool.c: released upstreams (PROXY_KIND_POOLED), newest first */
    int npooled;
    struct proxy_sendq *sendq;   /* sendq.c: batched relay sends, NULL without io_uring */
} proxy_ctx;

typedef enum proxy_state {
    PS_STARTUP = 0,      /* waiting for the startup packet (maybe after TLS) */
    PS_TLS_HANDSHAKE,    /* client TLS handshake under way */
    PS_AUTH_MD5,         /* sent AuthenticationMD5Password */
    PS_AUTH_SASL_INIT,   /* sent AuthenticationSASL */
    PS_AUTH_SASL_FINAL,  /* sent AuthenticationSASLContinue */
    PS_LAZY_IDLE,        /* startup answered by the proxy, no upstream yet (lazy_connect) */
    PS_UP_CONNECTING,    /* TCP connect to upstream */
    PS_UP_SSL_REPLY,     /* sent SSLRequest upstream, waiting for S/N */
    PS_UP_TLS_HANDSHAKE, /* upstream TLS handshake */
    PS_UP_AUTH,          /* startup sent upstream, authenticating */
    PS_UP_READY_WAIT,    /* authenticated upstream, waiting for ReadyForQuery */
    PS_RELAY,            /* relaying both ways */
    PS_CLOSING,          /* flushing a final message to the client */
    PS_POOL_RESET,       /* pool.c: released upstream, DISCARD ALL sent, waiting for ReadyForQuery */
    PS_POOL_IDLE,        /* pool.c: released upstream, reset, waiting for a client to reuse it */
} proxy_state;

typedef enum proxy_session_kind {
    PROXY_KIND_CLIENT = 0,
    PROXY_KIND_CANCEL, /* forwards one CancelRequest upstream, no client */
    PROXY_KIND_POOLED, /* pool.c: an upstream connection kept for reuse, no client */
} proxy_session_kind;

#define PROXY_PARAMS_MAX 2048

struct proxy_session {
    proxy_ctx *ctx;
    proxy_session *prev, *next;
    proxy_session *cancel_next;
    proxy_session_kind kind;
    proxy_state state;
    uint64_t id;
    struct bufferevent *cbev; /* client side (a TLS filter once TLS is on) */
    struct bufferevent *sbev; /* upstream side */
    struct event *timer;      /* login timeout, then close linger */
    char peer[64];
    char user[64];     /* as the client sent it (truncated) */
    char user_log[64]; /* the same, safe to log (no spaces/control chars) */
    bool client_tls;
    bool over_limit;
    bool in_cancel_map;
    bool lazy;                   /* the proxy answered the startup; upstream login is silent */
    bool up_params_differ;       /* upstream reported ParameterStatus unlike the lazy cache's */
    bool up_reused;              /* the upstream came from the pool (pool.c) */
    proxy_session *pool_prev, *pool_next; /* on ctx->pool (PROXY_KIND_POOLED only) */
    struct evbuffer *login_status; /* ParameterStatus seen on an eager login, for the cache */
    /* startup parameters to pass upstream: name\0value\0 pairs */
    char *params; /* malloc'd (at least 1 byte) once the startup packet is read */
    size_t params_len;
    size_t nparams;
    /* authentication */
    uint8_t md5_salt[4];
    proxy_scram_server *scram;    /* malloc'd during client SCRAM, else NULL */
    proxy_scram_client *up_scram; /* malloc'd during upstream SCRAM, else NULL */
    /* cancel keys */
    int32_t pid, key;       /* what the client sees */
    int32_t up_pid, up_key; /* the upstream backend's */
    bool have_up_key;
    int up_addr_index; /* which resolved upstream address is being tried */
    bool up_no_tls;    /* sslmode=prefer: TLS failed once, retrying in the clear */
    struct sockaddr_storage up_addr; /* address connected to (cancel requests go there) */
    socklen_t up_addrlen;            /* 0 until connecting; preset for cancel sessions */
    /* relay */
    size_t remaining[2];       /* bytes of the current message still to forward, per side */
    char txn_status;           /* last ReadyForQuery status: I, T or E */
    char last_client_type;     /* type of the last message forwarded upstream */
    int64_t pending_syncs;     /* Query/Sync/FunctionCall sent minus ReadyForQuery seen */
    bool backpressure[2];      /* reading that side is paused by the other's full output */
    struct event *raw_read[2]; /* relay reads on a plain socket, bypassing the bufferevent */
    const char *close_reason;  /* set when PS_CLOSING */
    /* write-through (src/writethrough/proxy_hook.c) */
    struct wt_session *wt;     /* extended-protocol write statements, or NULL */
    bool wt_wait;              /* a write waits for upstream to answer what came before */
    int wt_swallow;            /* ReadyForQuery answers of Tether's own statements to drop */
    int wt_raised;             /* ErrorResponses of Tether's raise statements still to come */
    struct wt_job *wt_job;     /* this session's write under way on a worker, or NULL; the
                                * client's later messages are held until it comes back */
    bool wt_held;              /* client reads paused: too much held behind wt_job */
    int linger_ticks;
};

/* Output above this pauses reading on the other side. */
#define PROXY_HIGH_WATER (256 * 1024)
#define PROXY_LOW_WATER (64 * 1024)
/* Encrypted bytes a TLS filter may queue on its socket before holding back. */
#define PROXY_TLS_UNDER_HIGH_WATER (64 * 1024)
/* Largest message accepted before the session is relaying (auth messages). */
#define PROXY_AUTH_MSG_MAX 8192

/*
 * Lifetime rule for everything below: a function that may end a session
 * either frees it at once (proxy_session_close: the caller must not touch S
 * afterwards and must return straight out of its callback) or marks it
 * PS_CLOSING and frees it later from a timer (proxy_session_fail,
 * proxy_session_close_after_flush: S stays valid until the caller returns to
 * the loop). Code that runs inside a bufferevent callback and keeps using S
 * afterwards only uses the second kind.
 */

/* session.c */
/* Allocates a session of KIND on CTX's list (counted in nclients for clients).
 * Returns NULL when out of memory. Freed only through the close functions. */
proxy_session *proxy_session_new(proxy_ctx *ctx, proxy_session_kind kind);
/* Frees S now (bufferevents, timer, auth state, cancel entry), logging
 * "proxy.client.close reason=REASON". REASON must be a static string. */
void proxy_session_close(proxy_session *s, const char *reason);
/* Queues "FATAL SQLSTATE MESSAGE" to the client (unless already closing), drops
 * the upstream, and closes once the client output is flushed (at most ~2 s). */
void proxy_session_fail(proxy_session *s, const char *sqlstate, const char *message,
                        const char *reason);
/* Like proxy_session_fail without adding a message (used after forwarding the
 * upstream's own final error). */
void proxy_session_close_after_flush(proxy_session *s, const char *reason);
/* True when the client is between transactions with nothing in flight (a
 * drain may close it), or still logging in. */
bool proxy_session_idle(const proxy_session *s);

/* True after an extended-query message that still waits for its Sync. */
bool proxy_session_in_batch(char last_client_type);

/*
 * Frames the next message in IN (sent by SIDE, at most MAX_LEN long) without
 * consuming it: proto_frame_header on its first bytes. *AVAIL gets the bytes
 * buffered, so the caller can tell whether h->total of them are there yet.
 */
proto_frame_status proxy_session_peek(struct evbuffer *in, proto_side side, uint32_t max_len,
                                      proto_header *h, const char **reason, size_t *avail);

/* client.c */
/* Takes ownership of the accepted socket FD: sets up the client bufferevent
 * and the login timer, then waits for the startup packet. On failure the
 * session is closed (and FD with it). */
void proxy_client_start(proxy_session *s, evutil_socket_t fd);
/* Client bufferevent callbacks (startup, TLS, auth; relay once ready). */
void proxy_client_read_cb(struct bufferevent *bev, void *arg);
void proxy_client_event_cb(struct bufferevent *bev, short what, void *arg);
/* Called by server.c after forwarding the upstream's ReadyForQuery: switches
 * the session to PS_RELAY and relays anything the client already sent. */
void proxy_client_enter_relay(proxy_session *s);

/* server.c */
/* Opens the upstream connection for S (a client after authentication, or a
 * PROXY_KIND_CANCEL session). Never frees a client session synchronously; a
 * cancel session may be freed before it returns. */
void proxy_server_connect(proxy_session *s);
/* S was handed a ready upstream (s->sbev, from the pool): installs the relay
 * callbacks on it and enters the relay (proxy_client_enter_relay). */
void proxy_server_adopt(proxy_session *s);
/* Upstream bufferevent event callback (connect, TLS done, EOF, errors). */
void proxy_server_event_cb(struct bufferevent *bev, short what, void *arg);

/* relay.c */
/* Relay-phase read callbacks: forward every available byte of complete or
 * partial messages to the other side (ARG is the session). */
void proxy_relay_client_read(struct bufferevent *bev, void *arg);
void proxy_relay_server_read(struct bufferevent *bev, void *arg);
/* Relay-phase write callbacks: output drained under the low-water mark,
 * resume reading the other side if it was paused. */
void proxy_relay_client_write(struct bufferevent *bev, void *arg);
void proxy_relay_server_write(struct bufferevent *bev, void *arg);
/* Switches plain-socket sides to direct reads; call once on entering relay. */
void proxy_relay_start(proxy_session *s);
/* Stops and frees the direct-read events (closing or freeing the session) and
 * flushes the send queue, which may hold bytes for S's bufferevents. */
void proxy_relay_stop(proxy_session *s);
/* Write-through: S's write (s->wt_job, now NULL) was answered. Resumes
 * reading the client, lets a draining proxy end S at this boundary, and
 * relays the messages held meanwhile. S may be marked closing, never freed. */
void proxy_relay_write_done(proxy_session *s);

/* cancel.c */
/* Gives S a fresh proxy pid (unique among live sessions) and random key and
 * enters it in the cancel map; on RNG failure S stays unregistered. */
void proxy_cancel_register(proxy_session *s);
/* Removes S from the cancel map if present. */
void proxy_cancel_unregister(proxy_session *s);
/* Forwards a client's CancelRequest for proxy PID/KEY to the right backend
 * through a short-lived cancel session; unknown pid/key pairs are logged and
 * ignored. PEER is only for logs. */
void proxy_cancel_forward(proxy_ctx *ctx, int32_t pid, int32_t key, const char *peer);

/* lazy.c */
/* Frees the ParameterStatus cache (NULL is fine). */
void proxy_lazy_cache_free(struct proxy_param_cache *c);
/* After client authentication (AuthenticationOk already queued): when lazy
 * connecting is on and S's startup parameters have cached ParameterStatus
 * values, answers the startup itself (ParameterStatus, BackendKeyData with the
 * proxy's key, ReadyForQuery 'I'), enters PS_LAZY_IDLE and returns true.
 * Otherwise returns false (the caller connects upstream now; when lazy is on
 * the login's ParameterStatus messages are then collected for the cache). */
bool proxy_lazy_answer_startup(proxy_session *s);
/* PS_LAZY_IDLE: looks at the client's next message in IN: Terminate closes the
 * session, a malformed header fails it, anything else opens the upstream
 * connection (the message stays buffered and is relayed after the login). */
void proxy_lazy_client_read(proxy_session *s, struct evbuffer *in);
/* A ParameterStatus message MSG (TOTAL bytes) arrived during S's upstream
 * login. Returns true when it must be passed to the client (always on an
 * eager login; on a lazy one only when it differs from what the client was
 * told). Collects it for the cache on eager logins. */
bool proxy_lazy_on_param_status(proxy_session *s, const uint8_t *msg, size_t total);
/* The upstream login of S reached ReadyForQuery: stores the collected
 * ParameterStatus messages in the cache (eager logins with lazy_connect on). */
void proxy_lazy_on_login_done(proxy_session *s);

/* pool.c (server connection reuse, [proxy] server_idle_timeout > 0) */
/* The client of S is leaving (Terminate or EOF) while its upstream is idle:
 * when reuse is on and S's upstream can be reset, moves the upstream to a new
 * PROXY_KIND_POOLED session (which sends DISCARD ALL and waits for a client
 * with the same startup parameters) and returns true; S no longer has an
 * upstream and the caller ends it as usual. Returns false (nothing changed)
 * otherwise. Never frees S. */
bool proxy_pool_release(proxy_session *s);
/* S (PS_LAZY_IDLE, about to connect upstream) takes a reset pooled upstream
 * logged in with the same startup parameters: the upstream becomes S's, S
 * starts relaying, and true is returned. False when none is available. */
bool proxy_pool_take(proxy_session *s);
/* Closes every pooled upstream (drain, reload). */
void proxy_pool_flush(proxy_ctx *ctx, const char *reason);

/* proxy.c */
/* Stops the loop when draining and the last session is gone. */
void proxy_maybe_finish_drain(proxy_ctx *ctx);

#endif
