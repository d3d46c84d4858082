/*
 * demo.c - orchestrates `tether demo` (see demo.h). Every part is started as a
 * child process of this one: PostgreSQL (initdb + postgres, as the postgres OS
 * user when run as root, since Postgres refuses root), `tether emulate stripe`,
 * `tether sync` and `tether proxy`, each logging into DIR/logs/. The parent
 * waits for each to accept connections, shows backfill progress, prints how to
 * connect, then waits for Ctrl-C and stops the children newest first.
 *
 * Memory: everything lives on the stack or in fixed buffers; nothing persists
 * after demo_run() returns except DIR when the user chose it.
 */
#include "demo/demo.h"
#include "pg/pgconn.h"
#include "pg/setup.h"
#include "util/common.h"
#include "util/proc.h"

#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEMO_API_KEY "sk_test_tether"
#define DEMO_APP_USER "demo"
#define DEMO_APP_PASSWORD "demo"
#define DEMO_TETHER_PASSWORD "tether-demo-password"
/* The Salesforce emulator's default credentials (docs/emulators-salesforce.md). */
#define DEMO_SF_CLIENT_ID "tether-sf-client"
#define DEMO_SF_CLIENT_SECRET "tether-sf-secret"
#define DEMO_SF_USERNAME "admin@tether.example"
#define DEMO_SF_PASSWORD "tether-sf-password"

static volatile sig_atomic_t demo_stop_requested;

static void demo_on_signal(int sig)
{
    (void)sig;
    demo_stop_requested = 1;
}

typedef struct demo_state {
    char dir[512];
    char logs[600];
    char pg_bindir[256];
    const char *run_as; /* OS user for Postgres, NULL when not root */
    int remove_dir;
    int pg_port, api_port, sf_port, proxy_port;
    char admin_url[256], tether_url[256];
    proc_group procs;
} demo_state;

/* Finds the newest /usr/lib/postgresql/<N>/bin with initdb. */
static int demo_find_pg(demo_state *st)
{
    DIR *d = opendir("/usr/lib/postgresql");
    int best = -1;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            int v = atoi(e->d_name);
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "/usr/lib/postgresql/%s/bin/initdb", e->d_name);
            if (v > best && access(path, X_OK) == 0)
                best = v;
        }
        closedir(d);
    }
    if (best < 0)
        return T_ERR;
    snprintf(st->pg_bindir, sizeof(st->pg_bindir), "/usr/lib/postgresql/%d/bin", best);
    return T_OK;
}

static void demo_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void demo_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tether demo: ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    va_end(ap);
}

