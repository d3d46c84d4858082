/*
 * sync_batch.h - a list of parameterised statements that run as one
 * transaction, either one after the other (sync_batch_exec, inside the
 * caller's open transaction) or as one libpq pipeline segment: every
 * statement and a Sync sent in one go, so the server runs them as one
 * implicit transaction (all or nothing) while the caller does other work,
 * and the results are read later (sync_batch_send / sync_batch_finish).
 *
 * Memory: a batch owns the SQL text and parameter strings handed to
 * sync_batch_add_owned() (malloc'd by the caller) or copied by
 * sync_batch_add(); sync_batch_free() releases them.
 */
#ifndef TETHER_SYNC_SYNC_BATCH_H
#define TETHER_SYNC_SYNC_BATCH_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#define SYNC_BATCH_MAX_PARAMS 8

typedef struct sync_stmt {
    char *sql;                           /* owned */
    char *params[SYNC_BATCH_MAX_PARAMS]; /* owned; NULL is SQL NULL */
    int nparams;
    bool counts;   /* its affected-row count adds to the batch's "written" */
    bool preparing; /* set by sync_batch_send: a Parse of it went first */
    char name[24]; /* set by sync_batch_send: its prepared statement, or "" */
} sync_stmt;

#define SYNC_PREPARED_MAX 64

/*
 * The statements prepared on one connection, named after a hash of their
 * SQL text (so a name always means the same text). Belongs to whoever owns
 * the connection: reset it (memset 0) whenever the connection is replaced.
 */
typedef struct sync_prepared {
    char names[SYNC_PREPARED_MAX][24];
    size_t n;
} sync_prepared;

typedef struct sync_batch {
    sync_stmt *items;
    size_t n, cap;
    long written;     /* after exec/finish: rows of the counting statements */
    char error[1024]; /* after a failed finish: the first statement's error */
} sync_batch;

/* Appends a statement, copying SQL and PARAMS[0..N). Aborts on out-of-memory. */
void sync_batch_add(sync_batch *b, bool counts, const char *sql, int n, const char *const *params);

/* Appends a statement, taking ownership of SQL and PARAMS[0..N) (malloc'd). */
void sync_batch_add_owned(sync_batch *b, bool counts, char *sql, int n, char **params);

/* Releases every statement; B is empty and reusable afterwards. */
void sync_batch_free(sync_batch *b);

/*
 * Runs the statements in order on CONN (not in pipeline mode), inside
 * whatever transaction the caller has open; stops at the first failure
 * (T_ERR + ERR). Adds the counting statements' rows to B->written.
 */
int sync_batch_exec(PGconn *conn, sync_batch *b, char *err, size_t errlen);

/*
 * Sends every statement of B followed by a Sync, entering pipeline mode if
 * CONN is not in it yet. With PREPARED (else NULL), statements run as named
 * prepared statements, prepared in the same pipeline the first time (saves
 * parsing and planning the same text every page). Nothing is read: call
 * sync_batch_finish() for each sent batch, in the order sent. Several
 * batches may be sent before the first is finished; each is its own
 * transaction. T_ERR + ERR when the connection refused to queue them (the
 * caller should drop the connection).
 */
int sync_batch_send(PGconn *conn, sync_batch *b, sync_prepared *prepared, char *err, size_t errlen);

/*
 * Reads the results of the oldest sent, unfinished batch B up to its Sync
 * (PREPARED as given to sync_batch_send: a failed Parse is forgotten).
 * T_OK when every statement succeeded (the transaction committed; B->written
 * set); T_ERR when one failed (nothing of B committed; B->error and ERR hold
 * the first error) or the connection broke. When LAST is true the
 * connection leaves pipeline mode afterwards (T_ERR if it cannot: the
 * caller should drop it).
 */
int sync_batch_finish(PGconn *conn, sync_batch *b, sync_prepared *prepared, bool last, char *err,
                      size_t errlen);

#endif
