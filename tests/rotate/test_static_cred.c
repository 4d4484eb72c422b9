/* Unit tests: static credential documents (build, parse, rejections,
 * truncation and bit-flip loops), the job's exit code and report, and the
 * crash-point matcher (non-matching points only: a match kills). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "kbtest.h"
#include "rotate/rotate_cli.h"
#include "rotate/rotate_report.h"
#include "rotate/static_cred.h"

static const char *const target_strs[] = { "deploy@10.0.1.5:22", "root@web-1.example.com:2222", "ops@[2001:db8::1]:22" };
#define NT (sizeof(target_strs) / sizeof(target_strs[0]))

static struct kb_static_cred *make(const char *type)
{
	struct kb_ssh_target t[NT];
	struct kb_static_cred *c = NULL;
	for (size_t i = 0; i < NT; i++)
		KBT_CHECK_INT(kb_ssh_target_parse(target_strs[i], &t[i]), KB_OK);
	KBT_CHECK_INT(kb_static_cred_new(type, "static", "alice", t, NT, &c), KB_OK);
	return c;
}

static char *doc_of(const struct kb_static_cred *c)
{
	struct kb_buf b;
	char *s;
	kb_buf_init_secure(&b, KB_STORE_VALUE_MAX);
	KBT_CHECK_INT(kb_static_cred_build(c, "keybroker/static/db", &b), KB_OK);
	s = strndup((const char *)kb_buf_ptr(&b), kb_buf_remaining(&b));
	kb_buf_done(&b);
	return s;
}

static void test_roundtrip(void)
{
	const char *types[] = { "ed25519", "ecdsa-p256", "rsa-2048" };
	for (size_t k = 0; k < 3; k++) {
		struct kb_static_cred *c = make(types[k]), *p = NULL, *q = NULL;
		char *doc = doc_of(c);
		KBT_CHECK(strstr(doc, "\"certificate\"") == NULL);
		KBT_CHECK(strstr(doc, "\"targets\":[\"deploy@10.0.1.5:22\"") != NULL);
		KBT_CHECK_INT(kb_static_cred_parse(doc, strlen(doc), true, &p), KB_OK);
		KBT_CHECK_INT(kb_static_cred_parse(doc, strlen(doc), false, &q), KB_OK);
		if (p && q) {
			KBT_CHECK(kb_key_is_private(p->key));
			KBT_CHECK(!kb_key_is_private(q->key));
			KBT_CHECK(kb_key_equal_public(p->key, c->key));
			KBT_CHECK_STR(p->fingerprint, c->fingerprint);
			KBT_CHECK_STR(q->fingerprint, c->fingerprint);
			KBT_CHECK_INT(p->ntargets, NT);
			KBT_CHECK_STR(p->role, "static");
			KBT_CHECK_STR(p->requested_by, "alice");
			for (size_t i = 0; i < NT; i++) {
				char t[400];
				kb_ssh_target_format(&p->targets[i], t, sizeof(t));
				KBT_CHECK_STR(t, target_strs[i]);
			}
		}
		kb_static_cred_free(p);
		kb_static_cred_free(q);
		kb_static_cred_free(c);
		free(doc);
	}
}

/* Replaces the first occurrence of from in doc by to (new string). */
static char *subst(const char *doc, const char *from, const char *to)
{
	const char *at = strstr(doc, from);
	size_t n;
	char *s;
	if (at == NULL)
		return strdup(doc);
	n = strlen(doc) - strlen(from) + strlen(to) + 1;
	s = malloc(n);
	snprintf(s, n, "%.*s%s%s", (int)(at - doc), doc, to, at + strlen(from));
	return s;
}

static void expect_reject(const char *doc, const char *why)
{
	struct kb_static_cred *c = NULL;
	int r = kb_static_cred_parse(doc, strlen(doc), true, &c);
	if (r == KB_OK)
		printf("#   accepted: %s\n", why);
	KBT_CHECK(r != KB_OK);
	KBT_CHECK(c == NULL);
	KBT_CHECK(kb_err_detail()[0] != '\0');
}

