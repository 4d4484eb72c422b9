/* AWS Secrets Manager backend (JSON 1.1 protocol, SigV4).
 *
 * Stages map to AWS staging labels (AWSCURRENT, AWSPENDING, AWSPREVIOUS).
 * Every write carries a ClientRequestToken, so retries of PutSecretValue
 * and CreateSecret are idempotent; the token is derived from the caller's
 * idempotency token (and the secret name) or drawn at random per call.
 * Promotion is one UpdateSecretVersionStage move of AWSCURRENT (AWS itself
 * moves AWSPREVIOUS), then removal of AWSPENDING; a retry re-reads the
 * stages first, so it converges instead of failing half-way. */
#include "aws/store_aws.h"
#include "store/store.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws_json.h"
#include "aws/client.h"
#include "config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"

/* ---- request bodies ---- */

/* Serialises doc into guarded memory (bodies may carry secret values). */
static int dump(json_t *doc, char **ret, size_t *ret_len)
{
	*ret = NULL;
	if (doc == NULL)
		return KB_ERR_NOMEM;
	size_t n = json_dumpb(doc, NULL, 0, JSON_COMPACT);
	if (n == 0 || n > KB_STORE_VALUE_MAX * 2 + 4096)
		return KB_ERR_TOO_LARGE;
	char *p = kb_secure_alloc(n + 1);
	if (p == NULL)
		return KB_ERR_NOMEM;
	if (json_dumpb(doc, p, n, JSON_COMPACT) != n) {
		kb_secure_free(p);
		return KB_ERR_INTERNAL;
	}
	p[n] = '\0';
	*ret = p;
	*ret_len = n;
	return KB_OK;
}

/* One call with a JSON body; on success the response stays in res. */
int kb_aws_store_call(struct aws_store *s, const char *target, json_t *req, bool idempotent,
		struct kb_aws_result *res)
{
	char *body;
	size_t len;
	int r = dump(req, &body, &len);
	json_decref(req);
	if (r != KB_OK) {
		memset(res, 0, sizeof(*res));
		return r;
	}
	r = kb_aws_json_call(&s->client, target, body, len, idempotent, res);
	kb_secure_free(body);
	return r;
}

/* Sets SecretString when the value is UTF-8 text, else SecretBinary. */
static int set_value(json_t *req, const uint8_t *value, size_t len)
{
	json_t *str = memchr(value, '\0', len) == NULL ? json_stringn((const char *)value, len) : NULL;
	if (str != NULL)
		return json_object_set_new(req, "SecretString", str) == 0 ? KB_OK : KB_ERR_NOMEM;
	struct kb_buf b64;
	kb_buf_init_secure(&b64, KB_STORE_VALUE_MAX * 2);
	int r = kb_buf_put_base64(&b64, value, len);
	if (r == KB_OK) {
		json_t *v = json_stringn((const char *)b64.data, b64.len);
		r = v != NULL && json_object_set_new(req, "SecretBinary", v) == 0 ? KB_OK : KB_ERR_NOMEM;
	}
	kb_buf_done(&b64);
	return r;
}

/* A 36-character UUID-shaped ClientRequestToken (AWS wants 32..64). */
static void make_token(const char *name, const char *caller_token, char out[37])
{
	uint8_t u[16];
	if (caller_token != NULL) {
		crypto_generichash_state st;
		crypto_generichash_init(&st, (const uint8_t *)"keybroker-aws-crt", 17, sizeof(u));
		crypto_generichash_update(&st, (const uint8_t *)name, strlen(name) + 1);
		crypto_generichash_update(&st, (const uint8_t *)caller_token, strlen(caller_token));
		crypto_generichash_final(&st, u, sizeof(u));
		u[6] = (uint8_t)((u[6] & 0x0f) | 0x80); /* UUIDv8: derived */
	} else {
		randombytes_buf(u, sizeof(u));
		u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* UUIDv4: random */
	}
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
		 u[14], u[15]);
}

/* ---- operations ---- */

