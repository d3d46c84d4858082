/*
 * cmd_status.c - `tether status`: reads the sync state Tether keeps in the
 * database and prints progress, lag and errors per sync and collection.
 */
#include "cli/cli.h"
#include "pg/pgconn.h"
#include "sync/sync_status.h"
#include "util/common.h"

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t status_stop;

static void status_on_signal(int sig)
{
    (void)sig;
    status_stop = 1;
}

static void status_help(void)
{
    printf("Usage: tether status [options]\n\n"
           "Shows what each sync is doing: backfill progress, rows, lag, last event,\n"
           "last error.\n\n"
           "Options:\n"
           "  -c, --config FILE     configuration file (default $TETHER_CONFIG)\n"
           "  --database URL        database Tether syncs into\n"
           "  --json                print JSON instead of text\n"
           "  --watch               refresh until interrupted (a progress bar on a terminal)\n"
           "  -h, --help            show this help\n");
}

int cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"database", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'}, {"watch", no_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    bool json = false, watch = false;
    cli_overrides ov = {0};
    int c;
    while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'd': cli_overrides_add(&ov, "tether", "database", optarg); break;
        case 'j': json = true; break;
        case 'w': watch = true; break;
        case 'h': status_help(); return T_EXIT_OK;
        default: return cli_bad_option("status", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("status", "unexpected argument '%s'", argv[optind]);
    tether_config cfg;
    if (cli_load_config(&cfg, config_path) != T_OK)
        return T_EXIT_FAILURE;
    if (cli_overrides_apply(&cfg, &ov, "status") != T_OK) {
        config_free(&cfg);
        return T_EXIT_USAGE;
    }
    if (!cfg.database) {
        config_free(&cfg);
        return cli_usage_error("status", "no database: give --database URL or [tether] database");
    }
    char err[T_ERRBUF_SIZE];
    PGconn *conn = pgconn_connect(cfg.database, "tether-status", err, sizeof(err));
    if (!conn) {
        fprintf(stderr, "tether status: %s\n", err);
        config_free(&cfg);
        return T_EXIT_FAILURE;
    }
    bool tty = isatty(STDOUT_FILENO);
    signal(SIGINT, status_on_signal);
    signal(SIGTERM, status_on_signal);
    int rc = T_EXIT_OK;
    for (;;) {
        json_t *st = sync_status_read(conn, cfg.state_schema, err, sizeof(err));
        if (!st) {
            fprintf(stderr, "tether status: %s\n", err);
            rc = T_EXIT_FAILURE;
            break;
        }
        if (watch && tty)
            printf("\033[H\033[2J");
        if (json) {
            char *s = json_dumps(st, JSON_INDENT(2));
            printf("%s\n", s ? s : "{}");
            free(s);
        } else {
            sync_status_print(st, stdout, tty);
        }
        fflush(stdout);
        json_decref(st);
        if (!watch || status_stop)
            break;
        sleep(1);
        if (status_stop)
            break;
    }
    PQfinish(conn);
    config_free(&cfg);
    return rc;
}
