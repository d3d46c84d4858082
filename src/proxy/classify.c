/*
 * classify.c - statement classifier for the proxy (see classify.h for the
 * contract, the fast-path assumptions and name resolution).
 *
 * Parsing uses libpg_query's JSON output read with jansson. Debian's
 * libpg-query 15-4.0.0 also offers protobuf output (its pg_query.pb-c.h needs
 * protobuf-c headers); measured here, JSON + jansson is as fast for ordinary
 * statements (14 vs 20 us for an UPDATE, 70 vs 78 us for a 5-table SELECT) and
 * linear in tree depth, where the protobuf packer is quadratic (40,000 terms
 * of 0+1+1...: 1.05 s protobuf, 0.06 s JSON), so a client could stall the
 * proxy with one statement. Nested writes (data-modifying WITH, EXPLAIN
 * ANALYZE, COPY (query) TO, CREATE TABLE AS, PREPARE) are found by a generic,
 * iterative walk over every object of the tree, so no node type can hide one
 * and deep trees cannot overflow the C stack.
 *
 * Memory: every string in a classify_result is a malloc'd copy owned by the
 * result; the libpg_query parse result and the unpacked tree are freed before
 * classify_statement_path() returns. The synced set and the cache own copies
 * of their keys.
 */
#include "proxy/classify.h"

#include "util/common.h"
#include "util/json_fast.h"

#include <assert.h>
#include <ctype.h>
#include <jansson.h>
#include <pg_query.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

static const char *const classify_kind_names[CLASSIFY_KIND_COUNT] = {
    [CLASSIFY_EMPTY] = "EMPTY",
    [CLASSIFY_SELECT] = "SELECT",
    [CLASSIFY_INSERT] = "INSERT",
    [CLASSIFY_UPDATE] = "UPDATE",
    [CLASSIFY_DELETE] = "DELETE",
    [CLASSIFY_MERGE] = "MERGE",
    [CLASSIFY_COPY_FROM] = "COPY FROM",
    [CLASSIFY_COPY_TO] = "COPY TO",
    [CLASSIFY_TRUNCATE] = "TRUNCATE",
    [CLASSIFY_BEGIN] = "BEGIN",
    [CLASSIFY_COMMIT] = "COMMIT",
    [CLASSIFY_ROLLBACK] = "ROLLBACK",
    [CLASSIFY_SAVEPOINT] = "SAVEPOINT",
    [CLASSIFY_RELEASE] = "RELEASE",
    [CLASSIFY_ROLLBACK_TO] = "ROLLBACK TO",
    [CLASSIFY_PREPARE_TRANSACTION] = "PREPARE TRANSACTION",
    [CLASSIFY_COMMIT_PREPARED] = "COMMIT PREPARED",
    [CLASSIFY_ROLLBACK_PREPARED] = "ROLLBACK PREPARED",
    [CLASSIFY_EXPLAIN] = "EXPLAIN",
    [CLASSIFY_PREPARE] = "PREPARE",
    [CLASSIFY_EXECUTE] = "EXECUTE",
    [CLASSIFY_DEALLOCATE] = "DEALLOCATE",
    [CLASSIFY_SET] = "SET",
    [CLASSIFY_SHOW] = "SHOW",
    [CLASSIFY_LISTEN] = "LISTEN",
    [CLASSIFY_NOTIFY] = "NOTIFY",
    [CLASSIFY_OTHER] = "OTHER",
};

/*
 * Returns the display name of kind; "UNKNOWN" for out-of-range values.
 */
const char *classify_kind_name(classify_kind kind)
{
    if ((int)kind < 0 || kind >= CLASSIFY_KIND_COUNT || !classify_kind_names[kind])
        return "UNKNOWN";
    return classify_kind_names[kind];
}

#define CLASSIFY_FNV_OFFSET 14695981039346656037ULL
#define CLASSIFY_FNV_PRIME 1099511628211ULL

static uint64_t classify_hash_bytes(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= CLASSIFY_FNV_PRIME;
    }
    return h;
}

/* Hashes a possibly NULL string, keeping NULL and "" apart. */
static uint64_t classify_hash_str(uint64_t h, const char *s)
{
    if (!s)
        return classify_hash_bytes(h, "\x01", 1);
    h = classify_hash_bytes(h, s, strlen(s));
    return classify_hash_bytes(h, "\0", 1);
}

static bool classify_str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static char *classify_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Absent and empty names are alike. */
static bool classify_present(const char *s)
{
    return s && s[0] != '\0';
}

/* ------------------------------------------------------------- synced set */

struct classify_synced_set {
    struct classify_synced_entry {
        char *schema, *table;
        uint64_t hash;
    } *slots;            /* open addressing, linear probing; NULL schema = empty */
    size_t cap, count;   /* cap is a power of two */
};

static uint64_t classify_name_hash(const char *schema, const char *table)
{
    uint64_t h = classify_hash_str(CLASSIFY_FNV_OFFSET, schema);
    return classify_hash_str(h, table);
}

/*
 * Returns a new empty set or NULL when out of memory.
 */
classify_synced_set *classify_synced_set_new(void)
{
    classify_synced_set *set = calloc(1, sizeof(*set));
    if (!set)
        return NULL;
    set->cap = 16;
    set->slots = calloc(set->cap, sizeof(*set->slots));
    if (!set->slots) {
        free(set);
        return NULL;
    }
    return set;
}

