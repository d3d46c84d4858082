/* fuzz_sync_cursor.c - libFuzzer target for the small parsers of the sync:
 * the Stripe backfill cursor (read back from the state table) and the
 * HOST:PORT listen address. Must never crash or overrun; a parsed cursor's
 * fields are always NUL-terminated and consistent with its kind. */
#include "connectors/stripe/stripe.h"
#include "http/http_server.h"
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
    stripe_cursor c;
    stripe_cursor_parse(input, &c);
    if (strlen(c.id) >= sizeof(c.id) || strlen(c.top) >= sizeof(c.top) || strlen(c.after) >= sizeof(c.after))
        abort();
    if (c.kind == STRIPE_CUR_ANCHOR && (!c.top[0] || !c.after[0] || c.created <= 0))
        abort();
    if (c.kind == STRIPE_CUR_AFTER && !c.id[0])
        abort();
    char host[64];
    int port = -1;
    if (http_parse_listen(input, host, sizeof(host), &port) == T_OK && (port < 0 || port > 65535))
        abort();
    free(input);
    return 0;
}
