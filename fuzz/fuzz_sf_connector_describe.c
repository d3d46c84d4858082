/* fuzz_sf_connector_describe.c - libFuzzer target for the Salesforce
 * connector's parsers: a describe body (sf_collection_from_describe), an
 * error body (sf_error_from_body), a date-time (sf_parse_datetime) and a
 * backfill cursor (sf_cursor_parse), all from the same input. Any input must
 * be accepted or rejected cleanly: no crash, leak, over-read or overflow of
 * the fixed-size name buffers. */
#include "connectors/salesforce/salesforce.h"
#include "util/common.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    json_error_t jerr;
    json_t *j = json_loadb(buf, size, 0, &jerr);
    if (j) {
        static conn_collection coll;
        if (sf_collection_from_describe(j, &coll) == T_OK) {
            if (coll.ncols > CONN_MAX_COLUMNS || strlen(coll.name) >= sizeof(coll.name))
                abort();
            for (size_t i = 0; i < coll.ncols; i++)
                if (strcmp(coll.cols[i].name, "id") == 0)
                    abort(); /* Id is the key, never a column */
        }
        conn_api_error e;
        sf_error_from_body(400, j, &e);
        json_decref(j);
    }
    int64_t ms;
    if (sf_parse_datetime(buf, &ms) == T_OK) {
        char out[40];
        sf_format_datetime(ms, out, sizeof(out));
    }
    char id[32], snake[64];
    sf_cursor_parse(buf, &ms, id, sizeof(id));
    sf_snake_case(buf, snake, sizeof(snake));
    if (strlen(snake) >= sizeof(snake))
        abort();
    free(buf);
    return 0;
}
