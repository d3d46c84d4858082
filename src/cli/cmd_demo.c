/*
 * cmd_demo.c - `tether demo`: the embedded default. Parses flags and hands
 * over to src/demo/demo.c, which starts a private Postgres cluster, the
 * bundled API emulator, sync and proxy, and prints how to connect.
 */
#include "cli/cli.h"
#include "demo/demo.h"
#include "util/common.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void demo_help(void)
{
    printf("Usage: tether demo [options]\n\n"
           "Starts a private Postgres cluster, the Stripe emulator seeded with realistic\n"
           "data, the sync and the proxy, then prints a psql line to connect with.\n"
           "Ctrl-C stops everything and cleans up.\n\n"
           "Options:\n"
           "  --dir DIR             working directory (default: a new temporary one,\n"
           "                        removed at exit)\n"
           "  --port PORT           proxy port (default 6432)\n"
           "  --seed-customers N    customers seeded into the emulator (default 1000)\n"
           "  --exit-after-ready    stop once everything is up (for scripts and tests)\n"
           "  -h, --help            show this help\n");
}

static int parse_int(const char *s, int min, int max, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max)
        return T_ERR;
    *out = (int)v;
    return T_OK;
}

int cmd_demo(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"port", required_argument, NULL, 'p'},
        {"seed-customers", required_argument, NULL, 's'},
        {"exit-after-ready", no_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    demo_options o = {.dir = NULL, .proxy_port = 6432, .seed_customers = 1000};
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o.dir = optarg; break;
        case 'p':
            if (parse_int(optarg, 1, 65535, &o.proxy_port) != T_OK)
                return cli_usage_error("demo", "--port wants a port number, got '%s'", optarg);
            break;
        case 's':
            if (parse_int(optarg, 1, 10000000, &o.seed_customers) != T_OK)
                return cli_usage_error("demo", "--seed-customers wants 1..10000000, got '%s'",
                                       optarg);
            break;
        case 'x': o.exit_after_ready = 1; break;
        case 'h': demo_help(); return T_EXIT_OK;
        default: return cli_bad_option("demo", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("demo", "unexpected argument '%s'", argv[optind]);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        fprintf(stderr, "tether demo: cannot find my own executable\n");
        return T_EXIT_FAILURE;
    }
    self[n] = '\0';
    return demo_run(&o, self);
}
