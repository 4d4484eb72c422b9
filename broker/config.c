#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/util.h"

#define MAX_ENTRIES 64

struct entry {
	char *key;
	char *value;
	char *origin;
};

struct kb_config {
	struct entry e[MAX_ENTRIES];
	size_t n;
};

static const char *const known_keys[] = {
	"agent.socket", "audit.key", "audit.log", "aws.endpoint", "aws.profile", "aws.region",
	"backend", "local.dir", "local.master_key", "policy", "serve.socket", "vault.addr",
	"vault.approle_mount", "vault.cacert", "vault.mount", "vault.namespace", "vault.role_id",
	"vault.secret_id_file",
};

/* Environment variables, in decreasing priority per key. */
static const struct {
	const char *env;
	const char *key;
} env_map[] = {
	{ "BROKER_BACKEND", "backend" },
	{ "BROKER_POLICY", "policy" },
	{ "BROKER_STORE_DIR", "local.dir" },
	{ "BROKER_AUDIT_LOG", "audit.log" },
	{ "BROKER_SOCKET", "serve.socket" },
	{ "AWS_PROFILE", "aws.profile" },
	{ "AWS_REGION", "aws.region" },
	{ "AWS_DEFAULT_REGION", "aws.region" },
	{ "AWS_ENDPOINT_URL_SECRETS_MANAGER", "aws.endpoint" },
	{ "AWS_ENDPOINT_URL", "aws.endpoint" },
	{ "VAULT_ADDR", "vault.addr" },
	{ "VAULT_NAMESPACE", "vault.namespace" },
	{ "VAULT_CACERT", "vault.cacert" },
	{ "SSH_AUTH_SOCK", "agent.socket" },
};

static bool key_known(const char *key)
{
	for (size_t i = 0; i < KB_ARRAY_SIZE(known_keys); i++)
		if (strcmp(known_keys[i], key) == 0)
			return true;
	return false;
}

/* Values with a closed set of choices are checked where they are read, so
 * the error can name the file line or the variable. */
static int check_value(const char *key, const char *value, const char *where)
{
	if (strcmp(key, "backend") == 0 && strcmp(value, "local") != 0 && strcmp(value, "aws") != 0 &&
	    strcmp(value, "vault") != 0)
		return kb_err_set(KB_ERR_INVALID, "%s: unknown backend '%.40s' (use local, aws or vault)", where, value);
	return KB_OK;
}

int kb_config_new(struct kb_config **ret)
{
	*ret = calloc(1, sizeof(**ret));
	return *ret == NULL ? KB_ERR_NOMEM : KB_OK;
}

void kb_config_free(struct kb_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n; i++) {
		free(cfg->e[i].key);
		free(cfg->e[i].value);
		free(cfg->e[i].origin);
	}
	free(cfg);
}

static struct entry *find(const struct kb_config *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->n; i++)
		if (strcmp(cfg->e[i].key, key) == 0)
			return (struct entry *)(uintptr_t)&cfg->e[i];
	return NULL;
}

const char *kb_config_get(const struct kb_config *cfg, const char *key)
{
	const struct entry *e = cfg ? find(cfg, key) : NULL;
	return e ? e->value : NULL;
}

const char *kb_config_origin(const struct kb_config *cfg, const char *key)
{
	const struct entry *e = cfg ? find(cfg, key) : NULL;
	return e ? e->origin : NULL;
}

int kb_config_set(struct kb_config *cfg, const char *key, const char *value, const char *origin)
{
	struct entry *e = find(cfg, key);
	char *v = kb_strdup(value), *o = kb_strdup(origin);

	if (v == NULL || o == NULL)
		goto nomem;
	if (e == NULL) {
		if (cfg->n == MAX_ENTRIES) {
			free(v);
			free(o);
			return KB_ERR_LIMIT;
		}
		/* Keep entries sorted by key for stable output. */
		size_t i = cfg->n;
		while (i > 0 && strcmp(cfg->e[i - 1].key, key) > 0) {
			cfg->e[i] = cfg->e[i - 1];
			i--;
		}
		e = &cfg->e[i];
		e->key = kb_strdup(key);
		e->value = e->origin = NULL;
		cfg->n++;
		if (e->key == NULL)
			goto nomem;
	}
	free(e->value);
	free(e->origin);
	e->value = v;
	e->origin = o;
	return KB_OK;
nomem:
	free(v);
	free(o);
	return KB_ERR_NOMEM;
}

const char *kb_config_key_at(const struct kb_config *cfg, size_t i)
{
	return i < cfg->n ? cfg->e[i].key : NULL;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

int kb_config_parse(struct kb_config *cfg, const char *text, size_t len, const char *origin)
{
	size_t pos = 0;
	unsigned lineno = 0;
	int r = KB_OK;

	if (len > KB_CONFIG_FILE_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "%s: larger than %u bytes", origin, KB_CONFIG_FILE_MAX);
	if (len == 0)
		return KB_OK; /* text may be NULL then */
	if (memchr(text, '\0', len) != NULL)
		return kb_err_set(KB_ERR_INVALID, "%s: contains a NUL byte", origin);
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		char line[1024];
		lineno++;
		if (end - pos >= sizeof(line))
			return kb_err_set(KB_ERR_INVALID, "%s:%u: line too long", origin, lineno);
		memcpy(line, text + pos, end - pos);
		line[end - pos] = '\0';
		pos = end + 1;

		char *s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		char *k = s;
		while (*s && !isspace((unsigned char)*s) && *s != '=')
			s++;
		char sep = *s;
		if (sep != '\0')
			*s++ = '\0';
		s = trim(s);
		if (sep != '=' && *s == '=')
			s = trim(s + 1);
		if (!key_known(k))
			return kb_err_set(KB_ERR_INVALID, "%s:%u: unknown setting '%s'", origin, lineno, k);
		if (*s == '\0')
			return kb_err_set(KB_ERR_INVALID, "%s:%u: setting '%s' has no value", origin, lineno, k);
		if (!kb_str_printable(s))
			return kb_err_set(KB_ERR_INVALID, "%s:%u: control character in value", origin, lineno);
		char where[600];
		snprintf(where, sizeof(where), "%s:%u", origin, lineno);
		if ((r = check_value(k, s, where)) != KB_OK)
			return r;
		snprintf(where, sizeof(where), "file %s:%u", origin, lineno);
		if ((r = kb_config_set(cfg, k, s, where)) != KB_OK)
			return r;
	}
	return KB_OK;
}

