/*
 * apply.c - applies a plan to the API and makes the table match: each write
 * goes to the connector's apply (one API call; creates carry an
 * Idempotency-Key that the HTTP client's retries reuse), the accepted
 * canonical objects are then written back in one transaction with the sync
 * engine's versioned upsert (sync_db_apply), and each attempt is audited.
 * The first rejection stops the statement: the accepted writes stay (the API
 * has them) and the error names the rejected row and how many were applied.
 * Also builds the RETURNING rows from the API's versions.
 *
 * Memory: changes and canonical objects are released here; IDS is the
 * caller's.
 */
#include "writethrough/writethrough.h"

#include "sync/sync_db.h"
#include "util/common.h"
#include "util/json_fast.h"
#include "util/log.h"

#include <pg_query.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Queues the audit rows of the first N writes of PLAN (ids in IDS) as applied on PP. */
static void wt_apply_audit_send(wt_engine *wt, wt_pipe *pp, const wt_plan *plan, size_t n,
                                json_t *ids, const char *user, const char *error)
{
    wt_target *t = plan->target;
    const conn_collection *coll = &t->schema->colls[plan->coll];
    for (size_t k = 0; k < n; k++)
        wt_audit_send(pp, wt_engine_state_schema(wt), user, t->cfg->name, coll->object_type,
                      plan->writes[k].op, json_string_value(json_array_get(ids, k)),
                      plan->writes[k].fields, plan->writes[k].request_id, "applied", error);
}

/* Records the first N writes of PLAN as applied, with ERROR, in a round trip of their own. */
static void wt_apply_audit_applied(wt_engine *wt, const wt_plan *plan, size_t n, json_t *ids,
                                   const char *user, const char *error)
{
    wt_pipe pp;
    if (wt_pipe_begin(&pp, wt_engine_conn(wt), wt_engine_prepared(wt)) == T_OK)
        wt_apply_audit_send(wt, &pp, plan, n, ids, user, error);
    if (wt_pipe_finish(&pp, -1, NULL) != T_OK)
        log_warn("writethrough.audit_failed", "error=\"%s\"", pp.error.message);
}

/*
 * Writes CH back and audits the N applied writes in one round trip and one
 * transaction: the versioned upserts/deletes sync_db_apply would run
 * (collected by sync_db_apply_build, which adds columns for new API fields
 * first) and the audit inserts, prepared statements in one pipeline, i.e.
 * one implicit transaction that commits at its Sync.
 */
static int wt_apply_writeback(wt_engine *wt, wt_plan *plan, size_t n, json_t *ids, const char *user,
                              conn_changes *ch, char *err, size_t errlen)
{
    wt_target *t = plan->target;
    PGconn *conn = wt_engine_conn(wt);
    int64_t t0 = wt_engine_now_us();
    sync_batch b;
    memset(&b, 0, sizeof(b));
    int rc = sync_db_apply_build(conn, wt_engine_state_schema(wt), t->schema_name, t->schema,
                                 t->ops, t->self, ch, wt_engine_read_role(wt), &b, err, errlen);
    if (rc == T_OK) {
        wt_pipe pp;
        if (wt_pipe_begin(&pp, conn, wt_engine_prepared(wt)) == T_OK) {
            for (size_t i = 0; i < b.n; i++)
                wt_pipe_send(&pp, b.items[i].sql, b.items[i].nparams,
                             (const char *const *)b.items[i].params, NULL, NULL, true);
            wt_apply_audit_send(wt, &pp, plan, n, ids, user, NULL);
        }
        if (wt_pipe_finish(&pp, -1, NULL) != T_OK) {
            int len = snprintf(err, errlen, "%s%s%s", pp.error.sqlstate,
                               pp.error.sqlstate[0] ? ": " : "", pp.error.message);
            if (len >= (int)errlen && errlen > 4)
                memcpy(err + errlen - 4, "...", 4); /* cut: say so */
            rc = T_ERR;
        }
    }
    log_debug("writethrough.writeback", "rows=%zu statements=%zu us=%lld", n, b.n,
              (long long)(wt_engine_now_us() - t0));
    sync_batch_free(&b);
    return rc;
}

/*
 * When the API named a field that is a column under another name (Email ->
 * email), says so in ERR's hint (unless it has one).
 */
static void wt_apply_hint_column(wt_error *err, const conn_collection *coll, const char *param,
                                 const char *schema)
{
    if (err->hint[0] || !param || !param[0])
        return;
    for (size_t c = 0; c < coll->ncols; c++) {
        if (strcmp(coll->cols[c].field, param) == 0 && strcmp(coll->cols[c].name, param) != 0) {
            snprintf(err->hint, sizeof(err->hint), "The API's field %s is column \"%s\" of %s.%s.",
                     param, coll->cols[c].name, schema, coll->name);
            return;
        }
    }
}

