/*
 * sendq.h - internal to src/proxy: batched relay sends. Small runs of relayed
 * bytes bound for plain sockets are copied into a staging area during one
 * pass of the event loop and sent together, all of them with one
 * io_uring_enter() at the end of the pass (proxy_sendq_flush), instead of
 * one send() each; whatever a socket does not take goes back to the front of
 * its bufferevent's output, which libevent finishes as usual.
 *
 * Memory: the queue (staging area, io_uring) is owned by proxy_run() through
 * proxy_ctx.sendq; it never owns the bufferevents it sends for, so every
 * bufferevent must be flushed out of the queue (proxy_sendq_flush) before it
 * is freed or changes hands (proxy_relay_stop does this).
 */
#ifndef TETHER_PROXY_SENDQ_H
#define TETHER_PROXY_SENDQ_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct proxy_sendq proxy_sendq;

/* Runs longer than this are not staged (sent directly, no copy). */
#define PROXY_SENDQ_MAX_RUN 8192

/*
 * Creates a send queue, or returns NULL when io_uring is not available here
 * (no liburing at build time, or the kernel or a seccomp filter refuses it;
 * the reason is logged once) or out of memory: the relay then sends with one
 * send() per run, as before. Free with proxy_sendq_free.
 */
proxy_sendq *proxy_sendq_new(void);
/* Flushes anything still queued and frees Q (NULL is fine). */
void proxy_sendq_free(proxy_sendq *q);

/*
 * Moves the first LEN bytes of SRC (LEN <= PROXY_SENDQ_MAX_RUN) into Q, to be
 * sent on BEV's socket (a plain socket) at the next flush; bytes queued for
 * one bufferevent go out in order. A full queue, or bytes of BEV queued
 * before another bufferevent's, are flushed first. Returns true when queued
 * (and drained from SRC); false, with SRC untouched, when BEV's output buffer
 * is not empty (also after that flush): the caller appends to it instead, so
 * nothing overtakes bytes already waiting there.
 */
bool proxy_sendq_push(proxy_sendq *q, struct bufferevent *bev, struct evbuffer *src, size_t len);

/* True when BEV has bytes in Q waiting for a flush. */
bool proxy_sendq_pending(const proxy_sendq *q, const struct bufferevent *bev);

/*
 * Sends everything queued (one io_uring_enter for all of it). A socket that
 * takes only part of its bytes, would block, or fails gets the unsent rest
 * put back at the front of its bufferevent's output: the bufferevent then
 * writes it when the socket is writable, or reports the error through its
 * event callback. Never frees or calls back into a session.
 */
void proxy_sendq_flush(proxy_sendq *q);

#endif
