/*
 * stripe.c - the Stripe connector: backfill pages (oldest first), the
 * /v1/events change feed with a safety window, signed webhooks, and writes
 * (create/update/delete) for the proxy. The instance owns its copy of the
 * key and base URL; responses are freed before each call returns.
 *
 * Oldest-first backfill: Stripe lists newest first and has no ascending
 * order. The first page of a collection finds the oldest creation second by
 * a binary search with `created[lte]=T&limit=1` (about 30 small requests,
 * run in lockstep for all collections), pages through that second (`created[gte]=T&created[lte]=T`, then
 * `starting_after`), and from then on every page is
 * `ending_before=<newest id so far>`, which returns the page just newer
 * than the cursor. When the cursor object was deleted meanwhile (Stripe
 * answers resource_missing), the page re-anchors on the cursor's second.
 */
#include "connectors/stripe/stripe.h"
#include "connectors/stripe/stripe_sig.h"
#include "util/common.h"
#include "util/json_fast.h"
#include "util/log.h"

#include <curl/curl.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STRIPE_SEARCH_LO 1262304000LL /* 2010-01-01, before Stripe existed */
#define STRIPE_EVENTS_MAX_PAGES 50      /* per poll going forward from a cursor */
#define STRIPE_EVENTS_MAX_PAGES_ALL 10000 /* from an empty feed: must reach the oldest */

#define STRIPE_REPLAY_SLOTS 1024
#define STRIPE_CHILD_MAX_PAGES 100 /* 10,000 items/lines per parent */
#define STRIPE_CHILD_CACHE 32      /* full child lists kept for re-read events */

typedef struct stripe_conn {
    char api_base[512];
    /* signatures accepted recently: an identical delivery is a replay */
    pthread_mutex_t replay_lock;
    char replay[STRIPE_REPLAY_SLOTS][STRIPE_SIG_HEX_LEN + 1];
    size_t replay_next;
    char auth[256];
    char *webhook_secret;
    http_client *http;
    int page_size;
    /* full child lists fetched recently, by "<parent id>@<version>": each poll
     * re-reads the safety window's events, and their lists are not fetched
     * again (engine thread only: backfill and changes) */
    struct {
        char key[160];
        json_t *children;
        int64_t fetched_at; /* the API's clock when the list was read */
    } child_cache[STRIPE_CHILD_CACHE];
    size_t child_next;
} stripe_conn;

static void *stripe_open(const sync_config *cfg, http_client *http, char *err, size_t errlen)
{
    if (!cfg->api_key || !*cfg->api_key) {
        snprintf(err, errlen, "sync %s: no api_key", cfg->name);
        return NULL;
    }
    stripe_conn *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    snprintf(s->api_base, sizeof(s->api_base), "%s",
             cfg->api_base && *cfg->api_base ? cfg->api_base : STRIPE_DEFAULT_API_BASE);
    size_t n = strlen(s->api_base);
    while (n > 0 && s->api_base[n - 1] == '/')
        s->api_base[--n] = '\0';
    snprintf(s->auth, sizeof(s->auth), "Authorization: Bearer %s", cfg->api_key);
    s->webhook_secret = cfg->webhook_secret ? strdup(cfg->webhook_secret) : NULL;
    s->http = http;
    pthread_mutex_init(&s->replay_lock, NULL);
    s->page_size = cfg->page_size > 0 && cfg->page_size <= STRIPE_PAGE_LIMIT ? cfg->page_size
                                                                            : STRIPE_PAGE_LIMIT;
    return s;
}

static void stripe_close(void *self)
{
    stripe_conn *s = self;
    if (!s)
        return;
    free(s->webhook_secret);
    pthread_mutex_destroy(&s->replay_lock);
    for (size_t i = 0; i < STRIPE_CHILD_CACHE; i++)
        json_decref(s->child_cache[i].children);
    free(s);
}

static void req_get(stripe_conn *s, http_request *r, const char *path, const char *query)
{
    char url[2048];
    snprintf(url, sizeof(url), "%s%s%s%s", s->api_base, path, query && *query ? (strchr(path, '?') ? "&" : "?") : "",
             query ? query : "");
    http_request_init(r, "GET", url);
    r->headers[0] = s->auth;
    r->expect_json = true;
}

