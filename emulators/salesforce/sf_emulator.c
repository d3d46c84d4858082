/*
 * sf_emulator.c - command line of `tether emulate salesforce`: flags, seeding
 * and the serve-until-signal loop around sf_api. Owns nothing beyond the
 * server it starts and stops.
 */
#include "emulators/salesforce/sf_emulator.h"
#include "emulators/salesforce/sf_api.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SF_DEFAULT_HOST "127.0.0.1"
#define SF_DEFAULT_PORT 12112
#define SF_DEFAULT_CLIENT_ID "tether-sf-client"
#define SF_DEFAULT_CLIENT_SECRET "tether-sf-secret"
#define SF_DEFAULT_USERNAME "admin@tether.example"
#define SF_DEFAULT_PASSWORD "tether-sf-password"
#define SF_DEFAULT_API_LIMIT 5000000L

enum { SF_SEED_ACCOUNTS, SF_SEED_CONTACTS, SF_SEED_LEADS, SF_SEED_OPPS, SF_SEED_INVOICES,
       SF_SEED_USERS, SF_SEED_KINDS };

static const char *const sf_seed_objects[SF_SEED_KINDS] = {"Account", "Contact", "Lead",
                                                           "Opportunity", "Invoice__c", "User"};

typedef struct sf_seed_plan {
    unsigned long n[SF_SEED_KINDS];
} sf_seed_plan;

static void sf_emulator_help(void)
{
    printf("Usage: tether emulate salesforce [options]\n\n"
           "Serves a stateful emulator of the Salesforce REST API (OAuth2 and SOAP login,\n"
           "describe, SOQL query/queryAll, sObject CRUD, composite, updated/deleted feeds,\n"
           "limits) that jsforce accepts unchanged. Prints one line\n"
           "  salesforce emulator listening on http://HOST:PORT\n"
           "on stdout when ready; stops on SIGINT/SIGTERM.\n\n"
           "Options:\n"
           "  --listen HOST:PORT       address (default " SF_DEFAULT_HOST ":%d; port 0 = any)\n"
           "  --public-url URL         instance_url to advertise (default http://HOST:PORT)\n"
           "  --client-id ID           OAuth2 client id (default " SF_DEFAULT_CLIENT_ID ")\n"
           "  --client-secret SECRET   OAuth2 client secret (default " SF_DEFAULT_CLIENT_SECRET ")\n"
           "  --username NAME          login user (default " SF_DEFAULT_USERNAME ")\n"
           "  --password PASSWORD      login password (default " SF_DEFAULT_PASSWORD ")\n"
           "  --api-limit N            DailyApiRequests maximum (default %ld)\n"
           "  --seed-accounts N        create N Accounts at start (also --seed-contacts,\n"
           "                           --seed-leads, --seed-opportunities, --seed-invoices,\n"
           "                           --seed-users)\n"
           "  --fault-503-rate R       share (0..1) of API calls answered 503\n"
           "  --fault-500-rate R       share answered 500 UNKNOWN_EXCEPTION\n"
           "  --fault-limit-rate R     share answered 403 REQUEST_LIMIT_EXCEEDED\n"
           "  --fault-drop-rate R      share whose connection is closed without a reply\n"
           "  --fault-truncate-rate R  share whose body is cut short\n"
           "  --latency-ms N           delay added to every request\n"
           "  --session-ttl SECONDS    sessions expire after this long (0 = never)\n"
           "  --fault-seed N           seed of the fault dice (default 1)\n"
           "  -h, --help               show this help\n\n"
           "Faults can be changed at run time: POST /_emulator/faults with JSON\n"
           "{\"error_503_rate\":0.1, \"latency_ms\":50, \"expire_sessions\":true, ...}.\n",
           SF_DEFAULT_PORT, SF_DEFAULT_API_LIMIT);
}

static int sf_emulator_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "tether emulate salesforce: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see 'tether emulate salesforce --help')\n");
    return T_EXIT_USAGE;
}

static int sf_emulator_rate(const char *s, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s || *end || errno || !(d >= 0.0 && d <= 1.0))
        return T_ERR;
    *out = d;
    return T_OK;
}

static int sf_emulator_ulong(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    if (!s[0] || s[0] == '-')
        return T_ERR;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || errno || v > max)
        return T_ERR;
    *out = v;
    return T_OK;
}

