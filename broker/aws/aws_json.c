/* AWS JSON 1.1 response parsers.  Shape: cap the size, parse into a
 * jansson document (JSON_REJECT_DUPLICATES), check types field by field,
 * hand results over only at the end. */
#include "aws/aws_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"

int kb_aws_parse_doc(const uint8_t *body, size_t len, json_t **ret)
{
	json_error_t jerr;

	*ret = NULL;
	if (len > KB_AWS_RESPONSE_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "AWS response larger than %u bytes", KB_AWS_RESPONSE_MAX);
	if (body == NULL || len == 0)
		return kb_err_set(KB_ERR_INVALID, "empty AWS response");
	json_t *doc = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL)
		return kb_err_set(KB_ERR_INVALID, "AWS response is not JSON (line %d: %.80s)", jerr.line, jerr.text);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return kb_err_set(KB_ERR_INVALID, "AWS response is not a JSON object");
	}
	*ret = doc;
	return KB_OK;
}

static void copy_printable(char *dst, size_t n, const char *src, size_t srclen)
{
	size_t o = 0;
	if (n == 0)
		return;
	for (size_t i = 0; i < srclen && o + 1 < n; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	dst[o] = '\0';
}

/* Finds <tag>text</tag> within the first bytes of an XML body. */
static void xml_field(const uint8_t *body, size_t len, const char *tag, char *out, size_t n)
{
	char open[32], close[32];
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	size_t ol = strlen(open);
	for (size_t i = 0; i + ol <= len; i++) {
		if (memcmp(body + i, open, ol) != 0)
			continue;
		size_t s = i + ol, cl = strlen(close);
		for (size_t j = s; j + cl <= len; j++) {
			if (memcmp(body + j, close, cl) == 0) {
				copy_printable(out, n, (const char *)body + s, j - s);
				return;
			}
		}
		return;
	}
}

void kb_aws_parse_error(const uint8_t *body, size_t len, char *code, size_t code_n, char *msg,
			size_t msg_n)
{
	json_t *doc = NULL;

	if (code_n > 0)
		code[0] = '\0';
	if (msg_n > 0)
		msg[0] = '\0';
	if (body == NULL || len == 0)
		return;
	if (len > KB_AWS_RESPONSE_MAX)
		len = KB_AWS_RESPONSE_MAX; /* XML scan only looks, never allocates */
	if (body[0] == '{' && kb_aws_parse_doc(body, len, &doc) == KB_OK) {
		const char *t = json_string_value(json_object_get(doc, "__type"));
		if (t == NULL)
			t = json_string_value(json_object_get(doc, "code"));
		if (t != NULL) {
			const char *h = strrchr(t, '#');
			t = h != NULL ? h + 1 : t;
			copy_printable(code, code_n, t, strcspn(t, ":"));
		}
		const char *m = json_string_value(json_object_get(doc, "message"));
		if (m == NULL)
			m = json_string_value(json_object_get(doc, "Message"));
		if (m != NULL)
			copy_printable(msg, msg_n, m, strlen(m));
		json_decref(doc);
		kb_err_clear_detail();
		return;
	}
	kb_err_clear_detail();
	xml_field(body, len, "Code", code, code_n);
	xml_field(body, len, "Message", msg, msg_n);
}

static int version_id(json_t *doc, char **ret)
{
	const char *v = json_string_value(json_object_get(doc, "VersionId"));
	*ret = NULL;
	if (v == NULL || v[0] == '\0' || strlen(v) > KB_STORE_VERSION_MAX || !kb_str_printable(v))
		return kb_err_set(KB_ERR_INVALID, "AWS response lacks a valid VersionId");
	*ret = kb_strdup(v);
	return *ret == NULL ? KB_ERR_NOMEM : KB_OK;
}

int kb_aws_parse_version_id(const uint8_t *body, size_t len, char **ret_version)
{
	json_t *doc;
	int r = kb_aws_parse_doc(body, len, &doc);
	*ret_version = NULL;
	if (r != KB_OK)
		return r;
	r = version_id(doc, ret_version);
	json_decref(doc);
	return r;
}

int kb_aws_parse_get_secret(const uint8_t *body, size_t len, struct kb_buf *out, char **ret_version)
{
	json_t *doc;
	char *ver = NULL;
	size_t mark = out->len;
	int r;

	*ret_version = NULL;
	if ((r = kb_aws_parse_doc(body, len, &doc)) != KB_OK)
		return r;
	if ((r = version_id(doc, &ver)) != KB_OK)
		goto out;
	json_t *ss = json_object_get(doc, "SecretString");
	json_t *sb = json_object_get(doc, "SecretBinary");
	if (json_is_string(ss)) {
		size_t n = json_string_length(ss);
		if (n > KB_STORE_VALUE_MAX) {
			r = kb_err_set(KB_ERR_TOO_LARGE, "secret value over %u bytes", KB_STORE_VALUE_MAX);
			goto out;
		}
		r = kb_buf_put(out, json_string_value(ss), n);
	} else if (json_is_string(sb)) {
		const char *b64 = json_string_value(sb);
		size_t n = json_string_length(sb);
		if (n > (KB_STORE_VALUE_MAX / 3 + 1) * 4 + 64) {
			r = kb_err_set(KB_ERR_TOO_LARGE, "secret value over %u bytes", KB_STORE_VALUE_MAX);
			goto out;
		}
		r = kb_buf_put_from_base64(out, b64, n);
		if (r == KB_OK && out->len - mark > KB_STORE_VALUE_MAX)
			r = KB_ERR_TOO_LARGE;
		if (r != KB_OK && r != KB_ERR_TOO_LARGE)
			r = kb_err_set(KB_ERR_INVALID, "SecretBinary is not valid base64");
	} else {
		r = kb_err_set(KB_ERR_NOT_FOUND, "the secret version has no value");
	}
out:
	if (r == KB_OK) {
		*ret_version = ver;
		ver = NULL;
	} else if (out->len > mark) {
		kb_wipe(out->data + mark, out->len - mark);
		out->len = mark;
	}
	free(ver);
	json_decref(doc);
	return r;
}

const char *kb_aws_stage_label(enum kb_stage s)
{
	switch (s) {
	case KB_STAGE_PENDING:
		return "AWSPENDING";
	case KB_STAGE_PREVIOUS:
		return "AWSPREVIOUS";
	default:
		return "AWSCURRENT";
	}
}

unsigned kb_aws_stage_bits(const char *label)
{
	if (strcmp(label, "AWSCURRENT") == 0)
		return KB_STAGE_CURRENT;
	if (strcmp(label, "AWSPENDING") == 0)
		return KB_STAGE_PENDING;
	if (strcmp(label, "AWSPREVIOUS") == 0)
		return KB_STAGE_PREVIOUS;
	return 0; /* custom labels are kept out of our model */
}

static int64_t json_time(json_t *v)
{
	/* JSON 1.1 timestamps are epoch seconds (a number). */
	if (json_is_number(v)) {
		double d = json_number_value(v);
		if (isfinite(d) && d > 0 && d < 1e11)
			return (int64_t)d;
	}
	return 0;
}

#define VERSIONS_MAX 4096u

static int info_version(struct kb_secret_info *info, const char *id, struct kb_version_info **ret)
{
	for (size_t i = 0; i < info->nversions; i++) {
		if (strcmp(info->versions[i].id, id) == 0) {
			*ret = &info->versions[i];
			return KB_OK;
		}
	}
	if (info->nversions >= VERSIONS_MAX)
		return kb_err_set(KB_ERR_LIMIT, "more than %u versions", VERSIONS_MAX);
	if (strlen(id) == 0 || strlen(id) > KB_STORE_VERSION_MAX || !kb_str_printable(id))
		return kb_err_set(KB_ERR_INVALID, "bad version id in AWS response");
	struct kb_version_info *v = realloc(info->versions, (info->nversions + 1) * sizeof(*v));
	if (v == NULL)
		return KB_ERR_NOMEM;
	info->versions = v;
	v = &info->versions[info->nversions++];
	memset(v, 0, sizeof(*v));
	kb_strlcpy(v->id, id, sizeof(v->id));
	*ret = v;
	return KB_OK;
}

int kb_aws_parse_describe(const uint8_t *body, size_t len, struct kb_secret_info **ret)
{
	json_t *doc;
	struct kb_secret_info *info = NULL;
	int r;

	*ret = NULL;
	if ((r = kb_aws_parse_doc(body, len, &doc)) != KB_OK)
		return r;
	const char *name = json_string_value(json_object_get(doc, "Name"));
	if (name == NULL || strlen(name) > KB_STORE_NAME_MAX || !kb_str_printable(name)) {
		r = kb_err_set(KB_ERR_INVALID, "DescribeSecret response lacks a valid Name");
		goto out;
	}
	info = calloc(1, sizeof(*info));
	if (info == NULL || (info->name = kb_strdup(name)) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	info->created = json_time(json_object_get(doc, "CreatedDate"));
	info->updated = json_time(json_object_get(doc, "LastChangedDate"));
	json_t *map = json_object_get(doc, "VersionIdsToStages");
	if (map != NULL && !json_is_object(map)) {
		r = kb_err_set(KB_ERR_INVALID, "VersionIdsToStages is not an object");
		goto out;
	}
	const char *id;
	json_t *labels;
	json_object_foreach(map, id, labels) {
		struct kb_version_info *v;
		size_t i;
		json_t *l;
		if (!json_is_array(labels)) {
			r = kb_err_set(KB_ERR_INVALID, "stage list is not an array");
			goto out;
		}
		if ((r = info_version(info, id, &v)) != KB_OK)
			goto out;
		json_array_foreach(labels, i, l) {
			if (!json_is_string(l)) {
				r = kb_err_set(KB_ERR_INVALID, "stage label is not a string");
				goto out;
			}
			v->stages |= kb_aws_stage_bits(json_string_value(l));
		}
	}
	*ret = info;
	info = NULL;
	r = KB_OK;
out:
	kb_secret_info_free(info);
	json_decref(doc);
	return r;
}

static int next_token(json_t *doc, char **ret_next)
{
	json_t *nt = json_object_get(doc, "NextToken");
	*ret_next = NULL;
	if (nt == NULL || json_is_null(nt))
		return KB_OK;
	const char *s = json_string_value(nt);
	if (s == NULL || strlen(s) > 4096 || !kb_str_printable(s))
		return kb_err_set(KB_ERR_INVALID, "bad NextToken");
	if (s[0] == '\0')
		return KB_OK;
	*ret_next = kb_strdup(s);
	return *ret_next == NULL ? KB_ERR_NOMEM : KB_OK;
}

int kb_aws_parse_version_list(const uint8_t *body, size_t len, struct kb_secret_info *info,
			      char **ret_next)
{
	json_t *doc, *e;
	size_t i;
	int r;

	*ret_next = NULL;
	if ((r = kb_aws_parse_doc(body, len, &doc)) != KB_OK)
		return r;
	json_t *arr = json_object_get(doc, "Versions");
	if (arr != NULL && !json_is_array(arr)) {
		r = kb_err_set(KB_ERR_INVALID, "Versions is not an array");
		goto out;
	}
	json_array_foreach(arr, i, e) {
		const char *id = json_string_value(json_object_get(e, "VersionId"));
		struct kb_version_info *v;
		if (id == NULL) {
			r = kb_err_set(KB_ERR_INVALID, "version without VersionId");
			goto out;
		}
		if ((r = info_version(info, id, &v)) != KB_OK)
			goto out;
		v->created = json_time(json_object_get(e, "CreatedDate"));
	}
	r = next_token(doc, ret_next);
out:
	json_decref(doc);
	return r;
}

int kb_aws_parse_list(const uint8_t *body, size_t len, char ***names, size_t *n, char **ret_next)
{
	json_t *doc, *e;
	size_t i, start = *n;
	int r;

	*ret_next = NULL;
	if ((r = kb_aws_parse_doc(body, len, &doc)) != KB_OK)
		return r;
	json_t *arr = json_object_get(doc, "SecretList");
	if (arr != NULL && !json_is_array(arr)) {
		r = kb_err_set(KB_ERR_INVALID, "SecretList is not an array");
		goto out;
	}
	if (*n + json_array_size(arr) > KB_AWS_LIST_MAX) {
		r = kb_err_set(KB_ERR_LIMIT, "more than %u secrets listed", KB_AWS_LIST_MAX);
		goto out;
	}
	json_array_foreach(arr, i, e) {
		const char *name = json_string_value(json_object_get(e, "Name"));
		if (name == NULL || strlen(name) > KB_STORE_NAME_MAX || !kb_str_printable(name)) {
			r = kb_err_set(KB_ERR_INVALID, "listed secret without a valid Name");
			goto out;
		}
		char **nn = realloc(*names, (*n + 1) * sizeof(*nn));
		if (nn == NULL) {
			r = KB_ERR_NOMEM;
			goto out;
		}
		*names = nn;
		if ((nn[*n] = kb_strdup(name)) == NULL) {
			r = KB_ERR_NOMEM;
			goto out;
		}
		(*n)++;
	}
	r = next_token(doc, ret_next);
out:
	if (r != KB_OK) {
		for (size_t j = start; j < *n; j++)
			free((*names)[j]);
		*n = start;
		if (start == 0) {
			free(*names);
			*names = NULL;
		}
	}
	json_decref(doc);
	return r;
}