/* Copies the API's error message of a finished request into ERR. */
static void api_error(const http_request *r, char *err, size_t errlen)
{
    const char *msg = NULL;
    json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
    if (e)
        msg = json_string_value(json_object_get(e, "message"));
    if (r->error[0])
        snprintf(err, errlen, "%s", r->error);
    else
        snprintf(err, errlen, "HTTP %ld%s%s", r->status, msg ? ": " : "", msg ? msg : "");
}

static int64_t server_time_of(const http_request *r)
{
    return r->server_time > 0 ? r->server_time : (int64_t)time(NULL);
}

static int64_t json_int(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

void stripe_object_to_changes(const conn_schema *schema, size_t coll, json_t *obj, int64_t version,
                              conn_changes *out)
{
    const char *id = json_string_value(json_object_get(obj, "id"));
    if (!id)
        return;
    const conn_collection *c = &schema->colls[coll];
    conn_changes_push(out, CONN_UPSERT, coll, id, json_incref(obj), version);
    const char *child_field = NULL, *child_coll = NULL;
    if (strcmp(c->name, "subscription") == 0) {
        child_field = "items";
        child_coll = "subscription_item";
    } else if (strcmp(c->name, "invoice") == 0) {
        child_field = "lines";
        child_coll = "invoice_line_item";
    }
    int ci = child_coll ? conn_schema_find(schema, child_coll) : -1;
    json_t *list = child_field ? json_object_get(obj, child_field) : NULL;
    json_t *data = list ? json_object_get(list, "data") : NULL;
    if (ci < 0 || !json_is_array(data))
        return;
    if (json_is_true(json_object_get(list, "has_more"))) {
        /* incomplete list (the API embeds the first 10): upsert what we have,
         * delete nothing; stripe_complete_children fetches the rest */
        size_t i;
        json_t *child;
        json_array_foreach(data, i, child) {
            const char *cid = json_string_value(json_object_get(child, "id"));
            if (cid)
                conn_changes_push(out, CONN_UPSERT, (size_t)ci, cid, json_incref(child), version);
        }
        return;
    }
    conn_changes_push(out, CONN_CHILDREN, (size_t)ci, id, json_incref(data), version);
}

int stripe_event_to_changes(const conn_schema *schema, json_t *event, conn_changes *out)
{
    const char *eid = json_string_value(json_object_get(event, "id"));
    const char *type = json_string_value(json_object_get(event, "type"));
    json_t *obj = json_object_get(json_object_get(event, "data"), "object");
    if (!eid || !type || !json_is_object(obj) ||
        strcmp(json_string_value(json_object_get(event, "object")) ?: "", "event") != 0)
        return T_ERR;
    int64_t version = json_int(event, "created");
    int ev = conn_schema_find(schema, "event");
    if (ev >= 0) {
        conn_change *c = conn_changes_push(out, CONN_UPSERT, (size_t)ev, eid, json_incref(event), version);
        snprintf(c->event_id, sizeof(c->event_id), "%s", eid);
        snprintf(c->event_type, sizeof(c->event_type), "%s", type);
        c->event = json_incref(event);
    }
    const char *otype = json_string_value(json_object_get(obj, "object"));
    const char *oid = json_string_value(json_object_get(obj, "id"));
    int ci = otype ? conn_schema_find_type(schema, otype) : -1;
    if (ci < 0 || !oid || strcmp(otype, "event") == 0)
        return T_OK;
    size_t tlen = strlen(type);
    bool deleted = (tlen > 8 && strcmp(type + tlen - 8, ".deleted") == 0) ||
                   json_is_true(json_object_get(obj, "deleted"));
    /* a "deleted" subscription is a canceled one: Stripe keeps it */
    if (strcmp(otype, "subscription") == 0)
        deleted = false;
    if (deleted) {
        conn_changes_push(out, CONN_DELETE, (size_t)ci, oid, NULL, version);
        const conn_collection *c = &schema->colls[ci];
        for (size_t k = 0; k < schema->n; k++)
            if (strcmp(schema->colls[k].parent, c->name) == 0)
                conn_changes_push(out, CONN_CHILDREN, k, oid, json_array(), version);
        return T_OK;
    }
    stripe_object_to_changes(schema, (size_t)ci, obj, version, out);
    return T_OK;
}

/* The child list a parent object embeds: subscription items, invoice lines. */
static bool stripe_child_list(const char *coll, const char **field, const char **child_coll)
{
    if (strcmp(coll, "subscription") == 0) {
        *field = "items";
        *child_coll = "subscription_item";
        return true;
    }
    if (strcmp(coll, "invoice") == 0) {
        *field = "lines";
        *child_coll = "invoice_line_item";
        return true;
    }
    return false;
}

/*
 * Fetches every child of parent ID of collection COLL (GET
 * /v1/subscription_items?subscription=ID or /v1/invoices/ID/lines, 100 per
 * page) into *OUT (a new array), and the API's clock (seconds) at the
 * first page into *FETCHED_AT. T_OK; T_ERR with ERR filled on an API
 * error. A parent that is gone (404) gives T_OK and *OUT = NULL.
 */
static int stripe_fetch_children(stripe_conn *s, const char *coll, const char *id, json_t **out,
                                 int64_t *fetched_at, char *err, size_t errlen)
{
    *out = NULL;
    *fetched_at = 0;
    char *esc = curl_easy_escape(NULL, id, 0);
    if (!esc)
        abort();
    char path[256], base_query[256];
    if (strcmp(coll, "subscription") == 0) {
        snprintf(path, sizeof(path), "/v1/subscription_items");
        snprintf(base_query, sizeof(base_query), "limit=100&subscription=%s", esc);
    } else {
        snprintf(path, sizeof(path), "/v1/invoices/%s/lines", esc);
        snprintf(base_query, sizeof(base_query), "limit=100");
    }
    curl_free(esc);
    json_t *all = json_array();
    char after[160] = "";
    int rc = T_OK;
    for (int page = 0; page < STRIPE_CHILD_MAX_PAGES; page++) {
        char q[512];
        char *ea = after[0] ? curl_easy_escape(NULL, after, 0) : NULL;
        snprintf(q, sizeof(q), "%s%s%s", base_query, ea ? "&starting_after=" : "", ea ? ea : "");
        curl_free(ea);
        http_request r;
        req_get(s, &r, path, q);
        http_client_run(s->http, &r, 1);
        if (page == 0)
            *fetched_at = server_time_of(&r);
        json_t *data = r.json ? json_object_get(r.json, "data") : NULL;
        if (r.status == 404) {
            http_request_reset(&r);
            json_decref(all);
            return T_OK;
        }
        if (r.status != 200 || !json_is_array(data)) {
            api_error(&r, err, errlen);
            http_request_reset(&r);
            rc = T_ERR;
            break;
        }
        json_array_extend(all, data);
        size_t cnt = json_array_size(data);
        const char *last = json_string_value(json_object_get(json_array_get(data, cnt ? cnt - 1 : 0), "id"));
        bool more = json_is_true(json_object_get(r.json, "has_more")) && cnt > 0 && last;
        if (more)
            snprintf(after, sizeof(after), "%s", last);
        http_request_reset(&r);
        if (!more) {
            *out = all;
            return T_OK;
        }
    }
    if (rc == T_OK)
        snprintf(err, errlen, "%s %s has more than %d pages of children", coll, id, STRIPE_CHILD_MAX_PAGES);
    json_decref(all);
    return T_ERR;
}

/*
 * For every upserted subscription/invoice in CH whose embedded child list
 * was cut by the API (has_more), fetches the whole list and adds it as one
 * CONN_CHILDREN change at the parent's version, so the child table gets
 * every item/line and loses the ones that are gone. One fetch per parent
 * per call, and none for a parent version fetched recently (the safety
 * window's events come back on every poll) -- but only when that list was
 * read in a later second than the version: versions are seconds, and a list
 * read in the same second may predate a change made later in it (a parent
 * backfilled and updated within one second kept its old items). T_OK, or
 * T_ERR with ERR (the caller retries the page/poll).
 */
static int stripe_complete_children(stripe_conn *s, const conn_schema *schema, conn_changes *ch, char *err,
                                    size_t errlen)
{
    size_t n0 = ch->n;
    for (size_t i = 0; i < n0; i++) {
        const conn_change *x = &ch->items[i];
        const char *field, *child_coll;
        if (x->kind != CONN_UPSERT || !stripe_child_list(schema->colls[x->coll].name, &field, &child_coll))
            continue;
        json_t *list = json_object_get(x->object, field);
        int ci = conn_schema_find(schema, child_coll);
        if (ci < 0 || !json_is_true(json_object_get(list, "has_more")))
            continue;
        bool seen = false; /* the same parent twice (several events): once is enough */
        for (size_t j = n0; j < ch->n && !seen; j++)
            seen = ch->items[j].kind == CONN_CHILDREN && strcmp(ch->items[j].id, x->id) == 0;
        if (seen)
            continue;
        char id[sizeof(x->id)], coll[64];
        snprintf(id, sizeof(id), "%s", x->id);
        snprintf(coll, sizeof(coll), "%s", schema->colls[x->coll].name);
        int64_t version = x->version;
        char key[sizeof(s->child_cache[0].key)];
        snprintf(key, sizeof(key), "%s@%lld", id, (long long)version);
        json_t *all = NULL;
        for (size_t c = 0; c < STRIPE_CHILD_CACHE && !all; c++)
            if (s->child_cache[c].children && s->child_cache[c].fetched_at > version &&
                strcmp(s->child_cache[c].key, key) == 0)
                all = json_incref(s->child_cache[c].children);
        if (!all) {
            int64_t fetched_at;
            if (stripe_fetch_children(s, coll, id, &all, &fetched_at, err, errlen) != T_OK)
                return T_ERR;
            if (!all)
                continue; /* parent deleted meanwhile: its event will say so */
            log_debug("stripe.children_fetched", "collection=%s id=%s children=%zu", child_coll, id,
                      json_array_size(all));
            size_t slot = s->child_next++ % STRIPE_CHILD_CACHE;
            json_decref(s->child_cache[slot].children);
            snprintf(s->child_cache[slot].key, sizeof(s->child_cache[slot].key), "%s", key);
            s->child_cache[slot].children = json_incref(all);
            s->child_cache[slot].fetched_at = fetched_at;
        }
        conn_changes_push(ch, CONN_CHILDREN, (size_t)ci, id, all, version); /* takes ALL */
    }
    return T_OK;
}

static int stripe_feed_position(void *self, char *cursor, size_t len, char *err, size_t errlen)
{
    stripe_conn *s = self;
    http_request r;
    req_get(s, &r, "/v1/events", "limit=1");
    int rc = http_client_run(s->http, &r, 1);
    if (rc != T_OK || r.status != 200) {
        api_error(&r, err, errlen);
        http_request_reset(&r);
        return T_ERR;
    }
    json_t *data = json_object_get(r.json, "data");
    const char *id = json_string_value(json_object_get(json_array_get(data, 0), "id"));
    snprintf(cursor, len, "%s", id ? id : "");
    http_request_reset(&r);
    return T_OK;
}

void stripe_cursor_parse(const char *text, stripe_cursor *c)
{
    memset(c, 0, sizeof(*c));
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", text ? text : "");
    if (strncmp(buf, "A:", 2) == 0) {
        char *t = buf + 2, *top = strchr(t, ':'), *after = top ? strchr(top + 1, ':') : NULL;
        if (!top || !after)
            return;
        *top++ = '\0';
        *after++ = '\0';
        c->created = strtoll(t, NULL, 10);
        snprintf(c->top, sizeof(c->top), "%.127s", top);
        snprintf(c->after, sizeof(c->after), "%.127s", after);
        if (c->created > 0 && c->top[0] && c->after[0])
            c->kind = STRIPE_CUR_ANCHOR;
        return;
    }
    char *at = strchr(buf, '@');
    if (!at || at == buf)
        return;
    *at = '\0';
    c->created = strtoll(at + 1, NULL, 10);
    snprintf(c->id, sizeof(c->id), "%.127s", buf);
    c->kind = STRIPE_CUR_AFTER;
}

/* Probe state of a first page: binary search of the oldest creation second. */
typedef struct probe {
    int64_t lo, hi; /* invariant: nothing created <= lo-1 ... found at hi */
    bool found_any;
} probe;

static int stripe_backfill(void *self, const conn_schema *schema, conn_page *pages, size_t n)
{
    stripe_conn *s = self;
    http_request *reqs = calloc(n ? n : 1, sizeof(*reqs));
    probe *pr = calloc(n ? n : 1, sizeof(*pr));
    if (!reqs || !pr)
        abort();
    int rc = T_OK;
    int64_t now = (int64_t)time(NULL) + 86400;
    /* 1. first pages: binary search for the oldest creation second */
    size_t nprobe = 0;
    for (size_t i = 0; i < n; i++) {
        pages[i].done = false;
        pages[i].error[0] = '\0';
        if (!pages[i].cursor[0]) {
            pr[i].lo = STRIPE_SEARCH_LO;
            pr[i].hi = now;
            nprobe++;
        }
    }
    /* first check that anything exists at all (created <= hi) */
    for (int round = 0; nprobe > 0 && round < 64; round++) {
        size_t idx[CONN_MAX_COLLECTIONS], m = 0;
        for (size_t i = 0; i < n && m < CONN_MAX_COLLECTIONS; i++) {
            if (pages[i].cursor[0] || pages[i].done || pages[i].error[0])
                continue;
            if (round > 0 && pr[i].lo >= pr[i].hi)
                continue;
            int64_t t = round == 0 ? pr[i].hi : pr[i].lo + (pr[i].hi - pr[i].lo) / 2;
            char q[96];
            snprintf(q, sizeof(q), "limit=1&created[lte]=%lld", (long long)t);
            req_get(s, &reqs[m], stripe_list_path(schema->colls[pages[i].coll].name), q);
            idx[m++] = i;
        }
        if (m == 0)
            break;
        http_client_run(s->http, reqs, m);
        for (size_t k = 0; k < m; k++) {
            conn_page *p = &pages[idx[k]];
            probe *b = &pr[idx[k]];
            http_request *r = &reqs[k];
            if (r->status != 200 || !r->json) {
                api_error(r, p->error, sizeof(p->error));
                rc = T_ERR;
            } else {
                bool any = json_array_size(json_object_get(r->json, "data")) > 0;
                int64_t t = round == 0 ? b->hi : b->lo + (b->hi - b->lo) / 2;
                if (round == 0) {
                    if (!any)
                        p->done = true; /* empty collection */
                } else if (any) {
                    b->hi = t;
                } else {
                    b->lo = t + 1;
                }
            }
            http_request_reset(r);
        }
    }
    /*
     * 2. the page itself. Cursors:
     *   ""                      nothing yet: anchor on the oldest second found above
     *   "A:<T>:<top>:<after>"   paging through second T (newest first) after <after>;
     *                           <top> is the newest object of that second
     *   "<id>@<created>"        page forward with ending_before=<id>
     */
    bool *refind = calloc(n ? n : 1, sizeof(*refind));
    if (!refind)
        abort();
    for (int pass = 0; pass < 2; pass++) {
        size_t m = 0;
        size_t idx[CONN_MAX_COLLECTIONS];
        for (size_t i = 0; i < n && m < CONN_MAX_COLLECTIONS; i++) {
            conn_page *p = &pages[i];
            if (p->done || p->error[0] || (pass == 1 && !refind[i]))
                continue;
            stripe_cursor c;
            stripe_cursor_parse(p->cursor, &c);
            char q[512];
            if (c.kind == STRIPE_CUR_EMPTY || pass == 1) {
                int64_t t = c.kind == STRIPE_CUR_EMPTY ? pr[i].hi : c.created;
                snprintf(q, sizeof(q), "limit=%d&created[gte]=%lld&created[lte]=%lld", s->page_size,
                         (long long)t, (long long)t);
            } else if (c.kind == STRIPE_CUR_ANCHOR) {
                char *esc = curl_easy_escape(NULL, c.after, 0);
                snprintf(q, sizeof(q), "limit=%d&created[gte]=%lld&created[lte]=%lld&starting_after=%s",
                         s->page_size, (long long)c.created, (long long)c.created, esc ? esc : "");
                curl_free(esc);
            } else {
                char *esc = curl_easy_escape(NULL, c.id, 0);
                snprintf(q, sizeof(q), "limit=%d&ending_before=%s", s->page_size, esc ? esc : "");
                curl_free(esc);
            }
            req_get(s, &reqs[m], stripe_list_path(schema->colls[p->coll].name), q);
            idx[m++] = i;
        }
        if (m > 0)
            http_client_run(s->http, reqs, m);
        for (size_t k = 0; k < m; k++) {
            conn_page *p = &pages[idx[k]];
            http_request *r = &reqs[k];
            stripe_cursor c;
            stripe_cursor_parse(p->cursor, &c);
            json_t *data = r->json ? json_object_get(r->json, "data") : NULL;
            json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
            if (pass == 0 && c.kind != STRIPE_CUR_EMPTY && (r->status == 404 || r->status == 400) &&
                strcmp(json_string_value(json_object_get(e, "code")) ?: "", "resource_missing") == 0) {
                /* the cursor object is gone (deleted): re-anchor on its second */
                if (c.created > 0)
                    refind[idx[k]] = true;
                else
                    p->cursor[0] = '\0';
                log_info("stripe.cursor_missing", "collection=%s cursor=%s",
                         schema->colls[p->coll].name, p->cursor);
                http_request_reset(r);
                continue;
            }
            if (r->status != 200 || !json_is_array(data)) {
                api_error(r, p->error, sizeof(p->error));
                rc = T_ERR;
                http_request_reset(r);
                continue;
            }
            int64_t version = server_time_of(r);
            p->rows.server_time = version;
            size_t cnt = json_array_size(data);
            /* newest first in the page: add oldest first */
            for (size_t j = cnt; j-- > 0;)
                stripe_object_to_changes(schema, p->coll, json_array_get(data, j), version, &p->rows);
            if (stripe_complete_children(s, schema, &p->rows, p->error, sizeof(p->error)) != T_OK) {
                rc = T_ERR;
                http_request_reset(r);
                continue;
            }
            bool more = json_is_true(json_object_get(r->json, "has_more"));
            const char *first = json_string_value(json_object_get(json_array_get(data, 0), "id"));
            const char *last = json_string_value(json_object_get(json_array_get(data, cnt ? cnt - 1 : 0), "id"));
            bool anchoring = c.kind == STRIPE_CUR_EMPTY || c.kind == STRIPE_CUR_ANCHOR || pass == 1;
            if (anchoring) {
                int64_t t = c.kind == STRIPE_CUR_EMPTY ? pr[idx[k]].hi : c.created;
                char top[128];
                snprintf(top, sizeof(top), "%s",
                         c.kind == STRIPE_CUR_ANCHOR ? c.top : (first ? first : ""));
                if (!top[0]) {
                    /* nothing in that second any more: search for the oldest again */
                    p->cursor[0] = '\0';
                } else if (more && last) {
                    snprintf(p->cursor, sizeof(p->cursor), "A:%lld:%s:%s", (long long)t, top, last);
                } else {
                    snprintf(p->cursor, sizeof(p->cursor), "%s@%lld", top, (long long)t);
                }
            } else {
                json_t *newest = json_array_get(data, 0);
                if (first)
                    snprintf(p->cursor, sizeof(p->cursor), "%s@%lld", first,
                             (long long)json_int(newest, "created"));
                p->done = !first || !more;
            }
            http_request_reset(r);
        }
    }
    free(refind);
    free(reqs);
    free(pr);
    return rc;
}

static int stripe_changes(void *self, const conn_schema *schema, const char *cursor,
                          int64_t safety_ms, conn_changes *out, char *err, size_t errlen)
{
    stripe_conn *s = self;
    json_t *events = json_array(); /* oldest first */
    char pos[256];
    snprintf(pos, sizeof(pos), "%s", cursor ? cursor : "");
    bool from_start = !pos[0];
    char after[256] = "";
    int64_t server_time = 0;
    int rc = T_OK;
    int max_pages = from_start ? STRIPE_EVENTS_MAX_PAGES_ALL : STRIPE_EVENTS_MAX_PAGES;
    for (int page = 0; page < max_pages; page++) {
        char q[512];
        char *esc = curl_easy_escape(NULL, from_start ? after : pos, 0);
        if (from_start)
            snprintf(q, sizeof(q), "limit=100%s%s", after[0] ? "&starting_after=" : "",
                     after[0] ? esc : "");
        else
            snprintf(q, sizeof(q), "limit=100&ending_before=%s", esc);
        curl_free(esc);
        http_request r;
        req_get(s, &r, "/v1/events", q);
        http_client_run(s->http, &r, 1);
        json_t *data = r.json ? json_object_get(r.json, "data") : NULL;
        if (r.status != 200 || !json_is_array(data)) {
            api_error(&r, err, errlen);
            http_request_reset(&r);
            rc = T_ERR;
            break;
        }
        if (!server_time)
            server_time = server_time_of(&r);
        size_t cnt = json_array_size(data);
        bool more = json_is_true(json_object_get(r.json, "has_more"));
        if (from_start) {
            /* paging back in time: prepend older pages */
            json_t *older = json_array();
            for (size_t j = cnt; j-- > 0;)
                json_array_append(older, json_array_get(data, j));
            json_array_extend(older, events);
            json_decref(events);
            events = older;
            const char *last = json_string_value(json_object_get(json_array_get(data, cnt - 1), "id"));
            if (cnt > 0 && last)
                snprintf(after, sizeof(after), "%s", last);
        } else {
            for (size_t j = cnt; j-- > 0;)
                json_array_append(events, json_array_get(data, j));
            const char *newest = json_string_value(json_object_get(json_array_get(data, 0), "id"));
            if (cnt > 0 && newest)
                snprintf(pos, sizeof(pos), "%s", newest);
        }
        http_request_reset(&r);
        if (!more || cnt == 0)
            break;
    }
    snprintf(out->next_cursor, sizeof(out->next_cursor), "%s", cursor ? cursor : "");
    if (rc == T_OK) {
        out->server_time = server_time;
        int64_t horizon = server_time - (safety_ms + 999) / 1000;
        size_t i;
        json_t *ev;
        bool advancing = true;
        json_array_foreach(events, i, ev) {
            if (stripe_event_to_changes(schema, ev, out) == T_OK)
                out->new_events++;
            /* the durable cursor moves only past events older than the window */
            if (advancing && json_int(ev, "created") < horizon) {
                const char *id = json_string_value(json_object_get(ev, "id"));
                if (id)
                    snprintf(out->next_cursor, sizeof(out->next_cursor), "%s", id);
            } else {
                advancing = false;
            }
        }
        rc = stripe_complete_children(s, schema, out, err, errlen);
    }
    json_decref(events);
    return rc;
}

static int stripe_push(void *self, const conn_schema *schema, const char *signature_header,
                       const char *body, size_t len, int64_t now, conn_changes *out, char *err,
                       size_t errlen)
{
    stripe_conn *s = self;
    if (stripe_sig_verify(signature_header, body, len, s->webhook_secret, now,
                          STRIPE_SIG_TOLERANCE_S, err, errlen) != T_OK)
        return T_ERR;
    /* the same signed delivery twice is a replay (Stripe's own retries are re-signed) */
    stripe_sig_header h;
    stripe_sig_parse(signature_header, &h);
    char want[STRIPE_SIG_HEX_LEN + 1];
    stripe_sig_compute(s->webhook_secret, h.timestamp, body, len, want);
    pthread_mutex_lock(&s->replay_lock);
    bool seen = false;
    for (size_t i = 0; i < STRIPE_REPLAY_SLOTS && !seen; i++)
        seen = strcmp(s->replay[i], want) == 0;
    if (!seen) {
        memcpy(s->replay[s->replay_next], want, sizeof(want));
        s->replay_next = (s->replay_next + 1) % STRIPE_REPLAY_SLOTS;
    }
    pthread_mutex_unlock(&s->replay_lock);
    if (seen) {
        snprintf(err, errlen, "replayed delivery");
        return T_ERR;
    }
    json_error_t jerr;
    json_t *event = json_fast_loadb(body, len, &jerr);
    if (!event || stripe_event_to_changes(schema, event, out) != T_OK) {
        snprintf(err, errlen, "body is not a Stripe event");
        if (event)
            json_decref(event);
        return T_ERR;
    }
    out->server_time = now;
    json_decref(event);
    return T_OK;
}

static void form_append(char **buf, size_t *len, size_t *cap, const char *key, const char *val)
{
    char *k = curl_easy_escape(NULL, key, 0), *v = curl_easy_escape(NULL, val, 0);
    size_t need = strlen(k) + strlen(v) + 3;
    if (*len + need >= *cap) {
        *cap = (*cap + need) * 2;
        *buf = realloc(*buf, *cap);
        if (!*buf)
            abort();
    }
    *len += (size_t)sprintf(*buf + *len, "%s%s=%s", *len ? "&" : "", k, v);
    curl_free(k);
    curl_free(v);
}

static void form_walk(char **buf, size_t *len, size_t *cap, const char *prefix, json_t *v)
{
    char key[512], num[64];
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        if (json_object_size(v) == 0 && prefix[0])
            form_append(buf, len, cap, prefix, "");
        json_object_foreach(v, k, x) {
            if (prefix[0])
                snprintf(key, sizeof(key), "%s[%s]", prefix, k);
            else
                snprintf(key, sizeof(key), "%s", k);
            form_walk(buf, len, cap, key, x);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            snprintf(key, sizeof(key), "%s[%zu]", prefix, i);
            form_walk(buf, len, cap, key, x);
        }
    } else if (json_is_string(v)) {
        form_append(buf, len, cap, prefix, json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        form_append(buf, len, cap, prefix, num);
    } else if (json_is_real(v)) {
        snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        form_append(buf, len, cap, prefix, num);
    } else if (json_is_boolean(v)) {
        form_append(buf, len, cap, prefix, json_is_true(v) ? "true" : "false");
    } else {
        form_append(buf, len, cap, prefix, ""); /* null unsets */
    }
}

char *stripe_form_encode(json_t *fields)
{
    size_t len = 0, cap = 256;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    buf[0] = '\0';
    if (fields)
        form_walk(&buf, &len, &cap, "", fields);
    return buf;
}

static int stripe_apply(void *self, const conn_collection *coll, conn_write_op op, const char *id,
                        json_t *fields, json_t **canonical, conn_api_error *api_err)
{
    stripe_conn *s = self;
    memset(api_err, 0, sizeof(*api_err));
    *canonical = NULL;
    const char *path = stripe_list_path(coll->name);
    if (!path) {
        snprintf(api_err->message, sizeof(api_err->message), "%s cannot be written directly",
                 coll->name);
        return T_ERR;
    }
    char base[256];
    snprintf(base, sizeof(base), "%s", path);
    char *q = strchr(base, '?');
    if (q)
        *q = '\0';
    char url[2048], idem[96];
    char *esc = id ? curl_easy_escape(NULL, id, 0) : NULL;
    if (op == CONN_WRITE_CREATE)
        snprintf(url, sizeof(url), "%s%s", s->api_base, base);
    else
        snprintf(url, sizeof(url), "%s%s/%s", s->api_base, base, esc ? esc : "");
    curl_free(esc);
    http_request r;
    http_request_init(&r, op == CONN_WRITE_DELETE ? "DELETE" : "POST", url);
    r.headers[0] = s->auth;
    r.headers[1] = "Content-Type: application/x-www-form-urlencoded";
    r.expect_json = true;
    char *body = op == CONN_WRITE_DELETE ? NULL : stripe_form_encode(fields);
    r.body = body;
    if (op == CONN_WRITE_CREATE) {
        /* A retried create must not create twice: every retry of this call
         * reuses the key, and the key is random (RAND_bytes), so two proxies
         * never share one. */
        unsigned char rnd[16];
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            snprintf(api_err->message, sizeof(api_err->message),
                     "cannot make an idempotency key (no randomness)");
            http_request_reset(&r);
            free(body);
            return T_ERR;
        }
        int n = snprintf(idem, sizeof(idem), "Idempotency-Key: tether-");
        for (size_t i = 0; i < sizeof(rnd); i++)
            n += snprintf(idem + n, sizeof(idem) - (size_t)n, "%02x", rnd[i]);
        r.headers[2] = idem;
    }
    http_client_run(s->http, &r, 1);
    snprintf(api_err->request_id, sizeof(api_err->request_id), "%s", r.request_id);
    api_err->server_time = r.server_time;
    int rc = T_OK;
    if (r.status >= 200 && r.status < 300 && r.json) {
        *canonical = json_incref(r.json);
    } else {
        api_err->http_status = (int)r.status;
        json_t *e = r.json ? json_object_get(r.json, "error") : NULL;
        snprintf(api_err->code, sizeof(api_err->code), "%s",
                 json_string_value(json_object_get(e, "code")) ?: (json_string_value(json_object_get(e, "type")) ?: ""));
        snprintf(api_err->param, sizeof(api_err->param), "%s",
                 json_string_value(json_object_get(e, "param")) ?: "");
        snprintf(api_err->message, sizeof(api_err->message), "%s",
                 json_string_value(json_object_get(e, "message")) ?: (r.error[0] ? r.error : "request failed"));
        rc = T_ERR;
    }
    http_request_reset(&r);
    free(body);
    return rc;
}

static conn_limits stripe_limits(void *self)
{
    (void)self;
    return (conn_limits){.page_size = STRIPE_PAGE_LIMIT, .max_rows_per_write = 100,
                         .rate_backfill = 50, .rate_steady = 10};
}

const connector_ops stripe_connector_ops = {
    .source = "stripe",
    .open = stripe_open,
    .close = stripe_close,
    .describe = stripe_describe,
    .infer_column = stripe_infer_column,
    .feed_position = stripe_feed_position,
    .backfill = stripe_backfill,
    .changes = stripe_changes,
    .push = stripe_push,
    .apply = stripe_apply,
    .limits = stripe_limits,
};
