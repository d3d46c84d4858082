/*
 * sync_status.h - what each sync is doing, read from the state schema: feed
 * position, backfill progress per collection, rows, lag, last event, last
 * error, lease holder. Lag is the time since the sync last confirmed it had
 * read the change feed up to the present (null while backfilling). Rendered as JSON (GET /status, `tether status --json`),
 * Prometheus text (GET /metrics) and plain lines or a progress bar
 * (`tether status`).
 *
 * Memory: returned json_t and strings are the caller's.
 */
#ifndef TETHER_SYNC_SYNC_STATUS_H
#define TETHER_SYNC_SYNC_STATUS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>

/* Reads the status of every sync. NULL + ERR on failure. An absent state schema is no syncs. */
json_t *sync_status_read(PGconn *conn, const char *state_schema, char *err, size_t errlen);

/* Prometheus text exposition of STATUS (malloc()ed). */
char *sync_status_metrics(json_t *status);

/* Writes STATUS for humans; BAR draws progress bars (terminal). */
void sync_status_print(json_t *status, FILE *out, bool bar);

#endif
