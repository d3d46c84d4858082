/*
 * proxy_hook.h - the calls the proxy's relay makes into write-through
 * (see proxy_hook.c and proxy_extended.c). Only src/proxy/relay.c,
 * session.c and proxy.c include this.
 */
#ifndef TETHER_WRITETHROUGH_PROXY_HOOK_H
#define TETHER_WRITETHROUGH_PROXY_HOOK_H

#include "proxy/proto.h"
#include "writethrough/writethrough.h"

#include <stddef.h>

struct evbuffer;
typedef struct proxy_session proxy_session;
typedef struct wt_session wt_session;

typedef enum wt_hook_action {
    WT_HOOK_FORWARD = 0, /* relay the message as usual */
    WT_HOOK_CONSUMED,    /* taken out of the input (and *run flushed upstream) */
    WT_HOOK_NEED_MORE,   /* the whole message (or Sync group) is not buffered yet */
    WT_HOOK_WAIT,        /* wait for upstream to answer what came before */
} wt_hook_action;

/*
 * Client message with header H at offset *RUN of IN (the bytes before it are
 * still to be forwarded). May flush those bytes upstream and set *RUN = 0.
 */
wt_hook_action wt_hook_client_msg(proxy_session *s, struct evbuffer *in, size_t *run,
                                  const proto_header *h);
/* Server message H at *RUN of IN: swallows the answers to Tether's own statements. */
wt_hook_action wt_hook_server_msg(proxy_session *s, struct evbuffer *in, size_t *run,
                                  const proto_header *h);
/* After server output was relayed: resumes a client paused by WT_HOOK_WAIT. */
void wt_hook_after_server(proxy_session *s);
/* The session S ends: detaches it from its write under way, if any (the
 * write still completes, is written back and audited; nobody is answered). */
void wt_hook_session_end(proxy_session *s);
/* A valid CancelRequest for S: cancels S's write if it still waits for a
 * worker (it is then answered with 57014); else the write completes. */
void wt_hook_cancel(proxy_session *s);
/* Frees a session's write-through state (NULL allowed). */
void wt_session_free(wt_session *ws);

/* proxy_extended.c: a Parse of a write (or a message on a write statement). */
wt_hook_action wt_hook_extended(proxy_session *s, struct evbuffer *in, size_t *run,
                                const proto_header *h);
/* Server side of the above: drops the ReadyForQuery of Syncs Tether injected. */
wt_hook_action wt_hook_extended_server(proxy_session *s, struct evbuffer *in, size_t *run,
                                       const proto_header *h);
/* True when the message with header H at *RUN refers to a write statement or portal. */
bool wt_hook_extended_owns(proxy_session *s, struct evbuffer *in, size_t run, const proto_header *h);

/* Message builders shared by the two files. */
void wt_hook_put_row_description(struct evbuffer *out, const PGresult *r);
void wt_hook_put_data_rows(struct evbuffer *out, const PGresult *r);
void wt_hook_put_command_complete(struct evbuffer *out, const char *tag);
void wt_hook_put_notice(struct evbuffer *out, const char *message);
void wt_hook_put_ready(struct evbuffer *out, char status);
void wt_hook_put_error(struct evbuffer *out, const wt_error *e);
char *wt_hook_raise_sql(const wt_error *err, const char *notice);
const char *wt_hook_notice_text(long applied);
/* Sends SQL upstream as a Query whose whole answer is swallowed. */
void wt_hook_send_swallowed(proxy_session *s, const char *sql);

#endif