static struct classify_synced_entry *classify_synced_find(const classify_synced_set *set,
                                                          const char *schema,
                                                          const char *table, uint64_t h)
{
    size_t mask = set->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct classify_synced_entry *e = &set->slots[i];
        if (!e->schema)
            return e;
        if (e->hash == h && strcmp(e->schema, schema) == 0 && strcmp(e->table, table) == 0)
            return e;
    }
}

static int classify_synced_grow(classify_synced_set *set)
{
    size_t ncap = set->cap * 2;
    struct classify_synced_entry *old = set->slots, *nslots = calloc(ncap, sizeof(*nslots));
    if (!nslots)
        return T_ERR;
    size_t ocap = set->cap;
    set->slots = nslots;
    set->cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].schema)
            *classify_synced_find(set, old[i].schema, old[i].table, old[i].hash) = old[i];
    free(old);
    return T_OK;
}

/*
 * Adds schema.table; adding a name twice is harmless. T_ERR on empty names
 * or when out of memory (the set is unchanged then).
 */
int classify_synced_set_add(classify_synced_set *set, const char *schema, const char *table)
{
    if (!set || !classify_present(schema) || !classify_present(table))
        return T_ERR;
    if ((set->count + 1) * 2 > set->cap && classify_synced_grow(set) != T_OK)
        return T_ERR;
    uint64_t h = classify_name_hash(schema, table);
    struct classify_synced_entry *e = classify_synced_find(set, schema, table, h);
    if (e->schema)
        return T_OK;
    char *s = strdup(schema), *t = strdup(table);
    if (!s || !t) {
        free(s);
        free(t);
        return T_ERR;
    }
    e->schema = s;
    e->table = t;
    e->hash = h;
    set->count++;
    return T_OK;
}

/*
 * True when schema.table is in the set; false for a NULL set or names.
 */
bool classify_synced_set_contains(const classify_synced_set *set, const char *schema,
                                  const char *table)
{
    if (!set || !set->count || !schema || !table)
        return false;
    return classify_synced_find(set, schema, table, classify_name_hash(schema, table))->schema !=
           NULL;
}

size_t classify_synced_set_count(const classify_synced_set *set)
{
    return set ? set->count : 0;
}

void classify_synced_set_free(classify_synced_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->cap; i++) {
        free(set->slots[i].schema);
        free(set->slots[i].table);
    }
    free(set->slots);
    free(set);
}

/* ------------------------------------------------------------ search path */

#define CLASSIFY_MAX_PATH 16
#define CLASSIFY_MAX_IDENT 128

typedef struct classify_path {
    char names[CLASSIFY_MAX_PATH][CLASSIFY_MAX_IDENT];
    size_t n;
} classify_path;

/*
 * Splits a search_path value ("$user", public, "My Schema") into schema names
 * the way Postgres does: quoted names keep case and "" becomes ", unquoted
 * names are lower-cased. "$user" becomes user (dropped when user is NULL);
 * pg_catalog and pg_temp are dropped (no synced table lives there). Names
 * longer than CLASSIFY_MAX_IDENT-1 bytes and entries past CLASSIFY_MAX_PATH
 * are dropped.
 */
static void classify_path_parse(const char *value, const char *user, classify_path *path)
{
    path->n = 0;
    const char *p = value;
    while (*p) {
        char name[CLASSIFY_MAX_IDENT];
        size_t len = 0;
        bool too_long = false;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',')
            p++;
        if (!*p)
            break;
        if (*p == '"') {
            p++;
            while (*p) {
                if (*p == '"') {
                    if (p[1] == '"') {
                        p++;
                    } else {
                        p++;
                        break;
                    }
                }
                if (len + 1 < sizeof(name))
                    name[len++] = *p;
                else
                    too_long = true;
                p++;
            }
        } else {
            while (*p && *p != ',' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
                if (len + 1 < sizeof(name))
                    name[len++] = (char)tolower((unsigned char)*p);
                else
                    too_long = true;
                p++;
            }
        }
        while (*p && *p != ',')
            p++; /* junk after a name: ignored, as Postgres would reject the SET */
        name[len] = '\0';
        if (too_long || len == 0 || path->n >= CLASSIFY_MAX_PATH)
            continue;
        const char *use = name;
        if (strcmp(name, "$user") == 0) {
            if (!user || !*user || strlen(user) >= CLASSIFY_MAX_IDENT)
                continue;
            use = user;
        }
        if (strcmp(use, "pg_catalog") == 0 || strncmp(use, "pg_temp", 7) == 0)
            continue;
        strcpy(path->names[path->n++], use);
    }
}

/* --------------------------------------------------------------- fast path */

static bool classify_ident_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/* Skips whitespace and SQL comments (-- to end of line, nested C comments). */
static const char *classify_skip_space(const char *p)
{
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v')
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            int depth = 0;
            while (*p) {
                if (p[0] == '/' && p[1] == '*') {
                    depth++;
                    p += 2;
                } else if (p[0] == '*' && p[1] == '/') {
                    p += 2;
                    if (--depth == 0)
                        break;
                } else {
                    p++;
                }
            }
        } else {
            return p;
        }
    }
}

