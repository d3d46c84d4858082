/*
 * emu_form.h - parser for application/x-www-form-urlencoded bodies and query
 * strings with Stripe's nested parameter syntax, into a jansson tree.
 *
 *   metadata[k]=v        -> {"metadata": {"k": "v"}}
 *   items[0][price]=p    -> {"items": [{"price": "p"}]}
 *   expand[]=a&expand[]=b -> {"expand": ["a", "b"]}
 *
 * Every leaf is a JSON string; the caller coerces types. Objects whose keys
 * are all decimal indices become arrays ordered by index. Hostile input
 * (nesting deeper than EMU_FORM_MAX_DEPTH, keys longer than EMU_FORM_MAX_KEY,
 * more than EMU_FORM_MAX_PARAMS pairs, bad percent-encoding, unbalanced
 * brackets, a key used both as a value and as a container) is rejected with
 * T_ERR and a message suitable for a 400 response; it never crashes.
 *
 * The returned tree is owned by the caller (json_decref).
 */
#ifndef TETHER_EMU_FORM_H
#define TETHER_EMU_FORM_H

#include <jansson.h>
#include <stddef.h>

#define EMU_FORM_MAX_DEPTH 8
#define EMU_FORM_MAX_KEY 500
#define EMU_FORM_MAX_PARAMS 2000
#define EMU_FORM_MAX_INDEX 9999

/*
 * Parses DATA (LEN bytes, need not be NUL-terminated) into a new object
 * stored in *OUT. On failure *OUT is NULL and ERR (ERRLEN bytes) says why,
 * naming the offending key where there is one.
 */
int emu_form_parse(const char *data, size_t len, json_t **out, char *err, size_t errlen);

/*
 * Adds one already-decoded pair KEY=VALUE to the object ROOT (as produced
 * while parsing, before arrays are formed). Call emu_form_finish() once all
 * pairs are in. Returns T_OK or T_ERR with ERR filled.
 */
int emu_form_add(json_t *root, const char *key, const char *value, char *err, size_t errlen);

/* Turns index-keyed objects under ROOT into arrays. Returns T_OK or T_ERR. */
int emu_form_finish(json_t *root, char *err, size_t errlen);

/*
 * Percent-decodes SRC (LEN bytes; '+' is a space) into a new NUL-terminated
 * string in *OUT (caller frees). Fails on a truncated or non-hex escape or
 * an encoded NUL byte.
 */
int emu_form_decode(const char *src, size_t len, char **out);

#endif
