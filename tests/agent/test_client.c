/* lib/agent client against a running agent ($SSH_AUTH_SOCK).
 * Usage: test-agent-client broker|stock
 * With "broker" the keybroker extensions must work; with "stock"
 * (OpenSSH's ssh-agent) they must fail cleanly as unsupported. */
#include <stdlib.h>

#include <sodium.h>

#include "agent/client.h"
#include "agent/proto.h"
#include "core/err.h"
#include "core/mem.h"
#include "kbtest.h"
#include "ssh/key.h"

static bool broker;
static struct kb_agent_client *c;
static struct kb_key *ed, *ec, *ed2;

static void test_basic(void)
{
	struct kb_agent_identities l;
	struct kb_agent_constraints life = { .lifetime = 300, .confirm = false };
	struct kb_buf sig;
	uint8_t data[48];

	KBT_CHECK_INT(kb_agent_remove_all(c), 0);
	KBT_CHECK_INT(kb_agent_add(c, ed, "ed key", NULL), 0);
	KBT_CHECK_INT(kb_agent_add(c, ec, "ec key", &life), 0);
	KBT_CHECK_INT(kb_agent_list(c, &l), 0);
	KBT_CHECK_INT(l.n, 2);
	if (l.n == 2) {
		KBT_CHECK_STR(l.v[0].comment, "ed key");
		KBT_CHECK(l.v[0].key != NULL && kb_key_equal_public(l.v[0].key, ed));
		KBT_CHECK(l.v[1].key != NULL && kb_key_equal_public(l.v[1].key, ec));
	}
	kb_agent_identities_done(&l);
	randombytes_buf(data, sizeof(data));
	kb_buf_init(&sig, 4096);
	KBT_CHECK_INT(kb_agent_sign(c, ec, data, sizeof(data), 0, &sig), 0);
	KBT_CHECK_INT(kb_key_verify(ec, kb_buf_ptr(&sig), kb_buf_remaining(&sig), data, sizeof(data), NULL), 0);
	kb_buf_reset(&sig);
	KBT_CHECK_INT(kb_agent_sign(c, ed2, data, sizeof(data), 0, &sig), KB_ERR_DENIED);
	kb_buf_done(&sig);
	KBT_CHECK_INT(kb_agent_remove(c, ed), 0);
	KBT_CHECK_INT(kb_agent_remove(c, ed), KB_ERR_DENIED);
	KBT_CHECK_INT(kb_agent_list(c, &l), 0);
	KBT_CHECK_INT(l.n, 1);
	kb_agent_identities_done(&l);
}

static void test_extensions(void)
{
	struct kb_agent_identities l;
	struct kb_agent_constraints life = { .lifetime = 120, .confirm = false };
	struct kb_buf sig;
	uint8_t data[16] = { 0 };

	KBT_CHECK_INT(kb_agent_remove_all(c), 0);
	KBT_CHECK_INT(kb_agent_add(c, ed, "old", &life), 0);
	KBT_CHECK_INT(kb_agent_add(c, ec, "other", NULL), 0);
	int r = kb_agent_list_info(c, &l);
	if (!broker) {
		KBT_CHECK_INT(r, KB_ERR_UNSUPPORTED);
		KBT_CHECK_INT(kb_agent_replace(c, ed, ed2, "new", NULL), KB_ERR_DENIED);
		return;
	}
	KBT_CHECK_INT(r, 0);
	KBT_CHECK_INT(l.n, 2);
	if (l.n == 2) {
		KBT_CHECK(l.v[0].flags & KB_AGENT_INFO_LIFETIME);
		KBT_CHECK(l.v[0].seconds_left > 100 && l.v[0].seconds_left <= 120);
		KBT_CHECK_INT(l.v[1].flags, 0);
	}
	kb_agent_identities_done(&l);
	KBT_CHECK_INT(kb_agent_replace(c, ed, ed2, "new", &life), 0);
	KBT_CHECK_INT(kb_agent_replace(c, ed, ed2, "new", &life), KB_ERR_DENIED);
	KBT_CHECK_INT(kb_agent_list(c, &l), 0);
	KBT_CHECK_INT(l.n, 2);
	if (l.n == 2) {
		KBT_CHECK_STR(l.v[0].comment, "new");
		KBT_CHECK(l.v[0].key != NULL && kb_key_equal_public(l.v[0].key, ed2));
	}
	kb_agent_identities_done(&l);
	kb_buf_init(&sig, 4096);
	KBT_CHECK_INT(kb_agent_sign(c, ed2, data, sizeof(data), 0, &sig), 0);
	kb_buf_done(&sig);
}

int main(int argc, char **argv)
{
	if (argc != 2 || kb_init() != 0)
		return 2;
	broker = strcmp(argv[1], "broker") == 0;
	if (kb_agent_connect(NULL, &c) != 0) {
		printf("Bail out! cannot connect: %s\n", kb_err_detail());
		return 1;
	}
	if (kb_key_generate(KB_KEY_ED25519, 0, &ed) != 0 || kb_key_generate(KB_KEY_ECDSA_P256, 0, &ec) != 0 ||
	    kb_key_generate(KB_KEY_ED25519, 0, &ed2) != 0)
		return 1;
	KBT_RUN(test_basic);
	KBT_RUN(test_extensions);
	kb_agent_remove_all(c);
	kb_agent_close(c);
	kb_key_free(ed);
	kb_key_free(ec);
	kb_key_free(ed2);
	return kbt_done();
}
