/* EC2 Instance Connect entries: parse, check, verify.  See eic.h.
 *
 * Mirrors the semantics of AWS's eic_parse_authorized_keys: '#' lines are
 * signed in order whether we understand them or not; an entry needs an
 * Instance and a Timestamp; a line that is not a key skips the entry up to
 * the next blank line. */
#include <openssl/rsa.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "fleet/eic.h"

/* Next line from b without its '\n' (a trailing '\r' is kept: it is part of
 * what was signed).  Returns false at the end. */
static bool next_line(struct kb_buf *b, const char **ret, size_t *ret_len, bool *too_long)
{
	size_t rem = kb_buf_remaining(b), n;
	const char *p = (const char *)kb_buf_ptr(b);
	const char *nl;

	if (rem == 0)
		return false;
	nl = memchr(p, '\n', rem);
	n = nl ? (size_t)(nl - p) : rem;
	*ret = p;
	*ret_len = n;
	*too_long = n > KB_EIC_LINE_MAX;
	kb_buf_skip(b, nl ? n + 1 : n);
	return true;
}

static bool starts(const char *p, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);
	return n >= k && memcmp(p, prefix, k) == 0;
}

static const char *const key_types[] = {
	"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
};

/* "<type> <base64>[ comment]" with a known type and printable text. */
static bool is_key_line(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return false;
	for (size_t i = 0; i < KB_ARRAY_SIZE(key_types); i++) {
		size_t k = strlen(key_types[i]);
		if (n > k + 1 && memcmp(p, key_types[i], k) == 0 && p[k] == ' ')
			return true;
	}
	return false;
}

int kb_eic_fingerprint(const char *line, char *out, size_t n)
{
	const char *b64 = strchr(line, ' ');
	struct kb_buf blob;
	uint8_t hash[crypto_hash_sha256_BYTES];
	char enc[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES, sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
	int r;

	if (b64 == NULL || n < 8 + sizeof(enc))
		return KB_ERR_INVALID;
	b64++;
	kb_buf_init(&blob, KB_EIC_LINE_MAX);
	r = kb_buf_put_from_base64(&blob, b64, strcspn(b64, " "));
	if (r == 0 && kb_buf_remaining(&blob) == 0)
		r = KB_ERR_INVALID;
	if (r == 0) {
		crypto_hash_sha256(hash, kb_buf_ptr(&blob), kb_buf_remaining(&blob));
		sodium_bin2base64(enc, sizeof(enc), hash, sizeof(hash), sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
		snprintf(out, n, "SHA256:%s", enc);
	}
	kb_buf_done(&blob);
	return r;
}

static bool verify_pss(EVP_PKEY *key, const struct kb_buf *data, const struct kb_buf *sig)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	bool ok = false;

	if (md == NULL || key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
		goto out;
	if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, key) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1)
		goto out;
	ok = EVP_DigestVerify(md, kb_buf_ptr(sig), kb_buf_remaining(sig), kb_buf_ptr(data),
			      kb_buf_remaining(data)) == 1;
out:
	EVP_MD_CTX_free(md);
	return ok;
}

struct entry {
	struct kb_buf signed_data;
	struct kb_buf sig_b64;
	char instance[64];
	uint64_t timestamp;
	bool have_instance;
	char *key;
};

static void entry_reset(struct entry *e)
{
	kb_buf_reset(&e->signed_data);
	kb_buf_reset(&e->sig_b64);
	e->instance[0] = '\0';
	e->timestamp = 0;
	e->have_instance = false;
	free(e->key);
	e->key = NULL;
}

