/*
 * cmd_setup.c - `tether setup`: prints (or with --apply, runs) the SQL that
 * creates Tether's database user, its read role and the Supabase grants.
 * The SQL itself is built by src/pg/setup.c.
 */
#include "cli/cli.h"
#include "pg/setup.h"
#include "util/common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void setup_help(void)
{
    printf("Usage: tether setup [options]\n\n"
           "Prints the SQL that creates Tether's user, its read role and the grants;\n"
           "with --apply --admin-url URL, runs it (idempotently) instead.\n\n"
           "Options:\n"
           "  -c, --config FILE     configuration file (default $TETHER_CONFIG)\n"
           "  --user NAME           Tether's database user (default tether)\n"
           "  --password PASS       its password (default: keep an existing one, or generate)\n"
           "  --read-role NAME      read role granted SELECT (default [tether] read_role)\n"
           "  --schema NAME         schema to grant on (repeatable; default: the configured\n"
           "                        syncs' schemas, else stripe)\n"
           "  --grant-to ROLES      comma-separated roles given the read role where they\n"
           "                        exist (default postgres,anon,authenticated,service_role;\n"
           "                        empty for none)\n"
           "  --apply               run the SQL instead of printing it\n"
           "  --admin-url URL       admin connection used by --apply\n"
           "  -h, --help            show this help\n");
}

int cmd_setup(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"user", required_argument, NULL, 'u'},
        {"password", required_argument, NULL, 'p'}, {"read-role", required_argument, NULL, 'r'},
        {"schema", required_argument, NULL, 's'}, {"grant-to", required_argument, NULL, 'g'},
        {"apply", no_argument, NULL, 'A'}, {"admin-url", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *admin_url = NULL, *grant_to = NULL;
    setup_options so = {0};
    int apply = 0, c;
    while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'u': so.user = optarg; break;
        case 'p': so.password = optarg; break;
        case 'r': so.read_role = optarg; break;
        case 's':
            if (so.nschemas == SETUP_MAX_SCHEMAS)
                return cli_usage_error("setup", "at most %d --schema", SETUP_MAX_SCHEMAS);
            so.schemas[so.nschemas++] = optarg;
            break;
        case 'g': grant_to = optarg; break;
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
    if (!apply && admin_url)
        return cli_usage_error("setup", "--admin-url is only used with --apply");

    tether_config cfg;
    if (cli_load_config(&cfg, config_path) != T_OK)
        return T_EXIT_FAILURE;
    int rc = T_EXIT_FAILURE;
    char *roles_copy = strdup(grant_to ? grant_to : "postgres,anon,authenticated,service_role");
    char *sql = NULL;
    if (!roles_copy)
        goto done;
    char *save = NULL;
    for (char *tok = strtok_r(roles_copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (!*tok)
            continue;
        if (so.napp_roles == SETUP_MAX_APP_ROLES) {
            rc = cli_usage_error("setup", "at most %d roles in --grant-to", SETUP_MAX_APP_ROLES);
            goto done;
        }
        so.app_roles[so.napp_roles++] = tok;
    }
    if (!so.read_role)
        so.read_role = cfg.read_role;
    if (so.nschemas == 0) {
        for (size_t i = 0; i < cfg.nsyncs && so.nschemas < SETUP_MAX_SCHEMAS; i++) {
            const sync_config *s = &cfg.syncs[i];
            so.schemas[so.nschemas++] = s->schema ? s->schema : s->source;
        }
        if (so.nschemas == 0)
            so.schemas[so.nschemas++] = "stripe";
    }

    char err[T_ERRBUF_SIZE], generated[64];
    sql = setup_sql_build(&so, generated, sizeof(generated), err, sizeof(err));
    if (!sql) {
        rc = cli_usage_error("setup", "%s", err);
        goto done;
    }
    if (!apply) {
        fputs(sql, stdout);
        rc = T_EXIT_OK;
        goto done;
    }
    int created = 0;
    const char *user = so.user ? so.user : "tether";
    if (setup_apply(admin_url, user, sql, &created, err, sizeof(err)) != T_OK) {
        fprintf(stderr, "tether setup: %s\n", err);
        goto done;
    }
    printf("tether setup: database ready for user %s (read role %s)\n", user, so.read_role);
    if (created && !so.password)
        printf("tether setup: created user %s with password %s (store it now; it is not shown "
               "again)\n", user, generated);
    rc = T_EXIT_OK;
done:
    free(sql);
    free(roles_copy);
    config_free(&cfg);
    return rc;
}
