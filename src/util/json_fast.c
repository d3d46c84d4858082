/*
 * json_fast.c - see json_fast.h. jsmn turns the document into an array of
 * tokens (type, byte span, child count, parent) in one pass without
 * allocating; json_fast_build() walks that array in document order and
 * creates the jansson values, checking on the way everything jsmn does not:
 *
 *   - between tokens only JSON whitespace and exactly the one separator the
 *     grammar wants (':' after a key, ',' between members, none after '{',
 *     '[' or before '}', ']'), so "[1 2]", "[1,]" or "{"a" 1}" fail;
 *   - literals are exactly true/false/null and numbers match the JSON
 *     number grammar; integers that do not fit json_int_t and reals that
 *     overflow fail (as in jansson);
 *   - strings: escapes (\uXXXX with surrogate pairs; \u0000 is refused, as
 *     jansson does without JSON_ALLOW_NUL), no raw control characters, and
 *     valid UTF-8 (jansson's own check, in json_stringn/json_object_setn);
 *   - at most JSON_FAST_MAX_DEPTH levels of nesting.
 *
 * Memory: the token array belongs to the reader (or to the call, for
 * json_fast_loadb) and grows as documents need; strings with escapes (rare
 * in API data) are decoded into one scratch buffer of the document's size,
 * allocated on the first escape and freed before returning. The returned
 * tree belongs to the caller.
 */
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "util/json_fast.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct json_fast_doc {
    const char *buf;
    size_t len;
    const jsmntok_t *tok;
    int ntok;
    char *scratch; /* decoded strings with escapes; LEN + 1 bytes, on demand */
    json_error_t *err;
} json_fast_doc;

static void json_fast_error(json_fast_doc *d, long pos, const char *what)
{
    if (!d->err || d->err->text[0])
        return; /* keep the first (innermost) reason */
    d->err->position = (int)pos;
    snprintf(d->err->text, sizeof(d->err->text), "%s near byte %ld", what, pos);
}

/* The byte span a token covers in the text, quotes included. */
static long json_fast_begin(const jsmntok_t *t)
{
    return t->type == JSMN_STRING ? t->start - 1 : t->start;
}

static long json_fast_end(const jsmntok_t *t)
{
    return t->type == JSMN_STRING ? t->end + 1 : t->end;
}

/*
 * True when bytes [FROM, TO) are JSON whitespace around exactly one SEP
 * (or no separator at all when SEP is 0).
 */
static bool json_fast_gap(json_fast_doc *d, long from, long to, char sep)
{
    if (from > to || from < 0 || (size_t)to > d->len) {
        json_fast_error(d, from, "misplaced value");
        return false;
    }
    bool seen = sep == 0;
    for (long i = from; i < to; i++) {
        char c = d->buf[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (c == sep && !seen) {
            seen = true;
            continue;
        }
        json_fast_error(d, i, "unexpected character");
        return false;
    }
    if (!seen)
        json_fast_error(d, from, sep == ':' ? "':' expected" : "',' expected");
    return seen;
}

static int json_fast_hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

static size_t json_fast_utf8(int32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * The string token T's content with escapes decoded: *OUT points into the
 * document itself when there is no escape, else into the scratch buffer
 * (valid until the next call). UTF-8 is not checked here. Returns false
 * (error set) for a raw control character or a bad escape.
 */
static bool json_fast_string(json_fast_doc *d, const jsmntok_t *t, const char **out, size_t *outlen)
{
    const char *s = d->buf + t->start;
    size_t n = (size_t)(t->end - t->start);
    size_t i = 0;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\')
            break;
        if (c < 0x20) {
            json_fast_error(d, t->start + (long)i, "control character in string");
            return false;
        }
    }
    if (i == n) {
        *out = s;
        *outlen = n;
        return true;
    }
    if (!d->scratch && !(d->scratch = malloc(d->len + 1)))
        abort();
    char *w = d->scratch;
    memcpy(w, s, i);
    size_t wn = i;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20) {
            json_fast_error(d, t->start + (long)i, "control character in string");
            return false;
        }
        if (c != '\\') {
            w[wn++] = (char)c;
            i++;
            continue;
        }
        if (i + 1 >= n) {
            json_fast_error(d, t->start + (long)i, "invalid escape");
            return false;
        }
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            w[wn++] = e;
            continue;
        case 'b':
            w[wn++] = '\b';
            continue;
        case 'f':
            w[wn++] = '\f';
            continue;
        case 'n':
            w[wn++] = '\n';
            continue;
        case 'r':
            w[wn++] = '\r';
            continue;
        case 't':
            w[wn++] = '\t';
            continue;
        case 'u':
            break;
        default:
            json_fast_error(d, t->start + (long)i - 2, "invalid escape");
            return false;
        }
        int32_t cp = i + 4 <= n ? json_fast_hex4(s + i) : -1;
        long at = t->start + (long)i - 2;
        i += 4;
        if (cp < 0) {
            json_fast_error(d, at, "invalid \\u escape");
            return false;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            /* a high surrogate must be followed by an escaped low one */
            int32_t lo = i + 6 <= n && s[i] == '\\' && s[i + 1] == 'u' ? json_fast_hex4(s + i + 2) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF) {
                json_fast_error(d, at, "invalid Unicode surrogate");
                return false;
            }
            i += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            json_fast_error(d, at, "invalid Unicode surrogate");
            return false;
        } else if (cp == 0) {
            json_fast_error(d, at, "\\u0000 is not allowed");
            return false;
        }
        wn += json_fast_utf8(cp, w + wn);
    }
    /* every escape is at least as long as what it decodes to */
    *out = w;
    *outlen = wn;
    return true;
}

