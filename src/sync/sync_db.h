/*
 * sync_db.h - everything the sync engine keeps in Postgres:
 *   - Tether's state schema (config state_schema, default _tether): syncs
 *     (feed cursor, backfill flag, last event/error), per-collection backfill
 *     cursors and counts, leases, and tombstones of deleted rows;
 *   - the target schema: one table per collection with `id text primary
 *     key`, typed columns, `_version bigint` (API time of the row's state)
 *     and `_synced_at`, an index on every `<x>_id`, SELECT for the read role;
 *   - applying a list of changes as batched upserts/deletes guarded by
 *     `_version`, inside the caller's transaction.
 *
 * All calls are synchronous libpq on the caller's connection. Nothing here
 * keeps memory between calls. Errors go into the caller's buffer.
 */
#ifndef TETHER_SYNC_SYNC_DB_H
#define TETHER_SYNC_SYNC_DB_H

#include "connectors/connector.h"
#include "sync/sync_batch.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

/* SQLSTATE of <state>.lease_fence(key, holder, secs) when KEY is not HOLDER's. */
#define SYNC_DB_SQLSTATE_LEASE_LOST "TL001"
/* SQLSTATE of <state>.cursor_advance(...) when the cursor is not at p_from. */
#define SYNC_DB_SQLSTATE_CURSOR_MOVED "TL002"

/*
 * Creates the state schema and its tables (idempotent, safe concurrently),
 * and the functions lease_fence(key, holder, secs): renews a lease held by
 * holder, or raises SYNC_DB_SQLSTATE_LEASE_LOST (fencing a transaction);
 * cursor_advance(sync, collection, from, to, done, rows): moves a backfill
 * cursor from FROM to TO (counting the page), or raises
 * SYNC_DB_SQLSTATE_CURSOR_MOVED when it is not at FROM.
 */
int sync_db_ensure_state(PGconn *conn, const char *state_schema, char *err, size_t errlen);

/*
 * Creates SCHEMA and a table per collection of S, adds missing columns,
 * indexes every *_id column and grants SELECT to READ_ROLE (created when
 * missing and permitted; otherwise a warning and no grant). Idempotent.
 * Columns that earlier runs added for new API fields are added to S.
 */
int sync_db_ensure_tables(PGconn *conn, const char *schema, conn_schema *s,
                          const char *read_role, char *err, size_t errlen);

/* Adds column COL to SCHEMA.COLL (and its index) if missing. */
int sync_db_add_column(PGconn *conn, const char *schema, const conn_collection *coll,
                       const conn_column *col, const char *read_role, char *err, size_t errlen);

/*
 * Applies CH to the tables inside the caller's open transaction: the last
 * change per (collection, id) wins, rows are upserted in one multi-row
 * statement per collection (an older `_version` never overwrites a newer
 * row, an identical row is not rewritten), deletes leave tombstones so a
 * replayed older event cannot resurrect a row. Fields the API added are
 * inferred with OPS->infer_column and added as columns (S is updated).
 * *WRITTEN gets the number of rows inserted/updated/deleted.
 */
int sync_db_apply(PGconn *conn, const char *state_schema, const char *schema, conn_schema *s,
                  const connector_ops *ops, void *conn_self, const conn_changes *ch,
                  const char *read_role, long *written, char *err, size_t errlen);

/*
 * The statements sync_db_apply would run for CH, appended to OUT (the
 * caller runs them, e.g. as one pipelined transaction, and frees OUT).
 * Fields the API added are inferred and their columns added here, at once
 * (DDL on CONN, which must not be in pipeline mode), so the statements
 * already name them. T_ERR + ERR when that DDL failed.
 */
int sync_db_apply_build(PGconn *conn, const char *state_schema, const char *schema, conn_schema *s,
                        const connector_ops *ops, void *conn_self, const conn_changes *ch,
                        const char *read_role, sync_batch *out, char *err, size_t errlen);

/*
 * Whether sync_db_apply_build would add columns for CH (fields the API
 * added): it runs DDL then, so a caller in pipeline mode must drain first.
 */
bool sync_db_needs_columns(const conn_schema *s, const connector_ops *ops, void *conn_self,
                           const conn_changes *ch);

/*
 * Writes "SQLSTATE: message" of the failed result RES (or, with RES NULL,
 * the connection's error) into ERR, trailing newlines cut and secrets
 * redacted. Frees nothing.
 */
void sync_db_result_error(PGconn *conn, const PGresult *res, char *err, size_t errlen);

/* Runs SQL with text PARAMS; returns the result (caller PQclears) or NULL + ERR. */
PGresult *sync_db_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                        char *err, size_t errlen);

/* Converts unix seconds to "YYYY-MM-DDTHH:MM:SSZ". */
void sync_db_iso_time(int64_t t, char *out, size_t len);

#endif
