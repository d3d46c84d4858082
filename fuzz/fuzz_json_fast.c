/* fuzz_json_fast.c - differential libFuzzer target for src/util/json_fast.c:
 * for any input, json_fast_loadb() must accept exactly what jansson's
 * json_loadb(.., 0, ..) accepts, and produce the same tree: the compact
 * dumps of both (keys in insertion order, reals at full precision) must be
 * byte for byte equal. Any difference aborts. One known difference is
 * allowed: jansson skips a NUL byte that directly follows a number ("[1\0]"
 * loads as [1]); json_fast refuses every NUL byte, as the JSON grammar does. */
#include "util/json_fast.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je, fe;
    json_t *want = json_loadb((const char *)data, size, 0, &je);
    json_t *got = json_fast_loadb((const char *)data, size, &fe);
    if (want && !got && memchr(data, '\0', size)) {
        json_decref(want);
        return 0; /* jansson's NUL-after-number leniency, see above */
    }
    if (!want != !got) {
        fprintf(stderr, "json_fast %s what jansson %s (jansson: %s; json_fast: %s)\n",
                got ? "accepts" : "refuses", want ? "accepts" : "refuses", want ? "-" : je.text,
                got ? "-" : fe.text);
        abort();
    }
    if (want) {
        size_t flags = JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17);
        char *a = json_dumps(want, flags);
        char *b = json_dumps(got, flags);
        if (!a || !b || strcmp(a, b) != 0) {
            fprintf(stderr, "trees differ:\n jansson:   %s\n json_fast: %s\n", a ? a : "?", b ? b : "?");
            abort();
        }
        free(a);
        free(b);
    }
    json_decref(want);
    json_decref(got);
    return 0;
}