/* Decides one complete entry: returns true when its key is to be printed. */
static bool entry_ok(struct entry *e, const struct kb_eic_filter *f)
{
	struct kb_buf sig;
	char fp[80];
	bool ok = false;

	if (!e->have_instance || e->timestamp == 0 || e->key == NULL)
		return false;
	if (kb_eic_fingerprint(e->key, fp, sizeof(fp)) != 0)
		return false;
	if (f->fingerprint != NULL && strcmp(fp, f->fingerprint) != 0)
		return false;
	if (strcmp(e->instance, f->instance_id) != 0) {
		kb_debug("entry for %s is for instance %s", fp, e->instance);
		return false;
	}
	if (e->timestamp <= (uint64_t)(f->now < 0 ? 0 : f->now)) {
		kb_debug("entry for %s expired", fp);
		return false;
	}
	kb_buf_init(&sig, 4096);
	if (kb_buf_put_from_base64(&sig, (const char *)kb_buf_ptr(&e->sig_b64), kb_buf_remaining(&e->sig_b64)) == 0 &&
	    kb_buf_remaining(&sig) > 0)
		ok = verify_pss(f->signer_key, &e->signed_data, &sig);
	if (!ok)
		kb_debug("entry for %s: bad signature", fp);
	kb_buf_done(&sig);
	return ok;
}

int kb_eic_filter_keys(const char *text, size_t len, const struct kb_eic_filter *f, struct kb_buf *out,
		       unsigned *ret_count)
{
	struct kb_buf in;
	struct entry e = { 0 };
	const char *line;
	size_t n;
	bool too_long, have = false;
	unsigned entries = 0;
	int r = KB_OK;

	*ret_count = 0;
	if (len > KB_EIC_KEYS_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "active keys larger than %u bytes", KB_EIC_KEYS_MAX);
	kb_buf_init_ro(&in, text, len);
	kb_buf_init(&e.signed_data, KB_EIC_KEYS_MAX);
	kb_buf_init(&e.sig_b64, KB_EIC_LINE_MAX);

	have = next_line(&in, &line, &n, &too_long);
	while (have) {
		if (++entries > KB_EIC_MAX_ENTRIES) {
			r = kb_err_set(KB_ERR_TOO_LARGE, "more than %u entries", KB_EIC_MAX_ENTRIES);
			break;
		}
		entry_reset(&e);
		bool bad = false;
		/* Header lines, all signed in order. */
		while (have && n > 0 && line[0] == '#') {
			if (too_long || memchr(line, '\0', n) != NULL)
				bad = true;
			if (!bad && starts(line, n, "#Timestamp=")) {
				char num[24];
				size_t k = n - 11;
				if (k == 0 || k >= sizeof(num))
					bad = true;
				else {
					memcpy(num, line + 11, k);
					num[k] = '\0';
					if (kb_parse_u64(num, UINT64_MAX, &e.timestamp) != 0)
						bad = true;
				}
			} else if (!bad && starts(line, n, "#Instance=")) {
				size_t k = n - 10;
				if (k == 0 || k >= sizeof(e.instance))
					bad = true;
				else {
					memcpy(e.instance, line + 10, k);
					e.instance[k] = '\0';
					e.have_instance = true;
				}
			}
			if (!bad && (kb_buf_put(&e.signed_data, line, n) != 0 || kb_buf_put_u8(&e.signed_data, '\n') != 0))
				bad = true;
			have = next_line(&in, &line, &n, &too_long);
		}
		if (have && !too_long && is_key_line(line, n)) {
			e.key = malloc(n + 1);
			if (e.key == NULL) {
				r = KB_ERR_NOMEM;
				break;
			}
			memcpy(e.key, line, n);
			e.key[n] = '\0';
			if (kb_buf_put(&e.signed_data, line, n) != 0 || kb_buf_put_u8(&e.signed_data, '\n') != 0)
				bad = true;
			/* Signature lines up to a blank line or the end. */
			have = next_line(&in, &line, &n, &too_long);
			while (have && n > 0) {
				if (too_long || kb_buf_put(&e.sig_b64, line, n) != 0)
					bad = true;
				have = next_line(&in, &line, &n, &too_long);
			}
			if (!bad && entry_ok(&e, f)) {
				if ((r = kb_buf_put(out, e.key, strlen(e.key))) != 0 || (r = kb_buf_put_u8(out, '\n')) != 0)
					break;
				(*ret_count)++;
			}
		} else {
			/* Not a key: skip to the blank line that ends this entry. */
			while (have && n > 0)
				have = next_line(&in, &line, &n, &too_long);
		}
		/* Past the blank separator(s). */
		while (have && n == 0)
			have = next_line(&in, &line, &n, &too_long);
	}
	entry_reset(&e);
	kb_buf_done(&e.signed_data);
	kb_buf_done(&e.sig_b64);
	return r;
}