static void test_rejects(void)
{
	struct kb_static_cred *c = make(NULL), *o = make(NULL);
	char *doc = doc_of(c), *other = doc_of(o), *s;

	s = subst(doc, "\"targets\":[", "\"certificate\":\"ssh-ed25519-cert-v01@openssh.com AAAA\",\"targets\":[");
	expect_reject(s, "a certificate credential");
	free(s);
	s = subst(doc, "keybroker/ssh-credential/v1", "keybroker/other/v1");
	expect_reject(s, "another kind");
	free(s);
	s = subst(doc, "\"targets\":[\"deploy@10.0.1.5:22\",", "\"targets\":[\"deploy@10.0.1.5:22\",\"deploy@10.0.1.5\",");
	expect_reject(s, "a duplicate target (default port)");
	free(s);
	s = subst(doc, "deploy@10.0.1.5:22", "deploy@10.0.1.5:99999");
	expect_reject(s, "a bad port");
	free(s);
	s = subst(doc, "deploy@10.0.1.5:22", "de ploy@10.0.1.5");
	expect_reject(s, "a bad user");
	free(s);
	s = subst(doc, "\"targets\":[", "\"targets\":[],\"x\":[");
	expect_reject(s, "empty targets");
	free(s);
	s = subst(doc, "\"targets\":", "\"targetz\":");
	expect_reject(s, "no targets");
	free(s);
	s = subst(doc, "\"kind\"", "\"kind\":1,\"kind\"");
	expect_reject(s, "a duplicate member");
	free(s);
	/* public_key of another credential */
	const char *pk = strstr(other, "\"public_key\":\""), *pk_end = pk ? strchr(pk + 14, '"') : NULL;
	const char *mk = strstr(doc, "\"public_key\":\""), *mk_end = mk ? strchr(mk + 14, '"') : NULL;
	if (pk && pk_end && mk && mk_end) {
		char *from = strndup(mk, (size_t)(mk_end - mk)), *to = strndup(pk, (size_t)(pk_end - pk));
		s = subst(doc, from, to);
		expect_reject(s, "public key of another key");
		free(s);
		free(from);
		free(to);
	}
	/* 257 targets */
	size_t big = 64 + (KB_STATIC_TARGETS_MAX + 1) * 32;
	char *list = malloc(big);
	size_t len = 0;
	for (int i = 0; i <= KB_STATIC_TARGETS_MAX; i++)
		len += (size_t)snprintf(list + len, big - len, "%s\"u@h%d\"", i ? "," : "", i);
	char *rep = malloc(len + 32);
	snprintf(rep, len + 32, "\"targets\":[%s],\"y\":[", list);
	s = subst(doc, "\"targets\":[", rep);
	expect_reject(s, "too many targets");
	free(s);
	free(rep);
	free(list);
	expect_reject("", "empty");
	expect_reject("[]", "not an object");
	expect_reject("{\"kind\":\"keybroker/ssh-credential/v1\"}", "nothing but kind");
	kb_static_cred_free(c);
	kb_static_cred_free(o);
	free(doc);
	free(other);
}

static void test_truncation_bitflip(void)
{
	struct kb_static_cred *c = make(NULL), *p;
	char *doc = doc_of(c);
	size_t n = strlen(doc);
	size_t accepted = 0;

	for (size_t i = 0; i < n; i++) {
		p = NULL;
		if (kb_static_cred_parse(doc, i, true, &p) == KB_OK)
			accepted++;
		kb_static_cred_free(p);
	}
	KBT_CHECK_INT(accepted, 0);
	char *m = strdup(doc);
	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 8; b++) {
			m[i] ^= (char)(1 << b);
			p = NULL;
			if (kb_static_cred_parse(m, n, (i + (size_t)b) % 2 == 0, &p) == KB_OK) {
				/* Accepted flips must still describe a consistent key. */
				KBT_CHECK(p->ntargets >= 1 && p->ntargets <= KB_STATIC_TARGETS_MAX);
			}
			kb_static_cred_free(p);
			m[i] ^= (char)(1 << b);
		}
	free(m);
	free(doc);
	kb_static_cred_free(c);
}

