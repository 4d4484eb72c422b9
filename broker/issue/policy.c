/* Policy parsing and lint.  jansson checks the syntax (and gives line and
 * column for syntax errors); policy_pos.c records where every value sits
 * so that semantic problems get a line and column too. */
#include "policy.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/util.h"
#include "policy_int.h"

#define PATH_MAX_LEN 1024

struct pctx {
	const char *origin;
	struct kb_jpos_map pos;
	struct kb_policy_diags *d;
	int nomem;
};

static const char *const top_fields[] = { "version", "description", "roles", "deny" };
static const char *const role_fields[] = {
	"description", "requesters", "principals", "hosts", "default_ttl", "max_ttl", "key_types",
	"extensions", "critical_options", "backend", "ec2_instance_connect",
};
static const char *const requester_fields[] = { "users", "groups" };
static const char *const deny_fields[] = { "description", "users", "groups", "roles", "principals", "hosts" };
static const char *const key_type_names[] = {
	"ed25519", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa", "rsa-2048", "rsa-3072", "rsa-4096",
};
static const char *const std_extensions[] = {
	"no-touch-required", "permit-X11-forwarding", "permit-agent-forwarding",
	"permit-port-forwarding", "permit-pty", "permit-user-rc",
};
static const char *const backends[] = { "local", "aws", "vault" };

void kb_policy_diags_free(struct kb_policy_diags *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].msg);
	free(d->v);
	d->v = NULL;
	d->n = d->nerrors = 0;
}

static void add_diag(struct pctx *c, enum kb_policy_severity sev, unsigned line, unsigned col,
		     const char *fmt, va_list ap)
{
	char msg[600];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	struct kb_policy_diag *v = realloc(c->d->v, (c->d->n + 1) * sizeof(*v));
	char *m = kb_strdup(msg);
	if (v == NULL || m == NULL) {
		if (v)
			c->d->v = v;
		free(m);
		c->nomem = 1;
		return;
	}
	c->d->v = v;
	v[c->d->n++] = (struct kb_policy_diag){ sev, line, col, m };
	if (sev == KB_POLICY_ERROR)
		c->d->nerrors++;
}

__attribute__((format(printf, 5, 6))) static void diag(struct pctx *c, enum kb_policy_severity sev,
							const char *path, bool key, const char *fmt, ...)
{
	unsigned line, col;
	va_list ap;

	kb_jpos_find(&c->pos, path, key, &line, &col);
	va_start(ap, fmt);
	add_diag(c, sev, line, col, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 5, 6))) static void diag_at(struct pctx *c, enum kb_policy_severity sev,
							   unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_diag(c, sev, line, col, fmt, ap);
	va_end(ap);
}

static void child(char *out, const char *path, const char *comp)
{
	kb_strlcpy(out, path, PATH_MAX_LEN);
	if (!kb_jpos_push(out, PATH_MAX_LEN, comp))
		kb_strlcpy(out, path, PATH_MAX_LEN);
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* Levenshtein distance, capped, for "did you mean" hints. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[40], cur[40];
	if (la >= 40 || lb >= 40)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof(size_t));
	}
	return prev[lb];
}

static void check_fields(struct pctx *c, json_t *obj, const char *path, const char *where,
			 const char *const *known, size_t nknown)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		if (in_list(key, known, nknown))
			continue;
		char p[PATH_MAX_LEN];
		const char *best = NULL;
		size_t bestd = 3;
		for (size_t i = 0; i < nknown; i++) {
			size_t d = edit_distance(key, known[i]);
			if (d < bestd) {
				bestd = d;
				best = known[i];
			}
		}
		child(p, path, key);
		if (best)
			diag(c, KB_POLICY_ERROR, p, true, "unknown field '%s' in %s (did you mean '%s'?)", key, where, best);
		else
			diag(c, KB_POLICY_ERROR, p, true, "unknown field '%s' in %s", key, where);
	}
}

static void strv_free(struct kb_policy_strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static bool name_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > KB_POLICY_MAX_STRING)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f || *s == ',')
			return false;
	return true;
}

/* An array of strings.  what names the field for messages. */
static void get_strv(struct pctx *c, json_t *v, const char *path, const char *what, bool need_nonempty,
		     struct kb_policy_strv *out)
{
	size_t i;
	json_t *e;

