/*
 * test_proxy_proto.c - the proxy's parsers and crypto without a network:
 * message framing limits, startup packets (good and malformed), builders,
 * the users file, SCRAM-SHA-256 client against server, MD5 hashes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proxy/auth_scram.h"

#include <openssl/evp.h>
#include "proxy/auth_users.h"
#include "proxy/proto.h"
#include "util/common.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

static void test_frame_header(void **state)
{
    proto_header h;
    const char *reason = NULL;
    uint8_t q[] = {'Q', 0, 0, 0, 13};
    assert_int_equal(proto_frame_header(q, 4, PROTO_FROM_CLIENT, 1024, &h, &reason),
                     PROTO_FRAME_NEED_MORE);
    assert_int_equal(proto_frame_header(q, 5, PROTO_FROM_CLIENT, 1024, &h, &reason),
                     PROTO_FRAME_OK);
    assert_int_equal(h.type, 'Q');
    assert_int_equal(h.total, 14);
    /* too large for the limit */
    assert_int_equal(proto_frame_header(q, 5, PROTO_FROM_CLIENT, 12, &h, &reason), PROTO_FRAME_BAD);
    assert_string_equal(reason, "message_too_large");
    /* length below 4 */
    uint8_t bad[] = {'Q', 0, 0, 0, 3};
    assert_int_equal(proto_frame_header(bad, 5, PROTO_FROM_CLIENT, 1024, &h, &reason),
                     PROTO_FRAME_BAD);
    assert_string_equal(reason, "bad_message_length");
    /* a server-only type from a client, and an unknown type */
    uint8_t z[] = {'Z', 0, 0, 0, 5};
    assert_int_equal(proto_frame_header(z, 5, PROTO_FROM_CLIENT, 1024, &h, &reason),
                     PROTO_FRAME_BAD);
    assert_string_equal(reason, "unknown_message_type");
    assert_int_equal(proto_frame_header(z, 5, PROTO_FROM_SERVER, 1024, &h, &reason),
                     PROTO_FRAME_OK);
    uint8_t nul[] = {0, 0, 0, 0, 5};
    assert_int_equal(proto_frame_header(nul, 5, PROTO_FROM_SERVER, 1024, &h, &reason),
                     PROTO_FRAME_BAD);
    /* huge length word does not overflow */
    uint8_t huge[] = {'d', 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(proto_frame_header(huge, 5, PROTO_FROM_CLIENT, 0xffffffffu, &h, &reason),
                     PROTO_FRAME_OK);
    assert_true(h.total == (size_t)0xffffffffu + 1);
}

/* Builds a startup packet from NUL-separated PARAMS (ending with "\0\0"). */
static size_t make_startup(uint8_t *buf, uint32_t version, const char *params, size_t plen)
{
    size_t len = 8 + plen;
    proto_set_u32(buf, (uint32_t)len);
    proto_set_u32(buf + 4, version);
    memcpy(buf + 8, params, plen);
    return len;
}

static void test_startup(void **state)
{
    uint8_t buf[256];
    proto_startup st;
    const char *reason = NULL;
    static const char p1[] = "user\0app\0database\0db\0_pq_.x\0on\0application_name\0a\0";
    size_t n = make_startup(buf, PQ_PROTOCOL_3_0, p1, sizeof(p1));
    assert_int_equal(proto_startup_parse(buf, n, &st, &reason), T_OK);
    assert_string_equal(st.user, "app");
    assert_string_equal(st.database, "db");
    assert_int_equal(st.nparams, 3);
    assert_int_equal(st.nunknown_pq, 1);
    assert_string_equal(st.unknown_pq[0], "_pq_.x");
    /* missing final terminator */
    n = make_startup(buf, PQ_PROTOCOL_3_0, "user\0app\0", 9);
    assert_int_equal(proto_startup_parse(buf, n, &st, &reason), T_ERR);
    /* value without NUL */
    n = make_startup(buf, PQ_PROTOCOL_3_0, "user\0app", 8);
    assert_int_equal(proto_startup_parse(buf, n, &st, &reason), T_ERR);
    assert_string_equal(reason, "unterminated_startup_parameters");
    /* no user */
    static const char p2[] = "database\0db\0";
    n = make_startup(buf, PQ_PROTOCOL_3_0, p2, sizeof(p2));
    assert_int_equal(proto_startup_parse(buf, n, &st, &reason), T_ERR);
    assert_string_equal(reason, "no_user_in_startup");
    /* protocol 2 */
    static const char p3[] = "user\0app\0";
    n = make_startup(buf, 2u << 16, p3, sizeof(p3));
    assert_int_equal(proto_startup_parse(buf, n, &st, &reason), T_ERR);
    assert_string_equal(reason, "unsupported_protocol_version");
    /* special requests */
    proto_set_u32(buf, 8);
    proto_set_u32(buf + 4, PQ_SSL_REQUEST_CODE);
    assert_int_equal(proto_startup_parse(buf, 8, &st, &reason), T_OK);
    assert_int_equal(st.kind, PROTO_STARTUP_SSL);
    proto_set_u32(buf + 4, PQ_GSSENC_REQUEST_CODE);
    assert_int_equal(proto_startup_parse(buf, 8, &st, &reason), T_OK);
    assert_int_equal(st.kind, PROTO_STARTUP_GSSENC);
    proto_set_u32(buf, 16);
    proto_set_u32(buf + 4, PQ_CANCEL_REQUEST_CODE);
    proto_set_u32(buf + 8, 42);
    proto_set_u32(buf + 12, 0xdeadbeef);
    assert_int_equal(proto_startup_parse(buf, 16, &st, &reason), T_OK);
    assert_int_equal(st.kind, PROTO_STARTUP_CANCEL);
    assert_int_equal(st.cancel_pid, 42);
    assert_int_equal((uint32_t)st.cancel_key, 0xdeadbeef);
    /* startup length limits */
    uint32_t len;
    proto_set_u32(buf, 7);
    assert_int_equal(proto_startup_length(buf, 4, &len, &reason), PROTO_FRAME_BAD);
    proto_set_u32(buf, PQ_MAX_STARTUP_LEN + 1);
    assert_int_equal(proto_startup_length(buf, 4, &len, &reason), PROTO_FRAME_BAD);
    assert_int_equal(proto_startup_length(buf, 3, &len, &reason), PROTO_FRAME_NEED_MORE);
}

