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
           "  --source NAME          write through to this source's API (stripe or\n"
           "                         salesforce), like `tether sync --source`; with its\n"
           "                         credentials, --schema, --max-rows (or [sync.*])\n"
           "  --api-key KEY          Stripe: API key\n"
           "  --api-base URL         Stripe: API base URL (e.g. the emulator's)\n"
           "  --login-url URL        Salesforce: login URL (e.g. the emulator's)\n"
           "  --client-id ID         Salesforce: connected app client id\n"
           "  --client-secret SECRET Salesforce: connected app client secret\n"
           "  --username USER        Salesforce: username\n"
           "  --password PASS        Salesforce: password (+ security token)\n"
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
        {"login-url", required_argument, NULL, 'L'},
        {"client-id", required_argument, NULL, 'i'},
        {"client-secret", required_argument, NULL, 'x'},
        {"username", required_argument, NULL, 'n'},
        {"password", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    cli_overrides ov = {0};
    const char *source = NULL;
    struct { const char *key, *flag, *value; } sync_flags[16];
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
        case 'L':
        case 'i':
        case 'x':
        case 'n':
        case 'p':
            if (nsync < T_ARRAY_LEN(sync_flags)) {
                static const struct { int c; const char *key, *flag; } keys[] = {
                    {'k', "api_key", "api-key"},     {'b', "api_base", "api-base"},
                    {'S', "schema", "schema"},       {'m', "max_rows_per_write", "max-rows"},
                    {'L', "login_url", "login-url"}, {'i', "client_id", "client-id"},
                    {'x', "client_secret", "client-secret"}, {'n', "username", "username"},
                    {'p', "password", "password"},
                };
                for (size_t k = 0; k < T_ARRAY_LEN(keys); k++)
                    if (keys[k].c == c) {
                        sync_flags[nsync].key = keys[k].key;
                        sync_flags[nsync].flag = keys[k].flag;
                    }
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
        const char *section = strcmp(source, "stripe") == 0       ? "sync.stripe"
                              : strcmp(source, "salesforce") == 0 ? "sync.salesforce"
                                                                  : NULL;
        if (!section)
            return cli_usage_error("proxy", "unknown source '%s' (stripe or salesforce)", source);
        cli_overrides_add(&ov, section, "source", source);
        for (size_t i = 0; i < nsync; i++)
            cli_overrides_add(&ov, section, sync_flags[i].key, sync_flags[i].value);
    } else if (nsync > 0) {
        return cli_usage_error("proxy", "option '--%s' needs --source", sync_flags[0].flag);
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
