/*
 * sf_soql.h - parser for the SOQL subset the Salesforce emulator serves:
 *
 *   SELECT field[, field...] | COUNT()  FROM Object
 *   [WHERE cond]  [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], ...]
 *   [LIMIT n] [OFFSET n]
 *   cond := cond OR cond | cond AND cond | NOT cond | ( cond )
 *         | field (= | != | <> | < | <= | > | >=) literal
 *         | field [NOT] IN (literal, ...) | field [NOT] LIKE 'pattern'
 *   literal := 'string' | number | true | false | null | 2024-01-01
 *            | 2024-01-01T00:00:00Z (and +hh:mm offsets)
 *
 * The parser is purely syntactic (names are bound by sf_query against the
 * schema). It never crashes on hostile input: size, nesting depth and list
 * lengths are bounded and every failure is a MALFORMED_QUERY message.
 * sf_soql_free() releases the whole tree.
 */
#ifndef TETHER_EMULATORS_SF_SOQL_H
#define TETHER_EMULATORS_SF_SOQL_H

#include <stdbool.h>
#include <stddef.h>

#define SF_SOQL_MAX_LEN 100000 /* Salesforce's own SOQL length limit */
#define SF_SOQL_MAX_DEPTH 64
#define SF_SOQL_MAX_ITEMS 1000 /* fields, IN values, ORDER BY items */
#define SF_SOQL_MAX_CONDITIONS 4000

typedef enum sf_soql_lit_kind {
    SF_LIT_STRING,
    SF_LIT_NUMBER,
    SF_LIT_BOOL,
    SF_LIT_NULL,
    SF_LIT_DATE,
    SF_LIT_DATETIME,
} sf_soql_lit_kind;

typedef struct sf_soql_lit {
    sf_soql_lit_kind kind;
    char *text; /* unescaped string, number text, "true"/"false", date text */
    double num; /* SF_LIT_NUMBER */
    long long ms; /* SF_LIT_DATE / SF_LIT_DATETIME: milliseconds since the epoch */
} sf_soql_lit;

typedef enum sf_soql_op {
    SF_OP_EQ,
    SF_OP_NE,
    SF_OP_LT,
    SF_OP_LE,
    SF_OP_GT,
    SF_OP_GE,
    SF_OP_IN,
    SF_OP_NOT_IN,
    SF_OP_LIKE,
    SF_OP_AND,
    SF_OP_OR,
    SF_OP_NOT,
} sf_soql_op;

typedef struct sf_soql_cond {
    sf_soql_op op;
    char *field;              /* comparisons */
    sf_soql_lit *values;      /* comparisons: 1 value; IN: n values */
    size_t nvalues;
    struct sf_soql_cond *lhs; /* AND/OR; NOT uses lhs only */
    struct sf_soql_cond *rhs;
    const void *bound; /* filled by the executor (sf_query): the schema field */
} sf_soql_cond;

typedef struct sf_soql_order {
    char *field;
    bool desc;
    bool nulls_last;
} sf_soql_order;

typedef struct sf_soql_query {
    bool count; /* SELECT COUNT() */
    char **fields;
    size_t nfields;
    char *object;
    sf_soql_cond *where; /* NULL: no WHERE */
    sf_soql_order *order;
    size_t norder;
    long long limit;  /* -1: none */
    long long offset; /* -1: none */
} sf_soql_query;

/*
 * Parses TEXT. On success stores a new tree in *OUT (free with
 * sf_soql_free) and returns T_OK; on failure writes a Salesforce-style
 * message ("unexpected token: 'X'") into ERR (ERRLEN bytes) and returns T_ERR.
 */
int sf_soql_parse(const char *text, sf_soql_query **out, char *err, size_t errlen);
void sf_soql_free(sf_soql_query *q);

#endif
