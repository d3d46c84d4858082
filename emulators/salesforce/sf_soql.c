/*
 * sf_soql.c - recursive-descent parser for the emulator's SOQL subset (see
 * sf_soql.h). Tokens are read on demand from the input; every node is
 * heap-allocated and owned by the returned sf_soql_query.
 */
#include "emulators/salesforce/sf_soql.h"
#include "util/iso_time.h"
#include "util/common.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum sf_tok_kind {
    TOK_EOF,
    TOK_IDENT,
    TOK_STRING,
    TOK_NUMBER,
    TOK_DATE,
    TOK_DATETIME,
    TOK_PUNCT,
} sf_tok_kind;

typedef struct sf_parser {
    const char *s;
    size_t pos;
    sf_tok_kind kind;
    const char *tok; /* token start in s */
    size_t len;
    char *err;
    size_t errlen;
    bool failed;
    int depth;
    size_t nodes;
} sf_parser;

static void sf_soql_fail(sf_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sf_soql_fail(sf_parser *p, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);
}

static void sf_soql_unexpected(sf_parser *p)
{
    if (p->kind == TOK_EOF)
        sf_soql_fail(p, "unexpected token: <EOF>");
    else
        sf_soql_fail(p, "unexpected token: '%.*s'", (int)(p->len > 80 ? 80 : p->len), p->tok);
}

static bool sf_soql_ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.';
}

/* Advances to the next token. */
static void sf_soql_next(sf_parser *p)
{
    const char *s = p->s;
    while (isspace((unsigned char)s[p->pos]))
        p->pos++;
    size_t start = p->pos;
    p->tok = s + start;
    char c = s[start];
    if (c == '\0') {
        p->kind = TOK_EOF;
        p->len = 0;
        return;
    }
    if (isdigit((unsigned char)c) && isdigit((unsigned char)s[start + 1]) &&
        isdigit((unsigned char)s[start + 2]) && isdigit((unsigned char)s[start + 3]) &&
        s[start + 4] == '-') {
        size_t i = start;
        while (isdigit((unsigned char)s[i]) || (s[i] && strchr("-:TZ.+tz", s[i])))
            i++;
        p->len = i - start;
        p->pos = i;
        p->kind = p->len == 10 ? TOK_DATE : TOK_DATETIME;
        return;
    }
    if (isdigit((unsigned char)c) || ((c == '-' || c == '+' || c == '.') &&
                                      (isdigit((unsigned char)s[start + 1]) ||
                                       (s[start + 1] == '.' && isdigit((unsigned char)s[start + 2]))))) {
        size_t i = start + 1;
        while (isdigit((unsigned char)s[i]) || s[i] == '.')
            i++;
        p->len = i - start;
        p->pos = i;
        p->kind = TOK_NUMBER;
        return;
    }
    if (isalpha((unsigned char)c) || c == '_') {
        size_t i = start;
        while (sf_soql_ident_char(s[i]))
            i++;
        p->len = i - start;
        p->pos = i;
        p->kind = TOK_IDENT;
        return;
    }
    if (c == '\'') {
        size_t i = start + 1;
        while (s[i] && s[i] != '\'') {
            if (s[i] == '\\' && s[i + 1])
                i++;
            i++;
        }
        if (s[i] != '\'') {
            p->kind = TOK_PUNCT;
            p->len = i - start;
            p->pos = i;
            sf_soql_fail(p, "unterminated string literal");
            return;
        }
        p->len = i + 1 - start;
        p->pos = i + 1;
        p->kind = TOK_STRING;
        return;
    }
    p->kind = TOK_PUNCT;
    p->len = 1;
    if ((c == '!' && s[start + 1] == '=') || (c == '<' && s[start + 1] == '>') ||
        (c == '<' && s[start + 1] == '=') || (c == '>' && s[start + 1] == '='))
        p->len = 2;
    p->pos = start + p->len;
}

