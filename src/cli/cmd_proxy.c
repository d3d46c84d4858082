/*
 * cmd_proxy.c - `tether proxy`: parses flags into configuration and starts
 * the Postgres proxy (src/proxy). Owns the configuration it loads.
 */
#include "cli/cli.h"
#include "proxy/proxy.h"
#include "util/common.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void proxy_help(void)
{
    printf("Usage: tether proxy [options]\n\n"
           "Runs the Postgres wire-protocol proxy: reads pass through to the upstream\n"
           "database, writes to synced tables are applied to the API first.\n\n"
           "Options:\n"
           "  -c, --config FILE      configuration file (default $TETHER_CONFIG)\n"
           "  --listen HOST:PORT     address to accept clients on [proxy] listen\n"
           "  --upstream URL         postgres://USER:PASS@HOST:PORT/DB of the database\n"
           "  --auth TYPE            client authentication: trust, md5 or scram\n"
           "  --users FILE           users file (\"user\" \"secret\" per line, like pgbouncer)\n"
           "  --tls-cert FILE        TLS certificate offered to clients\n"
           "  --tls-key FILE         TLS private key\n"
           "  --source NAME          write through to this source's API (stripe), like\n"
           "                         `tether sync --source`; with --api-key, --api-base,\n"
           "                         --schema, --max-rows (or the config's [sync.*])\n"
           "  --api-key KEY          API key of that source\n"
           "  --api-base URL         API base URL (e.g. the emulator's)\n"
           "  --schema NAME          schema of the synced tables (default: the source name)\n"
           "  --max-rows N           rows per write statement (default: the connector's)\n"
           "  -h, --help             show this help\n"
           "\nSignals: SIGTERM/SIGINT drain and stop, SIGHUP reloads users, TLS and limits.\n"
           "See docs/proxy.md.\n");
}

/* What SIGHUP needs to rebuild the configuration the way startup did. */
typedef struct proxy_reload_args {
    const char *config_path;
    const cli_overrides *ov;
} proxy_reload_args;

/* proxy_reload_fn: file + environment + the same command-line flags. */
static int proxy_reload_config(void *arg, tether_config *out)
{
    const proxy_reload_args *ra = arg;
    if (cli_load_config(out, ra->config_path) != T_OK)
        return T_ERR;
    if (cli_overrides_apply(out, ra->ov, "proxy") != T_OK) {
        config_free(out);
        return T_ERR;
    }
    return T_OK;
}

int cmd_proxy(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"upstream", required_argument, NULL, 'u'},
        {"auth", required_argument, NULL, 'a'},
        {"users", required_argument, NULL, 'U'},
        {"tls-cert", required_argument, NULL, 'C'},
        {"tls-key", required_argument, NULL, 'K'},
        {"source", required_argument, NULL, 's'},
        {"api-key", required_argument, NULL, 'k'},
        {"api-base", required_argument, NULL, 'b'},
        {"schema", required_argument, NULL, 'S'},
        {"max-rows", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    cli_overrides ov = {0};
    const char *source = NULL;
    struct { const char *key, *value; } sync_flags[8];
    size_t nsync = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'l': cli_overrides_add(&ov, "proxy", "listen", optarg); break;
        case 'u': cli_overrides_add(&ov, "proxy", "upstream", optarg); break;
        case 'a': cli_overrides_add(&ov, "proxy", "auth_type", optarg); break;
        case 'U': cli_overrides_add(&ov, "proxy", "auth_file", optarg); break;
        case 'C': cli_overrides_add(&ov, "proxy", "tls_cert", optarg); break;
        case 'K': cli_overrides_add(&ov, "proxy", "tls_key", optarg); break;
        case 's': source = optarg; break;
        case 'k':
        case 'b':
        case 'S':
        case 'm':
            if (nsync < T_ARRAY_LEN(sync_flags)) {
                sync_flags[nsync].key = c == 'k' ? "api_key" : c == 'b' ? "api_base"
                                        : c == 'S' ? "schema" : "max_rows_per_write";
                sync_flags[nsync].value = optarg;
                nsync++;
            }
            break;
        case 'h': proxy_help(); return T_EXIT_OK;
        default: return cli_bad_option("proxy", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("proxy", "unexpected argument '%s'", argv[optind]);
    if (source) {
        if (strcmp(source, "stripe") != 0)
            return cli_usage_error("proxy", "unknown source '%s' (stripe)", source);
        cli_overrides_add(&ov, "sync.stripe", "source", source);
        for (size_t i = 0; i < nsync; i++)
            cli_overrides_add(&ov, "sync.stripe", sync_flags[i].key, sync_flags[i].value);
    } else if (nsync > 0) {
        return cli_usage_error("proxy", "option '--%s' needs --source",
                               strcmp(sync_flags[0].key, "api_key") == 0 ? "api-key" : sync_flags[0].key);
    }
    tether_config cfg;
    if (cli_load_config(&cfg, config_path) != T_OK)
        return T_EXIT_FAILURE;
    if (cli_overrides_apply(&cfg, &ov, "proxy") != T_OK) {
        config_free(&cfg);
        return T_EXIT_USAGE;
    }
    if (!cfg.proxy_upstream) {
        config_free(&cfg);
        return cli_usage_error("proxy", "no upstream database: give --upstream URL or [proxy] upstream");
    }
    proxy_reload_args ra = {config_path, &ov};
    int rc = proxy_run_with_reload(&cfg, proxy_reload_config, &ra);
    config_free(&cfg);
    return rc == T_OK ? T_EXIT_OK : T_EXIT_FAILURE;
}