	if (v == NULL)
		return;
	if (!json_is_array(v)) {
		diag(c, KB_POLICY_ERROR, path, false, "%s must be a list of strings", what);
		return;
	}
	if (json_array_size(v) == 0 && need_nonempty) {
		diag(c, KB_POLICY_ERROR, path, false, "%s is empty: list at least one", what);
		return;
	}
	if (json_array_size(v) > KB_POLICY_MAX_LIST) {
		diag(c, KB_POLICY_ERROR, path, false, "%s has more than %d entries", what, KB_POLICY_MAX_LIST);
		return;
	}
	out->v = calloc(json_array_size(v) + 1, sizeof(char *));
	if (out->v == NULL) {
		c->nomem = 1;
		return;
	}
	json_array_foreach(v, i, e) {
		char p[PATH_MAX_LEN], idx[24];
		snprintf(idx, sizeof(idx), "%zu", i);
		child(p, path, idx);
		if (!json_is_string(e)) {
			diag(c, KB_POLICY_ERROR, p, false, "%s: entry %zu is not a string", what, i);
			continue;
		}
		const char *s = json_string_value(e);
		if (!name_ok(s)) {
			diag(c, KB_POLICY_ERROR, p, false,
			     "%s: '%s' is not valid (1-%d printable characters, no spaces or commas)", what, s,
			     KB_POLICY_MAX_STRING);
			continue;
		}
		bool dup = false;
		for (size_t j = 0; j < out->n; j++)
			dup |= strcmp(out->v[j], s) == 0;
		if (dup) {
			diag(c, KB_POLICY_WARNING, p, false, "%s: '%s' is listed twice", what, s);
			continue;
		}
		if ((out->v[out->n] = kb_strdup(s)) == NULL) {
			c->nomem = 1;
			return;
		}
		out->n++;
	}
}

static bool get_string(struct pctx *c, json_t *v, const char *path, const char *what, char **out)
{
	if (v == NULL)
		return true;
	if (!json_is_string(v)) {
		diag(c, KB_POLICY_ERROR, path, false, "%s must be a string", what);
		return false;
	}
	if (json_string_length(v) > 4096) {
		diag(c, KB_POLICY_ERROR, path, false, "%s is longer than 4096 bytes", what);
		return false;
	}
	if ((*out = kb_strdup(json_string_value(v))) == NULL)
		c->nomem = 1;
	return true;
}

/* A duration: "30m", "1h30m", "90" (seconds) or a JSON integer of seconds.
 * Returns 0 when absent, -1 when bad (after a diagnostic). */
static int64_t get_duration(struct pctx *c, json_t *v, const char *path, const char *what)
{
	int64_t secs = 0;

	if (v == NULL)
		return 0;
	if (json_is_integer(v)) {
		secs = json_integer_value(v);
	} else if (!json_is_string(v) || kb_parse_duration(json_string_value(v), &secs) != KB_OK) {
		diag(c, KB_POLICY_ERROR, path, false,
		     "%s: bad duration %s%s%s: use a number with a unit, e.g. 90s, 30m, 2h, 1d", what,
		     json_is_string(v) ? "'" : "", json_is_string(v) ? json_string_value(v) : "(not a string)",
		     json_is_string(v) ? "'" : "");
		return -1;
	}
	if (secs <= 0) {
		diag(c, KB_POLICY_ERROR, path, false, "%s must be longer than zero", what);
		return -1;
	}
	if (secs > KB_POLICY_MAX_TTL_SECS) {
		diag(c, KB_POLICY_ERROR, path, false, "%s is longer than a year: short-lived means minutes or hours",
		     what);
		return -1;
	}
	return secs;
}

char *kb_policy_expand(const char *tmpl, const char *requester)
{
	struct kb_buf b;
	char *out = NULL;
	const char *p = tmpl;

	kb_buf_init(&b, KB_POLICY_MAX_STRING + 1);
	while (*p) {
		const char *open = strstr(p, "{{");
		if (open == NULL) {
			if (strstr(p, "}}") != NULL || kb_buf_put(&b, p, strlen(p)) != KB_OK)
				goto out;
			break;
		}
		if (kb_buf_put(&b, p, (size_t)(open - p)) != KB_OK)
			goto out;
		const char *close = strstr(open, "}}");
		if (close == NULL)
			goto out;
		size_t n = (size_t)(close - open - 2);
		const char *var = open + 2;
		while (n > 0 && *var == ' ')
			var++, n--;
		while (n > 0 && var[n - 1] == ' ')
			n--;
		if (n != strlen("requester") || strncmp(var, "requester", n) != 0 || requester == NULL)
			goto out;
		if (kb_buf_put(&b, requester, strlen(requester)) != KB_OK)
			goto out;
		p = close + 2;
	}
	if (kb_buf_put_u8(&b, 0) != KB_OK)
		goto out;
	out = kb_strdup((const char *)kb_buf_ptr(&b));
	if (out && !name_ok(out)) {
		free(out);
		out = NULL;
	}
out:
	kb_buf_done(&b);
	return out;
}