static int demo_start_postgres(demo_state *st)
{
    char data[1024], pwfile[1024], log[PATH_MAX], initdb[PATH_MAX],
        postgres[PATH_MAX], port[16];
    snprintf(data, sizeof(data), "%s/pgdata", st->dir);
    snprintf(pwfile, sizeof(pwfile), "%s/pwfile", st->dir);
    snprintf(log, sizeof(log), "%s/postgres.log", st->logs);
    snprintf(initdb, sizeof(initdb), "%s/initdb", st->pg_bindir);
    snprintf(postgres, sizeof(postgres), "%s/postgres", st->pg_bindir);
    FILE *f = fopen(pwfile, "w");
    if (!f)
        return T_ERR;
    fputs("postgres\n", f);
    fclose(f);
    if (st->run_as) {
        struct passwd *pw = getpwnam(st->run_as);
        if (!pw || chown(st->dir, pw->pw_uid, pw->pw_gid) != 0 ||
            chown(pwfile, pw->pw_uid, pw->pw_gid) != 0 ||
            chown(st->logs, pw->pw_uid, pw->pw_gid) != 0)
            return T_ERR;
    }
    char pwopt[PATH_MAX + 16];
    snprintf(pwopt, sizeof(pwopt), "--pwfile=%s", pwfile);
    char *init_argv[] = {initdb, "-D", data, "-U", "postgres", pwopt, "-E", "UTF8",
                         "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", NULL};
    demo_say("creating a private PostgreSQL cluster in %s", data);
    if (proc_run(init_argv, log, st->run_as) != 0)
        return T_ERR;
    snprintf(port, sizeof(port), "%d", st->pg_port);
    char sockdir[PATH_MAX];
    snprintf(sockdir, sizeof(sockdir), "unix_socket_directories=%s", st->dir);
    char portopt[32];
    snprintf(portopt, sizeof(portopt), "port=%d", st->pg_port);
    char *pg_argv[] = {postgres, "-D", data, "-c", "listen_addresses=127.0.0.1", "-c", portopt,
                       "-c", sockdir, "-c", "fsync=off", NULL};
    if (proc_spawn(&st->procs, "postgres", pg_argv, log, st->run_as) < 0)
        return T_ERR;
    if (proc_wait_port("127.0.0.1", st->pg_port, 30000) != T_OK)
        return T_ERR;
    snprintf(st->admin_url, sizeof(st->admin_url),
             "postgres://postgres:postgres@127.0.0.1:%d/postgres", st->pg_port);
    snprintf(st->tether_url, sizeof(st->tether_url),
             "postgres://tether:" DEMO_TETHER_PASSWORD "@127.0.0.1:%d/postgres", st->pg_port);
    /* The server accepts TCP a moment before it accepts logins. */
    char err[T_ERRBUF_SIZE];
    for (int i = 0; i < 100; i++) {
        PGconn *c = pgconn_connect(st->admin_url, "tether-demo", err, sizeof(err));
        if (c) {
            PQfinish(c);
            return T_OK;
        }
        struct timespec pause = {0, 100 * 1000000L};
        nanosleep(&pause, NULL);
    }
    fprintf(stderr, "tether demo: %s\n", err);
    return T_ERR;
}

static int demo_setup_database(demo_state *st)
{
    setup_options so = {.user = "tether", .password = DEMO_TETHER_PASSWORD,
                        .read_role = "tether_read", .schemas = {"stripe", "salesforce"}, .nschemas = 2,
                        .app_roles = {"postgres"}, .napp_roles = 1};
    char err[T_ERRBUF_SIZE];
    char *sql = setup_sql_build(&so, NULL, 0, err, sizeof(err));
    if (!sql) {
        fprintf(stderr, "tether demo: %s\n", err);
        return T_ERR;
    }
    int created = 0;
    int rc = setup_apply(st->admin_url, "tether", sql, &created, err, sizeof(err));
    free(sql);
    if (rc != T_OK)
        fprintf(stdout, "tether demo: setup failed: %s\n", err);
    return rc;
}

/*
 * Starts this program with ARGS as child NAME (output to DIR/logs/NAME.log).
 * When PORT > 0, waits for it to accept connections and checks the child is
 * still alive then (another process may hold the port). T_OK or T_ERR.
 */
static int demo_start_child(demo_state *st, const char *self, const char *name,
                            char *const args[], int port)
{
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)self;
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char log[PATH_MAX];
    snprintf(log, sizeof(log), "%s/%s.log", st->logs, name);
    if (proc_spawn(&st->procs, name, argv, log, NULL) < 0)
        return T_ERR;
    if (port > 0 && proc_wait_port("127.0.0.1", port, 30000) != T_OK)
        return T_ERR;
    struct timespec settle = {0, 100 * 1000000L};
    nanosleep(&settle, NULL);
    char gone[32];
    int status;
    if (proc_reap(&st->procs, gone, sizeof(gone), &status))
        return T_ERR;
    return T_OK;
}

