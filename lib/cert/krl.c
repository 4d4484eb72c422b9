/* OpenSSH KRL reading, writing and checking (PROTOCOL.krl).
 *
 * In memory every list is kept sorted and unique (serial ranges merged),
 * so checks are binary searches and the writer's output is canonical.
 * Parsing appends and normalises once at the end. */
#include "cert/krl.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "cert/cert.h"
#include "core/err.h"
#include "core/util.h"

#define KRL_MAGIC 0x5353484b524c0a00ULL
#define KRL_FORMAT_VERSION 1
#define SECTION_CERTIFICATES 1
#define SECTION_EXPLICIT_KEY 2
#define SECTION_FINGERPRINT_SHA1 3
#define SECTION_SIGNATURE 4
#define SECTION_FINGERPRINT_SHA256 5
#define CERT_SERIAL_LIST 0x20
#define CERT_SERIAL_RANGE 0x21
#define CERT_SERIAL_BITMAP 0x22
#define CERT_KEY_ID 0x23
/* OpenSSH reads bitmaps as bignums of at most 16384 bits. */
#define BITMAP_MAX_BYTES 2049

#include "krl_internal.h"

int kb_krl_new(struct kb_krl **ret)
{
	*ret = calloc(1, sizeof(**ret));
	if (*ret == NULL)
		return KB_ERR_NOMEM;
	if (((*ret)->comment = kb_strdup("")) == NULL) {
		free(*ret);
		*ret = NULL;
		return KB_ERR_NOMEM;
	}
	return KB_OK;
}

static void blobset_done(struct krl_blobset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].p);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

void kb_krl_free(struct kb_krl *krl)
{
	if (krl == NULL)
		return;
	for (size_t i = 0; i < krl->ncas; i++) {
		free(krl->cas[i].ca.p);
		free(krl->cas[i].ranges);
		blobset_done(&krl->cas[i].ids);
	}
	free(krl->cas);
	blobset_done(&krl->keys);
	blobset_done(&krl->sha1);
	blobset_done(&krl->sha256);
	free(krl->comment);
	free(krl);
}

void kb_krl_set_version(struct kb_krl *krl, uint64_t v) { krl->version = v; }
uint64_t kb_krl_version(const struct kb_krl *krl) { return krl->version; }
void kb_krl_set_generated_date(struct kb_krl *krl, uint64_t t) { krl->generated = t; }
uint64_t kb_krl_generated_date(const struct kb_krl *krl) { return krl->generated; }
const char *kb_krl_comment(const struct kb_krl *krl) { return krl->comment ? krl->comment : ""; }

int kb_krl_set_comment(struct kb_krl *krl, const char *comment)
{
	char *s = kb_strdup(comment);
	if (s == NULL)
		return KB_ERR_NOMEM;
	free(krl->comment);
	krl->comment = s;
	return KB_OK;
}

/* ---- sorted sets ---- */

/* Room for element n (arrays grow to powers of two, so capacity is
 * implicit: reallocate only when n is 0 or a power of two). */
static int grow(void **arr, size_t n, size_t elem)
{
	if (n != 0 && (n & (n - 1)) != 0)
		return KB_OK;
	size_t cap = n == 0 ? 1 : 2 * n;
	void *v = realloc(*arr, cap * elem);
	if (v == NULL)
		return KB_ERR_NOMEM;
	*arr = v;
	return KB_OK;
}

static int blob_cmp(const void *a, const void *b)
{
	const struct krl_blob *x = a, *y = b;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return x->n ? memcmp(x->p, y->p, x->n) : 0;
}

static void blobset_normalize(struct krl_blobset *s)
{
	size_t out = 0;
	if (s->n == 0)
		return;
	qsort(s->v, s->n, sizeof(*s->v), blob_cmp);
	for (size_t i = 1; i < s->n; i++) {
		if (blob_cmp(&s->v[out], &s->v[i]) == 0) {
			free(s->v[i].p);
			continue;
		}
		s->v[++out] = s->v[i];
	}
	s->n = out + 1;
}