static bool role_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && strchr("_.@-", *s) == NULL)
			return false;
	return true;
}

static void parse_critical(struct pctx *c, json_t *v, const char *path, struct kb_policy_role *r)
{
	const char *key;
	json_t *val;

	if (v == NULL)
		return;
	if (!json_is_object(v)) {
		diag(c, KB_POLICY_ERROR, path, false, "critical_options must be an object of name: value");
		return;
	}
	r->critical = calloc(json_object_size(v) + 1, sizeof(*r->critical));
	if (r->critical == NULL) {
		c->nomem = 1;
		return;
	}
	json_object_foreach(v, key, val) {
		char p[PATH_MAX_LEN];
		child(p, path, key);
		if (strcmp(key, "force-command") != 0 && strcmp(key, "source-address") != 0 &&
		    strcmp(key, "verify-required") != 0) {
			diag(c, KB_POLICY_ERROR, p, true,
			     "unknown critical option '%s': sshd refuses certificates with critical options it does "
			     "not know (use force-command, source-address or verify-required)", key);
			continue;
		}
		const char *s = NULL;
		if (strcmp(key, "verify-required") == 0) {
			if (!json_is_true(val)) {
				diag(c, KB_POLICY_ERROR, p, false, "verify-required takes the value true");
				continue;
			}
			s = "";
		} else if (!json_is_string(val) || json_string_length(val) == 0 ||
			   json_string_length(val) > 1024 || !kb_str_printable(json_string_value(val))) {
			diag(c, KB_POLICY_ERROR, p, false, "critical option '%s' needs a non-empty string value", key);
			continue;
		} else {
			s = json_string_value(val);
		}
		if (strcmp(key, "source-address") == 0) {
			for (const char *q = s; *q; q++)
				if (!isxdigit((unsigned char)*q) && strchr(".:/,", *q) == NULL) {
					diag(c, KB_POLICY_ERROR, p, false,
					     "source-address must be a comma-separated list of addresses or CIDR "
					     "blocks, e.g. 10.0.0.0/8,192.168.1.5");
					s = NULL;
					break;
				}
			if (s == NULL)
				continue;
		}
		struct kb_policy_option *o = &r->critical[r->ncritical];
		o->name = kb_strdup(key);
		o->value = kb_strdup(s);
		if (!o->name || !o->value) {
			free(o->name);
			free(o->value);
			c->nomem = 1;
			return;
		}
		r->ncritical++;
	}
}

static void parse_role(struct pctx *c, const char *name, json_t *v, const char *path,
		       struct kb_policy_role *r)
{
	char p[PATH_MAX_LEN];
	unsigned l, col;

	kb_jpos_find(&c->pos, path, true, &l, &col);
	r->line = l;
	r->col = col;
	if ((r->name = kb_strdup(name)) == NULL) {
		c->nomem = 1;
		return;
	}
	if (!role_name_ok(name))
		diag(c, KB_POLICY_ERROR, path, true,
		     "role name '%s' is not valid: 1-64 of A-Z a-z 0-9 _ . @ -, not starting with . or -", name);
	else if (strcmp(name, "ca") == 0)
		diag(c, KB_POLICY_ERROR, path, true,
		     "role name 'ca' is reserved (the CA keys live under keybroker/ca/): pick another name");
	if (!json_is_object(v)) {
		diag(c, KB_POLICY_ERROR, path, false, "role '%s' must be an object", name);
		return;
	}
	check_fields(c, v, path, "a role", role_fields, KB_ARRAY_SIZE(role_fields));

	child(p, path, "description");
	get_string(c, json_object_get(v, "description"), p, "description", &r->description);

