/*
 * config.h - Tether's configuration: one INI file in the style of
 * pgbouncer.ini, every key overridable by environment variables.
 *
 *   [tether]              globals (database, logging, status/webhook ports)
 *   [proxy]               the Postgres proxy
 *   [sync.<name>]         one sync: source type, credentials, schema, ...
 *
 * Environment: TETHER_<SECTION>_<KEY>, section upper-cased with '.' and '-'
 * turned into '_' (TETHER_TETHER_LOG_LEVEL, TETHER_PROXY_LISTEN,
 * TETHER_SYNC_STRIPE_API_KEY). An environment variable overrides the file.
 * A sync section may be created from the environment alone by setting
 * TETHER_SYNC_<NAME>_SOURCE.
 *
 * Every key, its type, default and meaning lives in the table in config.c,
 * which docs/configuration.md mirrors. Memory: a tether_config and every
 * string in it are owned by the config; free with config_free().
 */
#ifndef TETHER_UTIL_CONFIG_H
#define TETHER_UTIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_MAX_SYNCS 32

typedef struct sync_config {
    char *name;          /* from [sync.<name>] */
    char *source;        /* "stripe" | "salesforce" */
    char *schema;        /* target schema; default: the source name */
    char *collections;   /* comma-separated list, empty = all */
    char *database;      /* overrides [tether] database for this sync */
    /* Stripe */
    char *api_key;       /* secret */
    char *api_base;      /* default https://api.stripe.com */
    char *webhook_secret; /* secret: whsec_... to verify Stripe-Signature */
    /* Salesforce */
    char *login_url;
    char *client_id;
    char *client_secret; /* secret */
    char *username;
    char *password;      /* secret */
    char *api_version;
    /* pacing */
    int poll_interval_ms;
    int safety_window_ms;
    double rate_backfill;    /* requests/s during backfill */
    double rate_steady;      /* requests/s in steady state */
    double credential_rate;  /* requests/s shared by every process on this credential;
                              * 0 = max(rate_backfill, rate_steady) */
    int daily_request_budget; /* 0 = unlimited */
    int page_size;
    int max_rows_per_write;  /* proxy: rows per statement, 0 = connector default */
} sync_config;

typedef struct tether_config {
    /* [tether] */
    char *database;        /* secret-bearing URL of the user's database */
    char *log_level;
    char *log_file;
    char *status_listen;   /* HOST:PORT for /status and /metrics, empty = off */
    char *webhook_listen;  /* HOST:PORT for webhook receiver, empty = off */
    char *state_schema;    /* default _tether */
    char *read_role;       /* default tether_read */
    int lease_seconds;
    /* [proxy] */
    char *proxy_listen;
    char *proxy_upstream;  /* secret-bearing URL */
    char *proxy_auth_type; /* trust | md5 | scram */
    char *proxy_auth_file;
    char *proxy_tls_cert;
    char *proxy_tls_key;
    char *proxy_upstream_sslmode; /* disable | prefer | require | verify-full */
    int proxy_max_client_conn;
    int proxy_max_message_size;
    int proxy_shutdown_timeout_s;
    char *proxy_lazy_connect;     /* on | off: connect upstream on the first query */
    int proxy_login_timeout_s;    /* startup + authentication must finish within this */
    int proxy_server_idle_timeout_s; /* keep a left client's upstream for reuse (0: close it) */
    char *proxy_io_uring;         /* on | off: batch the relay's sends through io_uring */
    /* [sync.*] */
    sync_config syncs[CONFIG_MAX_SYNCS];
    size_t nsyncs;
    /* where it came from */
    char *path;
} tether_config;

/* Fills CFG with every default. Cannot fail (aborts on out-of-memory). */
void config_init(tether_config *cfg);

/*
 * Loads PATH (may be NULL: defaults only) into CFG, which must have been
 * config_init()ed, then applies environment overrides from ENVP (NULL-ended
 * "K=V" array; pass environ). On error returns T_ERR and writes a one-line
 * message "FILE:LINE: ..." naming the key (never a secret value) into ERRBUF.
 */
int config_load(tether_config *cfg, const char *path, char *const *envp, char *errbuf,
                size_t errlen);

/* Applies environment overrides only (config_load does this itself). */
int config_apply_env(tether_config *cfg, char *const *envp, char *errbuf, size_t errlen);

/* Registers every secret value in CFG with the logger for redaction. */
void config_register_secrets(const tether_config *cfg);

/* Returns the sync named NAME, or NULL. */
sync_config *config_find_sync(tether_config *cfg, const char *name);

/*
 * Adds (or returns the existing) sync section NAME with defaults. Returns NULL
 * when CONFIG_MAX_SYNCS are already defined.
 */
sync_config *config_add_sync(tether_config *cfg, const char *name);

/*
 * Sets KEY in SECTION ("tether", "proxy", "sync.<name>") from its text VALUE.
 * Returns T_OK, or T_ERR with a message (without the value if secret).
 * Used by the file loader, the environment and command-line flags alike.
 */
int config_set(tether_config *cfg, const char *section, const char *key, const char *value,
               char *errbuf, size_t errlen);

/* Frees every string owned by CFG. CFG itself is the caller's. */
void config_free(tether_config *cfg);

/* Writes every key with its value (secrets as "***") to F, INI-formatted. */
void config_dump(const tether_config *cfg, FILE *f);

#endif