static bool blobset_has(const struct krl_blobset *s, const uint8_t *p, size_t n)
{
	struct krl_blob key = { (uint8_t *)p, n };
	return s->n > 0 && bsearch(&key, s->v, s->n, sizeof(*s->v), blob_cmp) != NULL;
}

static int blobset_add(struct kb_krl *krl, struct krl_blobset *s, const uint8_t *p, size_t n)
{
	if (krl->entries >= KB_KRL_MAX_ENTRIES)
		return kb_err_set(KB_ERR_LIMIT, "KRL has more than %u entries", KB_KRL_MAX_ENTRIES);
	if (grow((void **)&s->v, s->n, sizeof(*s->v)) != 0)
		return KB_ERR_NOMEM;
	struct krl_blob *v = s->v;
	if ((v[s->n].p = malloc(n ? n : 1)) == NULL)
		return KB_ERR_NOMEM;
	if (n)
		memcpy(v[s->n].p, p, n);
	v[s->n].n = n;
	s->n++;
	krl->entries++;
	return KB_OK;
}

static int range_cmp(const void *a, const void *b)
{
	const struct krl_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo ? 1 : 0;
}

static void ranges_normalize(struct krl_ca *ca)
{
	size_t out = 0;
	if (ca->nranges == 0)
		return;
	qsort(ca->ranges, ca->nranges, sizeof(*ca->ranges), range_cmp);
	for (size_t i = 1; i < ca->nranges; i++) {
		struct krl_range *last = &ca->ranges[out];
		if (last->hi == UINT64_MAX || ca->ranges[i].lo <= last->hi + 1) {
			if (ca->ranges[i].hi > last->hi)
				last->hi = ca->ranges[i].hi;
			continue;
		}
		ca->ranges[++out] = ca->ranges[i];
	}
	ca->nranges = out + 1;
}