static bool sf_soql_is_kw(const sf_parser *p, const char *kw)
{
    return p->kind == TOK_IDENT && strlen(kw) == p->len && strncasecmp(p->tok, kw, p->len) == 0;
}

static bool sf_soql_accept_kw(sf_parser *p, const char *kw)
{
    if (!sf_soql_is_kw(p, kw))
        return false;
    sf_soql_next(p);
    return true;
}

static bool sf_soql_is_punct(const sf_parser *p, const char *punct)
{
    return p->kind == TOK_PUNCT && strlen(punct) == p->len && strncmp(p->tok, punct, p->len) == 0;
}

static bool sf_soql_accept_punct(sf_parser *p, const char *punct)
{
    if (!sf_soql_is_punct(p, punct))
        return false;
    sf_soql_next(p);
    return true;
}

static void sf_soql_expect_kw(sf_parser *p, const char *kw)
{
    if (!sf_soql_accept_kw(p, kw))
        sf_soql_unexpected(p);
}

static void sf_soql_expect_punct(sf_parser *p, const char *punct)
{
    if (!sf_soql_accept_punct(p, punct))
        sf_soql_unexpected(p);
}

static char *sf_soql_dup(sf_parser *p, const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (!d)
        sf_soql_fail(p, "out of memory");
    return d;
}

static bool sf_soql_reserved(const sf_parser *p)
{
    static const char *const words[] = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT",
                                        "IN", "LIKE", "ORDER", "BY", "LIMIT", "OFFSET",
                                        "NULL", "TRUE", "FALSE", "ASC", "DESC", "NULLS"};
    for (size_t i = 0; i < T_ARRAY_LEN(words); i++)
        if (sf_soql_is_kw(p, words[i]))
            return true;
    return false;
}

/* A field name token (identifier that is not a reserved word). */
static char *sf_soql_field(sf_parser *p)
{
    if (p->failed)
        return NULL;
    if (p->kind != TOK_IDENT || sf_soql_reserved(p) || p->tok[p->len - 1] == '.' ||
        p->tok[0] == '.') {
        sf_soql_unexpected(p);
        return NULL;
    }
    char *name = sf_soql_dup(p, p->tok, p->len);
    sf_soql_next(p);
    return name;
}

