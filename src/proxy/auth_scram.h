/*
 * auth_scram.h - SCRAM-SHA-256 (RFC 5802/7677, as Postgres speaks it) on both
 * sides of the proxy: as a server verifying clients against stored secrets,
 * also SCRAM-SHA-256-PLUS with tls-server-end-point channel binding (RFC
 * 5929) for clients on TLS; and as a client logging in to the upstream
 * database with a password (without channel binding). Also the two MD5
 * password hashes Postgres uses.
 *
 * All state lives in fixed-size caller-owned structs; nothing allocates.
 * Crypto is OpenSSL's (PBKDF2, HMAC, SHA-256, MD5, RAND_bytes).
 */
#ifndef TETHER_PROXY_AUTH_SCRAM_H
#define TETHER_PROXY_AUTH_SCRAM_H

#include <stddef.h>
#include <stdint.h>

#define SCRAM_KEY_LEN 32
#define SCRAM_MSG_MAX 512
#define SCRAM_MECHANISM "SCRAM-SHA-256"
#define SCRAM_MECHANISM_PLUS "SCRAM-SHA-256-PLUS"
#define SCRAM_CBIND_MAX 64 /* the largest digest a certificate's end point can use */
#define SCRAM_DEFAULT_ITERATIONS 4096

typedef struct proxy_scram_keys {
    int iterations;
    char salt_b64[96];
    uint8_t stored_key[SCRAM_KEY_LEN];
    uint8_t server_key[SCRAM_KEY_LEN];
} proxy_scram_keys;

/* Parses "SCRAM-SHA-256$ITER:SALT$STOREDKEY:SERVERKEY". T_OK or T_ERR. */
int proxy_scram_parse_secret(const char *secret, proxy_scram_keys *keys);

/* Derives keys from a plaintext PASSWORD with a fresh random salt. */
int proxy_scram_keys_from_password(const char *password, proxy_scram_keys *keys);

/* Random keys nobody can match: used for unknown users so they fail late. */
void proxy_scram_mock_keys(proxy_scram_keys *keys);

typedef struct proxy_scram_server {
    proxy_scram_keys keys;
    /* set by the caller before step 1 */
    int plus_offered;  /* SCRAM-SHA-256-PLUS was advertised (client is on TLS) */
    int plus_selected; /* the client chose SCRAM-SHA-256-PLUS */
    uint8_t cbind[SCRAM_CBIND_MAX]; /* tls-server-end-point data when plus_selected */
    size_t cbind_len;
    /* filled by the steps */
    char client_first_bare[SCRAM_MSG_MAX];
    char server_first[SCRAM_MSG_MAX];
    char cbind_b64[192]; /* expected c= value: base64(gs2 header + binding data) */
    char nonce[SCRAM_MSG_MAX];
} proxy_scram_server;

/*
 * Writes the tls-server-end-point channel binding data of CERT (an X509 *,
 * our own certificate) into OUT: the certificate's DER hashed with its
 * signature's digest (SHA-256 when that is MD5 or SHA-1), as Postgres and
 * libpq compute it. Returns T_OK, or T_ERR when the digest is unknown.
 */
int proxy_scram_tls_end_point(const void *cert, uint8_t out[SCRAM_CBIND_MAX], size_t *len);

/*
 * Server step 1: S->keys and the plus_* / cbind fields must be set. Reads the
 * client-first message DATA/LEN and writes the server-first message
 * (NUL-terminated) into OUT. Returns T_OK, or T_ERR with a static REASON for
 * a malformed message or a channel-binding violation: "p=" without the PLUS
 * mechanism or with another type than tls-server-end-point, PLUS without
 * "p=", or "y" (client could bind but thinks we cannot) when PLUS was
 * offered, which is a downgrade (RFC 5802 section 6).
 */
int proxy_scram_server_first(proxy_scram_server *s, const uint8_t *data, size_t len, char *out,
                             size_t outlen, const char **reason);

/*
 * Server step 2: verifies the client-final message. On success writes the
 * server-final message ("v=...") into OUT and returns T_OK; T_ERR with REASON
 * ("password_mismatch" or a format error) otherwise.
 */
int proxy_scram_server_final(proxy_scram_server *s, const uint8_t *data, size_t len, char *out,
                             size_t outlen, const char **reason);

/* Keys derived from the upstream password for one salt and iteration count,
 * so that repeated logins skip PBKDF2. Caller-owned; zero-initialise. */
typedef struct proxy_scram_cache {
    int valid;
    int iterations;
    char salt_b64[96];
    uint8_t client_key[SCRAM_KEY_LEN];
    uint8_t server_key[SCRAM_KEY_LEN];
} proxy_scram_cache;

typedef struct proxy_scram_client {
    char client_first_bare[SCRAM_MSG_MAX];
    char auth_message[3 * SCRAM_MSG_MAX];
    uint8_t server_key[SCRAM_KEY_LEN];
} proxy_scram_client;

/* Client step 1: writes the client-first message into OUT; returns its length or -1. */
int proxy_scram_client_first(proxy_scram_client *c, char *out, size_t outlen);

/*
 * Client step 2: reads the server-first message, derives keys from PASSWORD
 * (or takes them from CACHE when its salt and iteration count match; CACHE may
 * be NULL, and is filled after a derivation), writes the client-final message
 * into OUT. Returns its length, or -1 with REASON.
 */
int proxy_scram_client_final(proxy_scram_client *c, const char *password, proxy_scram_cache *cache,
                             const uint8_t *data, size_t len, char *out, size_t outlen,
                             const char **reason);

/* Client step 3: checks the server's signature. T_OK or T_ERR with REASON. */
int proxy_scram_client_verify(proxy_scram_client *c, const uint8_t *data, size_t len,
                              const char **reason);

/* "md5" + hex(md5(PASSWORD || USER)) into OUT (36 bytes with NUL). */
void proxy_md5_secret(const char *password, const char *user, char out[36]);

/* "md5" + hex(md5(hex-part-of-SECRET || SALT)) into OUT: what a client sends. */
void proxy_md5_response(const char *secret, const uint8_t salt[4], char out[36]);

/* Constant-time equality of two NUL-terminated strings. */
int proxy_secret_equal(const char *a, const char *b);

#endif