/* Counts rows of TABLE (a fixed schema.table); -1 while it does not exist yet. */
static long demo_count_rows(PGconn *conn, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    PGresult *res = PQexec(conn, sql);
    long n = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        n = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

static void demo_progress(const char *table, long *last_shown, long done, long total)
{
    if (!isatty(STDOUT_FILENO)) { /* plain output: one line per change */
        if (done != *last_shown)
            printf("tether demo: backfilling %s %ld/%ld\n", table, done, total);
        *last_shown = done;
        fflush(stdout);
        return;
    }
    int width = 40, filled = total > 0 ? (int)(done * width / total) : 0;
    if (filled > width)
        filled = width;
    printf("\rtether demo: backfilling %-18s [", table);
    for (int i = 0; i < width; i++)
        putchar(i < filled ? '#' : '.');
    printf("] %ld/%ld", done, total);
    fflush(stdout);
}

static int demo_wait_backfill(demo_state *st, const char *table, long total)
{
    char err[T_ERRBUF_SIZE];
    PGconn *conn = pgconn_connect(st->admin_url, "tether-demo", err, sizeof(err));
    if (!conn)
        return T_ERR;
    long n = 0, last_shown = -1;
    for (int i = 0; i < 1200 && !demo_stop_requested; i++) {
        n = demo_count_rows(conn, table);
        demo_progress(table, &last_shown, n < 0 ? 0 : n, total);
        if (n >= total)
            break;
        char name[32];
        int status;
        if (proc_reap(&st->procs, name, sizeof(name), &status)) {
            printf("\n");
            fprintf(stderr, "tether demo: %s exited; see %s/%s.log\n", name, st->logs, name);
            PQfinish(conn);
            return T_ERR;
        }
        struct timespec pause = {0, 100 * 1000000L};
        nanosleep(&pause, NULL);
    }
    if (isatty(STDOUT_FILENO))
        printf("\n");
    PQfinish(conn);
    return n >= total ? T_OK : T_ERR;
}

/* Collects a response body for demo_api_post. */
static size_t demo_collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    json_t **buf = userdata;
    size_t n = size * nmemb;
    json_t *prev = *buf;
    const char *old = prev ? json_string_value(prev) : "";
    size_t oldlen = prev ? json_string_length(prev) : 0;
    char *joined = malloc(oldlen + n + 1);
    if (!joined)
        return 0;
    memcpy(joined, old, oldlen);
    memcpy(joined + oldlen, ptr, n);
    joined[oldlen + n] = '\0';
    *buf = json_stringn(joined, oldlen + n);
    json_decref(prev);
    free(joined);
    return n;
}

/*
 * POSTs the form BODY to the emulator at PATH and copies the created object's
 * id into ID. Returns T_OK, or T_ERR when the call or the answer failed.
 */
static int demo_api_post(const demo_state *st, const char *path, const char *body, char *id,
                         size_t idlen)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", st->api_port, path);
    CURL *curl = curl_easy_init();
    if (!curl)
        return T_ERR;
    json_t *text = NULL;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_USERPWD, DEMO_API_KEY ":");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, demo_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &text);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    long status = 0;
    int rc = T_ERR;
    if (curl_easy_perform(curl) == CURLE_OK &&
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200 &&
        text) {
        json_t *obj = json_loads(json_string_value(text), 0, NULL);
        const char *got = json_string_value(json_object_get(obj, "id"));
        if (got && strlen(got) < idlen) {
            memcpy(id, got, strlen(got) + 1);
            rc = T_OK;
        }
        json_decref(obj);
    }
    json_decref(text);
    curl_easy_cleanup(curl);
    return rc;
}

/*
 * Creates the customer the seed's example queries look for (metadata
 * user_id = user_abc) with a product, a monthly price and a subscription.
 */
static int demo_seed_example(const demo_state *st)
{
    char cus[64], prod[64], price[64], sub[64], body[256];
    if (demo_api_post(st, "/v1/customers",
                      "email=abc%40example.com&name=Ada%20Example&metadata%5Buser_id%5D=user_abc",
                      cus, sizeof(cus)) != T_OK ||
        demo_api_post(st, "/v1/products", "name=Tether%20Pro", prod, sizeof(prod)) != T_OK)
        return T_ERR;
    snprintf(body, sizeof(body),
             "product=%s&unit_amount=2000&currency=usd&recurring%%5Binterval%%5D=month", prod);
    if (demo_api_post(st, "/v1/prices", body, price, sizeof(price)) != T_OK)
        return T_ERR;
    snprintf(body, sizeof(body), "customer=%s&items%%5B0%%5D%%5Bprice%%5D=%s", cus, price);
    return demo_api_post(st, "/v1/subscriptions", body, sub, sizeof(sub));
}