static int sf_emulator_seed(sf_store *st, void *arg)
{
    const sf_seed_plan *plan = arg;
    uint64_t total = 0;
    for (size_t i = 0; i < SF_SEED_KINDS; i++)
        total += plan->n[i];
    sf_store_backdate(st, total);
    for (size_t i = 0; i < SF_SEED_KINDS; i++) {
        if (!plan->n[i])
            continue;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (sf_store_seed(st, sf_schema_object(sf_seed_objects[i]), (uint32_t)plan->n[i]) != T_OK)
            return T_ERR;
        clock_gettime(CLOCK_MONOTONIC, &b);
        log_info("sf_emulator.seeded", "object=%s n=%lu ms=%ld", sf_seed_objects[i], plan->n[i],
                 (long)((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000));
    }
    return T_OK;
}

int sf_emulator_main(int argc, char **argv)
{
    enum {
        O_LISTEN = 1000, O_PUBLIC_URL, O_CLIENT_ID, O_CLIENT_SECRET, O_USERNAME, O_PASSWORD,
        O_API_LIMIT, O_SEED_BASE, O_F503 = O_SEED_BASE + SF_SEED_KINDS, O_F500, O_FLIMIT,
        O_FDROP, O_FTRUNC, O_LATENCY, O_TTL, O_FSEED,
    };
    static const struct option opts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"public-url", required_argument, NULL, O_PUBLIC_URL},
        {"client-id", required_argument, NULL, O_CLIENT_ID},
        {"client-secret", required_argument, NULL, O_CLIENT_SECRET},
        {"username", required_argument, NULL, O_USERNAME},
        {"password", required_argument, NULL, O_PASSWORD},
        {"api-limit", required_argument, NULL, O_API_LIMIT},
        {"seed-accounts", required_argument, NULL, O_SEED_BASE + SF_SEED_ACCOUNTS},
        {"seed-contacts", required_argument, NULL, O_SEED_BASE + SF_SEED_CONTACTS},
        {"seed-leads", required_argument, NULL, O_SEED_BASE + SF_SEED_LEADS},
        {"seed-opportunities", required_argument, NULL, O_SEED_BASE + SF_SEED_OPPS},
        {"seed-invoices", required_argument, NULL, O_SEED_BASE + SF_SEED_INVOICES},
        {"seed-users", required_argument, NULL, O_SEED_BASE + SF_SEED_USERS},
        {"fault-503-rate", required_argument, NULL, O_F503},
        {"fault-500-rate", required_argument, NULL, O_F500},
        {"fault-limit-rate", required_argument, NULL, O_FLIMIT},
        {"fault-drop-rate", required_argument, NULL, O_FDROP},
        {"fault-truncate-rate", required_argument, NULL, O_FTRUNC},
        {"latency-ms", required_argument, NULL, O_LATENCY},
        {"session-ttl", required_argument, NULL, O_TTL},
        {"fault-seed", required_argument, NULL, O_FSEED},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sf_api_config cfg = {
        .host = SF_DEFAULT_HOST, .port = SF_DEFAULT_PORT, .client_id = SF_DEFAULT_CLIENT_ID,
        .client_secret = SF_DEFAULT_CLIENT_SECRET, .username = SF_DEFAULT_USERNAME,
        .password = SF_DEFAULT_PASSWORD, .api_limit = SF_DEFAULT_API_LIMIT, .seed = 1,
    };
    sf_seed_plan plan = {0};
    char host[256];
    unsigned long v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        const char *a = optarg;
        switch (c) {
        case 'h': sf_emulator_help(); return T_EXIT_OK;
        case O_LISTEN: {
            const char *colon = strrchr(a, ':');
            if (!colon || colon == a || (size_t)(colon - a) >= sizeof(host) ||
                sf_emulator_ulong(colon + 1, 65535, &v) != T_OK)
                return sf_emulator_usage("--listen wants HOST:PORT, got '%s'", a);
            memcpy(host, a, (size_t)(colon - a));
            host[colon - a] = '\0';
            cfg.host = host;
            cfg.port = (int)v;
            break;
        }
        case O_PUBLIC_URL: cfg.public_url = a; break;
        case O_CLIENT_ID: cfg.client_id = a; break;
        case O_CLIENT_SECRET: cfg.client_secret = a; break;
        case O_USERNAME: cfg.username = a; break;
        case O_PASSWORD: cfg.password = a; break;
        case O_API_LIMIT:
            if (sf_emulator_ulong(a, LONG_MAX, &v) != T_OK)
                return sf_emulator_usage("--api-limit wants a count, got '%s'", a);
            cfg.api_limit = (long)v;
            break;
        case O_F503: case O_F500: case O_FLIMIT: case O_FDROP: case O_FTRUNC: {
            double *dst[] = {&cfg.faults.rate_503, &cfg.faults.rate_500, &cfg.faults.rate_limit,
                             &cfg.faults.rate_drop, &cfg.faults.rate_truncate};
            if (sf_emulator_rate(a, dst[c - O_F503]) != T_OK)
                return sf_emulator_usage("fault rates are numbers from 0 to 1, got '%s'", a);
            break;
        }
        case O_LATENCY:
            if (sf_emulator_ulong(a, 600000, &v) != T_OK)
                return sf_emulator_usage("--latency-ms wants milliseconds, got '%s'", a);
            cfg.faults.latency_ms = (int)v;
            break;
        case O_TTL:
            if (sf_emulator_ulong(a, INT_MAX, &v) != T_OK)
                return sf_emulator_usage("--session-ttl wants seconds, got '%s'", a);
            cfg.faults.session_ttl = (int)v;
            break;
        case O_FSEED:
            if (sf_emulator_ulong(a, UINT_MAX, &v) != T_OK)
                return sf_emulator_usage("--fault-seed wants a number, got '%s'", a);
            cfg.seed = (unsigned)v;
            break;
        case ':':
            return sf_emulator_usage("option '%s' needs a value", argv[optind - 1]);
        case '?':
            return sf_emulator_usage("unknown option '%s'", argv[optind - 1]);
        default:
            if (c >= O_SEED_BASE && c < O_SEED_BASE + SF_SEED_KINDS) {
                if (sf_emulator_ulong(a, 100000000UL, &v) != T_OK)
                    return sf_emulator_usage("seed counts are 0..100000000, got '%s'", a);
                plan.n[c - O_SEED_BASE] = v;
                break;
            }
            return sf_emulator_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return sf_emulator_usage("unexpected argument '%s'", argv[optind]);
    log_add_secret(cfg.client_secret);
    log_add_secret(cfg.password);

    /* Block the stop signals before the server threads start, then wait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    sf_api *api;
    if (sf_api_start(&cfg, sf_emulator_seed, &plan, &api) != T_OK)
        return T_EXIT_FAILURE;
    printf("salesforce emulator listening on %s\n", sf_api_base_url(api));
    fflush(stdout);
    log_info("sf_emulator.listen", "url=%s", sf_api_base_url(api));
    int sig = 0;
    sigwait(&set, &sig);
    log_info("sf_emulator.stop", "signal=%d", sig);
    sf_api_stop(api);
    return T_EXIT_OK;
}