	json_t *req = json_object_get(v, "requesters");
	child(p, path, "requesters");
	if (req == NULL) {
		diag(c, KB_POLICY_WARNING, path, true,
		     "role '%s' has no requesters: nobody can use it (add \"requesters\": {\"users\": [...]})", name);
	} else if (!json_is_object(req)) {
		diag(c, KB_POLICY_ERROR, p, false, "requesters must be an object with users and/or groups");
	} else {
		char q[PATH_MAX_LEN];
		check_fields(c, req, p, "requesters", requester_fields, KB_ARRAY_SIZE(requester_fields));
		child(q, p, "users");
		get_strv(c, json_object_get(req, "users"), q, "requesters.users", false, &r->users);
		child(q, p, "groups");
		get_strv(c, json_object_get(req, "groups"), q, "requesters.groups", false, &r->groups);
		if (r->users.n == 0 && r->groups.n == 0)
			diag(c, KB_POLICY_WARNING, p, true, "role '%s' lists no users or groups: nobody can use it",
			     name);
	}

	child(p, path, "principals");
	json_t *pr = json_object_get(v, "principals");
	if (pr == NULL)
		diag(c, KB_POLICY_ERROR, path, true, "role '%s' has no principals: list the login names it grants",
		     name);
	get_strv(c, pr, p, "principals", true, &r->principals);
	for (size_t i = 0; i < r->principals.n; i++) {
		char *e = kb_policy_expand(r->principals.v[i], "requester");
		if (e == NULL) {
			char q[PATH_MAX_LEN], idx[24];
			snprintf(idx, sizeof(idx), "%zu", i);
			child(q, p, idx);
			diag(c, KB_POLICY_ERROR, q, false,
			     "principal '%s': bad template (the only variable is {{requester}})", r->principals.v[i]);
		}
		free(e);
	}

	child(p, path, "hosts");
	get_strv(c, json_object_get(v, "hosts"), p, "hosts", true, &r->hosts);

	char pd[PATH_MAX_LEN], pm[PATH_MAX_LEN];
	child(pd, path, "default_ttl");
	child(pm, path, "max_ttl");
	int64_t dt = get_duration(c, json_object_get(v, "default_ttl"), pd, "default_ttl");
	int64_t mt = get_duration(c, json_object_get(v, "max_ttl"), pm, "max_ttl");
	if (dt > 0 && mt > 0 && dt > mt)
		diag(c, KB_POLICY_ERROR, pd, false, "default_ttl is longer than max_ttl");
	if (mt == 0)
		mt = dt > 0 ? dt : 3600;
	if (dt == 0)
		dt = mt < 1800 ? mt : 1800;
	r->default_ttl = dt;
	r->max_ttl = mt;

	child(p, path, "key_types");
	get_strv(c, json_object_get(v, "key_types"), p, "key_types", true, &r->key_types);
	for (size_t i = 0; i < r->key_types.n; i++)
		if (!in_list(r->key_types.v[i], key_type_names, KB_ARRAY_SIZE(key_type_names))) {
			char q[PATH_MAX_LEN], idx[24];
			snprintf(idx, sizeof(idx), "%zu", i);
			child(q, p, idx);
			diag(c, KB_POLICY_ERROR, q, false,
			     "unknown key type '%s' (use ed25519, ecdsa-p256, ecdsa-p384, ecdsa-p521, rsa-3072, "
			     "rsa-4096)", r->key_types.v[i]);
		}

	child(p, path, "extensions");
	get_strv(c, json_object_get(v, "extensions"), p, "extensions", false, &r->extensions);
	for (size_t i = 0; i < r->extensions.n; i++)
		if (!in_list(r->extensions.v[i], std_extensions, KB_ARRAY_SIZE(std_extensions)) &&
		    strchr(r->extensions.v[i], '@') == NULL) {
			char q[PATH_MAX_LEN], idx[24];
			snprintf(idx, sizeof(idx), "%zu", i);
			child(q, p, idx);
			diag(c, KB_POLICY_ERROR, q, false,
			     "unknown extension '%s' (OpenSSH knows permit-pty, permit-port-forwarding, "
			     "permit-agent-forwarding, permit-X11-forwarding, permit-user-rc, no-touch-required; "
			     "vendor extensions contain '@')", r->extensions.v[i]);
		}
	if (json_object_get(v, "extensions") == NULL) {
		r->extensions.v = calloc(2, sizeof(char *));
		if (r->extensions.v == NULL || (r->extensions.v[0] = kb_strdup("permit-pty")) == NULL)
			c->nomem = 1;
		else
			r->extensions.n = 1;
	}

