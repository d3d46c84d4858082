/*
 * proto.c - Postgres v3 message framing, parsing and building (see proto.h).
 * Parsers only read inside the byte range they are given and keep pointers
 * into it; builders append to a caller-owned evbuffer.
 */
#include "proxy/proto.h"

#include "util/common.h"

#include <event2/buffer.h>
#include <string.h>

uint32_t proto_get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

void proto_set_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

bool proto_type_valid(char type, proto_side side)
{
    static const char client_types[] = "BCDEFHPQSXdcfp";
    static const char server_types[] = "123ACDEGHIKNRSTVWZdcnstv";
    if (type == '\0')
        return false;
    return strchr(side == PROTO_FROM_CLIENT ? client_types : server_types, type) != NULL;
}

proto_frame_status proto_frame_header(const uint8_t *buf, size_t avail, proto_side side,
                                      uint32_t max_len, proto_header *out, const char **reason)
{
    if (avail < PQ_MSG_HEADER_LEN)
        return PROTO_FRAME_NEED_MORE;
    char type = (char)buf[0];
    uint32_t len = proto_get_u32(buf + 1);
    if (!proto_type_valid(type, side)) {
        *reason = "unknown_message_type";
        return PROTO_FRAME_BAD;
    }
    if (len < 4) {
        *reason = "bad_message_length";
        return PROTO_FRAME_BAD;
    }
    if (len > max_len) {
        *reason = "message_too_large";
        return PROTO_FRAME_BAD;
    }
    out->type = type;
    out->len = len;
    out->total = (size_t)len + 1;
    return PROTO_FRAME_OK;
}

proto_frame_status proto_startup_length(const uint8_t *buf, size_t avail, uint32_t *len,
                                        const char **reason)
{
    if (avail < 4)
        return PROTO_FRAME_NEED_MORE;
    uint32_t n = proto_get_u32(buf);
    if (n < 8 || n > PQ_MAX_STARTUP_LEN) {
        *reason = "bad_startup_length";
        return PROTO_FRAME_BAD;
    }
    *len = n;
    return PROTO_FRAME_OK;
}

int proto_startup_parse(const uint8_t *pkt, size_t len, proto_startup *out, const char **reason)
{
    memset(out, 0, sizeof(*out));
    if (len < 8 || proto_get_u32(pkt) != len) {
        *reason = "bad_startup_length";
        return T_ERR;
    }
    uint32_t code = proto_get_u32(pkt + 4);
    switch (code) {
    case PQ_SSL_REQUEST_CODE:
    case PQ_GSSENC_REQUEST_CODE:
        if (len != 8) {
            *reason = "bad_startup_length";
            return T_ERR;
        }
        out->kind = code == PQ_SSL_REQUEST_CODE ? PROTO_STARTUP_SSL : PROTO_STARTUP_GSSENC;
        return T_OK;
    case PQ_CANCEL_REQUEST_CODE:
        if (len != PQ_CANCEL_REQUEST_LEN) {
            *reason = "bad_cancel_request";
            return T_ERR;
        }
        out->kind = PROTO_STARTUP_CANCEL;
        out->cancel_pid = (int32_t)proto_get_u32(pkt + 8);
        out->cancel_key = (int32_t)proto_get_u32(pkt + 12);
        return T_OK;
    default:
        break;
    }
    out->kind = PROTO_STARTUP_NORMAL;
    out->version = code;
    if ((code >> 16) != 3) {
        *reason = "unsupported_protocol_version";
        return T_ERR;
    }
    /* name\0value\0 ... \0 */
    size_t pos = 8;
    for (;;) {
        if (pos >= len) {
            *reason = "unterminated_startup_parameters";
            return T_ERR;
        }
        if (pkt[pos] == '\0') {
            if (pos + 1 != len) {
                *reason = "trailing_startup_bytes";
                return T_ERR;
            }
            break;
        }
        const char *name = (const char *)pkt + pos;
        const uint8_t *nul = memchr(pkt + pos, '\0', len - pos);
        if (!nul) {
            *reason = "unterminated_startup_parameters";
            return T_ERR;
        }
        pos = (size_t)(nul - pkt) + 1;
        if (pos >= len) {
            *reason = "unterminated_startup_parameters";
            return T_ERR;
        }
        const char *value = (const char *)pkt + pos;
        nul = memchr(pkt + pos, '\0', len - pos);
        if (!nul) {
            *reason = "unterminated_startup_parameters";
            return T_ERR;
        }
        pos = (size_t)(nul - pkt) + 1;
        if (strncmp(name, "_pq_.", 5) == 0) {
            if (out->nunknown_pq < PROTO_MAX_PARAMS)
                out->unknown_pq[out->nunknown_pq++] = name;
            continue;
        }
        if (out->nparams >= PROTO_MAX_PARAMS) {
            *reason = "too_many_startup_parameters";
            return T_ERR;
        }
        out->names[out->nparams] = name;
        out->values[out->nparams] = value;
        out->nparams++;
        if (strcmp(name, "user") == 0)
            out->user = value;
        else if (strcmp(name, "database") == 0)
            out->database = value;
    }
    if (!out->user || !out->user[0]) {
        *reason = "no_user_in_startup";
        return T_ERR;
    }
    return T_OK;
}

