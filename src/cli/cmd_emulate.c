/*
 * cmd_emulate.c - `tether emulate stripe|salesforce`: runs a stateful local
 * stand-in for the API (emulators/), for the demo, tests and benchmarks.
 * Runs in the foreground until SIGINT/SIGTERM.
 */
#include "cli/cli.h"
#include "emulators/common/emu_http.h"
#include "emulators/salesforce/sf_emulator.h"
#include "emulators/stripe/stripe_emulator.h"
#include "util/common.h"
#include "util/log.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EMULATE_STRIPE_DEFAULT_LISTEN "127.0.0.1:12111"

static void emulate_help(void)
{
    printf("Usage: tether emulate stripe|salesforce [options]\n\n"
           "Runs a stateful local emulator of the Stripe or Salesforce API that the\n"
           "official SDKs accept (see docs/emulators.md).\n\n"
           "Options:\n"
           "  --listen HOST:PORT         address to serve on (stripe 127.0.0.1:12111,\n"
           "                             salesforce 127.0.0.1:12112; port 0 picks one)\n"
           "  --port-file PATH           write the bound port to PATH once listening\n"
           "  --api-key KEY              accepted secret key (repeatable; default sk_test_tether)\n"
           "  --webhook URL              deliver every event to URL (repeatable)\n"
           "  --webhook-secret whsec_..  signing secret of the preceding --webhook\n"
           "  --webhook-retry-ms MS      first retry delay, doubled per attempt (1000)\n"
           "  --webhook-attempts N       deliveries tried per event (8)\n"
           "  --fault-429-rate P         answer a fraction P of calls 429 + Retry-After\n"
           "  --fault-500-rate P         answer a fraction P of calls 500\n"
           "  --fault-latency-ms MS      add MS of latency to every call\n"
           "  --fault-drop-rate P        close the connection without answering\n"
           "  --fault-truncate-rate P    cut the response body short\n"
           "  --event-delay-ms MS        events show in /v1/events only MS after they happen\n"
           "  --seed-customers N         create N customers before serving (also\n"
           "  --seed-products N           products, prices, subscriptions, invoices,\n"
           "  --seed-prices N             charges)\n"
           "  --seed-subscriptions N\n"
           "  --seed-invoices N\n"
           "  --seed-charges N\n"
           "  --seed-random SEED         seed of the id/data generator (reproducible runs)\n"
           "  --log-level LEVEL          debug, info, warn or error (info)\n"
           "  -h, --help                 show this help\n\n"
           "Control endpoints (no auth): POST /_emulator/faults (JSON or form: rate_429,\n"
           "rate_500, drop_rate, truncate_rate, latency_ms, event_delay_ms), GET\n"
           "/_emulator/faults, POST /_emulator/reset, GET /_emulator/health.\n");
}

static volatile sig_atomic_t emulate_stop;

static void emulate_on_signal(int sig)
{
    (void)sig;
    emulate_stop = 1;
}

static int emulate_parse_long(const char *flag, const char *s, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end || v < 0)
        return cli_usage_error("emulate", "%s needs a non-negative integer, got '%s'", flag, s);
    *out = v;
    return T_OK;
}

static int emulate_parse_rate(const char *flag, const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end || v < 0 || v > 1)
        return cli_usage_error("emulate", "%s needs a fraction between 0 and 1, got '%s'", flag, s);
    *out = v;
    return T_OK;
}

enum {
    OPT_LISTEN = 256, OPT_API_KEY, OPT_WEBHOOK, OPT_WEBHOOK_SECRET, OPT_F429, OPT_F500, OPT_LATENCY, OPT_DROP,
    OPT_TRUNC, OPT_EVDELAY, OPT_SEED_CUS, OPT_SEED_PROD, OPT_SEED_PRICE, OPT_SEED_SUB, OPT_SEED_INV, OPT_SEED_CH,
    OPT_SEED_RANDOM, OPT_PORT_FILE, OPT_WH_RETRY, OPT_WH_ATTEMPTS, OPT_LOG_LEVEL,
};

