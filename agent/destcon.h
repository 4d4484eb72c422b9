/* Destination-restricted keys (OpenSSH 8.9+): the
 * restrict-destination-v00@openssh.com key constraint and the
 * session-bind@openssh.com extension, with the same rules as OpenSSH's
 * ssh-agent (PROTOCOL.agent sections 1 and 2). */
#ifndef KB_AGENT_DESTCON_H
#define KB_AGENT_DESTCON_H

#include <stddef.h>
#include <stdint.h>

#include "handler.h"

/* Parses the constraint's data (one string holding the constraints). */
int kb_agent_parse_destcons(struct kb_buf *m, struct kb_agent_destcon **ret, size_t *ret_n);

/* 0 when the identity may be seen/used on this connection (user is the
 * target user of a signature request, or NULL for listing/removal). */
int kb_agent_identity_permitted(struct kb_agent_ctx *ctx, const struct kb_agent_identity *id,
				const struct kb_agent_conn *conn, const char *user);

/* For a sign request with a destination-constrained key: the data must be
 * a userauth request bound to this connection's latest session.  On
 * success *ret_dest describes the destination (for the confirm prompt). */
int kb_agent_check_sign_destination(struct kb_agent_ctx *ctx, const struct kb_agent_identity *id,
				    const struct kb_agent_conn *conn, const uint8_t *data, size_t len,
				    char **ret_dest);

/* Handles the body of a session-bind@openssh.com extension. */
int kb_agent_session_bind(struct kb_agent_ctx *ctx, struct kb_agent_conn *conn, struct kb_buf *m);

#endif
