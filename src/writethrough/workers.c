/*
 * workers.c - the threads that run writes off the proxy's event loop. A
 * write's API call may take seconds (a slow API, 429 back-off, retries);
 * run on the loop it would stall every other session. The loop instead
 * hands the write to this pool (wt_pool_submit) and goes on serving other
 * sessions; the session whose write it is holds its next messages until
 * the answer comes back (proxy_hook.c).
 *
 * Design: one thread per lane (engine.c: a lane is a libpq connection plus
 * connector instances of its own), NLANES threads in all
 * (TETHER_WRITE_WORKERS). A submitted job goes to the idle lane with the
 * lowest index (so one session's writes, one after the other, always use
 * lane 0, as the single connection did before), else waits in a FIFO queue
 * that the next lane to finish takes from. A finished job is put on the done
 * list and the loop is woken through a pipe it watches (an event of its
 * base; the pipe keeps the loop's libevent free of any cross-thread use),
 * where the job's DONE callback runs, or, when its session ended meanwhile,
 * the job is just freed: the worker already wrote the API's answer back and
 * audited it, whatever became of the client.
 *
 * Memory: jobs belong to the pool from submit until DONE is called (DONE
 * owns them) or until wt_pool_free, which frees the ones left over (queued
 * jobs were never started: nothing was sent to the API). The pool owns its
 * threads, pipe and event, not the lanes (the engine's).
 */
#include "writethrough/writethrough.h"

#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct wt_worker {
    wt_pool *pool;
    wt_lane *lane;
    int index;
    pthread_t thread;
    pthread_cond_t cond; /* signalled when a job is assigned to this worker, or on stop */
    bool started;
    wt_job *job;  /* assigned to this worker, run next (under the pool lock) */
    bool busy;    /* has a job assigned or running */
} wt_worker;

struct wt_pool {
    wt_engine *wt;
    pthread_mutex_t lock;
    wt_job *queue, *queue_tail; /* submitted, no idle worker yet */
    wt_job *done, *done_tail;   /* finished, for the loop */
    bool stop;
    wt_worker *workers;
    int n;                      /* threads started */
    int ncond;                  /* workers' condition variables initialised */
    int wake[2];                /* pipe: workers write a byte, the loop reads */
    struct event *wake_ev;
    uint64_t next_id;
};

static char *wt_job_strdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort();
    return d;
}

wt_job *wt_job_new(const classify_stmt *st, const char *sql, int nparams, const char *const *params,
                   const int *lengths, const int *formats, const char *user, bool in_block)
{
    wt_job *job = calloc(1, sizeof(*job));
    if (!job)
        abort();
    job->stmt = *st;
    job->stmt.name = NULL;
    job->stmt.targets = calloc(st->n_targets ? st->n_targets : 1, sizeof(*job->stmt.targets));
    if (!job->stmt.targets)
        abort();
    for (size_t i = 0; i < st->n_targets; i++) {
        classify_target *t = &job->stmt.targets[i];
        *t = st->targets[i];
        t->schema = wt_job_strdup(st->targets[i].schema);
        t->table = wt_job_strdup(st->targets[i].table);
        t->conflict_columns = NULL;
        t->n_conflict_columns = 0;
        t->conflict_constraint = NULL;
    }
    job->sql = wt_job_strdup(sql);
    job->in_block = in_block;
    snprintf(job->user, sizeof(job->user), "%s", user ? user : "");
    if (nparams > 0 && params) {
        job->nparams = nparams;
        job->params = calloc((size_t)nparams, sizeof(*job->params));
        job->lengths = calloc((size_t)nparams, sizeof(*job->lengths));
        job->formats = calloc((size_t)nparams, sizeof(*job->formats));
        if (!job->params || !job->lengths || !job->formats)
            abort();
        for (int i = 0; i < nparams; i++) {
            job->lengths[i] = lengths ? lengths[i] : 0;
            job->formats[i] = formats ? formats[i] : 0;
            if (!params[i])
                continue;
            size_t len = lengths ? (size_t)lengths[i] : strlen(params[i]);
            job->params[i] = malloc(len + 1);
            if (!job->params[i])
                abort();
            memcpy(job->params[i], params[i], len);
            job->params[i][len] = '\0';
        }
    }
    return job;
}

void wt_job_free(wt_job *job)
{
    if (!job)
        return;
    for (int i = 0; i < job->nparams; i++)
        free(job->params[i]);
    free(job->params);
    free(job->lengths);
    free(job->formats);
    for (size_t i = 0; i < job->stmt.n_targets; i++) {
        free(job->stmt.targets[i].schema);
        free(job->stmt.targets[i].table);
    }
    free(job->stmt.targets);
    free(job->sql);
    wt_outcome_free(&job->out);
    free(job);
}

/* Wakes the loop (a full pipe already has a wake-up pending). */
static void wt_pool_wake(wt_pool *p)
{
    char b = 1;
    ssize_t n;
    do
        n = write(p->wake[1], &b, 1);
    while (n < 0 && errno == EINTR);
}

static void *wt_pool_thread(void *arg)
{
    wt_worker *w = arg;
    wt_pool *p = w->pool;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!w->job && !p->stop)
            pthread_cond_wait(&w->cond, &p->lock);
        wt_job *job = w->job;
        if (!job)
            break; /* stopping, nothing assigned */
        w->job = NULL;
        pthread_mutex_unlock(&p->lock);
        int64_t t0 = wt_engine_now_us();
        log_debug("writethrough.job_start", "job=%llu lane=%d queued_us=%lld",
                  (unsigned long long)job->id, w->index, (long long)(t0 - job->submitted_us));
        wt_lane_run(w->lane, job);
        log_debug("writethrough.job_done", "job=%llu lane=%d failed=%d us=%lld",
                  (unsigned long long)job->id, w->index, (int)job->out.failed,
                  (long long)(wt_engine_now_us() - t0));
        pthread_mutex_lock(&p->lock);
        job->next = NULL;
        if (p->done_tail)
            p->done_tail->next = job;
        else
            p->done = job;
        p->done_tail = job;
        if (p->queue && !p->stop) {
            w->job = p->queue; /* the oldest waiting write */
            p->queue = p->queue->next;
            if (!p->queue)
                p->queue_tail = NULL;
        } else {
            w->busy = false;
        }
        wt_pool_wake(p);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Loop thread: hands the finished jobs to their sessions. */
