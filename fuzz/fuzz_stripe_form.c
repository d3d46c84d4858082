/* fuzz_stripe_form.c - libFuzzer target for the emulators' form parser
 * (emu_form_parse): any byte string must parse or be rejected cleanly, with
 * no crash, leak, over-read or unbounded recursion. */
#include "emulators/common/emu_form.h"
#include "util/common.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[T_ERRBUF_SIZE];
    json_t *out = NULL;
    /* a private copy without a terminator, so over-reads are caught */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    if (emu_form_parse(buf, size, &out, err, sizeof err) == T_OK) {
        char *s = json_dumps(out, JSON_COMPACT);
        free(s);
        json_decref(out);
    } else if (out) {
        abort(); /* failures must not return a tree */
    }
    free(buf);
    return 0;
}