/* Reads an ASCII keyword at p into kw (upper case); returns its end or NULL. */
static const char *classify_read_word(const char *p, char *kw, size_t kwsize)
{
    size_t n = 0;
    while (isalpha((unsigned char)p[n])) {
        if (n + 1 >= kwsize)
            return NULL;
        kw[n] = (char)toupper((unsigned char)p[n]);
        n++;
    }
    if (n == 0 || classify_ident_char((unsigned char)p[n]))
        return NULL;
    kw[n] = '\0';
    return p + n;
}

/* True when text contains word as a whole word, ignoring ASCII case. */
static bool classify_has_word(const char *text, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = text; *p; p++) {
        if (toupper((unsigned char)*p) != word[0])
            continue;
        if (p > text && classify_ident_char((unsigned char)p[-1]))
            continue;
        if (strncasecmp(p, word, wl) == 0 && !classify_ident_char((unsigned char)p[wl]))
            return true;
    }
    return false;
}

/* Words after COMMIT/ROLLBACK that keep it a plain end of transaction. */
static bool classify_plain_txn_tail(const char *p)
{
    char kw[16];
    for (;;) {
        p = classify_skip_space(p);
        if (!*p || *p == ';')
            return true;
        const char *e = classify_read_word(p, kw, sizeof(kw));
        if (!e)
            return false;
        if (strcmp(kw, "TRANSACTION") && strcmp(kw, "WORK") && strcmp(kw, "AND") &&
            strcmp(kw, "NO") && strcmp(kw, "CHAIN"))
            return false;
        p = e;
    }
}

static const struct {
    const char *word;
    classify_kind kind;
    bool plain_tail; /* only when followed by TRANSACTION/WORK/AND [NO] CHAIN */
} classify_fast_words[] = {
    {"SELECT", CLASSIFY_SELECT, false},     {"VALUES", CLASSIFY_SELECT, false},
    {"TABLE", CLASSIFY_SELECT, false},      {"WITH", CLASSIFY_SELECT, false},
    {"SHOW", CLASSIFY_SHOW, false},         {"SET", CLASSIFY_SET, false},
    {"RESET", CLASSIFY_SET, false},         {"FETCH", CLASSIFY_OTHER, false},
    {"MOVE", CLASSIFY_OTHER, false},        {"CLOSE", CLASSIFY_OTHER, false},
    {"LISTEN", CLASSIFY_LISTEN, false},     {"UNLISTEN", CLASSIFY_LISTEN, false},
    {"NOTIFY", CLASSIFY_NOTIFY, false},     {"DISCARD", CLASSIFY_OTHER, false},
    {"BEGIN", CLASSIFY_BEGIN, false},       {"START", CLASSIFY_BEGIN, false},
    {"SAVEPOINT", CLASSIFY_SAVEPOINT, false}, {"RELEASE", CLASSIFY_RELEASE, false},
    {"COMMIT", CLASSIFY_COMMIT, true},      {"END", CLASSIFY_COMMIT, true},
    {"ROLLBACK", CLASSIFY_ROLLBACK, true},  {"ABORT", CLASSIFY_ROLLBACK, true},
};

/* Words whose presence anywhere sends a statement to the parser. WITH is not
 * among them: a data-modifying WITH needs one of these words as well. */
static const char *const classify_write_words[] = {"INSERT", "UPDATE", "DELETE",
                                                   "MERGE",  "COPY",   "TRUNCATE"};

/*
 * The prefilter: true (and *kind set) when sql is one statement that cannot
 * write to any table by its own text (see "Fast path" in classify.h).
 */
static bool classify_fast_path(const char *sql, classify_kind *kind)
{
    const char *p = classify_skip_space(sql);
    char kw[16];
    const char *e = classify_read_word(p, kw, sizeof(kw));
    if (!e)
        return false;
    size_t i;
    for (i = 0; i < T_ARRAY_LEN(classify_fast_words); i++)
        if (strcmp(kw, classify_fast_words[i].word) == 0)
            break;
    if (i == T_ARRAY_LEN(classify_fast_words))
        return false;
    if (classify_fast_words[i].plain_tail && !classify_plain_txn_tail(e))
        return false;
    /* One statement only: every ';' must be trailing. */
    for (const char *s = strchr(e, ';'); s; s = strchr(s + 1, ';')) {
        const char *t = s + 1;
        while (*t == ';' || *t == ' ' || *t == '\t' || *t == '\n' || *t == '\r')
            t++;
        if (*t)
            return false;
    }
    for (size_t w = 0; w < T_ARRAY_LEN(classify_write_words); w++)
        if (classify_has_word(e, classify_write_words[w]))
            return false;
    *kind = classify_fast_words[i].kind;
    return true;
}

bool classify_fast_path_read(const char *sql)
{
    classify_kind kind;
    return sql && classify_fast_path(sql, &kind);
}

/* Parsing limits (see classify_parse). */
#define CLASSIFY_INLINE_SQL 2048
#define CLASSIFY_INLINE_STACK (8u << 20)
/* Measured worst case (a left-deep chain like 0+1+1+...): 64-130 bytes of
 * stack per input byte in an optimised build; sanitizer builds need several
 * times more. Only touched pages of a thread stack become resident. */