static void test_builders(void **state)
{
    struct evbuffer *b = evbuffer_new();
    assert_int_equal(proto_put_error(b, "FATAL", "53300", "too many"), T_OK);
    size_t n = evbuffer_get_length(b);
    uint8_t *m = evbuffer_pullup(b, -1);
    proto_header h;
    const char *reason;
    assert_int_equal(proto_frame_header(m, n, PROTO_FROM_SERVER, 1024, &h, &reason),
                     PROTO_FRAME_OK);
    assert_int_equal(h.total, n);
    proto_error_fields f;
    assert_int_equal(proto_error_parse(m + 5, h.len - 4, &f), T_OK);
    assert_string_equal(f.code, "53300");
    assert_string_equal(f.message, "too many");
    assert_string_equal(f.severity, "FATAL");
    evbuffer_drain(b, n);
    const char *opts[] = {"_pq_.a", "_pq_.b"};
    assert_int_equal(proto_put_negotiate_version(b, 0, opts, 2), T_OK);
    n = evbuffer_get_length(b);
    m = evbuffer_pullup(b, -1);
    assert_int_equal(m[0], 'v');
    assert_int_equal(proto_get_u32(m + 1), n - 1);
    assert_int_equal(proto_get_u32(m + 5), PQ_PROTOCOL_3_0);
    assert_int_equal(proto_get_u32(m + 9), 2);
    assert_memory_equal(m + 13, "_pq_.a\0_pq_.b\0", 14);
    evbuffer_drain(b, n);
    const char *names[] = {"user", "database"}, *values[] = {"u", "d"};
    assert_int_equal(proto_put_startup(b, names, values, 2), T_OK);
    n = evbuffer_get_length(b);
    m = evbuffer_pullup(b, -1);
    proto_startup st;
    assert_int_equal(proto_startup_parse(m, n, &st, &reason), T_OK);
    assert_string_equal(st.user, "u");
    evbuffer_free(b);
}

static void test_users(void **state)
{
    proxy_users *u = NULL;
    char err[T_ERRBUF_SIZE];
    const char *text = "; comment\n# another\n\n"
                       "\"alice\" \"SCRAM-SHA-256$4096:c2FsdA==$x:y\"\n"
                       "  \"bob\"\t\"md5"
                       "0123456789abcdef0123456789abcdef\"\r\n"
                       "\"we\"\"ird\" \"pass \"\"word\"\"\"\n";
    assert_int_equal(proxy_users_parse(text, "u.txt", &u, err, sizeof(err)), T_OK);
    assert_int_equal(u->n, 3);
    assert_int_equal(proxy_users_find(u, "alice")->kind, PROXY_SECRET_SCRAM);
    assert_int_equal(proxy_users_find(u, "bob")->kind, PROXY_SECRET_MD5);
    const proxy_user *w = proxy_users_find(u, "we\"ird");
    assert_non_null(w);
    assert_string_equal(w->secret, "pass \"word\"");
    assert_int_equal(w->kind, PROXY_SECRET_PLAIN);
    assert_null(proxy_users_find(u, "carol"));
    proxy_users_free(u);
    u = NULL;
    assert_int_equal(proxy_users_parse("\"ok\" \"x\"\n\"unterminated\n", "f", &u, err, sizeof(err)),
                     T_ERR);
    assert_string_equal(err, "f:2: expected \"user\" \"secret\"");
    assert_int_equal(proxy_users_parse("\"a\" \"b\" extra\n", "f", &u, err, sizeof(err)), T_ERR);
    assert_null(u);
}

