/* Signed AWS JSON 1.1 calls with bounded, jittered retries. */
#include "aws/client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/aws_json.h"
#include "aws/sigv4.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"

static long env_duration_ms(const char *name, long dflt)
{
	const char *v = getenv(name);
	int64_t s;
	if (v == NULL || v[0] == '\0' || kb_parse_duration(v, &s) != KB_OK || s <= 0 || s > 3600)
		return dflt;
	return (long)s * 1000;
}

int kb_aws_client_init(struct kb_aws_client *c, const char *service, const char *region,
		       const char *endpoint, const char *profile)
{
	memset(c, 0, sizeof(*c));
	c->service = kb_strdup(service);
	c->profile = profile != NULL && profile[0] != '\0' ? kb_strdup(profile) : NULL;
	c->region = region != NULL && region[0] != '\0' ? kb_strdup(region) : kb_aws_region_resolve(profile);
	if (c->service == NULL) {
		kb_aws_client_done(c);
		return KB_ERR_NOMEM;
	}
	if (c->region == NULL) {
		kb_aws_client_done(c);
		return kb_err_set(KB_ERR_INVALID, "no AWS region: set AWS_REGION, aws.region in the broker "
				  "config, or region in ~/.aws/config");
	}
	for (const char *p = c->region; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-') ||
		    p - c->region > 32) {
			kb_aws_client_done(c);
			return kb_err_set(KB_ERR_INVALID, "AWS region \"%.40s\" is not valid", region ? region : "");
		}
	}
	if (endpoint != NULL && endpoint[0] != '\0') {
		size_t n = strlen(endpoint);
		while (n > 0 && endpoint[n - 1] == '/')
			n--;
		c->endpoint = kb_asprintf("%.*s/", (int)n, endpoint);
	} else {
		c->endpoint = kb_asprintf("https://%s.%s.amazonaws.com/", service, c->region);
	}
	if (c->endpoint == NULL) {
		kb_aws_client_done(c);
		return KB_ERR_NOMEM;
	}
	if (strncmp(c->endpoint, "https://", 8) != 0 && strncmp(c->endpoint, "http://", 7) != 0) {
		kb_aws_client_done(c);
		return kb_err_set(KB_ERR_INVALID, "AWS endpoint must be an http:// or https:// URL");
	}
	uint64_t att = 4;
	const char *ma = getenv("AWS_MAX_ATTEMPTS");
	if (ma != NULL && ma[0] != '\0' && (kb_parse_u64(ma, 20, &att) != KB_OK || att == 0))
		att = 4;
	c->retry.max_attempts = (unsigned)att;
	c->retry.base_ms = 200;
	c->retry.cap_ms = 5000;
	c->retry.deadline_ms = env_duration_ms("BROKER_AWS_DEADLINE", 30000);
	c->timeout_ms = env_duration_ms("BROKER_AWS_TIMEOUT", 10000);
	return KB_OK;
}

void kb_aws_client_done(struct kb_aws_client *c)
{
	if (c == NULL)
		return;
	free(c->service);
	free(c->region);
	free(c->endpoint);
	free(c->profile);
	kb_aws_creds_free(c->creds);
	memset(c, 0, sizeof(*c));
}

void kb_aws_result_done(struct kb_aws_result *res)
{
	if (res == NULL)
		return;
	kb_http_response_done(&res->resp);
}

bool kb_aws_error_is_throttle(const char *code, long status)
{
	static const char *const t[] = { "ThrottlingException", "Throttling", "TooManyRequestsException",
					 "RequestLimitExceeded", "ThrottledException", "SlowDown",
					 "RequestThrottled", "RequestThrottledException" };
	if (status == 429)
		return true;
	for (size_t i = 0; i < KB_ARRAY_SIZE(t); i++)
		if (strcmp(code, t[i]) == 0)
			return true;
	return false;
}