#if defined(__SANITIZE_ADDRESS__)
#define CLASSIFY_STACK_PER_BYTE 2048u
#else
#define CLASSIFY_STACK_PER_BYTE 512u
#endif

/* ------------------------------------------------------------------ result */

static void classify_target_free(classify_target *t)
{
    free(t->schema);
    free(t->table);
    for (size_t i = 0; i < t->n_conflict_columns; i++)
        free(t->conflict_columns[i]);
    free(t->conflict_columns);
    free(t->conflict_constraint);
}

void classify_result_free(classify_result *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->n_stmts; i++) {
        classify_stmt *st = &res->stmts[i];
        for (size_t j = 0; j < st->n_targets; j++)
            classify_target_free(&st->targets[j]);
        free(st->targets);
        free(st->name);
    }
    free(res->stmts);
    free(res->error_message);
    memset(res, 0, sizeof(*res));
}

/* Per-statement state while walking one parse tree. */
typedef struct classify_walk {
    const classify_synced_set *synced;
    const classify_path *path;
    classify_stmt *st;
    size_t targets_cap;
} classify_walk;

/* Appends a zeroed target; NULL when out of memory. */
static classify_target *classify_add_target(classify_walk *w)
{
    classify_stmt *st = w->st;
    if (st->n_targets == w->targets_cap) {
        size_t ncap = w->targets_cap ? w->targets_cap * 2 : 2;
        classify_target *nt = realloc(st->targets, ncap * sizeof(*nt));
        if (!nt)
            return NULL;
        st->targets = nt;
        w->targets_cap = ncap;
    }
    classify_target *t = &st->targets[st->n_targets++];
    memset(t, 0, sizeof(*t));
    return t;
}

/* JSON helpers over libpg_query's tree. A Node is an object with one key,
 * its type name ({"InsertStmt": {...}}); fields use the C struct's names. */
static const char *classify_jstr(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

/* The type name and body of a Node object, or NULL. */
static const char *classify_jnode(const json_t *node, json_t **body)
{
    if (!json_is_object(node) || json_object_size(node) != 1)
        return NULL;
    void *it = json_object_iter((json_t *)node);
    *body = json_object_iter_value(it);
    return json_is_object(*body) ? json_object_iter_key(it) : NULL;
}

/* Resolves a RangeVar body against the synced set and search path into t. */
static int classify_resolve(classify_walk *w, const json_t *rv, classify_target *t)
{
    const char *table = classify_jstr(rv, "relname");
    const char *schema = NULL;
    if (classify_present(classify_jstr(rv, "schemaname"))) {
        schema = classify_jstr(rv, "schemaname");
        t->qualified = true;
        t->synced = classify_synced_set_contains(w->synced, schema, table);
    } else {
        for (size_t i = 0; i < w->path->n; i++) {
            if (classify_synced_set_contains(w->synced, w->path->names[i], table)) {
                schema = w->path->names[i];
                t->synced = true;
                break;
            }
        }
        if (!schema)
            schema = w->path->n ? w->path->names[0] : "";
    }
    t->schema = strdup(schema);
    t->table = strdup(table);
    return t->schema && t->table ? T_OK : T_ERR;
}

/* Records a write of kind op to RangeVar body rv (no-op when rv is absent).
 * body is the statement's own object, for RETURNING and ON CONFLICT. */
static int classify_record(classify_walk *w, classify_kind op, const json_t *rv, bool in_cte,
                           const json_t *body)
{
    if (!json_is_object(rv))
        return T_OK;
    classify_target *t = classify_add_target(w);
    if (!t)
        return T_ERR;
    t->op = op;
    t->in_cte = in_cte;
    t->returning = body && json_array_size(json_object_get(body, "returningList")) > 0;
    if (classify_resolve(w, rv, t) != T_OK)
        return T_ERR;
    const json_t *oc = body ? json_object_get(body, "onConflictClause") : NULL;
    if (!json_is_object(oc))
        return T_OK;
    const char *action = classify_jstr(oc, "action");
    if (strcmp(action, "ONCONFLICT_NOTHING") == 0)
        t->on_conflict = CLASSIFY_CONFLICT_NOTHING;
    else if (strcmp(action, "ONCONFLICT_UPDATE") == 0)
        t->on_conflict = CLASSIFY_CONFLICT_UPDATE;
    const json_t *inf = json_object_get(oc, "infer");
    if (!json_is_object(inf))
        return T_OK;
    if (classify_present(classify_jstr(inf, "conname")) &&
        !(t->conflict_constraint = strdup(classify_jstr(inf, "conname"))))
        return T_ERR;
    const json_t *elems = json_object_get(inf, "indexElems");
    size_t n = json_array_size(elems);
    if (n) {
        t->conflict_columns = calloc(n, sizeof(char *));
        if (!t->conflict_columns)
            return T_ERR;
        for (size_t i = 0; i < n; i++) {
            json_t *ie = NULL;
            const char *type = classify_jnode(json_array_get(elems, i), &ie);
            /* An expression index element has no name: reported as "". */
            const char *col = type && strcmp(type, "IndexElem") == 0 ? classify_jstr(ie, "name") : "";
            if (!(t->conflict_columns[t->n_conflict_columns++] = strdup(col)))
                return T_ERR;
        }
    }
    return T_OK;
}

/* Records a write when key names one of the data-modifying statements. */
static int classify_visit(classify_walk *w, const char *key, const json_t *body, bool in_cte)
{
    if (key[0] < 'D' || key[0] > 'U' || !json_is_object(body))
        return T_OK;
    const json_t *rv = json_object_get(body, "relation");
    if (strcmp(key, "InsertStmt") == 0)
        return classify_record(w, CLASSIFY_INSERT, rv, in_cte, body);
    if (strcmp(key, "UpdateStmt") == 0)
        return classify_record(w, CLASSIFY_UPDATE, rv, in_cte, body);
    if (strcmp(key, "DeleteStmt") == 0)
        return classify_record(w, CLASSIFY_DELETE, rv, in_cte, body);
    if (strcmp(key, "MergeStmt") == 0)
        return classify_record(w, CLASSIFY_MERGE, rv, in_cte, body);
    return T_OK;
}

typedef struct classify_frame {
    const json_t *value;
    bool in_cte;
} classify_frame;

typedef struct classify_stack {
    classify_frame *items;
    size_t n, cap;
} classify_stack;

static int classify_push(classify_stack *s, const json_t *value, bool in_cte)
{
    if (!json_is_object(value) && !json_is_array(value))
        return T_OK;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        classify_frame *ni = realloc(s->items, ncap * sizeof(*ni));
        if (!ni)
            return T_ERR;
        s->items = ni;
        s->cap = ncap;
    }
    s->items[s->n++] = (classify_frame){value, in_cte};
    return T_OK;
}

