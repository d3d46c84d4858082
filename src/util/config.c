/*
 * config.c - loads tether.ini with libinih and applies TETHER_* environment
 * overrides. One table (config_keys) describes every key: section, name,
 * type, default, whether it is secret, and where it is stored. The loader,
 * the environment, flags and config_dump() all use that table.
 *
 * Memory: strings are strdup()ed into the tether_config and freed by
 * config_free(); the table itself is static and read-only.
 */
#include "util/config.h"
#include "util/common.h"
#include "util/log.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum key_type { KEY_STRING, KEY_INT, KEY_DOUBLE } key_type;
typedef enum key_scope { SCOPE_TETHER, SCOPE_PROXY, SCOPE_SYNC } key_scope;

typedef struct config_key {
    key_scope scope;
    const char *name;
    key_type type;
    const char *def;  /* default as text, NULL = unset */
    bool secret;
    size_t offset;    /* into tether_config or sync_config */
    long min, max;    /* for KEY_INT */
} config_key;

#define T(field) offsetof(tether_config, field)
#define S(field) offsetof(sync_config, field)

static const config_key config_keys[] = {
    {SCOPE_TETHER, "database", KEY_STRING, NULL, true, T(database), 0, 0},
    {SCOPE_TETHER, "log_level", KEY_STRING, "info", false, T(log_level), 0, 0},
    {SCOPE_TETHER, "log_file", KEY_STRING, NULL, false, T(log_file), 0, 0},
    {SCOPE_TETHER, "status_listen", KEY_STRING, "127.0.0.1:8089", false, T(status_listen), 0, 0},
    {SCOPE_TETHER, "webhook_listen", KEY_STRING, NULL, false, T(webhook_listen), 0, 0},
    {SCOPE_TETHER, "state_schema", KEY_STRING, "_tether", false, T(state_schema), 0, 0},
    {SCOPE_TETHER, "read_role", KEY_STRING, "tether_read", false, T(read_role), 0, 0},
    {SCOPE_TETHER, "lease_seconds", KEY_INT, "15", false, T(lease_seconds), 1, 3600},

    {SCOPE_PROXY, "listen", KEY_STRING, "127.0.0.1:6432", false, T(proxy_listen), 0, 0},
    {SCOPE_PROXY, "upstream", KEY_STRING, NULL, true, T(proxy_upstream), 0, 0},
    {SCOPE_PROXY, "auth_type", KEY_STRING, "scram", false, T(proxy_auth_type), 0, 0},
    {SCOPE_PROXY, "auth_file", KEY_STRING, NULL, false, T(proxy_auth_file), 0, 0},
    {SCOPE_PROXY, "tls_cert", KEY_STRING, NULL, false, T(proxy_tls_cert), 0, 0},
    {SCOPE_PROXY, "tls_key", KEY_STRING, NULL, false, T(proxy_tls_key), 0, 0},
    {SCOPE_PROXY, "upstream_sslmode", KEY_STRING, "prefer", false, T(proxy_upstream_sslmode), 0, 0},
    {SCOPE_PROXY, "max_client_conn", KEY_INT, "10000", false, T(proxy_max_client_conn), 1, 1000000},
    {SCOPE_PROXY, "max_message_size", KEY_INT, "67108864", false, T(proxy_max_message_size), 1024, INT_MAX},
    {SCOPE_PROXY, "shutdown_timeout", KEY_INT, "30", false, T(proxy_shutdown_timeout_s), 0, 86400},
    {SCOPE_PROXY, "lazy_connect", KEY_STRING, "on", false, T(proxy_lazy_connect), 0, 0},
    {SCOPE_PROXY, "login_timeout", KEY_INT, "15", false, T(proxy_login_timeout_s), 1, 3600},
    {SCOPE_PROXY, "server_idle_timeout", KEY_INT, "0", false, T(proxy_server_idle_timeout_s), 0, 86400},
    {SCOPE_PROXY, "io_uring", KEY_STRING, "on", false, T(proxy_io_uring), 0, 0},

    {SCOPE_SYNC, "source", KEY_STRING, NULL, false, S(source), 0, 0},
    {SCOPE_SYNC, "schema", KEY_STRING, NULL, false, S(schema), 0, 0},
    {SCOPE_SYNC, "collections", KEY_STRING, NULL, false, S(collections), 0, 0},
    {SCOPE_SYNC, "database", KEY_STRING, NULL, true, S(database), 0, 0},
    {SCOPE_SYNC, "api_key", KEY_STRING, NULL, true, S(api_key), 0, 0},
    {SCOPE_SYNC, "api_base", KEY_STRING, NULL, false, S(api_base), 0, 0},
    {SCOPE_SYNC, "webhook_secret", KEY_STRING, NULL, true, S(webhook_secret), 0, 0},
    {SCOPE_SYNC, "login_url", KEY_STRING, NULL, false, S(login_url), 0, 0},
    {SCOPE_SYNC, "client_id", KEY_STRING, NULL, false, S(client_id), 0, 0},
    {SCOPE_SYNC, "client_secret", KEY_STRING, NULL, true, S(client_secret), 0, 0},
    {SCOPE_SYNC, "username", KEY_STRING, NULL, false, S(username), 0, 0},
    {SCOPE_SYNC, "password", KEY_STRING, NULL, true, S(password), 0, 0},
    {SCOPE_SYNC, "api_version", KEY_STRING, NULL, false, S(api_version), 0, 0},
    {SCOPE_SYNC, "poll_interval_ms", KEY_INT, "500", false, S(poll_interval_ms), 10, 3600000},
    {SCOPE_SYNC, "safety_window_ms", KEY_INT, "5000", false, S(safety_window_ms), 0, 3600000},
    {SCOPE_SYNC, "rate_backfill", KEY_DOUBLE, "50", false, S(rate_backfill), 0, 0},
    {SCOPE_SYNC, "rate_steady", KEY_DOUBLE, "10", false, S(rate_steady), 0, 0},
    {SCOPE_SYNC, "credential_rate", KEY_DOUBLE, "0", false, S(credential_rate), 0, 0},
    {SCOPE_SYNC, "daily_request_budget", KEY_INT, "0", false, S(daily_request_budget), 0, INT_MAX},
    {SCOPE_SYNC, "page_size", KEY_INT, "100", false, S(page_size), 1, 2000},
    {SCOPE_SYNC, "max_rows_per_write", KEY_INT, "0", false, S(max_rows_per_write), 0, 10000},
};

