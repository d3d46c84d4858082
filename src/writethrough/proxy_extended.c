/*
 * proxy_extended.c - writes to synced tables in the extended protocol.
 * A Parse whose statement writes a synced table is not sent upstream: the
 * statement (and the portals bound to it) live here, per session. Once the
 * upstream has answered everything sent before, the whole Sync group is
 * answered from here: ParseComplete, BindComplete, ParameterDescription /
 * RowDescription / NoData (described on the engine's loop connection: a
 * local round trip, no API call), DataRows and CommandComplete of an
 * Execute from a write worker (the job runs off the loop like a simple
 * Query's, see proxy_hook.c: the group's later messages wait in the input
 * until wt_ext_execute_done answers it), CloseComplete, and ReadyForQuery. An
 * error skips to Sync like Postgres does; inside a transaction block a
 * statement that fails is sent upstream (its answer swallowed) so that the
 * block is aborted there too.
 *
 * Limits: a Sync group that holds such a statement may hold only messages on
 * write statements (plus Flush); a group that mixes in other statements is
 * answered with an error. Results are sent in text format.
 *
 * Memory: wt_session and everything in it is malloc'd here and freed by
 * wt_session_free() when the proxy session ends.
 */
#include "writethrough/proxy_hook.h"

#include "proxy/session.h"
#include "util/common.h"
#include "util/log.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WT_MAX_PARAMS 65535
/* wt_ext_one: the message went to a write worker; its answer comes later. */
#define WT_EXT_PENDING 1

typedef struct wt_stmt {
    char *name;
    char *sql;
    int ntypes;
    Oid *types;
    struct wt_stmt *next;
} wt_stmt;

typedef struct wt_portal {
    char *name;
    wt_stmt *stmt;             /* borrowed (a portal is dropped with its statement) */
    int nparams;
    char **values;
    int *lengths, *formats;
    struct wt_portal *next;
} wt_portal;

struct wt_session {
    wt_stmt *stmts;
    wt_portal *portals;
    bool group;          /* the current Sync group has messages answered here */
    int skip;            /* WT_SKIP_*: skipping to Sync after an error */
    bool up_error;       /* upstream reported an error before an injected Sync */
    int swallow_rfq;     /* ReadyForQuery of injected Syncs still to drop */
    wt_error err;        /* the group's error, for aborting a block at Sync */
};

enum { WT_SKIP_NONE = 0, WT_SKIP_MINE, WT_SKIP_UPSTREAM };

static void wt_portal_free(wt_portal *p)
{
    for (int i = 0; i < p->nparams; i++)
        free(p->values[i]);
    free(p->values);
    free(p->lengths);
    free(p->formats);
    free(p->name);
    free(p);
}

static void wt_stmt_free(wt_stmt *st)
{
    free(st->name);
    free(st->sql);
    free(st->types);
    free(st);
}

static wt_stmt *wt_find_stmt(wt_session *ws, const char *name)
{
    for (wt_stmt *st = ws ? ws->stmts : NULL; st; st = st->next)
        if (strcmp(st->name, name) == 0)
            return st;
    return NULL;
}

static wt_portal *wt_find_portal(wt_session *ws, const char *name)
{
    for (wt_portal *p = ws ? ws->portals : NULL; p; p = p->next)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

static void wt_drop_portal(wt_session *ws, const char *name)
{
    for (wt_portal **pp = &ws->portals; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) == 0) {
            wt_portal *p = *pp;
            *pp = p->next;
            wt_portal_free(p);
            return;
        }
    }
}

static void wt_drop_stmt(wt_session *ws, const char *name)
{
    for (wt_stmt **sp = &ws->stmts; *sp; sp = &(*sp)->next) {
        if (strcmp((*sp)->name, name) == 0) {
            wt_stmt *st = *sp;
            for (wt_portal **pp = &ws->portals; *pp;) {
                if ((*pp)->stmt == st) {
                    wt_portal *p = *pp;
                    *pp = p->next;
                    wt_portal_free(p);
                } else {
                    pp = &(*pp)->next;
                }
            }
            *sp = st->next;
            wt_stmt_free(st);
            return;
        }
    }
}

