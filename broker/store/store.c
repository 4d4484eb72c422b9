/* The backend-independent half of the store interface: argument checks that
 * every backend relies on, backend selection, and the small helpers. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "core/err.h"
#include "core/util.h"

const char *kb_stage_name(enum kb_stage s)
{
	switch (s) {
	case KB_STAGE_CURRENT:
		return "current";
	case KB_STAGE_PENDING:
		return "pending";
	case KB_STAGE_PREVIOUS:
		return "previous";
	default:
		return "none";
	}
}

int kb_stage_parse(const char *s, enum kb_stage *ret)
{
	static const struct {
		const char *name;
		enum kb_stage stage;
	} names[] = {
		{ "current", KB_STAGE_CURRENT },   { "AWSCURRENT", KB_STAGE_CURRENT },
		{ "pending", KB_STAGE_PENDING },   { "AWSPENDING", KB_STAGE_PENDING },
		{ "previous", KB_STAGE_PREVIOUS }, { "AWSPREVIOUS", KB_STAGE_PREVIOUS },
	};

	*ret = KB_STAGE_NONE;
	if (s == NULL)
		return kb_err_set(KB_ERR_INVALID, "missing stage");
	for (size_t i = 0; i < KB_ARRAY_SIZE(names); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*ret = names[i].stage;
			return KB_OK;
		}
	}
	return kb_err_set(KB_ERR_INVALID, "unknown stage '%.40s' (use current, pending or previous)", s);
}

static bool name_char_ok(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       strchr("/_+=.@-", c) != NULL;
}

bool kb_store_name_valid(const char *name)
{
	if (name == NULL)
		return false;
	size_t n = strnlen(name, KB_STORE_NAME_MAX + 1);
	if (n == 0 || n > KB_STORE_NAME_MAX || name[0] == '/' || name[n - 1] == '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] == '\0' || !name_char_ok(name[i]))
			return false;
	/* Components: none empty, none "." or "..". */
	const char *p = name;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += len;
		if (*p == '/')
			p++;
	}
	return true;
}

static int check_name(const char *name)
{
	if (kb_store_name_valid(name))
		return KB_OK;
	if (name == NULL || *name == '\0')
		return kb_err_set(KB_ERR_ARGS, "empty secret name");
	return kb_err_set(KB_ERR_ARGS,
			  "invalid secret name '%.80s': use 1-%d characters of A-Z a-z 0-9 / _ + = . @ -, "
			  "like keybroker/<role>/<identity>, with no empty, '.' or '..' component",
			  name, KB_STORE_NAME_MAX);
}

/* Tokens and version ids: printable ASCII without spaces, bounded. */
static bool token_valid(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] >= 0x7f)
			return false;
	return true;
}

#define KB_STORE_TOKEN_MAX 64

static bool ready(const struct kb_store *s)
{
	return s != NULL && s->ops != NULL;
}

int kb_store_put(struct kb_store *s, const char *name, const uint8_t *value, size_t len,
		 const struct kb_store_put_opts *opts, char **ret_version)
{
	struct kb_store_put_opts o = { .stage = KB_STAGE_CURRENT };
	int r;

	if (ret_version)
		*ret_version = NULL;
	if (!ready(s) || (value == NULL && len > 0))
		return KB_ERR_INTERNAL;
	if ((r = check_name(name)) != KB_OK)
		return r;
	if (len > KB_STORE_VALUE_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "value of %s is %zu bytes; the limit is %u bytes", name,
				  len, KB_STORE_VALUE_MAX);
	if (opts != NULL)
		o = *opts;
	if (o.stage == KB_STAGE_NONE)
		o.stage = KB_STAGE_CURRENT;
	if (o.stage != KB_STAGE_CURRENT && o.stage != KB_STAGE_PENDING)
		return kb_err_set(KB_ERR_ARGS, "a new version can only be staged as current or pending");
	if (o.token != NULL && !token_valid(o.token, KB_STORE_TOKEN_MAX))
		return kb_err_set(KB_ERR_ARGS, "idempotency token must be 1-%d printable characters without spaces",
				  KB_STORE_TOKEN_MAX);
	if (o.description != NULL && (strlen(o.description) > 1024 || !kb_str_printable(o.description)))
		return kb_err_set(KB_ERR_ARGS, "description must be at most 1024 printable characters");
	/* Backends may always write the new version id; the caller may not
	 * want it. */
	char *version = NULL;
	r = s->ops->put(s, name, value ? value : (const uint8_t *)"", len, &o, &version);
	if (r == KB_OK && ret_version != NULL)
		*ret_version = version;
	else
		free(version);
	return r;
}

