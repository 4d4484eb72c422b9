/* The broker daemon's protocol (documented in broker(1), PROTOCOL):
 * each message is a big-endian uint32 length followed by that many bytes
 * of JSON.  One request and one response per frame; a client may send
 * several requests on one connection.
 *
 * Requests:  {"op":"ping"}
 *            {"op":"ca","ca":"user"|"host"}
 *            {"op":"issue","role":R,"principals":[..],"ttl":"30m",
 *             "key_type":"ed25519","name":ID,"host":H}
 * The requester is never part of a request: the daemon takes it from the
 * socket (SO_PEERCRED) and refuses requests that try to name one.
 * Responses: {"ok":true,...} or {"ok":false,"error":CODE,"exit":N,
 *            "message":TEXT}. */
#ifndef KB_SERVE_PROTO_H
#define KB_SERVE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "policy.h"

#define KB_SERVE_REQUEST_MAX (16u * 1024u)
#define KB_SERVE_RESPONSE_MAX (256u * 1024u)
#define KB_SERVE_MAX_PRINCIPALS 64

enum kb_serve_op { KB_SERVE_OP_PING = 1, KB_SERVE_OP_CA, KB_SERVE_OP_ISSUE };

struct kb_serve_request {
	enum kb_serve_op op;
	char *role;
	char **principals;
	size_t nprincipals;
	int64_t ttl;
	char *key_type;
	char *name;
	char *host;
	bool host_ca;
};

/* Parses one request body.  KB_ERR_INVALID (detail says why) for anything
 * malformed, unknown fields, or a claimed identity. */
int kb_serve_parse_request(const uint8_t *body, size_t len, struct kb_serve_request *ret);
void kb_serve_request_done(struct kb_serve_request *r);
/* Encodes a request (client side) as a JSON body into out. */
int kb_serve_encode_request(const struct kb_serve_request *req, struct kb_buf *out);

/* Frames.  read: KB_ERR_TOO_LARGE when the announced length exceeds max
 * (nothing allocated), KB_ERR_TRUNCATED on early EOF. */
int kb_serve_read_frame(int fd, size_t max, struct kb_buf *out);
int kb_serve_write_frame(int fd, const void *body, size_t len);

#endif
