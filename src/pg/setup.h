/*
 * setup.h - the one-time SQL that prepares a database for Tether: its login
 * user, CONNECT and CREATE on the database, the read role (administered by
 * Tether so it can grant it), and the grants that let application roles
 * (Supabase's postgres, anon, authenticated, service_role) read synced tables.
 *
 * The SQL is idempotent: running it twice, or printing it and also applying
 * it, converges to the same state. Memory: setup_sql_build() returns a
 * malloc()ed string the caller frees.
 */
#ifndef TETHER_PG_SETUP_H
#define TETHER_PG_SETUP_H

#include <stddef.h>

#define SETUP_MAX_SCHEMAS 16
#define SETUP_MAX_APP_ROLES 16

typedef struct setup_options {
    const char *user;      /* Tether's login role, default "tether" */
    const char *password;  /* NULL: keep an existing role's password, or generate */
    const char *read_role; /* default "tether_read" */
    const char *schemas[SETUP_MAX_SCHEMAS];
    size_t nschemas;
    const char *app_roles[SETUP_MAX_APP_ROLES]; /* granted read_role where they exist */
    size_t napp_roles;
} setup_options;

/*
 * Builds the setup SQL for OPTS. When OPTS->password is NULL, a new random
 * password is generated for the case where the user does not exist yet, and
 * copied into GENERATED (at least 33 bytes) so the caller can show it.
 * Returns NULL on invalid names (written to ERRBUF) or out of memory.
 */
char *setup_sql_build(const setup_options *opts, char *generated, size_t generated_len,
                      char *errbuf, size_t errlen);

/*
 * Runs SQL over a connection to ADMIN_URL; notices go to stderr. Sets
 * *USER_CREATED to 1 when the role USER did not exist before (so a generated
 * password was used), else 0. Returns T_OK or T_ERR with the server's message
 * (redacted) in ERRBUF.
 */
int setup_apply(const char *admin_url, const char *user, const char *sql, int *user_created,
                char *errbuf, size_t errlen);

#endif
