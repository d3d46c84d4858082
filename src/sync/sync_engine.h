/*
 * sync_engine.h - `tether sync`: for every configured sync, hold its lease,
 * create the tables, record the feed position, backfill every collection
 * page by page (page + cursor in one transaction), then follow the change
 * feed (poll with a safety window, plus verified webhooks) forever.
 *
 * One process runs one loop; several processes on one database split the
 * syncs through leases in the state schema (FOR UPDATE SKIP LOCKED, expiring
 * after lease_seconds; every write transaction re-checks the lease, so a
 * process that lost its lease cannot write). Postgres and API failures are
 * retried with backoff; a Postgres restart is survived by reconnecting.
 *
 * Memory: the engine owns its connections, connectors and servers; the
 * configuration is borrowed and must outlive sync_engine_run().
 */
#ifndef TETHER_SYNC_SYNC_ENGINE_H
#define TETHER_SYNC_SYNC_ENGINE_H

#include "util/config.h"

#include <signal.h>

/*
 * Runs until *STOP becomes non-zero (set it from a signal handler). Returns
 * T_OK after a clean stop, T_ERR when it could not start (bad sync
 * configuration, cannot listen); the reason is logged and printed.
 */
int sync_engine_run(const tether_config *cfg, volatile sig_atomic_t *stop);

#endif
