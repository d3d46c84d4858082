/* fuzz_sync_stripe_sig.c - libFuzzer target for the Stripe-Signature header
 * parser and verifier: the first line of the input is the header, the rest
 * the body. Must never crash, overrun or accept a header it did not sign. */
#include "connectors/stripe/stripe_sig.h"
#include "util/common.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *input = malloc(size + 1);
    if (!input)
        return 0;
    memcpy(input, data, size);
    input[size] = '\0';
    char *nl = memchr(input, '\n', size);
    const char *body = "";
    size_t blen = 0;
    if (nl) {
        *nl = '\0';
        body = nl + 1;
        blen = size - (size_t)(nl + 1 - input);
    }
    stripe_sig_header h;
    if (stripe_sig_parse(input, &h) == T_OK) {
        if (h.nv1 == 0 || h.nv1 > STRIPE_SIG_MAX_V1)
            abort();
        for (size_t i = 0; i < h.nv1; i++)
            if (strlen(h.v1[i]) != STRIPE_SIG_HEX_LEN)
                abort();
    }
    char err[T_ERRBUF_SIZE];
    /* a random header must not verify against a secret it was not signed with,
     * unless it carries the right HMAC (which the fuzzer cannot find) */
    (void)stripe_sig_verify(input, body, blen, "whsec_fuzz", h.timestamp, 300, err, sizeof(err));
    free(input);
    return 0;
}