/*
 * Walks every value under root (iteratively: no recursion on the C stack)
 * and records each INSERT, UPDATE, DELETE and MERGE found; writes below a
 * CommonTableExpr are marked in_cte. T_ERR only when out of memory.
 */
static int classify_walk_tree(classify_walk *w, const json_t *root)
{
    classify_stack stack = {0};
    int rc = T_OK;
    if (classify_push(&stack, root, false) != T_OK)
        goto failed;
    while (stack.n) {
        classify_frame f = stack.items[--stack.n];
        if (json_is_array(f.value)) {
            for (size_t i = json_array_size(f.value); i-- > 0;)
                if (classify_push(&stack, json_array_get(f.value, i), f.in_cte) != T_OK)
                    goto failed;
            continue;
        }
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)f.value, key, val) {
            if (classify_visit(w, key, val, f.in_cte) != T_OK)
                goto failed;
            bool cte = f.in_cte || strcmp(key, "CommonTableExpr") == 0;
            if (classify_push(&stack, val, cte) != T_OK)
                goto failed;
        }
    }
    goto done;
failed:
    rc = T_ERR;
done:
    free(stack.items);
    return rc;
}

/* True for EXPLAIN options that make it execute the statement (ANALYZE). */
static bool classify_explain_analyzes(const json_t *ex)
{
    const json_t *opts = json_object_get(ex, "options");
    for (size_t i = 0; i < json_array_size(opts); i++) {
        json_t *de = NULL, *arg = NULL;
        const char *type = classify_jnode(json_array_get(opts, i), &de);
        if (!type || strcmp(type, "DefElem") != 0 || strcmp(classify_jstr(de, "defname"), "analyze"))
            continue;
        const char *atype = classify_jnode(json_object_get(de, "arg"), &arg);
        if (!atype)
            return true; /* bare ANALYZE */
        if (strcmp(atype, "String") == 0) {
            const char *v = classify_jstr(arg, "sval");
            return !(strcasecmp(v, "false") == 0 || strcasecmp(v, "off") == 0 ||
                     strcasecmp(v, "no") == 0 || strcmp(v, "0") == 0);
        }
        if (strcmp(atype, "Integer") == 0) /* ival 0 is left out of the JSON */
            return json_integer_value(json_object_get(arg, "ival")) != 0;
        if (strcmp(atype, "Boolean") == 0)
            return json_is_true(json_object_get(arg, "boolval"));
        return true;
    }
    return false;
}

static const struct {
    const char *name;
    classify_kind kind;
} classify_txn_kinds[] = {
    {"TRANS_STMT_BEGIN", CLASSIFY_BEGIN},
    {"TRANS_STMT_START", CLASSIFY_BEGIN},
    {"TRANS_STMT_COMMIT", CLASSIFY_COMMIT},
    {"TRANS_STMT_ROLLBACK", CLASSIFY_ROLLBACK},
    {"TRANS_STMT_SAVEPOINT", CLASSIFY_SAVEPOINT},
    {"TRANS_STMT_RELEASE", CLASSIFY_RELEASE},
    {"TRANS_STMT_ROLLBACK_TO", CLASSIFY_ROLLBACK_TO},
    {"TRANS_STMT_PREPARE", CLASSIFY_PREPARE_TRANSACTION},
    {"TRANS_STMT_COMMIT_PREPARED", CLASSIFY_COMMIT_PREPARED},
    {"TRANS_STMT_ROLLBACK_PREPARED", CLASSIFY_ROLLBACK_PREPARED},
};

