/*
 * demo.h - `tether demo`, the embedded default: a private Postgres cluster,
 * the bundled API emulator seeded with data, the sync and the proxy, all as
 * child processes of one foreground command that cleans up on Ctrl-C.
 */
#ifndef TETHER_DEMO_DEMO_H
#define TETHER_DEMO_DEMO_H

typedef struct demo_options {
    const char *dir;     /* working directory; NULL = a new temporary one (removed at exit) */
    int proxy_port;      /* default 6432 */
    int seed_customers;  /* objects seeded into the Stripe emulator */
    int exit_after_ready; /* 1: stop everything once ready (used by tests) */
} demo_options;

/* Runs the demo until SIGINT/SIGTERM. Returns a process exit code. */
int demo_run(const demo_options *opts, const char *self_path);

#endif
