/*
 * auth_scram.c - SCRAM-SHA-256 server and client, MD5 password hashes (see
 * auth_scram.h). Every buffer is fixed-size and caller-owned.
 */
#include "proxy/auth_scram.h"

#include "util/common.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRAM_NONCE_RAW 18
#define SCRAM_SALT_RAW 16

/* Base64 of LEN bytes into OUT (size OUTLEN); returns length or -1. */
static int proxy_scram_b64_encode(const uint8_t *in, size_t len, char *out, size_t outlen)
{
    if (outlen < 4 * ((len + 2) / 3) + 1)
        return -1;
    return EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* Decodes base64 IN (LEN chars) into OUT; returns the byte count or -1. */
static int proxy_scram_b64_decode(const char *in, size_t len, uint8_t *out, size_t outlen)
{
    if (len == 0 || len % 4 != 0 || outlen < len / 4 * 3)
        return -1;
    int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
    if (n < 0)
        return -1;
    if (in[len - 1] == '=')
        n--;
    if (in[len - 2] == '=')
        n--;
    return n;
}

static void proxy_scram_hmac(const uint8_t *key, size_t keylen, const void *msg, size_t msglen,
                             uint8_t out[SCRAM_KEY_LEN])
{
    unsigned int n = SCRAM_KEY_LEN;
    HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &n);
}

static int proxy_scram_derive(const char *password, const uint8_t *salt, size_t saltlen,
                              int iterations, uint8_t client_key[SCRAM_KEY_LEN],
                              uint8_t stored_key[SCRAM_KEY_LEN], uint8_t server_key[SCRAM_KEY_LEN])
{
    uint8_t salted[SCRAM_KEY_LEN];
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)saltlen, iterations,
                          EVP_sha256(), SCRAM_KEY_LEN, salted) != 1)
        return T_ERR;
    uint8_t ck[SCRAM_KEY_LEN];
    proxy_scram_hmac(salted, sizeof(salted), "Client Key", 10, ck);
    if (client_key)
        memcpy(client_key, ck, SCRAM_KEY_LEN);
    SHA256(ck, SCRAM_KEY_LEN, stored_key);
    proxy_scram_hmac(salted, sizeof(salted), "Server Key", 10, server_key);
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(ck, sizeof(ck));
    return T_OK;
}

int proxy_scram_parse_secret(const char *secret, proxy_scram_keys *keys)
{
    memset(keys, 0, sizeof(*keys));
    if (strncmp(secret, "SCRAM-SHA-256$", 14) != 0)
        return T_ERR;
    const char *p = secret + 14;
    char *end;
    long iter = strtol(p, &end, 10);
    if (end == p || *end != ':' || iter < 1 || iter > 10000000)
        return T_ERR;
    const char *salt = end + 1;
    const char *dollar = strchr(salt, '$');
    if (!dollar || (size_t)(dollar - salt) >= sizeof(keys->salt_b64))
        return T_ERR;
    const char *stored = dollar + 1;
    const char *colon = strchr(stored, ':');
    if (!colon)
        return T_ERR;
    uint8_t tmp[64];
    if (proxy_scram_b64_decode(salt, (size_t)(dollar - salt), tmp, sizeof(tmp)) < 1)
        return T_ERR;
    if (proxy_scram_b64_decode(stored, (size_t)(colon - stored), tmp, sizeof(tmp)) != SCRAM_KEY_LEN)
        return T_ERR;
    memcpy(keys->stored_key, tmp, SCRAM_KEY_LEN);
    if (proxy_scram_b64_decode(colon + 1, strlen(colon + 1), tmp, sizeof(tmp)) != SCRAM_KEY_LEN)
        return T_ERR;
    memcpy(keys->server_key, tmp, SCRAM_KEY_LEN);
    memcpy(keys->salt_b64, salt, (size_t)(dollar - salt));
    keys->salt_b64[dollar - salt] = '\0';
    keys->iterations = (int)iter;
    return T_OK;
}

int proxy_scram_keys_from_password(const char *password, proxy_scram_keys *keys)
{
    uint8_t salt[SCRAM_SALT_RAW];
    memset(keys, 0, sizeof(*keys));
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return T_ERR;
    keys->iterations = SCRAM_DEFAULT_ITERATIONS;
    proxy_scram_b64_encode(salt, sizeof(salt), keys->salt_b64, sizeof(keys->salt_b64));
    return proxy_scram_derive(password, salt, sizeof(salt), keys->iterations, NULL,
                              keys->stored_key, keys->server_key);
}

