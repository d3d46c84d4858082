/*
 * json_fast.h - parse a JSON document into jansson values about twice as
 * fast as jansson's own parser.
 *
 * Why: jansson's reader takes every byte through a callback and a growable
 * token buffer (≈ 45-50 MB/s here); parsing API pages was over half of the
 * sync's CPU. jsmn (Debian's libjsmn-dev, header only) tokenizes the
 * document in place; this module checks what jsmn leaves unchecked (the
 * separators between tokens, number and literal grammar, string escapes,
 * control characters, UTF-8, nesting depth) and builds the same jansson
 * tree json_loadb() would. The rest of Tether keeps using jansson values.
 *
 * Contract: json_fast_loadb(buf, len, err) accepts exactly what
 * json_loadb(buf, len, 0, err) accepts and returns an equal tree (same keys
 * in the same order, same integer/real/string values); fuzz/fuzz_json_fast.c
 * checks this against jansson. One deliberate difference: a NUL byte is
 * always refused, where jansson skips one directly after a number ("[1\0]"
 * loads as [1] there). Error texts differ from jansson's.
 */
#ifndef TETHER_UTIL_JSON_FAST_H
#define TETHER_UTIL_JSON_FAST_H

#include <jansson.h>
#include <stddef.h>

/* Nesting deeper than this is refused (jansson's own limit). */
#define JSON_FAST_MAX_DEPTH 2048

/*
 * A reader keeps its token array between documents, so that parsing a run of
 * API pages does not allocate (and return to the system) ~100 kB per page.
 * Zero-initialise it; json_fast_reader_free() releases it. Not thread-safe:
 * one reader per thread of use (the HTTP client has one).
 */
typedef struct json_fast_reader {
    void *tokens;    /* jsmntok_t[cap] */
    unsigned cap;
} json_fast_reader;

/* Like json_fast_loadb(), reusing R's buffers (R may be NULL). */
json_t *json_fast_read(json_fast_reader *r, const char *buf, size_t len, json_error_t *err);

/* Frees R's buffers; R can be used again afterwards. */
void json_fast_reader_free(json_fast_reader *r);

/*
 * Parses the LEN bytes at BUF (need not be NUL-terminated) as one JSON
 * object or array, like json_loadb(BUF, LEN, 0, ERR). Returns a new
 * reference the caller json_decref()s, or NULL with ERR (if not NULL)
 * filled: text, and position = the byte offset where the problem was found.
 * Documents of INT_MAX bytes or more are refused. Never reads past LEN.
 */
json_t *json_fast_loadb(const char *buf, size_t len, json_error_t *err);

#endif