static const char *scope_name(key_scope scope)
{
    return scope == SCOPE_TETHER ? "tether" : scope == SCOPE_PROXY ? "proxy" : "sync";
}

static const config_key *find_key(key_scope scope, const char *name)
{
    for (size_t i = 0; i < T_ARRAY_LEN(config_keys); i++) {
        if (config_keys[i].scope == scope && strcmp(config_keys[i].name, name) == 0)
            return &config_keys[i];
    }
    return NULL;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        fputs("tether: out of memory\n", stderr);
        abort();
    }
    return d;
}

/* Stores text VALUE into the field KEY describes at BASE. */
static int store(const config_key *key, void *base, const char *value, char *errbuf,
                 size_t errlen, const char *where)
{
    char *field = (char *)base + key->offset;
    switch (key->type) {
    case KEY_STRING: {
        char **slot = (char **)(void *)field;
        free(*slot);
        *slot = value ? xstrdup(value) : NULL;
        return T_OK;
    }
    case KEY_INT: {
        char *end = NULL;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end != '\0' || v < key->min || v > key->max) {
            snprintf(errbuf, errlen, "%sinvalid value for key '%s': expected an integer in %ld..%ld",
                     where, key->name, key->min, key->max);
            return T_ERR;
        }
        *(int *)(void *)field = (int)v;
        return T_OK;
    }
    case KEY_DOUBLE: {
        char *end = NULL;
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end != '\0' || v < 0) {
            snprintf(errbuf, errlen, "%sinvalid value for key '%s': expected a non-negative number",
                     where, key->name);
            return T_ERR;
        }
        *(double *)(void *)field = v;
        return T_OK;
    }
    }
    return T_ERR;
}

static void apply_defaults(key_scope scope, void *base)
{
    char err[64];
    for (size_t i = 0; i < T_ARRAY_LEN(config_keys); i++) {
        const config_key *k = &config_keys[i];
        if (k->scope == scope && k->def)
            (void)store(k, base, k->def, err, sizeof(err), "");
    }
}

void config_init(tether_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    apply_defaults(SCOPE_TETHER, cfg);
    apply_defaults(SCOPE_PROXY, cfg);
}