void proxy_scram_mock_keys(proxy_scram_keys *keys)
{
    uint8_t salt[SCRAM_SALT_RAW] = {0};
    memset(keys, 0, sizeof(*keys));
    (void)RAND_bytes(salt, sizeof(salt));
    (void)RAND_bytes(keys->stored_key, SCRAM_KEY_LEN);
    (void)RAND_bytes(keys->server_key, SCRAM_KEY_LEN);
    keys->iterations = SCRAM_DEFAULT_ITERATIONS;
    proxy_scram_b64_encode(salt, sizeof(salt), keys->salt_b64, sizeof(keys->salt_b64));
}

static int proxy_scram_nonce(char *out, size_t outlen)
{
    uint8_t raw[SCRAM_NONCE_RAW];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    return proxy_scram_b64_encode(raw, sizeof(raw), out, outlen);
}

/* Copies DATA/LEN into a NUL-terminated OUT if it fits and has no NUL. */
static bool proxy_scram_copy_msg(const uint8_t *data, size_t len, char *out, size_t outlen)
{
    if (len >= outlen || memchr(data, '\0', len))
        return false;
    memcpy(out, data, len);
    out[len] = '\0';
    return true;
}

/* Finds attribute "K=" at the start of S or after a comma; returns its value span. */
static const char *proxy_scram_attr(const char *s, char k, size_t *vlen)
{
    for (const char *p = s; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        if (p[0] == k && p[1] == '=') {
            const char *v = p + 2;
            const char *e = strchr(v, ',');
            *vlen = e ? (size_t)(e - v) : strlen(v);
            return v;
        }
    }
    return NULL;
}

int proxy_scram_tls_end_point(const void *cert, uint8_t out[SCRAM_CBIND_MAX], size_t *len)
{
    int md_nid = NID_undef, pk_nid = NID_undef;
    if (!cert || !OBJ_find_sigid_algs(X509_get_signature_nid((const X509 *)cert), &md_nid, &pk_nid))
        return T_ERR;
    const EVP_MD *md = md_nid == NID_md5 || md_nid == NID_sha1 ? EVP_sha256() : EVP_get_digestbynid(md_nid);
    unsigned int n = 0;
    if (!md || EVP_MD_get_size(md) > SCRAM_CBIND_MAX || X509_digest((const X509 *)cert, md, out, &n) != 1)
        return T_ERR;
    *len = n;
    return T_OK;
}

int proxy_scram_server_first(proxy_scram_server *s, const uint8_t *data, size_t len, char *out,
                             size_t outlen, const char **reason)
{
    char msg[SCRAM_MSG_MAX];
    *reason = "bad_scram_client_first";
    if (!proxy_scram_copy_msg(data, len, msg, sizeof(msg)))
        return T_ERR;
    /* gs2-header: ("p=" cb-name | "n" | "y") "," [authzid] "," */
    static const char cb_name[] = "p=tls-server-end-point,";
    const char *after_flag;
    if (s->plus_selected) {
        if (strncmp(msg, cb_name, sizeof(cb_name) - 1) != 0) {
            *reason = msg[0] == 'p' ? "scram_channel_binding_type_unsupported"
                                    : "scram_plus_without_channel_binding";
            return T_ERR;
        }
        after_flag = msg + sizeof(cb_name) - 1;
    } else if ((msg[0] == 'n' || msg[0] == 'y') && msg[1] == ',') {
        if (msg[0] == 'y' && s->plus_offered) {
            *reason = "scram_channel_binding_downgrade";
            return T_ERR;
        }
        after_flag = msg + 2;
    } else {
        if (msg[0] == 'p')
            *reason = "scram_channel_binding_without_plus";
        return T_ERR;
    }
    const char *bare = strchr(after_flag, ',');
    if (!bare || bare != after_flag)
        return T_ERR; /* an authzid: Postgres does not use it */
    bare++;
    size_t gs2len = (size_t)(bare - msg);
    uint8_t cbind_input[64 + SCRAM_CBIND_MAX];
    if (gs2len + s->cbind_len > sizeof(cbind_input) || (s->plus_selected && s->cbind_len == 0))
        return T_ERR;
    memcpy(cbind_input, msg, gs2len);
    if (s->plus_selected)
        memcpy(cbind_input + gs2len, s->cbind, s->cbind_len);
    if (proxy_scram_b64_encode(cbind_input, gs2len + (s->plus_selected ? s->cbind_len : 0), s->cbind_b64,
                               sizeof(s->cbind_b64)) < 0)
        return T_ERR;
    size_t nlen;
    const char *cnonce = proxy_scram_attr(bare, 'r', &nlen);
    if (strncmp(bare, "n=", 2) != 0 || !cnonce || nlen == 0 || nlen > 200)
        return T_ERR;
    snprintf(s->client_first_bare, sizeof(s->client_first_bare), "%s", bare);
    char snonce[64];
    if (proxy_scram_nonce(snonce, sizeof(snonce)) < 0)
        return T_ERR;
    snprintf(s->nonce, sizeof(s->nonce), "%.*s%s", (int)nlen, cnonce, snonce);
    int n = snprintf(s->server_first, sizeof(s->server_first), "r=%s,s=%s,i=%d", s->nonce,
                     s->keys.salt_b64, s->keys.iterations);
    if (n < 0 || (size_t)n >= outlen || (size_t)n >= sizeof(s->server_first))
        return T_ERR;
    memcpy(out, s->server_first, (size_t)n + 1);
    return T_OK;
}