void wt_session_free(wt_session *ws)
{
    if (!ws)
        return;
    while (ws->portals) {
        wt_portal *p = ws->portals;
        ws->portals = p->next;
        wt_portal_free(p);
    }
    while (ws->stmts) {
        wt_stmt *st = ws->stmts;
        ws->stmts = st->next;
        wt_stmt_free(st);
    }
    free(ws);
}

/* Copies the body of the message at OFFSET (header H) into a NUL-terminated buffer. */
static char *wt_ext_body(struct evbuffer *in, size_t offset, const proto_header *h, size_t *len)
{
    size_t blen = h->total - PQ_MSG_HEADER_LEN;
    char *body = malloc(blen + 1);
    if (!body)
        abort();
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(in, &pos, offset + PQ_MSG_HEADER_LEN, EVBUFFER_PTR_SET);
    evbuffer_copyout_from(in, &pos, body, blen);
    body[blen] = '\0';
    *len = blen;
    return body;
}

/* Whether the Parse body's statement writes a synced table (or touches the guard's settings). */
static bool wt_ext_parse_is_write(proxy_session *s, const char *body, size_t blen)
{
    proto_reader r;
    proto_reader_init(&r, (const uint8_t *)body, blen);
    const char *name = proto_read_cstring(&r);
    const char *sql = proto_read_cstring(&r);
    if (!name || !sql)
        return false;
    if (wt_guard_mentions_setting(sql, strlen(sql)))
        return true;
    const classify_result *cr = NULL;
    if (classify_cache_get(wt_engine_cache(s->ctx->wt), NULL, s->user, sql, &cr) != T_OK)
        return false;
    if (!cr->writes_synced && s->wt) {
        /* a read re-using a name of ours replaces it (the unnamed statement) */
        wt_drop_stmt(s->wt, name);
    }
    return cr->writes_synced;
}

bool wt_hook_extended_owns(proxy_session *s, struct evbuffer *in, size_t run, const proto_header *h)
{
    if (!s->wt || (!s->wt->stmts && !s->wt->portals))
        return false;
    if (evbuffer_get_length(in) - run < h->total)
        return true; /* decide once it is complete */
    size_t blen;
    char *body = wt_ext_body(in, run, h, &blen);
    proto_reader r;
    proto_reader_init(&r, (const uint8_t *)body, blen);
    bool mine = false;
    if (h->type == PqMsg_Bind) {
        proto_read_cstring(&r);
        const char *stmt = proto_read_cstring(&r);
        mine = stmt && wt_find_stmt(s->wt, stmt);
    } else if (h->type == PqMsg_Execute) {
        const char *portal = proto_read_cstring(&r);
        mine = portal && wt_find_portal(s->wt, portal);
    } else if (h->type == PqMsg_Describe || h->type == PqMsg_Close) {
        const uint8_t *kind = proto_read_bytes(&r, 1);
        const char *name = proto_read_cstring(&r);
        if (kind && name)
            mine = *kind == 'S' ? wt_find_stmt(s->wt, name) != NULL : wt_find_portal(s->wt, name) != NULL;
    }
    free(body);
    return mine;
}