/* Runs a full SCRAM exchange; returns the server's verdict. */
static int scram_exchange_cached(const proxy_scram_keys *keys, const char *client_password,
                                 proxy_scram_cache *cache)
{
    proxy_scram_server srv;
    proxy_scram_client cli;
    memset(&srv, 0, sizeof(srv));
    srv.keys = *keys;
    char m1[SCRAM_MSG_MAX], m2[SCRAM_MSG_MAX], m3[SCRAM_MSG_MAX], m4[SCRAM_MSG_MAX];
    const char *reason = NULL;
    int n = proxy_scram_client_first(&cli, m1, sizeof(m1));
    assert_true(n > 0);
    assert_int_equal(
        proxy_scram_server_first(&srv, (uint8_t *)m1, (size_t)n, m2, sizeof(m2), &reason), T_OK);
    n = proxy_scram_client_final(&cli, client_password, cache, (uint8_t *)m2, strlen(m2), m3,
                                 sizeof(m3), &reason);
    assert_true(n > 0);
    if (proxy_scram_server_final(&srv, (uint8_t *)m3, (size_t)n, m4, sizeof(m4), &reason) != T_OK) {
        assert_string_equal(reason, "password_mismatch");
        return T_ERR;
    }
    assert_int_equal(proxy_scram_client_verify(&cli, (uint8_t *)m4, strlen(m4), &reason), T_OK);
    /* a tampered server signature is caught */
    m4[3] = m4[3] == 'A' ? 'B' : 'A';
    assert_int_equal(proxy_scram_client_verify(&cli, (uint8_t *)m4, strlen(m4), &reason), T_ERR);
    return T_OK;
}

static int scram_exchange(const proxy_scram_keys *keys, const char *client_password)
{
    return scram_exchange_cached(keys, client_password, NULL);
}

static void test_scram(void **state)
{
    proxy_scram_keys keys;
    assert_int_equal(proxy_scram_keys_from_password("s3cret", &keys), T_OK);
    assert_int_equal(scram_exchange(&keys, "s3cret"), T_OK);
    /* the client-side key cache: filled once, then used (the password is not needed) */
    proxy_scram_cache cache;
    memset(&cache, 0, sizeof(cache));
    assert_int_equal(scram_exchange_cached(&keys, "s3cret", &cache), T_OK);
    assert_true(cache.valid);
    assert_int_equal(scram_exchange_cached(&keys, "ignored-when-cached", &cache), T_OK);
    proxy_scram_keys other;
    assert_int_equal(proxy_scram_keys_from_password("s3cret", &other), T_OK); /* new salt */
    assert_int_equal(scram_exchange_cached(&other, "s3cret", &cache), T_OK);
    assert_int_equal(scram_exchange(&keys, "wrong"), T_ERR);
    proxy_scram_mock_keys(&keys);
    assert_int_equal(scram_exchange(&keys, "s3cret"), T_ERR);
    /* A secret as Postgres stores it (password "postgres"). */
    const char *pg = "SCRAM-SHA-256$4096:HlB4QTbxcwMUwmAvzFt3NA==$"
                     "jP6Jb4h9CpRZAEh6sKqNzsewxWCGrmv4WCrn9xoeMuc=:"
                     "b+Y76ScHR95aQpoNp/Mqm0cdqMm5ePlHm61fmM6BJ94=";
    assert_int_equal(proxy_scram_parse_secret(pg, &keys), T_OK);
    assert_int_equal(keys.iterations, 4096);
    assert_int_equal(proxy_scram_parse_secret("SCRAM-SHA-256$x:y$z", &keys), T_ERR);
    assert_int_equal(proxy_scram_parse_secret("SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA", &keys),
                     T_ERR);
    /* malformed client messages */
    proxy_scram_server srv;
    memset(&srv, 0, sizeof(srv));
    proxy_scram_mock_keys(&srv.keys);
    char out[SCRAM_MSG_MAX];
    const char *reason;
    assert_int_equal(proxy_scram_server_first(&srv,
                                              (const uint8_t *)"p=tls-server-end-point,,n=,r=x", 30,
                                              out, sizeof(out), &reason),
                     T_ERR);
    assert_string_equal(reason, "scram_channel_binding_without_plus");
    assert_int_equal(
        proxy_scram_server_first(&srv, (const uint8_t *)"n,,n=", 5, out, sizeof(out), &reason),
        T_ERR);
    assert_int_equal(proxy_scram_server_first(&srv, (const uint8_t *)"n,,n=,r=abc", 11, out,
                                              sizeof(out), &reason),
                     T_OK);
    assert_int_equal(proxy_scram_server_final(&srv, (const uint8_t *)"c=biws,r=other,p=AAAA", 21,
                                              out, sizeof(out), &reason),
                     T_ERR);
    assert_string_equal(reason, "scram_nonce_mismatch");
}

