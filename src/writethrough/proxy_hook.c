/*
 * proxy_hook.c - where the proxy hands writes to synced tables over. The
 * relay (src/proxy/relay.c) calls wt_hook_client_msg() for each Query and
 * Parse header it sees from a client; everything that is not a write to a
 * synced table is forwarded untouched (classification through the engine's
 * cache, whose prefilter answers plain reads without parsing).
 *
 * A write (simple Query) is taken out of the stream once everything sent
 * before it has been answered and handed to the write workers (workers.c)
 * as a wt_job; the loop goes on serving every other session. While the job
 * runs, s->wt_job is set and the session's later messages stay in its input
 * buffer, untouched (wt_hook_client_msg answers WT_HOOK_WAIT first thing),
 * so a pipelining client is answered in order. When the job comes back
 * (wt_hook_query_done, on the loop thread) the client is answered from
 * here: RowDescription/DataRows for RETURNING, CommandComplete, a NOTICE
 * inside a transaction block, and ReadyForQuery with the session's
 * unchanged status; then the held messages are relayed
 * (proxy_relay_write_done). A failed write is turned into a statement sent
 * upstream instead (a DO block that raises the error), so Postgres itself
 * reports it and aborts a transaction block.
 *
 * A session that ends while its job runs (disconnect, shutdown) detaches
 * from it (wt_hook_session_end): the job finishes, its write-back and audit
 * are done by the worker as for any write, and the loop frees it. A
 * CancelRequest meanwhile (wt_hook_cancel) cancels a job still queued for a
 * free worker (57014, nothing sent to the API); once a worker runs it, an
 * API call cannot be taken back, so the client gets the real outcome.
 *
 * Memory: messages are copied out of the client's input into a malloc'd
 * buffer freed before returning; a job is owned by the workers until its
 * done callback here frees it.
 */
#include "writethrough/proxy_hook.h"

#include "proxy/session.h"
#include "util/common.h"
#include "util/log.h"

#include <assert.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void wt_hook_put_u32(struct evbuffer *out, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    evbuffer_add(out, b, 4);
}

static void wt_hook_put_u16(struct evbuffer *out, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    evbuffer_add(out, b, 2);
}

static void wt_hook_put_header(struct evbuffer *out, char type, size_t body)
{
    evbuffer_add(out, &type, 1);
    wt_hook_put_u32(out, (uint32_t)(body + 4));
}

/* RowDescription for the columns of R (text format). */
void wt_hook_put_row_description(struct evbuffer *out, const PGresult *r)
{
    int nf = PQnfields(r);
    size_t body = 2;
    for (int i = 0; i < nf; i++)
        body += strlen(PQfname(r, i)) + 1 + 18;
    wt_hook_put_header(out, PqMsg_RowDescription, body);
    wt_hook_put_u16(out, (uint16_t)nf);
    for (int i = 0; i < nf; i++) {
        evbuffer_add(out, PQfname(r, i), strlen(PQfname(r, i)) + 1);
        wt_hook_put_u32(out, 0);
        wt_hook_put_u16(out, 0);
        wt_hook_put_u32(out, (uint32_t)PQftype(r, i));
        wt_hook_put_u16(out, (uint16_t)PQfsize(r, i));
        wt_hook_put_u32(out, (uint32_t)PQfmod(r, i));
        wt_hook_put_u16(out, 0);
    }
}

void wt_hook_put_data_rows(struct evbuffer *out, const PGresult *r)
{
    int nf = PQnfields(r);
    for (int row = 0; row < PQntuples(r); row++) {
        size_t body = 2;
        for (int i = 0; i < nf; i++)
            body += 4 + (PQgetisnull(r, row, i) ? 0 : (size_t)PQgetlength(r, row, i));
        wt_hook_put_header(out, PqMsg_DataRow, body);
        wt_hook_put_u16(out, (uint16_t)nf);
        for (int i = 0; i < nf; i++) {
            if (PQgetisnull(r, row, i)) {
                wt_hook_put_u32(out, 0xFFFFFFFFu);
                continue;
            }
            wt_hook_put_u32(out, (uint32_t)PQgetlength(r, row, i));
            evbuffer_add(out, PQgetvalue(r, row, i), (size_t)PQgetlength(r, row, i));
        }
    }
}

void wt_hook_put_command_complete(struct evbuffer *out, const char *tag)
{
    wt_hook_put_header(out, PqMsg_CommandComplete, strlen(tag) + 1);
    evbuffer_add(out, tag, strlen(tag) + 1);
}

