/* Helpers shared by the agent's unit test and fuzz target: a handler
 * context with a fake clock, and builders for real protocol messages. */
#ifndef AGENT_TEST_UTIL_H
#define AGENT_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "agent/proto.h"
#include "core/buf.h"
#include "core/mem.h"
#include "handler.h"
#include "keystore.h"
#include "ssh/key.h"

static int64_t att_mono_ms = 1000000;
static int64_t att_real = 1800000000;
static bool att_confirm_answer;
static int att_confirm_calls;

static inline int64_t att_clock_mono(void) { return att_mono_ms; }
static inline int64_t att_clock_real(void) { return att_real; }
static inline bool att_confirm(void *arg, const char *prompt)
{
	(void)arg;
	(void)prompt;
	att_confirm_calls++;
	return att_confirm_answer;
}

static inline void att_ctx_init(struct kb_agent_ctx *ctx, struct kb_agent_keystore *ks)
{
	kb_agent_keystore_init(ks);
	kb_agent_ctx_init(ctx, ks);
	ctx->now_mono_ms = att_clock_mono;
	ctx->now_real = att_clock_real;
	ctx->confirm = att_confirm;
}

/* ADD_IDENTITY / ADD_ID_CONSTRAINED as ssh-add builds it. */
static inline int att_add_msg(struct kb_buf *m, const struct kb_key *k, const char *comment, uint32_t life,
			      bool confirm)
{
	int r;
	bool cons = life != 0 || confirm;
	if ((r = kb_buf_put_u8(m, cons ? KB_AGENTC_ADD_ID_CONSTRAINED : KB_AGENTC_ADD_IDENTITY)) != 0 ||
	    (r = kb_key_private_serialize(k, m)) != 0 || (r = kb_buf_put_cstring(m, comment)) != 0)
		return r;
	if (life && ((r = kb_buf_put_u8(m, KB_AGENT_CONSTRAIN_LIFETIME)) != 0 || (r = kb_buf_put_u32(m, life)) != 0))
		return r;
	if (confirm && (r = kb_buf_put_u8(m, KB_AGENT_CONSTRAIN_CONFIRM)) != 0)
		return r;
	return 0;
}

static inline int att_put_blob(struct kb_buf *m, const struct kb_key *k)
{
	struct kb_buf b;
	kb_buf_init(&b, KB_KEY_BLOB_MAX);
	int r = kb_key_public_blob(k, &b);
	if (r == 0)
		r = kb_buf_put_stringb(m, &b);
	kb_buf_done(&b);
	return r;
}

static inline int att_sign_msg(struct kb_buf *m, const struct kb_key *k, const uint8_t *data, size_t len,
			       uint32_t flags)
{
	int r;
	if ((r = kb_buf_put_u8(m, KB_AGENTC_SIGN_REQUEST)) != 0 || (r = att_put_blob(m, k)) != 0 ||
	    (r = kb_buf_put_string(m, data, len)) != 0)
		return r;
	return kb_buf_put_u32(m, flags);
}

/* Runs one message through the handler; returns the reply type or -1. */
static inline int att_call(struct kb_agent_ctx *ctx, struct kb_agent_conn *conn, const struct kb_buf *m,
			   struct kb_buf *reply)
{
	kb_buf_reset(reply);
	if (kb_agent_handle(ctx, conn, kb_buf_ptr(m), kb_buf_remaining(m), reply) != 0)
		return -1;
	uint8_t t;
	return kb_buf_get_u8(reply, &t) == 0 ? t : -1;
}

#endif
