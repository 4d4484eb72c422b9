/* IMDSv2 client: a session token (PUT /latest/api/token), then GETs with
 * it.  The endpoint is AWS_EC2_METADATA_SERVICE_ENDPOINT's convention
 * (default http://169.254.169.254), overridable for tests and emulators.
 * Every request is bounded by the session's deadline. */
#ifndef KB_FLEET_IMDS_H
#define KB_FLEET_IMDS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define KB_IMDS_DEFAULT_ENDPOINT "http://169.254.169.254"
#define KB_IMDS_TOKEN_MAX 512u

struct kb_imds {
	char endpoint[256];
	char token[KB_IMDS_TOKEN_MAX + 1];
	int64_t deadline_ms; /* CLOCK_MONOTONIC ms; 0 = none */
};

/* Gets a token.  endpoint may be NULL (environment, then default). */
int kb_imds_open(struct kb_imds *s, const char *endpoint, int64_t deadline_ms);
void kb_imds_close(struct kb_imds *s);
/* GET /latest/meta-data/<path>: the body appended to out (capped at max);
 * KB_ERR_NOT_FOUND on 404. */
int kb_imds_get(struct kb_imds *s, const char *path, size_t max, struct kb_buf *out);
/* The same as a NUL-terminated heap string without trailing newlines;
 * rejects control characters. */
int kb_imds_get_string(struct kb_imds *s, const char *path, size_t max, char **ret);

int64_t kb_monotonic_ms(void);

#endif
