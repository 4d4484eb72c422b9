/* Unit tests for broker-agent's pure handler (agent/handler.c) with real
 * keys and real protocol messages, a fake clock and a fake confirm hook. */
#include <stdlib.h>

#include "agent_test_util.h"
#include <sodium.h>

#include "cert/cert.h"
#include "core/err.h"
#include "core/util.h"
#include "kbtest.h"

static struct kb_agent_keystore ks;
static struct kb_agent_ctx ctx;
static struct kb_agent_conn conn;
static struct kb_key *ed, *ec, *rsa;

static int list_count(void)
{
	struct kb_buf m, r;
	uint32_t n = 0;
	kb_buf_init(&m, 16);
	kb_buf_init(&r, KB_AGENT_MAX_MSG);
	kb_buf_put_u8(&m, KB_AGENTC_REQUEST_IDENTITIES);
	int t = att_call(&ctx, &conn, &m, &r);
	if (t != KB_AGENT_IDENTITIES_ANSWER || kb_buf_get_u32(&r, &n) != 0)
		n = 999;
	kb_buf_done(&m);
	kb_buf_done(&r);
	return (int)n;
}

static int add(const struct kb_key *k, const char *comment, uint32_t life, bool confirm)
{
	struct kb_buf m, r;
	kb_buf_init_secure(&m, KB_AGENT_MAX_MSG);
	kb_buf_init(&r, 1024);
	int t = att_add_msg(&m, k, comment, life, confirm) == 0 ? att_call(&ctx, &conn, &m, &r) : -1;
	kb_buf_done(&m);
	kb_buf_done(&r);
	return t;
}

static int simple(uint8_t type)
{
	struct kb_buf m, r;
	kb_buf_init(&m, 16);
	kb_buf_init(&r, 1024);
	kb_buf_put_u8(&m, type);
	int t = att_call(&ctx, &conn, &m, &r);
	kb_buf_done(&m);
	kb_buf_done(&r);
	return t;
}

/* Signs and verifies; returns the reply type, checks alg when non-NULL. */
static int sign_check(const struct kb_key *k, uint32_t flags, const char *want_alg)
{
	uint8_t data[64];
	struct kb_buf m, r;
	const uint8_t *sig;
	size_t siglen;
	int t;

	randombytes_buf(data, sizeof(data));
	kb_buf_init(&m, KB_AGENT_MAX_MSG);
	kb_buf_init(&r, KB_AGENT_MAX_MSG);
	att_sign_msg(&m, k, data, sizeof(data), flags);
	t = att_call(&ctx, &conn, &m, &r);
	if (t == KB_AGENT_SIGN_RESPONSE) {
		KBT_CHECK_INT(kb_buf_get_string_direct(&r, &sig, &siglen), 0);
		KBT_CHECK_INT(kb_buf_expect_end(&r), 0);
		KBT_CHECK_INT(kb_key_verify(k, sig, siglen, data, sizeof(data), want_alg), 0);
		data[0] ^= 1;
		KBT_CHECK(kb_key_verify(k, sig, siglen, data, sizeof(data), NULL) != 0);
	}
	kb_buf_done(&m);
	kb_buf_done(&r);
	return t;
}

static void reset(void)
{
	kb_agent_keystore_remove_all(&ks);
	att_confirm_answer = false;
	att_confirm_calls = 0;
	ctx.default_lifetime = 0;
}

static void test_empty(void)
{
	reset();
	KBT_CHECK_INT(list_count(), 0);
	KBT_CHECK_INT(sign_check(ed, 0, NULL), KB_AGENT_FAILURE);
}

