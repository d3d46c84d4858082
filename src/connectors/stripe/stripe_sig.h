/*
 * stripe_sig.h - Stripe webhook signatures: parse the `Stripe-Signature`
 * header ("t=1492774577,v1=5257a8...,v1=...,v0=...") and verify it as
 * HMAC-SHA256(secret, "<t>.<body>") in hex, within a tolerance of the
 * signing time (Stripe's default 300 s), comparing in constant time.
 * Nothing here allocates; the parsed header points into a caller buffer.
 */
#ifndef TETHER_CONNECTORS_STRIPE_SIG_H
#define TETHER_CONNECTORS_STRIPE_SIG_H

#include <stddef.h>
#include <stdint.h>

#define STRIPE_SIG_MAX_V1 8
#define STRIPE_SIG_HEX_LEN 64
#define STRIPE_SIG_TOLERANCE_S 300

typedef struct stripe_sig_header {
    int64_t timestamp;                                  /* t= */
    char v1[STRIPE_SIG_MAX_V1][STRIPE_SIG_HEX_LEN + 1]; /* lower-case hex */
    size_t nv1;
} stripe_sig_header;

/*
 * Parses HEADER (NUL-terminated). Unknown schemes (v0, ...) are skipped.
 * Returns T_OK when it has a timestamp and at least one well-formed v1,
 * else T_ERR.
 */
int stripe_sig_parse(const char *header, stripe_sig_header *out);

/*
 * Verifies HEADER for BODY[0..LEN) with SECRET at time NOW (unix seconds).
 * Returns T_OK, or T_ERR with the reason ("malformed signature header",
 * "timestamp outside tolerance", "no matching signature") in ERR.
 */
int stripe_sig_verify(const char *header, const char *body, size_t len, const char *secret,
                      int64_t now, int64_t tolerance_s, char *err, size_t errlen);

/* Computes the v1 signature hex (65 bytes with NUL) for tests and the emulator. */
void stripe_sig_compute(const char *secret, int64_t timestamp, const char *body, size_t len,
                        char out[STRIPE_SIG_HEX_LEN + 1]);

#endif
