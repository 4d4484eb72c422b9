/* Internal interface of the Secrets Manager backend, shared by
 * store_aws.c (writes, reads, delete) and store_aws_stages.c (describe,
 * promote, list). */
#ifndef KB_STORE_AWS_H
#define KB_STORE_AWS_H

#include <jansson.h>
#include <stdbool.h>

#include "aws/client.h"
#include "store/store.h"

#define TARGET(op) "secretsmanager." op
#define TAG_KEY "keybroker:managed"

struct aws_store {
	struct kb_aws_client client;
};

/* One call with a JSON body (consumed); on success the response stays in
 * res.  Always release res with kb_aws_result_done. */
int kb_aws_store_call(struct aws_store *s, const char *target, json_t *req, bool idempotent,
		      struct kb_aws_result *res);
/* DescribeSecret: name and stages (no creation times). */
int kb_aws_store_describe_stages(struct aws_store *s, const char *name, struct kb_secret_info **ret);
/* UpdateSecretVersionStage (not retried on 5xx: callers re-read first);
 * a label not where the caller read it gives KB_ERR_CONFLICT. */
int kb_aws_store_update_stage(struct aws_store *s, const char *name, const char *label,
			      const char *move_to, const char *remove_from);

int kb_aws_store_op_describe(struct kb_store *st, const char *name, struct kb_secret_info **ret);
int kb_aws_store_op_promote(struct kb_store *st, const char *name, const char *version);
int kb_aws_store_op_list(struct kb_store *st, const char *prefix, char ***ret_names, size_t *ret_n);

#endif