static void test_names(void)
{
	KBT_CHECK(kb_static_name_valid("db"));
	KBT_CHECK(kb_static_name_valid("app-1.prod@eu"));
	KBT_CHECK(!kb_static_name_valid(""));
	KBT_CHECK(!kb_static_name_valid(".hidden"));
	KBT_CHECK(!kb_static_name_valid("-x"));
	KBT_CHECK(!kb_static_name_valid("a/b"));
	KBT_CHECK(!kb_static_name_valid("a b"));
}

static void test_exit_and_report(void)
{
	struct kb_rot_cred rc[2];
	memset(rc, 0, sizeof(rc));
	rc[0].name = "keybroker/static/a";
	rc[0].action = "rotate";
	rc[1].name = "keybroker/static/b";
	rc[1].action = "resume";
	KBT_CHECK_INT(kb_rot_exit_code(rc, 2), 0);
	rc[1].result = KB_ROT_PENDING;
	KBT_CHECK_INT(kb_rot_exit_code(rc, 2), 7);
	rc[0].result = KB_ROT_FAIL;
	KBT_CHECK_INT(kb_rot_exit_code(rc, 2), 1);
	KBT_CHECK_INT(kb_rot_exit_code(rc, 0), 0);

	struct kb_rot_host h = { .idx = 1 };
	snprintf(h.label, sizeof(h.label), "root@127.0.0.1:22");
	h.step[KB_ROT_SET].st = KB_ROT_UNREACHABLE;
	snprintf(h.step[KB_ROT_SET].detail, sizeof(h.step[KB_ROT_SET].detail), "timed out");
	rc[1].hosts = &h;
	rc[1].nhosts = 1;
	json_t *j = kb_rot_report_json(rc, 2, false, 12, 1);
	KBT_CHECK(j != NULL);
	KBT_CHECK_STR(json_string_value(json_object_get(j, "status")), "failed");
	json_t *c1 = json_array_get(json_object_get(j, "credentials"), 1);
	KBT_CHECK_STR(json_string_value(json_object_get(c1, "status")), "pending");
	json_t *h0 = json_array_get(json_object_get(c1, "hosts"), 0);
	KBT_CHECK_STR(json_string_value(json_object_get(h0, "status")), "pending");
	json_t *set = json_object_get(json_object_get(h0, "steps"), "set");
	KBT_CHECK_STR(json_string_value(json_object_get(set, "status")), "unreachable");
	KBT_CHECK_STR(json_string_value(json_object_get(set, "error")), "timed out");
	json_decref(j);
}

static void test_crash_point_no_match(void)
{
	setenv("KEYBROKER_TEST_CRASH", "set:2", 1);
	kb_rot_crash_point("set", 1);
	kb_rot_crash_point("set", 3);
	kb_rot_crash_point("test", 2);
	kb_rot_crash_point("se", 2);
	setenv("KEYBROKER_TEST_CRASH", "promote", 1);
	kb_rot_crash_point("promotex", 0);
	kb_rot_crash_point("create", 0);
	setenv("KEYBROKER_TEST_CRASH", "set:x", 1);
	kb_rot_crash_point("set", 0);
	unsetenv("KEYBROKER_TEST_CRASH");
	kb_rot_crash_point("set", 1);
	KBT_CHECK(1); /* still alive */
}

int main(void)
{
	if (kb_init() != 0)
		return 1;
	KBT_RUN(test_roundtrip);
	KBT_RUN(test_rejects);
	KBT_RUN(test_truncation_bitflip);
	KBT_RUN(test_names);
	KBT_RUN(test_exit_and_report);
	KBT_RUN(test_crash_point_no_match);
	return kbt_done();
}