static int aws_put_value(struct aws_store *s, const char *name, const uint8_t *value, size_t len,
			 const char *label, const char *tok, struct kb_aws_result *res)
{
	json_t *req = json_pack("{s:s, s:s, s:[s]}", "SecretId", name, "ClientRequestToken", tok,
				"VersionStages", label);
	if (req == NULL || set_value(req, value, len) != KB_OK) {
		json_decref(req);
		memset(res, 0, sizeof(*res));
		return KB_ERR_NOMEM;
	}
	return kb_aws_store_call(s, TARGET("PutSecretValue"), req, true, res);
}

static int aws_create(struct aws_store *s, const char *name, const uint8_t *value, size_t len,
		      const char *tok, const char *description, struct kb_aws_result *res)
{
	json_t *req = json_pack("{s:s, s:[{s:s, s:s}]}", "Name", name, "Tags", "Key", TAG_KEY, "Value", "true");
	int r = req != NULL ? KB_OK : KB_ERR_NOMEM;
	if (r == KB_OK && value != NULL) {
		r = set_value(req, value, len);
		if (r == KB_OK && json_object_set_new(req, "ClientRequestToken", json_string(tok)) != 0)
			r = KB_ERR_NOMEM;
	}
	if (r == KB_OK && description != NULL &&
	    json_object_set_new(req, "Description", json_string(description)) != 0)
		r = KB_ERR_NOMEM;
	if (r != KB_OK) {
		json_decref(req);
		memset(res, 0, sizeof(*res));
		return r;
	}
	return kb_aws_store_call(s, TARGET("CreateSecret"), req, true, res);
}

/* Tags a secret the broker wrote to (TagResource is idempotent). */
static void aws_tag(struct aws_store *s, const char *name)
{
	struct kb_aws_result res;
	json_t *req = json_pack("{s:s, s:[{s:s, s:s}]}", "SecretId", name, "Tags", "Key", TAG_KEY, "Value", "true");
	int r = kb_aws_store_call(s, TARGET("TagResource"), req, true, &res);
	if (r != KB_OK)
		kb_debug("TagResource %s: %s (%s)", name, kb_err_str(r), kb_err_detail());
	kb_aws_result_done(&res);
	kb_err_clear_detail();
}

/* After PutSecretValue(AWSCURRENT) exactly one version is current on AWS.
 * moto loses track of the current version once UpdateSecretVersionStage has
 * moved it and then leaves two versions labelled AWSCURRENT (and the
 * AWSPREVIOUS label on the wrong one).  Check, and take the label off the
 * stale version: that also moves AWSPREVIOUS to it, as AWS would have. */
static void fix_double_current(struct aws_store *s, const char *name, const char *ours)
{
	struct kb_secret_info *info = NULL;
	bool mine = false;
	const char *stale = NULL;

	if (kb_aws_store_describe_stages(s, name, &info) != KB_OK) {
		kb_err_clear_detail();
		return;
	}
	for (size_t i = 0; i < info->nversions; i++) {
		if (!(info->versions[i].stages & KB_STAGE_CURRENT))
			continue;
		if (strcmp(info->versions[i].id, ours) == 0)
			mine = true;
		else
			stale = info->versions[i].id;
	}
	if (mine && stale != NULL) {
		kb_debug("%s: two versions labelled AWSCURRENT after PutSecretValue; removing it from %s", name, stale);
		if (kb_aws_store_update_stage(s, name, "AWSCURRENT", NULL, stale) != KB_OK)
			kb_err_clear_detail();
	}
	kb_secret_info_free(info);
}

/* KB_OK when version tok exists with this value, KB_ERR_CONFLICT when it
 * exists with another, KB_ERR_NOT_FOUND when it (or the secret) does not. */
static int check_token(struct aws_store *s, const char *name, const char *tok, const uint8_t *value,
		       size_t len)
{
	struct kb_aws_result res;
	struct kb_buf old;
	char *ver = NULL;
	json_t *req = json_pack("{s:s, s:s}", "SecretId", name, "VersionId", tok);
	int r = kb_aws_store_call(s, TARGET("GetSecretValue"), req, true, &res);
	kb_buf_init_secure(&old, KB_STORE_VALUE_MAX);
	if (r == KB_OK)
		r = kb_aws_parse_get_secret(res.resp.body.data, res.resp.body.len, &old, &ver);
	kb_aws_result_done(&res);
	if (r == KB_OK && (old.len != len || !kb_ct_equal(old.data, value, len)))
		r = kb_err_set(KB_ERR_CONFLICT, "idempotency token already used for another value of %s", name);
	kb_buf_done(&old);
	free(ver);
	if (r == KB_ERR_NOT_FOUND)
		kb_err_clear_detail();
	return r;
}