/* SCRAM-SHA-256-PLUS: which gs2 headers pass, and the c= value the proof must carry. */
static void test_scram_channel_binding(void **state)
{
    (void)state;
    char out[SCRAM_MSG_MAX];
    const char *reason = NULL;
    proxy_scram_server srv;
#define FIRST(msg) proxy_scram_server_first(&srv, (const uint8_t *)(msg), strlen(msg), out, sizeof(out), &reason)
    /* on TLS, PLUS offered but the client chose plain SCRAM */
    memset(&srv, 0, sizeof(srv));
    proxy_scram_mock_keys(&srv.keys);
    srv.plus_offered = 1;
    assert_int_equal(FIRST("n,,n=,r=abc"), T_OK); /* client without binding support: fine */
    assert_string_equal(srv.cbind_b64, "biws"); /* base64("n,,") */
    assert_int_equal(FIRST("y,,n=,r=abc"), T_ERR);
    assert_string_equal(reason, "scram_channel_binding_downgrade");
    /* not on TLS: "y" is what a binding-capable client says, and is fine */
    srv.plus_offered = 0;
    assert_int_equal(FIRST("y,,n=,r=abc"), T_OK);
    assert_string_equal(srv.cbind_b64, "eSws");
    /* PLUS selected */
    srv.plus_offered = 1;
    srv.plus_selected = 1;
    srv.cbind_len = 32;
    memset(srv.cbind, 0x11, 32);
    assert_int_equal(FIRST("n,,n=,r=abc"), T_ERR);
    assert_string_equal(reason, "scram_plus_without_channel_binding");
    assert_int_equal(FIRST("p=tls-unique,,n=,r=abc"), T_ERR);
    assert_string_equal(reason, "scram_channel_binding_type_unsupported");
    assert_int_equal(FIRST("p=tls-server-end-point,a=someone,n=,r=abc"), T_ERR); /* authzid */
    assert_int_equal(FIRST("p=tls-server-end-point,,n=,r=abc"), T_OK);
    /* c= must be base64("p=tls-server-end-point,," + the 32 binding bytes) */
    uint8_t expect_raw[24 + 32];
    memcpy(expect_raw, "p=tls-server-end-point,,", 24);
    memset(expect_raw + 24, 0x11, 32);
    char expect[128];
    EVP_EncodeBlock((unsigned char *)expect, expect_raw, sizeof(expect_raw));
    assert_string_equal(srv.cbind_b64, expect);
    char final[SCRAM_MSG_MAX + 32];
    snprintf(final, sizeof(final), "c=biws,r=%s,p=AAAA", srv.nonce);
    assert_int_equal(proxy_scram_server_final(&srv, (const uint8_t *)final, strlen(final), out, sizeof(out),
                                              &reason),
                     T_ERR);
    assert_string_equal(reason, "scram_channel_binding_mismatch"); /* binding stripped by a middlebox */
    /* PLUS without binding data (caller bug) is refused, not silently unbound */
    srv.cbind_len = 0;
    assert_int_equal(FIRST("p=tls-server-end-point,,n=,r=abc"), T_ERR);
#undef FIRST
}

static void test_md5(void **state)
{
    char secret[36], resp[36];
    proxy_md5_secret("pw", "user", secret);
    /* md5("pwuser") */
    assert_string_equal(secret, "md5871c429757b7a0bf1654fad112b77bd4");
    uint8_t salt[4] = {1, 2, 3, 4};
    proxy_md5_response(secret, salt, resp);
    assert_string_equal(resp, "md546eacb7412409e1444bde22e56e70744"); /* md5(hex || salt) */
    char resp2[36];
    proxy_md5_response(secret, salt, resp2);
    assert_true(proxy_secret_equal(resp, resp2));
    salt[0] = 9;
    proxy_md5_response(secret, salt, resp2);
    assert_false(proxy_secret_equal(resp, resp2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_header), cmocka_unit_test(test_startup),
        cmocka_unit_test(test_builders),     cmocka_unit_test(test_users),
        cmocka_unit_test(test_scram),
        cmocka_unit_test(test_scram_channel_binding),
        cmocka_unit_test(test_md5),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
