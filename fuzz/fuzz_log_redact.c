/* fuzz_log_redact.c - libFuzzer target for the log redactor (secret and URL
 * password masking must never overrun its buffer or read past the input). */
#include "util/log.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        log_add_secret("sk_test_fuzz");
        log_add_secret("p");
        ready = 1;
    }
    char *input = malloc(size + 1);
    if (!input)
        return 0;
    memcpy(input, data, size);
    input[size] = '\0';
    char out[64];
    log_redact(input, out, (size % sizeof(out)) + 1);
    free(input);
    return 0;
}
