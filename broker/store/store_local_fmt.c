/* The local store's on-disk formats: sealing, metadata and store.info.
 * Kept apart from the file handling so the parsers can be fuzzed. */
#include "store/store_local.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/store.h"

#define META_MAGIC "kb-local-meta-v1"

void kb_local_meta_free(struct kb_local_meta *m)
{
	if (m == NULL)
		return;
	free(m->name);
	free(m->description);
	kb_freezero(m->v, m->n * sizeof(*m->v));
	free(m);
}

static bool token_ok(const char *t)
{
	for (; *t; t++)
		if (*t <= ' ' || *t >= 0x7f)
			return false;
	return true;
}

static int get_time(struct kb_buf *b, int64_t *ret)
{
	uint64_t v;
	int r = kb_buf_get_u64(b, &v);
	if (r != KB_OK)
		return r;
	if (v > (uint64_t)INT64_MAX)
		return KB_ERR_INVALID;
	*ret = (int64_t)v;
	return KB_OK;
}

static int get_fixed(struct kb_buf *b, uint8_t *out, size_t n)
{
	const uint8_t *p;
	size_t len;
	int r = kb_buf_get_string_direct(b, &p, &len);
	if (r != KB_OK)
		return r;
	if (len != n)
		return KB_ERR_INVALID;
	memcpy(out, p, n);
	return KB_OK;
}

static int parse_version(struct kb_buf *b, struct kb_local_version *v)
{
	char *token = NULL;
	int r;

	if ((r = kb_buf_get_u32(b, &v->num)) || (r = kb_buf_get_u32(b, &v->stages)) ||
	    (r = get_time(b, &v->created)) || (r = kb_buf_get_cstring(b, &token)))
		return r;
	size_t tl = strlen(token);
	if (tl > KB_LOCAL_TOKEN_MAX || !token_ok(token)) {
		free(token);
		return KB_ERR_INVALID;
	}
	memcpy(v->token, token, tl + 1);
	free(token);
	if ((r = get_fixed(b, v->file_hash, sizeof(v->file_hash))))
		return r;
	if (v->num == 0 || (v->stages & ~(unsigned)(KB_STAGE_CURRENT | KB_STAGE_PENDING | KB_STAGE_PREVIOUS)))
		return KB_ERR_INVALID;
	return KB_OK;
}

int kb_local_meta_parse(const uint8_t *p, size_t len, struct kb_local_meta **ret)
{
	struct kb_local_meta *m = NULL;
	struct kb_buf b;
	const uint8_t *magic;
	size_t magiclen;
	uint32_t n;
	unsigned seen = 0;
	int r;

	*ret = NULL;
	if (len > KB_LOCAL_META_MAX)
		return KB_ERR_TOO_LARGE;
	kb_buf_init_ro(&b, p, len);
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return KB_ERR_NOMEM;
	if ((r = kb_buf_get_string_direct(&b, &magic, &magiclen)))
		goto out;
	if (magiclen != strlen(META_MAGIC) || memcmp(magic, META_MAGIC, magiclen) != 0) {
		r = KB_ERR_INVALID;
		goto out;
	}
	if ((r = kb_buf_get_cstring(&b, &m->name)) || (r = get_fixed(&b, m->secret_id, KB_LOCAL_ID_LEN)) ||
	    (r = get_time(&b, &m->created)) || (r = get_time(&b, &m->updated)) ||
	    (r = kb_buf_get_u32(&b, &m->next_version)) || (r = kb_buf_get_cstring(&b, &m->description)) ||
	    (r = kb_buf_get_u32(&b, &n)))
		goto out;
	if (!kb_store_name_valid(m->name) || strlen(m->description) > KB_LOCAL_DESC_MAX ||
	    !kb_str_printable(m->description) || n > KB_LOCAL_VERSIONS_MAX || m->next_version == 0) {
		r = KB_ERR_INVALID;
		goto out;
	}
	/* Each version takes at least 4+4+8+4+4+32 bytes: refuse counts the
	 * input cannot hold before allocating. */
	if ((size_t)n > kb_buf_remaining(&b) / 56) {
		r = KB_ERR_TRUNCATED;
		goto out;
	}
	if (n > 0 && (m->v = calloc(n, sizeof(*m->v))) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct kb_local_version *v = &m->v[i];
		if ((r = parse_version(&b, v)))
			goto out;
		m->n = i + 1;
		if ((i > 0 && v->num <= m->v[i - 1].num) || v->num >= m->next_version || (v->stages & seen)) {
			r = KB_ERR_INVALID;
			goto out;
		}
		seen |= v->stages;
	}
	r = kb_buf_expect_end(&b);
out:
	if (r != KB_OK)
		kb_local_meta_free(m);
	else
		*ret = m;
	return r;
}