	child(p, path, "critical_options");
	parse_critical(c, json_object_get(v, "critical_options"), p, r);

	child(p, path, "backend");
	json_t *b = json_object_get(v, "backend");
	if (get_string(c, b, p, "backend", &r->backend) && r->backend &&
	    !in_list(r->backend, backends, KB_ARRAY_SIZE(backends)))
		diag(c, KB_POLICY_ERROR, p, false, "unknown backend '%s' (use local, aws or vault)", r->backend);

	child(p, path, "ec2_instance_connect");
	json_t *e = json_object_get(v, "ec2_instance_connect");
	if (e != NULL && !json_is_boolean(e))
		diag(c, KB_POLICY_ERROR, p, false, "ec2_instance_connect must be true or false");
	r->ec2_instance_connect = json_is_true(e);
}

static void parse_deny(struct pctx *c, json_t *v, const char *path, struct kb_policy_deny *d)
{
	char p[PATH_MAX_LEN];
	unsigned l, col;

	kb_jpos_find(&c->pos, path, false, &l, &col);
	d->line = l;
	d->col = col;
	if (!json_is_object(v)) {
		diag(c, KB_POLICY_ERROR, path, false, "a deny rule must be an object");
		return;
	}
	check_fields(c, v, path, "a deny rule", deny_fields, KB_ARRAY_SIZE(deny_fields));
	child(p, path, "description");
	get_string(c, json_object_get(v, "description"), p, "description", &d->description);
	struct {
		const char *f;
		struct kb_policy_strv *s;
	} sel[] = { { "users", &d->users }, { "groups", &d->groups }, { "roles", &d->roles },
		    { "principals", &d->principals }, { "hosts", &d->hosts } };
	for (size_t i = 0; i < KB_ARRAY_SIZE(sel); i++) {
		child(p, path, sel[i].f);
		get_strv(c, json_object_get(v, sel[i].f), p, sel[i].f, true, sel[i].s);
	}
	if (d->users.n + d->groups.n + d->roles.n + d->principals.n + d->hosts.n == 0)
		diag(c, KB_POLICY_WARNING, path, false,
		     "this deny rule has no selectors: it denies every request");
}

/* a's patterns cover every value b's can match (approximately: each of b's
 * patterns must be matched by one of a's as a string). */
static bool covers(const struct kb_policy_strv *a, const struct kb_policy_strv *b)
{
	if (a->n == 0)
		return true;
	if (b->n == 0) {
		for (size_t i = 0; i < a->n; i++)
			if (strcmp(a->v[i], "*") == 0)
				return true;
		return false;
	}
	for (size_t j = 0; j < b->n; j++) {
		bool hit = false;
		for (size_t i = 0; i < a->n && !hit; i++)
			hit = fnmatch(a->v[i], b->v[j], 0) == 0;
		if (!hit)
			return false;
	}
	return true;
}

static bool covers_requesters(const struct kb_policy_strv *au, const struct kb_policy_strv *ag,
			      const struct kb_policy_strv *bu, const struct kb_policy_strv *bg)
{
	static const struct kb_policy_strv none = { NULL, 0 };
	if (au->n == 0 && ag->n == 0)
		return true;
	if (bu->n == 0 && bg->n == 0) /* b: everyone */
		return covers(au, &none) && au->n > 0;
	return (bu->n == 0 || (au->n > 0 && covers(au, bu))) && (bg->n == 0 || (ag->n > 0 && covers(ag, bg)));
}

