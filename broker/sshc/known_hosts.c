/* known_hosts parsing and host key lookup (see known_hosts.h). */
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "ssh/key.h"
#include "sshc/known_hosts.h"

#define SHA1_LEN 20
/* Longest base64 text of a blob we accept (KB_KEY_BLOB_MAX bytes). */
#define B64_MAX ((KB_KEY_BLOB_MAX + 2) / 3 * 4)

void kb_known_hosts_lookup_name(const char *host, uint16_t port, char *out, size_t n)
{
	size_t i;

	if (port == 22)
		snprintf(out, n, "%s", host);
	else
		snprintf(out, n, "[%s]:%u", host, (unsigned)port);
	for (i = 0; out[i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
}

/* Wildcard match of name against pattern (len bytes), case-insensitive,
 * '*' any run, '?' one byte.  Iterative with one backtrack point, so the
 * cost is bounded by len * strlen(name) whatever the number of stars. */
static bool wild_match(const char *p, size_t plen, const char *name)
{
	size_t pi = 0, ni = 0, nlen = strlen(name);
	size_t star_p = SIZE_MAX, star_n = 0;

	while (ni < nlen) {
		if (pi < plen && p[pi] == '*') {
			star_p = pi++;
			star_n = ni;
		} else if (pi < plen && (p[pi] == '?' ||
					 tolower((unsigned char)p[pi]) == tolower((unsigned char)name[ni]))) {
			pi++;
			ni++;
		} else if (star_p != SIZE_MAX) {
			pi = star_p + 1;
			ni = ++star_n;
		} else {
			return false;
		}
	}
	while (pi < plen && p[pi] == '*')
		pi++;
	return pi == plen;
}

static bool decode_b64(const char *p, size_t n, uint8_t *out, size_t outmax, size_t *ret_len)
{
	struct kb_buf b;
	bool ok = false;

	if (n == 0 || n > (outmax + 2) / 3 * 4)
		return false;
	kb_buf_init(&b, outmax);
	if (kb_buf_put_from_base64(&b, p, n) == 0 && b.len > 0 && b.len <= outmax) {
		memcpy(out, b.data, b.len);
		*ret_len = b.len;
		ok = true;
	}
	kb_buf_done(&b);
	return ok;
}

/* "|1|base64(salt)|base64(HMAC-SHA1(salt, name))" */
static int hashed_match(const char *p, size_t len, const char *name)
{
	const char *sep;
	uint8_t salt[SHA1_LEN + 4], want[SHA1_LEN + 4], got[EVP_MAX_MD_SIZE];
	size_t saltlen, wantlen;
	unsigned gotlen = 0;

	p += 3;
	len -= 3;
	sep = memchr(p, '|', len);
	if (sep == NULL)
		return 0;
	if (!decode_b64(p, (size_t)(sep - p), salt, sizeof(salt), &saltlen) || saltlen != SHA1_LEN)
		return 0;
	if (!decode_b64(sep + 1, len - (size_t)(sep + 1 - p), want, sizeof(want), &wantlen) || wantlen != SHA1_LEN)
		return 0;
	if (HMAC(EVP_sha1(), salt, (int)saltlen, (const unsigned char *)name, strlen(name), got, &gotlen) == NULL ||
	    gotlen != SHA1_LEN)
		return 0;
	return CRYPTO_memcmp(got, want, SHA1_LEN) == 0 ? 1 : 0;
}

int kb_known_hosts_match_patterns(const char *pat, size_t len, const char *name)
{
	size_t i = 0;
	int found = 0;

	if (len >= 3 && memcmp(pat, "|1|", 3) == 0)
		return hashed_match(pat, len, name);
	while (i < len) {
		size_t start = i, plen;
		bool neg = false;

		while (i < len && pat[i] != ',')
			i++;
		plen = i - start;
		i++; /* the comma */
		if (plen > 0 && pat[start] == '!') {
			neg = true;
			start++;
			plen--;
		}
		if (plen == 0)
			continue;
		if (wild_match(pat + start, plen, name)) {
			if (neg)
				return -1;
			found = 1;
		}
	}
	return found;
}

static unsigned type_bit(const char *t, size_t n)
{
	static const struct {
		const char *name;
		unsigned bit;
	} map[] = {
		{"ssh-ed25519", KB_KH_TYPE_ED25519},
		{"ecdsa-sha2-nistp256", KB_KH_TYPE_ECDSA256},
		{"ecdsa-sha2-nistp384", KB_KH_TYPE_ECDSA384},
		{"ecdsa-sha2-nistp521", KB_KH_TYPE_ECDSA521},
		{"ssh-rsa", KB_KH_TYPE_RSA},
		{"ssh-dss", KB_KH_TYPE_DSA},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strlen(map[i].name) == n && memcmp(map[i].name, t, n) == 0)
			return map[i].bit;
	return 0;
}

struct tok {
	const char *p;
	size_t n;
};

static bool next_tok(const char **pp, const char *end, struct tok *t)
{
	const char *p = *pp;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end)
		return false;
	t->p = p;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	t->n = (size_t)(p - t->p);
	*pp = p;
	return true;
}

enum marker { M_NONE, M_REVOKED, M_CA };

/* One line: 1 when it concerns the host (fills *mark, *bit, blob), 0 when
 * it does not or is a comment, -1 when malformed. */
static int parse_line(const char *p, const char *end, const char *name, enum marker *mark, unsigned *bit,
		      struct kb_buf *blob)
{
	struct tok hosts, type, key;
	const uint8_t *tname;
	size_t tnamelen;
	int m;

	*mark = M_NONE;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end || *p == '#')
		return 0;
	if (*p == '@') {
		struct tok mk;
		next_tok(&p, end, &mk);
		if (mk.n == 8 && memcmp(mk.p, "@revoked", 8) == 0)
			*mark = M_REVOKED;
		else if (mk.n == 15 && memcmp(mk.p, "@cert-authority", 15) == 0)
			*mark = M_CA;
		else
			return -1;
	}
	if (!next_tok(&p, end, &hosts) || !next_tok(&p, end, &type) || !next_tok(&p, end, &key))
		return -1;
	m = kb_known_hosts_match_patterns(hosts.p, hosts.n, name);
	if (m <= 0)
		return 0;
	if (key.n > B64_MAX)
		return -1;
	kb_buf_reset(blob);
	if (kb_buf_put_from_base64(blob, key.p, key.n) != 0)
		return -1;
	/* The blob must name the type written in the type field. */
	{
		struct kb_buf view;
		kb_buf_init_ro(&view, blob->data, blob->len);
		if (kb_buf_get_string_direct(&view, &tname, &tnamelen) != 0 || tnamelen != type.n ||
		    memcmp(tname, type.p, type.n) != 0)
			return -1;
	}
	*bit = type_bit(type.p, type.n);
	return 1;
}

