/* bcrypt_pbkdf as OpenSSH uses it for encrypted openssh-key-v1 files:
 * PBKDF2-like, with SHA-512 and a Blowfish-based "bcrypt hash" as the
 * PRF, and output bytes spread across the blocks (so every byte of the
 * key needs every round).  Blowfish here is the eksblowfish variant with
 * the key schedule driven by both salt and key. */
#include "ssh/bcrypt_pbkdf.h"

#include <string.h>

#include <sodium.h>

#include "core/err.h"
#include "core/mem.h"
#include "ssh/blowfish_tables.h"

#define BCRYPT_WORDS 8
#define BCRYPT_HASHSIZE (BCRYPT_WORDS * 4)

struct blf {
	uint32_t s[4][256];
	uint32_t p[18];
};

static uint32_t feistel(const struct blf *c, uint32_t x)
{
	return ((c->s[0][x >> 24] + c->s[1][(x >> 16) & 0xff]) ^ c->s[2][(x >> 8) & 0xff]) + c->s[3][x & 0xff];
}

static void encipher(const struct blf *c, uint32_t *xl, uint32_t *xr)
{
	uint32_t l = *xl, r = *xr;

	l ^= c->p[0];
	for (int i = 1; i <= 16; i += 2) {
		r ^= feistel(c, l) ^ c->p[i];
		l ^= feistel(c, r) ^ c->p[i + 1];
	}
	*xl = r ^ c->p[17];
	*xr = l;
}

/* Next 32 bits of data, cycling (big-endian). */
static uint32_t stream2word(const uint8_t *data, size_t len, size_t *j)
{
	uint32_t w = 0;

	for (int i = 0; i < 4; i++) {
		if (*j >= len)
			*j = 0;
		w = w << 8 | data[*j];
		(*j)++;
	}
	return w;
}

static void blf_init(struct blf *c)
{
	memcpy(c->p, kb_blowfish_p_init, sizeof(c->p));
	memcpy(c->s, kb_blowfish_s_init, sizeof(c->s));
}

/* Key schedule; with data != NULL, the salted "expandstate" of eksblowfish. */
static void expand(struct blf *c, const uint8_t *data, size_t datalen, const uint8_t *key, size_t keylen)
{
	uint32_t l = 0, r = 0;
	size_t j = 0, d = 0;

	for (int i = 0; i < 18; i++)
		c->p[i] ^= stream2word(key, keylen, &j);
	for (int i = 0; i < 18; i += 2) {
		if (data != NULL) {
			l ^= stream2word(data, datalen, &d);
			r ^= stream2word(data, datalen, &d);
		}
		encipher(c, &l, &r);
		c->p[i] = l;
		c->p[i + 1] = r;
	}
	for (int b = 0; b < 4; b++) {
		for (int k = 0; k < 256; k += 2) {
			if (data != NULL) {
				l ^= stream2word(data, datalen, &d);
				r ^= stream2word(data, datalen, &d);
			}
			encipher(c, &l, &r);
			c->s[b][k] = l;
			c->s[b][k + 1] = r;
		}
	}
}

static void bcrypt_hash(struct blf *c, const uint8_t sha2pass[64], const uint8_t sha2salt[64],
			uint8_t out[BCRYPT_HASHSIZE])
{
	static const uint8_t magic[BCRYPT_HASHSIZE] = "OxychromaticBlowfishSwatDynamite";
	uint32_t cdata[BCRYPT_WORDS];
	size_t j = 0;

	blf_init(c);
	expand(c, sha2salt, 64, sha2pass, 64);
	for (int i = 0; i < 64; i++) {
		expand(c, NULL, 0, sha2salt, 64);
		expand(c, NULL, 0, sha2pass, 64);
	}
	for (int i = 0; i < BCRYPT_WORDS; i++)
		cdata[i] = stream2word(magic, sizeof(magic), &j);
	for (int i = 0; i < 64; i++)
		for (int b = 0; b < BCRYPT_WORDS; b += 2)
			encipher(c, &cdata[b], &cdata[b + 1]);
	/* Words out little-endian (as OpenBSD's implementation does). */
	for (int i = 0; i < BCRYPT_WORDS; i++) {
		out[4 * i + 3] = (uint8_t)(cdata[i] >> 24);
		out[4 * i + 2] = (uint8_t)(cdata[i] >> 16);
		out[4 * i + 1] = (uint8_t)(cdata[i] >> 8);
		out[4 * i + 0] = (uint8_t)cdata[i];
	}
	kb_wipe(cdata, sizeof(cdata));
}

struct scratch {
	struct blf blf;
	uint8_t sha2pass[64], sha2salt[64], out[BCRYPT_HASHSIZE], tmp[BCRYPT_HASHSIZE];
};

int kb_bcrypt_pbkdf(const char *pass, size_t passlen, const uint8_t *salt, size_t saltlen, uint8_t *key,
		    size_t keylen, unsigned rounds)
{
	size_t origkeylen = keylen, stride, amt;
	crypto_hash_sha512_state hs;
	struct scratch *s;

	if (rounds < 1 || passlen == 0 || saltlen == 0 || saltlen > 1u << 20 || keylen == 0 ||
	    keylen > BCRYPT_HASHSIZE * BCRYPT_HASHSIZE)
		return kb_err_set(KB_ERR_INVALID, "bad bcrypt_pbkdf parameters");
	if ((s = kb_secure_alloc(sizeof(*s))) == NULL)
		return KB_ERR_NOMEM;
	stride = (keylen + BCRYPT_HASHSIZE - 1) / BCRYPT_HASHSIZE;
	amt = (keylen + stride - 1) / stride;
	crypto_hash_sha512(s->sha2pass, (const uint8_t *)pass, passlen);
	for (uint32_t count = 1; keylen > 0; count++) {
		uint8_t cnt[4] = { (uint8_t)(count >> 24), (uint8_t)(count >> 16), (uint8_t)(count >> 8),
				   (uint8_t)count };
		size_t i;

		crypto_hash_sha512_init(&hs);
		crypto_hash_sha512_update(&hs, salt, saltlen);
		crypto_hash_sha512_update(&hs, cnt, sizeof(cnt));
		crypto_hash_sha512_final(&hs, s->sha2salt);
		bcrypt_hash(&s->blf, s->sha2pass, s->sha2salt, s->tmp);
		memcpy(s->out, s->tmp, sizeof(s->out));
		for (unsigned r = 1; r < rounds; r++) {
			crypto_hash_sha512(s->sha2salt, s->tmp, sizeof(s->tmp));
			bcrypt_hash(&s->blf, s->sha2pass, s->sha2salt, s->tmp);
			for (i = 0; i < sizeof(s->out); i++)
				s->out[i] ^= s->tmp[i];
		}
		if (amt > keylen)
			amt = keylen;
		for (i = 0; i < amt; i++) {
			size_t dest = i * stride + (count - 1);
			if (dest >= origkeylen)
				break;
			key[dest] = s->out[i];
		}
		keylen -= i;
	}
	kb_wipe(&hs, sizeof(hs));
	kb_secure_free(s);
	return KB_OK;
}
