/*
 * cli.c - `tether` top-level dispatch and the helpers every subcommand uses.
 * Owns no memory beyond the configuration a subcommand asks it to load.
 */
#include "cli/cli.h"
#include "util/common.h"
#include "util/log.h"
#include "version.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} cli_command;

static const cli_command commands[] = {
    {"setup", "print or apply the SQL that creates Tether's user, read role and grants", cmd_setup},
    {"sync", "run the sync workers: backfill, then real-time changes", cmd_sync},
    {"proxy", "run the Postgres proxy: reads pass through, writes go to the API first", cmd_proxy},
    {"run", "sync + proxy + webhook receiver + status endpoint in one process", cmd_run},
    {"status", "show what each sync is doing", cmd_status},
    {"demo", "start a private Postgres, the API emulators, sync and proxy", cmd_demo},
    {"emulate", "run a local Stripe or Salesforce API emulator", cmd_emulate},
    {"config", "check a configuration file and print the effective settings", cmd_config},
};

static void print_help(FILE *out)
{
    fprintf(out, "Usage: tether [--version] [--help] <command> [options]\n\n"
                 "Tether keeps Postgres tables in two-way sync with SaaS APIs (Stripe, Salesforce).\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < T_ARRAY_LEN(commands); i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'tether <command> --help' for a command's options.\n"
                 "Configuration: --config FILE (or TETHER_CONFIG), overridden by TETHER_* variables.\n");
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "tether %s: %s (see 'tether %s --help')\n", cmd, msg, cmd);
    else
        fprintf(stderr, "tether: %s (see 'tether --help')\n", msg);
    return T_EXIT_USAGE;
}

int cli_bad_option(const char *cmd, int argc, char **argv)
{
    /* optind points past the offending element; optopt names a short option. */
    const char *arg = (optind - 1 >= 0 && optind - 1 < argc) ? argv[optind - 1] : "?";
    if (strncmp(arg, "--", 2) == 0) {
        size_t n = strcspn(arg, "=");
        return cli_usage_error(cmd, "option '%.*s' is unknown or needs an argument", (int)n, arg);
    }
    if (optopt)
        return cli_usage_error(cmd, "option '-%c' is unknown or needs an argument", optopt);
    return cli_usage_error(cmd, "option '%s' is unknown or needs an argument", arg);
}

void cli_overrides_add(cli_overrides *ov, const char *section, const char *key, const char *value)
{
    if (ov->n < CLI_MAX_OVERRIDES) {
        ov->items[ov->n].section = section;
        ov->items[ov->n].key = key;
        ov->items[ov->n].value = value;
        ov->n++;
    }
}

/* Applies every override once; T_ERR (usage error printed) on a bad value. */
static int cli_overrides_set(tether_config *cfg, const cli_overrides *ov, const char *cmd)
{
    char err[T_ERRBUF_SIZE];
    for (size_t i = 0; i < ov->n; i++) {
        if (config_set(cfg, ov->items[i].section, ov->items[i].key, ov->items[i].value, err,
                       sizeof(err)) != T_OK) {
            cli_usage_error(cmd, "%s", err);
            return T_ERR;
        }
    }
    return T_OK;
}

int cli_overrides_apply(tether_config *cfg, const cli_overrides *ov, const char *cmd)
{
    if (cli_overrides_set(cfg, ov, cmd) != T_OK)
        return T_ERR;
    /* A flag such as --source may have just created a [sync.NAME] section: its
     * TETHER_SYNC_<NAME>_* variables apply to it as to a section from the file,
     * and then the flags are applied again so that they still win. */
    char err[T_ERRBUF_SIZE];
    if (config_apply_env(cfg, environ, err, sizeof(err)) != T_OK) {
        cli_usage_error(cmd, "%s", err);
        return T_ERR;
    }
    if (cli_overrides_set(cfg, ov, cmd) != T_OK)
        return T_ERR;
    config_register_secrets(cfg);
    return T_OK;
}

int cli_load_config(tether_config *cfg, const char *path)
{
    char err[T_ERRBUF_SIZE];
    config_init(cfg);
    if (!path)
        path = getenv("TETHER_CONFIG");
    if (path && !*path)
        path = NULL;
    if (config_load(cfg, path, environ, err, sizeof(err)) != T_OK) {
        char safe[T_ERRBUF_SIZE];
        log_redact(err, safe, sizeof(safe));
        fprintf(stderr, "tether: configuration error: %s\n", safe);
        config_free(cfg);
        return T_ERR;
    }
    config_register_secrets(cfg);
    log_level level;
    if (log_level_parse(cfg->log_level, &level) != T_OK) {
        fprintf(stderr, "tether: configuration error: log_level '%s' is not one of debug, info, "
                        "warn, error\n", cfg->log_level);
        config_free(cfg);
        return T_ERR;
    }
    log_set_level(level);
    if (cfg->log_file && *cfg->log_file && log_open_file(cfg->log_file) != T_OK) {
        fprintf(stderr, "tether: cannot open log_file %s\n", cfg->log_file);
        config_free(cfg);
        return T_ERR;
    }
    return T_OK;
}

int cli_main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return T_EXIT_USAGE;
    }
    const char *first = argv[1];
    if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0 || strcmp(first, "help") == 0) {
        print_help(stdout);
        return T_EXIT_OK;
    }
    if (strcmp(first, "--version") == 0 || strcmp(first, "-V") == 0) {
        printf("tether %s\n", TETHER_VERSION);
        return T_EXIT_OK;
    }
    if (first[0] == '-')
        return cli_usage_error(NULL, "unknown option '%s'", first);
    for (size_t i = 0; i < T_ARRAY_LEN(commands); i++) {
        if (strcmp(first, commands[i].name) == 0) {
            optind = 1;
            opterr = 0;
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    return cli_usage_error(NULL, "unknown command '%s'", first);
}
