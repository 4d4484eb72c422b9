/* A signed AWS JSON 1.1 client with retries, shared by the Secrets Manager
 * backend (service "secretsmanager") and EC2 Instance Connect (service
 * "ec2-instance-connect", target
 * "AWSEC2InstanceConnectService.SendSSHPublicKey").
 *
 * Credentials come from the chain in creds.h, resolved on the first call
 * and refreshed when they expire within KB_AWS_CREDS_REFRESH_S (instance
 * role credentials).  Retries use full-jitter backoff (kb_retry_delay_ms)
 * bounded by attempts and an overall deadline:
 *   - throttling (HTTP 429, ThrottlingException, TooManyRequestsException,
 *     RequestLimitExceeded) is always retried: the request was not done;
 *   - HTTP 5xx, connection errors and timeouts only for idempotent calls.
 * Settings: AWS_MAX_ATTEMPTS (default 4), BROKER_AWS_DEADLINE (a duration,
 * default 30s), BROKER_AWS_TIMEOUT (per attempt, default 10s). */
#ifndef KB_AWS_CLIENT_H
#define KB_AWS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "aws/creds.h"
#include "net/http.h"

#define KB_AWS_CREDS_REFRESH_S 300

struct kb_aws_client {
	char *service;    /* signing name, e.g. "secretsmanager" */
	char *region;
	char *endpoint;   /* "https://secretsmanager.eu-west-1.amazonaws.com" */
	char *profile;    /* or NULL */
	struct kb_aws_creds *creds;
	struct kb_retry retry;
	long timeout_ms;  /* per attempt */
	unsigned creds_fetches; /* how often the chain ran (for tests) */
};

struct kb_aws_result {
	long status;            /* last HTTP status, 0 if none */
	char code[64];          /* AWS error code ("ResourceNotFoundException") */
	char message[256];      /* AWS error message (never holds secrets) */
	unsigned attempts;
	struct kb_http_response resp; /* the successful response (secure body) */
};

/* service: signing name; endpoint NULL means https://<service>.<region>.amazonaws.com
 * (pass "secretsmanager" for Secrets Manager).  region NULL: resolved from
 * the environment and config files; KB_ERR_INVALID with a clear detail when
 * there is none. */
int kb_aws_client_init(struct kb_aws_client *c, const char *service, const char *region,
		       const char *endpoint, const char *profile);
void kb_aws_client_done(struct kb_aws_client *c);

/* POSTs body with X-Amz-Target: target.  KB_OK on HTTP 2xx (res->resp holds
 * the body); otherwise an error mapped from the AWS error code with a
 * one-line detail naming the operation, e.g. for a wrong secret key
 * "AWS rejected the request signature (SignatureDoesNotMatch): check
 * AWS_SECRET_ACCESS_KEY" (KB_ERR_AUTH).  Always call kb_aws_result_done. */
int kb_aws_json_call(struct kb_aws_client *c, const char *target, const char *body, size_t len,
		     bool idempotent, struct kb_aws_result *res);
void kb_aws_result_done(struct kb_aws_result *res);

/* Maps an AWS error code to enum kb_err (not-found, exists, auth, ...). */
int kb_aws_error_kind(const char *code, long status);
bool kb_aws_error_is_throttle(const char *code, long status);

#endif