/* How to name write I of PLAN in an error: its id, or its position. */
static void wt_apply_row_name(const wt_plan *plan, size_t i, char *buf, size_t len)
{
    if (plan->writes[i].id[0])
        snprintf(buf, len, "%s", plan->writes[i].id);
    else
        buf[0] = '\0';
}

/*
 * Writes back the accepted writes (PLAN holds only those, IDS their ids, CH
 * their changes) and audits them; a failed write-back becomes OUT's error
 * unless OUT already has one. Returns RC, or T_ERR when the write-back failed.
 */
static int wt_apply_finish(wt_engine *wt, wt_plan *plan, const char *user, json_t *ids,
                           conn_changes *ch, wt_outcome *out, int rc)
{
    wt_target *t = plan->target;
    if (ch->n > 0) {
        char err[T_ERRBUF_SIZE];
        if (wt_apply_writeback(wt, plan, plan->n, ids, user, ch, err, sizeof(err)) != T_OK) {
            log_error("writethrough.writeback_failed", "sync=%s error=\"%s\"", t->cfg->name, err);
            wt_apply_audit_applied(wt, plan, plan->n, ids, user, "write-back failed");
            if (!out->failed) {
                out->failed = true;
                wt_error_set(&out->error, WT_SQLSTATE_WRITEBACK,
                             "The sync will bring the table up to date from the API's events.",
                             NULL,
                             "the API applied the change but writing it to the table failed: %s", err);
            }
            rc = T_ERR;
        }
    }
    conn_changes_free(ch);
    return rc;
}

/*
 * Adds the accepted write W (canonical CANON, taken; AE the call's request id
 * and API clock) to CH and IDS.
 */
static void wt_apply_accepted(wt_target *t, size_t coll_ix, wt_write *w, json_t *canon,
                              const conn_api_error *ae, conn_changes *ch, json_t *ids)
{
    const conn_collection *coll = &t->schema->colls[coll_ix];
    const char *cid = json_string_value(json_object_get(canon, "id"));
    char id[128];
    snprintf(id, sizeof(id), "%s", cid ? cid : w->id);
    log_info("writethrough.applied", "sync=%s object=%s op=%d id=%s", t->cfg->name,
             coll->object_type, (int)w->op, id);
    snprintf(w->request_id, sizeof(w->request_id), "%s", ae->request_id);
    /* Version the row with the API's clock, as the sync does with events;
     * the local clock only when the API sent no Date. */
    int64_t version = ae->server_time > 0 ? ae->server_time : (int64_t)time(NULL);
    if (w->op == CONN_WRITE_DELETE) {
        json_decref(canon);
        conn_changes_push(ch, CONN_DELETE, coll_ix, id, NULL, version);
    } else {
        conn_changes_push(ch, CONN_UPSERT, coll_ix, id, canon, version);
    }
    json_array_append_new(ids, json_string(id));
}

/* Audits and logs the rejected write W of PLAN. */
static void wt_apply_rejected(wt_engine *wt, const wt_plan *plan, const wt_write *w,
                              const char *user, const conn_api_error *ae)
{
    wt_target *t = plan->target;
    const conn_collection *coll = &t->schema->colls[plan->coll];
    wt_audit_record(wt_engine_conn(wt), wt_engine_prepared(wt), wt_engine_state_schema(wt), user,
                    t->cfg->name, coll->object_type, w->op, w->id, w->fields, ae->request_id,
                    ae->http_status ? "rejected" : "failed", ae->message);
    log_info("writethrough.rejected", "sync=%s object=%s op=%d id=%s status=%d code=%s",
             t->cfg->name, coll->object_type, (int)w->op, w->id[0] ? w->id : "-", ae->http_status,
             ae->code[0] ? ae->code : "-");
}

/* Whether PLAN goes to the connector's apply_batch: several writes, all of one op. */
static bool wt_apply_batchable(const wt_plan *plan)
{
    const wt_target *t = plan->target;
    if (!t->ops->apply_batch || plan->n < 2 ||
        plan->n > (size_t)t->ops->limits(t->self).max_rows_per_write)
        return false;
    for (size_t i = 1; i < plan->n; i++)
        if (plan->writes[i].op != plan->writes[0].op)
            return false;
    return true;
}

/*
 * PLAN through the connector's apply_batch: every row has its own outcome
 * (not all-or-none), the accepted ones are written back, the first rejected
 * one is named in the error with how many were applied.
 */
