/* Secrets Manager backend: describe, promote and list (see store_aws.c). */
#include <stdlib.h>
#include <string.h>

#include "aws/aws_json.h"
#include "aws/store_aws.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

static int version_cmp(const void *a, const void *b)
{
	const struct kb_version_info *x = a, *y = b;
	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->id, y->id);
}

int kb_aws_store_op_describe(struct kb_store *st, const char *name, struct kb_secret_info **ret)
{
	struct aws_store *s = st->impl;
	struct kb_secret_info *info = NULL;
	char *next = NULL;
	int r;

	*ret = NULL;
	if ((r = kb_aws_store_describe_stages(s, name, &info)) != KB_OK)
		return r;
	/* Creation times come from ListSecretVersionIds. */
	for (int page = 0; page < 100; page++) {
		struct kb_aws_result res;
		json_t *req = json_pack("{s:s, s:b, s:i}", "SecretId", name, "IncludeDeprecated", 1, "MaxResults", 100);
		if (next != NULL)
			json_object_set_new(req, "NextToken", json_string(next));
		free(next);
		next = NULL;
		r = kb_aws_store_call(s, TARGET("ListSecretVersionIds"), req, true, &res);
		if (r == KB_OK)
			r = kb_aws_parse_version_list(res.resp.body.data, res.resp.body.len, info, &next);
		kb_aws_result_done(&res);
		if (r != KB_OK || next == NULL)
			break;
	}
	free(next);
	if (r != KB_OK) {
		kb_secret_info_free(info);
		return r;
	}
	qsort(info->versions, info->nversions, sizeof(*info->versions), version_cmp);
	*ret = info;
	return KB_OK;
}

static int promote_once(struct aws_store *s, const char *name, const char *version)
{
	struct kb_secret_info *info = NULL;
	const char *current = NULL;
	unsigned stages = 0;
	bool found = false;
	int r = kb_aws_store_describe_stages(s, name, &info);
	if (r != KB_OK)
		return r;
	for (size_t i = 0; i < info->nversions; i++) {
		if (info->versions[i].stages & KB_STAGE_CURRENT)
			current = info->versions[i].id;
		if (strcmp(info->versions[i].id, version) == 0) {
			found = true;
			stages = info->versions[i].stages;
		}
	}
	if (!found) {
		r = kb_err_set(KB_ERR_NOT_FOUND, "%s has no version %s", name, version);
		goto out;
	}
	if (!(stages & KB_STAGE_CURRENT)) {
		r = kb_aws_store_update_stage(s, name, "AWSCURRENT", version, current);
		if (r != KB_OK)
			goto out;
	}
	if (stages & KB_STAGE_PENDING)
		r = kb_aws_store_update_stage(s, name, "AWSPENDING", NULL, version);
out:
	kb_secret_info_free(info);
	return r;
}

int kb_aws_store_op_promote(struct kb_store *st, const char *name, const char *version)
{
	struct aws_store *s = st->impl;
	int64_t start = kb_http_monotonic_ms();

	for (unsigned attempt = 1;; attempt++) {
		int r = promote_once(s, name, version);
		if (r != KB_ERR_NETWORK && r != KB_ERR_TIMEOUT && r != KB_ERR_BACKEND && r != KB_ERR_CONFLICT)
			return r;
		/* An UpdateSecretVersionStage that failed in flight may or may
		 * not have happened: start over from the stages. */
		long d = kb_retry_delay_ms(&s->client.retry, attempt, (long)(kb_http_monotonic_ms() - start));
		if (d < 0)
			return r;
		kb_debug("promote %s: retrying after %s", name, kb_err_str(r));
		kb_http_sleep_ms(d);
	}
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int kb_aws_store_op_list(struct kb_store *st, const char *prefix, char ***ret_names, size_t *ret_n)
{
	struct aws_store *s = st->impl;
	char **names = NULL, *next = NULL;
	size_t n = 0;
	int r = KB_OK;

	*ret_names = NULL;
	*ret_n = 0;
	for (unsigned page = 0;; page++) {
		struct kb_aws_result res;
		if (page >= 1000) {
			r = kb_err_set(KB_ERR_LIMIT, "ListSecrets: more than 1000 pages");
			break;
		}
		json_t *req = json_pack("{s:i}", "MaxResults", 100);
		if (req != NULL && prefix != NULL && prefix[0] != '\0')
			json_object_set_new(req, "Filters", json_pack("[{s:s, s:[s]}]", "Key", "name", "Values", prefix));
		if (req != NULL && next != NULL)
			json_object_set_new(req, "NextToken", json_string(next));
		free(next);
		next = NULL;
		r = kb_aws_store_call(s, TARGET("ListSecrets"), req, true, &res);
		if (r == KB_OK)
			r = kb_aws_parse_list(res.resp.body.data, res.resp.body.len, &names, &n, &next);
		kb_aws_result_done(&res);
		if (r != KB_OK || next == NULL)
			break;
	}
	free(next);
	/* The name filter of ListSecrets matches more loosely (words,
	 * case): keep exact prefixes only. */
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (r == KB_OK && (prefix == NULL || strncmp(names[i], prefix, strlen(prefix)) == 0))
			names[k++] = names[i];
		else
			free(names[i]);
	}
	if (r != KB_OK) {
		free(names);
		return r;
	}
	qsort(names, k, sizeof(*names), name_cmp);
	/* Drop duplicates (pages may overlap when secrets change). */
	size_t u = 0;
	for (size_t i = 0; i < k; i++) {
		if (u > 0 && strcmp(names[u - 1], names[i]) == 0)
			free(names[i]);
		else
			names[u++] = names[i];
	}
	*ret_names = names;
	*ret_n = u;
	return KB_OK;
}