static void test_add_list_sign(void)
{
	reset();
	KBT_CHECK_INT(add(ed, "ed", 0, false), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(add(ec, "ec", 0, false), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(add(rsa, "rsa", 0, false), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(list_count(), 3);
	/* Re-adding updates in place. */
	KBT_CHECK_INT(add(ed, "ed again", 0, false), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(list_count(), 3);
	KBT_CHECK_INT(sign_check(ed, 0, "ssh-ed25519"), KB_AGENT_SIGN_RESPONSE);
	KBT_CHECK_INT(sign_check(ec, 0, "ecdsa-sha2-nistp256"), KB_AGENT_SIGN_RESPONSE);
	KBT_CHECK_INT(sign_check(rsa, KB_AGENT_RSA_SHA2_256, "rsa-sha2-256"), KB_AGENT_SIGN_RESPONSE);
	KBT_CHECK_INT(sign_check(rsa, KB_AGENT_RSA_SHA2_512, "rsa-sha2-512"), KB_AGENT_SIGN_RESPONSE);
	KBT_CHECK_INT(sign_check(rsa, 0, "ssh-rsa"), KB_AGENT_SIGN_RESPONSE);
}

static void test_remove(void)
{
	struct kb_buf m, r;
	reset();
	add(ed, "ed", 0, false);
	add(ec, "ec", 0, false);
	kb_buf_init(&m, KB_AGENT_MAX_MSG);
	kb_buf_init(&r, 1024);
	kb_buf_put_u8(&m, KB_AGENTC_REMOVE_IDENTITY);
	att_put_blob(&m, ed);
	KBT_CHECK_INT(att_call(&ctx, &conn, &m, &r), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(att_call(&ctx, &conn, &m, &r), KB_AGENT_FAILURE);
	KBT_CHECK_INT(list_count(), 1);
	KBT_CHECK_INT(sign_check(ed, 0, NULL), KB_AGENT_FAILURE);
	KBT_CHECK_INT(simple(KB_AGENTC_REMOVE_ALL_IDENTITIES), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(list_count(), 0);
	add(ed, "ed", 0, false);
	/* The legacy SSH1 remove-all gets an answer too (ssh-add -D sends it). */
	KBT_CHECK_INT(simple(KB_AGENTC_REMOVE_ALL_RSA_IDENTITIES), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(list_count(), 0);
	kb_buf_done(&m);
	kb_buf_done(&r);
}

static void test_lifetime(void)
{
	reset();
	KBT_CHECK_INT(add(ed, "ed", 10, false), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(add(ec, "ec", 0, false), KB_AGENT_SUCCESS);
	att_mono_ms += 9999;
	KBT_CHECK_INT(list_count(), 2);
	KBT_CHECK_INT(sign_check(ed, 0, NULL), KB_AGENT_SIGN_RESPONSE);
	att_mono_ms += 1;
	KBT_CHECK_INT(sign_check(ed, 0, NULL), KB_AGENT_FAILURE);
	KBT_CHECK_INT(list_count(), 1);
	/* The reaper's path removes without any request. */
	KBT_CHECK_INT(add(ed, "ed", 5, false), KB_AGENT_SUCCESS);
	att_mono_ms += 5000;
	KBT_CHECK_INT(kb_agent_keystore_expire(&ks, att_mono_ms, att_real), 1);
	KBT_CHECK_INT(ks.cur->n, 1);
	/* -t: default lifetime. */
	ctx.default_lifetime = 3;
	KBT_CHECK_INT(add(ed, "ed", 0, false), KB_AGENT_SUCCESS);
	att_mono_ms += 3000;
	KBT_CHECK_INT(list_count(), 1);
}

static void test_death(void)
{
	/* Certificates: the earlier of lifetime and valid_before. */
	KBT_CHECK_INT(kb_agent_death(&ctx, 0, 0), 0);
	KBT_CHECK_INT(kb_agent_death(&ctx, 60, 0), att_mono_ms + 60000);
	KBT_CHECK_INT(kb_agent_death(&ctx, 60, (uint64_t)att_real + 10), att_mono_ms + 10000);
	KBT_CHECK_INT(kb_agent_death(&ctx, 5, (uint64_t)att_real + 10), att_mono_ms + 5000);
	KBT_CHECK_INT(kb_agent_death(&ctx, 0, (uint64_t)att_real + 10), att_mono_ms + 10000);
	KBT_CHECK_INT(kb_agent_death(&ctx, 60, (uint64_t)att_real), -1);
	KBT_CHECK_INT(kb_agent_death(&ctx, 60, UINT64_MAX), att_mono_ms + 60000);
}

static void test_confirm(void)
{
	reset();
	KBT_CHECK_INT(add(ed, "ed", 0, true), KB_AGENT_SUCCESS);
	att_confirm_answer = false;
	KBT_CHECK_INT(sign_check(ed, 0, NULL), KB_AGENT_FAILURE);
	att_confirm_answer = true;
	KBT_CHECK_INT(sign_check(ed, 0, NULL), KB_AGENT_SIGN_RESPONSE);
	KBT_CHECK_INT(att_confirm_calls, 2);
}

static void test_lock(void)
{
	struct kb_buf m, r;
	reset();
	add(ed, "ed", 0, false);
	kb_buf_init(&m, 1024);
	kb_buf_init(&r, 1024);
	kb_buf_put_u8(&m, KB_AGENTC_LOCK);
	kb_buf_put_cstring(&m, "sesame");
	KBT_CHECK_INT(att_call(&ctx, &conn, &m, &r), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(list_count(), 0);
	KBT_CHECK_INT(sign_check(ed, 0, NULL), KB_AGENT_FAILURE);
	KBT_CHECK_INT(add(ec, "ec", 0, false), KB_AGENT_FAILURE);
	/* Locking twice fails; a wrong passphrase does not unlock. */
	KBT_CHECK_INT(att_call(&ctx, &conn, &m, &r), KB_AGENT_FAILURE);
	kb_buf_reset(&m);
	kb_buf_put_u8(&m, KB_AGENTC_UNLOCK);
	kb_buf_put_cstring(&m, "wrong");
	KBT_CHECK_INT(att_call(&ctx, &conn, &m, &r), KB_AGENT_FAILURE);
	KBT_CHECK_INT(list_count(), 0);
	kb_buf_reset(&m);
	kb_buf_put_u8(&m, KB_AGENTC_UNLOCK);
	kb_buf_put_cstring(&m, "sesame");
	KBT_CHECK_INT(att_call(&ctx, &conn, &m, &r), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(list_count(), 1);
	/* Empty passphrase refused; an unparsable lock closes the connection. */
	kb_buf_reset(&m);
	kb_buf_put_u8(&m, KB_AGENTC_LOCK);
	kb_buf_put_cstring(&m, "");
	KBT_CHECK_INT(att_call(&ctx, &conn, &m, &r), KB_AGENT_FAILURE);
	kb_buf_reset(&m);
	kb_buf_put_u8(&m, KB_AGENTC_LOCK);
	KBT_CHECK_INT(att_call(&ctx, &conn, &m, &r), -1);
	kb_buf_done(&m);
	kb_buf_done(&r);
}

static void test_refused(void)
{
	struct kb_buf m, r;
	reset();
	KBT_CHECK_INT(simple(0), KB_AGENT_FAILURE);
	KBT_CHECK_INT(simple(200), KB_AGENT_FAILURE);
	KBT_CHECK_INT(simple(KB_AGENTC_ADD_SMARTCARD_KEY), KB_AGENT_FAILURE);
	KBT_CHECK_INT(simple(KB_AGENTC_REMOVE_SMARTCARD_KEY), KB_AGENT_FAILURE);
	kb_buf_init_secure(&m, KB_AGENT_MAX_MSG);
	kb_buf_init(&r, 1024);
	/* maxsign (XMSS only), sk-provider, unknown extension, duplicates. */
	const uint8_t tails[][40] = {
		{ 3, 0, 0, 0, 5 },
		{ 255, 0, 0, 0, 23, 's', 'k', '-', 'p', 'r', 'o', 'v', 'i', 'd', 'e', 'r', '@', 'o', 'p', 'e', 'n',
		  's', 's', 'h', '.', 'c', 'o', 'm', 0, 0, 0, 1, 'x' },
		{ 255, 0, 0, 0, 3, 'x', '@', 'y' },
		{ 1, 0, 0, 0, 5, 1, 0, 0, 0, 6 },
		{ 2, 2 },
		{ 9 },
	};
	const size_t lens[] = { 5, 33, 8, 10, 2, 1 };
	for (size_t i = 0; i < KB_ARRAY_SIZE(lens); i++) {
		kb_buf_reset(&m);
		kb_buf_put_u8(&m, KB_AGENTC_ADD_ID_CONSTRAINED);
		kb_key_private_serialize(ed, &m);
		kb_buf_put_cstring(&m, "x");
		kb_buf_put(&m, tails[i], lens[i]);
		KBT_CHECK_INT(att_call(&ctx, &conn, &m, &r), KB_AGENT_FAILURE);
	}
	KBT_CHECK_INT(list_count(), 0);
	/* A public key instead of a private one. */
	kb_buf_reset(&m);
	kb_buf_put_u8(&m, KB_AGENTC_ADD_IDENTITY);
	att_put_blob(&m, ed);
	kb_buf_put_cstring(&m, "x");
	KBT_CHECK_INT(att_call(&ctx, &conn, &m, &r), KB_AGENT_FAILURE);
	/* An sk key type. */
	kb_buf_reset(&m);
	kb_buf_put_u8(&m, KB_AGENTC_ADD_IDENTITY);
	kb_buf_put_cstring(&m, "sk-ssh-ed25519@openssh.com");
	kb_buf_put_string(&m, "0123456789abcdef0123456789abcdef", 32);
	kb_buf_put_cstring(&m, "ssh:");
	kb_buf_put_u8(&m, 1);
	kb_buf_put_string(&m, "h", 1);
	kb_buf_put_string(&m, "", 0);
	kb_buf_put_cstring(&m, "x");
	KBT_CHECK_INT(att_call(&ctx, &conn, &m, &r), KB_AGENT_FAILURE);
	/* Oversized and empty messages close the connection. */
	uint8_t big = KB_AGENTC_REQUEST_IDENTITIES;
	KBT_CHECK(kb_agent_handle(&ctx, &conn, &big, KB_AGENT_MAX_MSG + 1, &r) != 0);
	KBT_CHECK(kb_agent_handle(&ctx, &conn, &big, 0, &r) != 0);
	kb_buf_done(&m);
	kb_buf_done(&r);
}

static void test_ext(void)
{
	struct kb_buf m, r;
	char *name = NULL;
	uint32_t n = 0, flags = 0;
	uint64_t left = 0, va, vb;
	const uint8_t *blob;
	size_t blen;

	reset();
	add(ed, "ed", 100, true);
	add(ec, "ec", 0, false);
	kb_buf_init_secure(&m, KB_AGENT_MAX_MSG);
	kb_buf_init(&r, KB_AGENT_MAX_MSG);
	kb_buf_put_u8(&m, KB_AGENTC_EXTENSION);
	kb_buf_put_cstring(&m, KB_AGENT_EXT_QUERY);
	KBT_CHECK_INT(att_call(&ctx, &conn, &m, &r), KB_AGENT_EXTENSION_RESPONSE);

	kb_buf_reset(&m);
	kb_buf_put_u8(&m, KB_AGENTC_EXTENSION);
	kb_buf_put_cstring(&m, KB_AGENT_EXT_LIST);
	att_mono_ms += 40000;
	KBT_CHECK_INT(att_call(&ctx, &conn, &m, &r), KB_AGENT_EXTENSION_RESPONSE);
	KBT_CHECK_INT(kb_buf_get_cstring(&r, &name), 0);
	KBT_CHECK_STR(name, KB_AGENT_EXT_LIST);
	free(name);
	KBT_CHECK_INT(kb_buf_get_u32(&r, &n), 0);
	KBT_CHECK_INT(n, 2);
	KBT_CHECK_INT(kb_buf_get_string_direct(&r, &blob, &blen), 0);
	KBT_CHECK_INT(kb_buf_get_cstring(&r, &name), 0);
	KBT_CHECK_STR(name, "ed");
	free(name);
	KBT_CHECK_INT(kb_buf_get_u32(&r, &flags), 0);
	KBT_CHECK_INT(flags, KB_AGENT_INFO_CONFIRM | KB_AGENT_INFO_LIFETIME);
	KBT_CHECK_INT(kb_buf_get_u64(&r, &left), 0);
	KBT_CHECK_INT(left, 60);
	KBT_CHECK_INT(kb_buf_get_u64(&r, &va), 0);
	KBT_CHECK_INT(kb_buf_get_u64(&r, &vb), 0);
	KBT_CHECK_INT(vb, 0);

	/* Replace ed by rsa in one step, in the same position. */
	kb_buf_reset(&m);
	kb_buf_put_u8(&m, KB_AGENTC_EXTENSION);
	kb_buf_put_cstring(&m, KB_AGENT_EXT_REPLACE);
	att_put_blob(&m, ed);
	kb_key_private_serialize(rsa, &m);
	kb_buf_put_cstring(&m, "renewed");
	KBT_CHECK_INT(att_call(&ctx, &conn, &m, &r), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(list_count(), 2);
	/* The replaced ed is retired but still confirm-constrained. */
	att_confirm_answer = false;
	KBT_CHECK_INT(sign_check(ed, 0, NULL), KB_AGENT_FAILURE);
	att_confirm_answer = true;
	KBT_CHECK_INT(sign_check(ed, 0, NULL), KB_AGENT_SIGN_RESPONSE);
	att_confirm_answer = false;
	KBT_CHECK_INT(sign_check(rsa, KB_AGENT_RSA_SHA2_512, NULL), KB_AGENT_SIGN_RESPONSE);
	KBT_CHECK_STR(ks.cur->ids[0]->comment, "renewed");
	/* The old identity is gone now: a second replace changes nothing. */
	KBT_CHECK_INT(att_call(&ctx, &conn, &m, &r), KB_AGENT_FAILURE);
	KBT_CHECK_INT(list_count(), 2);
	kb_buf_reset(&m);
	kb_buf_put_u8(&m, KB_AGENTC_EXTENSION);
	kb_buf_put_cstring(&m, "nosuch@example.com");
	KBT_CHECK_INT(att_call(&ctx, &conn, &m, &r), KB_AGENT_FAILURE);
	kb_buf_done(&m);
	kb_buf_done(&r);
}

/* ---- replace-identity@keybroker and retired identities ---- */

static struct kb_key *ca;

/* A copy of k (private) with a user certificate from `ca`. */
static struct kb_key *with_cert(const struct kb_key *k, uint64_t serial, uint64_t va, uint64_t vb)
{
	struct kb_key *c = NULL;
	struct kb_cert *cert = NULL;
	if (kb_key_dup(k, &c) != 0 || kb_cert_new(KB_CERT_TYPE_USER, k, &cert) != 0) {
		kb_key_free(c);
		return NULL;
	}
	cert->serial = serial;
	if (kb_cert_set_validity(cert, va, vb) != 0 || kb_cert_add_principal(cert, "u") != 0 ||
	    kb_cert_sign(cert, ca, NULL) != 0 || kb_key_attach_cert(c, cert) != 0) {
		kb_cert_free(cert);
		kb_key_free(c);
		return NULL;
	}
	return c;
}

static int replace(const struct kb_key *old, const struct kb_key *k, const char *comment, uint32_t life)
{
	struct kb_buf m, r;
	kb_buf_init_secure(&m, KB_AGENT_MAX_MSG);
	kb_buf_init(&r, 1024);
	kb_buf_put_u8(&m, KB_AGENTC_EXTENSION);
	kb_buf_put_cstring(&m, KB_AGENT_EXT_REPLACE);
	att_put_blob(&m, old);
	kb_key_private_serialize(k, &m);
	kb_buf_put_cstring(&m, comment);
	if (life) {
		kb_buf_put_u8(&m, KB_AGENT_CONSTRAIN_LIFETIME);
		kb_buf_put_u32(&m, life);
	}
	int t = att_call(&ctx, &conn, &m, &r);
	kb_buf_done(&m);
	kb_buf_done(&r);
	return t;
}

static int remove_key(const struct kb_key *k)
{
	struct kb_buf m, r;
	kb_buf_init(&m, KB_AGENT_MAX_MSG);
	kb_buf_init(&r, 1024);
	kb_buf_put_u8(&m, KB_AGENTC_REMOVE_IDENTITY);
	att_put_blob(&m, k);
	int t = att_call(&ctx, &conn, &m, &r);
	kb_buf_done(&m);
	kb_buf_done(&r);
	return t;
}

static int remove_plain(const struct kb_key *k)
{
	struct kb_key *p = NULL;
	if (kb_key_dup_public(k, &p) != 0)
		return -1;
	kb_key_drop_cert(p);
	int t = remove_key(p);
	kb_key_free(p);
	return t;
}

/* True when the (standard or keybroker) listing shows k. */
static bool listed(const struct kb_key *k, bool ext)
{
	struct kb_buf m, r, want;
	uint32_t n = 0;
	bool found = false;
	kb_buf_init(&m, 256);
	kb_buf_init(&r, KB_AGENT_MAX_MSG);
	kb_buf_init(&want, KB_KEY_BLOB_MAX);
	kb_key_public_blob(k, &want);
	if (ext) {
		kb_buf_put_u8(&m, KB_AGENTC_EXTENSION);
		kb_buf_put_cstring(&m, KB_AGENT_EXT_LIST);
	} else {
		kb_buf_put_u8(&m, KB_AGENTC_REQUEST_IDENTITIES);
	}
	int t = att_call(&ctx, &conn, &m, &r);
	char *name = NULL;
	if (ext && t == KB_AGENT_EXTENSION_RESPONSE && kb_buf_get_cstring(&r, &name) == 0)
		free(name);
	if (kb_buf_get_u32(&r, &n) == 0) {
		for (uint32_t i = 0; i < n; i++) {
			const uint8_t *b, *c;
			size_t bl, cl;
			uint32_t fl;
			uint64_t x;
			if (kb_buf_get_string_direct(&r, &b, &bl) != 0 || kb_buf_get_string_direct(&r, &c, &cl) != 0)
				break;
			if (ext && (kb_buf_get_u32(&r, &fl) != 0 || kb_buf_get_u64(&r, &x) != 0 ||
				    kb_buf_get_u64(&r, &x) != 0 || kb_buf_get_u64(&r, &x) != 0))
				break;
			if (bl == kb_buf_remaining(&want) && memcmp(b, kb_buf_ptr(&want), bl) == 0)
				found = true;
		}
	}
	kb_buf_done(&m);
	kb_buf_done(&r);
	kb_buf_done(&want);
	return found;
}

static int lock_msg(uint8_t type, const char *pw)
{
	struct kb_buf m, r;
	kb_buf_init(&m, 256);
	kb_buf_init(&r, 256);
	kb_buf_put_u8(&m, type);
	kb_buf_put_cstring(&m, pw);
	int t = att_call(&ctx, &conn, &m, &r);
	kb_buf_done(&m);
	kb_buf_done(&r);
	return t;
}

/* The race ssh loses without the grace: list, replace, sign the listed blob. */
static void test_grace_basic(void)
{
	struct kb_key *c1 = with_cert(ed, 1, 0, (uint64_t)att_real + 3600);
	struct kb_key *c2 = with_cert(ed, 2, 0, (uint64_t)att_real + 7200);
	KBT_CHECK(c1 != NULL && c2 != NULL);
	reset();
	KBT_CHECK_INT(add(c1, "cert", 0, false), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(add(ec, "ec", 0, false), KB_AGENT_SUCCESS);
	KBT_CHECK(listed(c1, false));
	KBT_CHECK_INT(replace(c1, c2, "cert", 0), KB_AGENT_SUCCESS);
	/* Not listed (either listing), but the listed blob still signs, and
	 * the signature verifies with the old certificate's key. */
	KBT_CHECK_INT(list_count(), 2);
	KBT_CHECK(!listed(c1, false));
	KBT_CHECK(!listed(c1, true));
	KBT_CHECK(listed(c2, false));
	KBT_CHECK_INT(sign_check(c1, 0, "ssh-ed25519"), KB_AGENT_SIGN_RESPONSE);
	KBT_CHECK_INT(sign_check(c2, 0, "ssh-ed25519"), KB_AGENT_SIGN_RESPONSE);
	KBT_CHECK_INT(ks.cur->nretired, 1);
	/* A second replace naming the retired blob finds nothing. */
	KBT_CHECK_INT(replace(c1, c2, "cert", 0), KB_AGENT_FAILURE);
	/* Until the grace ends, not a millisecond longer. */
	att_mono_ms += KB_AGENT_REPLACE_GRACE_MS - 1;
	KBT_CHECK_INT(sign_check(c1, 0, NULL), KB_AGENT_SIGN_RESPONSE);
	att_mono_ms += 1;
	KBT_CHECK_INT(sign_check(c1, 0, NULL), KB_AGENT_FAILURE);
	KBT_CHECK_INT(sign_check(c2, 0, NULL), KB_AGENT_SIGN_RESPONSE);
	KBT_CHECK_INT(ks.cur->nretired, 0); /* wiped on the sign path's expiry */
	/* The reaper's path: it wakes for the end of the grace (next_death). */
	KBT_CHECK_INT(replace(c2, c1, "cert", 0), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(ks.cur->next_death, att_mono_ms + KB_AGENT_REPLACE_GRACE_MS);
	KBT_CHECK_INT(kb_agent_keystore_expire(&ks, att_mono_ms + KB_AGENT_REPLACE_GRACE_MS - 1, att_real), 0);
	KBT_CHECK_INT(kb_agent_keystore_expire(&ks, att_mono_ms + KB_AGENT_REPLACE_GRACE_MS, att_real), 1);
	KBT_CHECK_INT(ks.cur->nretired, 0);
	KBT_CHECK_INT(ks.cur->n, 2);
	/* A replacement by a different key: the old key signs in the grace. */
	KBT_CHECK_INT(replace(c1, rsa, "rsa", 0), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(sign_check(c1, 0, "ssh-ed25519"), KB_AGENT_SIGN_RESPONSE);
	KBT_CHECK_INT(sign_check(rsa, KB_AGENT_RSA_SHA2_256, "rsa-sha2-256"), KB_AGENT_SIGN_RESPONSE);
	/* Grace 0 is the old behaviour: refused at once. */
	ctx.replace_grace_ms = 0;
	KBT_CHECK_INT(replace(rsa, c2, "cert", 0), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(sign_check(rsa, 0, NULL), KB_AGENT_FAILURE);
	KBT_CHECK_INT(ks.cur->nretired, 1); /* c1 still in its grace */
	ctx.replace_grace_ms = KB_AGENT_REPLACE_GRACE_MS;
	kb_key_free(c1);
	kb_key_free(c2);
}

/* Never past the identity's own lifetime or its certificate. */
static void test_grace_bounds(void)
{
	struct kb_key *c1 = with_cert(ec, 1, 0, (uint64_t)att_real + 20);
	struct kb_key *c2 = with_cert(ec, 2, 0, (uint64_t)att_real + 7200);
	KBT_CHECK(c1 != NULL && c2 != NULL);
	reset();
	KBT_CHECK_INT(add(ed, "ed", 10, false), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(replace(ed, rsa, "rsa", 0), KB_AGENT_SUCCESS);
	att_mono_ms += 9999;
	KBT_CHECK_INT(sign_check(ed, 0, NULL), KB_AGENT_SIGN_RESPONSE);
	att_mono_ms += 1;
	KBT_CHECK_INT(sign_check(ed, 0, NULL), KB_AGENT_FAILURE);
	KBT_CHECK_INT(ks.cur->nretired, 0);
	/* valid_before on the wall clock (the monotonic one stands still). */
	KBT_CHECK_INT(add(c1, "cert", 0, false), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(replace(c1, c2, "cert", 0), KB_AGENT_SUCCESS);
	att_real += 19;
	KBT_CHECK_INT(sign_check(c1, 0, NULL), KB_AGENT_SIGN_RESPONSE);
	att_real += 1;
	KBT_CHECK_INT(sign_check(c1, 0, NULL), KB_AGENT_FAILURE);
	KBT_CHECK_INT(sign_check(c2, 0, NULL), KB_AGENT_SIGN_RESPONSE);
	/* An identity already dead is not retired at all. */
	KBT_CHECK_INT(add(ed, "ed", 1, false), KB_AGENT_SUCCESS);
	att_mono_ms += 1000;
	KBT_CHECK_INT(replace(ed, c1, "x", 0), KB_AGENT_FAILURE);
	kb_key_free(c1);
	kb_key_free(c2);
}

/* ssh-add -d, -D and -x end the grace. */
static void test_grace_remove(void)
{
	struct kb_key *c1 = with_cert(ed, 1, 0, (uint64_t)att_real + 3600);
	struct kb_key *c2 = with_cert(ed, 2, 0, (uint64_t)att_real + 3600);
	KBT_CHECK(c1 != NULL && c2 != NULL);

	/* -d of the old (retired) blob: removed, and it says so. */
	reset();
	add(ec, "ec", 0, false);
	add(rsa, "rsa", 0, false);
	KBT_CHECK_INT(replace(ec, ed, "ed", 0), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(remove_key(ec), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(sign_check(ec, 0, NULL), KB_AGENT_FAILURE);
	KBT_CHECK_INT(remove_key(ec), KB_AGENT_FAILURE);
	KBT_CHECK_INT(list_count(), 2);

	/* -d of the new certificate takes the retired one with the same key. */
	reset();
	add(c1, "cert", 0, false);
	KBT_CHECK_INT(replace(c1, c2, "cert", 0), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(remove_key(c2), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(sign_check(c1, 0, NULL), KB_AGENT_FAILURE);
	KBT_CHECK_INT(sign_check(c2, 0, NULL), KB_AGENT_FAILURE);
	KBT_CHECK_INT(ks.cur->nretired, 0);
	KBT_CHECK_INT(list_count(), 0);

	/* -d of the plain key (as ssh-add -d sends first) drops retired
	 * certificates for it; the live one stays (not named). */
	reset();
	add(c1, "cert", 0, false);
	KBT_CHECK_INT(replace(c1, c2, "cert", 0), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(remove_plain(c1), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(remove_plain(c1), KB_AGENT_FAILURE);
	KBT_CHECK_INT(sign_check(c1, 0, NULL), KB_AGENT_FAILURE);
	KBT_CHECK_INT(sign_check(c2, 0, NULL), KB_AGENT_SIGN_RESPONSE);

	/* -D */
	reset();
	add(c1, "cert", 0, false);
	KBT_CHECK_INT(replace(c1, c2, "cert", 0), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(simple(KB_AGENTC_REMOVE_ALL_IDENTITIES), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(sign_check(c1, 0, NULL), KB_AGENT_FAILURE);
	KBT_CHECK_INT(ks.cur->nretired, 0);
	add(c1, "cert", 0, false);
	KBT_CHECK_INT(replace(c1, c2, "cert", 0), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(simple(KB_AGENTC_REMOVE_ALL_RSA_IDENTITIES), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(sign_check(c1, 0, NULL), KB_AGENT_FAILURE);

	/* -x: refused while locked, and dropped (not back after -X). */
	reset();
	add(c1, "cert", 0, false);
	KBT_CHECK_INT(replace(c1, c2, "cert", 0), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(lock_msg(KB_AGENTC_LOCK, "pw"), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(sign_check(c1, 0, NULL), KB_AGENT_FAILURE);
	KBT_CHECK_INT(lock_msg(KB_AGENTC_UNLOCK, "pw"), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(sign_check(c1, 0, NULL), KB_AGENT_FAILURE);
	KBT_CHECK_INT(sign_check(c2, 0, NULL), KB_AGENT_SIGN_RESPONSE);
	KBT_CHECK_INT(ks.cur->nretired, 0);
	kb_key_free(c1);
	kb_key_free(c2);
}

/* A plain add is unchanged; retired identities are bounded; readers keep
 * their snapshot. */
static void test_grace_misc(void)
{
	struct kb_key *k[KB_AGENT_RETIRED_MAX + 3] = { NULL };
	reset();
	add(ed, "ed", 0, false);
	KBT_CHECK_INT(replace(ed, ec, "ec", 0), KB_AGENT_SUCCESS);
	/* Adding the retired blob again makes it live (listed), once. */
	KBT_CHECK_INT(add(ed, "ed back", 0, false), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(ks.cur->nretired, 0);
	KBT_CHECK_INT(list_count(), 2);
	KBT_CHECK(listed(ed, false));
	/* A plain add of an existing blob drops nothing into the grace. */
	KBT_CHECK_INT(add(ec, "ec again", 0, false), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(ks.cur->nretired, 0);
	/* Replacing an identity by itself retires nothing. */
	KBT_CHECK_INT(replace(ec, ec, "ec same", 0), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(ks.cur->nretired, 0);
	KBT_CHECK_INT(list_count(), 2);
	/* Replacing by a key already held: the old one is retired, the held
	 * one stays listed once. */
	KBT_CHECK_INT(replace(ec, ed, "ed", 0), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(list_count(), 1);
	KBT_CHECK_INT(ks.cur->nretired, 1);
	KBT_CHECK_INT(sign_check(ec, 0, NULL), KB_AGENT_SIGN_RESPONSE);

	/* A chain of replaces keeps the newest KB_AGENT_RETIRED_MAX. */
	reset();
	for (size_t i = 0; i < KB_ARRAY_SIZE(k); i++)
		KBT_CHECK_INT(kb_key_generate(KB_KEY_ED25519, 0, &k[i]), 0);
	add(k[0], "k", 0, false);
	struct kb_agent_table *snap = kb_agent_keystore_acquire(&ks);
	for (size_t i = 1; i < KB_ARRAY_SIZE(k); i++)
		KBT_CHECK_INT(replace(k[i - 1], k[i], "k", 0), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(ks.cur->nretired, KB_AGENT_RETIRED_MAX);
	KBT_CHECK_INT(list_count(), 1);
	KBT_CHECK_INT(sign_check(k[0], 0, NULL), KB_AGENT_FAILURE);
	KBT_CHECK_INT(sign_check(k[1], 0, NULL), KB_AGENT_FAILURE);
	KBT_CHECK_INT(sign_check(k[2], 0, NULL), KB_AGENT_SIGN_RESPONSE);
	KBT_CHECK_INT(sign_check(k[KB_ARRAY_SIZE(k) - 2], 0, NULL), KB_AGENT_SIGN_RESPONSE);
	/* The snapshot taken before still holds k[0] (refcounted). */
	KBT_CHECK(kb_agent_table_find(snap, kb_buf_ptr(&snap->ids[0]->blob), kb_buf_remaining(&snap->ids[0]->blob)) ==
		  snap->ids[0]);
	kb_agent_table_release(snap);
	KBT_CHECK_INT(simple(KB_AGENTC_REMOVE_ALL_IDENTITIES), KB_AGENT_SUCCESS);
	for (size_t i = 0; i < KB_ARRAY_SIZE(k); i++)
		kb_key_free(k[i]);
}

/* session-bind and restrict-destination, as ssh and ssh-add -h use them. */
static int bind_session(struct kb_agent_conn *c, const struct kb_key *hostkey, const uint8_t *sid, size_t sid_len,
			bool fwd, bool corrupt)
{
	struct kb_buf m, r, sig;
	kb_buf_init(&m, KB_AGENT_MAX_MSG);
	kb_buf_init(&r, 1024);
	kb_buf_init(&sig, 4096);
	kb_key_sign(hostkey, sid, sid_len, NULL, &sig);
	if (corrupt)
		sig.data[sig.len - 1] ^= 1;
	kb_buf_put_u8(&m, KB_AGENTC_EXTENSION);
	kb_buf_put_cstring(&m, KB_AGENT_EXT_SESSION_BIND);
	att_put_blob(&m, hostkey);
	kb_buf_put_string(&m, sid, sid_len);
	kb_buf_put_stringb(&m, &sig);
	kb_buf_put_u8(&m, fwd);
	int t = att_call(&ctx, c, &m, &r);
	kb_buf_done(&m);
	kb_buf_done(&r);
	kb_buf_done(&sig);
	return t;
}

static void put_hop(struct kb_buf *b, const char *user, const char *host, const struct kb_key *k)
{
	struct kb_buf h;
	kb_buf_init(&h, 8192);
	kb_buf_put_cstring(&h, user);
	kb_buf_put_cstring(&h, host);
	kb_buf_put_string(&h, "", 0);
	if (k != NULL) {
		att_put_blob(&h, k);
		kb_buf_put_u8(&h, 0);
	}
	kb_buf_put_stringb(b, &h);
	kb_buf_done(&h);
}

static int add_restricted(const struct kb_key *k, const struct kb_key *to_host, const char *to_name)
{
	struct kb_buf m, r, all, one;
	kb_buf_init_secure(&m, KB_AGENT_MAX_MSG);
	kb_buf_init(&r, 1024);
	kb_buf_init(&all, 65536);
	kb_buf_init(&one, 65536);
	put_hop(&one, "", "", NULL);
	put_hop(&one, "", to_name, to_host);
	kb_buf_put_string(&one, "", 0);
	kb_buf_put_stringb(&all, &one);
	kb_buf_put_u8(&m, KB_AGENTC_ADD_ID_CONSTRAINED);
	kb_key_private_serialize(k, &m);
	kb_buf_put_cstring(&m, "restricted");
	kb_buf_put_u8(&m, KB_AGENT_CONSTRAIN_EXTENSION);
	kb_buf_put_cstring(&m, KB_AGENT_CONSTRAINT_RESTRICT_DEST);
	kb_buf_put_stringb(&m, &all);
	int t = att_call(&ctx, &conn, &m, &r);
	kb_buf_done(&m);
	kb_buf_done(&r);
	kb_buf_done(&all);
	kb_buf_done(&one);
	return t;
}

static int sign_userauth(struct kb_agent_conn *c, const struct kb_key *k, const uint8_t *sid, size_t sid_len,
			 const char *user)
{
	struct kb_buf d, m, r;
	kb_buf_init(&d, 65536);
	kb_buf_init(&m, KB_AGENT_MAX_MSG);
	kb_buf_init(&r, 4096);
	kb_buf_put_string(&d, sid, sid_len);
	kb_buf_put_u8(&d, 50);
	kb_buf_put_cstring(&d, user);
	kb_buf_put_cstring(&d, "ssh-connection");
	kb_buf_put_cstring(&d, "publickey");
	kb_buf_put_u8(&d, 1);
	kb_buf_put_cstring(&d, "ssh-ed25519");
	att_put_blob(&d, k);
	att_sign_msg(&m, k, kb_buf_ptr(&d), kb_buf_remaining(&d), 0);
	int t = att_call(&ctx, c, &m, &r);
	kb_buf_done(&d);
	kb_buf_done(&m);
	kb_buf_done(&r);
	return t;
}

static void test_destination(void)
{
	struct kb_key *hostA = NULL, *hostB = NULL, *k2 = NULL;
	struct kb_agent_conn c;
	uint8_t sid[32], sid2[32];

	reset();
	kb_key_generate(KB_KEY_ED25519, 0, &hostA);
	kb_key_generate(KB_KEY_ED25519, 0, &hostB);
	kb_key_generate(KB_KEY_ED25519, 0, &k2);
	randombytes_buf(sid, sizeof(sid));
	randombytes_buf(sid2, sizeof(sid2));
	KBT_CHECK_INT(add_restricted(ed, hostA, "hosta"), KB_AGENT_SUCCESS);
	KBT_CHECK_INT(add_restricted(k2, hostB, "hostb"), KB_AGENT_SUCCESS);
	/* Incomplete "to" hop is refused. */
	KBT_CHECK_INT(add_restricted(ec, NULL, ""), KB_AGENT_FAILURE);
	/* Local use: listed, but never used to sign on an unbound connection. */
	KBT_CHECK_INT(list_count(), 2);
	KBT_CHECK_INT(sign_userauth(&conn, ed, sid, sizeof(sid), "u"), KB_AGENT_FAILURE);

	kb_agent_conn_init(&c, 7);
	KBT_CHECK_INT(bind_session(&c, hostA, sid, sizeof(sid), false, true), KB_AGENT_FAILURE);
	KBT_CHECK_INT(bind_session(&c, hostA, sid, sizeof(sid), false, false), KB_AGENT_SUCCESS);
	/* A connection bound for authentication cannot be bound again. */
	KBT_CHECK_INT(bind_session(&c, hostB, sid2, sizeof(sid2), false, false), KB_AGENT_FAILURE);
	struct kb_agent_conn save = conn;
	conn = c;
	KBT_CHECK_INT(list_count(), 1); /* only the key for hosta */
	conn = save;
	KBT_CHECK_INT(sign_userauth(&c, ed, sid, sizeof(sid), "u"), KB_AGENT_SIGN_RESPONSE);
	KBT_CHECK_INT(sign_userauth(&c, ed, sid2, sizeof(sid2), "u"), KB_AGENT_FAILURE);
	KBT_CHECK_INT(sign_userauth(&c, k2, sid, sizeof(sid), "u"), KB_AGENT_FAILURE);
	/* Arbitrary data is not a userauth request: refused. */
	KBT_CHECK_INT(sign_check(ed, 0, NULL), KB_AGENT_FAILURE);
	kb_agent_conn_done(&c);
	kb_key_free(hostA);
	kb_key_free(hostB);
	kb_key_free(k2);
}

/* Truncations and bit flips of real messages: never a crash (ASan/UBSan
 * builds check memory too), always a reply or a clean close. */
static void test_mutations(void)
{
	struct kb_buf msgs[4], r;
	uint8_t data[32] = { 1, 2, 3 };

	reset();
	for (int i = 0; i < 4; i++)
		kb_buf_init_secure(&msgs[i], KB_AGENT_MAX_MSG);
	kb_buf_init(&r, KB_AGENT_MAX_MSG);
	att_add_msg(&msgs[0], ed, "ed", 30, true);
	att_add_msg(&msgs[1], ec, "ec", 0, false);
	att_sign_msg(&msgs[2], ed, data, sizeof(data), 0);
	kb_buf_put_u8(&msgs[3], KB_AGENTC_REMOVE_IDENTITY);
	att_put_blob(&msgs[3], ec);
	for (int i = 0; i < 4; i++) {
		size_t len = kb_buf_remaining(&msgs[i]);
		uint8_t *copy = malloc(len);
		memcpy(copy, kb_buf_ptr(&msgs[i]), len);
		for (size_t cut = 0; cut < len; cut++) {
			uint8_t *exact = malloc(cut ? cut : 1);
			memcpy(exact, copy, cut);
			kb_buf_reset(&r);
			int rc = kb_agent_handle(&ctx, &conn, exact, cut, &r);
			KBT_CHECK(rc != 0 || kb_buf_remaining(&r) > 0);
			free(exact);
		}
		for (size_t bit = 0; bit < len * 8; bit += (len > 200 ? 7 : 1)) {
			copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			kb_buf_reset(&r);
			int rc = kb_agent_handle(&ctx, &conn, copy, len, &r);
			KBT_CHECK(rc != 0 || kb_buf_remaining(&r) > 0);
			copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		kb_wipe(copy, len);
		free(copy);
	}
	for (int i = 0; i < 4; i++)
		kb_buf_done(&msgs[i]);
	kb_buf_done(&r);
}

int main(void)
{
	if (kb_init() != 0)
		return 1;
	att_ctx_init(&ctx, &ks);
	kb_agent_conn_init(&conn, 1);
	if (kb_key_generate(KB_KEY_ED25519, 0, &ed) != 0 || kb_key_generate(KB_KEY_ECDSA_P256, 0, &ec) != 0 ||
	    kb_key_generate(KB_KEY_RSA, 2048, &rsa) != 0) {
		printf("Bail out! cannot generate keys\n");
		return 1;
	}
	if (kb_key_generate(KB_KEY_ED25519, 0, &ca) != 0)
		return 1;
	KBT_RUN(test_empty);
	KBT_RUN(test_add_list_sign);
	KBT_RUN(test_remove);
	KBT_RUN(test_lifetime);
	KBT_RUN(test_death);
	KBT_RUN(test_confirm);
	KBT_RUN(test_lock);
	KBT_RUN(test_refused);
	KBT_RUN(test_ext);
	KBT_RUN(test_grace_basic);
	KBT_RUN(test_grace_bounds);
	KBT_RUN(test_grace_remove);
	KBT_RUN(test_grace_misc);
	KBT_RUN(test_destination);
	KBT_RUN(test_mutations);
	kb_agent_conn_done(&conn);
	kb_agent_keystore_done(&ks);
	kb_agent_ctx_done(&ctx);
	kb_key_free(ed);
	kb_key_free(ec);
	kb_key_free(rsa);
	kb_key_free(ca);
	return kbt_done();
}
