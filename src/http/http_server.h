/*
 * http_server.h - a small HTTP/1.1 server over libmicrohttpd for the webhook
 * receiver and /status, /metrics. Requests are served on libmicrohttpd's own
 * thread; the handler must be thread-safe with respect to its user data.
 *
 * Memory: the server owns its daemon; a request's body is buffered by the
 * server and freed after the handler returns; the handler fills a response
 * whose body it malloc()s (the server frees it).
 */
#ifndef TETHER_HTTP_HTTP_SERVER_H
#define TETHER_HTTP_HTTP_SERVER_H

#include <stddef.h>

#define HTTP_SERVER_MAX_BODY (1024 * 1024)

typedef struct http_server_request {
    const char *method;
    const char *path;
    const char *body; /* NUL-terminated, may be "" */
    size_t body_len;
    void *conn;       /* private: for http_server_header() */
} http_server_request;

typedef struct http_server_response {
    int status;
    const char *content_type;
    char *body;       /* malloc()ed by the handler, freed by the server */
} http_server_response;

typedef void (*http_server_handler)(void *ud, const http_server_request *req,
                                    http_server_response *resp);

typedef struct http_server http_server;

/*
 * Listens on LISTEN ("HOST:PORT", port 0 = any free port) and serves with
 * HANDLER(UD, ...). Returns NULL with ERR on failure. *BOUND_PORT gets the
 * port actually bound (may be NULL).
 */
http_server *http_server_start(const char *listen, http_server_handler handler, void *ud,
                               int *bound_port, char *err, size_t errlen);

/* Stops serving and frees the server (NULL is fine). */
void http_server_stop(http_server *s);

/* A request header (case-insensitive name), or NULL. Valid during the handler. */
const char *http_server_header(const http_server_request *req, const char *name);

/* Splits "HOST:PORT" into HOST (size HLEN) and *PORT. Returns T_OK or T_ERR. */
int http_parse_listen(const char *listen, char *host, size_t hlen, int *port);

#endif
