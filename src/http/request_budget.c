/*
 * request_budget.c - the per-credential request budget shared through
 * Postgres (see request_budget.h). Owns one libpq connection per handle;
 * every statement is a single synchronous round trip.
 */
#include "http/request_budget.h"
#include "pg/pgconn.h"
#include "util/common.h"
#include "util/log.h"

#include <assert.h>
#include <libpq-fe.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUDGET_GRANT_SECONDS 0.1    /* a grant is this much of the rate */
#define BUDGET_GRANT_TTL_MS 1000    /* unused granted tokens expire after this */
#define BUDGET_RECONNECT_MS 5000    /* after a database error, fail open this long */
#define BUDGET_TAKE_STMT "tether_budget_take"

struct request_budget {
    char *conninfo;
    char *table;       /* quoted schema.request_budget */
    char *schema;      /* quoted schema */
    char key[REQUEST_BUDGET_KEY_LEN];
    char name[64];
    double rate, burst, grant;
    PGconn *conn;
    double local_tokens;      /* granted by the ledger, not used yet */
    int64_t grant_expires_ms; /* local_tokens are void after this */
    int64_t next_ask_ms;      /* the ledger said to wait until then */
    int64_t next_connect_ms;  /* failing open until then */
    bool warned;              /* the current outage has been logged */
};

