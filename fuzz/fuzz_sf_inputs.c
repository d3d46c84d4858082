/* fuzz_sf_inputs.c - libFuzzer target for the Salesforce emulator's other
 * input parsers: login form and SOAP bodies, ISO date-times, record ids and
 * JSON record bodies validated for create and update. None may crash, leak
 * or read out of bounds. */
#include "emulators/salesforce/sf_http.h"
#include "emulators/salesforce/sf_store.h"
#include "util/iso_time.h"
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
        sf_store_backdate(&store, 20);
        sf_store_seed(&store, sf_schema_object("Account"), 10);
        sf_store_seed(&store, sf_schema_object("Contact"), 10);
        ready = 1;
    }
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char out[64];
    sf_auth_form_get(text, "grant_type", out, sizeof(out));
    sf_auth_form_get(text, "p", out, (size % sizeof(out)) + 1);
    sf_auth_xml_value(text, "username", out, sizeof(out));
    int64_t ms;
    iso_time_parse(text, (int)(size & 1), &ms);
    iso_time_parse_date(text);
    sf_table *t;
    uint32_t idx;
    sf_store_resolve(&store, text, &t, &idx);

    json_t *body = json_loadb((const char *)data, size, 0, NULL);
    if (body) {
        static const char *const objects[] = {"Contact", "Account", "Invoice__c", "Lead"};
        const sf_object *obj = sf_schema_object(objects[size % 4]);
        sf_change ch;
        sf_error err;
        uint32_t target = (size & 2) ? SF_NONE : 0;
        if (target == 0 && strcmp(obj->name, "Contact") != 0 && strcmp(obj->name, "Account") != 0)
            target = SF_NONE; /* no seeded rows */
        if (sf_store_prepare(&store, obj, target, body, &ch, &err) == T_OK)
            sf_change_free(&ch);
        json_decref(body);
    }
    free(text);
    return 0;
}