static int op_put(struct kb_store *st, const char *name, const uint8_t *value, size_t len,
		  const struct kb_store_put_opts *opts, char **ret_version)
{
	struct aws_store *s = st->impl;
	struct kb_aws_result res;
	char tok[37];
	bool pending = opts != NULL && opts->stage == KB_STAGE_PENDING;
	const char *label = pending ? "AWSPENDING" : "AWSCURRENT";
	int r;

	*ret_version = NULL;
	if (opts != NULL && opts->stage != KB_STAGE_NONE && opts->stage != KB_STAGE_CURRENT && !pending)
		return kb_err_set(KB_ERR_INVALID, "a new version can only be staged as current or pending");
	make_token(name, opts != NULL ? opts->token : NULL, tok);

	if (opts != NULL && opts->token != NULL) {
		/* The version id is the ClientRequestToken.  AWS refuses a reused
		 * token with another value, but not every implementation does
		 * (moto overwrites): check first, so the semantics hold anywhere. */
		r = check_token(s, name, tok, value, len);
		if (r == KB_OK) {
			*ret_version = kb_strdup(tok);
			return *ret_version != NULL ? KB_OK : KB_ERR_NOMEM;
		}
		if (r != KB_ERR_NOT_FOUND)
			return r;
	}

	bool created = false;
	r = aws_put_value(s, name, value, len, label, tok, &res);
	for (int round = 0; r == KB_ERR_NOT_FOUND && round < 2; round++) {
		/* The secret does not exist yet: create it.  A current value
		 * goes in with CreateSecret itself (one atomic step); a pending
		 * one needs an empty secret first. */
		kb_aws_result_done(&res);
		r = aws_create(s, name, pending ? NULL : value, len, tok,
			       opts != NULL ? opts->description : NULL, &res);
		if (r == KB_OK && !pending) {
			created = true;
			break;
		}
		if (r != KB_OK && r != KB_ERR_EXISTS)
			break;
		/* Created empty (pending), or someone else created it
		 * meanwhile, or a retried CreateSecret had already succeeded:
		 * PutSecretValue with the same token is idempotent. */
		created = r == KB_OK;
		kb_aws_result_done(&res);
		r = aws_put_value(s, name, value, len, label, tok, &res);
	}
	if (r == KB_ERR_EXISTS) {
		/* AWS: a version with this ClientRequestToken holds another value. */
		r = kb_err_set(KB_ERR_CONFLICT, "idempotency token already used for another value of %s (%s)",
			       name, res.code);
	}
	if (r == KB_OK)
		r = kb_aws_parse_version_id(res.resp.body.data, res.resp.body.len, ret_version);
	kb_aws_result_done(&res);
	if (r == KB_OK && !created && !pending)
		fix_double_current(s, name, *ret_version);
	if (r == KB_OK && !created)
		aws_tag(s, name);
	return r;
}

static int op_get(struct kb_store *st, const char *name, const struct kb_store_sel *sel,
		  struct kb_buf *out, char **ret_version)
{
	struct aws_store *s = st->impl;
	struct kb_aws_result res;
	json_t *req;
	char *ver = NULL;

	if (ret_version != NULL)
		*ret_version = NULL;
	if (sel != NULL && sel->version != NULL)
		req = json_pack("{s:s, s:s}", "SecretId", name, "VersionId", sel->version);
	else
		/* Always name the stage: moto (and eventually consistent
		 * readers) may otherwise return an older version. */
		req = json_pack("{s:s, s:s}", "SecretId", name, "VersionStage",
				kb_aws_stage_label(sel != NULL ? sel->stage : KB_STAGE_CURRENT));
	int r = kb_aws_store_call(s, TARGET("GetSecretValue"), req, true, &res);
	if (r == KB_OK)
		r = kb_aws_parse_get_secret(res.resp.body.data, res.resp.body.len, out, &ver);
	kb_aws_result_done(&res);
	if (r == KB_OK && ret_version != NULL)
		*ret_version = ver;
	else
		free(ver);
	return r;
}

