/*
 * emu_form.c - form-urlencoded parser with nested keys (see emu_form.h).
 * Memory: every tree built here belongs to the caller; temporary strings are
 * freed before returning.
 */
#include "emulators/common/emu_form.h"

#include "util/common.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int emu_form_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int emu_form_decode(const char *src, size_t len, char **out)
{
    *out = NULL;
    char *dst = malloc(len + 1);
    if (!dst)
        return T_ERR;
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '+') {
            dst[j++] = ' ';
        } else if (c == '%') {
            if (i + 2 >= len) {
                free(dst);
                return T_ERR;
            }
            int hi = emu_form_hexval(src[i + 1]), lo = emu_form_hexval(src[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(dst);
                return T_ERR;
            }
            dst[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '\0') {
            free(dst);
            return T_ERR;
        } else {
            dst[j++] = c;
        }
    }
    dst[j] = '\0';
    *out = dst;
    return T_OK;
}

/* Splits KEY into base + bracket segments; returns count or -1. */
static int emu_form_split_key(const char *key, char segs[][EMU_FORM_MAX_KEY + 1], int maxsegs)
{
    size_t n = strlen(key);
    const char *p = key;
    const char *br = strchr(key, '[');
    size_t baselen = br ? (size_t)(br - key) : n;
    if (baselen == 0 || baselen > EMU_FORM_MAX_KEY)
        return -1;
    if (memchr(key, ']', baselen))
        return -1;
    memcpy(segs[0], key, baselen);
    segs[0][baselen] = '\0';
    int count = 1;
    p = key + baselen;
    while (*p) {
        if (*p != '[')
            return -1;
        const char *close = strchr(p + 1, ']');
        if (!close)
            return -1;
        size_t sl = (size_t)(close - p - 1);
        if (memchr(p + 1, '[', sl))
            return -1;
        if (count >= maxsegs)
            return -2;
        memcpy(segs[count], p + 1, sl);
        segs[count][sl] = '\0';
        count++;
        p = close + 1;
    }
    return count;
}

int emu_form_add(json_t *root, const char *key, const char *value, char *err, size_t errlen)
{
    static _Thread_local char segs[EMU_FORM_MAX_DEPTH + 1][EMU_FORM_MAX_KEY + 1];
    if (strlen(key) > EMU_FORM_MAX_KEY) {
        snprintf(err, errlen, "Invalid parameter name: a key is longer than %d characters.", EMU_FORM_MAX_KEY);
        return T_ERR;
    }
    int count = emu_form_split_key(key, segs, EMU_FORM_MAX_DEPTH + 1);
    if (count == -2) {
        snprintf(err, errlen, "Invalid parameter name: %.80s is nested more than %d levels deep.", key,
                 EMU_FORM_MAX_DEPTH);
        return T_ERR;
    }
    if (count < 0) {
        snprintf(err, errlen, "Invalid parameter name: %.80s", key);
        return T_ERR;
    }
    json_t *node = root;
    for (int i = 0; i < count; i++) {
        char idx[24];
        const char *name = segs[i];
        if (name[0] == '\0') { /* "a[]": append */
            snprintf(idx, sizeof idx, "%zu", json_object_size(node));
            name = idx;
        }
        if (i == count - 1) {
            json_t *old = json_object_get(node, name);
            if (old && !json_is_string(old)) {
                snprintf(err, errlen, "Invalid parameter: %.80s is both a value and a hash.", key);
                return T_ERR;
            }
            json_object_set_new(node, name, json_string(value));
        } else {
            json_t *child = json_object_get(node, name);
            if (!child) {
                child = json_object();
                json_object_set_new(node, name, child);
            } else if (!json_is_object(child)) {
                snprintf(err, errlen, "Invalid parameter: %.80s is both a value and a hash.", key);
                return T_ERR;
            }
            node = child;
        }
    }
    return T_OK;
}

static int emu_form_is_index(const char *k, long *out)
{
    size_t n = strlen(k);
    if (n == 0 || n > 4)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)k[i]))
            return 0;
    *out = strtol(k, NULL, 10);
    return *out <= EMU_FORM_MAX_INDEX;
}

typedef struct emu_form_idx {
    long idx;
    json_t *val;
} emu_form_idx;

static int emu_form_idx_cmp(const void *a, const void *b)
{
    long x = ((const emu_form_idx *)a)->idx, y = ((const emu_form_idx *)b)->idx;
    return (x > y) - (x < y);
}

/* Converts index-keyed objects below NODE; replaces *SLOT when NODE itself converts. */
static json_t *emu_form_arrayify(json_t *node, int depth)
{
    if (!json_is_object(node))
        return json_incref(node);
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(node, tmp, k, v)
    {
        json_t *nv = emu_form_arrayify(v, depth + 1);
        json_object_set_new(node, k, nv);
    }
    size_t n = json_object_size(node);
    if (depth == 0 || n == 0)
        return json_incref(node);
    emu_form_idx *items = calloc(n, sizeof *items);
    if (!items)
        return json_incref(node);
    size_t i = 0;
    json_object_foreach(node, k, v)
    {
        long idx;
        if (!emu_form_is_index(k, &idx)) {
            free(items);
            return json_incref(node);
        }
        items[i].idx = idx;
        items[i].val = v;
        i++;
    }
    qsort(items, n, sizeof *items, emu_form_idx_cmp);
    json_t *arr = json_array();
    for (i = 0; i < n; i++)
        json_array_append(arr, items[i].val);
    free(items);
    return arr;
}

int emu_form_finish(json_t *root, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    json_t *r = emu_form_arrayify(root, 0);
    json_decref(r); /* root stays the same object (depth 0 never converts) */
    return T_OK;
}

int emu_form_parse(const char *data, size_t len, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    json_t *root = json_object();
    if (!root) {
        snprintf(err, errlen, "out of memory");
        return T_ERR;
    }
    size_t pos = 0, pairs = 0;
    while (pos < len) {
        const char *start = data + pos;
        const char *amp = memchr(start, '&', len - pos);
        size_t plen = amp ? (size_t)(amp - start) : len - pos;
        pos += plen + 1;
        if (plen == 0)
            continue;
        if (++pairs > EMU_FORM_MAX_PARAMS) {
            snprintf(err, errlen, "Too many parameters (more than %d).", EMU_FORM_MAX_PARAMS);
            goto failed;
        }
        const char *eq = memchr(start, '=', plen);
        size_t klen = eq ? (size_t)(eq - start) : plen;
        if (klen > 3 * EMU_FORM_MAX_KEY) {
            snprintf(err, errlen, "Invalid parameter name: a key is longer than %d characters.", EMU_FORM_MAX_KEY);
            goto failed;
        }
        char *key = NULL, *val = NULL;
        if (emu_form_decode(start, klen, &key) != T_OK ||
            emu_form_decode(eq ? eq + 1 : "", eq ? plen - klen - 1 : 0, &val) != T_OK) {
            free(key);
            snprintf(err, errlen, "Invalid percent-encoding in the request body.");
            goto failed;
        }
        int rc = emu_form_add(root, key, val, err, errlen);
        free(key);
        free(val);
        if (rc != T_OK)
            goto failed;
    }
    if (emu_form_finish(root, err, errlen) != T_OK)
        goto failed;
    *out = root;
    return T_OK;
failed:
    json_decref(root);
    return T_ERR;
}
