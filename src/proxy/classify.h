/*
 * classify.h - the proxy's statement classifier: tells, for each statement in
 * a query string, what kind of statement it is and whether it may write to a
 * synced table (INSERT/UPDATE/DELETE/MERGE targets, also inside data-modifying
 * WITH clauses, COPY FROM, TRUNCATE), built on libpg_query's parser.
 *
 * Memory: a classify_result owns everything it points to and is released with
 * classify_result_free(). A classify_synced_set owns copies of the names added
 * to it. A classify_cache owns its entries; results it hands out are borrowed
 * and stay valid until the next call on that cache (or its free).
 *
 * Threads: nothing here has global state; a set may be read by many threads at
 * once once built, a cache belongs to one thread (one proxy connection or one
 * worker) at a time.
 *
 * Fast path (what it assumes): a query string that (a) is a single statement
 * (no ';' except trailing ones), (b) starts, after whitespace and comments,
 * with a keyword that cannot start a data-modifying statement (SELECT, VALUES,
 * TABLE, WITH, SHOW, SET, RESET, FETCH, MOVE, CLOSE, LISTEN, UNLISTEN, NOTIFY,
 * DISCARD, BEGIN, START, SAVEPOINT, RELEASE, or COMMIT/END/ROLLBACK/ABORT
 * followed by nothing but TRANSACTION/WORK/AND [NO] CHAIN) and (c) contains
 * none of the words INSERT, UPDATE, DELETE, MERGE, COPY, TRUNCATE anywhere
 * (whole words, case-insensitive, even inside literals and comments: those
 * only cost a parse) is classified without parsing. The reasoning: every
 * statement that writes a table by its own text contains one of those words
 * (a data-modifying WITH holds an INSERT/UPDATE/DELETE/MERGE); SELECT ... INTO
 * creates a new table, never a synced one. A statement that passes can still
 * write through a function it calls (SELECT my_func()); such writes are not
 * visible to any classifier and are stopped by the guard trigger on synced
 * tables instead. SELECT ... FOR UPDATE is a read that takes the parse path.
 *
 * Name resolution: libpg_query parses without a catalog. A qualified name is
 * taken as written. An unqualified one is compared against every schema of
 * the search_path in order ("$user" becomes the given user, pg_catalog and
 * pg_temp are skipped): it counts as synced if any of those schema.table names
 * is synced (a conservative over-approximation: a same-named table earlier in
 * the path would shadow it in Postgres), and it is reported under the first
 * synced schema, else under the first schema of the path.
 *
 * Limits: the grammar is PostgreSQL 15's (Debian's libpg-query 15-4.x); syntax
 * newer than that is a parse error, which the classifier reports and does not
 * treat as a write ("let Postgres decide"); again the guard trigger catches a
 * write it missed. So are statements longer than CLASSIFY_MAX_SQL and ones
 * nested deeper than about 1,000 expression levels (jansson's 2048-level JSON
 * limit): "too deeply nested to classify". DDL (ALTER/DROP of a synced
 * table) is kind OTHER.
 */
#ifndef TETHER_PROXY_CLASSIFY_H
#define TETHER_PROXY_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a statement is, by its top-level node. */
typedef enum classify_kind {
    CLASSIFY_EMPTY = 0,   /* nothing but whitespace/comments */
    CLASSIFY_SELECT,      /* SELECT, VALUES, TABLE (may carry a writing WITH) */
    CLASSIFY_INSERT,
    CLASSIFY_UPDATE,
    CLASSIFY_DELETE,
    CLASSIFY_MERGE,
    CLASSIFY_COPY_FROM,
    CLASSIFY_COPY_TO,
    CLASSIFY_TRUNCATE,
    CLASSIFY_BEGIN,       /* BEGIN, START TRANSACTION */
    CLASSIFY_COMMIT,      /* COMMIT, END */
    CLASSIFY_ROLLBACK,    /* ROLLBACK, ABORT */
    CLASSIFY_SAVEPOINT,
    CLASSIFY_RELEASE,     /* RELEASE [SAVEPOINT] */
    CLASSIFY_ROLLBACK_TO, /* ROLLBACK TO [SAVEPOINT] */
    CLASSIFY_PREPARE_TRANSACTION,
    CLASSIFY_COMMIT_PREPARED,
    CLASSIFY_ROLLBACK_PREPARED,
    CLASSIFY_EXPLAIN,     /* writes only reported for EXPLAIN ANALYZE */
    CLASSIFY_PREPARE,     /* SQL PREPARE: write info describes the body */
    CLASSIFY_EXECUTE,     /* SQL EXECUTE name: see the PREPARE of that name */
    CLASSIFY_DEALLOCATE,
    CLASSIFY_SET,
    CLASSIFY_SHOW,
    CLASSIFY_LISTEN,
    CLASSIFY_NOTIFY,
    CLASSIFY_OTHER,       /* DDL, utility, CALL, DO, ... */
    CLASSIFY_KIND_COUNT
} classify_kind;

typedef enum classify_on_conflict {
    CLASSIFY_CONFLICT_NONE = 0, /* no ON CONFLICT clause */
    CLASSIFY_CONFLICT_NOTHING,  /* ON CONFLICT ... DO NOTHING */
    CLASSIFY_CONFLICT_UPDATE,   /* ON CONFLICT ... DO UPDATE */
} classify_on_conflict;