static void lint_shadowing(struct pctx *c, const struct kb_policy *pol)
{
	for (size_t j = 0; j < pol->ndeny; j++) {
		const struct kb_policy_deny *b = &pol->deny[j];
		for (size_t i = 0; i < j; i++) {
			const struct kb_policy_deny *a = &pol->deny[i];
			if (covers_requesters(&a->users, &a->groups, &b->users, &b->groups) &&
			    covers(&a->roles, &b->roles) && covers(&a->principals, &b->principals) &&
			    covers(&a->hosts, &b->hosts)) {
				diag_at(c, KB_POLICY_WARNING, b->line, b->col,
					"deny[%zu] is shadowed by deny[%zu] (line %u): it can never decide a request; "
					"remove it or narrow deny[%zu]", j, i, a->line, i);
				break;
			}
		}
	}
	for (size_t k = 0; k < pol->nroles; k++) {
		const struct kb_policy_role *r = &pol->roles[k];
		struct kb_policy_strv name = { (char **)&r->name, 1 };
		if (r->users.n == 0 && r->groups.n == 0)
			continue;
		for (size_t i = 0; i < pol->ndeny; i++) {
			const struct kb_policy_deny *a = &pol->deny[i];
			if (a->principals.n == 0 && a->hosts.n == 0 && covers(&a->roles, &name) &&
			    covers_requesters(&a->users, &a->groups, &r->users, &r->groups)) {
				diag_at(c, KB_POLICY_WARNING, r->line, r->col,
					"role '%s' is shadowed by deny[%zu] (line %u): every requester it lists is "
					"denied", r->name, i, a->line);
				break;
			}
		}
	}
	/* Deny rules naming roles that do not exist are probably typos. */
	for (size_t i = 0; i < pol->ndeny; i++)
		for (size_t j = 0; j < pol->deny[i].roles.n; j++) {
			const char *rn = pol->deny[i].roles.v[j];
			if (strpbrk(rn, "*?[") == NULL && kb_policy_find_role(pol, rn) == NULL)
				diag_at(c, KB_POLICY_WARNING, pol->deny[i].line, pol->deny[i].col,
					"deny[%zu] names role '%s', which this policy does not define", i, rn);
		}
}

static void role_done(struct kb_policy_role *r)
{
	free(r->name);
	free(r->description);
	strv_free(&r->users);
	strv_free(&r->groups);
	strv_free(&r->principals);
	strv_free(&r->hosts);
	strv_free(&r->key_types);
	strv_free(&r->extensions);
	for (size_t i = 0; i < r->ncritical; i++) {
		free(r->critical[i].name);
		free(r->critical[i].value);
	}
	free(r->critical);
	free(r->backend);
}

void kb_policy_free(struct kb_policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nroles; i++)
		role_done(&p->roles[i]);
	free(p->roles);
	for (size_t i = 0; i < p->ndeny; i++) {
		struct kb_policy_deny *d = &p->deny[i];
		free(d->description);
		strv_free(&d->users);
		strv_free(&d->groups);
		strv_free(&d->roles);
		strv_free(&d->principals);
		strv_free(&d->hosts);
	}
	free(p->deny);
	free(p->origin);
	free(p);
}

const struct kb_policy_role *kb_policy_find_role(const struct kb_policy *p, const char *name)
{
	for (size_t i = 0; p && name && i < p->nroles; i++)
		if (strcmp(p->roles[i].name, name) == 0)
			return &p->roles[i];
	return NULL;
}

static void parse_top(struct pctx *c, json_t *root, struct kb_policy *pol)
{
	if (!json_is_object(root)) {
		diag(c, KB_POLICY_ERROR, "", false, "a policy is a JSON object: {\"version\": 1, \"roles\": {...}}");
		return;
	}
	check_fields(c, root, "", "the policy", top_fields, KB_ARRAY_SIZE(top_fields));
	json_t *ver = json_object_get(root, "version");
	if (ver == NULL)
		diag(c, KB_POLICY_ERROR, "", false, "missing \"version\": 1");
	else if (!json_is_integer(ver) || json_integer_value(ver) != 1)
		diag(c, KB_POLICY_ERROR, "/version", false, "unsupported version: this broker reads version 1");
	char *desc = NULL;
	get_string(c, json_object_get(root, "description"), "/description", "description", &desc);
	free(desc);

	json_t *roles = json_object_get(root, "roles");
	if (roles == NULL) {
		diag(c, KB_POLICY_WARNING, "", false, "no roles: every request will be denied");
	} else if (!json_is_object(roles)) {
		diag(c, KB_POLICY_ERROR, "/roles", false, "roles must be an object of role name: role");
	} else if (json_object_size(roles) > KB_POLICY_MAX_ROLES) {
		diag(c, KB_POLICY_ERROR, "/roles", false, "more than %d roles", KB_POLICY_MAX_ROLES);
	} else {
		const char *name;
		json_t *v;
		pol->roles = calloc(json_object_size(roles) + 1, sizeof(*pol->roles));
		if (pol->roles == NULL) {
			c->nomem = 1;
			return;
		}
		json_object_foreach(roles, name, v) {
			char p[PATH_MAX_LEN];
			child(p, "/roles", name);
			parse_role(c, name, v, p, &pol->roles[pol->nroles++]);
			if (c->nomem)
				return;
		}
	}

	json_t *deny = json_object_get(root, "deny");
	if (deny == NULL)
		return;
	if (!json_is_array(deny)) {
		diag(c, KB_POLICY_ERROR, "/deny", false, "deny must be a list of rules");
		return;
	}
	if (json_array_size(deny) > KB_POLICY_MAX_DENY) {
		diag(c, KB_POLICY_ERROR, "/deny", false, "more than %d deny rules", KB_POLICY_MAX_DENY);
		return;
	}
	pol->deny = calloc(json_array_size(deny) + 1, sizeof(*pol->deny));
	if (pol->deny == NULL) {
		c->nomem = 1;
		return;
	}
	size_t i;
	json_t *v;
	json_array_foreach(deny, i, v) {
		char p[PATH_MAX_LEN];
		snprintf(p, sizeof(p), "/deny/%zu", i);
		parse_deny(c, v, p, &pol->deny[pol->ndeny++]);
		if (c->nomem)
			return;
	}
}