static void demo_print_instructions(const demo_state *st)
{
    printf("\n"
           "Tether is running. Connect through the proxy (reads pass through, writes go\n"
           "to the API first):\n\n"
           "  psql 'postgres://" DEMO_APP_USER ":" DEMO_APP_PASSWORD "@127.0.0.1:%d/postgres'\n\n"
           "or read the database directly:\n\n"
           "  psql 'postgres://postgres:postgres@127.0.0.1:%d/postgres'\n\n"
           "Try:\n\n"
           "  SELECT id, email, name FROM stripe.customer ORDER BY created DESC LIMIT 5;\n\n"
           "  SELECT subscription.status FROM stripe.subscription\n"
           "    JOIN stripe.customer ON stripe.customer.id = stripe.subscription.customer_id\n"
           "   WHERE stripe.customer.metadata ->> 'user_id' = 'user_abc';\n\n"
           "  UPDATE stripe.customer SET email = 'new@email.com'\n"
           "   WHERE metadata ->> 'user_id' = 'user_abc';   -- applied at the API first\n\n"
           "  UPDATE stripe.customer SET email = 'new@'\n"
           "   WHERE metadata ->> 'user_id' = 'user_abc';   -- fails with the API's error\n\n"
           "  SELECT id, first_name, last_name, email FROM salesforce.contact LIMIT 5;\n"
           "  UPDATE salesforce.contact SET email = 'bad@'\n"
           "   WHERE id = (SELECT min(id) FROM salesforce.contact);  -- Salesforce's error\n\n"
           "The Stripe emulator listens on http://127.0.0.1:%d (key " DEMO_API_KEY "),\n"
           "the Salesforce emulator on http://127.0.0.1:%d. The configuration is\n"
           "%s/tether.ini; logs are in %s. Press Ctrl-C to stop and clean up.\n",
           st->proxy_port, st->pg_port, st->api_port, st->sf_port, st->dir, st->logs);
    fflush(stdout);
}

/* Starts the Stripe and Salesforce emulators, seeded, and the example customer. */
static int demo_start_emulators(demo_state *st, const demo_options *opts, const char *self)
{
    char listen[64], seed[16], seed_subs[16], sf_listen[64], sf_accounts[16];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", st->api_port);
    snprintf(seed, sizeof(seed), "%d", opts->seed_customers);
    snprintf(seed_subs, sizeof(seed_subs), "%d", opts->seed_customers / 2);
    char *emu_args[] = {"emulate",          "stripe", "--listen",        listen,
                        "--seed-customers", seed,     "--seed-products", "5",
                        "--seed-prices",    "10",     "--seed-subscriptions", seed_subs,
                        NULL};
    if (demo_start_child(st, self, "emulator", emu_args, st->api_port) != T_OK) {
        fprintf(stderr, "tether demo: the Stripe emulator did not start; see %s/emulator.log\n",
                st->logs);
        return T_ERR;
    }
    if (demo_seed_example(st) != T_OK) {
        fprintf(stderr, "tether demo: could not create the example customer; see "
                        "%s/emulator.log\n", st->logs);
        return T_ERR;
    }
    demo_say("Stripe emulator is up on 127.0.0.1:%d with %d customers", st->api_port,
             opts->seed_customers + 1);

    snprintf(sf_listen, sizeof(sf_listen), "127.0.0.1:%d", st->sf_port);
    snprintf(sf_accounts, sizeof(sf_accounts), "%d", opts->seed_customers / 5 + 1);
    char *sf_args[] = {"emulate", "salesforce", "--listen", sf_listen, "--seed-contacts", seed,
                       "--seed-accounts", sf_accounts, "--seed-opportunities", sf_accounts,
                       NULL};
    if (demo_start_child(st, self, "salesforce-emulator", sf_args, st->sf_port) != T_OK) {
        fprintf(stderr, "tether demo: the Salesforce emulator did not start; see "
                        "%s/salesforce-emulator.log\n", st->logs);
        return T_ERR;
    }
    demo_say("Salesforce emulator is up on 127.0.0.1:%d with %d contacts", st->sf_port,
             opts->seed_customers);
    return T_OK;
}

