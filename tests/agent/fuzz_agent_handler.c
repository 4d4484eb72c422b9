/* Fuzz target 'agent_handler': the input is a stream of framed agent
 * messages (uint32 length + body, as on the socket) run through the pure
 * handler on one connection, with two real keys loaded first so that sign,
 * remove and constraint paths are reachable. */
#include <stdint.h>
#include <stdlib.h>

#include "agent_test_util.h"

static struct kb_agent_keystore ks;
static struct kb_agent_ctx ctx;
static struct kb_buf preload[2];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct kb_key *k = NULL;
	/* Fixed seeds would be nicer for reproducibility; the corpus carries
	 * its own keys in add messages anyway. */
	if (kb_init() != 0)
		abort();
	att_ctx_init(&ctx, &ks);
	for (int i = 0; i < 2; i++) {
		kb_buf_init_secure(&preload[i], KB_AGENT_MAX_MSG);
		if (kb_key_generate(i ? KB_KEY_ECDSA_P256 : KB_KEY_ED25519, 0, &k) != 0 ||
		    att_add_msg(&preload[i], k, "preload", i ? 0 : 60, i == 0) != 0)
			abort();
		kb_key_free(k);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kb_agent_conn conn;
	struct kb_buf in, reply;

	kb_agent_conn_init(&conn, 1);
	kb_buf_init(&reply, 64u * 1024u * 1024u);
	for (int i = 0; i < 2; i++)
		kb_agent_handle(&ctx, &conn, kb_buf_ptr(&preload[i]), kb_buf_remaining(&preload[i]), &reply);
	kb_buf_init_ro(&in, data, size);
	while (kb_buf_remaining(&in) >= 4) {
		uint32_t len;
		const uint8_t *msg;
		kb_buf_get_u32(&in, &len);
		if (len > kb_buf_remaining(&in))
			len = (uint32_t)kb_buf_remaining(&in);
		msg = kb_buf_ptr(&in);
		kb_buf_skip(&in, len);
		kb_buf_reset(&reply);
		/* Exact-size copy so reads past the message are caught. */
		uint8_t *copy = malloc(len ? len : 1);
		if (copy == NULL)
			break;
		memcpy(copy, msg, len);
		int r = kb_agent_handle(&ctx, &conn, copy, len, &reply);
		free(copy);
		if (r != 0)
			break; /* the server would close the connection */
		att_mono_ms += 1000;
	}
	/* Unlock if the input locked the agent, and start clean next time. */
	pthread_mutex_lock(&ctx.lock_mu);
	ctx.locked = false;
	pthread_mutex_unlock(&ctx.lock_mu);
	kb_agent_keystore_remove_all(&ks);
	kb_agent_conn_done(&conn);
	kb_buf_done(&reply);
	return 0;
}