static bool json_fast_digits(const char *s, size_t n, size_t *i)
{
    size_t start = *i;
    while (*i < n && s[*i] >= '0' && s[*i] <= '9')
        (*i)++;
    return *i > start;
}

/* The primitive token T: true, false, null or a number. */
static json_t *json_fast_primitive(json_fast_doc *d, const jsmntok_t *t)
{
    const char *s = d->buf + t->start;
    size_t n = (size_t)(t->end - t->start);
    if (n == 4 && memcmp(s, "true", 4) == 0)
        return json_true();
    if (n == 5 && memcmp(s, "false", 5) == 0)
        return json_false();
    if (n == 4 && memcmp(s, "null", 4) == 0)
        return json_null();
    /* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    size_t i = 0;
    bool real = false;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (!json_fast_digits(s, n, &i))
        goto invalid;
    if (i < n && s[i] == '.') {
        i++;
        real = true;
        if (!json_fast_digits(s, n, &i))
            goto invalid;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        real = true;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (!json_fast_digits(s, n, &i))
            goto invalid;
    }
    if (i != n)
        goto invalid;
    char num[64];
    char *big = NULL;
    const char *text = num;
    if (n < sizeof(num)) {
        memcpy(num, s, n);
        num[n] = '\0';
    } else {
        big = strndup(s, n);
        if (!big)
            abort();
        text = big;
    }
    json_t *v = NULL;
    errno = 0;
    if (real) {
        double x = strtod(text, NULL);
        if (errno == ERANGE && (x > 1.0 || x < -1.0))
            json_fast_error(d, t->start, "real number overflow");
        else
            v = json_real(x);
    } else {
        long long x = strtoll(text, NULL, 10);
        if (errno == ERANGE)
            json_fast_error(d, t->start, x < 0 ? "too big negative integer" : "too big integer");
        else
            v = json_integer((json_int_t)x);
    }
    free(big);
    return v;
invalid:
    json_fast_error(d, t->start, "invalid token");
    return NULL;
}

/*
 * Builds the value whose token is at *I and advances *I past its subtree.
 * Returns a new reference, or NULL with the error set.
 */
static json_t *json_fast_build(json_fast_doc *d, int *i, int depth)
{
    if (*i >= d->ntok) {
        json_fast_error(d, (long)d->len, "value expected");
        return NULL;
    }
    const jsmntok_t *t = &d->tok[(*i)++];
    if (t->type == JSMN_PRIMITIVE)
        return json_fast_primitive(d, t);
    if (t->type == JSMN_STRING) {
        const char *s;
        size_t n;
        if (!json_fast_string(d, t, &s, &n))
            return NULL;
        json_t *v = json_stringn(s, n);
        if (!v)
            json_fast_error(d, t->start, "invalid UTF-8 in string");
        return v;
    }
    if (t->type != JSMN_OBJECT && t->type != JSMN_ARRAY) {
        json_fast_error(d, t->start, "invalid token");
        return NULL;
    }
    if (depth >= JSON_FAST_MAX_DEPTH) {
        json_fast_error(d, t->start, "maximum parsing depth reached");
        return NULL;
    }
    bool object = t->type == JSMN_OBJECT;
    json_t *v = object ? json_object() : json_array();
    long cursor = t->start + 1; /* after '{' or '[' */
    for (int k = 0; k < t->size; k++) {
        if (*i >= d->ntok) {
            json_fast_error(d, cursor, "value expected");
            goto failed;
        }
        const jsmntok_t *first = &d->tok[*i];
        if (!json_fast_gap(d, cursor, json_fast_begin(first), k ? ',' : 0))
            goto failed;
        if (!object) {
            json_t *e = json_fast_build(d, i, depth + 1);
            if (!e)
                goto failed;
            json_array_append_new(v, e);
            cursor = json_fast_end(first);
            continue;
        }
        if (first->type != JSMN_STRING || first->size != 1 || *i + 1 >= d->ntok) {
            json_fast_error(d, json_fast_begin(first), "string or '}' expected");
            goto failed;
        }
        (*i)++;
        const jsmntok_t *val = &d->tok[*i];
        if (!json_fast_gap(d, json_fast_end(first), json_fast_begin(val), ':'))
            goto failed;
        const char *key;
        size_t keylen;
        if (!json_fast_string(d, first, &key, &keylen))
            goto failed;
        /* a key with an escape was decoded into the scratch buffer, which
         * the value may reuse: keep such a key apart (jansson takes the key
         * with its length, so one inside the document is used as it is) */
        char small[128], *keycopy = NULL;
        if (key == d->scratch) {
            keycopy = keylen < sizeof(small) ? small : malloc(keylen);
            if (!keycopy)
                abort();
            memcpy(keycopy, key, keylen);
            key = keycopy;
        }
        json_t *e = json_fast_build(d, i, depth + 1);
        int rc = e ? json_object_setn_new(v, key, keylen, e) : -1;
        if (e && rc != 0)
            json_fast_error(d, first->start, "invalid UTF-8 in object key");
        if (keycopy && keycopy != small)
            free(keycopy);
        if (rc != 0)
            goto failed;
        cursor = json_fast_end(val);
    }
    if (!json_fast_gap(d, cursor, t->end - 1, 0))
        goto failed;
    return v;
failed:
    json_decref(v);
    return NULL;
}

json_t *json_fast_read(json_fast_reader *r, const char *buf, size_t len, json_error_t *err)
{
    if (err) {
        memset(err, 0, sizeof(*err));
        err->line = err->column = -1;
        snprintf(err->source, sizeof(err->source), "<buffer>");
    }
    json_fast_reader local = {0};
    if (!r)
        r = &local;
    json_fast_doc d = {.buf = buf, .len = len, .err = err};
    json_t *root = NULL;
    if (len >= INT_MAX) {
        json_fast_error(&d, 0, "document too large");
        return NULL;
    }
    /* a token takes at least two bytes of text ("1," or "[]"): grow on demand */
    if (r->cap < len / 8 + 16) {
        free(r->tokens);
        r->cap = (unsigned)(len / 8 + 16);
        if (!(r->tokens = malloc((size_t)r->cap * sizeof(jsmntok_t))))
            abort();
    }
    jsmn_parser p;
    jsmn_init(&p);
    int n;
    while ((n = jsmn_parse(&p, buf, len, r->tokens, r->cap)) == JSMN_ERROR_NOMEM) {
        jsmntok_t *grown = realloc(r->tokens, (size_t)r->cap * 2 * sizeof(jsmntok_t));
        if (!grown)
            abort();
        r->tokens = grown;
        r->cap *= 2;
    }
    const jsmntok_t *tok = r->tokens;
    if (n < 0) {
        json_fast_error(&d, (long)p.pos, n == JSMN_ERROR_PART ? "premature end of input" : "invalid character");
        goto done;
    }
    if (n == 0 || (tok[0].type != JSMN_OBJECT && tok[0].type != JSMN_ARRAY)) {
        json_fast_error(&d, n ? tok[0].start : 0, "'[' or '{' expected");
        goto done;
    }
    d.tok = tok;
    d.ntok = n;
    if (!json_fast_gap(&d, 0, tok[0].start, 0))
        goto done;
    int i = 0;
    root = json_fast_build(&d, &i, 0);
    if (root && (i != n || !json_fast_gap(&d, tok[0].end, (long)len, 0))) {
        json_fast_error(&d, tok[0].end, "end of file expected");
        json_decref(root);
        root = NULL;
    }
done:
    free(d.scratch);
    json_fast_reader_free(&local);
    return root;
}

json_t *json_fast_loadb(const char *buf, size_t len, json_error_t *err)
{
    return json_fast_read(NULL, buf, len, err);
}

void json_fast_reader_free(json_fast_reader *r)
{
    free(r->tokens);
    r->tokens = NULL;
    r->cap = 0;
}