int kb_policy_parse(const char *text, size_t len, const char *origin, struct kb_policy **ret,
		    struct kb_policy_diags *diags)
{
	struct kb_policy_diags local = { 0 };
	struct pctx c = { .origin = origin ? origin : "policy", .d = diags ? diags : &local };
	struct kb_policy *pol = NULL;
	json_t *root = NULL;
	json_error_t jerr;
	int r = KB_OK;

	*ret = NULL;
	if (len > KB_POLICY_FILE_MAX) {
		diag_at(&c, KB_POLICY_ERROR, 1, 1, "policy is larger than %u bytes", KB_POLICY_FILE_MAX);
		goto out;
	}
	if (memchr(text, '\0', len) != NULL) {
		diag_at(&c, KB_POLICY_ERROR, 1, 1, "policy contains a NUL byte");
		goto out;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		diag_at(&c, KB_POLICY_ERROR, jerr.line > 0 ? (unsigned)jerr.line : 1,
			jerr.column > 0 ? (unsigned)jerr.column : 1, "JSON syntax: %s", jerr.text);
		goto out;
	}
	unsigned el, ec;
	r = kb_jpos_scan(text, len, &c.pos, &el, &ec);
	if (r == KB_ERR_INVALID) {
		diag_at(&c, KB_POLICY_ERROR, el, ec, "%s", kb_err_detail());
		r = KB_OK;
		goto out;
	}
	if (r != KB_OK)
		goto out;
	if ((pol = calloc(1, sizeof(*pol))) == NULL || (pol->origin = kb_strdup(c.origin)) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	parse_top(&c, root, pol);
	if (!c.nomem)
		lint_shadowing(&c, pol);
out:
	if (c.nomem && r == KB_OK)
		r = KB_ERR_NOMEM;
	if (r == KB_OK && c.d->nerrors > 0) {
		for (size_t i = 0; i < c.d->n; i++)
			if (c.d->v[i].severity == KB_POLICY_ERROR) {
				r = kb_err_set(KB_ERR_INVALID, "%s:%u:%u: %s", c.origin, c.d->v[i].line,
					       c.d->v[i].col, c.d->v[i].msg);
				break;
			}
	}
	if (r == KB_OK) {
		*ret = pol;
		pol = NULL;
	}
	kb_policy_free(pol);
	json_decref(root);
	kb_jpos_done(&c.pos);
	kb_policy_diags_free(&local);
	return r;
}

int kb_policy_load(const char *path, struct kb_policy **ret, struct kb_policy_diags *diags)
{
	struct kb_buf text;
	int r;

	*ret = NULL;
	kb_buf_init(&text, KB_POLICY_FILE_MAX);
	r = kb_read_file(path, KB_POLICY_FILE_MAX, &text);
	if (r == KB_OK)
		r = kb_policy_parse((const char *)kb_buf_ptr(&text), kb_buf_remaining(&text), path, ret, diags);
	kb_buf_done(&text);
	return r;
}

const char *kb_policy_path(const struct kb_config *cfg)
{
	return kb_config_get(cfg, "policy");
}