static int wt_apply_plan_batch(wt_engine *wt, wt_plan *plan, const char *user, json_t *ids,
                               wt_outcome *out)
{
    wt_target *t = plan->target;
    conn_collection *coll = &t->schema->colls[plan->coll];
    conn_write *cw = calloc(plan->n, sizeof(*cw));
    wt_write *accepted = calloc(plan->n, sizeof(*accepted));
    if (!cw || !accepted)
        abort();
    for (size_t i = 0; i < plan->n; i++) {
        cw[i].op = plan->writes[i].op;
        cw[i].id = plan->writes[i].id;
        cw[i].fields = plan->writes[i].fields;
    }
    t->ops->apply_batch(t->self, coll, cw, plan->n);
    conn_changes ch;
    memset(&ch, 0, sizeof(ch));
    size_t nok = 0, nbad = 0, first_bad = plan->n;
    for (size_t i = 0; i < plan->n; i++) {
        if (cw[i].ok) {
            wt_apply_accepted(t, plan->coll, &plan->writes[i], cw[i].canonical, &cw[i].error, &ch,
                              ids);
            accepted[nok++] = plan->writes[i];
            cw[i].canonical = NULL;
            out->applied++;
        } else {
            wt_apply_rejected(wt, plan, &plan->writes[i], user, &cw[i].error);
            if (nbad++ == 0)
                first_bad = i;
        }
    }
    int rc = T_OK;
    if (nbad > 0) {
        char row[160];
        wt_apply_row_name(plan, first_bad, row, sizeof(row));
        wt_error_from_api(&out->error, cw[first_bad].op, coll->name, row, &cw[first_bad].error);
        wt_apply_hint_column(&out->error, coll, cw[first_bad].error.param, t->schema_name);
        size_t dl = strlen(out->error.detail);
        snprintf(out->error.detail + dl, sizeof(out->error.detail) - dl,
                 "%sRow %zu of %zu was rejected%s; %zu row%s applied in the same batch (they "
                 "stay applied).",
                 dl ? ". " : "", first_bad + 1, plan->n,
                 nbad > 1 ? " (the first of the rejected rows)" : "", nok,
                 nok == 1 ? " was" : "s were");
        size_t ml = strlen(out->error.message);
        snprintf(out->error.message + ml, sizeof(out->error.message) - ml,
                 " (%zu of %zu rows applied)", nok, plan->n);
        out->failed = true;
        rc = T_ERR;
    }
    log_info("writethrough.batch", "sync=%s object=%s rows=%zu applied=%zu rejected=%zu",
             t->cfg->name, coll->object_type, plan->n, nok, nbad);
    wt_plan view = *plan;
    view.writes = accepted;
    view.n = nok;
    rc = wt_apply_finish(wt, &view, user, ids, &ch, out, rc);
    for (size_t i = 0; i < plan->n; i++)
        json_decref(cw[i].canonical);
    free(cw);
    free(accepted);
    return rc;
}

int wt_apply_plan(wt_engine *wt, wt_plan *plan, const char *user, json_t *ids, wt_outcome *out)
{
    if (wt_apply_batchable(plan))
        return wt_apply_plan_batch(wt, plan, user, ids, out);
    wt_target *t = plan->target;
    conn_collection *coll = &t->schema->colls[plan->coll];
    conn_changes ch;
    memset(&ch, 0, sizeof(ch));
    int rc = T_OK;
    for (size_t i = 0; i < plan->n; i++) {
        wt_write *w = &plan->writes[i];
        json_t *canon = NULL;
        conn_api_error ae;
        memset(&ae, 0, sizeof(ae));
        int arc = t->ops->apply(t->self, coll, w->op, w->id[0] ? w->id : NULL, w->fields, &canon,
                                &ae);
        if (arc != T_OK) {
            char row[160];
            wt_apply_row_name(plan, i, row, sizeof(row));
            wt_error_from_api(&out->error, w->op, coll->name, row, &ae);
            wt_apply_hint_column(&out->error, coll, ae.param, t->schema_name);
            if (plan->n > 1) {
                size_t dl = strlen(out->error.detail);
                snprintf(out->error.detail + dl, sizeof(out->error.detail) - dl,
                         "%sRow %zu of %zu was rejected; %zu row%s applied before it (they stay "
                         "applied); the rest were not sent.",
                         dl ? ". " : "", i + 1, plan->n, i, i == 1 ? " was" : "s were");
                size_t ml = strlen(out->error.message);
                snprintf(out->error.message + ml, sizeof(out->error.message) - ml,
                         " (%zu of %zu rows applied)", i, plan->n);
            }
            out->failed = true;
            wt_apply_rejected(wt, plan, w, user, &ae);
            rc = T_ERR;
            break;
        }
        wt_apply_accepted(t, plan->coll, w, canon, &ae, &ch, ids);
        out->applied++;
    }
    wt_plan view = *plan;
    view.n = (size_t)out->applied; /* the applied writes are the first ones */
    return wt_apply_finish(wt, &view, user, ids, &ch, out, rc);
}

