/* AWS Signature Version 4.  The algorithm follows AWS's documentation of
 * the signing process; correctness is pinned by the published test suite
 * vectors in tests/aws/sigv4/. */
#include "aws/sigv4.h"

#include <ctype.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"

#define SIGV4_TEXT_MAX (256u * 1024u)

static int put_str(struct kb_buf *b, const char *s)
{
	return kb_buf_put(b, s, strlen(s));
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static void sha256_hex(const uint8_t *p, size_t n, char out[65])
{
	uint8_t h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, p, n);
	hex(h, sizeof(h), out);
}

static void hmac(uint8_t out[32], const uint8_t *key, size_t keylen, const char *msg, size_t n)
{
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)msg, n);
	crypto_auth_hmacsha256_final(&st, out);
	kb_wipe(&st, sizeof(st));
}

/* Takes a buffer's contents as a NUL-terminated heap string. */
static int buf_to_string(struct kb_buf *b, char **ret)
{
	*ret = NULL;
	char *s = malloc(b->len + 1);
	if (s == NULL)
		return KB_ERR_NOMEM;
	memcpy(s, b->data, b->len);
	s[b->len] = '\0';
	*ret = s;
	return KB_OK;
}

struct hdr {
	char *name;  /* lower-cased */
	char *value; /* trimmed, spaces squeezed */
	size_t idx;  /* original order, for a stable sort */
};

static int hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c != 0)
		return c;
	return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static char *trimall(const char *v)
{
	size_t n = strlen(v);
	char *out = malloc(n + 1), *o = out;
	if (out == NULL)
		return NULL;
	while (*v == ' ' || *v == '\t')
		v++;
	bool space = false;
	for (; *v != '\0'; v++) {
		if (*v == ' ' || *v == '\t') {
			space = true;
			continue;
		}
		if (space && o != out)
			*o++ = ' ';
		space = false;
		*o++ = *v;
	}
	*o = '\0';
	return out;
}

struct qp {
	char *name;
	char *value;
};

static int qp_cmp(const void *a, const void *b)
{
	const struct qp *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c != 0 ? c : strcmp(x->value, y->value);
}

