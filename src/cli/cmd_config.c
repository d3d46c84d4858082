/*
 * cmd_config.c - `tether config`: loads the configuration exactly as the other
 * commands do and prints the effective settings, secrets masked. Exit 1 with
 * the file, line and key when the configuration is invalid.
 */
#include "cli/cli.h"
#include "util/common.h"

#include <getopt.h>
#include <stdio.h>

static void config_help(void)
{
    printf("Usage: tether config [-c FILE]\n\n"
           "Checks a configuration file plus TETHER_* environment overrides and prints\n"
           "the effective settings (secrets shown as ***).\n\n"
           "Options:\n"
           "  -c, --config FILE     configuration file (default $TETHER_CONFIG)\n"
           "  -h, --help            show this help\n");
}

int cmd_config(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'h': config_help(); return T_EXIT_OK;
        default: return cli_bad_option("config", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("config", "unexpected argument '%s'", argv[optind]);
    tether_config cfg;
    if (cli_load_config(&cfg, config_path) != T_OK)
        return T_EXIT_FAILURE;
    config_dump(&cfg, stdout);
    config_free(&cfg);
    return T_EXIT_OK;
}