/* One table a statement writes to. Strings are owned by the result. */
typedef struct classify_target {
    classify_kind op;        /* INSERT/UPDATE/DELETE/MERGE/COPY_FROM/TRUNCATE */
    char *schema;            /* resolved schema (see Name resolution) */
    char *table;
    bool qualified;          /* schema was written in the statement */
    bool synced;             /* schema.table is in the synced set */
    bool in_cte;             /* inside a data-modifying WITH */
    bool returning;          /* has a RETURNING list */
    classify_on_conflict on_conflict;
    char **conflict_columns; /* ON CONFLICT (a, b): column names; NULL if none */
    size_t n_conflict_columns;
    char *conflict_constraint; /* ON CONFLICT ON CONSTRAINT name, else NULL */
} classify_target;

/* One statement of the query string. */
typedef struct classify_stmt {
    classify_kind kind;
    size_t offset, length;   /* its bytes in the query string */
    bool writes;             /* may write to some table (any target) */
    bool writes_synced;      /* some target is synced */
    bool writes_in_cte;      /* some write sits in a data-modifying WITH */
    bool returning;          /* the top-level write has RETURNING */
    classify_on_conflict on_conflict; /* of the top-level INSERT */
    char *name;              /* PREPARE/EXECUTE/DEALLOCATE name, else NULL */
    classify_target *targets;
    size_t n_targets;
} classify_stmt;

typedef struct classify_result {
    classify_stmt *stmts;
    size_t n_stmts;          /* number of statements in the string */
    bool writes_synced;      /* any statement writes to a synced table */
    bool fast_path;          /* decided by the prefilter, without parsing */
    bool parse_error;        /* libpg_query rejected the text */
    char *error_message;     /* set with parse_error */
    int error_cursor;        /* 1-based byte position, 0 if unknown */
} classify_result;

typedef struct classify_synced_set classify_synced_set;
typedef struct classify_cache classify_cache;

typedef struct classify_cache_stats {
    uint64_t hits, misses, evictions, uncacheable;
    size_t entries, capacity;
} classify_cache_stats;

/* The default search_path, as in Postgres. */
#define CLASSIFY_DEFAULT_SEARCH_PATH "\"$user\", public"

/* Longer query strings are not parsed: reported as a parse error (Postgres
 * still runs them; the guard trigger protects synced tables). Parse time is
 * linear in the input; the bound keeps one statement's parse short. */
#define CLASSIFY_MAX_SQL (1024 * 1024)

/* Statements longer than this are classified but never cached. */
#define CLASSIFY_CACHE_MAX_SQL (16 * 1024)

/* Returns a new, empty synced set, or NULL when out of memory.
 * Free it with classify_synced_set_free(). */
classify_synced_set *classify_synced_set_new(void);

/* Adds schema.table (exact catalog spelling, e.g. "public", "customers").
 * Returns T_OK, or T_ERR for an empty name or when out of memory. */
int classify_synced_set_add(classify_synced_set *set, const char *schema, const char *table);

/* True when schema.table was added. */
bool classify_synced_set_contains(const classify_synced_set *set, const char *schema,
                                  const char *table);

/* Number of distinct names in the set; 0 for NULL. */
size_t classify_synced_set_count(const classify_synced_set *set);

/* Frees the set and its names; NULL is allowed. */
void classify_synced_set_free(classify_synced_set *set);

/* Classifies the query string sql (NUL-terminated) against synced (may be NULL:
 * nothing is synced) with the default search_path and no "$user".
 * Fills *out (which the caller then frees with classify_result_free()).
 * Returns T_OK, also when the SQL does not parse (out->parse_error is then
 * set and no statement is reported as writing); T_ERR only when out of memory
 * or given NULL sql/out, in which case *out is left empty. */
int classify_statement(const classify_synced_set *synced, const char *sql, classify_result *out);

/* Like classify_statement() with the session's search_path (NULL = default)
 * and user name for "$user" (NULL = skip "$user"). */
int classify_statement_path(const classify_synced_set *synced, const char *search_path,
                            const char *user, const char *sql, classify_result *out);

/* True when the prefilter alone can tell that sql does not write (see Fast
 * path above). Exposed for tests and benchmarks. */
bool classify_fast_path_read(const char *sql);

/* Frees what *res owns and zeroes it; NULL and zeroed results are allowed. */
void classify_result_free(classify_result *res);

/* Human-readable name of a kind ("INSERT", "COPY FROM", ...); never NULL. */
const char *classify_kind_name(classify_kind kind);

/* Returns a cache of classification results for up to capacity distinct
 * (search_path, user, statement text) keys, evicting the least recently used,
 * or NULL when out of memory or capacity is 0. The cache answers for the
 * synced set it is given here, which must outlive it; call
 * classify_cache_clear() when that set's contents change. */
classify_cache *classify_cache_new(const classify_synced_set *synced, size_t capacity);

/* Classifies sql through the cache. On T_OK *out points at a result owned by
 * the cache (or, for SQL longer than CLASSIFY_CACHE_MAX_SQL, by the cache's
 * one-slot scratch), valid until the next call on this cache. T_ERR when out
 * of memory or given NULL arguments; *out is then NULL. */
int classify_cache_get(classify_cache *cache, const char *search_path, const char *user,
                       const char *sql, const classify_result **out);

/* Copies the cache's counters and sizes into *stats (zeroes for a NULL cache).
 * Fast-path reads are answered before the table and count as neither hit
 * nor miss; uncacheable counts texts over CLASSIFY_CACHE_MAX_SQL. */
void classify_cache_stats_get(const classify_cache *cache, classify_cache_stats *stats);

/* Drops every entry (counters are kept). */
void classify_cache_clear(classify_cache *cache);

/* Frees the cache and its entries; NULL is allowed. */
void classify_cache_free(classify_cache *cache);

#endif