static void wt_pool_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    wt_pool *p = arg;
    char buf[64];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    pthread_mutex_lock(&p->lock);
    wt_job *list = p->done;
    p->done = p->done_tail = NULL;
    pthread_mutex_unlock(&p->lock);
    while (list) {
        wt_job *job = list;
        list = job->next;
        job->next = NULL;
        if (job->owner && job->done) {
            job->done(job);
        } else {
            log_info("writethrough.job_orphaned", "job=%llu failed=%d applied=%ld",
                     (unsigned long long)job->id, (int)job->out.failed, job->out.applied);
            wt_job_free(job);
        }
    }
}

wt_pool *wt_pool_new(wt_engine *wt, wt_lane **lanes, int nlanes, struct event_base *base,
                     char *err, size_t errlen)
{
    wt_pool *p = calloc(1, sizeof(*p));
    if (!p)
        abort();
    p->wt = wt;
    p->wake[0] = p->wake[1] = -1;
    pthread_mutex_init(&p->lock, NULL);
    p->workers = calloc((size_t)nlanes, sizeof(*p->workers));
    if (!p->workers)
        abort();
    for (int i = 0; i < nlanes; i++)
        pthread_cond_init(&p->workers[i].cond, NULL);
    p->ncond = nlanes;
    if (pipe2(p->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(err, errlen, "cannot create the workers' pipe: %s", strerror(errno));
        goto failed;
    }
    p->wake_ev = event_new(base, p->wake[0], EV_READ | EV_PERSIST, wt_pool_wake_cb, p);
    if (!p->wake_ev || event_add(p->wake_ev, NULL) != 0) {
        snprintf(err, errlen, "cannot watch the workers' pipe");
        goto failed;
    }
    for (int i = 0; i < nlanes; i++) {
        wt_worker *w = &p->workers[i];
        w->pool = p;
        w->lane = lanes[i];
        w->index = i;
        p->n = i + 1;
        int rc = pthread_create(&w->thread, NULL, wt_pool_thread, w);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start a write worker: %s", strerror(rc));
            goto failed;
        }
        w->started = true;
    }
    return p;
failed:
    wt_pool_free(p);
    return NULL;
}

void wt_pool_submit(wt_pool *p, wt_job *job)
{
    pthread_mutex_lock(&p->lock);
    job->id = ++p->next_id;
    job->submitted_us = wt_engine_now_us();
    job->next = NULL;
    wt_worker *idle = NULL;
    for (int i = 0; i < p->n && !idle; i++)
        if (!p->workers[i].busy)
            idle = &p->workers[i];
    if (idle) {
        idle->busy = true;
        idle->job = job;
        pthread_cond_signal(&idle->cond); /* only that worker: the others stay asleep */
    } else {
        if (p->queue_tail)
            p->queue_tail->next = job;
        else
            p->queue = job;
        p->queue_tail = job;
        log_debug("writethrough.job_queued", "job=%llu", (unsigned long long)job->id);
    }
    pthread_mutex_unlock(&p->lock);
}

bool wt_pool_cancel(wt_pool *p, wt_job *job)
{
    bool found = false;
    pthread_mutex_lock(&p->lock);
    for (wt_job **jp = &p->queue, *prev = NULL; *jp; prev = *jp, jp = &(*jp)->next) {
        if (*jp != job)
            continue;
        *jp = job->next;
        if (p->queue_tail == job)
            p->queue_tail = prev;
        job->next = NULL;
        memset(&job->out, 0, sizeof(job->out));
        job->out.failed = true;
        wt_error_set(&job->out.error, WT_SQLSTATE_CANCELED, "The write was not sent to the API.",
                     NULL, "canceling statement due to user request");
        if (p->done_tail)
            p->done_tail->next = job;
        else
            p->done = job;
        p->done_tail = job;
        wt_pool_wake(p);
        found = true;
        break;
    }
    pthread_mutex_unlock(&p->lock);
    return found;
}

static void wt_pool_free_list(wt_job *list, const char *why)
{
    while (list) {
        wt_job *job = list;
        list = job->next;
        log_info("writethrough.job_dropped", "job=%llu reason=%s", (unsigned long long)job->id, why);
        wt_job_free(job);
    }
}

void wt_pool_free(wt_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    for (int i = 0; i < p->n; i++)
        pthread_cond_signal(&p->workers[i].cond);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n; i++)
        if (p->workers[i].started)
            pthread_join(p->workers[i].thread, NULL);
    /* Every session is gone by now: finished jobs have nobody to answer. */
    for (wt_job *j = p->done; j; j = j->next)
        j->owner = NULL;
    wt_pool_free_list(p->done, "shutdown_finished");
    wt_pool_free_list(p->queue, "shutdown_not_started");
    if (p->wake_ev)
        event_free(p->wake_ev);
    if (p->wake[0] >= 0)
        close(p->wake[0]);
    if (p->wake[1] >= 0)
        close(p->wake[1]);
    for (int i = 0; i < p->ncond; i++)
        pthread_cond_destroy(&p->workers[i].cond);
    free(p->workers);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
