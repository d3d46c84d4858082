/*
 * proto.h - the Postgres v3 wire protocol as the proxy needs it: message type
 * constants, framing (validating a message header before anything is
 * buffered), parsing of startup packets and of the few message bodies the
 * proxy reads, and building the messages the proxy itself sends.
 *
 * This is the parser the fuzzer (fuzz/fuzz_proxy_proto.c) exercises: every
 * function here takes a byte range and never reads outside it. Nothing here
 * allocates except through the evbuffer the caller passes to a builder; parsed
 * results point into the caller's bytes and live as long as they do.
 */
#ifndef TETHER_PROXY_PROTO_H
#define TETHER_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* Frontend (client -> server) message types. */
#define PqMsg_Bind 'B'
#define PqMsg_Close 'C'
#define PqMsg_Describe 'D'
#define PqMsg_Execute 'E'
#define PqMsg_FunctionCall 'F'
#define PqMsg_Flush 'H'
#define PqMsg_Parse 'P'
#define PqMsg_Query 'Q'
#define PqMsg_Sync 'S'
#define PqMsg_Terminate 'X'
#define PqMsg_CopyFail 'f'
#define PqMsg_PasswordMessage 'p' /* also SASLInitialResponse, SASLResponse, GSSResponse */

/* Backend (server -> client) message types. */
#define PqMsg_ParseComplete '1'
#define PqMsg_BindComplete '2'
#define PqMsg_CloseComplete '3'
#define PqMsg_NotificationResponse 'A'
#define PqMsg_CommandComplete 'C'
#define PqMsg_DataRow 'D'
#define PqMsg_ErrorResponse 'E'
#define PqMsg_CopyInResponse 'G'
#define PqMsg_CopyOutResponse 'H'
#define PqMsg_EmptyQueryResponse 'I'
#define PqMsg_BackendKeyData 'K'
#define PqMsg_NoticeResponse 'N'
#define PqMsg_AuthenticationRequest 'R'
#define PqMsg_ParameterStatus 'S'
#define PqMsg_RowDescription 'T'
#define PqMsg_FunctionCallResponse 'V'
#define PqMsg_CopyBothResponse 'W'
#define PqMsg_ReadyForQuery 'Z'
#define PqMsg_NoData 'n'
#define PqMsg_PortalSuspended 's'
#define PqMsg_ParameterDescription 't'
#define PqMsg_NegotiateProtocolVersion 'v'

/* Both directions. */
#define PqMsg_CopyData 'd'
#define PqMsg_CopyDone 'c'

/* Authentication request codes (the Int32 after 'R'). */
#define PQ_AUTH_OK 0
#define PQ_AUTH_CLEARTEXT 3
#define PQ_AUTH_MD5 5
#define PQ_AUTH_GSS 7
#define PQ_AUTH_SSPI 9
#define PQ_AUTH_SASL 10
#define PQ_AUTH_SASL_CONTINUE 11
#define PQ_AUTH_SASL_FINAL 12

/* Startup packet codes. */
#define PQ_PROTOCOL_3_0 196608 /* 3 << 16 */
#define PQ_CANCEL_REQUEST_CODE 80877102
#define PQ_SSL_REQUEST_CODE 80877103
#define PQ_GSSENC_REQUEST_CODE 80877104
#define PQ_CANCEL_REQUEST_LEN 16
#define PQ_MAX_STARTUP_LEN 10000 /* Postgres's MAX_STARTUP_PACKET_LENGTH */
#define PQ_MSG_HEADER_LEN 5      /* type byte + Int32 length */
#define PQ_MAX_SERVER_MSG_LEN 0x7fffffffu /* a length word is a signed Int32 */

/* Most startup parameters kept from one startup packet. */
#define PROTO_MAX_PARAMS 32

/* Result of framing: a complete header, not enough bytes yet, or an error. */
typedef enum proto_frame_status {
    PROTO_FRAME_OK = 0,
    PROTO_FRAME_NEED_MORE = 1,
    PROTO_FRAME_BAD = -1,
} proto_frame_status;

typedef enum proto_side {
    PROTO_FROM_CLIENT = 0,
    PROTO_FROM_SERVER = 1,
} proto_side;

/* One regular message's header: type and total size on the wire. */
typedef struct proto_header {
    char type;
    uint32_t len; /* the length field: body + 4 */
    size_t total; /* bytes on the wire: len + 1 */
} proto_header;

