/*
 * cmd_setup.c - `tether setup`: prints (or with --apply, runs) the SQL that
 * creates Tether's database user, its read role and the Supabase grants.
 */
#include "cli/cli.h"
#include "util/common.h"

#include <getopt.h>
#include <stdio.h>

static void setup_help(void)
{
    printf("Usage: tether setup [options]\n\n"
           "Prints the SQL that creates Tether's user, its read role and the grants;\n"
           "with --apply --admin-url URL, runs it (idempotently) instead.\n\n"
           "Options:\n"
           "  -c, --config FILE     configuration file (default $TETHER_CONFIG)\n"
           "  --user NAME           Tether's database user (default tether)\n"
           "  --password PASS       its password (default: generated)\n"
           "  --read-role NAME      read role granted SELECT (default tether_read)\n"
           "  --schema NAME         schema to grant on (repeatable; default stripe)\n"
           "  --database NAME       database to grant CONNECT, CREATE on\n"
           "  --apply               run the SQL instead of printing it\n"
           "  --admin-url URL       admin connection used by --apply\n"
           "  -h, --help            show this help\n");
}

int cmd_setup(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"user", required_argument, NULL, 'u'},
        {"password", required_argument, NULL, 'p'}, {"read-role", required_argument, NULL, 'r'},
        {"schema", required_argument, NULL, 's'}, {"database", required_argument, NULL, 'd'},
        {"apply", no_argument, NULL, 'A'}, {"admin-url", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *admin_url = NULL;
    int apply = 0, c;
    while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'u': case 'p': case 'r': case 's': case 'd': break;
        case 'A': apply = 1; break;
        case 'a': admin_url = optarg; break;
        case 'h': setup_help(); return T_EXIT_OK;
        default: return cli_bad_option("setup", argc, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("setup", "unexpected argument '%s'", argv[optind]);
    if (apply && !admin_url)
        return cli_usage_error("setup", "--apply needs --admin-url URL");
    tether_config cfg;
    if (cli_load_config(&cfg, config_path) != T_OK)
        return T_EXIT_FAILURE;
    fprintf(stderr, "tether setup: not implemented yet\n");
    config_free(&cfg);
    return T_EXIT_FAILURE;
}