void wt_hook_put_notice(struct evbuffer *out, const char *message)
{
    static const char *const f[][2] = {{"S", "NOTICE"}, {"V", "NOTICE"}, {"C", "01000"}};
    size_t body = 1;
    for (size_t i = 0; i < T_ARRAY_LEN(f); i++)
        body += 1 + strlen(f[i][1]) + 1;
    body += 1 + strlen(message) + 1;
    wt_hook_put_header(out, PqMsg_NoticeResponse, body);
    for (size_t i = 0; i < T_ARRAY_LEN(f); i++) {
        evbuffer_add(out, f[i][0], 1);
        evbuffer_add(out, f[i][1], strlen(f[i][1]) + 1);
    }
    evbuffer_add(out, "M", 1);
    evbuffer_add(out, message, strlen(message) + 1);
    evbuffer_add(out, "", 1);
}

void wt_hook_put_error(struct evbuffer *out, const wt_error *e)
{
    const char *f[][2] = {{"S", "ERROR"}, {"V", "ERROR"}, {"C", e->sqlstate}, {"M", e->message},
                          {"D", e->detail}, {"H", e->hint}};
    size_t body = 1;
    for (size_t i = 0; i < T_ARRAY_LEN(f); i++)
        if (f[i][1][0])
            body += 1 + strlen(f[i][1]) + 1;
    wt_hook_put_header(out, PqMsg_ErrorResponse, body);
    for (size_t i = 0; i < T_ARRAY_LEN(f); i++) {
        if (!f[i][1][0])
            continue;
        evbuffer_add(out, f[i][0], 1);
        evbuffer_add(out, f[i][1], strlen(f[i][1]) + 1);
    }
    evbuffer_add(out, "", 1);
}

void wt_hook_put_ready(struct evbuffer *out, char status)
{
    wt_hook_put_header(out, PqMsg_ReadyForQuery, 1);
    evbuffer_add(out, &status, 1);
}

/* Appends S as an E'' literal (quotes and backslashes escaped) to OUT. */
static void wt_hook_literal(struct evbuffer *out, const char *s)
{
    evbuffer_add(out, "E'", 2);
    for (; *s; s++) {
        if (*s == '\'' || *s == '\\')
            evbuffer_add(out, s, 1);
        evbuffer_add(out, s, 1);
    }
    evbuffer_add(out, "'", 1);
}

/*
 * The SQL of a DO block that raises ERR (after NOTICE when given), for
 * Postgres to report to the client. Returned as a malloc'd string.
 */
char *wt_hook_raise_sql(const wt_error *err, const char *notice)
{
    struct evbuffer *b = evbuffer_new();
    if (!b)
        abort();
    evbuffer_add_printf(b, "DO $tether$BEGIN ");
    if (notice) {
        evbuffer_add_printf(b, "RAISE NOTICE USING MESSAGE = ");
        wt_hook_literal(b, notice);
        evbuffer_add_printf(b, "; ");
    }
    evbuffer_add_printf(b, "RAISE EXCEPTION USING ERRCODE = ");
    wt_hook_literal(b, err->sqlstate);
    evbuffer_add_printf(b, ", MESSAGE = ");
    wt_hook_literal(b, err->message);
    if (err->detail[0]) {
        evbuffer_add_printf(b, ", DETAIL = ");
        wt_hook_literal(b, err->detail);
    }
    if (err->hint[0]) {
        evbuffer_add_printf(b, ", HINT = ");
        wt_hook_literal(b, err->hint);
    }
    evbuffer_add_printf(b, "; END$tether$");
    size_t n = evbuffer_get_length(b);
    char *sql = malloc(n + 1);
    if (!sql)
        abort();
    evbuffer_remove(b, sql, n);
    sql[n] = '\0';
    evbuffer_free(b);
    return sql;
}

const char *wt_hook_notice_text(long applied)
{
    (void)applied;
    return "Tether applied this write to the API at once: it is committed there and stays even if "
           "this transaction rolls back.";
}

/* Sends a Query message carrying SQL upstream, accounted like a client Query. */
static void wt_hook_send_query(proxy_session *s, const char *sql)
{
    struct evbuffer *up = bufferevent_get_output(s->sbev);
    wt_hook_put_header(up, PqMsg_Query, strlen(sql) + 1);
    evbuffer_add(up, sql, strlen(sql) + 1);
    s->pending_syncs++;
    s->last_client_type = PqMsg_Query;
}

/*
 * Has Postgres raise ERR (after NOTICE when given) on the client's session, so
 * that it aborts a transaction block as it would for its own error. The
 * ErrorResponse that comes back is passed to the client without the CONTEXT
 * line the DO block adds (see wt_hook_server_msg).
 */
