/*
 * cli.h - the `tether` command line: dispatch to subcommands and the helpers
 * they share (usage errors, loading the configuration from --config and the
 * environment).
 *
 * Contract for every subcommand: `int cmd_X(int argc, char **argv)` where
 * argv[0] is the subcommand name; returns T_EXIT_OK, T_EXIT_FAILURE (runtime
 * failure, message already printed/logged) or T_EXIT_USAGE (bad flags: one
 * line on stderr). `--help` prints the subcommand's help and returns 0.
 */
#ifndef TETHER_CLI_CLI_H
#define TETHER_CLI_CLI_H

#include "util/config.h"

/* Entry point used by main(). */
int cli_main(int argc, char **argv);

/* Prints "tether CMD: MESSAGE (see 'tether CMD --help')" and returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * getopt_long() wrapper state: reports an unknown option or a missing
 * argument as a usage error. Call after getopt_long returned '?' or ':'.
 */
int cli_bad_option(const char *cmd, int argc, char **argv);

/*
 * Initialises CFG, loads PATH (NULL: the TETHER_CONFIG environment variable,
 * else no file) and the environment, applies the log settings and registers
 * secrets. On failure prints the one-line reason and returns T_ERR.
 */
int cli_load_config(tether_config *cfg, const char *path);

/*
 * Command-line flags that set configuration keys. Flags are collected while
 * parsing and applied after the file and the environment, so they win.
 * The strings are borrowed from argv (they outlive the command).
 */
#define CLI_MAX_OVERRIDES 48
typedef struct cli_overrides {
    struct {
        const char *section, *key, *value;
    } items[CLI_MAX_OVERRIDES];
    size_t n;
} cli_overrides;

void cli_overrides_add(cli_overrides *ov, const char *section, const char *key, const char *value);

/*
 * Applies every override with config_set(), then the environment again for
 * sections the flags created (--source), then the overrides again so flags
 * win. A bad value is a usage error (printed); returns T_OK or T_ERR.
 */
int cli_overrides_apply(tether_config *cfg, const cli_overrides *ov, const char *cmd);

int cmd_setup(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_proxy(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_emulate(int argc, char **argv);
int cmd_config(int argc, char **argv);

#endif