sync_config *config_find_sync(tether_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nsyncs; i++) {
        if (strcmp(cfg->syncs[i].name, name) == 0)
            return &cfg->syncs[i];
    }
    return NULL;
}

sync_config *config_add_sync(tether_config *cfg, const char *name)
{
    sync_config *s = config_find_sync(cfg, name);
    if (s)
        return s;
    if (cfg->nsyncs >= CONFIG_MAX_SYNCS)
        return NULL;
    s = &cfg->syncs[cfg->nsyncs++];
    memset(s, 0, sizeof(*s));
    s->name = xstrdup(name);
    apply_defaults(SCOPE_SYNC, s);
    return s;
}

/* Splits "sync.NAME" into the scope and the sync; creates the sync. */
static int resolve_section(tether_config *cfg, const char *section, key_scope *scope,
                           void **base, char *errbuf, size_t errlen, const char *where)
{
    if (strcmp(section, "tether") == 0) {
        *scope = SCOPE_TETHER;
        *base = cfg;
        return T_OK;
    }
    if (strcmp(section, "proxy") == 0) {
        *scope = SCOPE_PROXY;
        *base = cfg;
        return T_OK;
    }
    if (strncmp(section, "sync.", 5) == 0 && section[5] != '\0') {
        const char *name = section + 5;
        for (const char *p = name; *p; p++) {
            if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-') {
                snprintf(errbuf, errlen, "%sinvalid sync name in section [%s]", where, section);
                return T_ERR;
            }
        }
        sync_config *s = config_add_sync(cfg, name);
        if (!s) {
            snprintf(errbuf, errlen, "%stoo many sync sections (at most %d)", where,
                     CONFIG_MAX_SYNCS);
            return T_ERR;
        }
        *scope = SCOPE_SYNC;
        *base = s;
        return T_OK;
    }
    snprintf(errbuf, errlen, "%sunknown section [%s]", where, section);
    return T_ERR;
}

static int set_at(tether_config *cfg, const char *section, const char *key, const char *value,
                  char *errbuf, size_t errlen, const char *where)
{
    key_scope scope;
    void *base;
    if (resolve_section(cfg, section, &scope, &base, errbuf, errlen, where) != T_OK)
        return T_ERR;
    const config_key *k = find_key(scope, key);
    if (!k) {
        snprintf(errbuf, errlen, "%sunknown key '%s' in section [%s]", where, key, section);
        return T_ERR;
    }
    return store(k, base, value, errbuf, errlen, where);
}

int config_set(tether_config *cfg, const char *section, const char *key, const char *value,
               char *errbuf, size_t errlen)
{
    return set_at(cfg, section, key, value, errbuf, errlen, "");
}

typedef struct load_ctx {
    tether_config *cfg;
    const char *path;
    char *errbuf;
    size_t errlen;
    int failed;
    FILE *file;
    int lineno;        /* lines handed to inih so far */
    int long_line;     /* first line longer than inih's buffer, or 0 */
} load_ctx;

/*
 * inih reader: Debian builds libinih without line numbers in the handler, so
 * count the lines as we hand them over; inih calls the handler for a line
 * right after reading it. Also catches lines longer than inih's fixed buffer,
 * which inih would otherwise split silently.
 */
static char *read_ini_line(char *str, int num, void *stream)
{
    load_ctx *ctx = stream;
    char *line = fgets(str, num, ctx->file);
    if (!line)
        return NULL;
    ctx->lineno++;
    size_t n = strlen(line);
    if (n > 0 && line[n - 1] != '\n' && !feof(ctx->file) && !ctx->long_line) {
        ctx->long_line = ctx->lineno;
        int ch;
        while ((ch = fgetc(ctx->file)) != EOF && ch != '\n')
            ;
        line[0] = '\0';
    }
    return line;
}

static int on_ini_entry(void *user, const char *section, const char *name, const char *value)
{
    load_ctx *ctx = user;
    if (ctx->failed)
        return 0;
    char where[PATH_MAX + 32];
    snprintf(where, sizeof(where), "%s:%d: ", ctx->path, ctx->lineno);
    if (name == NULL) { /* a section header alone (INI_CALL_HANDLER_ON_NEW_SECTION) */
        key_scope scope;
        void *base;
        if (resolve_section(ctx->cfg, section, &scope, &base, ctx->errbuf, ctx->errlen, where)) {
            ctx->failed = 1;
            return 0;
        }
        return 1;
    }
    if (section[0] == '\0') {
        snprintf(ctx->errbuf, ctx->errlen, "%skey '%s' outside of any section", where, name);
        ctx->failed = 1;
        return 0;
    }
    if (set_at(ctx->cfg, section, name, value, ctx->errbuf, ctx->errlen, where) != T_OK) {
        ctx->failed = 1;
        return 0;
    }
    return 1;
}