int kb_aws_error_kind(const char *code, long status)
{
	static const struct {
		const char *code;
		int err;
	} map[] = {
		{ "ResourceNotFoundException", KB_ERR_NOT_FOUND },
		{ "ResourceExistsException", KB_ERR_EXISTS },
		{ "SignatureDoesNotMatch", KB_ERR_AUTH },
		{ "InvalidSignatureException", KB_ERR_AUTH },
		{ "InvalidClientTokenId", KB_ERR_AUTH },
		{ "UnrecognizedClientException", KB_ERR_AUTH },
		{ "ExpiredToken", KB_ERR_AUTH },
		{ "ExpiredTokenException", KB_ERR_AUTH },
		{ "IncompleteSignature", KB_ERR_AUTH },
		{ "MissingAuthenticationToken", KB_ERR_AUTH },
		{ "AccessDenied", KB_ERR_AUTH },
		{ "AccessDeniedException", KB_ERR_AUTH },
		{ "InvalidParameterException", KB_ERR_INVALID },
		{ "ValidationException", KB_ERR_INVALID },
		{ "InvalidRequestException", KB_ERR_BACKEND },
		{ "LimitExceededException", KB_ERR_LIMIT },
		{ "DecryptionFailure", KB_ERR_BACKEND },
		{ "EncryptionFailure", KB_ERR_BACKEND },
		{ "InternalServiceError", KB_ERR_BACKEND },
	};
	if (kb_aws_error_is_throttle(code, status))
		return KB_ERR_THROTTLED;
	for (size_t i = 0; i < KB_ARRAY_SIZE(map); i++)
		if (strcmp(code, map[i].code) == 0)
			return map[i].err;
	if (status == 403 || status == 401)
		return KB_ERR_AUTH;
	if (status == 404)
		return KB_ERR_NOT_FOUND;
	return KB_ERR_BACKEND;
}

/* A one-line, actionable detail for an AWS error. */
static int error_detail(const struct kb_aws_client *c, const char *op, const struct kb_aws_result *res)
{
	const char *code = res->code[0] != '\0' ? res->code : "no error code";
	int err = kb_aws_error_kind(res->code, res->status);

	if (strcmp(res->code, "SignatureDoesNotMatch") == 0 || strcmp(res->code, "InvalidSignatureException") == 0)
		return kb_err_set(err, "AWS rejected the request signature (%s): check AWS_SECRET_ACCESS_KEY", code);
	if (strcmp(res->code, "InvalidClientTokenId") == 0 || strcmp(res->code, "UnrecognizedClientException") == 0)
		return kb_err_set(err, "AWS does not know the access key id %s (%s): check AWS_ACCESS_KEY_ID",
				  c->creds ? c->creds->access_key_id : "", code);
	if (strncmp(res->code, "ExpiredToken", 12) == 0)
		return kb_err_set(err, "the AWS session token has expired (%s): refresh AWS_SESSION_TOKEN", code);
	if (strncmp(res->code, "AccessDenied", 12) == 0)
		return kb_err_set(err, "AWS denied %s (%s): %s", op, code, res->message);
	if (err == KB_ERR_THROTTLED)
		return kb_err_set(err, "AWS throttled %s after %u attempt%s (%s)", op, res->attempts,
				  res->attempts == 1 ? "" : "s", code);
	if (res->status >= 500)
		return kb_err_set(err, "%s: AWS answered HTTP %ld (%s) after %u attempt%s%s%s", op, res->status,
				  code, res->attempts, res->attempts == 1 ? "" : "s", res->message[0] ? ": " : "",
				  res->message);
	return kb_err_set(err, "%s: %s%s%s", op, code, res->message[0] ? ": " : "", res->message);
}

