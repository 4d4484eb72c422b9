/* The instance role's credentials through IMDSv2: a session token (PUT),
 * the role name, then the role's credentials document. */
#include "aws/creds.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "net/http.h"

#define IMDS_DOC_MAX (64u * 1024u)

int kb_aws_imds_parse_creds(const char *json, size_t len, struct kb_aws_creds **ret)
{
	json_error_t jerr;
	int64_t exp = 0;
	int r;

	*ret = NULL;
	if (len > IMDS_DOC_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "instance credentials document over %u bytes", IMDS_DOC_MAX);
	json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL || !json_is_object(doc)) {
		json_decref(doc);
		return kb_err_set(KB_ERR_INVALID, "instance credentials are not a JSON object");
	}
	const char *code = json_string_value(json_object_get(doc, "Code"));
	const char *akid = json_string_value(json_object_get(doc, "AccessKeyId"));
	const char *secret = json_string_value(json_object_get(doc, "SecretAccessKey"));
	const char *token = json_string_value(json_object_get(doc, "Token"));
	const char *expiration = json_string_value(json_object_get(doc, "Expiration"));
	if (code != NULL && strcmp(code, "Success") != 0) {
		r = kb_err_set(KB_ERR_AUTH, "instance metadata credentials: Code %.64s", code);
		goto out;
	}
	if (akid == NULL || secret == NULL || token == NULL || expiration == NULL) {
		r = kb_err_set(KB_ERR_INVALID, "instance credentials lack AccessKeyId, SecretAccessKey, Token or Expiration");
		goto out;
	}
	if (kb_parse_time_utc(expiration, &exp) != KB_OK) {
		r = kb_err_set(KB_ERR_INVALID, "instance credentials: bad Expiration");
		goto out;
	}
	r = kb_aws_creds_new(akid, secret, token, exp, "imds", ret);
out:
	json_decref(doc);
	return r;
}

static int imds_get(const char *url, const char *method, const struct kb_http_header *h, size_t nh,
		    long timeout_ms, bool secure, struct kb_http_response *resp)
{
	struct kb_http_request q = { .method = method, .url = url, .headers = h, .nheaders = nh,
				     .timeout_ms = timeout_ms, .connect_timeout_ms = timeout_ms,
				     .max_body = IMDS_DOC_MAX, .secure_body = secure };
	int r = kb_http_do(&q, resp);
	if (r != KB_OK)
		return r;
	if (resp->status != 200)
		return kb_err_set(KB_ERR_AUTH, "%s %s: HTTP %ld", method, url, resp->status);
	return KB_OK;
}

int kb_aws_imds_fetch(const char *endpoint, long timeout_ms, struct kb_aws_creds **ret)
{
	struct kb_http_response resp;
	char *url = NULL, *token = NULL, *role = NULL;
	int r;

	*ret = NULL;
	size_t el = strlen(endpoint);
	while (el > 0 && endpoint[el - 1] == '/')
		el--;
	url = kb_asprintf("%.*s/latest/api/token", (int)el, endpoint);
	if (url == NULL)
		return KB_ERR_NOMEM;
	struct kb_http_header th = { "X-aws-ec2-metadata-token-ttl-seconds", "21600" };
	r = imds_get(url, "PUT", &th, 1, timeout_ms, true, &resp);
	if (r == KB_OK) {
		if (resp.body.len == 0 || resp.body.len > 1024) {
			r = kb_err_set(KB_ERR_INVALID, "bad IMDSv2 token");
		} else {
			token = kb_secure_alloc(resp.body.len + 1);
			if (token == NULL) {
				r = KB_ERR_NOMEM;
			} else {
				memcpy(token, resp.body.data, resp.body.len);
				token[resp.body.len] = '\0';
				if (!kb_str_printable(token))
					r = kb_err_set(KB_ERR_INVALID, "bad IMDSv2 token");
			}
		}
	}
	kb_http_response_done(&resp);
	free(url);
	url = NULL;
	if (r != KB_OK)
		goto out;

	struct kb_http_header ah = { "X-aws-ec2-metadata-token", token };
	url = kb_asprintf("%.*s/latest/meta-data/iam/security-credentials/", (int)el, endpoint);
	if (url == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	r = imds_get(url, "GET", &ah, 1, timeout_ms, false, &resp);
	if (r != KB_OK && resp.status == 404)
		r = kb_err_set(KB_ERR_AUTH, "no instance role attached (IMDS has no iam/security-credentials)");
	if (r == KB_OK) {
		size_t n = 0;
		while (n < resp.body.len && resp.body.data[n] != '\n' && resp.body.data[n] != '\r')
			n++;
		role = kb_asprintf("%.*s", (int)n, (const char *)resp.body.data);
		if (role == NULL)
			r = KB_ERR_NOMEM;
		else if (n == 0 || n > 128 || strchr(role, '/') != NULL || !kb_str_printable(role) ||
			 strcmp(role, "..") == 0 || strcmp(role, ".") == 0)
			r = kb_err_set(KB_ERR_AUTH, "no instance role attached (IMDS returned no role name)");
	}
	kb_http_response_done(&resp);
	free(url);
	url = NULL;
	if (r != KB_OK)
		goto out;

	char *erole = kb_http_escape(role, false);
	url = erole != NULL ? kb_asprintf("%.*s/latest/meta-data/iam/security-credentials/%s", (int)el,
					  endpoint, erole)
			    : NULL;
	free(erole);
	if (url == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	r = imds_get(url, "GET", &ah, 1, timeout_ms, true, &resp);
	if (r == KB_OK)
		r = kb_aws_imds_parse_creds((const char *)resp.body.data, resp.body.len, ret);
	kb_http_response_done(&resp);
	if (r == KB_OK)
		kb_debug("instance role %s credentials, expire at %lld", role, (long long)(*ret)->expiration);
out:
	free(url);
	free(role);
	kb_secure_free(token);
	return r;
}
