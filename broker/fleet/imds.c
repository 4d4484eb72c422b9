/* IMDSv2 client.  See imds.h. */
#include "fleet/imds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "net/http.h"

#define IMDS_REQUEST_MS 1500

int64_t kb_monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long budget_ms(const struct kb_imds *s)
{
	if (s->deadline_ms == 0)
		return IMDS_REQUEST_MS;
	int64_t left = s->deadline_ms - kb_monotonic_ms();
	if (left <= 0)
		return 0;
	return left < IMDS_REQUEST_MS ? (long)left : IMDS_REQUEST_MS;
}

int kb_imds_open(struct kb_imds *s, const char *endpoint, int64_t deadline_ms)
{
	struct kb_http_response resp = { 0 };
	static const struct kb_http_header hdr[] = { { "X-aws-ec2-metadata-token-ttl-seconds", "60" } };
	struct kb_http_request req = { .method = "PUT", .headers = hdr, .nheaders = 1, .max_body = KB_IMDS_TOKEN_MAX,
				       .secure_body = true };
	char url[320];
	int r;

	memset(s, 0, sizeof(*s));
	s->deadline_ms = deadline_ms;
	if (endpoint == NULL || endpoint[0] == '\0')
		endpoint = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	if (endpoint == NULL || endpoint[0] == '\0')
		endpoint = KB_IMDS_DEFAULT_ENDPOINT;
	if (kb_strlcpy(s->endpoint, endpoint, sizeof(s->endpoint)) >= sizeof(s->endpoint) ||
	    (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0))
		return kb_err_set(KB_ERR_INVALID, "IMDS endpoint must be an http:// URL of under 256 bytes");
	size_t n = strlen(s->endpoint);
	while (n > 0 && s->endpoint[n - 1] == '/')
		s->endpoint[--n] = '\0';
	snprintf(url, sizeof(url), "%s/latest/api/token", s->endpoint);
	req.url = url;
	if ((req.timeout_ms = budget_ms(s)) == 0)
		return kb_err_set(KB_ERR_TIMEOUT, "IMDS deadline passed");
	req.connect_timeout_ms = req.timeout_ms;
	if ((r = kb_http_do(&req, &resp)) != 0)
		goto out;
	if (resp.status != 200) {
		r = kb_err_set(KB_ERR_BACKEND, "IMDS token request: HTTP %ld", resp.status);
		goto out;
	}
	size_t len = kb_buf_remaining(&resp.body);
	if (len == 0 || len > KB_IMDS_TOKEN_MAX) {
		r = kb_err_set(KB_ERR_INVALID, "IMDS token of %zu bytes", len);
		goto out;
	}
	memcpy(s->token, kb_buf_ptr(&resp.body), len);
	s->token[len] = '\0';
	if (strlen(s->token) != len || !kb_str_printable(s->token) || strchr(s->token, ' ') != NULL) {
		r = kb_err_set(KB_ERR_INVALID, "IMDS token is not printable");
		kb_wipe(s->token, sizeof(s->token));
	}
out:
	kb_http_response_done(&resp);
	return r;
}

void kb_imds_close(struct kb_imds *s)
{
	kb_wipe(s->token, sizeof(s->token));
}

int kb_imds_get(struct kb_imds *s, const char *path, size_t max, struct kb_buf *out)
{
	struct kb_http_response resp = { 0 };
	struct kb_http_header hdr[] = { { "X-aws-ec2-metadata-token", s->token } };
	struct kb_http_request req = { .method = "GET", .headers = hdr, .nheaders = 1, .max_body = max };
	char url[1024];
	int r;

	if ((size_t)snprintf(url, sizeof(url), "%s/latest/meta-data/%s", s->endpoint, path) >= sizeof(url))
		return kb_err_set(KB_ERR_INVALID, "IMDS path too long");
	req.url = url;
	if ((req.timeout_ms = budget_ms(s)) == 0)
		return kb_err_set(KB_ERR_TIMEOUT, "IMDS deadline passed");
	req.connect_timeout_ms = req.timeout_ms;
	if ((r = kb_http_do(&req, &resp)) != 0)
		goto out;
	if (resp.status == 404)
		r = kb_err_set(KB_ERR_NOT_FOUND, "IMDS %s: not found", path);
	else if (resp.status != 200)
		r = kb_err_set(KB_ERR_BACKEND, "IMDS %s: HTTP %ld", path, resp.status);
	else
		r = kb_buf_put(out, kb_buf_ptr(&resp.body), kb_buf_remaining(&resp.body));
out:
	kb_http_response_done(&resp);
	return r;
}

int kb_imds_get_string(struct kb_imds *s, const char *path, size_t max, char **ret)
{
	struct kb_buf b;
	int r;

	*ret = NULL;
	kb_buf_init(&b, max);
	if ((r = kb_imds_get(s, path, max, &b)) == 0) {
		size_t n = kb_buf_remaining(&b);
		const char *p = (const char *)kb_buf_ptr(&b);
		while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
			n--;
		char *str = malloc(n + 1);
		if (str == NULL) {
			r = KB_ERR_NOMEM;
		} else {
			memcpy(str, p, n);
			str[n] = '\0';
			if (strlen(str) != n || !kb_str_printable(str)) {
				free(str);
				r = kb_err_set(KB_ERR_INVALID, "IMDS %s: not printable text", path);
			} else {
				*ret = str;
			}
		}
	}
	kb_buf_done(&b);
	return r;
}