static char *sf_soql_unescape(sf_parser *p, const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out) {
        sf_soql_fail(p, "out of memory");
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            char e = s[++i];
            switch (e) {
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case '\'': case '"': case '\\': c = e; break;
            case '_': case '%': /* kept escaped for LIKE */
                out[o++] = '\\';
                c = e;
                break;
            default:
                free(out);
                sf_soql_fail(p, "Invalid string literal '%.*s'. Illegal character sequence "
                                "'\\%c' in string literal.",
                             (int)(n > 60 ? 60 : n), s, e);
                return NULL;
            }
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

/* Parses one literal into LIT. Returns false on error (p->failed set). */
static bool sf_soql_literal(sf_parser *p, sf_soql_lit *lit)
{
    lit->text = NULL;
    if (p->failed)
        return false;
    switch (p->kind) {
    case TOK_STRING:
        lit->kind = SF_LIT_STRING;
        lit->text = sf_soql_unescape(p, p->tok + 1, p->len - 2);
        break;
    case TOK_NUMBER: {
        lit->kind = SF_LIT_NUMBER;
        char *end;
        char *text = sf_soql_dup(p, p->tok, p->len);
        if (text) {
            lit->num = strtod(text, &end);
            if (*end) {
                free(text);
                sf_soql_unexpected(p);
                return false;
            }
        }
        lit->text = text;
        break;
    }
    case TOK_DATE:
    case TOK_DATETIME: {
        int64_t ms = 0;
        char *text = sf_soql_dup(p, p->tok, p->len);
        if (!text)
            return false;
        bool ok = p->kind == TOK_DATE ? iso_time_parse(text, 0, &ms) == T_OK
                                      : iso_time_parse(text, 1, &ms) == T_OK;
        lit->ms = ms;
        if (!ok) {
            sf_soql_fail(p, "line 1:%zu no viable alternative at character '%.40s'",
                         (size_t)(p->tok - p->s), text);
            free(text);
            return false;
        }
        lit->kind = p->kind == TOK_DATE ? SF_LIT_DATE : SF_LIT_DATETIME;
        lit->text = text;
        break;
    }
    case TOK_IDENT:
        if (sf_soql_is_kw(p, "null")) {
            lit->kind = SF_LIT_NULL;
            lit->text = sf_soql_dup(p, "null", 4);
        } else if (sf_soql_is_kw(p, "true") || sf_soql_is_kw(p, "false")) {
            lit->kind = SF_LIT_BOOL;
            lit->text = sf_soql_dup(p, sf_soql_is_kw(p, "true") ? "true" : "false", 5);
        } else {
            sf_soql_unexpected(p);
            return false;
        }
        break;
    default:
        sf_soql_unexpected(p);
        return false;
    }
    if (!lit->text)
        return false;
    sf_soql_next(p);
    return true;
}

static void sf_soql_cond_free(sf_soql_cond *c)
{
    /* Iterative on the left spine (AND/OR chains and NOT grow there); the
     * right side recurses at most SF_SOQL_MAX_DEPTH levels. */
    while (c) {
        sf_soql_cond *next = c->lhs;
        sf_soql_cond_free(c->rhs);
        for (size_t i = 0; i < c->nvalues; i++)
            free(c->values[i].text);
        free(c->values);
        free(c->field);
        free(c);
        c = next;
    }
}

static sf_soql_cond *sf_soql_cond_new(sf_parser *p, sf_soql_op op)
{
    if (++p->nodes > SF_SOQL_MAX_CONDITIONS) {
        sf_soql_fail(p, "too many conditions in WHERE (maximum %d)", SF_SOQL_MAX_CONDITIONS);
        return NULL;
    }
    sf_soql_cond *c = calloc(1, sizeof(*c));
    if (!c)
        sf_soql_fail(p, "out of memory");
    else
        c->op = op;
    return c;
}

static sf_soql_cond *sf_soql_or(sf_parser *p);

/* Parses the one literal of a comparison or LIKE into C. false (and P failed) on error. */
static bool sf_soql_single_value(sf_parser *p, sf_soql_cond *c)
{
    c->values = calloc(1, sizeof(sf_soql_lit));
    if (!c->values) {
        sf_soql_fail(p, "out of memory");
        return false;
    }
    c->nvalues = 1;
    return sf_soql_literal(p, &c->values[0]);
}

static sf_soql_cond *sf_soql_primary(sf_parser *p)
{
    if (p->failed)
        return NULL;
    if (++p->depth > SF_SOQL_MAX_DEPTH) {
        sf_soql_fail(p, "expression nesting too deep (maximum %d)", SF_SOQL_MAX_DEPTH);
        return NULL;
    }
    sf_soql_cond *c = NULL;
    if (sf_soql_accept_kw(p, "NOT")) {
        c = sf_soql_cond_new(p, SF_OP_NOT);
        if (c)
            c->lhs = sf_soql_primary(p);
        goto done;
    }
    if (sf_soql_accept_punct(p, "(")) {
        c = sf_soql_or(p);
        sf_soql_expect_punct(p, ")");
        goto done;
    }
    char *field = sf_soql_field(p);
    if (!field)
        goto done;
    c = sf_soql_cond_new(p, SF_OP_EQ);
    if (!c) {
        free(field);
        goto done;
    }
    c->field = field;
    static const struct {
        const char *punct;
        sf_soql_op op;
    } ops[] = {{"=", SF_OP_EQ}, {"!=", SF_OP_NE}, {"<>", SF_OP_NE}, {"<", SF_OP_LT},
               {"<=", SF_OP_LE}, {">", SF_OP_GT}, {">=", SF_OP_GE}};
    for (size_t i = 0; i < T_ARRAY_LEN(ops); i++) {
        if (sf_soql_accept_punct(p, ops[i].punct)) {
            c->op = ops[i].op;
            sf_soql_single_value(p, c);
            goto done;
        }
    }
    bool negated = sf_soql_accept_kw(p, "NOT");
    if (sf_soql_accept_kw(p, "LIKE")) {
        c->op = SF_OP_LIKE;
        if (p->kind != TOK_STRING) {
            sf_soql_unexpected(p);
            goto done;
        }
        if (!sf_soql_single_value(p, c))
            goto done;
        if (negated) {
            sf_soql_cond *n = sf_soql_cond_new(p, SF_OP_NOT);
            if (n)
                n->lhs = c;
            else
                sf_soql_cond_free(c);
            c = n;
        }
        goto done;
    }
    if (sf_soql_accept_kw(p, "IN")) {
        c->op = negated ? SF_OP_NOT_IN : SF_OP_IN;
        sf_soql_expect_punct(p, "(");
        size_t cap = 0;
        do {
            if (p->failed)
                goto done;
            if (c->nvalues >= SF_SOQL_MAX_ITEMS) {
                sf_soql_fail(p, "too many values in IN list (maximum %d)", SF_SOQL_MAX_ITEMS);
                goto done;
            }
            if (c->nvalues == cap) {
                cap = cap ? cap * 2 : 4;
                sf_soql_lit *v = realloc(c->values, cap * sizeof(*v));
                if (!v) {
                    sf_soql_fail(p, "out of memory");
                    goto done;
                }
                c->values = v;
            }
            c->values[c->nvalues].text = NULL;
            if (!sf_soql_literal(p, &c->values[c->nvalues]))
                goto done;
            c->nvalues++;
        } while (sf_soql_accept_punct(p, ","));
        sf_soql_expect_punct(p, ")");
        goto done;
    }
    sf_soql_unexpected(p);
done:
    p->depth--;
    if (p->failed) {
        sf_soql_cond_free(c);
        return NULL;
    }
    return c;
}

static sf_soql_cond *sf_soql_and(sf_parser *p)
{
    sf_soql_cond *lhs = sf_soql_primary(p);
    while (!p->failed && sf_soql_accept_kw(p, "AND")) {
        sf_soql_cond *c = sf_soql_cond_new(p, SF_OP_AND);
        if (!c)
            break;
        c->lhs = lhs;
        c->rhs = sf_soql_primary(p);
        lhs = c;
    }
    if (p->failed) {
        sf_soql_cond_free(lhs);
        return NULL;
    }
    return lhs;
}

static sf_soql_cond *sf_soql_or(sf_parser *p)
{
    sf_soql_cond *lhs = sf_soql_and(p);
    while (!p->failed && sf_soql_accept_kw(p, "OR")) {
        sf_soql_cond *c = sf_soql_cond_new(p, SF_OP_OR);
        if (!c)
            break;
        c->lhs = lhs;
        c->rhs = sf_soql_and(p);
        lhs = c;
    }
    if (p->failed) {
        sf_soql_cond_free(lhs);
        return NULL;
    }
    return lhs;
}

static long long sf_soql_count_value(sf_parser *p)
{
    if (p->kind != TOK_NUMBER || p->len > 9 || p->tok[0] == '-' || p->tok[0] == '+') {
        sf_soql_unexpected(p);
        return -1;
    }
    for (size_t i = 0; i < p->len; i++) {
        if (!isdigit((unsigned char)p->tok[i])) {
            sf_soql_unexpected(p);
            return -1;
        }
    }
    long long v = strtoll(p->tok, NULL, 10);
    sf_soql_next(p);
    return v;
}

void sf_soql_free(sf_soql_query *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nfields; i++)
        free(q->fields[i]);
    free(q->fields);
    free(q->object);
    sf_soql_cond_free(q->where);
    for (size_t i = 0; i < q->norder; i++)
        free(q->order[i].field);
    free(q->order);
    free(q);
}