static int set_defaults(struct kb_config *cfg)
{
	const char *home = getenv("HOME");
	bool root = geteuid() == 0;
	char *dir = NULL, *policy = NULL, *audit = NULL, *sock = NULL;
	int r = KB_ERR_NOMEM;

	if (!home || !*home)
		home = "/";
	const char *xdg_data = getenv("XDG_DATA_HOME"), *xdg_cfg = getenv("XDG_CONFIG_HOME");
	const char *xdg_state = getenv("XDG_STATE_HOME"), *xdg_run = getenv("XDG_RUNTIME_DIR");
	if (root) {
		dir = kb_strdup("/var/lib/keybroker");
		policy = kb_strdup("/etc/keybroker/policy.json");
		audit = kb_strdup("/var/log/keybroker/audit.log");
		sock = kb_strdup("/run/keybroker/broker.sock");
	} else {
		dir = xdg_data && *xdg_data ? kb_asprintf("%s/keybroker", xdg_data)
					    : kb_asprintf("%s/.local/share/keybroker", home);
		policy = xdg_cfg && *xdg_cfg ? kb_asprintf("%s/keybroker/policy.json", xdg_cfg)
					     : kb_asprintf("%s/.config/keybroker/policy.json", home);
		audit = xdg_state && *xdg_state ? kb_asprintf("%s/keybroker/audit.log", xdg_state)
						: kb_asprintf("%s/.local/state/keybroker/audit.log", home);
		sock = xdg_run && *xdg_run ? kb_asprintf("%s/keybroker/broker.sock", xdg_run)
					   : kb_asprintf("/tmp/keybroker-%u/broker.sock", (unsigned)geteuid());
	}
	if (!dir || !policy || !audit || !sock)
		goto out;
	if ((r = kb_config_set(cfg, "backend", "local", "default")) ||
	    (r = kb_config_set(cfg, "local.dir", dir, "default")) ||
	    (r = kb_config_set(cfg, "policy", policy, "default")) ||
	    (r = kb_config_set(cfg, "audit.log", audit, "default")) ||
	    (r = kb_config_set(cfg, "serve.socket", sock, "default")) ||
	    (r = kb_config_set(cfg, "vault.mount", "secret", "default")))
		goto out;
out:
	free(dir);
	free(policy);
	free(audit);
	free(sock);
	return r;
}

static int apply_env(struct kb_config *cfg)
{
	/* Walk backwards so the first listed variable for a key wins. */
	for (size_t i = KB_ARRAY_SIZE(env_map); i-- > 0;) {
		const char *v = getenv(env_map[i].env);
		if (v == NULL || *v == '\0')
			continue;
		char origin[64];
		snprintf(origin, sizeof(origin), "env %s", env_map[i].env);
		int r = check_value(env_map[i].key, v, origin);
		if (r != KB_OK)
			return r;
		r = kb_config_set(cfg, env_map[i].key, v, origin);
		if (r != KB_OK)
			return r;
	}
	return KB_OK;
}

int kb_config_load(const char *path, struct kb_config **ret)
{
	struct kb_config *cfg = NULL;
	struct kb_buf text;
	char *deflt = NULL;
	bool explicit_path = path != NULL;
	int r;

	*ret = NULL;
	kb_buf_init(&text, KB_CONFIG_FILE_MAX);
	if ((r = kb_config_new(&cfg)) || (r = set_defaults(cfg)))
		goto out;
	if (path == NULL && (path = getenv("BROKER_CONFIG")) != NULL && *path)
		explicit_path = true;
	else if (path == NULL || *path == '\0') {
		const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
		if (geteuid() == 0)
			deflt = kb_strdup("/etc/keybroker/broker.conf");
		else if (xdg && *xdg)
			deflt = kb_asprintf("%s/keybroker/broker.conf", xdg);
		else
			deflt = kb_asprintf("%s/.config/keybroker/broker.conf", home ? home : "");
		if (deflt == NULL) {
			r = KB_ERR_NOMEM;
			goto out;
		}
		path = deflt;
	}
	r = kb_read_file(path, KB_CONFIG_FILE_MAX, &text);
	if (r == KB_ERR_NOT_FOUND && !explicit_path) {
		r = KB_OK;
	} else if (r == KB_OK) {
		r = kb_config_parse(cfg, (const char *)kb_buf_ptr(&text), kb_buf_remaining(&text), path);
	}
	if (r == KB_OK)
		r = apply_env(cfg);
out:
	kb_buf_done(&text);
	free(deflt);
	if (r != KB_OK)
		kb_config_free(cfg);
	else
		*ret = cfg;
	return r;
}