int cmd_emulate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"api-key", required_argument, NULL, OPT_API_KEY},
        {"webhook", required_argument, NULL, OPT_WEBHOOK},
        {"webhook-secret", required_argument, NULL, OPT_WEBHOOK_SECRET},
        {"webhook-retry-ms", required_argument, NULL, OPT_WH_RETRY},
        {"webhook-attempts", required_argument, NULL, OPT_WH_ATTEMPTS},
        {"fault-429-rate", required_argument, NULL, OPT_F429},
        {"fault-500-rate", required_argument, NULL, OPT_F500},
        {"fault-latency-ms", required_argument, NULL, OPT_LATENCY},
        {"fault-drop-rate", required_argument, NULL, OPT_DROP},
        {"fault-truncate-rate", required_argument, NULL, OPT_TRUNC},
        {"event-delay-ms", required_argument, NULL, OPT_EVDELAY},
        {"seed-customers", required_argument, NULL, OPT_SEED_CUS},
        {"seed-products", required_argument, NULL, OPT_SEED_PROD},
        {"seed-prices", required_argument, NULL, OPT_SEED_PRICE},
        {"seed-subscriptions", required_argument, NULL, OPT_SEED_SUB},
        {"seed-invoices", required_argument, NULL, OPT_SEED_INV},
        {"seed-charges", required_argument, NULL, OPT_SEED_CH},
        {"seed-random", required_argument, NULL, OPT_SEED_RANDOM},
        {"port-file", required_argument, NULL, OPT_PORT_FILE},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* `tether emulate salesforce ...`: the emulator parses its own flags. */
    if (argc >= 2 && strcmp(argv[1], "salesforce") == 0)
        return sf_emulator_main(argc - 1, argv + 1);
    stripe_emu_config cfg;
    memset(&cfg, 0, sizeof cfg);
    const char *listen = NULL, *port_file = NULL;
    long v;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_LISTEN: listen = optarg; break;
        case OPT_PORT_FILE: port_file = optarg; break;
        case OPT_API_KEY:
            if (cfg.n_api_keys >= STRIPE_EMU_MAX_KEYS)
                return cli_usage_error("emulate", "at most %d --api-key flags", STRIPE_EMU_MAX_KEYS);
            cfg.api_keys[cfg.n_api_keys++] = optarg;
            break;
        case OPT_WEBHOOK:
            if (cfg.n_webhooks >= STRIPE_EMU_MAX_WEBHOOKS)
                return cli_usage_error("emulate", "at most %d --webhook flags", STRIPE_EMU_MAX_WEBHOOKS);
            cfg.webhook_urls[cfg.n_webhooks++] = optarg;
            break;
        case OPT_WEBHOOK_SECRET:
            if (cfg.n_webhooks == 0)
                return cli_usage_error("emulate", "--webhook-secret must follow a --webhook URL");
            cfg.webhook_secrets[cfg.n_webhooks - 1] = optarg;
            log_add_secret(optarg);
            break;
        case OPT_WH_RETRY:
            if (emulate_parse_long("--webhook-retry-ms", optarg, &v) != T_OK)
                return T_EXIT_USAGE;
            cfg.webhook_retry_base_ms = (int)v;
            break;
        case OPT_WH_ATTEMPTS:
            if (emulate_parse_long("--webhook-attempts", optarg, &v) != T_OK)
                return T_EXIT_USAGE;
            cfg.webhook_max_attempts = (int)v;
            break;
        case OPT_F429:
            if (emulate_parse_rate("--fault-429-rate", optarg, &cfg.faults.rate_429) != T_OK)
                return T_EXIT_USAGE;
            break;
        case OPT_F500:
            if (emulate_parse_rate("--fault-500-rate", optarg, &cfg.faults.rate_500) != T_OK)
                return T_EXIT_USAGE;
            break;
        case OPT_DROP:
            if (emulate_parse_rate("--fault-drop-rate", optarg, &cfg.faults.drop_rate) != T_OK)
                return T_EXIT_USAGE;
            break;
        case OPT_TRUNC:
            if (emulate_parse_rate("--fault-truncate-rate", optarg, &cfg.faults.truncate_rate) != T_OK)
                return T_EXIT_USAGE;
            break;
        case OPT_LATENCY:
            if (emulate_parse_long("--fault-latency-ms", optarg, &v) != T_OK)
                return T_EXIT_USAGE;
            cfg.faults.latency_ms = (int)v;
            break;
        case OPT_EVDELAY:
            if (emulate_parse_long("--event-delay-ms", optarg, &v) != T_OK)
                return T_EXIT_USAGE;
            cfg.faults.event_delay_ms = (int)v;
            break;
        case OPT_SEED_CUS:
            if (emulate_parse_long("--seed-customers", optarg, &cfg.seed_customers) != T_OK)
                return T_EXIT_USAGE;
            break;
        case OPT_SEED_PROD:
            if (emulate_parse_long("--seed-products", optarg, &cfg.seed_products) != T_OK)
                return T_EXIT_USAGE;
            break;
        case OPT_SEED_PRICE:
            if (emulate_parse_long("--seed-prices", optarg, &cfg.seed_prices) != T_OK)
                return T_EXIT_USAGE;
            break;
        case OPT_SEED_SUB:
            if (emulate_parse_long("--seed-subscriptions", optarg, &cfg.seed_subscriptions) != T_OK)
                return T_EXIT_USAGE;
            break;
        case OPT_SEED_INV:
            if (emulate_parse_long("--seed-invoices", optarg, &cfg.seed_invoices) != T_OK)
                return T_EXIT_USAGE;
            break;
        case OPT_SEED_CH:
            if (emulate_parse_long("--seed-charges", optarg, &cfg.seed_charges) != T_OK)
                return T_EXIT_USAGE;
            break;
        case OPT_SEED_RANDOM:
            if (emulate_parse_long("--seed-random", optarg, &v) != T_OK)
                return T_EXIT_USAGE;
            cfg.seed_random = (uint64_t)v;
            break;
        case OPT_LOG_LEVEL: {
            log_level lv;
            if (log_level_parse(optarg, &lv) != T_OK)
                return cli_usage_error("emulate", "unknown log level '%s'", optarg);
            log_set_level(lv);
            break;
        }
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
    if (strcmp(api, "salesforce") == 0) /* its own flags follow its name */
        return cli_usage_error("emulate", "put 'salesforce' before its options: tether emulate "
                                          "salesforce [options]");
    for (int i = 0; i < cfg.n_webhooks; i++)
        if (!cfg.webhook_secrets[i])
            return cli_usage_error("emulate", "--webhook %s has no --webhook-secret", cfg.webhook_urls[i]);
    for (int i = 0; i < cfg.n_api_keys; i++)
        log_add_secret(cfg.api_keys[i]);
    char host[128];
    int port;
    if (emu_http_parse_listen(listen ? listen : EMULATE_STRIPE_DEFAULT_LISTEN, host, sizeof host, &port) != T_OK)
        return cli_usage_error("emulate", "bad --listen '%s' (HOST:PORT expected)", listen);
    cfg.host = host;
    cfg.port = port;

    char err[T_ERRBUF_SIZE];
    stripe_emu *emu = stripe_emu_start(&cfg, err, sizeof err);
    if (!emu) {
        fprintf(stderr, "tether emulate stripe: %s\n", err);
        return T_EXIT_FAILURE;
    }
    int bound = stripe_emu_port(emu);
    log_info("emulator.listen", "api=stripe addr=%s:%d", host, bound);
    if (port_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%d\n", bound) < 0 || fclose(f) != 0 || rename(tmp, port_file) != 0) {
            fprintf(stderr, "tether emulate stripe: cannot write --port-file %s\n", port_file);
            stripe_emu_stop(emu);
            return T_EXIT_FAILURE;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = emulate_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    while (!emulate_stop)
        pause();
    log_info("emulator.stop", "api=stripe");
    stripe_emu_stop(emu);
    return T_EXIT_OK;
}