static const struct {
    const char *name;
    classify_kind kind;
    const char *query; /* field whose writes count, or NULL */
} classify_stmt_kinds[] = {
    {"SelectStmt", CLASSIFY_SELECT, ""},  /* "" = the statement itself */
    {"InsertStmt", CLASSIFY_INSERT, ""},
    {"UpdateStmt", CLASSIFY_UPDATE, ""},
    {"DeleteStmt", CLASSIFY_DELETE, ""},
    {"MergeStmt", CLASSIFY_MERGE, ""},
    {"CreateTableAsStmt", CLASSIFY_OTHER, "query"},
    {"DeclareCursorStmt", CLASSIFY_OTHER, "query"},
    {"PrepareStmt", CLASSIFY_PREPARE, "query"},
    {"ExecuteStmt", CLASSIFY_EXECUTE, NULL},
    {"DeallocateStmt", CLASSIFY_DEALLOCATE, NULL},
    {"VariableSetStmt", CLASSIFY_SET, NULL},
    {"VariableShowStmt", CLASSIFY_SHOW, NULL},
    {"ListenStmt", CLASSIFY_LISTEN, NULL},
    {"UnlistenStmt", CLASSIFY_LISTEN, NULL},
    {"NotifyStmt", CLASSIFY_NOTIFY, NULL},
};

/*
 * Classifies one statement (the "stmt" Node of a RawStmt) into w->st.
 */
static int classify_one(classify_walk *w, const json_t *node)
{
    classify_stmt *st = w->st;
    json_t *body = NULL;
    const json_t *walk = NULL; /* subtree whose writes count */
    const char *type = classify_jnode(node, &body);
    if (!type) {
        st->kind = node ? CLASSIFY_OTHER : CLASSIFY_EMPTY;
        return T_OK;
    }
    st->kind = CLASSIFY_OTHER;
    if (strcmp(type, "CopyStmt") == 0) {
        bool from = json_is_true(json_object_get(body, "is_from"));
        st->kind = from ? CLASSIFY_COPY_FROM : CLASSIFY_COPY_TO;
        if (from && classify_record(w, CLASSIFY_COPY_FROM, json_object_get(body, "relation"), false,
                                    NULL) != T_OK)
            return T_ERR;
        walk = json_object_get(body, "query"); /* COPY (DELETE ... RETURNING) TO */
    } else if (strcmp(type, "TruncateStmt") == 0) {
        st->kind = CLASSIFY_TRUNCATE;
        const json_t *rels = json_object_get(body, "relations");
        for (size_t i = 0; i < json_array_size(rels); i++) {
            json_t *rv = NULL;
            const char *rt = classify_jnode(json_array_get(rels, i), &rv);
            if (rt && strcmp(rt, "RangeVar") == 0 &&
                classify_record(w, CLASSIFY_TRUNCATE, rv, false, NULL) != T_OK)
                return T_ERR;
        }
    } else if (strcmp(type, "TransactionStmt") == 0) {
        const char *k = classify_jstr(body, "kind");
        for (size_t i = 0; i < T_ARRAY_LEN(classify_txn_kinds); i++)
            if (strcmp(k, classify_txn_kinds[i].name) == 0)
                st->kind = classify_txn_kinds[i].kind;
    } else if (strcmp(type, "ExplainStmt") == 0) {
        st->kind = CLASSIFY_EXPLAIN;
        if (classify_explain_analyzes(body))
            walk = json_object_get(body, "query");
    } else {
        for (size_t i = 0; i < T_ARRAY_LEN(classify_stmt_kinds); i++) {
            if (strcmp(type, classify_stmt_kinds[i].name) != 0)
                continue;
            st->kind = classify_stmt_kinds[i].kind;
            const char *q = classify_stmt_kinds[i].query;
            if (q)
                walk = q[0] ? json_object_get(body, q) : node;
            break;
        }
        if ((st->kind == CLASSIFY_PREPARE || st->kind == CLASSIFY_EXECUTE ||
             st->kind == CLASSIFY_DEALLOCATE) &&
            classify_present(classify_jstr(body, "name")) &&
            !(st->name = strdup(classify_jstr(body, "name"))))
            return T_ERR;
    }
    if (walk && classify_walk_tree(w, walk) != T_OK)
        return T_ERR;
    for (size_t i = 0; i < st->n_targets; i++) {
        st->writes = true;
        st->writes_synced |= st->targets[i].synced;
        st->writes_in_cte |= st->targets[i].in_cte;
    }
    /* The top-level write, if any, is the first non-CTE target. */
    for (size_t i = 0; i < st->n_targets; i++) {
        if (!st->targets[i].in_cte) {
            st->returning = st->targets[i].returning;
            st->on_conflict = st->targets[i].on_conflict;
            break;
        }
    }
    return T_OK;
}

static int classify_fast_result(classify_kind kind, const char *sql, classify_result *out)
{
    out->stmts = calloc(1, sizeof(*out->stmts));
    if (!out->stmts)
        return T_ERR;
    out->n_stmts = 1;
    out->fast_path = true;
    out->stmts[0].kind = kind;
    out->stmts[0].length = strlen(sql);
    return T_OK;
}

/* Arguments and outcome of one parse, so that it can run on a helper thread. */
typedef struct classify_job {
    const classify_synced_set *synced;
    const char *search_path, *user, *sql;
    classify_result *out;
    int rc;
} classify_job;