static int check(const char *text, size_t len, const char *name, const uint8_t *blob, size_t bloblen,
		 struct kb_known_hosts_result *ret, struct kb_buf *ca_out)
{
	const char *p = text, *end = text + len;
	unsigned lineno = 0, ok_line = 0, revoked_line = 0, other_line = 0;
	struct kb_buf kb;

	memset(ret, 0, sizeof(*ret));
	if (len > KB_KNOWN_HOSTS_FILE_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "known_hosts file larger than %u MiB",
				  KB_KNOWN_HOSTS_FILE_MAX >> 20);
	kb_buf_init(&kb, KB_KEY_BLOB_MAX);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl != NULL ? nl : end;
		enum marker mark;
		unsigned bit = 0;
		int r;

		lineno++;
		if (le > p && le[-1] == '\r')
			le--;
		if ((size_t)(le - p) > KB_KNOWN_HOSTS_LINE_MAX || memchr(p, '\0', (size_t)(le - p)) != NULL)
			r = -1;
		else
			r = parse_line(p, le, name, &mark, &bit, &kb);
		p = nl != NULL ? nl + 1 : end;
		if (r < 0) {
			ret->bad_lines++;
			continue;
		}
		if (r == 0)
			continue;
		if (mark == M_CA) {
			ret->cert_authority++;
			if (ca_out != NULL && kb_buf_put_string(ca_out, kb.data, kb.len) != 0) {
				kb_buf_done(&kb);
				return kb_err_set(KB_ERR_TOO_LARGE, "too many @cert-authority lines for %s", name);
			}
			continue;
		}
		bool same = blob != NULL && kb.len == bloblen && memcmp(kb.data, blob, bloblen) == 0;
		if (mark == M_REVOKED) {
			if (same && revoked_line == 0)
				revoked_line = lineno;
			continue;
		}
		ret->types |= bit;
		if (same && ok_line == 0)
			ok_line = lineno;
		else if (!same && other_line == 0)
			other_line = lineno;
	}
	kb_buf_done(&kb);
	if (revoked_line != 0) {
		ret->status = KB_KH_REVOKED;
		ret->line = revoked_line;
	} else if (ok_line != 0) {
		ret->status = KB_KH_OK;
		ret->line = ok_line;
	} else if (other_line != 0) {
		ret->status = KB_KH_MISMATCH;
		ret->line = other_line;
	} else {
		ret->status = KB_KH_UNKNOWN;
	}
	return 0;
}

int kb_known_hosts_check(const char *text, size_t len, const char *name, const uint8_t *blob, size_t bloblen,
			 struct kb_known_hosts_result *ret)
{
	return check(text, len, name, blob, bloblen, ret, NULL);
}

int kb_known_hosts_check_ca(const char *text, size_t len, const char *name, const uint8_t *blob, size_t bloblen,
			    struct kb_known_hosts_result *ret, struct kb_buf *ca_out)
{
	return check(text, len, name, blob, bloblen, ret, ca_out);
}
