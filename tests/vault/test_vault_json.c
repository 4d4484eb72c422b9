/* Unit tests for the Vault JSON parsers and the record builder: known
 * answers, round trips, and truncation/bit-flip loops over every sample. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "kbtest.h"
#include "vault/vault_json.h"

static const char record_doc[] =
	"{\"request_id\":\"x\",\"data\":{\"data\":{\"value\":\"line1\\nline2\","
	"\"keybroker\":{\"format\":1,\"record\":\"value\",\"stages\":{\"current\":3,\"previous\":2,\"pending\":4},"
	"\"values\":[1,2,3,4],\"tokens\":[{\"token\":\"tok-1\",\"version\":3,\"sha256\":"
	"\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}]}},"
	"\"metadata\":{\"created_time\":\"2026-11-29T22:33:49.229726Z\",\"custom_metadata\":null,"
	"\"deletion_time\":\"\",\"destroyed\":false,\"version\":4}}}";

static const char meta_doc[] =
	"{\"data\":{\"cas_required\":true,\"created_time\":\"2026-11-29T20:00:00Z\",\"current_version\":3,"
	"\"custom_metadata\":null,\"max_versions\":0,\"oldest_version\":1,\"updated_time\":\"2026-11-29T21:00:00Z\","
	"\"versions\":{\"3\":{\"created_time\":\"2026-11-29T21:00:00Z\",\"deletion_time\":\"\",\"destroyed\":false},"
	"\"1\":{\"created_time\":\"2026-11-29T20:00:00Z\",\"deletion_time\":\"2026-11-29T20:30:00Z\",\"destroyed\":false},"
	"\"2\":{\"created_time\":\"2026-11-29T20:10:00Z\",\"deletion_time\":\"\",\"destroyed\":true}}}}";

static const char list_doc[] = "{\"data\":{\"keys\":[\"alice\",\"deploy/\",\"bob\"]}}";
static const char auth_doc[] =
	"{\"auth\":{\"client_token\":\"hvs.ABCdef\",\"accessor\":\"a\",\"policies\":[\"default\"],"
	"\"lease_duration\":1200,\"renewable\":true},\"data\":null}";
static const char err_doc[] = "{\"errors\":[\"1 error occurred:\\n\\t* permission denied\\n\\n\"]}";

static void test_record(void)
{
	struct kb_vault_record r;

	KBT_CHECK_INT(kb_vault_parse_record((const uint8_t *)record_doc, strlen(record_doc), &r), KB_OK);
	KBT_CHECK_INT(r.version, 4);
	KBT_CHECK(r.has_data && r.state.present && !r.state.stage_record);
	KBT_CHECK_INT(r.state.current, 3);
	KBT_CHECK_INT(r.state.previous, 2);
	KBT_CHECK_INT(r.state.pending, 4);
	KBT_CHECK_INT(r.state.nvalues, 4);
	KBT_CHECK_INT(r.state.ntokens, 1);
	KBT_CHECK_STR(r.state.tokens[0].token, "tok-1");
	KBT_CHECK_INT(r.state.tokens[0].sha256[1], 0x11);
	KBT_CHECK_INT(r.created, 1795991629);
	KBT_CHECK(kb_buf_is_secure(&r.value));
	KBT_CHECK(kb_buf_remaining(&r.value) == 11 && memcmp(kb_buf_ptr(&r.value), "line1\nline2", 11) == 0);
	kb_vault_record_done(&r);
}

static void test_foreign_record(void)
{
	static const char doc[] = "{\"data\":{\"data\":{\"b\":\"2\",\"a\":\"1\"},\"metadata\":{\"version\":7}}}";
	struct kb_vault_record r;

	KBT_CHECK_INT(kb_vault_parse_record((const uint8_t *)doc, strlen(doc), &r), KB_OK);
	KBT_CHECK(!r.state.present);
	KBT_CHECK(kb_buf_remaining(&r.value) == 17 && memcmp(kb_buf_ptr(&r.value), "{\"a\":\"1\",\"b\":\"2\"}", 17) == 0);
	kb_vault_record_done(&r);
}

static void roundtrip(const uint8_t *value, size_t len, bool expect_b64)
{
	struct kb_vault_state st;
	struct kb_vault_record r;
	struct kb_buf out, rd;

	memset(&st, 0, sizeof(st));
	st.present = true;
	st.current = 5;
	st.previous = 4;
	st.values[0] = 4;
	st.values[1] = 5;
	st.nvalues = 2;
	kb_buf_init_secure(&out, 1u << 20);
	kb_buf_init(&rd, 1u << 20);
	KBT_CHECK_INT(kb_vault_build_write(value, len, &st, 4, &out), KB_OK);
	const char *o = (const char *)kb_buf_ptr(&out);
	size_t on = kb_buf_remaining(&out);
	KBT_CHECK(on > 40 && memcmp(o, "{\"data\":", 8) == 0);
	KBT_CHECK(memmem(o, on, "\"options\":{\"cas\":4}", 19) != NULL);
	KBT_CHECK((memmem(o, on, "\"value_base64\"", 14) != NULL) == expect_b64);
	/* Turn {"data":D,"options":..} into a read answer {"data":{"data":D,...}}. */
	const char *opt = memmem(o, on, ",\"options\":", 11);
	KBT_CHECK(opt != NULL);
	if (opt != NULL) {
		kb_buf_put(&rd, "{\"data\":{\"metadata\":{\"version\":5},\"data\":", 41);
		kb_buf_put(&rd, o + 8, (size_t)(opt - o) - 8);
		kb_buf_put(&rd, "}}", 2);
		KBT_CHECK_INT(kb_vault_parse_record(kb_buf_ptr(&rd), kb_buf_remaining(&rd), &r), KB_OK);
		KBT_CHECK(kb_buf_remaining(&r.value) == len && memcmp(kb_buf_ptr(&r.value), value, len) == 0);
		KBT_CHECK_INT(r.state.current, 5);
		KBT_CHECK_INT(r.state.previous, 4);
		kb_vault_record_done(&r);
	}
	kb_buf_done(&out);
	kb_buf_done(&rd);
}