/*
 * Parses job->sql and fills job->out. libpg_query's JSON output recurses once
 * per nesting level of the parse tree, and the grammar builds such levels
 * without limit from inputs like 1+1+1..., so a long statement runs here on a
 * thread whose stack grows with the input (classify_statement_path). jansson
 * refuses documents nested deeper than 2048 levels (about 1,000 levels of
 * expressions): those are reported as parse errors, "too deeply nested".
 */
static void classify_parse(classify_job *job)
{
    const char *sql = job->sql;
    classify_result *out = job->out;
    PgQueryParseResult pr = pg_query_parse(sql);
    json_t *tree = NULL;
    classify_path *path = NULL;
    job->rc = T_OK;
    if (pr.error) {
        out->parse_error = true;
        out->error_cursor = pr.error->cursorpos;
        out->error_message = strdup(pr.error->message ? pr.error->message : "syntax error");
        if (!out->error_message)
            goto failed;
        pg_query_free_parse_result(pr);
        return;
    }
    json_error_t jerr;
    tree = json_fast_loadb(pr.parse_tree, strlen(pr.parse_tree), &jerr);
    if (!tree) {
        out->parse_error = true;
        out->error_message = strdup("statement too deeply nested to classify");
        if (!out->error_message)
            goto failed;
        pg_query_free_parse_result(pr);
        return;
    }
    path = malloc(sizeof(*path));
    if (!path)
        goto failed;
    classify_path_parse(job->search_path ? job->search_path : CLASSIFY_DEFAULT_SEARCH_PATH,
                        job->user, path);
    size_t sql_len = strlen(sql);
    const json_t *stmts = json_object_get(tree, "stmts");
    size_t n = json_array_size(stmts);
    if (n) {
        out->stmts = calloc(n, sizeof(*out->stmts));
        if (!out->stmts)
            goto failed;
        out->n_stmts = n;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *raw = json_array_get(stmts, i);
        classify_walk w = {.synced = job->synced, .path = path, .st = &out->stmts[i]};
        json_int_t loc = json_integer_value(json_object_get(raw, "stmt_location"));
        json_int_t slen = json_integer_value(json_object_get(raw, "stmt_len"));
        size_t off = loc > 0 ? (size_t)loc : 0;
        if (off > sql_len)
            off = sql_len;
        size_t len = slen > 0 ? (size_t)slen : sql_len - off; /* 0: to the end */
        if (len > sql_len - off)
            len = sql_len - off;
        /* A statement after a ';' starts at the ';' + 1: drop the blanks. */
        while (len && isspace((unsigned char)sql[off])) {
            off++;
            len--;
        }
        w.st->offset = off;
        w.st->length = len;
        if (classify_one(&w, json_object_get(raw, "stmt")) != T_OK)
            goto failed;
        out->writes_synced |= w.st->writes_synced;
    }
    free(path);
    json_decref(tree);
    pg_query_free_parse_result(pr);
    return;
failed:
    free(path);
    json_decref(tree);
    pg_query_free_parse_result(pr);
    classify_result_free(out);
    job->rc = T_ERR;
}

static void *classify_parse_thread(void *arg)
{
    /* libpg_query frees this thread's memory context from a thread-specific
     * data destructor at exit; calling pg_query_exit() too would free twice. */
    classify_parse(arg);
    return NULL;
}

/*
 * See classify.h. Parses with libpg_query unless the prefilter decides.
 * Texts up to CLASSIFY_INLINE_SQL bytes parse on the caller's stack (which
 * must have the usual 8 MiB, or at least CLASSIFY_INLINE_STACK); longer ones on
 * a helper thread with CLASSIFY_STACK_PER_BYTE bytes of stack per input byte.
 */
int classify_statement_path(const classify_synced_set *synced, const char *search_path,
                            const char *user, const char *sql, classify_result *out)
{
    if (!out)
        return T_ERR;
    memset(out, 0, sizeof(*out));
    if (!sql)
        return T_ERR;
    classify_kind fast_kind;
    if (classify_fast_path(sql, &fast_kind))
        return classify_fast_result(fast_kind, sql, out);
    classify_job job = {synced, search_path, user, sql, out, T_ERR};
    size_t len = strlen(sql);
    if (len > CLASSIFY_MAX_SQL) {
        out->parse_error = true;
        out->error_message = strdup("statement too large to classify");
        return out->error_message ? T_OK : T_ERR;
    }
    if (len <= CLASSIFY_INLINE_SQL) {
        classify_parse(&job);
        return job.rc;
    }
    pthread_attr_t attr;
    pthread_t th;
    if (pthread_attr_init(&attr) != 0)
        return T_ERR;
    int err = pthread_attr_setstacksize(&attr, CLASSIFY_INLINE_STACK + len * CLASSIFY_STACK_PER_BYTE);
    if (err == 0)
        err = pthread_create(&th, &attr, classify_parse_thread, &job);
    pthread_attr_destroy(&attr);
    if (err != 0)
        return T_ERR;
    pthread_join(th, NULL);
    return job.rc;
}

int classify_statement(const classify_synced_set *synced, const char *sql, classify_result *out)
{
    return classify_statement_path(synced, NULL, NULL, sql, out);
}