int kb_store_get(struct kb_store *s, const char *name, const struct kb_store_sel *sel,
		 struct kb_buf *out, char **ret_version)
{
	struct kb_store_sel d = { .stage = KB_STAGE_CURRENT };
	int r;

	if (ret_version)
		*ret_version = NULL;
	if (!ready(s) || out == NULL)
		return KB_ERR_INTERNAL;
	if ((r = check_name(name)) != KB_OK)
		return r;
	if (sel != NULL)
		d = *sel;
	if (d.version != NULL) {
		if (!token_valid(d.version, KB_STORE_VERSION_MAX))
			return kb_err_set(KB_ERR_ARGS, "invalid version id '%.70s'", d.version);
	} else {
		if (d.stage == KB_STAGE_NONE)
			d.stage = KB_STAGE_CURRENT;
		if (d.stage != KB_STAGE_CURRENT && d.stage != KB_STAGE_PENDING && d.stage != KB_STAGE_PREVIOUS)
			return kb_err_set(KB_ERR_ARGS, "select one stage: current, pending or previous");
	}
	return s->ops->get(s, name, &d, out, ret_version);
}

int kb_store_promote(struct kb_store *s, const char *name, const char *version)
{
	int r;

	if (!ready(s))
		return KB_ERR_INTERNAL;
	if ((r = check_name(name)) != KB_OK)
		return r;
	if (version == NULL || !token_valid(version, KB_STORE_VERSION_MAX))
		return kb_err_set(KB_ERR_ARGS, "invalid version id '%.70s'", version ? version : "");
	return s->ops->promote(s, name, version);
}

int kb_store_list(struct kb_store *s, const char *prefix, char ***ret_names, size_t *ret_n)
{
	*ret_names = NULL;
	*ret_n = 0;
	if (!ready(s))
		return KB_ERR_INTERNAL;
	if (prefix != NULL && *prefix == '\0')
		prefix = NULL;
	if (prefix != NULL && (strlen(prefix) > KB_STORE_NAME_MAX || !kb_str_printable(prefix)))
		return kb_err_set(KB_ERR_ARGS, "invalid prefix (at most %d printable characters)", KB_STORE_NAME_MAX);
	return s->ops->list(s, prefix, ret_names, ret_n);
}

int kb_store_describe(struct kb_store *s, const char *name, struct kb_secret_info **ret)
{
	int r;

	*ret = NULL;
	if (!ready(s))
		return KB_ERR_INTERNAL;
	if ((r = check_name(name)) != KB_OK)
		return r;
	return s->ops->describe(s, name, ret);
}

int kb_store_remove(struct kb_store *s, const char *name)
{
	int r;

	if (!ready(s))
		return KB_ERR_INTERNAL;
	if ((r = check_name(name)) != KB_OK)
		return r;
	return s->ops->remove(s, name);
}

void kb_store_names_free(char **names, size_t n)
{
	if (names == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

void kb_secret_info_free(struct kb_secret_info *info)
{
	if (info == NULL)
		return;
	free(info->name);
	free(info->versions);
	free(info);
}

int kb_store_open(const struct kb_config *cfg, struct kb_store **ret)
{
	const char *b = kb_config_get(cfg, "backend");

	*ret = NULL;
	if (b == NULL || *b == '\0' || strcmp(b, "local") == 0)
		return kb_store_local_open(cfg, ret);
	if (strcmp(b, "aws") == 0)
		return kb_store_aws_open(cfg, ret);
	if (strcmp(b, "vault") == 0)
		return kb_store_vault_open(cfg, ret);
	const char *origin = kb_config_origin(cfg, "backend");
	return kb_err_set(KB_ERR_ARGS, "unknown backend '%.40s' (from %s); use local, aws or vault", b,
			  origin ? origin : "configuration");
}

void kb_store_close(struct kb_store *s)
{
	if (s == NULL)
		return;
	if (s->ops != NULL && s->ops->close != NULL)
		s->ops->close(s);
	else
		free(s);
}
