/* Parsers for AWS JSON 1.1 responses (Secrets Manager, EC2 Instance
 * Connect).  Every parser takes raw bytes, refuses more than
 * KB_AWS_RESPONSE_MAX before handing anything to jansson, and never crashes
 * on malformed input (fuzz target 'aws_response').  Secret values are
 * copied into the caller's (secure) buffer only. */
#ifndef KB_AWS_JSON_H
#define KB_AWS_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/store.h"

#define KB_AWS_RESPONSE_MAX (512u * 1024u)
#define KB_AWS_LIST_MAX 100000u

/* A JSON object document, or KB_ERR_TOO_LARGE / KB_ERR_INVALID. */
int kb_aws_parse_doc(const uint8_t *body, size_t len, json_t **ret);

/* The error code and message of a failed call: JSON {"__type","message"}
 * (the part of __type after '#'), or the XML <Code>/<Message> that some
 * endpoints (and moto's signature check) send.  code/msg are always
 * NUL-terminated printable text ("" when not found). */
void kb_aws_parse_error(const uint8_t *body, size_t len, char *code, size_t code_n, char *msg,
			size_t msg_n);

/* GetSecretValue: appends SecretString (or decoded SecretBinary) to out
 * and returns VersionId (heap) in *ret_version. */
int kb_aws_parse_get_secret(const uint8_t *body, size_t len, struct kb_buf *out, char **ret_version);

/* PutSecretValue / CreateSecret: the VersionId. */
int kb_aws_parse_version_id(const uint8_t *body, size_t len, char **ret_version);

/* DescribeSecret: name, dates and VersionIdsToStages. */
int kb_aws_parse_describe(const uint8_t *body, size_t len, struct kb_secret_info **ret);

/* ListSecretVersionIds page: fills in creation times of versions already in
 * info (and adds versions not there, without stages); *ret_next is the
 * NextToken or NULL. */
int kb_aws_parse_version_list(const uint8_t *body, size_t len, struct kb_secret_info *info,
			      char **ret_next);

/* ListSecrets page: appends names to (*names, *n) and returns NextToken
 * (heap) or NULL.  On error the names of this page are freed (and the
 * array too when it held nothing before). */
int kb_aws_parse_list(const uint8_t *body, size_t len, char ***names, size_t *n, char **ret_next);

/* AWS stage labels <-> enum kb_stage. */
const char *kb_aws_stage_label(enum kb_stage s);
unsigned kb_aws_stage_bits(const char *label);

#endif
