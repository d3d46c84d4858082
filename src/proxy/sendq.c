/*
 * sendq.c - batched relay sends over io_uring (see sendq.h). The relay stages
 * small runs here during one pass of the event loop; proxy_run() flushes the
 * queue after every pass, so each pass costs one io_uring_enter() for all its
 * sends instead of one send() per run, and a sender woken peer cannot preempt
 * the proxy between two of them.
 *
 * Memory: the proxy_sendq owns its staging area (a copy of every queued byte,
 * so the relay may drain and reuse its input buffers at once) and its ring.
 * Queue entries point at bufferevents they do not own: they must be flushed
 * before a bufferevent is freed or moved (proxy_relay_stop does).
 */
#include "proxy/sendq.h"

#include "util/common.h"
#include "util/log.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifdef TETHER_HAVE_LIBURING
#include <liburing.h>

/* Bytes one pass may stage before the queue is flushed early. */
#define PROXY_SENDQ_BYTES (64 * 1024)
/* Sends one pass may stage before the queue is flushed early. */
#define PROXY_SENDQ_ENTRIES 64

typedef struct proxy_sendq_entry {
    struct bufferevent *bev; /* not owned */
    size_t off, len;         /* its bytes in the staging area */
} proxy_sendq_entry;

struct proxy_sendq {
    struct io_uring ring;
    bool broken; /* a submission failed: stage nothing more */
    int n;       /* entries queued */
    size_t used; /* staging bytes used */
    proxy_sendq_entry e[PROXY_SENDQ_ENTRIES];
    uint8_t buf[PROXY_SENDQ_BYTES];
};

proxy_sendq *proxy_sendq_new(void)
{
    proxy_sendq *q = calloc(1, sizeof(*q));
    if (!q) {
        log_warn("proxy.sendq.off", "reason=out_of_memory");
        return NULL;
    }
    /* One submitter (the loop's thread), completions reaped right after the
     * submit: the cheapest setup; older kernels refuse the flags. */
    unsigned flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
#ifdef IORING_SETUP_SINGLE_ISSUER
    flags |= IORING_SETUP_SINGLE_ISSUER;
#endif
    int rc = io_uring_queue_init(PROXY_SENDQ_ENTRIES, &q->ring, flags);
    if (rc == -EINVAL)
        rc = io_uring_queue_init(PROXY_SENDQ_ENTRIES, &q->ring, 0);
    if (rc < 0) {
        log_info("proxy.sendq.off", "reason=io_uring_unavailable error=\"%s\"", strerror(-rc));
        free(q);
        return NULL;
    }
    struct io_uring_probe *probe = io_uring_get_probe_ring(&q->ring);
    bool ok = probe && io_uring_opcode_supported(probe, IORING_OP_SEND);
    if (probe)
        io_uring_free_probe(probe);
    if (!ok) {
        log_info("proxy.sendq.off", "reason=no_io_uring_send");
        io_uring_queue_exit(&q->ring);
        free(q);
        return NULL;
    }
    return q;
}

void proxy_sendq_free(proxy_sendq *q)
{
    if (!q)
        return;
    proxy_sendq_flush(q);
    io_uring_queue_exit(&q->ring);
    free(q);
}

/* Puts LEN unsent bytes at DATA back at the front of BEV's output. */
static void proxy_sendq_requeue(struct bufferevent *bev, const uint8_t *data, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(bev);
    /* A socket bufferevent freezes the front of its output; thaw it for this. */
    evbuffer_unfreeze(out, 1);
    if (evbuffer_prepend(out, data, len) != 0)
        log_error("proxy.sendq.requeue_failed", "bytes=%zu", len);
    evbuffer_freeze(out, 1);
}