void proto_reader_init(proto_reader *r, const uint8_t *body, size_t len)
{
    r->p = body;
    r->left = len;
    r->bad = false;
}

int32_t proto_read_int32(proto_reader *r)
{
    if (r->bad || r->left < 4) {
        r->bad = true;
        return 0;
    }
    int32_t v = (int32_t)proto_get_u32(r->p);
    r->p += 4;
    r->left -= 4;
    return v;
}

const char *proto_read_cstring(proto_reader *r)
{
    if (r->bad)
        return NULL;
    const uint8_t *nul = r->left ? memchr(r->p, '\0', r->left) : NULL;
    if (!nul) {
        r->bad = true;
        return NULL;
    }
    const char *s = (const char *)r->p;
    size_t n = (size_t)(nul - r->p) + 1;
    r->p += n;
    r->left -= n;
    return s;
}

const uint8_t *proto_read_bytes(proto_reader *r, size_t n)
{
    if (r->bad || r->left < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *b = r->p;
    r->p += n;
    r->left -= n;
    return b;
}

int proto_error_parse(const uint8_t *body, size_t len, proto_error_fields *out)
{
    memset(out, 0, sizeof(*out));
    proto_reader r;
    proto_reader_init(&r, body, len);
    for (;;) {
        const uint8_t *t = proto_read_bytes(&r, 1);
        if (!t)
            return T_ERR;
        if (*t == 0)
            return T_OK;
        const char *v = proto_read_cstring(&r);
        if (!v)
            return T_ERR;
        switch (*t) {
        case 'V':
            out->severity = v;
            break;
        case 'S':
            if (!out->severity)
                out->severity = v;
            break;
        case 'C':
            out->code = v;
            break;
        case 'M':
            out->message = v;
            break;
        default:
            break;
        }
    }
}

/* Appends type byte (0 = none) and a length word covering BODYLEN. */
static int proto_put_header(struct evbuffer *out, char type, size_t bodylen)
{
    uint8_t h[5];
    size_t n = 0;
    if (type)
        h[n++] = (uint8_t)type;
    proto_set_u32(h + n, (uint32_t)(bodylen + 4));
    n += 4;
    return evbuffer_add(out, h, n) == 0 ? T_OK : T_ERR;
}

static int proto_put_u32(struct evbuffer *out, uint32_t v)
{
    uint8_t b[4];
    proto_set_u32(b, v);
    return evbuffer_add(out, b, 4) == 0 ? T_OK : T_ERR;
}

int proto_put_error(struct evbuffer *out, const char *severity, const char *sqlstate,
                    const char *message)
{
    size_t body = 0;
    body += 1 + strlen(severity) + 1; /* S */
    body += 1 + strlen(severity) + 1; /* V */
    body += 1 + strlen(sqlstate) + 1; /* C */
    body += 1 + strlen(message) + 1;  /* M */
    body += 1;
    if (proto_put_header(out, PqMsg_ErrorResponse, body) != T_OK)
        return T_ERR;
    const char *fields[4][2] = {{"S", severity}, {"V", severity}, {"C", sqlstate}, {"M", message}};
    for (size_t i = 0; i < 4; i++) {
        if (evbuffer_add(out, fields[i][0], 1) != 0 ||
            evbuffer_add(out, fields[i][1], strlen(fields[i][1]) + 1) != 0)
            return T_ERR;
    }
    return evbuffer_add(out, "", 1) == 0 ? T_OK : T_ERR;
}

int proto_put_auth(struct evbuffer *out, int32_t code, const void *data, size_t len)
{
    if (proto_put_header(out, PqMsg_AuthenticationRequest, 4 + len) != T_OK ||
        proto_put_u32(out, (uint32_t)code) != T_OK)
        return T_ERR;
    return len == 0 || evbuffer_add(out, data, len) == 0 ? T_OK : T_ERR;
}

int proto_put_backend_key(struct evbuffer *out, int32_t pid, int32_t key)
{
    if (proto_put_header(out, PqMsg_BackendKeyData, 8) != T_OK ||
        proto_put_u32(out, (uint32_t)pid) != T_OK || proto_put_u32(out, (uint32_t)key) != T_OK)
        return T_ERR;
    return T_OK;
}

int proto_put_negotiate_version(struct evbuffer *out, uint32_t newest_minor,
                                const char *const *options, size_t noptions)
{
    size_t body = 8;
    for (size_t i = 0; i < noptions; i++)
        body += strlen(options[i]) + 1;
    if (proto_put_header(out, PqMsg_NegotiateProtocolVersion, body) != T_OK ||
        proto_put_u32(out, (3u << 16) | newest_minor) != T_OK ||
        proto_put_u32(out, (uint32_t)noptions) != T_OK)
        return T_ERR;
    for (size_t i = 0; i < noptions; i++)
        if (evbuffer_add(out, options[i], strlen(options[i]) + 1) != 0)
            return T_ERR;
    return T_OK;
}

int proto_put_startup(struct evbuffer *out, const char *const *names, const char *const *values,
                      size_t n)
{
    size_t body = 4 + 1;
    for (size_t i = 0; i < n; i++)
        body += strlen(names[i]) + 1 + strlen(values[i]) + 1;
    if (proto_put_header(out, 0, body) != T_OK || proto_put_u32(out, PQ_PROTOCOL_3_0) != T_OK)
        return T_ERR;
    for (size_t i = 0; i < n; i++)
        if (evbuffer_add(out, names[i], strlen(names[i]) + 1) != 0 ||
            evbuffer_add(out, values[i], strlen(values[i]) + 1) != 0)
            return T_ERR;
    return evbuffer_add(out, "", 1) == 0 ? T_OK : T_ERR;
}

int proto_put_cancel(struct evbuffer *out, int32_t pid, int32_t key)
{
    if (proto_put_header(out, 0, 12) != T_OK ||
        proto_put_u32(out, PQ_CANCEL_REQUEST_CODE) != T_OK ||
        proto_put_u32(out, (uint32_t)pid) != T_OK || proto_put_u32(out, (uint32_t)key) != T_OK)
        return T_ERR;
    return T_OK;
}

int proto_put_ssl_request(struct evbuffer *out)
{
    if (proto_put_header(out, 0, 4) != T_OK || proto_put_u32(out, PQ_SSL_REQUEST_CODE) != T_OK)
        return T_ERR;
    return T_OK;
}

int proto_put_password(struct evbuffer *out, const void *data, size_t len)
{
    if (proto_put_header(out, PqMsg_PasswordMessage, len) != T_OK)
        return T_ERR;
    return len == 0 || evbuffer_add(out, data, len) == 0 ? T_OK : T_ERR;
}

int proto_put_sasl_initial(struct evbuffer *out, const char *mech, const void *data, size_t len)
{
    size_t ml = strlen(mech) + 1;
    if (proto_put_header(out, PqMsg_PasswordMessage, ml + 4 + len) != T_OK ||
        evbuffer_add(out, mech, ml) != 0 || proto_put_u32(out, (uint32_t)len) != T_OK)
        return T_ERR;
    return len == 0 || evbuffer_add(out, data, len) == 0 ? T_OK : T_ERR;
}
