/*
 * fuzz_proxy_proto.c - libFuzzer target for the proxy's wire-protocol parser
 * (src/proxy/proto.c) and the other parsers fed by untrusted bytes: SCRAM
 * messages from clients and servers, and the users file. The first input
 * byte picks the parser; the rest is the hostile input. Nothing may read
 * outside the input, crash, leak or hit undefined behaviour.
 */
#include "proxy/auth_scram.h"
#include "proxy/auth_users.h"
#include "proxy/proto.h"
#include "util/common.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Frames a stream of messages the way the relay does, header by header. */
static void fuzz_frames(const uint8_t *data, size_t size, proto_side side)
{
    size_t pos = 0;
    while (pos < size) {
        proto_header h;
        const char *reason = NULL;
        proto_frame_status st =
            proto_frame_header(data + pos, size - pos, side, 1 << 20, &h, &reason);
        if (st != PROTO_FRAME_OK)
            return;
        if (h.total > size - pos)
            return;
        const uint8_t *body = data + pos + PQ_MSG_HEADER_LEN;
        size_t blen = h.len - 4;
        if (h.type == PqMsg_ErrorResponse || h.type == PqMsg_NoticeResponse) {
            proto_error_fields f;
            proto_error_parse(body, blen, &f);
        } else {
            proto_reader r;
            proto_reader_init(&r, body, blen);
            while (!r.bad) {
                (void)proto_read_int32(&r);
                (void)proto_read_cstring(&r);
                (void)proto_read_bytes(&r, 3);
            }
        }
        pos += h.total;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 6;
    uint8_t variant = (uint8_t)(data[0] / 6); /* free bits of the selector byte */
    data++;
    size--;
    switch (mode) {
    case 0: {
        uint32_t len = 0;
        const char *reason = NULL;
        if (proto_startup_length(data, size, &len, &reason) == PROTO_FRAME_OK && len <= size) {
            proto_startup st;
            proto_startup_parse(data, len, &st, &reason);
        }
        break;
    }
    case 1:
        fuzz_frames(data, size, PROTO_FROM_CLIENT);
        break;
    case 2:
        fuzz_frames(data, size, PROTO_FROM_SERVER);
        break;
    case 3: {
        /* client-first, then client-final split at the first 0xff byte */
        proxy_scram_server s;
        memset(&s, 0, sizeof(s));
        proxy_scram_mock_keys(&s.keys);
        s.keys.iterations = 1;
        /* the selector byte's free bits pick the channel-binding situation */
        s.plus_offered = variant & 1;
        s.plus_selected = s.plus_offered && (variant & 2);
        s.cbind_len = s.plus_selected ? 32 : 0;
        memset(s.cbind, 0xab, s.cbind_len);
        const uint8_t *cut = memchr(data, 0xff, size);
        size_t first = cut ? (size_t)(cut - data) : size;
        char out[SCRAM_MSG_MAX];
        const char *reason = NULL;
        if (proxy_scram_server_first(&s, data, first, out, sizeof(out), &reason) == T_OK && cut)
            proxy_scram_server_final(&s, cut + 1, size - first - 1, out, sizeof(out), &reason);
        break;
    }
    case 4: {
        proxy_scram_client c;
        char out[SCRAM_MSG_MAX];
        const char *reason = NULL;
        proxy_scram_client_first(&c, out, sizeof(out));
        /* a server nonce must extend ours: splice ours in when asked */
        char msg[SCRAM_MSG_MAX];
        int n = snprintf(msg, sizeof(msg), "r=%s%.*s", c.client_first_bare + 5,
                         (int)(size < 200 ? size : 200), (const char *)data);
        if (n > 0 && memchr(data, 'i', size)) {
            /* keep PBKDF2 cheap: only run it when the iteration count is small */
            const char *it = strstr(msg, ",i=");
            if (!it || atoi(it + 3) > 64)
                break;
        }
        if (n > 0)
            proxy_scram_client_final(&c, "pw", NULL, (const uint8_t *)msg, strlen(msg), out,
                                     sizeof(out), &reason);
        proxy_scram_client_verify(&c, data, size, &reason);
        break;
    }
    case 5: {
        char *text = malloc(size + 1);
        if (!text)
            return 0;
        memcpy(text, data, size);
        text[size] = '\0';
        proxy_users *u = NULL;
        char err[T_ERRBUF_SIZE];
        if (proxy_users_parse(text, "fuzz", &u, err, sizeof(err)) == T_OK) {
            for (size_t i = 0; i < u->n; i++) {
                proxy_scram_keys k;
                proxy_scram_parse_secret(u->items[i].secret, &k);
            }
            proxy_users_free(u);
        }
        free(text);
        break;
    }
    }
    return 0;
}