void proxy_sendq_flush(proxy_sendq *q)
{
    if (!q || q->n == 0)
        return;
    if (q->n == 1) {
        /* Nothing to batch: a plain send() is one system call too, and
         * cheaper than going through the ring (1 client: no gain to make). */
        proxy_sendq_entry *e = &q->e[0];
        ssize_t w = send(bufferevent_getfd(e->bev), q->buf + e->off, e->len,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        size_t n = w > 0 ? (size_t)w : 0;
        if (n < e->len)
            proxy_sendq_requeue(e->bev, q->buf + e->off + n, e->len - n);
        q->n = 0;
        q->used = 0;
        return;
    }
    for (int i = 0; i < q->n; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
        assert(sqe); /* the ring has PROXY_SENDQ_ENTRIES slots, all free here */
        /* MSG_DONTWAIT: a full socket completes at once with -EAGAIN instead
         * of io_uring waiting for room (the staging area is reused next pass). */
        io_uring_prep_send(sqe, bufferevent_getfd(q->e[i].bev), q->buf + q->e[i].off, q->e[i].len,
                           MSG_DONTWAIT | MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, (uint64_t)i);
    }
    int rc;
    do
        rc = io_uring_submit_and_wait(&q->ring, (unsigned)q->n);
    while (rc == -EINTR);
    size_t sent[PROXY_SENDQ_ENTRIES] = {0};
    bool done[PROXY_SENDQ_ENTRIES] = {false};
    int got = 0;
    if (rc < 0) {
        /* Nothing was submitted: let the bufferevents send it all. */
        log_error("proxy.sendq.submit_failed", "error=\"%s\"", strerror(-rc));
        q->broken = true;
    } else {
        while (got < q->n) {
            struct io_uring_cqe *cqe;
            int w = io_uring_wait_cqe(&q->ring, &cqe);
            if (w == -EINTR)
                continue;
            if (w < 0) {
                log_error("proxy.sendq.wait_failed", "error=\"%s\"", strerror(-w));
                q->broken = true;
                break;
            }
            uint64_t i = io_uring_cqe_get_data64(cqe);
            assert(i < (uint64_t)q->n && !done[i]);
            sent[i] = cqe->res > 0 ? (size_t)cqe->res : 0;
            done[i] = true;
            io_uring_cqe_seen(&q->ring, cqe);
            got++;
        }
    }
    for (int i = 0; i < q->n; i++) {
        size_t n = done[i] ? sent[i] : 0;
        assert(n <= q->e[i].len);
        if (n < q->e[i].len)
            proxy_sendq_requeue(q->e[i].bev, q->buf + q->e[i].off + n, q->e[i].len - n);
    }
    q->n = 0;
    q->used = 0;
}

bool proxy_sendq_pending(const proxy_sendq *q, const struct bufferevent *bev)
{
    for (int i = 0; q && i < q->n; i++)
        if (q->e[i].bev == bev)
            return true;
    return false;
}

bool proxy_sendq_push(proxy_sendq *q, struct bufferevent *bev, struct evbuffer *src, size_t len)
{
    assert(len > 0 && len <= PROXY_SENDQ_MAX_RUN && len <= evbuffer_get_length(src));
    if (q->broken)
        return false;
    struct evbuffer *out = bufferevent_get_output(bev);
    if (evbuffer_get_length(out) > 0)
        return false;
    int mine = -1;
    for (int i = 0; i < q->n; i++)
        if (q->e[i].bev == bev)
            mine = i;
    /* Keep each bufferevent's bytes in order: only the last entry may grow. */
    bool flush = (mine >= 0 && mine != q->n - 1) || q->used + len > sizeof(q->buf) ||
                 (mine < 0 && q->n == PROXY_SENDQ_ENTRIES);
    if (flush) {
        proxy_sendq_flush(q);
        mine = -1;
        if (q->broken || evbuffer_get_length(out) > 0)
            return false;
    }
    if (evbuffer_remove(src, q->buf + q->used, len) != (int)len) {
        /* Cannot happen (LEN bytes are there); leave SRC to the caller. */
        log_error("proxy.sendq.copy_failed", "bytes=%zu", len);
        return false;
    }
    if (mine >= 0) {
        assert(q->e[mine].off + q->e[mine].len == q->used);
        q->e[mine].len += len;
    } else {
        q->e[q->n++] = (proxy_sendq_entry){.bev = bev, .off = q->used, .len = len};
    }
    q->used += len;
    return true;
}

#else /* no liburing: the relay sends directly */

proxy_sendq *proxy_sendq_new(void)
{
    log_info("proxy.sendq.off", "reason=built_without_liburing");
    return NULL;
}

void proxy_sendq_free(proxy_sendq *q)
{
    (void)q;
}

bool proxy_sendq_push(proxy_sendq *q, struct bufferevent *bev, struct evbuffer *src, size_t len)
{
    (void)q;
    (void)bev;
    (void)src;
    (void)len;
    return false;
}

bool proxy_sendq_pending(const proxy_sendq *q, const struct bufferevent *bev)
{
    (void)q;
    (void)bev;
    return false;
}

void proxy_sendq_flush(proxy_sendq *q)
{
    (void)q;
}

#endif