/*
 * Validates the header at BUF (AVAIL bytes available) sent by SIDE: type must
 * be one the protocol defines for that direction, length at least 4 and at
 * most MAX_LEN. Returns PROTO_FRAME_NEED_MORE if fewer than 5 bytes are
 * available, PROTO_FRAME_BAD with a static reason in *REASON otherwise-failing.
 */
proto_frame_status proto_frame_header(const uint8_t *buf, size_t avail, proto_side side,
                                      uint32_t max_len, proto_header *out, const char **reason);

/* True when TYPE is a message type the protocol defines for SIDE. */
bool proto_type_valid(char type, proto_side side);

typedef enum proto_startup_kind {
    PROTO_STARTUP_NORMAL = 0,
    PROTO_STARTUP_SSL,
    PROTO_STARTUP_GSSENC,
    PROTO_STARTUP_CANCEL,
} proto_startup_kind;

/* A parsed startup packet; name/value pointers point into the packet. */
typedef struct proto_startup {
    proto_startup_kind kind;
    uint32_t version; /* PROTO_STARTUP_NORMAL: major<<16 | minor */
    const char *names[PROTO_MAX_PARAMS];
    const char *values[PROTO_MAX_PARAMS];
    size_t nparams;
    const char *user, *database;              /* NULL when absent */
    const char *unknown_pq[PROTO_MAX_PARAMS]; /* "_pq_.*" options, to refuse */
    size_t nunknown_pq;
    int32_t cancel_pid, cancel_key; /* PROTO_STARTUP_CANCEL */
} proto_startup;

/*
 * Reads the Int32 length that starts a startup packet in BUF (AVAIL bytes).
 * Returns PROTO_FRAME_NEED_MORE under 4 bytes, PROTO_FRAME_BAD (with REASON)
 * when the length is below 8 or above PQ_MAX_STARTUP_LEN, else OK and *LEN.
 */
proto_frame_status proto_startup_length(const uint8_t *buf, size_t avail, uint32_t *len,
                                        const char **reason);

/*
 * Parses the complete startup packet PKT of LEN bytes (length word included).
 * Parameter strings must be NUL-terminated inside the packet and the list must
 * end with an empty name. Returns T_OK or T_ERR with a static REASON.
 */
int proto_startup_parse(const uint8_t *pkt, size_t len, proto_startup *out, const char **reason);

/* A cursor over one message body for reading fields safely. */
typedef struct proto_reader {
    const uint8_t *p;
    size_t left;
    bool bad; /* set on any overrun; every later read fails too */
} proto_reader;

void proto_reader_init(proto_reader *r, const uint8_t *body, size_t len);
int32_t proto_read_int32(proto_reader *r);
/* Returns a NUL-terminated string inside the body, or NULL (and bad) if none. */
const char *proto_read_cstring(proto_reader *r);
/* Returns N raw bytes inside the body, or NULL (and bad). */
const uint8_t *proto_read_bytes(proto_reader *r, size_t n);

/*
 * Error and notice fields (ErrorResponse/NoticeResponse). Parsed from a body;
 * only the fields the proxy logs are kept, pointing into the body.
 */
typedef struct proto_error_fields {
    const char *severity, *code, *message;
} proto_error_fields;

int proto_error_parse(const uint8_t *body, size_t len, proto_error_fields *out);

/* Builders: append one complete message to OUT. Return T_OK or T_ERR (OOM). */
int proto_put_error(struct evbuffer *out, const char *severity, const char *sqlstate,
                    const char *message);
int proto_put_auth(struct evbuffer *out, int32_t code, const void *data, size_t len);
int proto_put_backend_key(struct evbuffer *out, int32_t pid, int32_t key);
int proto_put_negotiate_version(struct evbuffer *out, uint32_t newest_minor,
                                const char *const *options, size_t noptions);
int proto_put_startup(struct evbuffer *out, const char *const *names, const char *const *values,
                      size_t n);
int proto_put_cancel(struct evbuffer *out, int32_t pid, int32_t key);
int proto_put_ssl_request(struct evbuffer *out);
/* 'p' message carrying DATA (used for passwords and SASL responses). */
int proto_put_password(struct evbuffer *out, const void *data, size_t len);
/* SASLInitialResponse: mechanism name, Int32 length, data. */
int proto_put_sasl_initial(struct evbuffer *out, const char *mech, const void *data, size_t len);

uint32_t proto_get_u32(const uint8_t *p);
void proto_set_u32(uint8_t *p, uint32_t v);

#endif