static void test_roundtrip(void)
{
	uint8_t bin[300];
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (uint8_t)(i * 7);
	roundtrip((const uint8_t *)"{\"kind\":\"keybroker/ssh-credential/v1\"}", 38, false);
	roundtrip(bin, sizeof(bin), true);
	roundtrip((const uint8_t *)"a\0b", 3, true);
	roundtrip((const uint8_t *)"\xc3\xa9t\xc3\xa9", 5, false);
	roundtrip((const uint8_t *)"\xc3(bad utf-8", 12, true);
}

static void test_metadata(void)
{
	struct kb_vault_meta m;

	KBT_CHECK_INT(kb_vault_parse_metadata((const uint8_t *)meta_doc, strlen(meta_doc), &m), KB_OK);
	KBT_CHECK_INT(m.current_version, 3);
	KBT_CHECK_INT(m.nversions, 3);
	KBT_CHECK_INT(m.versions[0].version, 1);
	KBT_CHECK(m.versions[0].deleted && !m.versions[0].destroyed);
	KBT_CHECK(m.versions[1].destroyed);
	KBT_CHECK(!m.versions[2].deleted && !m.versions[2].destroyed);
	KBT_CHECK(m.updated > m.created);
	kb_vault_meta_done(&m);
}

static void test_list_auth_errors(void)
{
	char **keys;
	size_t n;
	struct kb_vault_auth a;
	char msg[64];

	KBT_CHECK_INT(kb_vault_parse_list((const uint8_t *)list_doc, strlen(list_doc), &keys, &n), KB_OK);
	KBT_CHECK_INT(n, 3);
	if (n == 3) {
		KBT_CHECK_STR(keys[1], "deploy/");
		for (size_t i = 0; i < n; i++)
			free(keys[i]);
		free(keys);
	}
	static const char evil[] = "{\"data\":{\"keys\":[\"../etc\"]}}";
	KBT_CHECK_INT(kb_vault_parse_list((const uint8_t *)evil, strlen(evil), &keys, &n), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_vault_parse_auth((const uint8_t *)auth_doc, strlen(auth_doc), &a), KB_OK);
	KBT_CHECK_STR(a.token, "hvs.ABCdef");
	KBT_CHECK_INT(a.lease_duration, 1200);
	KBT_CHECK(a.renewable);
	kb_vault_auth_done(&a);
	KBT_CHECK_INT(kb_vault_parse_errors((const uint8_t *)err_doc, strlen(err_doc), msg, sizeof(msg)), KB_OK);
	KBT_CHECK_STR(msg, "permission denied");
}