/* Upper-cases SRC into DST, mapping '.' and '-' to '_'. */
static void env_name_part(const char *src, char *dst, size_t len)
{
    size_t i = 0;
    for (; src[i] && i + 1 < len; i++) {
        char c = src[i];
        dst[i] = (c == '.' || c == '-') ? '_' : (char)toupper((unsigned char)c);
    }
    dst[i] = '\0';
}

static const char *env_lookup(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = envp; e && *e; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    }
    return NULL;
}

static int apply_env_scope(tether_config *cfg, key_scope scope, const char *section,
                           char *const *envp, char *errbuf, size_t errlen)
{
    char part[128];
    env_name_part(section, part, sizeof(part));
    for (size_t i = 0; i < T_ARRAY_LEN(config_keys); i++) {
        const config_key *k = &config_keys[i];
        if (k->scope != scope)
            continue;
        char var[256], keypart[64];
        env_name_part(k->name, keypart, sizeof(keypart));
        snprintf(var, sizeof(var), "TETHER_%s_%s", part, keypart);
        const char *v = env_lookup(envp, var);
        if (!v)
            continue;
        char where[300];
        snprintf(where, sizeof(where), "environment %s: ", var);
        if (set_at(cfg, section, k->name, v, errbuf, errlen, where) != T_OK)
            return T_ERR;
    }
    return T_OK;
}

int config_apply_env(tether_config *cfg, char *const *envp, char *errbuf, size_t errlen)
{
    if (apply_env_scope(cfg, SCOPE_TETHER, "tether", envp, errbuf, errlen) != T_OK ||
        apply_env_scope(cfg, SCOPE_PROXY, "proxy", envp, errbuf, errlen) != T_OK)
        return T_ERR;
    /* Syncs named only in the environment: TETHER_SYNC_<NAME>_SOURCE=... */
    for (char *const *e = envp; e && *e; e++) {
        const char *suffix = "_SOURCE=";
        if (strncmp(*e, "TETHER_SYNC_", 12) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq || eq - *e < 12 + 8)
            continue;
        const char *tail = eq - 7;
        if (strncmp(tail, suffix, 8) != 0)
            continue;
        char name[64];
        size_t n = (size_t)(tail - (*e + 12));
        if (n == 0 || n >= sizeof(name))
            continue;
        for (size_t i = 0; i < n; i++)
            name[i] = (char)tolower((unsigned char)(*e)[12 + i]);
        name[n] = '\0';
        bool known = false;
        for (size_t i = 0; i < cfg->nsyncs; i++) {
            char up[128], want[128];
            env_name_part(cfg->syncs[i].name, up, sizeof(up));
            env_name_part(name, want, sizeof(want));
            if (strcmp(up, want) == 0)
                known = true;
        }
        if (!known && !config_add_sync(cfg, name)) {
            snprintf(errbuf, errlen, "environment: too many syncs (at most %d)", CONFIG_MAX_SYNCS);
            return T_ERR;
        }
    }
    for (size_t i = 0; i < cfg->nsyncs; i++) {
        char section[128];
        snprintf(section, sizeof(section), "sync.%s", cfg->syncs[i].name);
        if (apply_env_scope(cfg, SCOPE_SYNC, section, envp, errbuf, errlen) != T_OK)
            return T_ERR;
    }
    return T_OK;
}