static bool ranges_have(const struct krl_ca *ca, uint64_t serial)
{
	size_t lo = 0, hi = ca->nranges;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (serial < ca->ranges[mid].lo)
			hi = mid;
		else if (serial > ca->ranges[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static int range_add(struct kb_krl *krl, struct krl_ca *ca, uint64_t lo, uint64_t hi)
{
	if (lo == 0 || lo > hi)
		return kb_err_set(KB_ERR_INVALID, "invalid serial range %llu-%llu (serial 0 cannot be revoked)",
				  (unsigned long long)lo, (unsigned long long)hi);
	if (krl->entries >= KB_KRL_MAX_ENTRIES)
		return kb_err_set(KB_ERR_LIMIT, "KRL has more than %u entries", KB_KRL_MAX_ENTRIES);
	if (grow((void **)&ca->ranges, ca->nranges, sizeof(*ca->ranges)) != 0)
		return KB_ERR_NOMEM;
	struct krl_range *v = ca->ranges;
	v[ca->nranges].lo = lo;
	v[ca->nranges].hi = hi;
	ca->nranges++;
	krl->entries++;
	return KB_OK;
}

/* The section for a CA blob (n == 0: any CA), created when missing. */
static int get_ca(struct kb_krl *krl, const uint8_t *p, size_t n, struct krl_ca **ret)
{
	for (size_t i = 0; i < krl->ncas; i++) {
		if (krl->cas[i].ca.n == n && (n == 0 || memcmp(krl->cas[i].ca.p, p, n) == 0)) {
			*ret = &krl->cas[i];
			return KB_OK;
		}
	}
	if (krl->ncas >= KB_KRL_MAX_CAS)
		return kb_err_set(KB_ERR_LIMIT, "KRL names more than %d CA keys", KB_KRL_MAX_CAS);
	struct krl_ca *v = realloc(krl->cas, (krl->ncas + 1) * sizeof(*v));
	if (v == NULL)
		return KB_ERR_NOMEM;
	krl->cas = v;
	memset(&v[krl->ncas], 0, sizeof(v[0]));
	if ((v[krl->ncas].ca.p = malloc(n ? n : 1)) == NULL)
		return KB_ERR_NOMEM;
	if (n)
		memcpy(v[krl->ncas].ca.p, p, n);
	v[krl->ncas].ca.n = n;
	*ret = &v[krl->ncas++];
	return KB_OK;
}

static int get_ca_key(struct kb_krl *krl, const struct kb_key *ca, struct krl_ca **ret)
{
	struct kb_buf b;
	int r;

	if (ca == NULL)
		return get_ca(krl, NULL, 0, ret);
	kb_buf_init(&b, KB_KEY_BLOB_MAX);
	if ((r = kb_key_plain_blob(ca, &b)) == 0)
		r = get_ca(krl, b.data, b.len, ret);
	kb_buf_done(&b);
	return r;
}

/* ---- revocation API ---- */

static int add_unique(struct kb_krl *krl, struct krl_blobset *s, const uint8_t *p, size_t n);

int kb_krl_revoke_serial_range(struct kb_krl *krl, const struct kb_key *ca, uint64_t lo, uint64_t hi)
{
	struct krl_ca *s;
	int r;

	if (lo == 0 || lo > hi)
		return range_add(krl, NULL, lo, hi); /* the error message */
	if ((r = get_ca_key(krl, ca, &s)) != 0)
		return r;
	/* Appending past the last range keeps the list normalised. */
	bool in_order = s->nranges == 0 ||
			(s->ranges[s->nranges - 1].hi != UINT64_MAX && lo > s->ranges[s->nranges - 1].hi + 1);
	if ((r = range_add(krl, s, lo, hi)) != 0)
		return r;
	if (!in_order)
		ranges_normalize(s);
	return KB_OK;
}

int kb_krl_revoke_key_id(struct kb_krl *krl, const struct kb_key *ca, const char *key_id)
{
	struct krl_ca *s;
	size_t n = strlen(key_id);
	int r;

	if (n > KB_KRL_KEY_ID_MAX)
		return kb_err_set(KB_ERR_INVALID, "key id longer than %d bytes", KB_KRL_KEY_ID_MAX);
	if ((r = get_ca_key(krl, ca, &s)) != 0)
		return r;
	return add_unique(krl, &s->ids, (const uint8_t *)key_id, n);
}

static int add_unique(struct kb_krl *krl, struct krl_blobset *s, const uint8_t *p, size_t n)
{
	struct krl_blob key = { (uint8_t *)p, n };
	int r;
	if (blobset_has(s, p, n))
		return KB_OK;
	bool in_order = s->n == 0 || blob_cmp(&s->v[s->n - 1], &key) < 0;
	if ((r = blobset_add(krl, s, p, n)) != 0)
		return r;
	if (!in_order)
		blobset_normalize(s);
	return KB_OK;
}

static int plain_hash(const struct kb_key *k, bool sha1, uint8_t out[32], size_t *ret_len)
{
	struct kb_buf b;
	int r;

	kb_buf_init(&b, KB_KEY_BLOB_MAX);
	if ((r = kb_key_plain_blob(k, &b)) != 0)
		goto out;
	if (sha1) {
		unsigned int len = 0;
		if (EVP_Digest(b.data, b.len, out, &len, EVP_sha1(), NULL) != 1 || len != 20) {
			r = kb_err_set(KB_ERR_CRYPTO, "SHA1 failed");
			goto out;
		}
		*ret_len = 20;
	} else {
		crypto_hash_sha256(out, b.data, b.len);
		*ret_len = 32;
	}
out:
	kb_buf_done(&b);
	return r;
}

int kb_krl_revoke_key(struct kb_krl *krl, const struct kb_key *k)
{
	struct kb_buf b;
	int r;

	kb_buf_init(&b, KB_KEY_BLOB_MAX);
	if ((r = kb_key_plain_blob(k, &b)) == 0)
		r = add_unique(krl, &krl->keys, b.data, b.len);
	kb_buf_done(&b);
	return r;
}

int kb_krl_revoke_key_sha256(struct kb_krl *krl, const struct kb_key *k)
{
	uint8_t h[32];
	size_t n;
	int r = plain_hash(k, false, h, &n);
	return r ? r : add_unique(krl, &krl->sha256, h, n);
}

int kb_krl_revoke_key_sha1(struct kb_krl *krl, const struct kb_key *k)
{
	uint8_t h[32];
	size_t n;
	int r = plain_hash(k, true, h, &n);
	return r ? r : add_unique(krl, &krl->sha1, h, n);
}

int kb_krl_revoke_fingerprint(struct kb_krl *krl, const char *fp)
{
	uint8_t h[32];
	size_t n = 0;
	const char *end = NULL;

	if (strncmp(fp, "SHA256:", 7) != 0)
		return kb_err_set(KB_ERR_INVALID, "only SHA256:<base64> fingerprints are supported");
	if (sodium_base642bin(h, sizeof(h), fp + 7, strlen(fp + 7), NULL, &n, &end,
			      sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
	    n != sizeof(h) || *end != '\0')
		return kb_err_set(KB_ERR_INVALID, "invalid SHA256 fingerprint \"%.64s\"", fp);
	return add_unique(krl, &krl->sha256, h, n);
}

/* ---- parsing ---- */

static int parse_bitmap(struct kb_krl *krl, struct krl_ca *ca, struct kb_buf *sub)
{
	const uint8_t *bits;
	uint64_t off;
	size_t n;
	int r;

	if ((r = kb_buf_get_u64(sub, &off)) != 0 || (r = kb_buf_get_mpint_direct(sub, &bits, &n)) != 0)
		return r;
	if (n > BITMAP_MAX_BYTES)
		return kb_err_set(KB_ERR_TOO_LARGE, "KRL serial bitmap larger than %d bytes", BITMAP_MAX_BYTES);
	/* Bit k (counting from the least significant) revokes off + k. */
	uint64_t nbits = (uint64_t)n * 8;
	uint64_t k = 0;
	while (k < nbits) {
		if (!(bits[n - 1 - k / 8] & (1u << (k % 8)))) {
			k++;
			continue;
		}
		uint64_t start = k;
		while (k < nbits && (bits[n - 1 - k / 8] & (1u << (k % 8))))
			k++;
		if (off > UINT64_MAX - (k - 1))
			return kb_err_set(KB_ERR_INVALID, "KRL serial bitmap overflows");
		if ((r = range_add(krl, ca, off + start, off + k - 1)) != 0)
			return r;
	}
	return KB_OK;
}

static int parse_cert_section(struct kb_krl *krl, struct kb_buf *sect)
{
	const uint8_t *cap, *res;
	size_t calen, reslen;
	struct krl_ca *ca;
	struct kb_key *cakey = NULL;
	int r;

	if ((r = kb_buf_get_string_direct(sect, &cap, &calen)) != 0 ||
	    (r = kb_buf_get_string_direct(sect, &res, &reslen)) != 0)
		return r;
	if (calen > 0) {
		if ((r = kb_key_from_blob(cap, calen, &cakey)) != 0)
			return kb_err_set(r, "KRL CA key does not parse");
		bool is_cert = kb_key_is_cert(cakey);
		kb_key_free(cakey);
		if (is_cert)
			return kb_err_set(KB_ERR_INVALID, "KRL CA key is a certificate");
	}
	if ((r = get_ca(krl, cap, calen, &ca)) != 0)
		return r;
	while (kb_buf_remaining(sect) > 0) {
		struct kb_buf sub;
		uint8_t type;
		uint64_t lo, hi;
		if ((r = kb_buf_get_u8(sect, &type)) != 0 || (r = kb_buf_get_sub(sect, &sub)) != 0)
			return r;
		switch (type) {
		case CERT_SERIAL_LIST:
			while (kb_buf_remaining(&sub) > 0)
				if ((r = kb_buf_get_u64(&sub, &lo)) != 0 || (r = range_add(krl, ca, lo, lo)) != 0)
					return r;
			break;
		case CERT_SERIAL_RANGE:
			if ((r = kb_buf_get_u64(&sub, &lo)) != 0 || (r = kb_buf_get_u64(&sub, &hi)) != 0 ||
			    (r = range_add(krl, ca, lo, hi)) != 0)
				return r;
			break;
		case CERT_SERIAL_BITMAP:
			if ((r = parse_bitmap(krl, ca, &sub)) != 0)
				return r;
			break;
		case CERT_KEY_ID:
			while (kb_buf_remaining(&sub) > 0) {
				const uint8_t *id;
				size_t idlen;
				if ((r = kb_buf_get_string_direct(&sub, &id, &idlen)) != 0)
					return r;
				if (idlen > KB_KRL_KEY_ID_MAX || memchr(id, 0, idlen) != NULL)
					return kb_err_set(KB_ERR_INVALID, "bad key id in KRL");
				if ((r = blobset_add(krl, &ca->ids, id, idlen)) != 0)
					return r;
			}
			break;
		default:
			return kb_err_set(KB_ERR_UNSUPPORTED, "unknown KRL certificate subsection 0x%02x", type);
		}
		if ((r = kb_buf_expect_end(&sub)) != 0)
			return r;
	}
	return KB_OK;
}

static int parse_blobs(struct kb_krl *krl, struct krl_blobset *s, struct kb_buf *sect, size_t expect)
{
	int r;
	while (kb_buf_remaining(sect) > 0) {
		const uint8_t *p;
		size_t n;
		if ((r = kb_buf_get_string_direct(sect, &p, &n)) != 0)
			return r;
		if ((expect != 0 && n != expect) || n == 0 || n > KB_KEY_BLOB_MAX)
			return kb_err_set(KB_ERR_INVALID, "KRL entry of bad length %zu", n);
		if ((r = blobset_add(krl, s, p, n)) != 0)
			return r;
	}
	return KB_OK;
}

int kb_krl_parse(const uint8_t *data, size_t len, struct kb_krl **ret)
{
	struct kb_krl *krl = NULL;
	struct kb_buf b;
	uint64_t magic, flags;
	uint32_t format;
	const uint8_t *res;
	size_t reslen;
	bool sig_seen = false;
	int r;

	*ret = NULL;
	if (len > KB_KRL_MAX_SIZE)
		return kb_err_set(KB_ERR_TOO_LARGE, "KRL larger than %u bytes", KB_KRL_MAX_SIZE);
	kb_buf_init_ro(&b, data, len);
	if (kb_buf_get_u64(&b, &magic) != 0 || magic != KRL_MAGIC)
		return kb_err_set(KB_ERR_INVALID, "not an OpenSSH KRL (bad magic)");
	if ((r = kb_buf_get_u32(&b, &format)) != 0)
		return r;
	if (format != KRL_FORMAT_VERSION)
		return kb_err_set(KB_ERR_UNSUPPORTED, "KRL format version %u", format);
	if ((r = kb_krl_new(&krl)) != 0)
		return r;
	free(krl->comment);
	krl->comment = NULL;
	if ((r = kb_buf_get_u64(&b, &krl->version)) != 0 || (r = kb_buf_get_u64(&b, &krl->generated)) != 0 ||
	    (r = kb_buf_get_u64(&b, &flags)) != 0 || (r = kb_buf_get_string_direct(&b, &res, &reslen)) != 0 ||
	    (r = kb_buf_get_cstring(&b, &krl->comment)) != 0)
		goto out;
	while (kb_buf_remaining(&b) > 0) {
		struct kb_buf sect;
		uint8_t type;
		if ((r = kb_buf_get_u8(&b, &type)) != 0 || (r = kb_buf_get_sub(&b, &sect)) != 0)
			goto out;
		if (sig_seen && type != SECTION_SIGNATURE) {
			r = kb_err_set(KB_ERR_INVALID, "KRL has a section after its signature");
			goto out;
		}
		switch (type) {
		case SECTION_CERTIFICATES:
			r = parse_cert_section(krl, &sect);
			break;
		case SECTION_EXPLICIT_KEY:
			r = parse_blobs(krl, &krl->keys, &sect, 0);
			break;
		case SECTION_FINGERPRINT_SHA1:
			r = parse_blobs(krl, &krl->sha1, &sect, 20);
			break;
		case SECTION_FINGERPRINT_SHA256:
			r = parse_blobs(krl, &krl->sha256, &sect, 32);
			break;
		case SECTION_SIGNATURE:
			/* Not verified (ssh-keygen never writes one): skipped. */
			sig_seen = true;
			kb_buf_skip(&sect, kb_buf_remaining(&sect));
			break;
		default:
			r = kb_err_set(KB_ERR_UNSUPPORTED, "unknown KRL section type %u", type);
			break;
		}
		if (r == 0)
			r = kb_buf_expect_end(&sect);
		if (r != 0)
			goto out;
	}
	for (size_t i = 0; i < krl->ncas; i++) {
		ranges_normalize(&krl->cas[i]);
		blobset_normalize(&krl->cas[i].ids);
	}
	blobset_normalize(&krl->keys);
	blobset_normalize(&krl->sha1);
	blobset_normalize(&krl->sha256);
	*ret = krl;
	krl = NULL;
	r = KB_OK;
out:
	kb_krl_free(krl);
	return r;
}

/* ---- writing ---- */

static int put_blobs(struct kb_buf *out, uint8_t type, const struct krl_blobset *s)
{
	struct kb_buf sect;
	int r = KB_OK;

	if (s->n == 0)
		return KB_OK;
	kb_buf_init(&sect, KB_KRL_MAX_SIZE);
	for (size_t i = 0; i < s->n && r == 0; i++)
		r = kb_buf_put_string(&sect, s->v[i].p, s->v[i].n);
	if (r == 0 && (r = kb_buf_put_u8(out, type)) == 0)
		r = kb_buf_put_stringb(out, &sect);
	kb_buf_done(&sect);
	return r;
}

static int put_subsection(struct kb_buf *sect, uint8_t type, struct kb_buf *sub)
{
	int r = kb_buf_put_u8(sect, type);
	if (r == 0)
		r = kb_buf_put_stringb(sect, sub);
	kb_buf_reset(sub);
	return r;
}

static int put_ca(struct kb_buf *out, const struct krl_ca *ca)
{
	struct kb_buf sect, sub;
	int r;

	if (ca->nranges == 0 && ca->ids.n == 0)
		return KB_OK;
	kb_buf_init(&sect, KB_KRL_MAX_SIZE);
	kb_buf_init(&sub, KB_KRL_MAX_SIZE);
	if ((r = kb_buf_put_string(&sect, ca->ca.p, ca->ca.n)) != 0 || (r = kb_buf_put_string(&sect, NULL, 0)) != 0)
		goto out;
	for (size_t i = 0; i < ca->nranges; i++)
		if (ca->ranges[i].lo == ca->ranges[i].hi && (r = kb_buf_put_u64(&sub, ca->ranges[i].lo)) != 0)
			goto out;
	if (sub.len > 0 && (r = put_subsection(&sect, CERT_SERIAL_LIST, &sub)) != 0)
		goto out;
	for (size_t i = 0; i < ca->nranges; i++) {
		if (ca->ranges[i].lo == ca->ranges[i].hi)
			continue;
		if ((r = kb_buf_put_u64(&sub, ca->ranges[i].lo)) != 0 ||
		    (r = kb_buf_put_u64(&sub, ca->ranges[i].hi)) != 0 ||
		    (r = put_subsection(&sect, CERT_SERIAL_RANGE, &sub)) != 0)
			goto out;
	}
	for (size_t i = 0; i < ca->ids.n; i++)
		if ((r = kb_buf_put_string(&sub, ca->ids.v[i].p, ca->ids.v[i].n)) != 0)
			goto out;
	if (sub.len > 0 && (r = put_subsection(&sect, CERT_KEY_ID, &sub)) != 0)
		goto out;
	if ((r = kb_buf_put_u8(out, SECTION_CERTIFICATES)) == 0)
		r = kb_buf_put_stringb(out, &sect);
out:
	kb_buf_done(&sect);
	kb_buf_done(&sub);
	return r;
}

int kb_krl_write(const struct kb_krl *krl, struct kb_buf *out)
{
	int r;

	if ((r = kb_buf_put_u64(out, KRL_MAGIC)) != 0 || (r = kb_buf_put_u32(out, KRL_FORMAT_VERSION)) != 0 ||
	    (r = kb_buf_put_u64(out, krl->version)) != 0 || (r = kb_buf_put_u64(out, krl->generated)) != 0 ||
	    (r = kb_buf_put_u64(out, 0)) != 0 || (r = kb_buf_put_string(out, NULL, 0)) != 0 ||
	    (r = kb_buf_put_cstring(out, kb_krl_comment(krl))) != 0)
		return r;
	for (size_t i = 0; i < krl->ncas; i++)
		if ((r = put_ca(out, &krl->cas[i])) != 0)
			return r;
	if ((r = put_blobs(out, SECTION_EXPLICIT_KEY, &krl->keys)) != 0 ||
	    (r = put_blobs(out, SECTION_FINGERPRINT_SHA1, &krl->sha1)) != 0 ||
	    (r = put_blobs(out, SECTION_FINGERPRINT_SHA256, &krl->sha256)) != 0)
		return r;
	return KB_OK;
}

/* ---- checking ---- */

static int check_plain(const struct kb_krl *krl, const struct kb_key *k, const char *what)
{
	struct kb_buf b;
	uint8_t h[32];
	size_t hn;
	char fp[KB_KEY_FP_MAX] = "?";
	int r;

	kb_buf_init(&b, KB_KEY_BLOB_MAX);
	if ((r = kb_key_plain_blob(k, &b)) != 0)
		goto out;
	kb_key_fingerprint(k, fp, sizeof(fp));
	if (blobset_has(&krl->keys, b.data, b.len)) {
		r = kb_err_set(KB_ERR_REVOKED, "%s %s is revoked (explicit key)", what, fp);
		goto out;
	}
	if ((r = plain_hash(k, false, h, &hn)) != 0)
		goto out;
	if (blobset_has(&krl->sha256, h, hn)) {
		r = kb_err_set(KB_ERR_REVOKED, "%s %s is revoked (SHA256 hash)", what, fp);
		goto out;
	}
	if ((r = plain_hash(k, true, h, &hn)) != 0)
		goto out;
	if (blobset_has(&krl->sha1, h, hn))
		r = kb_err_set(KB_ERR_REVOKED, "%s %s is revoked (SHA1 hash)", what, fp);
out:
	kb_buf_done(&b);
	return r;
}

int kb_krl_check_cert(const struct kb_krl *krl, const struct kb_cert *c)
{
	struct kb_buf ca;
	int r;

	if (c == NULL || c->key == NULL || c->ca_key == NULL)
		return kb_err_set(KB_ERR_INVALID, "certificate is not signed");
	if ((r = check_plain(krl, c->key, "certified key")) != 0)
		return r;
	kb_buf_init(&ca, KB_KEY_BLOB_MAX);
	if ((r = kb_key_plain_blob(c->ca_key, &ca)) != 0)
		goto out;
	for (size_t i = 0; i < krl->ncas; i++) {
		const struct krl_ca *s = &krl->cas[i];
		if (s->ca.n != 0 && (s->ca.n != ca.len || memcmp(s->ca.p, ca.data, ca.len) != 0))
			continue;
		const char *scope = s->ca.n == 0 ? "any CA" : "its CA";
		size_t idlen = strlen(c->key_id ? c->key_id : "");
		if (blobset_has(&s->ids, (const uint8_t *)(c->key_id ? c->key_id : ""), idlen)) {
			r = kb_err_set(KB_ERR_REVOKED, "certificate key id \"%s\" is revoked (%s)", c->key_id, scope);
			goto out;
		}
		/* Serial 0 means "no serial" to OpenSSH: never revoked by serial. */
		if (c->serial != 0 && ranges_have(s, c->serial)) {
			r = kb_err_set(KB_ERR_REVOKED, "certificate serial %llu is revoked (%s)",
				       (unsigned long long)c->serial, scope);
			goto out;
		}
	}
	r = check_plain(krl, c->ca_key, "signing CA key");
out:
	kb_buf_done(&ca);
	return r;
}

int kb_krl_check_key(const struct kb_krl *krl, const struct kb_key *k)
{
	const struct kb_cert *c = kb_key_cert(k);
	if (c != NULL)
		return kb_krl_check_cert(krl, c);
	return check_plain(krl, k, "key");
}