static void wt_hook_send_raise(proxy_session *s, const wt_error *err, const char *notice)
{
    char *sql = wt_hook_raise_sql(err, notice);
    wt_hook_send_query(s, sql);
    free(sql);
    s->wt_raised++;
}

/* Answers a simple-protocol write: rows, tag, notice, ReadyForQuery; or the error via upstream. */
static void wt_hook_answer_query(proxy_session *s, const wt_outcome *o)
{
    if (o->failed) {
        wt_hook_send_raise(s, &o->error, o->notice ? wt_hook_notice_text(o->applied) : NULL);
        return;
    }
    struct evbuffer *out = bufferevent_get_output(s->cbev);
    if (o->returning) {
        wt_hook_put_row_description(out, o->returning);
        wt_hook_put_data_rows(out, o->returning);
    }
    wt_hook_put_command_complete(out, o->tag);
    if (o->notice)
        wt_hook_put_notice(out, wt_hook_notice_text(o->applied));
    wt_hook_put_ready(out, s->txn_status);
}

/* Loop thread: the write of a simple Query came back from its worker. */
static void wt_hook_query_done(wt_job *job)
{
    proxy_session *s = job->owner;
    assert(s->wt_job == job);
    s->wt_job = NULL;
    if (s->state == PS_RELAY && s->cbev && s->sbev)
        wt_hook_answer_query(s, &job->out);
    wt_job_free(job);
    proxy_relay_write_done(s);
}

void wt_hook_cancel(proxy_session *s)
{
    if (!s->wt_job || !s->ctx->wt)
        return;
    bool queued = wt_engine_cancel(s->ctx->wt, s->wt_job);
    log_info("writethrough.cancel", "id=%llu job=%llu outcome=%s", (unsigned long long)s->id,
             (unsigned long long)s->wt_job->id, queued ? "canceled_before_api" : "api_call_under_way");
}

void wt_hook_session_end(proxy_session *s)
{
    if (!s->wt_job)
        return;
    log_info("writethrough.client_gone", "id=%llu job=%llu note=\"the write completes and is "
             "written back without the client\"", (unsigned long long)s->id,
             (unsigned long long)s->wt_job->id);
    s->wt_job->owner = NULL;
    s->wt_job = NULL;
}

/* Refuses a client statement that touches the guard's settings. */
static void wt_hook_refuse_setting(proxy_session *s)
{
    wt_error e;
    wt_error_set(&e, WT_SQLSTATE_GUARD, NULL, NULL,
                 "the settings " WT_GUC_TOKEN " and " WT_GUC_CAPTURE " are reserved for Tether");
    wt_hook_send_raise(s, &e, NULL);
}

/* A simple Query message: a write to a synced table is run here. */
static wt_hook_action wt_hook_query(proxy_session *s, struct evbuffer *in, size_t *run,
                                    const proto_header *h)
{
    wt_engine *wt = s->ctx->wt;
    size_t avail = evbuffer_get_length(in);
    if (avail - *run < h->total)
        return WT_HOOK_NEED_MORE;
    size_t blen = h->total - PQ_MSG_HEADER_LEN;
    char *body = malloc(blen + 1);
    if (!body)
        abort();
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(in, &pos, *run + PQ_MSG_HEADER_LEN, EVBUFFER_PTR_SET);
    evbuffer_copyout_from(in, &pos, body, blen);
    body[blen] = '\0';
    const char *sql = body;
    wt_hook_action act = WT_HOOK_FORWARD;
    bool refuse = wt_guard_mentions_setting(sql, strlen(sql));
    const classify_result *cr = NULL;
    if (!refuse && (classify_cache_get(wt_engine_cache(wt), NULL, s->user, sql, &cr) != T_OK ||
                    !cr->writes_synced))
        goto done;
    if (s->txn_status == 'E' && !refuse)
        goto done; /* Postgres refuses anything but ROLLBACK: let it say so */
    if (s->pending_syncs > 0 || s->remaining[PROTO_FROM_SERVER] > 0) {
        s->wt_wait = true; /* answer what came before first, in order */
        act = WT_HOOK_WAIT;
        goto done;
    }
    /* Take the message out of the stream (after what precedes it). */
    if (*run)
        evbuffer_remove_buffer(in, bufferevent_get_output(s->sbev), *run);
    *run = 0;
    evbuffer_drain(in, h->total);
    act = WT_HOOK_CONSUMED;
    if (refuse) {
        wt_hook_refuse_setting(s);
        goto done;
    }
    if (cr->n_stmts != 1) {
        wt_error e;
        wt_error_set(&e, WT_SQLSTATE_UNSUPPORTED, NULL,
                     "Send the write to the synced table as its own query.",
                     "a write to a synced table must be the only statement of its query string");
        wt_hook_send_raise(s, &e, NULL);
        goto done;
    }
    wt_job *job = wt_job_new(&cr->stmts[0], sql, 0, NULL, NULL, NULL, s->user, s->txn_status == 'T');
    job->owner = s;
    job->done = wt_hook_query_done;
    s->wt_job = job;
    wt_engine_submit(wt, job);
done:
    free(body);
    return act;
}