int proxy_scram_server_final(proxy_scram_server *s, const uint8_t *data, size_t len, char *out,
                             size_t outlen, const char **reason)
{
    char msg[SCRAM_MSG_MAX];
    *reason = "bad_scram_client_final";
    if (!proxy_scram_copy_msg(data, len, msg, sizeof(msg)))
        return T_ERR;
    size_t clen, rlen, plen;
    const char *c = proxy_scram_attr(msg, 'c', &clen);
    const char *r = proxy_scram_attr(msg, 'r', &rlen);
    const char *proof = proxy_scram_attr(msg, 'p', &plen);
    if (!c || !r || !proof || proof[plen] != '\0' || proof - msg < 3 || proof[-3] != ',')
        return T_ERR;
    if (clen != strlen(s->cbind_b64) || memcmp(c, s->cbind_b64, clen) != 0) {
        *reason = "scram_channel_binding_mismatch";
        return T_ERR;
    }
    if (rlen != strlen(s->nonce) || memcmp(r, s->nonce, rlen) != 0) {
        *reason = "scram_nonce_mismatch";
        return T_ERR;
    }
    uint8_t client_proof[64];
    if (proxy_scram_b64_decode(proof, plen, client_proof, sizeof(client_proof)) != SCRAM_KEY_LEN)
        return T_ERR;
    char auth[3 * SCRAM_MSG_MAX];
    int an = snprintf(auth, sizeof(auth), "%s,%s,%.*s", s->client_first_bare, s->server_first,
                      (int)(proof - 3 - msg), msg);
    if (an < 0 || (size_t)an >= sizeof(auth))
        return T_ERR;
    uint8_t sig[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN], check[SCRAM_KEY_LEN];
    proxy_scram_hmac(s->keys.stored_key, SCRAM_KEY_LEN, auth, (size_t)an, sig);
    for (size_t i = 0; i < SCRAM_KEY_LEN; i++)
        client_key[i] = client_proof[i] ^ sig[i];
    SHA256(client_key, SCRAM_KEY_LEN, check);
    if (CRYPTO_memcmp(check, s->keys.stored_key, SCRAM_KEY_LEN) != 0) {
        *reason = "password_mismatch";
        return T_ERR;
    }
    uint8_t server_sig[SCRAM_KEY_LEN];
    proxy_scram_hmac(s->keys.server_key, SCRAM_KEY_LEN, auth, (size_t)an, server_sig);
    char b64[64];
    proxy_scram_b64_encode(server_sig, SCRAM_KEY_LEN, b64, sizeof(b64));
    int n = snprintf(out, outlen, "v=%s", b64);
    return n > 0 && (size_t)n < outlen ? T_OK : T_ERR;
}

int proxy_scram_client_first(proxy_scram_client *c, char *out, size_t outlen)
{
    char nonce[64];
    memset(c, 0, sizeof(*c));
    if (proxy_scram_nonce(nonce, sizeof(nonce)) < 0)
        return -1;
    snprintf(c->client_first_bare, sizeof(c->client_first_bare), "n=,r=%s", nonce);
    int n = snprintf(out, outlen, "n,,%s", c->client_first_bare);
    return n > 0 && (size_t)n < outlen ? n : -1;
}

