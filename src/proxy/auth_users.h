/*
 * auth_users.h - the proxy's own users: a pgbouncer-style userlist file,
 *
 *   "alice" "SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>"
 *   "bob"   "md5<md5(password || username) hex>"
 *   "carol" "plaintext password"
 *
 * one user per line, double quotes doubled inside a value, blank lines and
 * lines starting with ';' or '#' ignored. Memory: a proxy_users table and all
 * its strings are owned by it; free with proxy_users_free().
 */
#ifndef TETHER_PROXY_AUTH_USERS_H
#define TETHER_PROXY_AUTH_USERS_H

#include <stddef.h>

typedef enum proxy_secret_kind {
    PROXY_SECRET_PLAIN = 0,
    PROXY_SECRET_MD5,
    PROXY_SECRET_SCRAM,
} proxy_secret_kind;

struct proxy_scram_keys;

typedef struct proxy_user {
    char *name;
    char *secret;
    proxy_secret_kind kind;
    /* SCRAM keys derived from a plaintext secret on first use (PBKDF2 is
     * slow); owned by the table, NULL until then. */
    struct proxy_scram_keys *derived;
} proxy_user;

typedef struct proxy_users {
    proxy_user *items;
    size_t n;
} proxy_users;

/*
 * Loads PATH into a new table *OUT. Returns T_OK, or T_ERR with
 * "PATH:LINE: reason" in ERRBUF (never a secret). On error *OUT is untouched.
 */
int proxy_users_load(const char *path, proxy_users **out, char *errbuf, size_t errlen);

/*
 * Parses TEXT (the file's contents) the same way; used by the loader and tests.
 * NAME labels error messages.
 */
int proxy_users_parse(const char *text, const char *name, proxy_users **out, char *errbuf,
                      size_t errlen);

/* Returns the user NAME or NULL. USERS may be NULL. */
proxy_user *proxy_users_find(proxy_users *users, const char *name);

void proxy_users_free(proxy_users *users);

#endif