int kb_local_meta_encode(const struct kb_local_meta *m, struct kb_buf *out)
{
	int r;

	if ((r = kb_buf_put_cstring(out, META_MAGIC)) || (r = kb_buf_put_cstring(out, m->name)) ||
	    (r = kb_buf_put_string(out, m->secret_id, KB_LOCAL_ID_LEN)) ||
	    (r = kb_buf_put_u64(out, (uint64_t)m->created)) || (r = kb_buf_put_u64(out, (uint64_t)m->updated)) ||
	    (r = kb_buf_put_u32(out, m->next_version)) ||
	    (r = kb_buf_put_cstring(out, m->description ? m->description : "")) ||
	    (r = kb_buf_put_u32(out, (uint32_t)m->n)))
		return r;
	for (size_t i = 0; i < m->n; i++) {
		const struct kb_local_version *v = &m->v[i];
		if ((r = kb_buf_put_u32(out, v->num)) || (r = kb_buf_put_u32(out, v->stages)) ||
		    (r = kb_buf_put_u64(out, (uint64_t)v->created)) || (r = kb_buf_put_cstring(out, v->token)) ||
		    (r = kb_buf_put_string(out, v->file_hash, KB_LOCAL_HASH_LEN)))
			return r;
	}
	return KB_OK;
}

void kb_local_info_encode_body(const struct kb_local_info *info, uint8_t out[KB_LOCAL_INFO_LEN - 32])
{
	uint8_t *p = out;

	memcpy(p, KB_LOCAL_MAGIC, 4);
	p[4] = KB_LOCAL_FORMAT;
	p[5] = KB_LOCAL_KIND_INFO;
	p[6] = info->mode;
	p += 7;
	for (int i = 7; i >= 0; i--)
		*p++ = (uint8_t)(info->opslimit >> (8 * i));
	for (int i = 7; i >= 0; i--)
		*p++ = (uint8_t)(info->memlimit >> (8 * i));
	memcpy(p, info->salt, sizeof(info->salt));
}

int kb_local_info_parse(const uint8_t *p, size_t len, struct kb_local_info *ret)
{
	struct kb_buf b;
	uint8_t hdr[KB_LOCAL_HDR_LEN];
	int r;

	memset(ret, 0, sizeof(*ret));
	if (len != KB_LOCAL_INFO_LEN)
		return len < KB_LOCAL_INFO_LEN ? KB_ERR_TRUNCATED : KB_ERR_TRAILING;
	kb_buf_init_ro(&b, p, len);
	if ((r = kb_buf_get(&b, hdr, sizeof(hdr))) || (r = kb_buf_get_u8(&b, &ret->mode)) ||
	    (r = kb_buf_get_u64(&b, &ret->opslimit)) || (r = kb_buf_get_u64(&b, &ret->memlimit)) ||
	    (r = kb_buf_get(&b, ret->salt, sizeof(ret->salt))) ||
	    (r = kb_buf_get(&b, ret->verifier, sizeof(ret->verifier))) || (r = kb_buf_expect_end(&b)))
		return r;
	if (memcmp(hdr, KB_LOCAL_MAGIC, 4) != 0 || hdr[4] != KB_LOCAL_FORMAT || hdr[5] != KB_LOCAL_KIND_INFO)
		return KB_ERR_INVALID;
	if (ret->mode == KB_LOCAL_MODE_KEYFILE) {
		if (ret->opslimit != 0 || ret->memlimit != 0)
			return KB_ERR_INVALID;
	} else if (ret->mode == KB_LOCAL_MODE_PASSPHRASE) {
		if (ret->opslimit < crypto_pwhash_OPSLIMIT_MIN || ret->opslimit > KB_LOCAL_OPSLIMIT_MAX ||
		    ret->memlimit < crypto_pwhash_MEMLIMIT_MIN || ret->memlimit > KB_LOCAL_MEMLIMIT_MAX)
			return KB_ERR_UNSUPPORTED;
	} else {
		return KB_ERR_UNSUPPORTED;
	}
	return KB_OK;
}

