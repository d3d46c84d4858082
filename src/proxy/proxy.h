/*
 * proxy.h - the Postgres wire-protocol proxy (public API): a 1:1 session proxy
 * that accepts Postgres clients, authenticates them against its own users and
 * relays each to its own upstream connection, on one libevent loop.
 * docs/proxy.md describes running it, the users file, limits and the close
 * reasons it logs.
 */
#ifndef TETHER_PROXY_PROXY_H
#define TETHER_PROXY_PROXY_H

#include "util/config.h"

/*
 * Produces a fresh configuration for SIGHUP: fills OUT (config_init'ed by the
 * callee) and returns T_OK, or T_ERR (reason already printed/logged), in which
 * case the proxy keeps its current settings. The proxy config_free()s OUT.
 */
typedef int (*proxy_reload_fn)(void *arg, tether_config *out);

/*
 * Runs the proxy described by CFG's [proxy] keys until SIGTERM/SIGINT (then
 * drains: stops accepting, lets busy sessions reach a transaction boundary,
 * closes the rest after shutdown_timeout). SIGHUP re-reads the users file,
 * TLS files and limits (from RELOAD's configuration when given, else from
 * CFG again). Returns T_OK after a clean shutdown, T_ERR when it could not
 * start (bad settings, cannot listen), with the reason logged. CFG is
 * borrowed and must outlive the call. Installs its own signal handlers and
 * ignores SIGPIPE.
 */
int proxy_run(const tether_config *cfg);
int proxy_run_with_reload(const tether_config *cfg, proxy_reload_fn reload, void *arg);

#endif
