/*
 * cmd_sync.c - `tether sync` and `tether run`: parse the one-line-start flags
 * (--source, --api-key, --database, ...) into a [sync.<source>] section and
 * start the sync engine (src/sync), plus the proxy for `run`.
 * Owns the configuration it loads.
 */
#include "cli/cli.h"
#include "proxy/proxy.h"
#include "sync/sync_engine.h"
#include "util/common.h"
#include "util/log.h"

#include <getopt.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t sync_stop_flag;

static void sync_on_signal(int sig)
{
    (void)sig;
    sync_stop_flag = 1;
}

static void sync_help(const char *cmd)
{
    printf("Usage: tether %s [options]\n\n", cmd);
    if (strcmp(cmd, "run") == 0)
        printf("Runs the sync workers, the proxy, the webhook receiver and the status endpoint\n"
               "in one process.\n\n");
    else
        printf("Runs the sync workers for every configured sync: backfill, then real-time\n"
               "changes (event polling and signed webhooks).\n\n");
    printf("Options:\n"
           "  -c, --config FILE        configuration file (default $TETHER_CONFIG)\n"
           "  --source NAME            define a sync of this source: stripe or salesforce\n"
           "  --database URL           postgres://... of the database to write into\n"
           "  --schema NAME            target schema (default: the source name)\n"
           "  --api-key KEY            Stripe secret key\n"
           "  --api-base URL           API base URL (default https://api.stripe.com)\n"
           "  --webhook-secret SECRET  Stripe webhook signing secret (whsec_...)\n"
           "  --login-url URL          Salesforce login URL\n"
           "  --client-id ID           Salesforce connected app client id\n"
           "  --client-secret SECRET   Salesforce connected app client secret\n"
           "  --username USER          Salesforce username\n"
           "  --password PASS          Salesforce password (+ security token)\n"
           "  --webhook-listen H:P     where to receive webhooks\n"
           "  --status-listen H:P      where to serve /status and /metrics\n");
    if (strcmp(cmd, "run") == 0)
        printf("  --listen HOST:PORT       proxy listen address\n"
               "  --upstream URL           proxy upstream (default: --database)\n");
    printf("  -h, --help               show this help\n");
}

static int sync_or_run(int argc, char **argv, const char *cmd)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"source", required_argument, NULL, 's'},
        {"database", required_argument, NULL, 'd'},
        {"schema", required_argument, NULL, 'S'},
        {"api-key", required_argument, NULL, 'k'},
        {"api-base", required_argument, NULL, 'b'},
        {"webhook-secret", required_argument, NULL, 'w'},
        {"login-url", required_argument, NULL, 'L'},
        {"client-id", required_argument, NULL, 'i'},
        {"client-secret", required_argument, NULL, 'x'},
        {"username", required_argument, NULL, 'n'},
        {"password", required_argument, NULL, 'p'},
        {"webhook-listen", required_argument, NULL, 'W'},
        {"status-listen", required_argument, NULL, 'T'},
        {"listen", required_argument, NULL, 'l'},
        {"upstream", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *source = NULL;
    struct { const char *key, *value; } sync_flags[16];
    size_t nsync = 0;
    cli_overrides ov = {0};
    bool is_run = strcmp(cmd, "run") == 0;
    int c;
    while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        const char *key = NULL;
        switch (c) {
        case 'c': config_path = optarg; break;
        case 's': source = optarg; break;
        case 'd': cli_overrides_add(&ov, "tether", "database", optarg); break;
        case 'S': key = "schema"; break;
        case 'k': key = "api_key"; break;
        case 'b': key = "api_base"; break;
        case 'w': key = "webhook_secret"; break;
        case 'L': key = "login_url"; break;
        case 'i': key = "client_id"; break;
        case 'x': key = "client_secret"; break;
        case 'n': key = "username"; break;
        case 'p': key = "password"; break;
        case 'W': cli_overrides_add(&ov, "tether", "webhook_listen", optarg); break;
        case 'T': cli_overrides_add(&ov, "tether", "status_listen", optarg); break;
        case 'l':
        case 'u':
            if (!is_run)
                return cli_bad_option(cmd, argc, argv);
            cli_overrides_add(&ov, "proxy", c == 'l' ? "listen" : "upstream", optarg);
            break;
        case 'h': sync_help(cmd); return T_EXIT_OK;
        default: return cli_bad_option(cmd, argc, argv);
        }
        if (key && nsync < T_ARRAY_LEN(sync_flags)) {
            sync_flags[nsync].key = key;
            sync_flags[nsync].value = optarg;
            nsync++;
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    const char *section = NULL;
    if (source) {
        if (strcmp(source, "stripe") == 0)
            section = "sync.stripe";
        else if (strcmp(source, "salesforce") == 0)
            section = "sync.salesforce";
        else
            return cli_usage_error(cmd, "unknown source '%s' (stripe or salesforce)", source);
        cli_overrides_add(&ov, section, "source", source);
    } else if (nsync > 0) {
        return cli_usage_error(cmd, "option '--%s' needs --source", sync_flags[0].key);
    }
    for (size_t i = 0; i < nsync; i++)
        cli_overrides_add(&ov, section, sync_flags[i].key, sync_flags[i].value);

    tether_config cfg;
    if (cli_load_config(&cfg, config_path) != T_OK)
        return T_EXIT_FAILURE;
    if (cli_overrides_apply(&cfg, &ov, cmd) != T_OK) {
        config_free(&cfg);
        return T_EXIT_USAGE;
    }
    if (cfg.nsyncs == 0) {
        config_free(&cfg);
        return cli_usage_error(cmd, "no sync configured: give --source or a [sync.NAME] section");
    }
    if (!cfg.database) {
        config_free(&cfg);
        return cli_usage_error(cmd, "no database: give --database URL or [tether] database");
    }
    pid_t proxy_pid = -1;
    if (is_run) {
        /* the proxy (with write-through) runs in a child process next to the sync */
        if (!cfg.proxy_upstream || !*cfg.proxy_upstream) {
            free(cfg.proxy_upstream);
            cfg.proxy_upstream = strdup(cfg.database);
        }
        fflush(NULL);
        proxy_pid = fork();
        if (proxy_pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            int prc = proxy_run(&cfg);
            config_free(&cfg);
            _exit(prc == T_OK ? T_EXIT_OK : T_EXIT_FAILURE);
        }
        if (proxy_pid < 0)
            log_error("run.proxy_fork_failed", "detail=\"running the sync only\"");
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sync_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sync_stop_flag = 0;
    int rc = sync_engine_run(&cfg, &sync_stop_flag);
    if (proxy_pid > 0) {
        kill(proxy_pid, SIGTERM);
        int st = 0;
        waitpid(proxy_pid, &st, 0);
    }
    config_free(&cfg);
    return rc == T_OK ? T_EXIT_OK : T_EXIT_FAILURE;
}

int cmd_sync(int argc, char **argv)
{
    return sync_or_run(argc, argv, "sync");
}

int cmd_run(int argc, char **argv)
{
    return sync_or_run(argc, argv, "run");
}
