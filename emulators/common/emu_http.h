/*
 * emu_http.h - the small HTTP/1.1 server the emulators share, on top of
 * libmicrohttpd (one thread per connection, so injected latency in one
 * request never stalls another).
 *
 * The server buffers each request body (at most EMU_HTTP_MAX_BODY bytes; more
 * is answered 413) and calls the handler once with the whole request. The
 * handler fills an emu_http_response; its body is malloc'd and handed over to
 * the server, which frees it. A response may ask for a fault: the connection
 * dropped without an answer, or the body cut short.
 */
#ifndef TETHER_EMU_HTTP_H
#define TETHER_EMU_HTTP_H

#include <jansson.h>
#include <stddef.h>

#define EMU_HTTP_MAX_BODY (1024 * 1024)
#define EMU_HTTP_MAX_HEADERS 6

struct MHD_Connection;

typedef struct emu_http_request {
    const char *method;
    const char *path; /* without the query string */
    const char *body; /* NUL-terminated, body_len bytes */
    size_t body_len;
    struct MHD_Connection *conn;
} emu_http_request;

typedef enum emu_http_fault {
    EMU_HTTP_FAULT_NONE = 0,
    EMU_HTTP_FAULT_DROP,     /* close the connection without a response */
    EMU_HTTP_FAULT_TRUNCATE, /* announce the full length, send half, close */
} emu_http_fault;

typedef struct emu_http_response {
    int status;
    char *body; /* malloc'd; the server frees it */
    size_t body_len;
    const char *content_type; /* static; NULL means application/json */
    struct {
        char name[48];
        char value[160];
    } headers[EMU_HTTP_MAX_HEADERS];
    int n_headers;
    emu_http_fault fault;
} emu_http_response;

typedef void (*emu_http_handler)(void *ctx, const emu_http_request *req, emu_http_response *resp);

typedef struct emu_http_server emu_http_server;

/*
 * Starts serving HOST:PORT (PORT 0 picks a free port; see emu_http_port).
 * HANDLER is called from server threads, concurrently: it must lock what it
 * shares. Returns NULL and fills ERR on failure. Stop with emu_http_stop().
 */
emu_http_server *emu_http_start(const char *host, int port, emu_http_handler handler, void *ctx, char *err,
                                size_t errlen);

/* The port actually bound. */
int emu_http_port(const emu_http_server *srv);

/* Stops the server, waits for its threads, frees it. NULL is a no-op. */
void emu_http_stop(emu_http_server *srv);

/* Value of request header NAME (case-insensitive) or NULL. Borrowed. */
const char *emu_http_header(const emu_http_request *req, const char *name);

/*
 * Adds the query-string arguments of REQ to ROOT with emu_form_add (so
 * `expand[]=a` nests as in bodies). Returns T_OK or T_ERR with ERR filled.
 */
int emu_http_query(const emu_http_request *req, json_t *root, char *err, size_t errlen);

/* Adds a response header (silently ignored past EMU_HTTP_MAX_HEADERS). */
void emu_http_add_header(emu_http_response *resp, const char *name, const char *value);

/* Splits "HOST:PORT" into HOST (HOSTLEN bytes) and *PORT. T_OK or T_ERR. */
int emu_http_parse_listen(const char *listen, char *host, size_t hostlen, int *port);

#endif