int proxy_scram_client_final(proxy_scram_client *c, const char *password, proxy_scram_cache *cache,
                             const uint8_t *data, size_t len, char *out, size_t outlen,
                             const char **reason)
{
    char msg[SCRAM_MSG_MAX];
    *reason = "bad_scram_server_first";
    if (!proxy_scram_copy_msg(data, len, msg, sizeof(msg)))
        return -1;
    size_t rlen, slen, ilen;
    const char *r = proxy_scram_attr(msg, 'r', &rlen);
    const char *salt = proxy_scram_attr(msg, 's', &slen);
    const char *it = proxy_scram_attr(msg, 'i', &ilen);
    if (!r || !salt || !it)
        return -1;
    /* The server nonce must extend ours. */
    const char *mine = c->client_first_bare + 5;
    if (rlen <= strlen(mine) || strncmp(r, mine, strlen(mine)) != 0) {
        *reason = "scram_nonce_mismatch";
        return -1;
    }
    int iterations = atoi(it);
    if (iterations < 1 || iterations > 10000000)
        return -1;
    uint8_t saltraw[128];
    int saltn = proxy_scram_b64_decode(salt, slen, saltraw, sizeof(saltraw));
    if (saltn < 1)
        return -1;
    uint8_t client_key[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN];
    if (cache && cache->valid && cache->iterations == iterations &&
        strlen(cache->salt_b64) == slen && memcmp(cache->salt_b64, salt, slen) == 0) {
        memcpy(client_key, cache->client_key, SCRAM_KEY_LEN);
        memcpy(c->server_key, cache->server_key, SCRAM_KEY_LEN);
        SHA256(client_key, SCRAM_KEY_LEN, stored);
    } else {
        if (proxy_scram_derive(password, saltraw, (size_t)saltn, iterations, client_key, stored,
                               c->server_key) != T_OK)
            return -1;
        if (cache && slen < sizeof(cache->salt_b64)) {
            memcpy(cache->salt_b64, salt, slen);
            cache->salt_b64[slen] = '\0';
            cache->iterations = iterations;
            memcpy(cache->client_key, client_key, SCRAM_KEY_LEN);
            memcpy(cache->server_key, c->server_key, SCRAM_KEY_LEN);
            cache->valid = 1;
        }
    }
    char without_proof[SCRAM_MSG_MAX];
    snprintf(without_proof, sizeof(without_proof), "c=biws,r=%.*s", (int)rlen, r);
    int an = snprintf(c->auth_message, sizeof(c->auth_message), "%s,%s,%s", c->client_first_bare,
                      msg, without_proof);
    if (an < 0 || (size_t)an >= sizeof(c->auth_message))
        return -1;
    uint8_t sig[SCRAM_KEY_LEN], proof[SCRAM_KEY_LEN];
    proxy_scram_hmac(stored, SCRAM_KEY_LEN, c->auth_message, (size_t)an, sig);
    for (size_t i = 0; i < SCRAM_KEY_LEN; i++)
        proof[i] = client_key[i] ^ sig[i];
    OPENSSL_cleanse(client_key, sizeof(client_key));
    char b64[64];
    proxy_scram_b64_encode(proof, SCRAM_KEY_LEN, b64, sizeof(b64));
    int n = snprintf(out, outlen, "%s,p=%s", without_proof, b64);
    return n > 0 && (size_t)n < outlen ? n : -1;
}

int proxy_scram_client_verify(proxy_scram_client *c, const uint8_t *data, size_t len,
                              const char **reason)
{
    char msg[SCRAM_MSG_MAX];
    *reason = "bad_scram_server_final";
    if (!proxy_scram_copy_msg(data, len, msg, sizeof(msg)) || strncmp(msg, "v=", 2) != 0)
        return T_ERR;
    uint8_t want[SCRAM_KEY_LEN], got[64];
    proxy_scram_hmac(c->server_key, SCRAM_KEY_LEN, c->auth_message, strlen(c->auth_message), want);
    if (proxy_scram_b64_decode(msg + 2, strlen(msg + 2), got, sizeof(got)) != SCRAM_KEY_LEN ||
        CRYPTO_memcmp(want, got, SCRAM_KEY_LEN) != 0) {
        *reason = "scram_server_signature_mismatch";
        return T_ERR;
    }
    return T_OK;
}

static void proxy_md5_hex(const void *data, size_t len, char out[33])
{
    uint8_t d[16];
    unsigned int n = 0;
    EVP_Digest(data, len, d, &n, EVP_md5(), NULL);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

void proxy_md5_secret(const char *password, const char *user, char out[36])
{
    size_t pl = strlen(password), ul = strlen(user);
    char *buf = malloc(pl + ul + 1);
    if (!buf) {
        out[0] = '\0';
        return;
    }
    memcpy(buf, password, pl);
    memcpy(buf + pl, user, ul);
    memcpy(out, "md5", 3);
    proxy_md5_hex(buf, pl + ul, out + 3);
    OPENSSL_cleanse(buf, pl + ul);
    free(buf);
}

void proxy_md5_response(const char *secret, const uint8_t salt[4], char out[36])
{
    char buf[36];
    memcpy(buf, secret + 3, 32);
    memcpy(buf + 32, salt, 4);
    memcpy(out, "md5", 3);
    proxy_md5_hex(buf, 36, out + 3);
}

int proxy_secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return 0;
    return CRYPTO_memcmp(a, b, la) == 0;
}