static void make_hdr(uint8_t hdr[KB_LOCAL_HDR_LEN], uint8_t kind)
{
	memcpy(hdr, KB_LOCAL_MAGIC, 4);
	hdr[4] = KB_LOCAL_FORMAT;
	hdr[5] = kind;
}

/* Associated data: header | bind. */
static int make_ad(const uint8_t hdr[KB_LOCAL_HDR_LEN], const uint8_t *bind, size_t bindlen,
		   struct kb_buf *ad)
{
	int r;
	if ((r = kb_buf_put(ad, hdr, KB_LOCAL_HDR_LEN)) || (r = kb_buf_put(ad, bind, bindlen)))
		return r;
	return KB_OK;
}

int kb_local_seal(const uint8_t key[32], uint8_t kind, const uint8_t *bind, size_t bindlen,
		  const uint8_t *pt, size_t ptlen, struct kb_buf *out)
{
	uint8_t hdr[KB_LOCAL_HDR_LEN], nonce[KB_LOCAL_NONCE_LEN], *ct;
	unsigned long long ctlen = 0;
	struct kb_buf ad;
	int r;

	kb_buf_init(&ad, KB_LOCAL_HDR_LEN + KB_STORE_NAME_MAX + 64);
	make_hdr(hdr, kind);
	randombytes_buf(nonce, sizeof(nonce));
	if ((r = make_ad(hdr, bind, bindlen, &ad)) || (r = kb_buf_put(out, hdr, sizeof(hdr))) ||
	    (r = kb_buf_put(out, nonce, sizeof(nonce))) || (r = kb_buf_reserve(out, ptlen + KB_LOCAL_TAG_LEN, &ct)))
		goto out;
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ctlen, pt, ptlen, kb_buf_ptr(&ad),
						       kb_buf_remaining(&ad), NULL, nonce, key) != 0 ||
	    ctlen != ptlen + KB_LOCAL_TAG_LEN)
		r = kb_err_set(KB_ERR_CRYPTO, "encryption failed");
out:
	kb_buf_done(&ad);
	return r;
}

int kb_local_unseal(const uint8_t key[32], uint8_t kind, const uint8_t *bind, size_t bindlen,
		    const uint8_t *file, size_t filelen, struct kb_buf *out)
{
	uint8_t hdr[KB_LOCAL_HDR_LEN];
	struct kb_buf ad;
	uint8_t *pt = NULL;
	unsigned long long ptlen = 0;
	int r;

	if (filelen < KB_LOCAL_OVERHEAD)
		return KB_ERR_SIGNATURE;
	make_hdr(hdr, kind);
	if (memcmp(file, hdr, sizeof(hdr)) != 0)
		return KB_ERR_SIGNATURE;
	size_t ctlen = filelen - KB_LOCAL_HDR_LEN - KB_LOCAL_NONCE_LEN;
	size_t pcap = ctlen - KB_LOCAL_TAG_LEN;
	kb_buf_init(&ad, KB_LOCAL_HDR_LEN + KB_STORE_NAME_MAX + 64);
	if ((r = make_ad(hdr, bind, bindlen, &ad)))
		goto out;
	/* Decrypt into guarded memory first, so nothing unauthenticated ever
	 * reaches out. */
	if ((pt = sodium_malloc(pcap ? pcap : 1)) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &ptlen, NULL, file + KB_LOCAL_HDR_LEN + KB_LOCAL_NONCE_LEN,
						       ctlen, kb_buf_ptr(&ad), kb_buf_remaining(&ad),
						       file + KB_LOCAL_HDR_LEN, key) != 0) {
		r = KB_ERR_SIGNATURE;
		goto out;
	}
	r = kb_buf_put(out, pt, (size_t)ptlen);
out:
	if (pt != NULL)
		sodium_free(pt);
	kb_buf_done(&ad);
	return r;
}