/*
 * Writes DIR/tether.ini (both syncs, as a user would configure them) and the
 * proxy's users file. Paths are returned in CONFIG and USERS.
 */
static int demo_write_files(const demo_state *st, char *config, size_t config_len, char *users,
                            size_t users_len)
{
    snprintf(config, config_len, "%s/tether.ini", st->dir);
    snprintf(users, users_len, "%s/users.txt", st->dir);
    FILE *f = fopen(config, "w");
    if (!f)
        return T_ERR;
    fprintf(f,
            "; written by tether demo\n"
            "[tether]\n"
            "database = %s\n"
            "status_listen =\n\n"
            "[sync.stripe]\n"
            "source = stripe\n"
            "api_key = " DEMO_API_KEY "\n"
            "api_base = http://127.0.0.1:%d\n\n"
            "[sync.salesforce]\n"
            "source = salesforce\n"
            "login_url = http://127.0.0.1:%d\n"
            "client_id = " DEMO_SF_CLIENT_ID "\n"
            "client_secret = " DEMO_SF_CLIENT_SECRET "\n"
            "username = " DEMO_SF_USERNAME "\n"
            "password = " DEMO_SF_PASSWORD "\n"
            "daily_request_budget = 500000\n",
            st->tether_url, st->api_port, st->sf_port);
    if (fclose(f) != 0)
        return T_ERR;
    f = fopen(users, "w");
    if (!f)
        return T_ERR;
    fprintf(f, "\"%s\" \"%s\"\n", DEMO_APP_USER, DEMO_APP_PASSWORD);
    return fclose(f) == 0 ? T_OK : T_ERR;
}

static int demo_make_dirs(demo_state *st, const demo_options *opts)
{
    if (opts->dir) {
        if (mkdir(opts->dir, 0755) != 0 && errno != EEXIST)
            return T_ERR;
        char real[PATH_MAX];
        if (!realpath(opts->dir, real))
            return T_ERR;
        if (strlen(real) >= sizeof(st->dir)) {
            errno = ENAMETOOLONG;
            return T_ERR;
        }
        memcpy(st->dir, real, strlen(real) + 1);
        char data[PATH_MAX];
        snprintf(data, sizeof(data), "%s/pgdata", st->dir);
        if (access(data, F_OK) == 0) {
            fprintf(stderr, "tether demo: %s already holds a demo; choose an empty --dir\n",
                    st->dir);
            return T_ERR;
        }
    } else {
        snprintf(st->dir, sizeof(st->dir), "/tmp/tether-demo.XXXXXX");
        if (!mkdtemp(st->dir))
            return T_ERR;
        st->remove_dir = 1;
    }
    chmod(st->dir, 0755);
    snprintf(st->logs, sizeof(st->logs), "%s/logs", st->dir);
    if (mkdir(st->logs, 0777) != 0 && errno != EEXIST)
        return T_ERR;
    chmod(st->logs, 0777);
    return T_OK;
}

static void demo_remove_dir(const char *dir)
{
    char *argv[] = {"rm", "-rf", (char *)dir, NULL};
    proc_run(argv, NULL, NULL);
}