static int ensure_creds(struct kb_aws_client *c)
{
	int64_t now = (int64_t)time(NULL);
	if (c->creds != NULL && !kb_aws_creds_expiring(c->creds, now, KB_AWS_CREDS_REFRESH_S))
		return KB_OK;
	struct kb_aws_creds *nc = NULL;
	c->creds_fetches++;
	int r = kb_aws_creds_resolve(c->profile, &nc);
	if (r != KB_OK) {
		/* Keep using credentials that have not expired yet. */
		if (c->creds != NULL && c->creds->expiration > now + 10)
			return KB_OK;
		return r;
	}
	kb_aws_creds_free(c->creds);
	c->creds = nc;
	kb_debug("AWS credentials from %s", nc->source);
	return KB_OK;
}

int kb_aws_json_call(struct kb_aws_client *c, const char *target, const char *body, size_t len,
		     bool idempotent, struct kb_aws_result *res)
{
	int64_t start = kb_http_monotonic_ms();
	const char *op = strchr(target, '.') ? strchr(target, '.') + 1 : target;
	int net_err = KB_OK;
	char net_detail[256] = "";

	memset(res, 0, sizeof(*res));
	for (unsigned attempt = 1;; attempt++) {
		struct kb_aws_signed sig;
		int r = ensure_creds(c);
		if (r != KB_OK)
			return r;
		struct kb_http_header extra[] = {
			{ "Content-Type", "application/x-amz-json-1.1" },
			{ "X-Amz-Target", target },
		};
		r = kb_aws_sign_request(c->creds, c->region, c->service, "POST", c->endpoint, extra,
					KB_ARRAY_SIZE(extra), (const uint8_t *)body, len, (int64_t)time(NULL), &sig);
		if (r != KB_OK)
			return r;
		long elapsed = (long)(kb_http_monotonic_ms() - start);
		long budget = c->retry.deadline_ms > 0 ? c->retry.deadline_ms - elapsed : c->timeout_ms;
		if (budget <= 0) {
			kb_aws_signed_done(&sig);
			return kb_err_set(KB_ERR_TIMEOUT, "%s: no answer from %s within the %ld ms deadline (%u attempts)",
					  op, c->endpoint, c->retry.deadline_ms, attempt - 1);
		}
		struct kb_http_request q = {
			.method = "POST", .url = c->endpoint, .headers = sig.h, .nheaders = sig.n,
			.body = (const uint8_t *)body, .body_len = len,
			.timeout_ms = budget < c->timeout_ms ? budget : c->timeout_ms,
			.connect_timeout_ms = 3000, .max_body = KB_AWS_RESPONSE_MAX, .secure_body = true,
		};
		kb_http_response_done(&res->resp);
		res->code[0] = res->message[0] = '\0';
		res->status = 0;
		res->attempts = attempt;
		r = kb_http_do(&q, &res->resp);
		kb_aws_signed_done(&sig);
		bool retry;
		if (r != KB_OK) {
			net_err = r;
			kb_strlcpy(net_detail, kb_err_detail(), sizeof(net_detail));
			retry = idempotent && (r == KB_ERR_NETWORK || r == KB_ERR_TIMEOUT);
		} else if (res->resp.status >= 200 && res->resp.status < 300) {
			return KB_OK;
		} else {
			net_err = KB_OK;
			res->status = res->resp.status;
			kb_aws_parse_error(res->resp.body.data, res->resp.body.len, res->code, sizeof(res->code),
					   res->message, sizeof(res->message));
			retry = kb_aws_error_is_throttle(res->code, res->status) ||
				(idempotent && res->status >= 500);
		}
		kb_debug("%s attempt %u: %s (HTTP %ld %s)", op, attempt, r != KB_OK ? net_detail : "answered",
			 res->status, res->code);
		long delay = -1;
		if (retry)
			delay = kb_retry_delay_ms(&c->retry, attempt, (long)(kb_http_monotonic_ms() - start));
		if (delay < 0) {
			if (net_err != KB_OK) {
				kb_http_response_done(&res->resp);
				return kb_err_set(net_err, "%s at %s failed after %u attempt%s: %s", op, c->endpoint,
						  attempt, attempt == 1 ? "" : "s", net_detail);
			}
			return error_detail(c, op, res);
		}
		kb_http_sleep_ms(delay);
	}
}