/* ParameterDescription + RowDescription/NoData for ST, described on Tether's connection. */
static int wt_ext_describe(proxy_session *s, wt_stmt *st, bool with_params, struct evbuffer *out,
                           wt_error *err)
{
    PGconn *conn = wt_engine_conn(s->ctx->wt);
    if (!conn) {
        wt_error_set(err, WT_SQLSTATE_UNAVAILABLE, NULL, NULL, "Tether's database connection is down");
        return T_ERR;
    }
    PGresult *r = PQprepare(conn, "", st->sql, st->ntypes, st->types);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        wt_error_set(err, PQresultErrorField(r, PG_DIAG_SQLSTATE) ?: "42601", NULL, NULL, "%s",
                     PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) ?: "cannot prepare");
        PQclear(r);
        return T_ERR;
    }
    PQclear(r);
    r = PQdescribePrepared(conn, "");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        wt_error_set(err, "XX000", NULL, NULL, "cannot describe the statement");
        PQclear(r);
        return T_ERR;
    }
    if (with_params) {
        int np = PQnparams(r);
        uint8_t hdr[7] = {PqMsg_ParameterDescription};
        uint32_t len = (uint32_t)(4 + 2 + 4 * np);
        hdr[1] = (uint8_t)(len >> 24);
        hdr[2] = (uint8_t)(len >> 16);
        hdr[3] = (uint8_t)(len >> 8);
        hdr[4] = (uint8_t)len;
        hdr[5] = (uint8_t)(np >> 8);
        hdr[6] = (uint8_t)np;
        evbuffer_add(out, hdr, sizeof(hdr));
        for (int i = 0; i < np; i++) {
            uint32_t t = (uint32_t)PQparamtype(r, i);
            uint8_t b[4] = {(uint8_t)(t >> 24), (uint8_t)(t >> 16), (uint8_t)(t >> 8), (uint8_t)t};
            evbuffer_add(out, b, 4);
        }
    }
    if (PQnfields(r) > 0) {
        wt_hook_put_row_description(out, r);
    } else {
        uint8_t nd[5] = {PqMsg_NoData, 0, 0, 0, 4};
        evbuffer_add(out, nd, sizeof(nd));
    }
    PQclear(r);
    PQclear(PQexec(conn, "DEALLOCATE \"\""));
    return T_OK;
}

static void wt_ext_simple(struct evbuffer *out, char type)
{
    uint8_t m[5] = {(uint8_t)type, 0, 0, 0, 4};
    evbuffer_add(out, m, sizeof(m));
}

/*
 * Loop thread: the write of an Execute came back from its worker. Answers it
 * as the Execute's place in the group (DataRows, CommandComplete, NOTICE; or
 * the NOTICE and the error, skipping to Sync), then relays what the client
 * sent after it.
 */
static void wt_ext_execute_done(wt_job *job)
{
    proxy_session *s = job->owner;
    s->wt_job = NULL;
    const wt_outcome *o = &job->out;
    if (s->state == PS_RELAY && s->cbev && s->wt) {
        struct evbuffer *out = bufferevent_get_output(s->cbev);
        if (!o->failed) {
            if (o->returning)
                wt_hook_put_data_rows(out, o->returning);
            wt_hook_put_command_complete(out, o->tag);
        }
        if (o->notice)
            wt_hook_put_notice(out, wt_hook_notice_text(o->applied));
        if (o->failed) {
            wt_hook_put_error(out, &o->error);
            s->wt->skip = WT_SKIP_MINE;
            s->wt->err = o->error;
        }
    }
    wt_job_free(job);
    proxy_relay_write_done(s);
}

/*
 * Handles one message of the group. Returns T_ERR when it failed (ERR set),
 * WT_EXT_PENDING when an Execute went to a write worker.
 */