void request_budget_key(const sync_config *sc, char out[REQUEST_BUDGET_KEY_LEN])
{
    const char *parts[] = {sc->source,    sc->api_base, sc->api_key,  sc->login_url,
                           sc->client_id, sc->username};
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        abort();
    for (size_t i = 0; i < T_ARRAY_LEN(parts); i++) {
        const char *p = parts[i] ? parts[i] : "";
        /* length-prefixed, so that ("ab","c") and ("a","bc") differ */
        char len[24];
        int n = snprintf(len, sizeof(len), "%zu:", strlen(p));
        EVP_DigestUpdate(md, len, (size_t)n);
        EVP_DigestUpdate(md, p, strlen(p));
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_DigestFinal_ex(md, digest, &dlen);
    EVP_MD_CTX_free(md);
    assert(dlen == 32);
    for (unsigned int i = 0; i < dlen; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

request_budget *request_budget_open(const char *conninfo, const char *state_schema, const char *key,
                                    const char *name, double rate)
{
    if (rate <= 0 || !conninfo || !*conninfo)
        return NULL;
    request_budget *b = calloc(1, sizeof(*b));
    if (!b)
        abort();
    b->conninfo = strdup(conninfo);
    char qs[256], table[300];
    if (pgconn_quote_ident(state_schema && *state_schema ? state_schema : "_tether", qs, sizeof(qs)) !=
        T_OK)
        snprintf(qs, sizeof(qs), "_tether"); /* config validation keeps schema names short */
    snprintf(table, sizeof(table), "%s.request_budget", qs);
    b->schema = strdup(qs);
    b->table = strdup(table);
    if (!b->conninfo || !b->schema || !b->table)
        abort();
    snprintf(b->key, sizeof(b->key), "%s", key);
    snprintf(b->name, sizeof(b->name), "%s", name ? name : "");
    b->rate = rate;
    b->burst = rate < 1 ? 1 : rate;
    b->grant = floor(rate * BUDGET_GRANT_SECONDS);
    if (b->grant < 1)
        b->grant = 1;
    return b;
}

request_budget *request_budget_for_sync(const sync_config *sc, const char *conninfo,
                                        const char *state_schema)
{
    char key[REQUEST_BUDGET_KEY_LEN];
    request_budget_key(sc, key);
    double rate = sc->credential_rate;
    if (rate <= 0)
        rate = sc->rate_backfill > sc->rate_steady ? sc->rate_backfill : sc->rate_steady;
    return request_budget_open(conninfo, state_schema, key, sc->name, rate);
}

void request_budget_close(request_budget *b)
{
    if (!b)
        return;
    if (b->conn)
        PQfinish(b->conn);
    free(b->conninfo);
    free(b->table);
    free(b->schema);
    free(b);
}

/* Logs the first failure of an outage and fails open for a while. */
static void budget_fail(request_budget *b, int64_t now_ms, const char *what)
{
    if (!b->warned)
        log_warn("budget.unavailable", "sync=%s what=\"%s\" retry_ms=%d", b->name, what, BUDGET_RECONNECT_MS);
    b->warned = true;
    if (b->conn) {
        PQfinish(b->conn);
        b->conn = NULL;
    }
    b->next_connect_ms = now_ms + BUDGET_RECONNECT_MS;
}

static bool budget_exec(request_budget *b, const char *sql, int n, const char *const *params, char *err,
                        size_t errlen)
{
    PGresult *r = PQexecParams(b->conn, sql, n, NULL, params, NULL, NULL, 0);
    bool ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
    if (!ok)
        snprintf(err, errlen, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(b->conn));
    PQclear(r);
    return ok;
}

/* Connects, creates the table when missing, and makes sure the key's row exists. */
static int budget_connect(request_budget *b, char *err, size_t errlen)
{
    b->conn = pgconn_connect(b->conninfo, "tether budget", err, errlen);
    if (!b->conn)
        return T_ERR;
    char sql[1024];
    /* a process without CREATE rights can still use a table that exists */
    snprintf(sql, sizeof(sql), "SELECT to_regclass('%s') IS NOT NULL", b->table);
    PGresult *r = PQexec(b->conn, sql);
    bool exists = r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
                  strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!exists) {
        snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS %s", b->schema);
        if (!budget_exec(b, sql, 0, NULL, err, errlen))
            return T_ERR;
        snprintf(sql, sizeof(sql),
                 "CREATE TABLE IF NOT EXISTS %s (credential text PRIMARY KEY, tokens float8 NOT NULL,"
                 " rate float8 NOT NULL, updated_at timestamptz NOT NULL, paused_until timestamptz,"
                 " granted bigint NOT NULL DEFAULT 0)",
                 b->table);
        if (!budget_exec(b, sql, 0, NULL, err, errlen))
            return T_ERR;
    }
    char rate[32], burst[32];
    snprintf(rate, sizeof(rate), "%.17g", b->rate);
    snprintf(burst, sizeof(burst), "%.17g", b->burst);
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s (credential, tokens, rate, updated_at) VALUES ($1, $2, $3, clock_timestamp())"
             " ON CONFLICT (credential) DO NOTHING",
             b->table);
    const char *p[] = {b->key, burst, rate};
    if (!budget_exec(b, sql, 3, p, err, errlen))
        return T_ERR;
    /* the grant: parsed and planned once per connection (it is on the write path) */
    char take[1400];
    snprintf(take, sizeof(take),
             "WITH cur AS ("
             "  SELECT t.now, coalesce(b.paused_until, t.now) AS paused_until,"
             "         least($3::float8, b.tokens + $2::float8 *"
             "               greatest(0, extract(epoch FROM t.now - b.updated_at)::float8)) AS avail"
             "    FROM %s b, (SELECT clock_timestamp() AS now) t WHERE b.credential = $1 FOR UPDATE OF b),"
             " g AS (SELECT now, avail, paused_until,"
             "         CASE WHEN paused_until > now THEN 0::float8"
             "              ELSE least($4::float8, greatest(0::float8, floor(avail))) END AS granted FROM cur)"
             " UPDATE %s b SET tokens = g.avail - g.granted, updated_at = g.now, rate = $2::float8,"
             "   granted = b.granted + g.granted::bigint"
             "   FROM g WHERE b.credential = $1"
             " RETURNING g.granted, g.avail,"
             "   ceil(extract(epoch FROM g.paused_until - g.now)::float8 * 1000)::bigint",
             b->table, b->table);
    PGresult *pr = PQprepare(b->conn, BUDGET_TAKE_STMT, take, 4, NULL);
    bool prepared = pr && PQresultStatus(pr) == PGRES_COMMAND_OK;
    if (!prepared)
        snprintf(err, errlen, "%s", pr ? PQresultErrorMessage(pr) : PQerrorMessage(b->conn));
    PQclear(pr);
    if (!prepared)
        return T_ERR;
    if (b->warned)
        log_info("budget.available", "sync=%s", b->name);
    b->warned = false;
    return T_OK;
}

int64_t request_budget_take(request_budget *b, int64_t now_ms)
{
    if (!b)
        return 0;
    if (b->local_tokens >= 1 && now_ms < b->grant_expires_ms) {
        b->local_tokens -= 1;
        return 0;
    }
    if (now_ms < b->next_ask_ms)
        return b->next_ask_ms - now_ms;
    char err[512];
    if (!b->conn) {
        if (now_ms < b->next_connect_ms)
            return 0; /* failing open */
        if (budget_connect(b, err, sizeof(err)) != T_OK) {
            budget_fail(b, now_ms, err);
            return 0;
        }
    }
    /* refill by elapsed time and debit the grant under the row lock: one round trip */
    char rate[32], burst[32], grant[32];
    snprintf(rate, sizeof(rate), "%.17g", b->rate);
    snprintf(burst, sizeof(burst), "%.17g", b->burst);
    snprintf(grant, sizeof(grant), "%.17g", b->grant);
    const char *p[] = {b->key, rate, burst, grant};
    PGresult *r = PQexecPrepared(b->conn, BUDGET_TAKE_STMT, 4, p, NULL, NULL, 0);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        snprintf(err, sizeof(err), "%s",
                 r && PQresultStatus(r) == PGRES_TUPLES_OK ? "the budget row is gone"
                                                          : (r ? PQresultErrorMessage(r) : "no result"));
        PQclear(r);
        budget_fail(b, now_ms, err);
        return 0;
    }
    double granted = strtod(PQgetvalue(r, 0, 0), NULL);
    double avail = strtod(PQgetvalue(r, 0, 1), NULL);
    long long paused_ms = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    PQclear(r);
    if (granted >= 1) {
        b->local_tokens = granted - 1;
        b->grant_expires_ms = now_ms + BUDGET_GRANT_TTL_MS;
        return 0;
    }
    double wait = paused_ms > 0 ? (double)paused_ms : ceil((1.0 - avail) * 1000.0 / b->rate);
    int64_t w = wait < 1 ? 1 : (int64_t)wait;
    b->next_ask_ms = now_ms + w;
    return w;
}

void request_budget_pause(request_budget *b, int64_t pause_ms)
{
    if (!b || pause_ms <= 0)
        return;
    b->local_tokens = 0;
    if (!b->conn)
        return;
    char sql[512], ms[32];
    snprintf(sql, sizeof(sql),
             "UPDATE %s SET paused_until = greatest(coalesce(paused_until, clock_timestamp()),"
             " clock_timestamp() + $2::float8 * interval '1 millisecond') WHERE credential = $1",
             b->table);
    snprintf(ms, sizeof(ms), "%lld", (long long)pause_ms);
    const char *p[] = {b->key, ms};
    char err[512];
    if (!budget_exec(b, sql, 2, p, err, sizeof(err)))
        log_warn("budget.pause_failed", "sync=%s error=\"%s\"", b->name, err);
    else
        log_info("budget.paused", "sync=%s pause_ms=%lld", b->name, (long long)pause_ms);
}