int demo_run(const demo_options *opts, const char *self_path)
{
    demo_state st;
    memset(&st, 0, sizeof(st));
    st.proxy_port = opts->proxy_port;
    int rc = T_EXIT_FAILURE;
    struct sigaction sa = {.sa_handler = demo_on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (demo_find_pg(&st) != T_OK) {
        fprintf(stderr, "tether demo: no PostgreSQL server found under /usr/lib/postgresql "
                        "(run: make deps)\n");
        return T_EXIT_FAILURE;
    }
    if (geteuid() == 0)
        st.run_as = getpwnam("postgres") ? "postgres" : "nobody";
    if (demo_make_dirs(&st, opts) != T_OK) {
        fprintf(stderr, "tether demo: cannot create the working directory: %s\n",
                strerror(errno));
        return T_EXIT_FAILURE;
    }
    if (proc_wait_port("127.0.0.1", st.proxy_port, 0) == T_OK) {
        fprintf(stderr, "tether demo: port %d is in use; choose another with --port\n",
                st.proxy_port);
        goto failed;
    }
    st.pg_port = proc_free_port();
    st.api_port = proc_wait_port("127.0.0.1", 12111, 0) == T_OK ? proc_free_port() : 12111;
    st.sf_port = proc_wait_port("127.0.0.1", 12112, 0) == T_OK ? proc_free_port() : 12112;

    if (demo_start_postgres(&st) != T_OK) {
        fprintf(stderr, "tether demo: PostgreSQL did not start; see %s/postgres.log\n", st.logs);
        goto failed;
    }
    demo_say("PostgreSQL is up on 127.0.0.1:%d", st.pg_port);
    if (demo_setup_database(&st) != T_OK)
        goto failed;

    if (demo_start_emulators(&st, opts, self_path) != T_OK)
        goto failed;
    char config[PATH_MAX], users[PATH_MAX], proxy_listen[64];
    if (demo_write_files(&st, config, sizeof(config), users, sizeof(users)) != T_OK) {
        fprintf(stderr, "tether demo: cannot write %s: %s\n", st.dir, strerror(errno));
        goto failed;
    }
    char *sync_args[] = {"sync", "--config", config, NULL};
    if (demo_start_child(&st, self_path, "sync", sync_args, 0) != T_OK) {
        fprintf(stderr, "tether demo: the sync did not start; see %s/sync.log\n", st.logs);
        goto failed;
    }
    snprintf(proxy_listen, sizeof(proxy_listen), "127.0.0.1:%d", st.proxy_port);
    char *proxy_args[] = {"proxy", "--config", config, "--listen", proxy_listen, "--upstream",
                          st.tether_url, "--auth", "scram", "--users", users, NULL};
    if (demo_start_child(&st, self_path, "proxy", proxy_args, st.proxy_port) != T_OK) {
        fprintf(stderr, "tether demo: the proxy did not start; see %s/proxy.log\n", st.logs);
        goto failed;
    }
    demo_say("proxy is up on 127.0.0.1:%d", st.proxy_port);

    if (demo_wait_backfill(&st, "stripe.customer", opts->seed_customers + 1) != T_OK ||
        demo_wait_backfill(&st, "salesforce.contact", opts->seed_customers) != T_OK) {
        if (!demo_stop_requested)
            fprintf(stderr, "tether demo: the backfill did not finish; see %s/sync.log\n",
                    st.logs);
        goto failed;
    }
    demo_print_instructions(&st);
    rc = T_EXIT_OK;
    while (!demo_stop_requested && !opts->exit_after_ready) {
        char name[32];
        int status;
        if (proc_reap(&st.procs, name, sizeof(name), &status)) {
            fprintf(stderr, "tether demo: %s exited unexpectedly; see %s/%s.log\n", name,
                    st.logs, name);
            rc = T_EXIT_FAILURE;
            break;
        }
        struct timespec pause = {0, 200 * 1000000L};
        nanosleep(&pause, NULL);
    }
failed:
    demo_say("stopping");
    proc_stop_all(&st.procs, 5000);
    if (st.remove_dir)
        demo_remove_dir(st.dir);
    return rc;
}