static void test_size_cap(void)
{
	size_t n = KB_VAULT_JSON_MAX + 1;
	uint8_t *big = malloc(n);
	struct kb_vault_record r;
	struct kb_vault_auth a;

	KBT_CHECK(big != NULL);
	if (big == NULL)
		return;
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	KBT_CHECK_INT(kb_vault_parse_record(big, n, &r), KB_ERR_TOO_LARGE);
	KBT_CHECK_INT(kb_vault_parse_auth(big, KB_VAULT_SMALL_JSON_MAX + 1, &a), KB_ERR_TOO_LARGE);
	free(big);
}

/* Every truncation and every single-bit flip: no crash, no leak, and a
 * truncated document never parses. */
static void mangle(const char *doc, int (*parse)(const uint8_t *, size_t))
{
	size_t n = strlen(doc);
	uint8_t *copy = malloc(n);

	if (copy == NULL)
		return;
	for (size_t len = 0; len < n; len++) {
		memcpy(copy, doc, len);
		KBT_CHECK(parse(copy, len) != KB_OK);
	}
	for (size_t i = 0; i < n; i++)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(copy, doc, n);
			copy[i] ^= (uint8_t)(1u << bit);
			parse(copy, n);
		}
	free(copy);
}

static int p_record(const uint8_t *p, size_t n)
{
	struct kb_vault_record r;
	int e = kb_vault_parse_record(p, n, &r);
	if (e == KB_OK)
		kb_vault_record_done(&r);
	return e;
}

static int p_meta(const uint8_t *p, size_t n)
{
	struct kb_vault_meta m;
	int e = kb_vault_parse_metadata(p, n, &m);
	if (e == KB_OK)
		kb_vault_meta_done(&m);
	return e;
}

static int p_list(const uint8_t *p, size_t n)
{
	char **k;
	size_t c;
	int e = kb_vault_parse_list(p, n, &k, &c);
	if (e == KB_OK) {
		for (size_t i = 0; i < c; i++)
			free(k[i]);
		free(k);
	}
	return e;
}

static int p_auth(const uint8_t *p, size_t n)
{
	struct kb_vault_auth a;
	int e = kb_vault_parse_auth(p, n, &a);
	if (e == KB_OK)
		kb_vault_auth_done(&a);
	return e;
}

static void test_mangle(void)
{
	mangle(record_doc, p_record);
	mangle(meta_doc, p_meta);
	mangle(list_doc, p_list);
	mangle(auth_doc, p_auth);
}

int main(void)
{
	if (kb_init() != 0)
		return 1;
	kb_json_use_wiping_alloc();
	KBT_RUN(test_record);
	KBT_RUN(test_foreign_record);
	KBT_RUN(test_roundtrip);
	KBT_RUN(test_metadata);
	KBT_RUN(test_list_auth_errors);
	KBT_RUN(test_size_cap);
	KBT_RUN(test_mangle);
	return kbt_done();
}