int config_load(tether_config *cfg, const char *path, char *const *envp, char *errbuf,
                size_t errlen)
{
    if (path) {
        FILE *f = fopen(path, "r");
        if (!f) {
            snprintf(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
            return T_ERR;
        }
        load_ctx ctx = {cfg, path, errbuf, errlen, 0, f, 0, 0};
        int rc = ini_parse_stream(read_ini_line, &ctx, on_ini_entry, &ctx);
        fclose(f);
        if (ctx.failed)
            return T_ERR;
        if (ctx.long_line) {
            snprintf(errbuf, errlen, "%s:%d: line too long (at most %d characters)", path,
                     ctx.long_line, INI_MAX_LINE - 2);
            return T_ERR;
        }
        if (rc != 0) {
            snprintf(errbuf, errlen, "%s:%d: syntax error", path, rc);
            return T_ERR;
        }
        free(cfg->path);
        cfg->path = xstrdup(path);
    }
    if (config_apply_env(cfg, envp, errbuf, errlen) != T_OK)
        return T_ERR;
    for (size_t i = 0; i < cfg->nsyncs; i++) {
        sync_config *s = &cfg->syncs[i];
        if (!s->source) {
            snprintf(errbuf, errlen, "%s: [sync.%s] has no 'source' (stripe or salesforce)",
                     path ? path : "environment", s->name);
            return T_ERR;
        }
    }
    return T_OK;
}

static void register_secrets_of(key_scope scope, const void *base)
{
    for (size_t i = 0; i < T_ARRAY_LEN(config_keys); i++) {
        const config_key *k = &config_keys[i];
        if (k->scope != scope || !k->secret || k->type != KEY_STRING)
            continue;
        const char *v = *(char *const *)(const void *)((const char *)base + k->offset);
        if (!v)
            continue;
        /* A URL's password is masked by the logger anyway; register the whole
         * value only when it is not a URL, so hosts stay readable in logs. */
        if (!strstr(v, "://"))
            log_add_secret(v);
        else {
            const char *at = strchr(v, '@');
            const char *colon = strchr(strstr(v, "://") + 3, ':');
            if (at && colon && colon < at && at - colon > 1) {
                char pw[256];
                size_t n = (size_t)(at - colon - 1);
                if (n < sizeof(pw)) {
                    memcpy(pw, colon + 1, n);
                    pw[n] = '\0';
                    if (n >= 4)
                        log_add_secret(pw);
                }
            }
        }
    }
}

void config_register_secrets(const tether_config *cfg)
{
    register_secrets_of(SCOPE_TETHER, cfg);
    register_secrets_of(SCOPE_PROXY, cfg);
    for (size_t i = 0; i < cfg->nsyncs; i++)
        register_secrets_of(SCOPE_SYNC, &cfg->syncs[i]);
}

static void free_strings_of(key_scope scope, void *base)
{
    for (size_t i = 0; i < T_ARRAY_LEN(config_keys); i++) {
        const config_key *k = &config_keys[i];
        if (k->scope == scope && k->type == KEY_STRING) {
            char **slot = (char **)(void *)((char *)base + k->offset);
            free(*slot);
            *slot = NULL;
        }
    }
}

void config_free(tether_config *cfg)
{
    free_strings_of(SCOPE_TETHER, cfg);
    free_strings_of(SCOPE_PROXY, cfg);
    for (size_t i = 0; i < cfg->nsyncs; i++) {
        free_strings_of(SCOPE_SYNC, &cfg->syncs[i]);
        free(cfg->syncs[i].name);
    }
    cfg->nsyncs = 0;
    free(cfg->path);
    cfg->path = NULL;
}

static void dump_scope(key_scope scope, const void *base, FILE *f)
{
    for (size_t i = 0; i < T_ARRAY_LEN(config_keys); i++) {
        const config_key *k = &config_keys[i];
        if (k->scope != scope)
            continue;
        const char *field = (const char *)base + k->offset;
        switch (k->type) {
        case KEY_STRING: {
            const char *v = *(char *const *)(const void *)field;
            if (v)
                fprintf(f, "%s = %s\n", k->name, k->secret ? "***" : v);
            break;
        }
        case KEY_INT:
            fprintf(f, "%s = %d\n", k->name, *(const int *)(const void *)field);
            break;
        case KEY_DOUBLE:
            fprintf(f, "%s = %g\n", k->name, *(const double *)(const void *)field);
            break;
        }
    }
}

void config_dump(const tether_config *cfg, FILE *f)
{
    fprintf(f, "[%s]\n", scope_name(SCOPE_TETHER));
    dump_scope(SCOPE_TETHER, cfg, f);
    fprintf(f, "\n[proxy]\n");
    dump_scope(SCOPE_PROXY, cfg, f);
    for (size_t i = 0; i < cfg->nsyncs; i++) {
        fprintf(f, "\n[sync.%s]\n", cfg->syncs[i].name);
        dump_scope(SCOPE_SYNC, &cfg->syncs[i], f);
    }
}
