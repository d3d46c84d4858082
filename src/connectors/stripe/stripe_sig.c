/*
 * stripe_sig.c - see stripe_sig.h. Uses OpenSSL's HMAC and CRYPTO_memcmp.
 */
#include "connectors/stripe/stripe_sig.h"
#include "util/common.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int stripe_sig_parse(const char *header, stripe_sig_header *out)
{
    memset(out, 0, sizeof(*out));
    int have_t = 0;
    const char *p = header;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && *p == ' ') {
            p++;
            n--;
        }
        const char *eq = memchr(p, '=', n);
        if (eq) {
            size_t klen = (size_t)(eq - p);
            const char *v = eq + 1;
            size_t vlen = n - klen - 1;
            if (klen == 1 && p[0] == 't') {
                if (vlen == 0 || vlen > 18)
                    return T_ERR;
                int64_t t = 0;
                for (size_t i = 0; i < vlen; i++) {
                    if (!isdigit((unsigned char)v[i]))
                        return T_ERR;
                    t = t * 10 + (v[i] - '0');
                }
                out->timestamp = t;
                have_t = 1;
            } else if (klen == 2 && p[0] == 'v' && p[1] == '1') {
                if (vlen == STRIPE_SIG_HEX_LEN && out->nv1 < STRIPE_SIG_MAX_V1) {
                    int ok = 1;
                    for (size_t i = 0; i < vlen; i++)
                        if (!isxdigit((unsigned char)v[i]))
                            ok = 0;
                    if (ok) {
                        for (size_t i = 0; i < vlen; i++)
                            out->v1[out->nv1][i] = (char)tolower((unsigned char)v[i]);
                        out->v1[out->nv1][vlen] = '\0';
                        out->nv1++;
                    }
                }
            }
        }
        if (!end)
            break;
        p = end + 1;
    }
    return have_t && out->nv1 > 0 ? T_OK : T_ERR;
}

void stripe_sig_compute(const char *secret, int64_t timestamp, const char *body, size_t len,
                        char out[STRIPE_SIG_HEX_LEN + 1])
{
    char prefix[32];
    int plen = snprintf(prefix, sizeof(prefix), "%lld.", (long long)timestamp);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    unsigned char *msg = malloc((size_t)plen + len + 1);
    if (!msg)
        abort();
    memcpy(msg, prefix, (size_t)plen);
    if (len)
        memcpy(msg + plen, body, len);
    HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, (size_t)plen + len, mac, &maclen);
    free(msg);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < maclen && i < STRIPE_SIG_HEX_LEN / 2; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[STRIPE_SIG_HEX_LEN] = '\0';
}

int stripe_sig_verify(const char *header, const char *body, size_t len, const char *secret,
                      int64_t now, int64_t tolerance_s, char *err, size_t errlen)
{
    stripe_sig_header h;
    if (!header || stripe_sig_parse(header, &h) != T_OK) {
        snprintf(err, errlen, "malformed signature header");
        return T_ERR;
    }
    if (!secret || !*secret) {
        snprintf(err, errlen, "no webhook secret configured");
        return T_ERR;
    }
    int64_t age = now - h.timestamp;
    if (age > tolerance_s || age < -tolerance_s) {
        snprintf(err, errlen, "timestamp outside tolerance");
        return T_ERR;
    }
    char want[STRIPE_SIG_HEX_LEN + 1];
    stripe_sig_compute(secret, h.timestamp, body, len, want);
    for (size_t i = 0; i < h.nv1; i++)
        if (CRYPTO_memcmp(want, h.v1[i], STRIPE_SIG_HEX_LEN) == 0)
            return T_OK;
    snprintf(err, errlen, "no matching signature");
    return T_ERR;
}
