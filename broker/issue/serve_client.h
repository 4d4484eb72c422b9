/* Client side of the broker daemon protocol (serve_proto.h). */
#ifndef KB_SERVE_CLIENT_H
#define KB_SERVE_CLIENT_H

#include <stdbool.h>

#include <jansson.h>

#include "core/buf.h"
#include "serve_proto.h"

struct kb_config;

/* The daemon socket to use: explicit_path, else none with no_daemon, else
 * BROKER_SOCKET (config serve.socket from the environment), else the
 * configured serve.socket when a socket exists there; NULL: in-process. */
const char *kb_serve_socket_for(const struct kb_config *cfg, const char *explicit_path, bool no_daemon);

/* One request and its answer.  The raw answer is appended to reply (give
 * a secure buffer when it may hold a credential); *ret is the parsed
 * object (the caller decrefs).  Errors: KB_ERR_NETWORK when the daemon is
 * not there, framing and parse errors otherwise. */
int kb_serve_call(const char *path, const struct kb_serve_request *rq, struct kb_buf *reply, json_t **ret);

#endif
