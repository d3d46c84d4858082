/*
 * emu_http.c - libmicrohttpd glue for the emulators (see emu_http.h).
 * Memory: the per-connection body buffer is owned here and freed when the
 * request completes; response bodies are taken over from the handler.
 */
#include "emulators/common/emu_http.h"

#include "emulators/common/emu_form.h"
#include "util/common.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct emu_http_server {
    struct MHD_Daemon *daemon;
    emu_http_handler handler;
    void *ctx;
    int port;
};

typedef struct emu_http_conn {
    char *buf;
    size_t len, cap;
    int too_big;
} emu_http_conn;

typedef struct emu_http_trunc {
    char *body;
    size_t send; /* bytes actually sent before the error */
} emu_http_trunc;

static ssize_t emu_http_trunc_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    emu_http_trunc *t = cls;
    if (pos >= t->send)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = t->send - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(buf, t->body + pos, n);
    return (ssize_t)n;
}

static void emu_http_trunc_free(void *cls)
{
    emu_http_trunc *t = cls;
    free(t->body);
    free(t);
}

static enum MHD_Result emu_http_send(struct MHD_Connection *conn, emu_http_response *r)
{
    struct MHD_Response *resp;
    if (r->fault == EMU_HTTP_FAULT_DROP) {
        free(r->body);
        return MHD_NO;
    }
    if (!r->body) {
        r->body = strdup("");
        r->body_len = 0;
    }
    if (r->fault == EMU_HTTP_FAULT_TRUNCATE && r->body_len > 1) {
        emu_http_trunc *t = malloc(sizeof *t);
        if (!t) {
            free(r->body);
            return MHD_NO;
        }
        t->body = r->body;
        t->send = r->body_len / 2;
        resp = MHD_create_response_from_callback(r->body_len, 64 * 1024, emu_http_trunc_reader, t,
                                                 emu_http_trunc_free);
    } else {
        resp = MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
    }
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", r->content_type ? r->content_type : "application/json");
    for (int i = 0; i < r->n_headers; i++)
        MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result emu_http_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                       const char *version, const char *upload_data, size_t *upload_size,
                                       void **con_cls)
{
    emu_http_server *srv = cls;
    emu_http_conn *c = *con_cls;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c)
            return MHD_NO;
        *con_cls = c;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!c->too_big && c->len + *upload_size <= EMU_HTTP_MAX_BODY) {
            if (c->len + *upload_size + 1 > c->cap) {
                size_t ncap = (c->len + *upload_size + 1) * 2;
                char *nb = realloc(c->buf, ncap);
                if (!nb)
                    return MHD_NO;
                c->buf = nb;
                c->cap = ncap;
            }
            memcpy(c->buf + c->len, upload_data, *upload_size);
            c->len += *upload_size;
        } else {
            c->too_big = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    emu_http_response r;
    memset(&r, 0, sizeof r);
    if (c->too_big) {
        r.status = 413;
        r.body = strdup("{\"error\":{\"type\":\"invalid_request_error\",\"message\":\"Request body too large.\"}}");
        r.body_len = strlen(r.body);
        return emu_http_send(conn, &r);
    }
    emu_http_request req = {
        .method = method,
        .path = url,
        .body = c->buf ? c->buf : "",
        .body_len = c->len,
        .conn = conn,
    };
    if (c->buf)
        c->buf[c->len] = '\0';
    srv->handler(srv->ctx, &req, &r);
    return emu_http_send(conn, &r);
}

static void emu_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                               enum MHD_RequestTerminationCode toe)
{
    emu_http_conn *c = *con_cls;
    if (c) {
        free(c->buf);
        free(c);
        *con_cls = NULL;
    }
}

static void emu_http_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n'))
        buf[--n] = '\0';
    log_debug("emulator.http", "msg=\"%s\"", buf);
}

emu_http_server *emu_http_start(const char *host, int port, emu_http_handler handler, void *ctx, char *err,
                                size_t errlen)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        snprintf(err, errlen, "bad listen address '%s' (an IPv4 address is expected)", host);
        return NULL;
    }
    emu_http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->handler = handler;
    srv->ctx = ctx;
    srv->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                       MHD_USE_ERROR_LOG | MHD_USE_POLL,
                                   (uint16_t)port, NULL, NULL, emu_http_access, srv, MHD_OPTION_SOCK_ADDR,
                                   (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, emu_http_completed, srv,
                                   MHD_OPTION_EXTERNAL_LOGGER, emu_http_log, srv, MHD_OPTION_CONNECTION_TIMEOUT,
                                   (unsigned)120, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000, MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(err, errlen, "cannot listen on %s:%d (address in use?)", host, port);
        free(srv);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : port;
    return srv;
}

int emu_http_port(const emu_http_server *srv)
{
    return srv->port;
}

void emu_http_stop(emu_http_server *srv)
{
    if (!srv)
        return;
    MHD_stop_daemon(srv->daemon);
    free(srv);
}

const char *emu_http_header(const emu_http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

typedef struct emu_http_qctx {
    json_t *root;
    char *err;
    size_t errlen;
    int failed;
    int count;
} emu_http_qctx;

static enum MHD_Result emu_http_query_one(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    emu_http_qctx *q = cls;
    if (++q->count > EMU_FORM_MAX_PARAMS) {
        snprintf(q->err, q->errlen, "Too many parameters.");
        q->failed = 1;
        return MHD_NO;
    }
    if (emu_form_add(q->root, key, value ? value : "", q->err, q->errlen) != T_OK) {
        q->failed = 1;
        return MHD_NO;
    }
    return MHD_YES;
}

int emu_http_query(const emu_http_request *req, json_t *root, char *err, size_t errlen)
{
    emu_http_qctx q = {.root = root, .err = err, .errlen = errlen};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, emu_http_query_one, &q);
    return q.failed ? T_ERR : T_OK;
}

void emu_http_add_header(emu_http_response *resp, const char *name, const char *value)
{
    if (resp->n_headers >= EMU_HTTP_MAX_HEADERS)
        return;
    snprintf(resp->headers[resp->n_headers].name, sizeof resp->headers[0].name, "%s", name);
    snprintf(resp->headers[resp->n_headers].value, sizeof resp->headers[0].value, "%s", value);
    resp->n_headers++;
}

int emu_http_parse_listen(const char *listen, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= hostlen)
        return T_ERR;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535)
        return T_ERR;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    *port = (int)p;
    return T_OK;
}