/* ------------------------------------------------------------------- cache */

typedef struct classify_entry {
    uint64_t hash;
    char *sql, *search_path, *user;
    classify_result res;
    struct classify_entry *hnext;       /* bucket chain */
    struct classify_entry *prev, *next; /* LRU list, head = most recent */
} classify_entry;

struct classify_cache {
    const classify_synced_set *synced;
    classify_entry **buckets;
    size_t nbuckets, count, capacity;  /* nbuckets is a power of two */
    classify_entry *head, *tail;
    classify_result scratch;           /* uncacheable or fast-path answer */
    classify_stmt scratch_stmt;
    bool scratch_owned;                /* scratch came from classify_statement */
    classify_cache_stats stats;
};

/*
 * Returns a cache for up to capacity entries answering for synced (borrowed),
 * or NULL when capacity is 0 or out of memory.
 */
classify_cache *classify_cache_new(const classify_synced_set *synced, size_t capacity)
{
    if (capacity == 0)
        return NULL;
    classify_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->synced = synced;
    c->capacity = capacity;
    c->nbuckets = 16;
    while (c->nbuckets < capacity * 2)
        c->nbuckets *= 2;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->stats.capacity = capacity;
    return c;
}

static void classify_entry_free(classify_entry *e)
{
    free(e->sql);
    free(e->search_path);
    free(e->user);
    classify_result_free(&e->res);
    free(e);
}

static void classify_lru_unlink(classify_cache *c, classify_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void classify_lru_push(classify_cache *c, classify_entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static void classify_cache_remove(classify_cache *c, classify_entry *e)
{
    classify_entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    classify_lru_unlink(c, e);
    c->count--;
    classify_entry_free(e);
}

static void classify_scratch_release(classify_cache *c)
{
    if (c->scratch_owned)
        classify_result_free(&c->scratch);
    c->scratch_owned = false;
    memset(&c->scratch, 0, sizeof(c->scratch));
}

/*
 * See classify.h. Fast-path statements are answered from a scratch result
 * without touching the table; so are texts over CLASSIFY_CACHE_MAX_SQL.
 */
int classify_cache_get(classify_cache *c, const char *search_path, const char *user,
                       const char *sql, const classify_result **out)
{
    if (out)
        *out = NULL;
    if (!c || !sql || !out)
        return T_ERR;
    classify_scratch_release(c);
    classify_kind fast_kind;
    if (classify_fast_path(sql, &fast_kind)) {
        memset(&c->scratch_stmt, 0, sizeof(c->scratch_stmt));
        c->scratch_stmt.kind = fast_kind;
        c->scratch_stmt.length = strlen(sql);
        c->scratch.stmts = &c->scratch_stmt;
        c->scratch.n_stmts = 1;
        c->scratch.fast_path = true;
        *out = &c->scratch;
        return T_OK;
    }
    size_t len = strlen(sql);
    if (len > CLASSIFY_CACHE_MAX_SQL) {
        c->stats.uncacheable++;
        if (classify_statement_path(c->synced, search_path, user, sql, &c->scratch) != T_OK)
            return T_ERR;
        c->scratch_owned = true;
        *out = &c->scratch;
        return T_OK;
    }
    uint64_t h = classify_hash_bytes(CLASSIFY_FNV_OFFSET, sql, len);
    h = classify_hash_str(h, search_path);
    h = classify_hash_str(h, user);
    classify_entry **bucket = &c->buckets[h & (c->nbuckets - 1)];
    for (classify_entry *e = *bucket; e; e = e->hnext) {
        if (e->hash == h && strcmp(e->sql, sql) == 0 &&
            classify_str_eq(e->search_path, search_path) && classify_str_eq(e->user, user)) {
            c->stats.hits++;
            classify_lru_unlink(c, e);
            classify_lru_push(c, e);
            *out = &e->res;
            return T_OK;
        }
    }
    c->stats.misses++;
    classify_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return T_ERR;
    e->hash = h;
    e->sql = strdup(sql);
    e->search_path = classify_strdup(search_path);
    e->user = classify_strdup(user);
    if (!e->sql || (search_path && !e->search_path) || (user && !e->user) ||
        classify_statement_path(c->synced, search_path, user, sql, &e->res) != T_OK) {
        classify_entry_free(e);
        return T_ERR;
    }
    if (c->count == c->capacity) {
        assert(c->tail);
        classify_cache_remove(c, c->tail);
        c->stats.evictions++;
    }
    bucket = &c->buckets[h & (c->nbuckets - 1)];
    e->hnext = *bucket;
    *bucket = e;
    classify_lru_push(c, e);
    c->count++;
    *out = &e->res;
    return T_OK;
}

void classify_cache_stats_get(const classify_cache *c, classify_cache_stats *stats)
{
    if (!stats)
        return;
    memset(stats, 0, sizeof(*stats));
    if (!c)
        return;
    *stats = c->stats;
    stats->entries = c->count;
}

void classify_cache_clear(classify_cache *c)
{
    if (!c)
        return;
    while (c->head)
        classify_cache_remove(c, c->head);
    classify_scratch_release(c);
}

void classify_cache_free(classify_cache *c)
{
    if (!c)
        return;
    classify_cache_clear(c);
    free(c->buckets);
    free(c);
}