static int wt_ext_one(proxy_session *s, char type, const char *body, size_t blen,
                      struct evbuffer *out, wt_error *err)
{
    wt_session *ws = s->wt;
    proto_reader r;
    proto_reader_init(&r, (const uint8_t *)body, blen);
    switch (type) {
    case PqMsg_Parse: {
        const char *name = proto_read_cstring(&r);
        const char *sql = proto_read_cstring(&r);
        const uint8_t *cnt = proto_read_bytes(&r, 2);
        int nt = cnt ? (cnt[0] << 8) | cnt[1] : 0;
        if (!name || !sql || r.bad) {
            wt_error_set(err, "08P01", NULL, NULL, "invalid Parse message");
            return T_ERR;
        }
        if (wt_guard_mentions_setting(sql, strlen(sql))) {
            wt_error_set(err, WT_SQLSTATE_GUARD, NULL, NULL,
                         "the settings " WT_GUC_TOKEN " and " WT_GUC_CAPTURE " are reserved for Tether");
            return T_ERR;
        }
        if (name[0] && wt_find_stmt(ws, name)) {
            wt_error_set(err, "42P05", NULL, NULL, "prepared statement \"%s\" already exists", name);
            return T_ERR;
        }
        wt_drop_stmt(ws, name);
        wt_stmt *st = calloc(1, sizeof(*st));
        if (!st)
            abort();
        st->name = strdup(name);
        st->sql = strdup(sql);
        st->ntypes = nt;
        st->types = calloc((size_t)nt + 1, sizeof(Oid));
        if (!st->name || !st->sql || !st->types)
            abort();
        for (int i = 0; i < nt; i++)
            st->types[i] = (Oid)proto_read_int32(&r);
        st->next = ws->stmts;
        ws->stmts = st;
        wt_ext_simple(out, PqMsg_ParseComplete);
        return T_OK;
    }
    case PqMsg_Bind: {
        const char *portal = proto_read_cstring(&r);
        const char *stmt = proto_read_cstring(&r);
        wt_stmt *st = stmt ? wt_find_stmt(ws, stmt) : NULL;
        if (!portal || !st) {
            wt_error_set(err, "26000", NULL, NULL, "prepared statement \"%s\" does not exist",
                         stmt ? stmt : "");
            return T_ERR;
        }
        const uint8_t *b = proto_read_bytes(&r, 2);
        int nf = b ? (b[0] << 8) | b[1] : 0;
        const uint8_t *fmtp = nf ? proto_read_bytes(&r, (size_t)nf * 2) : NULL;
        b = proto_read_bytes(&r, 2);
        int np = b ? (b[0] << 8) | b[1] : 0;
        if (r.bad || (nf != 0 && nf != 1 && nf != np)) {
            wt_error_set(err, "08P01", NULL, NULL, "invalid Bind message");
            return T_ERR;
        }
        wt_drop_portal(ws, portal);
        wt_portal *p = calloc(1, sizeof(*p));
        if (!p)
            abort();
        p->name = strdup(portal);
        p->stmt = st;
        p->nparams = np;
        p->values = calloc((size_t)np + 1, sizeof(char *));
        p->lengths = calloc((size_t)np + 1, sizeof(int));
        p->formats = calloc((size_t)np + 1, sizeof(int));
        if (!p->name || !p->values || !p->lengths || !p->formats)
            abort();
        p->next = ws->portals;
        ws->portals = p;
        for (int i = 0; i < np; i++) {
            int32_t len = proto_read_int32(&r);
            p->formats[i] = nf == 0 ? 0 : nf == 1 ? ((fmtp[0] << 8) | fmtp[1])
                                                   : ((fmtp[2 * i] << 8) | fmtp[2 * i + 1]);
            if (len < 0) {
                p->values[i] = NULL;
                continue;
            }
            const uint8_t *v = proto_read_bytes(&r, (size_t)len);
            if (!v) {
                wt_error_set(err, "08P01", NULL, NULL, "invalid Bind message");
                return T_ERR;
            }
            p->values[i] = malloc((size_t)len + 1);
            if (!p->values[i])
                abort();
            memcpy(p->values[i], v, (size_t)len);
            p->values[i][len] = '\0';
            p->lengths[i] = len;
        }
        wt_ext_simple(out, PqMsg_BindComplete);
        return T_OK;
    }
    case PqMsg_Describe: {
        const uint8_t *kind = proto_read_bytes(&r, 1);
        const char *name = proto_read_cstring(&r);
        if (!kind || !name) {
            wt_error_set(err, "08P01", NULL, NULL, "invalid Describe message");
            return T_ERR;
        }
        if (*kind == 'S') {
            wt_stmt *st = wt_find_stmt(ws, name);
            if (!st) {
                wt_error_set(err, "26000", NULL, NULL, "prepared statement \"%s\" does not exist", name);
                return T_ERR;
            }
            return wt_ext_describe(s, st, true, out, err);
        }
        wt_portal *p = wt_find_portal(ws, name);
        if (!p) {
            wt_error_set(err, "34000", NULL, NULL, "portal \"%s\" does not exist", name);
            return T_ERR;
        }
        return wt_ext_describe(s, p->stmt, false, out, err);
    }
    case PqMsg_Execute: {
        const char *name = proto_read_cstring(&r);
        wt_portal *p = name ? wt_find_portal(ws, name) : NULL;
        if (!p) {
            wt_error_set(err, "34000", NULL, NULL, "portal \"%s\" does not exist", name ? name : "");
            return T_ERR;
        }
        const classify_result *cr = NULL;
        if (classify_cache_get(wt_engine_cache(s->ctx->wt), NULL, s->user, p->stmt->sql, &cr) != T_OK ||
            cr->n_stmts != 1) {
            wt_error_set(err, WT_SQLSTATE_UNSUPPORTED, NULL, NULL,
                         "a write to a synced table must be a single statement");
            return T_ERR;
        }
        wt_job *job = wt_job_new(&cr->stmts[0], p->stmt->sql, p->nparams, (const char *const *)p->values,
                                 p->lengths, p->formats, s->user, s->txn_status == 'T');
        job->owner = s;
        job->done = wt_ext_execute_done;
        s->wt_job = job;
        wt_engine_submit(s->ctx->wt, job);
        return WT_EXT_PENDING;
    }
    case PqMsg_Close: {
        const uint8_t *kind = proto_read_bytes(&r, 1);
        const char *name = proto_read_cstring(&r);
        if (kind && name) {
            if (*kind == 'S')
                wt_drop_stmt(ws, name);
            else
                wt_drop_portal(ws, name);
        }
        wt_ext_simple(out, PqMsg_CloseComplete);
        return T_OK;
    }
    default:
        return T_OK; /* Flush */
    }
}

