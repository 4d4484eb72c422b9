/* AWS credentials and the credential chain, as the AWS CLI finds them:
 *
 *   1. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN]
 *   2. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
 *      ~/.aws/credentials), section [<profile>]
 *   3. the config file (AWS_CONFIG_FILE, default ~/.aws/config), section
 *      [profile <profile>] ([default] for the default profile)
 *   4. the EC2 instance role through IMDSv2 (unless
 *      AWS_EC2_METADATA_DISABLED=true); AWS_EC2_METADATA_SERVICE_ENDPOINT
 *      overrides http://169.254.169.254.
 * The profile is the argument, else AWS_PROFILE, else "default"; when a
 * profile is named explicitly and not found, that is an error (as in the
 * CLI) rather than a fall-through to the instance role.
 *
 * The secret access key and session token live in guarded memory
 * (kb_secure_alloc) and are wiped on free.  Nothing here logs them. */
#ifndef KB_AWS_CREDS_H
#define KB_AWS_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KB_AWS_CREDS_FILE_MAX (256u * 1024u)
#define KB_AWS_KEY_MAX 256
#define KB_AWS_TOKEN_MAX 4096

struct kb_aws_creds {
	char *access_key_id;     /* heap (not secret) */
	char *secret_access_key; /* guarded */
	char *session_token;     /* guarded, or NULL */
	int64_t expiration;      /* unix time; 0 = does not expire */
	char source[64];         /* "env", "shared-credentials-file", "config-file", "imds" */
};

/* Builds credentials from parts (copies them). */
int kb_aws_creds_new(const char *akid, const char *secret, const char *token, int64_t expiration,
		     const char *source, struct kb_aws_creds **ret);
void kb_aws_creds_free(struct kb_aws_creds *c);
/* True when credentials expire within margin_s seconds of now. */
bool kb_aws_creds_expiring(const struct kb_aws_creds *c, int64_t now, int64_t margin_s);

/* Runs the chain.  profile may be NULL.  KB_ERR_AUTH with a detail that
 * lists what was tried when nothing is found. */
int kb_aws_creds_resolve(const char *profile, struct kb_aws_creds **ret);

/* Region from AWS_REGION, AWS_DEFAULT_REGION, then the profile's "region"
 * in the config file.  Returns a heap string, or NULL when unset. */
char *kb_aws_region_resolve(const char *profile);

/* Parses INI text of ~/.aws/credentials or ~/.aws/config and returns the
 * value of key in section (exact section name, e.g. "profile dev"); a
 * heap string (guarded when secure) or NULL.  Returns KB_OK, KB_ERR_NOT_FOUND
 * (section or key missing) or KB_ERR_INVALID / KB_ERR_TOO_LARGE. */
int kb_aws_ini_get(const char *text, size_t len, const char *section, const char *key,
		   bool secure, char **ret);
/* True when section exists in the INI text. */
bool kb_aws_ini_has_section(const char *text, size_t len, const char *section);

/* IMDSv2: token (PUT /latest/api/token), role name, credentials JSON. */
int kb_aws_imds_fetch(const char *endpoint, long timeout_ms, struct kb_aws_creds **ret);
/* Parses the instance-role credentials document (JSON with AccessKeyId,
 * SecretAccessKey, Token, Expiration; Code must be "Success"). */
int kb_aws_imds_parse_creds(const char *json, size_t len, struct kb_aws_creds **ret);

#endif
