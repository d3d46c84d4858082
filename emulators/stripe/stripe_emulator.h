/*
 * stripe_emulator.h - a stateful emulator of the Stripe REST API (v1) that
 * stripe-node accepts unchanged: customers, products, prices, subscriptions,
 * invoices, charges, payment intents, events and webhook endpoints, with
 * Stripe's list pagination, errors, idempotency keys, signed webhooks, fault
 * injection and fast seeding. See docs/emulators.md.
 *
 * Ownership: the configuration strings are borrowed (they must outlive the
 * emulator, e.g. argv); everything else is owned by the stripe_emu.
 */
#ifndef TETHER_STRIPE_EMULATOR_H
#define TETHER_STRIPE_EMULATOR_H

#include <stddef.h>
#include <stdint.h>

#define STRIPE_EMU_MAX_KEYS 16
#define STRIPE_EMU_MAX_WEBHOOKS 8
#define STRIPE_EMU_DEFAULT_KEY "sk_test_tether"
#define STRIPE_EMU_API_VERSION "2026-10-28.endive"

/* Fault rates are probabilities in [0, 1]; delays in milliseconds. */
typedef struct stripe_faults {
    double rate_429;
    double rate_500;
    double drop_rate;
    double truncate_rate;
    int latency_ms;
    int event_delay_ms;
} stripe_faults;

typedef struct stripe_emu_config {
    const char *host;
    int port; /* 0: any free port */
    const char *api_keys[STRIPE_EMU_MAX_KEYS];
    int n_api_keys; /* 0: STRIPE_EMU_DEFAULT_KEY */
    const char *webhook_urls[STRIPE_EMU_MAX_WEBHOOKS];
    const char *webhook_secrets[STRIPE_EMU_MAX_WEBHOOKS];
    int n_webhooks;
    int webhook_retry_base_ms; /* first retry delay, doubled each time; 0: 1000 */
    int webhook_max_attempts;  /* 0: 8 */
    stripe_faults faults;
    long seed_customers, seed_products, seed_prices, seed_subscriptions, seed_invoices, seed_charges;
    uint64_t seed_random;
} stripe_emu_config;

typedef struct stripe_emu stripe_emu;

/*
 * Seeds the store as configured, then starts serving. Returns NULL with ERR
 * filled when the address cannot be bound or memory runs out.
 */
stripe_emu *stripe_emu_start(const stripe_emu_config *cfg, char *err, size_t errlen);

/* The port actually listened on. */
int stripe_emu_port(const stripe_emu *emu);

/* Stops serving and delivering webhooks, frees everything. NULL is a no-op. */
void stripe_emu_stop(stripe_emu *emu);

#endif