int kb_aws_store_describe_stages(struct aws_store *s, const char *name, struct kb_secret_info **ret)
{
	struct kb_aws_result res;
	json_t *req = json_pack("{s:s}", "SecretId", name);
	int r = kb_aws_store_call(s, TARGET("DescribeSecret"), req, true, &res);
	if (r == KB_OK)
		r = kb_aws_parse_describe(res.resp.body.data, res.resp.body.len, ret);
	kb_aws_result_done(&res);
	return r;
}

int kb_aws_store_update_stage(struct aws_store *s, const char *name, const char *label, const char *move_to,
			const char *remove_from)
{
	struct kb_aws_result res;
	json_t *req = json_pack("{s:s, s:s}", "SecretId", name, "VersionStage", label);
	if (req != NULL && move_to != NULL)
		json_object_set_new(req, "MoveToVersionId", json_string(move_to));
	if (req != NULL && remove_from != NULL)
		json_object_set_new(req, "RemoveFromVersionId", json_string(remove_from));
	/* Not idempotent as such: the caller re-reads the stages before a
	 * retry. */
	int r = kb_aws_store_call(s, TARGET("UpdateSecretVersionStage"), req, false, &res);
	if (r != KB_OK && res.status >= 400 && res.status < 500 &&
	    (strcmp(res.code, "InvalidParameterException") == 0 ||
	     strcmp(res.code, "InvalidRequestException") == 0)) {
		/* A label was not where we read it: another broker moved it. */
		r = kb_err_set(KB_ERR_CONFLICT, "the stages of %s changed during promote (%s)", name, res.code);
	}
	kb_aws_result_done(&res);
	return r;
}

static int op_remove(struct kb_store *st, const char *name)
{
	struct aws_store *s = st->impl;
	struct kb_aws_result res;
	struct kb_secret_info *info = NULL;
	/* DeleteSecret with ForceDeleteWithoutRecovery may answer success
	 * for a secret that does not exist: look first. */
	int r = kb_aws_store_describe_stages(s, name, &info);
	kb_secret_info_free(info);
	if (r != KB_OK)
		return r;
	json_t *req = json_pack("{s:s, s:b}", "SecretId", name, "ForceDeleteWithoutRecovery", 1);
	r = kb_aws_store_call(s, TARGET("DeleteSecret"), req, true, &res);
	/* A retry of a delete that went through finds nothing: done. */
	if (r == KB_ERR_NOT_FOUND && res.attempts > 1)
		r = KB_OK;
	kb_aws_result_done(&res);
	return r;
}

static void op_close(struct kb_store *st)
{
	if (st == NULL)
		return;
	struct aws_store *s = st->impl;
	if (s != NULL) {
		kb_aws_client_done(&s->client);
		free(s);
	}
	free(st);
}

static const struct kb_store_ops aws_ops = {
	.name = "aws",
	.put = op_put,
	.get = op_get,
	.promote = kb_aws_store_op_promote,
	.list = kb_aws_store_op_list,
	.describe = kb_aws_store_op_describe,
	.remove = op_remove,
	.close = op_close,
};

int kb_store_aws_open(const struct kb_config *cfg, struct kb_store **ret)
{
	*ret = NULL;
	struct kb_store *st = calloc(1, sizeof(*st));
	struct aws_store *s = calloc(1, sizeof(*s));
	if (st == NULL || s == NULL) {
		free(st);
		free(s);
		return KB_ERR_NOMEM;
	}
	st->ops = &aws_ops;
	st->impl = s;
	int r = kb_aws_client_init(&s->client, "secretsmanager", kb_config_get(cfg, "aws.region"),
				   kb_config_get(cfg, "aws.endpoint"), kb_config_get(cfg, "aws.profile"));
	if (r != KB_OK) {
		free(s);
		free(st);
		return r;
	}
	*ret = st;
	return KB_OK;
}
