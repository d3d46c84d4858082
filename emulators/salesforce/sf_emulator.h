/*
 * sf_emulator.h - `tether emulate salesforce`: a stateful local stand-in for
 * the Salesforce REST API (OAuth2 + SOAP login, describe, SOQL query/queryAll
 * with cursors, sObject CRUD, composite sobjects, updated/deleted feeds,
 * limits) with fault injection. See docs/emulators-salesforce.md.
 */
#ifndef TETHER_EMULATORS_SF_EMULATOR_H
#define TETHER_EMULATORS_SF_EMULATOR_H

/*
 * Entry point: argv[0] = "salesforce", then getopt_long-style flags. Serves
 * until SIGINT/SIGTERM. Returns 0 (clean stop or --help), 1 (runtime
 * failure, e.g. cannot listen) or 2 (usage error, one line on stderr).
 */
int sf_emulator_main(int argc, char **argv);

#endif
