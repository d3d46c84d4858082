/*
 * auth_users.c - parses the proxy's users file (see auth_users.h). The table
 * owns copies of every name and secret.
 */
#include "proxy/auth_users.h"

#include "util/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads one "quoted" token at *P into a malloc'd string; advances *P. */
static char *proxy_users_token(const char **p)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s != '"')
        return NULL;
    s++;
    size_t cap = strlen(s) + 1, n = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    for (;;) {
        if (*s == '\0' || *s == '\n') {
            free(out);
            return NULL;
        }
        if (*s == '"') {
            if (s[1] == '"') {
                out[n++] = '"';
                s += 2;
                continue;
            }
            s++;
            break;
        }
        out[n++] = *s++;
    }
    out[n] = '\0';
    *p = s;
    return out;
}

static proxy_secret_kind proxy_users_kind(const char *secret)
{
    if (strncmp(secret, "SCRAM-SHA-256$", 14) == 0)
        return PROXY_SECRET_SCRAM;
    if (strlen(secret) == 35 && strncmp(secret, "md5", 3) == 0 &&
        strspn(secret + 3, "0123456789abcdef") == 32)
        return PROXY_SECRET_MD5;
    return PROXY_SECRET_PLAIN;
}

int proxy_users_parse(const char *text, const char *name, proxy_users **out, char *errbuf,
                      size_t errlen)
{
    proxy_users *u = calloc(1, sizeof(*u));
    size_t cap = 0;
    int lineno = 0;
    if (!u)
        goto oom;
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        lineno++;
        const char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (*p == '\n' || *p == '\0' || *p == ';' || *p == '#')
            goto next;
        char *user = proxy_users_token(&p);
        char *secret = user ? proxy_users_token(&p) : NULL;
        if (!user || !secret || !user[0]) {
            free(user);
            free(secret);
            snprintf(errbuf, errlen, "%s:%d: expected \"user\" \"secret\"", name, lineno);
            goto failed;
        }
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (*p != '\n' && *p != '\0') {
            free(user);
            free(secret);
            snprintf(errbuf, errlen, "%s:%d: unexpected text after the secret", name, lineno);
            goto failed;
        }
        if (u->n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            proxy_user *ni = realloc(u->items, ncap * sizeof(*ni));
            if (!ni) {
                free(user);
                free(secret);
                goto oom;
            }
            u->items = ni;
            cap = ncap;
        }
        u->items[u->n].name = user;
        u->items[u->n].secret = secret;
        u->items[u->n].kind = proxy_users_kind(secret);
        u->items[u->n].derived = NULL;
        u->n++;
    next:
        line = eol ? eol + 1 : NULL;
    }
    *out = u;
    return T_OK;
oom:
    snprintf(errbuf, errlen, "%s: out of memory", name);
failed:
    proxy_users_free(u);
    return T_ERR;
}

int proxy_users_load(const char *path, proxy_users **out, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return T_ERR;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    char chunk[4096];
    size_t n;
    while (mem && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, mem);
    fclose(f);
    if (!mem) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        return T_ERR;
    }
    fclose(mem);
    int rc = proxy_users_parse(text, path, out, errbuf, errlen);
    free(text);
    return rc;
}

proxy_user *proxy_users_find(proxy_users *users, const char *name)
{
    if (!users)
        return NULL;
    for (size_t i = 0; i < users->n; i++)
        if (strcmp(users->items[i].name, name) == 0)
            return &users->items[i];
    return NULL;
}

void proxy_users_free(proxy_users *users)
{
    if (!users)
        return;
    for (size_t i = 0; i < users->n; i++) {
        free(users->items[i].name);
        free(users->items[i].secret);
        free(users->items[i].derived);
    }
    free(users->items);
    free(users);
}
