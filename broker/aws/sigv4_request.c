/* Signing a concrete request: URL parsing (host, decoded path and query)
 * and the headers AWS expects (Host, X-Amz-Date, X-Amz-Security-Token,
 * Authorization). */
#include "aws/sigv4.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"

/* Percent-decodes n bytes of s into a new string; rejects bad escapes and
 * NUL. */
static char *pct_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) ||
			    !isxdigit((unsigned char)s[i + 2])) {
				free(out);
				return NULL;
			}
			char h[3] = { s[i + 1], s[i + 2], '\0' };
			long v = strtol(h, NULL, 16);
			if (v == 0) {
				free(out);
				return NULL;
			}
			*o++ = (char)v;
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static char *own(struct kb_aws_signed *s, char *p)
{
	if (p == NULL || s->nowned == KB_ARRAY_SIZE(s->owned)) {
		free(p);
		return NULL;
	}
	s->owned[s->nowned++] = p;
	return p;
}

void kb_aws_signed_done(struct kb_aws_signed *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nowned; i++)
		kb_free_string(s->owned[i]);
	memset(s, 0, sizeof(*s));
}

int kb_aws_sign_request(const struct kb_aws_creds *creds, const char *region, const char *service,
			const char *method, const char *url, const struct kb_http_header *extra,
			size_t nextra, const uint8_t *body, size_t body_len, int64_t now,
			struct kb_aws_signed *out)
{
	struct kb_http_header query[32];
	size_t nquery = 0;
	char *qstore[64];
	size_t nq = 0;
	char *path = NULL, *authz = NULL;
	char date[17];
	int ret = KB_OK;

	memset(out, 0, sizeof(*out));
	if (creds == NULL || creds->access_key_id == NULL || creds->secret_access_key == NULL)
		return kb_err_set(KB_ERR_AUTH, "no AWS credentials");
	if (nextra + 4 > KB_SIGV4_MAX_HEADERS)
		return KB_ERR_LIMIT;
	const char *p = strstr(url, "://");
	if (p == NULL)
		return kb_err_set(KB_ERR_INVALID, "bad endpoint URL");
	p += 3;
	size_t hostlen = strcspn(p, "/?#");
	if (hostlen == 0 || memchr(p, '@', hostlen) != NULL)
		return kb_err_set(KB_ERR_INVALID, "bad endpoint URL host");
	const char *rest = p + hostlen;
	size_t pathlen = strcspn(rest, "?#");
	path = pathlen > 0 ? pct_decode(rest, pathlen) : kb_strdup("/");
	if (path == NULL)
		return kb_err_set(KB_ERR_INVALID, "bad endpoint URL path");
	if (rest[pathlen] == '?') {
		const char *q = rest + pathlen + 1;
		size_t qlen = strcspn(q, "#");
		while (qlen > 0) {
			size_t pl = strcspn(q, "&");
			if (pl > qlen)
				pl = qlen;
			if (pl > 0) {
				if (nquery == KB_ARRAY_SIZE(query)) {
					ret = KB_ERR_LIMIT;
					goto out;
				}
				const char *eq = memchr(q, '=', pl);
				size_t nl = eq != NULL ? (size_t)(eq - q) : pl;
				char *n = pct_decode(q, nl);
				char *v = eq != NULL ? pct_decode(eq + 1, pl - nl - 1) : kb_strdup("");
				if (n == NULL || v == NULL) {
					free(n);
					free(v);
					ret = kb_err_set(KB_ERR_INVALID, "bad query string");
					goto out;
				}
				qstore[nq++] = n;
				qstore[nq++] = v;
				query[nquery].name = n;
				query[nquery].value = v;
				nquery++;
			}
			q += pl;
			qlen -= pl;
			if (qlen > 0) {
				q++;
				qlen--;
			}
		}
	}

	kb_sigv4_format_date(now, date);
	char *host = own(out, kb_asprintf("%.*s", (int)hostlen, p));
	char *d = own(out, kb_strdup(date));
	if (host == NULL || d == NULL) {
		ret = KB_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < nextra; i++)
		out->h[out->n++] = extra[i];
	out->h[out->n++] = (struct kb_http_header){ "Host", host };
	out->h[out->n++] = (struct kb_http_header){ "X-Amz-Date", d };
	if (creds->session_token != NULL) {
		/* Owned by creds; we only point at it. */
		out->h[out->n++] = (struct kb_http_header){ "X-Amz-Security-Token", creds->session_token };
	}
	struct kb_sigv4_input in = {
		.method = method, .path = path, .query = query, .nquery = nquery,
		.headers = out->h, .nheaders = out->n, .body = body, .body_len = body_len,
		.region = region, .service = service, .amz_date = date,
	};
	ret = kb_sigv4_sign(&in, creds->access_key_id, creds->secret_access_key, &authz, NULL, NULL);
	if (ret != KB_OK)
		goto out;
	if (own(out, authz) == NULL) {
		ret = KB_ERR_NOMEM;
		goto out;
	}
	out->h[out->n++] = (struct kb_http_header){ "Authorization", authz };
	authz = NULL;
out:
	for (size_t i = 0; i < nq; i++)
		free(qstore[i]);
	free(path);
	if (ret != KB_OK)
		kb_aws_signed_done(out);
	return ret;
}