int kb_sigv4_sign(const struct kb_sigv4_input *in, const char *access_key_id,
		  const char *secret_access_key, char **ret_authz, char **ret_creq, char **ret_sts)
{
	struct kb_buf creq, sts, signed_names;
	struct hdr *hs = NULL;
	struct qp *qs = NULL;
	char *creq_s = NULL, *sts_s = NULL, *authz = NULL;
	char payload_hex[65], creq_hex[65], sig_hex[65], date8[9];
	uint8_t k1[32], k2[32], sig[32];
	uint8_t ksecret[4 + KB_AWS_KEY_MAX];
	size_t klen = 0;
	int ret;

	*ret_authz = NULL;
	if (ret_creq != NULL)
		*ret_creq = NULL;
	if (ret_sts != NULL)
		*ret_sts = NULL;
	kb_buf_init(&creq, SIGV4_TEXT_MAX);
	kb_buf_init(&sts, SIGV4_TEXT_MAX);
	kb_buf_init(&signed_names, SIGV4_TEXT_MAX);
	if (in->amz_date == NULL || strlen(in->amz_date) != 16 || in->region == NULL ||
	    in->service == NULL || in->method == NULL || secret_access_key == NULL ||
	    access_key_id == NULL) {
		ret = KB_ERR_INVALID;
		goto out;
	}
	memcpy(date8, in->amz_date, 8);
	date8[8] = '\0';

	/* 1. Canonical request. */
	const char *path = (in->path != NULL && in->path[0] != '\0') ? in->path : "/";
	char *epath = kb_http_escape(path, true);
	if (epath == NULL) {
		ret = KB_ERR_NOMEM;
		goto out;
	}
	ret = put_str(&creq, in->method);
	if (ret == KB_OK)
		ret = put_str(&creq, "\n");
	if (ret == KB_OK)
		ret = put_str(&creq, epath);
	free(epath);
	if (ret == KB_OK)
		ret = put_str(&creq, "\n");
	if (ret != KB_OK)
		goto out;

	if (in->nquery > 0) {
		qs = calloc(in->nquery, sizeof(*qs));
		if (qs == NULL) {
			ret = KB_ERR_NOMEM;
			goto out;
		}
		for (size_t i = 0; i < in->nquery; i++) {
			qs[i].name = kb_http_escape(in->query[i].name, false);
			qs[i].value = kb_http_escape(in->query[i].value ? in->query[i].value : "", false);
			if (qs[i].name == NULL || qs[i].value == NULL) {
				ret = KB_ERR_NOMEM;
				goto out;
			}
		}
		qsort(qs, in->nquery, sizeof(*qs), qp_cmp);
		for (size_t i = 0; i < in->nquery && ret == KB_OK; i++) {
			if (i > 0)
				ret = put_str(&creq, "&");
			if (ret == KB_OK)
				ret = put_str(&creq, qs[i].name);
			if (ret == KB_OK)
				ret = put_str(&creq, "=");
			if (ret == KB_OK)
				ret = put_str(&creq, qs[i].value);
		}
	}
	if (ret == KB_OK)
		ret = put_str(&creq, "\n");
	if (ret != KB_OK)
		goto out;

	if (in->nheaders == 0) {
		ret = KB_ERR_INVALID; /* at least Host must be signed */
		goto out;
	}
	hs = calloc(in->nheaders, sizeof(*hs));
	if (hs == NULL) {
		ret = KB_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < in->nheaders; i++) {
		hs[i].name = kb_strdup(in->headers[i].name);
		hs[i].value = trimall(in->headers[i].value);
		hs[i].idx = i;
		if (hs[i].name == NULL || hs[i].value == NULL) {
			ret = KB_ERR_NOMEM;
			goto out;
		}
		for (char *p = hs[i].name; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	qsort(hs, in->nheaders, sizeof(*hs), hdr_cmp);
	for (size_t i = 0; i < in->nheaders && ret == KB_OK; i++) {
		bool dup = i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0;
		if (dup) {
			ret = put_str(&creq, ",");
		} else {
			if (i > 0) {
				ret = put_str(&creq, "\n");
				if (ret == KB_OK)
					ret = put_str(&signed_names, ";");
			}
			if (ret == KB_OK)
				ret = put_str(&creq, hs[i].name);
			if (ret == KB_OK)
				ret = put_str(&creq, ":");
			if (ret == KB_OK)
				ret = put_str(&signed_names, hs[i].name);
		}
		if (ret == KB_OK)
			ret = put_str(&creq, hs[i].value);
	}
	if (ret == KB_OK)
		ret = put_str(&creq, "\n\n");
	if (ret == KB_OK)
		ret = kb_buf_put(&creq, signed_names.data, signed_names.len);
	if (ret == KB_OK)
		ret = put_str(&creq, "\n");
	sha256_hex(in->body != NULL ? in->body : (const uint8_t *)"", in->body_len, payload_hex);
	if (ret == KB_OK)
		ret = put_str(&creq, payload_hex);
	if (ret != KB_OK)
		goto out;

	/* 2. String to sign. */
	sha256_hex(creq.data, creq.len, creq_hex);
	char *scope = kb_asprintf("%s/%s/%s/aws4_request", date8, in->region, in->service);
	if (scope == NULL) {
		ret = KB_ERR_NOMEM;
		goto out;
	}
	ret = put_str(&sts, "AWS4-HMAC-SHA256\n");
	if (ret == KB_OK)
		ret = put_str(&sts, in->amz_date);
	if (ret == KB_OK)
		ret = put_str(&sts, "\n");
	if (ret == KB_OK)
		ret = put_str(&sts, scope);
	if (ret == KB_OK)
		ret = put_str(&sts, "\n");
	if (ret == KB_OK)
		ret = put_str(&sts, creq_hex);
	if (ret != KB_OK) {
		free(scope);
		goto out;
	}

	/* 3. Signing key and signature. */
	size_t slen = strlen(secret_access_key);
	if (slen > KB_AWS_KEY_MAX) {
		free(scope);
		ret = KB_ERR_INVALID;
		goto out;
	}
	/* Transient key material: on the stack, wiped below. */
	klen = 4 + slen;
	memcpy(ksecret, "AWS4", 4);
	memcpy(ksecret + 4, secret_access_key, slen);
	hmac(k1, ksecret, klen, date8, strlen(date8));
	hmac(k2, k1, sizeof(k1), in->region, strlen(in->region));
	hmac(k1, k2, sizeof(k2), in->service, strlen(in->service));
	hmac(k2, k1, sizeof(k1), "aws4_request", 12);
	hmac(sig, k2, sizeof(k2), (const char *)sts.data, sts.len);
	hex(sig, sizeof(sig), sig_hex);

	char *names = NULL;
	ret = buf_to_string(&signed_names, &names);
	if (ret != KB_OK) {
		free(scope);
		goto out;
	}
	authz = kb_asprintf("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
			    access_key_id, scope, names, sig_hex);
	free(names);
	free(scope);
	if (authz == NULL) {
		ret = KB_ERR_NOMEM;
		goto out;
	}
	if (ret_creq != NULL && (ret = buf_to_string(&creq, &creq_s)) != KB_OK)
		goto out;
	if (ret_sts != NULL && (ret = buf_to_string(&sts, &sts_s)) != KB_OK)
		goto out;
	*ret_authz = authz;
	authz = NULL;
	if (ret_creq != NULL) {
		*ret_creq = creq_s;
		creq_s = NULL;
	}
	if (ret_sts != NULL) {
		*ret_sts = sts_s;
		sts_s = NULL;
	}
	ret = KB_OK;
out:
	kb_wipe(k1, sizeof(k1));
	kb_wipe(k2, sizeof(k2));
	kb_wipe(ksecret, sizeof(ksecret));
	if (hs != NULL) {
		for (size_t i = 0; i < in->nheaders; i++) {
			free(hs[i].name);
			kb_free_string(hs[i].value); /* may be a session token */
		}
		free(hs);
	}
	if (qs != NULL) {
		for (size_t i = 0; i < in->nquery; i++) {
			free(qs[i].name);
			free(qs[i].value);
		}
		free(qs);
	}
	free(creq_s);
	free(sts_s);
	free(authz);
	kb_buf_done(&creq);
	kb_buf_done(&sts);
	kb_buf_done(&signed_names);
	return ret;
}

void kb_sigv4_format_date(int64_t t, char out[17])
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}
