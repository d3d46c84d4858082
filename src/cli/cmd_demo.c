/*
 * cmd_demo.c - `tether demo`: the embedded default. Starts a private Postgres
 * cluster, the bundled API emulators, sync and proxy, and prints how to connect.
 */
#include "cli/cli.h"
#include "util/common.h"

#include <getopt.h>
#include <stdio.h>

static void demo_help(void)
{
    printf("Usage: tether demo [options]\n\n"
           "Starts a private Postgres cluster, the Stripe and Salesforce emulators seeded\n"
           "with realistic data, the sync and the proxy, then prints a psql line to\n"
           "connect with. Ctrl-C stops everything and cleans up.\n\n"
           "Options:\n"
           "  --dir DIR          working directory (default: a new temporary one)\n"
           "  --port PORT        proxy port (default 6432)\n"
           "  -h, --help         show this help\n");
}

int cmd_demo(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'}, {"port", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': case 'p': break;
        case 'h': demo_help(); return T_EXIT_OK;
        default: return cli_bad_option("demo", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("demo", "unexpected argument '%s'", argv[optind]);
    fprintf(stderr, "tether demo: not implemented yet\n");
    return T_EXIT_FAILURE;
}
