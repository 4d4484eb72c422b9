/* The AWS credential chain (see creds.h for the order). */
#include "aws/creds.h"

#include <errno.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"

#define IMDS_DEFAULT "http://169.254.169.254"

static char *secure_strdup(const char *s, size_t n)
{
	char *p = kb_secure_alloc(n + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int kb_aws_creds_new(const char *akid, const char *secret, const char *token, int64_t expiration,
		     const char *source, struct kb_aws_creds **ret)
{
	*ret = NULL;
	if (akid == NULL || secret == NULL || akid[0] == '\0' || secret[0] == '\0' ||
	    strlen(akid) > KB_AWS_KEY_MAX || strlen(secret) > KB_AWS_KEY_MAX ||
	    (token != NULL && strlen(token) > KB_AWS_TOKEN_MAX) || !kb_str_printable(akid) ||
	    !kb_str_printable(secret) || (token != NULL && !kb_str_printable(token)))
		return kb_err_set(KB_ERR_INVALID, "malformed AWS credentials from %s",
				  source != NULL ? source : "?");
	struct kb_aws_creds *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return KB_ERR_NOMEM;
	c->access_key_id = kb_strdup(akid);
	c->secret_access_key = secure_strdup(secret, strlen(secret));
	if (token != NULL && token[0] != '\0')
		c->session_token = secure_strdup(token, strlen(token));
	c->expiration = expiration;
	kb_strlcpy(c->source, source != NULL ? source : "", sizeof(c->source));
	if (c->access_key_id == NULL || c->secret_access_key == NULL ||
	    (token != NULL && token[0] != '\0' && c->session_token == NULL)) {
		kb_aws_creds_free(c);
		return KB_ERR_NOMEM;
	}
	*ret = c;
	return KB_OK;
}

void kb_aws_creds_free(struct kb_aws_creds *c)
{
	if (c == NULL)
		return;
	free(c->access_key_id);
	kb_secure_free(c->secret_access_key);
	kb_secure_free(c->session_token);
	free(c);
}

bool kb_aws_creds_expiring(const struct kb_aws_creds *c, int64_t now, int64_t margin_s)
{
	return c->expiration != 0 && c->expiration - margin_s <= now;
}

/* ---- INI files ---- */

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static const char *trim_end(const char *start, const char *end)
{
	while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	return end;
}

/* Walks the text; calls back for the section found. */
static int ini_find(const char *text, size_t len, const char *section, const char *key,
		    const char **ret_v, size_t *ret_vlen, bool *ret_section_seen)
{
	const char *p = text, *end = text + len;
	bool in = false;

	*ret_section_seen = false;
	if (memchr(text, '\0', len) != NULL)
		return kb_err_set(KB_ERR_INVALID, "NUL byte in AWS config file");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl != NULL ? nl : end;
		const char *q = skip_ws(p, le);
		bool indented = q != p;
		const char *qe = trim_end(q, le);
		if (q == qe || *q == '#' || *q == ';') {
			/* blank or comment */
		} else if (*q == '[' && !indented) {
			if (qe[-1] != ']')
				return kb_err_set(KB_ERR_INVALID, "malformed section header in AWS config file");
			const char *s = skip_ws(q + 1, qe - 1);
			const char *se = trim_end(s, qe - 1);
			/* "[profile   dev]": collapse the separator. */
			char name[256];
			size_t n = 0;
			bool sp = false;
			for (const char *c = s; c < se && n + 2 < sizeof(name); c++) {
				if (*c == ' ' || *c == '\t') {
					sp = true;
					continue;
				}
				if (sp && n > 0)
					name[n++] = ' ';
				sp = false;
				name[n++] = *c;
			}
			name[n] = '\0';
			in = strcmp(name, section) == 0;
			if (in)
				*ret_section_seen = true;
		} else if (in && !indented) {
			const char *eq = memchr(q, '=', (size_t)(qe - q));
			if (eq != NULL) {
				const char *ke = trim_end(q, eq);
				if ((size_t)(ke - q) == strlen(key) && strncmp(q, key, strlen(key)) == 0) {
					const char *v = skip_ws(eq + 1, qe);
					*ret_v = v;
					*ret_vlen = (size_t)(qe - v);
					return KB_OK;
				}
			}
		}
		p = nl != NULL ? nl + 1 : end;
	}
	return KB_ERR_NOT_FOUND;
}

int kb_aws_ini_get(const char *text, size_t len, const char *section, const char *key,
		   bool secure, char **ret)
{
	const char *v;
	size_t vlen;
	bool seen;

	*ret = NULL;
	if (len > KB_AWS_CREDS_FILE_MAX)
		return KB_ERR_TOO_LARGE;
	int r = ini_find(text, len, section, key, &v, &vlen, &seen);
	if (r != KB_OK)
		return r;
	if (vlen > KB_AWS_TOKEN_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "value of %s too long in AWS config file", key);
	*ret = secure ? secure_strdup(v, vlen) : kb_asprintf("%.*s", (int)vlen, v);
	return *ret == NULL ? KB_ERR_NOMEM : KB_OK;
}

bool kb_aws_ini_has_section(const char *text, size_t len, const char *section)
{
	const char *v;
	size_t vlen;
	bool seen = false;

	if (len > KB_AWS_CREDS_FILE_MAX)
		return false;
	(void)ini_find(text, len, section, "\n", &v, &vlen, &seen);
	return seen;
}

static char *aws_file(const char *env, const char *name)
{
	const char *p = getenv(env);
	if (p != NULL && p[0] != '\0') {
		if (p[0] == '~' && p[1] == '/' && getenv("HOME") != NULL)
			return kb_asprintf("%s%s", getenv("HOME"), p + 1);
		return kb_strdup(p);
	}
	const char *home = getenv("HOME");
	if (home == NULL || home[0] == '\0')
		return NULL;
	return kb_asprintf("%s/.aws/%s", home, name);
}

/* Reads an AWS file into a secure buffer (it may hold secret keys).
 * KB_ERR_NOT_FOUND when absent. */
static int read_aws_file(const char *path, struct kb_buf *out)
{
	kb_buf_init_secure(out, KB_AWS_CREDS_FILE_MAX);
	if (path == NULL)
		return KB_ERR_NOT_FOUND;
	struct stat st;
	if (stat(path, &st) != 0 && errno == ENOENT)
		return KB_ERR_NOT_FOUND;
	int r = kb_read_file(path, KB_AWS_CREDS_FILE_MAX, out);
	if (r == KB_ERR_TOO_LARGE)
		return kb_err_set(r, "%s is larger than %u bytes", path, KB_AWS_CREDS_FILE_MAX);
	return r;
}

/* Looks for keys in one section of one file.  KB_ERR_NOT_FOUND when there
 * are no keys there; *section_seen tells whether the section exists. */
static int creds_from_ini(const struct kb_buf *f, const char *section, const char *source,
			  bool *section_seen, struct kb_aws_creds **ret)
{
	char *akid = NULL, *secret = NULL, *token = NULL;
	const char *text = (const char *)f->data;
	int r;

	*section_seen = f->len > 0 && kb_aws_ini_has_section(text, f->len, section);
	if (!*section_seen)
		return KB_ERR_NOT_FOUND;
	r = kb_aws_ini_get(text, f->len, section, "aws_access_key_id", false, &akid);
	if (r == KB_OK)
		r = kb_aws_ini_get(text, f->len, section, "aws_secret_access_key", true, &secret);
	if (r == KB_OK) {
		int t = kb_aws_ini_get(text, f->len, section, "aws_session_token", true, &token);
		if (t != KB_OK && t != KB_ERR_NOT_FOUND)
			r = t;
	}
	if (r == KB_OK)
		r = kb_aws_creds_new(akid, secret, token, 0, source, ret);
	else if (r == KB_ERR_NOT_FOUND && akid != NULL)
		r = kb_err_set(KB_ERR_AUTH, "profile [%s] in the %s has aws_access_key_id but no aws_secret_access_key",
			       section, source);
	free(akid);
	kb_secure_free(secret);
	kb_secure_free(token);
	return r;
}

int kb_aws_creds_resolve(const char *profile, struct kb_aws_creds **ret)
{
	struct kb_buf credf = { 0 }, conff = { 0 };
	char *credpath = NULL, *confpath = NULL, *confsec = NULL;
	bool explicit_profile = true, seen1 = false, seen2 = false;
	int r;

	*ret = NULL;
	const char *akid = getenv("AWS_ACCESS_KEY_ID");
	const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
	if (akid != NULL && akid[0] != '\0') {
		if (secret == NULL || secret[0] == '\0')
			return kb_err_set(KB_ERR_AUTH, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
		return kb_aws_creds_new(akid, secret, getenv("AWS_SESSION_TOKEN"), 0, "env", ret);
	}

	if (profile == NULL || profile[0] == '\0')
		profile = getenv("AWS_PROFILE");
	if (profile == NULL || profile[0] == '\0') {
		profile = "default";
		explicit_profile = false;
	}
	credpath = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	confpath = aws_file("AWS_CONFIG_FILE", "config");
	r = read_aws_file(credpath, &credf);
	if (r != KB_OK && r != KB_ERR_NOT_FOUND)
		goto out;
	r = creds_from_ini(&credf, profile, "shared-credentials-file", &seen1, ret);
	if (r != KB_ERR_NOT_FOUND)
		goto out;
	r = read_aws_file(confpath, &conff);
	if (r != KB_OK && r != KB_ERR_NOT_FOUND)
		goto out;
	confsec = strcmp(profile, "default") == 0 ? kb_strdup("default") : kb_asprintf("profile %s", profile);
	if (confsec == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	r = creds_from_ini(&conff, confsec, "config-file", &seen2, ret);
	if (r != KB_ERR_NOT_FOUND)
		goto out;
	if (explicit_profile && !seen1 && !seen2) {
		r = kb_err_set(KB_ERR_AUTH, "AWS profile \"%s\" not found in %s or %s", profile,
			       credpath ? credpath : "~/.aws/credentials", confpath ? confpath : "~/.aws/config");
		goto out;
	}

	const char *disabled = getenv("AWS_EC2_METADATA_DISABLED");
	if (disabled != NULL && strcasecmp(disabled, "true") == 0) {
		r = kb_err_set(KB_ERR_AUTH, "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
			       "or add profile \"%s\" to %s (instance metadata disabled by AWS_EC2_METADATA_DISABLED)",
			       profile, credpath ? credpath : "~/.aws/credentials");
		goto out;
	}
	const char *ep = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	long timeout = 1000;
	const char *ts = getenv("AWS_METADATA_SERVICE_TIMEOUT");
	uint64_t tv;
	if (ts != NULL && kb_parse_u64(ts, 60, &tv) == KB_OK && tv > 0)
		timeout = (long)tv * 1000;
	r = kb_aws_imds_fetch(ep != NULL && ep[0] != '\0' ? ep : IMDS_DEFAULT, timeout, ret);
	if (r != KB_OK) {
		char why[256];
		kb_strlcpy(why, kb_err_detail(), sizeof(why));
		r = kb_err_set(KB_ERR_AUTH, "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
			       "add profile \"%s\" to %s, or run on an instance with a role (instance metadata: %s)",
			       profile, credpath ? credpath : "~/.aws/credentials", why);
	}
out:
	kb_buf_done(&credf);
	kb_buf_done(&conff);
	free(credpath);
	free(confpath);
	free(confsec);
	return r;
}

char *kb_aws_region_resolve(const char *profile)
{
	const char *env[] = { "AWS_REGION", "AWS_DEFAULT_REGION" };
	for (size_t i = 0; i < KB_ARRAY_SIZE(env); i++) {
		const char *v = getenv(env[i]);
		if (v != NULL && v[0] != '\0')
			return kb_strdup(v);
	}
	if (profile == NULL || profile[0] == '\0')
		profile = getenv("AWS_PROFILE");
	if (profile == NULL || profile[0] == '\0')
		profile = "default";
	char *path = aws_file("AWS_CONFIG_FILE", "config"), *region = NULL;
	struct kb_buf f;
	char *sec = strcmp(profile, "default") == 0 ? kb_strdup("default") : kb_asprintf("profile %s", profile);
	if (read_aws_file(path, &f) == KB_OK && sec != NULL)
		(void)kb_aws_ini_get((const char *)f.data, f.len, sec, "region", false, &region);
	kb_buf_done(&f);
	free(sec);
	free(path);
	return region;
}