static void sf_soql_push(sf_parser *p, void **arr, size_t *n, size_t *cap, size_t size)
{
    if (*n < *cap)
        return;
    if (*n >= SF_SOQL_MAX_ITEMS) {
        sf_soql_fail(p, "too many items (maximum %d)", SF_SOQL_MAX_ITEMS);
        return;
    }
    size_t ncap = *cap ? *cap * 2 : 8;
    void *a = realloc(*arr, ncap * size);
    if (!a) {
        sf_soql_fail(p, "out of memory");
        return;
    }
    *arr = a;
    *cap = ncap;
}

int sf_soql_parse(const char *text, sf_soql_query **out, char *err, size_t errlen)
{
    sf_parser p = {.s = text, .err = err, .errlen = errlen};
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    if (!text || strlen(text) > SF_SOQL_MAX_LEN) {
        snprintf(err, errlen, "query is too long (maximum %d characters)", SF_SOQL_MAX_LEN);
        return T_ERR;
    }
    sf_soql_query *q = calloc(1, sizeof(*q));
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return T_ERR;
    }
    q->limit = q->offset = -1;
    sf_soql_next(&p);
    sf_soql_expect_kw(&p, "SELECT");
    if (!p.failed && sf_soql_is_kw(&p, "COUNT")) {
        size_t save = (size_t)(p.tok - p.s);
        sf_soql_next(&p);
        if (sf_soql_accept_punct(&p, "(")) {
            sf_soql_expect_punct(&p, ")");
            q->count = true;
        } else {
            p.pos = save;
            sf_soql_next(&p);
        }
    }
    size_t cap = 0;
    while (!q->count && !p.failed) {
        sf_soql_push(&p, (void **)&q->fields, &q->nfields, &cap, sizeof(char *));
        char *f = p.failed ? NULL : sf_soql_field(&p);
        if (!f)
            break;
        q->fields[q->nfields++] = f;
        if (!sf_soql_accept_punct(&p, ","))
            break;
    }
    sf_soql_expect_kw(&p, "FROM");
    if (!p.failed) {
        if (p.kind != TOK_IDENT || sf_soql_reserved(&p) || memchr(p.tok, '.', p.len))
            sf_soql_unexpected(&p);
        else {
            q->object = sf_soql_dup(&p, p.tok, p.len);
            sf_soql_next(&p);
        }
    }
    if (!p.failed && sf_soql_accept_kw(&p, "WHERE"))
        q->where = sf_soql_or(&p);
    if (!p.failed && sf_soql_accept_kw(&p, "ORDER")) {
        sf_soql_expect_kw(&p, "BY");
        size_t ocap = 0;
        while (!p.failed) {
            sf_soql_push(&p, (void **)&q->order, &q->norder, &ocap, sizeof(sf_soql_order));
            char *f = p.failed ? NULL : sf_soql_field(&p);
            if (!f)
                break;
            sf_soql_order *o = &q->order[q->norder++];
            o->field = f;
            o->desc = false;
            if (sf_soql_accept_kw(&p, "DESC"))
                o->desc = true;
            else
                sf_soql_accept_kw(&p, "ASC");
            o->nulls_last = o->desc;
            if (sf_soql_accept_kw(&p, "NULLS")) {
                if (sf_soql_accept_kw(&p, "LAST"))
                    o->nulls_last = true;
                else {
                    sf_soql_expect_kw(&p, "FIRST");
                    o->nulls_last = false;
                }
            }
            if (!sf_soql_accept_punct(&p, ","))
                break;
        }
    }
    if (!p.failed && sf_soql_accept_kw(&p, "LIMIT"))
        q->limit = sf_soql_count_value(&p);
    if (!p.failed && sf_soql_accept_kw(&p, "OFFSET"))
        q->offset = sf_soql_count_value(&p);
    if (!p.failed && p.kind != TOK_EOF)
        sf_soql_unexpected(&p);
    if (p.failed) {
        sf_soql_free(q);
        return T_ERR;
    }
    *out = q;
    return T_OK;
}