/* Location of the RETURNING list and the alias of the target, from the parse tree. */
static int wt_apply_returning_text(const char *sql, char *ret, size_t retlen, char *alias,
                                   size_t alen)
{
    PgQueryParseResult pr = pg_query_parse(sql);
    int rc = T_ERR;
    json_t *tree = NULL;
    if (pr.error || !pr.parse_tree)
        goto failed;
    json_error_t je;
    tree = json_fast_loadb(pr.parse_tree, strlen(pr.parse_tree), &je);
    json_t *stmt = json_object_get(json_array_get(json_object_get(tree, "stmts"), 0), "stmt");
    json_t *body = NULL;
    const char *k;
    json_t *v;
    json_object_foreach(stmt, k, v) { body = v; }
    json_t *list = json_object_get(body, "returningList");
    json_t *first = json_object_get(json_array_get(list, 0), "ResTarget");
    json_t *loc = json_object_get(first, "location");
    if (!json_is_integer(loc))
        goto failed;
    json_t *rel = json_object_get(body, "relation");
    const char *an = json_string_value(json_object_get(json_object_get(rel, "alias"), "aliasname"));
    const char *rn = json_string_value(json_object_get(rel, "relname"));
    snprintf(alias, alen, "%s", an ? an : (rn ? rn : "t"));
    size_t start = (size_t)json_integer_value(loc);
    size_t len = strlen(sql);
    if (start >= len)
        goto failed;
    size_t end = len;
    while (end > start && (sql[end - 1] == ';' || sql[end - 1] == ' ' || sql[end - 1] == '\n' ||
                           sql[end - 1] == '\t' || sql[end - 1] == '\r'))
        end--;
    if (end - start + 1 > retlen)
        goto failed;
    memcpy(ret, sql + start, end - start);
    ret[end - start] = '\0';
    rc = T_OK;
failed:
    json_decref(tree);
    pg_query_free_parse_result(pr);
    return rc;
}

PGresult *wt_apply_returning(PGconn *conn, const wt_target *t, const conn_collection *coll,
                             const char *sql, const classify_stmt *st, json_t *ids,
                             const wt_captures *cap, wt_error *err)
{
    size_t cap_len = strlen(sql) + 1;
    char *ret = malloc(cap_len);
    char *q = malloc(cap_len + 1024);
    char alias[128];
    PGresult *res = NULL;
    if (!ret || !q)
        abort();
    if (wt_apply_returning_text(sql, ret, cap_len, alias, sizeof(alias)) != T_OK) {
        wt_error_set(err, WT_SQLSTATE_UNSUPPORTED, NULL, NULL, "cannot read the RETURNING list");
        goto done;
    }
    char *sq = PQescapeIdentifier(conn, t->schema_name, strlen(t->schema_name));
    char *tq = PQescapeIdentifier(conn, coll->name, strlen(coll->name));
    char *aq = PQescapeIdentifier(conn, alias, strlen(alias));
    char *arg = NULL;
    if (st->kind == CLASSIFY_DELETE) {
        json_t *rows = json_array();
        for (size_t i = 0; cap && i < cap->n; i++)
            if (cap->rows[i].old_row)
                json_array_append(rows, cap->rows[i].old_row);
        arg = json_dumps(rows, JSON_COMPACT);
        json_decref(rows);
        snprintf(q, cap_len + 1024,
                 "SELECT %s FROM jsonb_populate_recordset(NULL::%s.%s, $1::jsonb) AS %s", ret, sq, tq,
                 aq);
    } else {
        arg = json_dumps(ids, JSON_COMPACT);
        snprintf(q, cap_len + 1024,
                 "SELECT %s FROM %s.%s AS %s WHERE %s.id IN (SELECT jsonb_array_elements_text($1::jsonb))"
                 " ORDER BY array_position(ARRAY(SELECT jsonb_array_elements_text($1::jsonb)), %s.id)",
                 ret, sq, tq, aq, aq, aq);
    }
    PQfreemem(sq);
    PQfreemem(tq);
    PQfreemem(aq);
    const char *p[] = {arg};
    res = PQexecParams(conn, q, 1, NULL, p, NULL, NULL, 0);
    free(arg);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        wt_error_set(err, PQresultErrorField(res, PG_DIAG_SQLSTATE) ?: "XX000", NULL, NULL,
                     "RETURNING after the write: %s",
                     PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) ?: "failed");
        PQclear(res);
        res = NULL;
    }
done:
    free(ret);
    free(q);
    return res;
}