wt_hook_action wt_hook_client_msg(proxy_session *s, struct evbuffer *in, size_t *run,
                                  const proto_header *h)
{
    if (!s->ctx->wt)
        return WT_HOOK_FORWARD;
    if (s->wt_job)
        return WT_HOOK_WAIT; /* a write of this session is under way: hold the rest */
    switch (h->type) {
    case PqMsg_Query:
        return wt_hook_query(s, in, run, h);
    case PqMsg_Parse:
        return wt_hook_extended(s, in, run, h);
    case PqMsg_Bind:
    case PqMsg_Describe:
    case PqMsg_Execute:
    case PqMsg_Close:
    case PqMsg_Sync:
    case PqMsg_Flush:
        if (s->wt)
            return wt_hook_extended(s, in, run, h);
        return WT_HOOK_FORWARD;
    default:
        return WT_HOOK_FORWARD;
    }
}

void wt_hook_send_swallowed(proxy_session *s, const char *sql)
{
    wt_hook_send_query(s, sql);
    s->wt_swallow++;
}

/*
 * Copies the ErrorResponse of H (whole in IN) to the client without its
 * Where ('W', CONTEXT) field, and drains it from IN.
 */
static void wt_hook_forward_without_context(proxy_session *s, struct evbuffer *in,
                                            const proto_header *h)
{
    size_t body = h->total - PQ_MSG_HEADER_LEN;
    char *msg = malloc(h->total);
    if (!msg)
        abort();
    evbuffer_remove(in, msg, h->total);
    struct evbuffer *fields = evbuffer_new();
    if (!fields)
        abort();
    size_t pos = PQ_MSG_HEADER_LEN;
    while (pos < PQ_MSG_HEADER_LEN + body && msg[pos] != '\0') {
        size_t len = strnlen(msg + pos + 1, PQ_MSG_HEADER_LEN + body - pos - 1);
        if (pos + 1 + len >= h->total)
            break; /* unterminated field: drop the rest */
        if (msg[pos] != 'W')
            evbuffer_add(fields, msg + pos, len + 2);
        pos += len + 2;
    }
    evbuffer_add(fields, "", 1);
    struct evbuffer *out = bufferevent_get_output(s->cbev);
    wt_hook_put_header(out, PqMsg_ErrorResponse, evbuffer_get_length(fields));
    evbuffer_add_buffer(out, fields);
    evbuffer_free(fields);
    free(msg);
}

wt_hook_action wt_hook_server_msg(proxy_session *s, struct evbuffer *in, size_t *run,
                                  const proto_header *h)
{
    if (s->wt_raised > 0 && s->wt_swallow <= 0 && h->type == PqMsg_ErrorResponse) {
        if (evbuffer_get_length(in) - *run < h->total)
            return WT_HOOK_NEED_MORE;
        if (*run)
            evbuffer_remove_buffer(in, bufferevent_get_output(s->cbev), *run);
        *run = 0;
        wt_hook_forward_without_context(s, in, h);
        s->wt_raised--;
        return WT_HOOK_CONSUMED;
    }
    if (s->wt_swallow <= 0)
        return s->wt ? wt_hook_extended_server(s, in, run, h) : WT_HOOK_FORWARD;
    if (evbuffer_get_length(in) - *run < h->total)
        return WT_HOOK_NEED_MORE;
    if (*run)
        evbuffer_remove_buffer(in, bufferevent_get_output(s->cbev), *run);
    *run = 0;
    if (h->type == PqMsg_ReadyForQuery) {
        uint8_t msg[PQ_MSG_HEADER_LEN + 1];
        evbuffer_copyout(in, msg, sizeof(msg));
        s->txn_status = (char)msg[PQ_MSG_HEADER_LEN];
        s->pending_syncs--;
        s->wt_swallow--;
    }
    evbuffer_drain(in, h->total);
    return WT_HOOK_CONSUMED;
}

void wt_hook_after_server(proxy_session *s)
{
    if (s->wt_wait && s->pending_syncs <= 0 && s->remaining[PROTO_FROM_SERVER] == 0 && s->cbev &&
        s->state == PS_RELAY) {
        s->wt_wait = false;
        if (evbuffer_get_length(bufferevent_get_input(s->cbev)) > 0)
            proxy_relay_client_read(s->cbev, s);
    }
}
