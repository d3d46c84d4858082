/*
 * connector.c - the registry of connectors and the helpers every connector
 * and the engine share (change lists, schema lookups). conn_changes owns its
 * array and one json_t reference per change.
 */
#include "connectors/connector.h"
#include "util/common.h"

#include <stdlib.h>
#include <string.h>

extern const connector_ops stripe_connector_ops;

static const connector_ops *const connectors[] = {&stripe_connector_ops};

const connector_ops *connector_find(const char *source)
{
    for (size_t i = 0; source && i < T_ARRAY_LEN(connectors); i++)
        if (strcmp(connectors[i]->source, source) == 0)
            return connectors[i];
    return NULL;
}

conn_change *conn_changes_push(conn_changes *ch, conn_change_kind kind, size_t coll,
                               const char *id, json_t *object, int64_t version)
{
    if (ch->n == ch->cap) {
        size_t cap = ch->cap ? ch->cap * 2 : 64;
        conn_change *p = realloc(ch->items, cap * sizeof(*p));
        if (!p)
            abort();
        ch->items = p;
        ch->cap = cap;
    }
    conn_change *c = &ch->items[ch->n++];
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->coll = coll;
    snprintf(c->id, sizeof(c->id), "%s", id ? id : "");
    c->object = object;
    c->version = version;
    return c;
}

void conn_changes_free(conn_changes *ch)
{
    for (size_t i = 0; i < ch->n; i++) {
        if (ch->items[i].object)
            json_decref(ch->items[i].object);
        if (ch->items[i].event)
            json_decref(ch->items[i].event);
    }
    free(ch->items);
    memset(ch, 0, sizeof(*ch));
}

int conn_schema_find(const conn_schema *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->colls[i].name, name) == 0)
            return (int)i;
    return -1;
}

int conn_schema_find_type(const conn_schema *s, const char *object_type)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->colls[i].object_type, object_type) == 0)
            return (int)i;
    return -1;
}

const conn_column *conn_collection_column(const conn_collection *coll, const char *name)
{
    for (size_t i = 0; i < coll->ncols; i++)
        if (strcmp(coll->cols[i].name, name) == 0)
            return &coll->cols[i];
    return NULL;
}

int conn_collection_add_column(conn_collection *coll, const conn_column *col)
{
    if (conn_collection_column(coll, col->name))
        return T_OK;
    if (coll->ncols >= CONN_MAX_COLUMNS)
        return T_ERR;
    coll->cols[coll->ncols++] = *col;
    return T_OK;
}

const char *conn_coltype_sql(conn_coltype t)
{
    switch (t) {
    case CONN_TEXT: return "text";
    case CONN_BIGINT: return "bigint";
    case CONN_NUMERIC: return "numeric";
    case CONN_BOOL: return "boolean";
    case CONN_TIMESTAMPTZ: return "timestamptz";
    case CONN_DATE: return "date";
    case CONN_JSONB: return "jsonb";
    case CONN_TEXT_ARRAY: return "text[]";
    }
    return "text";
}