/* Sends a Sync upstream whose ReadyForQuery is dropped (its other answers are relayed). */
static void wt_ext_inject_sync(proxy_session *s)
{
    uint8_t m[5] = {PqMsg_Sync, 0, 0, 0, 4};
    evbuffer_add(bufferevent_get_output(s->sbev), m, sizeof(m));
    s->pending_syncs++;
    s->last_client_type = PqMsg_Sync;
    s->wt->swallow_rfq++;
    s->wt->up_error = false;
}

/* Answers the client's Sync for a group answered here. */
static void wt_ext_sync(proxy_session *s, const wt_error *err)
{
    wt_session *ws = s->wt;
    if (ws->skip == WT_SKIP_MINE && s->txn_status == 'T') {
        /* abort the block upstream too; its whole answer is swallowed */
        char *sql = wt_hook_raise_sql(err, NULL);
        wt_hook_send_swallowed(s, sql);
        free(sql);
        s->txn_status = 'E';
    }
    wt_drop_portal(ws, "");
    wt_hook_put_ready(bufferevent_get_output(s->cbev), s->txn_status);
    ws->group = false;
    ws->skip = WT_SKIP_NONE;
}

wt_hook_action wt_hook_extended(proxy_session *s, struct evbuffer *in, size_t *run,
                                const proto_header *h)
{
    if (evbuffer_get_length(in) - *run < h->total)
        return WT_HOOK_NEED_MORE;
    wt_session *ws = s->wt;
    bool mine;
    if (ws && ws->skip != WT_SKIP_NONE) {
        mine = true; /* skipping to Sync */
    } else if (h->type == PqMsg_Parse) {
        size_t blen;
        char *body = wt_ext_body(in, *run, h, &blen);
        mine = wt_ext_parse_is_write(s, body, blen);
        free(body);
    } else if (h->type == PqMsg_Sync) {
        mine = ws && (ws->group || ws->skip != WT_SKIP_NONE);
    } else {
        mine = ws && wt_hook_extended_owns(s, in, *run, h);
    }
    if (!mine)
        return WT_HOOK_FORWARD;
    if (!ws) {
        ws = s->wt = calloc(1, sizeof(*s->wt));
        if (!ws)
            abort();
    }
    /* What came before goes first. */
    if (*run)
        evbuffer_remove_buffer(in, bufferevent_get_output(s->sbev), *run);
    *run = 0;
    if (h->type == PqMsg_Sync &&
        (ws->skip == WT_SKIP_UPSTREAM || (s->last_client_type != 0 && s->last_client_type != PqMsg_Sync &&
                                          s->last_client_type != PqMsg_Query))) {
        /* upstream has part of this group (or saw its error): it answers the Sync */
        ws->skip = WT_SKIP_NONE;
        ws->group = false;
        return WT_HOOK_FORWARD;
    }
    if (ws->skip == WT_SKIP_NONE && h->type != PqMsg_Sync) {
        /* messages of this group already went upstream: have them answered first */
        if (s->last_client_type != 0 && s->last_client_type != PqMsg_Sync &&
            s->last_client_type != PqMsg_Query)
            wt_ext_inject_sync(s);
        if (s->pending_syncs > 0 || s->remaining[PROTO_FROM_SERVER] > 0) {
            s->wt_wait = true;
            return WT_HOOK_WAIT;
        }
        if (ws->up_error) {
            ws->up_error = false;
            ws->skip = WT_SKIP_UPSTREAM;
        }
    }
    size_t blen;
    char *body = wt_ext_body(in, 0, h, &blen);
    evbuffer_drain(in, h->total);
    struct evbuffer *out = bufferevent_get_output(s->cbev);
    if (h->type == PqMsg_Sync) {
        wt_ext_sync(s, &ws->err);
    } else if (ws->skip == WT_SKIP_NONE) {
        ws->group = true;
        wt_error err;
        if (s->txn_status == 'E' && h->type != PqMsg_Flush) {
            wt_error_set(&err, "25P02", NULL, NULL,
                         "current transaction is aborted, commands ignored until end of transaction block");
            wt_hook_put_error(out, &err);
            ws->skip = WT_SKIP_MINE;
            ws->err = err;
        } else {
            int rc = wt_ext_one(s, h->type, body, blen, out, &err);
            if (rc != T_OK && rc != WT_EXT_PENDING) {
                wt_hook_put_error(out, &err);
                ws->skip = WT_SKIP_MINE;
                ws->err = err;
            }
        }
    } else if (ws->skip == WT_SKIP_UPSTREAM) {
        ws->group = true; /* dropped, like Postgres does after an error */
    }
    free(body);
    return WT_HOOK_CONSUMED;
}

/* Server side: drop the ReadyForQuery of injected Syncs, note errors before them. */
wt_hook_action wt_hook_extended_server(proxy_session *s, struct evbuffer *in, size_t *run,
                                       const proto_header *h)
{
    wt_session *ws = s->wt;
    if (!ws || ws->swallow_rfq <= 0)
        return WT_HOOK_FORWARD;
    if (h->type == PqMsg_ErrorResponse) {
        ws->up_error = true;
        return WT_HOOK_FORWARD;
    }
    if (h->type != PqMsg_ReadyForQuery)
        return WT_HOOK_FORWARD;
    if (evbuffer_get_length(in) - *run < h->total)
        return WT_HOOK_NEED_MORE;
    if (*run)
        evbuffer_remove_buffer(in, bufferevent_get_output(s->cbev), *run);
    *run = 0;
    uint8_t msg[PQ_MSG_HEADER_LEN + 1];
    evbuffer_copyout(in, msg, sizeof(msg));
    s->txn_status = (char)msg[PQ_MSG_HEADER_LEN];
    s->pending_syncs--;
    ws->swallow_rfq--;
    evbuffer_drain(in, h->total);
    return WT_HOOK_CONSUMED;
}
