/*
 * cmd_emulate.c - `tether emulate stripe|salesforce`: runs a stateful local
 * stand-in for the API (emulators/), for the demo, tests and benchmarks.
 */
#include "cli/cli.h"
#include "emulators/salesforce/sf_emulator.h"
#include "util/common.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void emulate_help(void)
{
    printf("Usage: tether emulate stripe|salesforce [options]\n\n"
           "Runs a stateful local emulator of the Stripe or Salesforce API that the\n"
           "official SDKs accept.\n\n"
           "Options:\n"
           "  --listen HOST:PORT     address to serve on (stripe 127.0.0.1:12111,\n"
           "                         salesforce 127.0.0.1:12112)\n"
           "  -h, --help             show this help\n");
}

int cmd_emulate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* `tether emulate salesforce ...`: the emulator parses its own flags. */
    if (argc >= 2 && strcmp(argv[1], "salesforce") == 0)
        return sf_emulator_main(argc - 1, argv + 1);
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': break;
        case 'h': emulate_help(); return T_EXIT_OK;
        default: return cli_bad_option("emulate", argc, argv);
        }
    }
    if (optind >= argc)
        return cli_usage_error("emulate", "missing API name (stripe or salesforce)");
    const char *api = argv[optind];
    if (strcmp(api, "stripe") != 0 && strcmp(api, "salesforce") != 0)
        return cli_usage_error("emulate", "unknown API '%s' (stripe or salesforce)", api);
    if (optind + 1 < argc)
        return cli_usage_error("emulate", "unexpected argument '%s'", argv[optind + 1]);
    fprintf(stderr, "tether emulate %s: not implemented yet\n", api);
    return T_EXIT_FAILURE;
}
