/* AWS Signature Version 4 (header-based), our own implementation, checked
 * against AWS's published SigV4 test suite (tests/aws/sigv4/).
 *
 * Two levels:
 *  - kb_sigv4_sign(): the algorithm itself over a fully described request
 *    (every header given is signed: names lower-cased, values trimmed with
 *    inner runs of spaces squeezed, duplicates joined by ',');
 *  - kb_aws_sign_request(): signs a real request to an URL with the
 *    credentials, adding Host, X-Amz-Date and X-Amz-Security-Token, and
 *    returns the header list to hand to kb_http_do(). Used by Secrets
 *    Manager (service "secretsmanager") and EC2 Instance Connect (service
 *    "ec2-instance-connect"). */
#ifndef KB_AWS_SIGV4_H
#define KB_AWS_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "aws/creds.h"
#include "net/http.h"

#define KB_SIGV4_MAX_HEADERS 24

struct kb_sigv4_input {
	const char *method;
	const char *path;                     /* decoded path, "/" if empty */
	const struct kb_http_header *query;   /* decoded name/value pairs */
	size_t nquery;
	const struct kb_http_header *headers; /* all headers to sign */
	size_t nheaders;
	const uint8_t *body;
	size_t body_len;
	const char *region;
	const char *service;
	const char *amz_date;                 /* "20150830T123600Z" */
};

/* Computes the Authorization header value.  ret_creq / ret_sts (optional)
 * receive the canonical request and string to sign (heap, for tests).
 * The signing key is derived in wiped stack memory. */
int kb_sigv4_sign(const struct kb_sigv4_input *in, const char *access_key_id,
		  const char *secret_access_key, char **ret_authz, char **ret_creq, char **ret_sts);

/* "20150830T123600Z" for t; out needs 17 bytes. */
void kb_sigv4_format_date(int64_t t, char out[17]);

/* The headers of a signed request (strings owned here). */
struct kb_aws_signed {
	struct kb_http_header h[KB_SIGV4_MAX_HEADERS];
	size_t n;
	char *owned[KB_SIGV4_MAX_HEADERS * 2];
	size_t nowned;
};

/* Signs method+url+body at time now (unix seconds) for region/service.
 * extra headers (e.g. Content-Type, X-Amz-Target) are signed too; the
 * result holds them all plus Host, X-Amz-Date, Authorization and, with a
 * session token, X-Amz-Security-Token.  Release with kb_aws_signed_done(). */
int kb_aws_sign_request(const struct kb_aws_creds *creds, const char *region, const char *service,
			const char *method, const char *url, const struct kb_http_header *extra,
			size_t nextra, const uint8_t *body, size_t body_len, int64_t now,
			struct kb_aws_signed *out);
void kb_aws_signed_done(struct kb_aws_signed *s);

#endif
