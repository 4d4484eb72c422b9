/* HTTP client over libcurl with hard limits, for the AWS and Vault backends
 * and EC2 integration.
 *
 * Responses are capped (max_body) before buffering: a larger body fails with
 * KB_ERR_TOO_LARGE.  TLS verification (chain and host name) is always on;
 * ca_file, when given, is the CA bundle to trust instead of the system one
 * (libcurl's CAINFO, as VAULT_CACERT does).  Only http:// and https:// URLs. */
#ifndef KB_HTTP_H
#define KB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define KB_HTTP_BODY_MAX (1024u * 1024u)
#define KB_HTTP_MAX_HEADERS 32

struct kb_http_header {
	const char *name;
	const char *value;
};

struct kb_http_request {
	const char *method;            /* "GET", "POST", "PUT", "DELETE", "LIST" */
	const char *url;
	const struct kb_http_header *headers;
	size_t nheaders;
	const uint8_t *body;
	size_t body_len;
	long timeout_ms;               /* whole request; 0 means 10 s */
	long connect_timeout_ms;       /* 0 means 3 s */
	const char *ca_file;           /* CA bundle to trust, or NULL: system CAs */
	size_t max_body;               /* 0 means KB_HTTP_BODY_MAX */
	bool secure_body;              /* response may hold secrets */
};

/* On return from kb_http_do the response is always initialised (release
 * it with kb_http_response_done whatever the result); on error status is 0
 * and body and headers are empty.  Request header names and values must
 * not contain CR/LF (KB_ERR_INVALID).  Redirects are not followed: a 3xx is
 * returned as a response.  libcurl's usual proxy variables (https_proxy,
 * no_proxy) apply. */
struct kb_http_response {
	long status;                   /* 0 if no response */
	struct kb_buf body;            /* secure when the request asked */
	char *headers[KB_HTTP_MAX_HEADERS]; /* "name: value" lines (first N) */
	size_t nheaders;
};

/* Performs one request.  Returns KB_OK when a response arrived (whatever
 * its status), KB_ERR_NETWORK / KB_ERR_TIMEOUT / KB_ERR_TOO_LARGE
 * otherwise, with a detail via kb_err_detail(). */
int kb_http_do(const struct kb_http_request *req, struct kb_http_response *resp);
void kb_http_response_done(struct kb_http_response *resp);
/* Case-insensitive header lookup (value without leading spaces) or NULL. */
const char *kb_http_response_header(const struct kb_http_response *resp, const char *name);

/* Retries with full-jitter exponential backoff (AWS architecture blog):
 * sleep = random(0, min(cap_ms, base_ms * 2^attempt)). */
struct kb_retry {
	unsigned max_attempts;   /* total tries, >= 1 */
	long base_ms;
	long cap_ms;
	long deadline_ms;        /* overall budget from the first try */
};
/* Computes the delay before retry number `attempt` (1-based); returns -1
 * when no more attempts fit in the deadline (elapsed_ms so far), i.e. when
 * attempt >= max_attempts or elapsed + the drawn delay reaches deadline_ms
 * (deadline_ms 0: no deadline).  Randomness from libsodium. */
long kb_retry_delay_ms(const struct kb_retry *r, unsigned attempt, long elapsed_ms);

/* Milliseconds from a monotonic clock (for elapsed time and deadlines). */
int64_t kb_http_monotonic_ms(void);
/* Sleeps ms milliseconds (restarts after signals). */
void kb_http_sleep_ms(long ms);
/* Percent-encodes s (RFC 3986: everything but A-Z a-z 0-9 - . _ ~); with
 * keep_slash '/' stays as is.  Returns a heap string or NULL. */
char *kb_http_escape(const char *s, bool keep_slash);

#endif
