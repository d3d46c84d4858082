/* fuzz_sf_soql.c - libFuzzer target for the Salesforce emulator's SOQL parser
 * and executor: any input must parse or fail with a message, and running it
 * against a small store must never crash, leak or read out of bounds. */
#include "emulators/salesforce/sf_query.h"
#include "emulators/salesforce/sf_soql.h"
#include "util/common.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sf_store store;
    static int ready;
    if (!ready) {
        sf_store_init(&store, "fuzz@example.com");
        sf_store_backdate(&store, 60);
        sf_store_seed(&store, sf_schema_object("Account"), 20);
        sf_store_seed(&store, sf_schema_object("Contact"), 40);
        ready = 1;
    }
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    sf_soql_query *q = NULL;
    char err[256];
    if (sf_soql_parse(text, &q, err, sizeof(err)) == T_OK)
        sf_soql_free(q);
    sf_query_engine qe = {0};
    json_t *out = NULL;
    sf_error e;
    if (sf_query_run(&store, &qe, text, size % 2, 7, "59.0", &out, &e) == T_OK)
        json_decref(out);
    sf_query_engine_free(&qe);
    free(text);
    return 0;
}
