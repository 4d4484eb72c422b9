/* AWS client micro-benchmarks: SigV4 signing of a Secrets Manager request
 * and the JSON response parsers.  Prints operations per second; no
 * assertions (see tests/aws for correctness). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/aws_json.h"
#include "aws/creds.h"
#include "aws/sigv4.h"
#include "core/mem.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
	struct kb_aws_creds *c;
	if (kb_init() != 0 || kb_aws_creds_new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
					       "session-token", 0, "bench", &c) != 0)
		return 1;
	kb_json_use_wiping_alloc();
	char body[2048];
	memset(body, 'a', sizeof(body));
	struct kb_http_header extra[] = { { "Content-Type", "application/x-amz-json-1.1" },
					  { "X-Amz-Target", "secretsmanager.PutSecretValue" } };
	int n = 20000;
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		struct kb_aws_signed s;
		if (kb_aws_sign_request(c, "us-east-1", "secretsmanager", "POST",
					"https://secretsmanager.us-east-1.amazonaws.com/", extra, 2,
					(const uint8_t *)body, sizeof(body), 1764450000, &s) != 0)
			return 1;
		kb_aws_signed_done(&s);
	}
	double t = now_s() - t0;
	printf("sigv4 sign (2 KiB JSON body, session token): %.0f/s, %.1f us each\n", n / t, t / n * 1e6);

	const char get_doc[] = "{\"ARN\":\"arn:aws:secretsmanager:us-east-1:123456789012:secret:keybroker/deploy/alice-AbCdEf\","
			       "\"Name\":\"keybroker/deploy/alice\",\"VersionId\":\"cfc1b6b3-9aff-4b40-91ab-6275ea9133da\","
			       "\"SecretString\":\"{\\\"kind\\\":\\\"keybroker/ssh-credential/v1\\\",\\\"private_key\\\":\\\"-----BEGIN OPENSSH PRIVATE KEY-----\\\\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\\\\n-----END OPENSSH PRIVATE KEY-----\\\\n\\\"}\","
			       "\"VersionStages\":[\"AWSCURRENT\"],\"CreatedDate\":1795991962.0}";
	t0 = now_s();
	for (int i = 0; i < n; i++) {
		struct kb_buf out;
		char *ver;
		kb_buf_init_secure(&out, KB_STORE_VALUE_MAX);
		if (kb_aws_parse_get_secret((const uint8_t *)get_doc, strlen(get_doc), &out, &ver) != 0)
			return 1;
		free(ver);
		kb_buf_done(&out);
	}
	t = now_s() - t0;
	printf("GetSecretValue response parse into guarded buffer: %.0f/s, %.1f us each\n", n / t, t / n * 1e6);
	kb_aws_creds_free(c);
	return 0;
}
