/*
 * http_server.c - see http_server.h. One libmicrohttpd daemon with its
 * internal polling thread; each request's body is collected into a heap
 * buffer attached to the connection and freed when the request completes.
 */
#include "http/http_server.h"
#include "util/common.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct http_server {
    struct MHD_Daemon *daemon;
    http_server_handler handler;
    void *ud;
};

typedef struct body_buf {
    char *data;
    size_t len;
    int too_big;
} body_buf;

int http_parse_listen(const char *listen, char *host, size_t hlen, int *port)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (!colon || (size_t)(colon - listen) >= hlen)
        return T_ERR;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535 || colon[1] == '\0')
        return T_ERR;
    if (!host[0])
        snprintf(host, hlen, "127.0.0.1");
    *port = (int)p;
    return T_OK;
}

static enum MHD_Result respond(struct MHD_Connection *conn, int status, const char *ctype,
                               char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(body ? strlen(body) : 0,
                                                             body ? body : (char *)"",
                                                             body ? MHD_RESPMEM_MUST_FREE
                                                                  : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype ? ctype : "text/plain");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    http_server *s = cls;
    body_buf *b = *con_cls;
    if (!b) {
        b = calloc(1, sizeof(*b));
        if (!b)
            return MHD_NO;
        *con_cls = b;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (b->len + *upload_size > HTTP_SERVER_MAX_BODY) {
            b->too_big = 1;
        } else {
            char *p = realloc(b->data, b->len + *upload_size + 1);
            if (!p)
                return MHD_NO;
            memcpy(p + b->len, upload_data, *upload_size);
            b->data = p;
            b->len += *upload_size;
            b->data[b->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (b->too_big)
        return respond(conn, 413, "text/plain", strdup("request body too large\n"));
    http_server_request req = {method, url, b->data ? b->data : "", b->len, conn};
    http_server_response resp = {404, "text/plain", NULL};
    s->handler(s->ud, &req, &resp);
    return respond(conn, resp.status, resp.content_type, resp.body);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    body_buf *b = *con_cls;
    if (b) {
        free(b->data);
        free(b);
    }
    *con_cls = NULL;
}

const char *http_server_header(const http_server_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

http_server *http_server_start(const char *listen, http_server_handler handler, void *ud,
                               int *bound_port, char *err, size_t errlen)
{
    char host[256];
    int port;
    if (http_parse_listen(listen, host, sizeof(host), &port) != T_OK) {
        snprintf(err, errlen, "bad listen address '%s' (want HOST:PORT)", listen ? listen : "");
        return NULL;
    }
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &addr.sin_addr) != 1) {
        snprintf(err, errlen, "bad listen host '%s' (want an IPv4 address)", host);
        return NULL;
    }
    http_server *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->handler = handler;
    s->ud = ud;
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                                 (uint16_t)port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED,
                                 on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                                 MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, errlen, "cannot listen on %s", listen);
        free(s);
        return NULL;
    }
    if (bound_port) {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
        *bound_port = info ? info->port : port;
    }
    return s;
}

void http_server_stop(http_server *s)
{
    if (!s)
        return;
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    free(s);
}
