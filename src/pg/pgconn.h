/*
 * pgconn.h - small helpers over libpq shared by the sync engine, setup and
 * status: connect with a clear (redacted) error, run a statement and check
 * it, quote identifiers. The proxy does not use libpq for client traffic.
 *
 * Memory: a PGconn returned here is the caller's (PQfinish it).
 */
#ifndef TETHER_PG_PGCONN_H
#define TETHER_PG_PGCONN_H

#include <libpq-fe.h>
#include <stddef.h>

/*
 * Connects to URL (any libpq connection string). On failure returns NULL and
 * writes "cannot connect to HOST:PORT/DB: reason" (password never included)
 * into ERRBUF. APPLICATION_NAME may be NULL.
 */
PGconn *pgconn_connect(const char *url, const char *application_name, char *errbuf,
                       size_t errlen);

/*
 * Runs SQL (no parameters, may hold several statements). Returns T_OK when
 * every result succeeded, else T_ERR with the server's message (and SQLSTATE)
 * in ERRBUF.
 */
int pgconn_exec(PGconn *conn, const char *sql, char *errbuf, size_t errlen);

/*
 * Writes the identifier NAME, double-quoted with embedded quotes doubled,
 * into DST. Returns T_ERR if it does not fit.
 */
int pgconn_quote_ident(const char *name, char *dst, size_t dstlen);

#endif
