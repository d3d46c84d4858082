/*
 * stripe_seed.c - fills the store with realistic objects before serving
 * (--seed-customers N and friends) so that backfills can be benchmarked.
 * Customers are rendered directly with snprintf (1M in a few seconds); the
 * other kinds go through the regular builders. Seeded objects emit no events
 * (they predate the event window, as for an old Stripe account).
 * Memory: everything created is owned by the store.
 */
#include "emulators/stripe/stripe_internal.h"

#include "util/common.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const stripe_seed_first[] = {"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Ken",
                                                "Dennis", "Margaret", "Linus", "Radia", "Frances", "John", "Niklaus",
                                                "Leslie", "Sophie"};
static const char *const stripe_seed_last[] = {"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth",
                                               "Thompson", "Ritchie", "Hamilton", "Torvalds", "Perlman", "Allen",
                                               "Backus", "Wirth", "Lamport", "Wilson"};
static const char *const stripe_seed_domains[] = {"example.com", "example.org", "example.net", "test.dev"};
static const char *const stripe_seed_products[] = {"Starter plan", "Pro plan", "Team plan", "Enterprise plan",
                                                   "Extra seat", "Storage add-on", "Support package", "API credits"};

static int stripe_seed_customers(stripe_emu *emu, long n, int64_t start)
{
    stripe_store *st = &emu->store;
    char id[32], prefix[9], buf[1400];
    for (long i = 0; i < n; i++) {
        stripe_store_new_id(st, "cus", id);
        stripe_store_rand_str(st, prefix, 8);
        for (char *p = prefix; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        uint64_t r = stripe_store_rand(st);
        const char *first = stripe_seed_first[r % T_ARRAY_LEN(stripe_seed_first)];
        const char *last = stripe_seed_last[(r >> 8) % T_ARRAY_LEN(stripe_seed_last)];
        const char *dom = stripe_seed_domains[(r >> 16) % T_ARRAY_LEN(stripe_seed_domains)];
        char email[96];
        snprintf(email, sizeof email, "%s.%s.%ld@%s", first, last, i, dom);
        int64_t created = start + i;
        int len = snprintf(
            buf, sizeof buf,
            "{\"id\":\"%s\",\"object\":\"customer\",\"address\":{\"city\":\"Springfield\",\"country\":\"US\","
            "\"line1\":\"%ld Main Street\",\"line2\":null,\"postal_code\":\"%05ld\",\"state\":\"IL\"},\"balance\":0,"
            "\"created\":%lld,\"currency\":null,\"default_source\":null,\"delinquent\":false,\"description\":"
            "\"Seeded customer %ld\",\"discount\":null,\"email\":\"%s\",\"invoice_prefix\":\"%s\","
            "\"invoice_settings\":{\"custom_fields\":null,\"default_payment_method\":null,\"footer\":null,"
            "\"rendering_options\":null},\"livemode\":false,\"metadata\":{\"seed\":\"%ld\"},\"name\":\"%s %s\","
            "\"next_invoice_sequence\":1,\"phone\":\"+1555%07ld\",\"preferred_locales\":[],\"shipping\":null,"
            "\"tax_exempt\":\"none\",\"test_clock\":null}",
            id, 1 + (long)(r % 9999), (long)((r >> 20) % 99999), (long long)created, i, email, prefix, i, first, last,
            i % 10000000);
        if (len < 0 || (size_t)len >= sizeof buf)
            return T_ERR;
        char *json = malloc((size_t)len + 1);
        char *key = strdup(email);
        if (!json || !key) {
            free(json);
            free(key);
            return T_ERR;
        }
        memcpy(json, buf, (size_t)len + 1);
        if (!stripe_store_add(st, STRIPE_CUSTOMER, id, created, json, key, NULL))
            return T_ERR;
    }
    return T_OK;
}

/* Runs one create through the regular path with PARAMS (stolen). */
static stripe_obj *stripe_seed_create(stripe_emu *emu, stripe_kind kind, json_t *params)
{
    stripe_req r = {.emu = emu, .st = &emu->store, .request_id = "req_seed", .params = params};
    stripe_webhooks *wh = emu->wh;
    emu->wh = NULL; /* seeds are not delivered */
    stripe_obj_create(&r, kind);
    emu->wh = wh;
    stripe_obj *o = NULL;
    if (r.status == 200) {
        json_t *v = json_loads(r.body, 0, NULL);
        o = stripe_store_get(&emu->store, json_string_value(json_object_get(v, "id")));
        json_decref(v);
    } else {
        log_error("emulator.seed.failed", "kind=%s body=%s", stripe_kinds[kind].object, r.body ? r.body : "");
    }
    free(r.body);
    json_decref(params);
    return o;
}

int stripe_seed(stripe_emu *emu, char *err, size_t errlen)
{
    const stripe_emu_config *c = &emu->cfg;
    stripe_store *st = &emu->store;
    long total = c->seed_customers;
    if (total <= 0 && c->seed_products <= 0 && c->seed_prices <= 0 && c->seed_subscriptions <= 0 &&
        c->seed_invoices <= 0 && c->seed_charges <= 0)
        return T_OK;
    clock_t t0 = clock();
    int64_t now = (int64_t)time(NULL);
    /* Customers predate everything else: one per second up to now. */
    if (c->seed_customers > 0 && stripe_seed_customers(emu, c->seed_customers, now - c->seed_customers) != T_OK)
        goto failed;
    long nprod = c->seed_products > 0 ? c->seed_products : 0;
    long nprice = c->seed_prices > 0 ? c->seed_prices : 0;
    if (c->seed_subscriptions > 0) { /* subscriptions need prices and customers */
        if (nprod == 0)
            nprod = 3;
        if (nprice < nprod)
            nprice = nprod;
    }
    stripe_obj **prods = calloc((size_t)nprod + 1, sizeof *prods);
    stripe_obj **prices = calloc((size_t)nprice + 1, sizeof *prices);
    if (!prods || !prices) {
        free(prods);
        free(prices);
        goto failed;
    }
    for (long i = 0; i < nprod; i++)
        prods[i] = stripe_seed_create(
            emu, STRIPE_PRODUCT,
            json_pack("{s:s++,s:{s:s}}", "name", stripe_seed_products[i % T_ARRAY_LEN(stripe_seed_products)],
                      i >= (long)T_ARRAY_LEN(stripe_seed_products) ? " " : "",
                      i >= (long)T_ARRAY_LEN(stripe_seed_products) ? "v2" : "", "metadata", "seed", "true"));
    for (long i = 0; i < nprice; i++) {
        stripe_obj *p = prods[i % nprod];
        if (!p)
            continue;
        char amount[24];
        snprintf(amount, sizeof amount, "%ld", 500 + (long)(stripe_store_rand(st) % 20) * 500);
        prices[i] = stripe_seed_create(emu, STRIPE_PRICE,
                                       json_pack("{s:s,s:s,s:s,s:{s:s}}", "currency", "usd", "product", p->id,
                                                 "unit_amount", amount, "recurring", "interval",
                                                 i % 4 == 3 ? "year" : "month"));
    }
    long ncust_extra = 0;
    for (long i = 0; i < c->seed_subscriptions; i++) {
        stripe_obj *cust = NULL;
        if (st->n[STRIPE_CUSTOMER] > 0 && i < (long)st->n[STRIPE_CUSTOMER])
            cust = st->objs[STRIPE_CUSTOMER][i];
        if (!cust) {
            cust = stripe_seed_create(emu, STRIPE_CUSTOMER,
                                      json_pack("{s:s,s:s++}", "name", "Subscriber", "email", "subscriber", "@example.com"));
            ncust_extra++;
        }
        stripe_obj *price = prices[i % nprice];
        if (!cust || !price)
            continue;
        stripe_seed_create(emu, STRIPE_SUBSCRIPTION,
                           json_pack("{s:s,s:[{s:s,s:s}]}", "customer", cust->id, "items", "price", price->id,
                                     "quantity", "1"));
    }
    for (long i = 0; i < c->seed_invoices; i++) {
        if (st->n[STRIPE_CUSTOMER] == 0)
            stripe_seed_create(emu, STRIPE_CUSTOMER, json_pack("{s:s}", "name", "Invoice customer"));
        stripe_obj *cust = st->objs[STRIPE_CUSTOMER][(size_t)i % st->n[STRIPE_CUSTOMER]];
        stripe_seed_create(emu, STRIPE_INVOICE, json_pack("{s:s,s:s}", "customer", cust->id, "description",
                                                          "Seeded invoice"));
    }
    for (long i = 0; i < c->seed_charges; i++) {
        char amount[24];
        snprintf(amount, sizeof amount, "%ld", 500 + (long)(stripe_store_rand(st) % 100) * 100);
        json_t *p = json_pack("{s:s,s:s,s:s}", "amount", amount, "currency", "usd", "source", "tok_visa");
        if (st->n[STRIPE_CUSTOMER] > 0)
            json_object_set_new(p, "customer",
                                json_string(st->objs[STRIPE_CUSTOMER][(size_t)i % st->n[STRIPE_CUSTOMER]]->id));
        stripe_seed_create(emu, STRIPE_CHARGE, p);
    }
    free(prods);
    free(prices);
    /* Seeding emits no events: drop those the builders appended. */
    for (size_t i = 0; i < st->n[STRIPE_EVENT]; i++)
        stripe_store_set_json(st, st->objs[STRIPE_EVENT][i], NULL);
    log_info("emulator.seeded", "customers=%ld products=%ld prices=%ld subscriptions=%ld invoices=%ld charges=%ld "
                                "cpu_ms=%ld",
             c->seed_customers + ncust_extra, nprod, nprice, c->seed_subscriptions, c->seed_invoices, c->seed_charges,
             (long)((clock() - t0) * 1000 / CLOCKS_PER_SEC));
    return T_OK;
failed:
    snprintf(err, errlen, "seeding failed (out of memory?)");
    return T_ERR;
}
