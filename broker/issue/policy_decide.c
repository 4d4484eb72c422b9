/* The decision function: default deny, explicit deny wins. */
#include "policy.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

void kb_policy_format_ttl(int64_t secs, char *out, size_t n)
{
	static const struct {
		char unit;
		int64_t secs;
	} units[] = { { 'w', 604800 }, { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 } };
	size_t at = 0;

	if (n == 0)
		return;
	out[0] = '\0';
	if (secs <= 0) {
		snprintf(out, n, "0s");
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && at < n; i++) {
		if (secs >= units[i].secs) {
			at += (size_t)snprintf(out + at, n - at, "%lld%c", (long long)(secs / units[i].secs), units[i].unit);
			secs %= units[i].secs;
		}
	}
}

static bool match_any(const struct kb_policy_strv *pats, const char *s)
{
	for (size_t i = 0; s && i < pats->n; i++)
		if (fnmatch(pats->v[i], s, 0) == 0)
			return true;
	return false;
}

static bool requester_matches(const struct kb_policy_strv *users, const struct kb_policy_strv *groups,
			      const struct kb_policy_request *req)
{
	if (match_any(users, req->user))
		return true;
	for (size_t i = 0; i < req->ngroups; i++)
		if (match_any(groups, req->groups[i]))
			return true;
	return false;
}

/* A selector list matches when absent or when one pattern matches. */
static bool sel_matches(const struct kb_policy_strv *pats, const char *s)
{
	return pats->n == 0 || match_any(pats, s);
}

static void join(char *out, size_t n, const struct kb_policy_strv *s)
{
	size_t at = 0;
	out[0] = '\0';
	for (size_t i = 0; i < s->n && at + 1 < n; i++)
		at += (size_t)snprintf(out + at, n - at, "%s%s", i ? ", " : "", s->v[i]);
	if (at >= n && n > 4)
		memcpy(out + n - 4, "...", 4);
}

static int strv_push(struct kb_policy_strv *s, const char *v)
{
	char **nv = realloc(s->v, (s->n + 2) * sizeof(char *));
	if (nv == NULL)
		return KB_ERR_NOMEM;
	s->v = nv;
	if ((nv[s->n] = kb_strdup(v)) == NULL)
		return KB_ERR_NOMEM;
	nv[++s->n] = NULL;
	return KB_OK;
}

static void strv_clear(struct kb_policy_strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

void kb_policy_decision_done(struct kb_policy_decision *d)
{
	if (d == NULL)
		return;
	strv_clear(&d->principals);
	strv_clear(&d->extensions);
	free(d->key_type);
	for (size_t i = 0; i < d->ncritical; i++) {
		free(d->critical[i].name);
		free(d->critical[i].value);
	}
	free(d->critical);
	memset(d, 0, sizeof(*d));
}

__attribute__((format(printf, 3, 4))) static void deny(struct kb_policy_decision *d, const char *rule,
							const char *fmt, ...)
{
	va_list ap;
	d->allow = false;
	kb_strlcpy(d->rule, rule, sizeof(d->rule));
	va_start(ap, fmt);
	vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
	va_end(ap);
}

/* Roles this requester may use, for "what to do next" hints. */
static void usable_roles(const struct kb_policy *p, const struct kb_policy_request *req, char *out, size_t n)
{
	size_t at = 0;
	out[0] = '\0';
	for (size_t i = 0; i < p->nroles && at + 1 < n; i++)
		if (requester_matches(&p->roles[i].users, &p->roles[i].groups, req))
			at += (size_t)snprintf(out + at, n - at, "%s%s", at ? ", " : "", p->roles[i].name);
}

/* Evaluates the role alone (no deny rules). */
static int decide_role(const struct kb_policy *p, const struct kb_policy_request *req,
		       struct kb_policy_decision *d)
{
	const struct kb_policy_role *r = kb_policy_find_role(p, req->role);
	char list[512], rule[160];
	int rc;

	if (r == NULL) {
		usable_roles(p, req, list, sizeof(list));
		deny(d, "default deny", "no role '%s' in the policy; roles you may use: %s", req->role ? req->role : "",
		     list[0] ? list : "none (ask an administrator to add you to a role)");
		return KB_OK;
	}
	snprintf(rule, sizeof(rule), "roles.%s", r->name);
	d->line = r->line;
	d->col = r->col;
	if (!requester_matches(&r->users, &r->groups, req)) {
		usable_roles(p, req, list, sizeof(list));
		deny(d, "default deny", "user %s is not a requester of role %s; roles you may use: %s", req->user,
		     r->name, list[0] ? list : "none (ask an administrator to add you to a role)");
		d->line = d->col = 0;
		return KB_OK;
	}

	/* Effective principals: the role's, templates expanded. */
	struct kb_policy_strv allowed = { 0 };
	for (size_t i = 0; i < r->principals.n; i++) {
		char *e = kb_policy_expand(r->principals.v[i], req->user);
		if (e == NULL)
			continue; /* a user name that makes no valid principal */
		bool dup = false;
		for (size_t j = 0; j < allowed.n; j++)
			dup |= strcmp(allowed.v[j], e) == 0;
		rc = dup ? KB_OK : strv_push(&allowed, e);
		free(e);
		if (rc != KB_OK) {
			strv_clear(&allowed);
			return rc;
		}
	}
	if (req->nprincipals == 0) {
		d->principals = allowed;
		allowed = (struct kb_policy_strv){ 0 };
	} else {
		for (size_t i = 0; i < req->nprincipals; i++) {
			bool ok = false;
			for (size_t j = 0; j < allowed.n && !ok; j++)
				ok = strcmp(allowed.v[j], req->principals[i]) == 0;
			if (!ok) {
				join(list, sizeof(list), &allowed);
				deny(d, rule, "role %s does not allow principal %s; allowed: %s", r->name,
				     req->principals[i], list);
				strv_clear(&allowed);
				return KB_OK;
			}
			if ((rc = strv_push(&d->principals, req->principals[i])) != KB_OK) {
				strv_clear(&allowed);
				return rc;
			}
		}
		strv_clear(&allowed);
	}
	if (d->principals.n == 0) {
		deny(d, rule, "role %s grants no valid principal to user %s", r->name, req->user);
		return KB_OK;
	}

	char a[64], b[64];
	d->ttl = req->ttl > 0 ? req->ttl : r->default_ttl;
	if (d->ttl > r->max_ttl) {
		kb_policy_format_ttl(d->ttl, a, sizeof(a));
		kb_policy_format_ttl(r->max_ttl, b, sizeof(b));
		deny(d, rule, "role %s allows at most %s, %s was asked: use --ttl %s or less", r->name, b, a, b);
		return KB_OK;
	}

	if (req->host != NULL && r->hosts.n > 0 && !match_any(&r->hosts, req->host)) {
		join(list, sizeof(list), &r->hosts);
		deny(d, rule, "role %s does not cover host %s; its hosts: %s", r->name, req->host, list);
		return KB_OK;
	}

	const char *kt = req->key_type ? req->key_type : r->key_types.n ? r->key_types.v[0] : "ed25519";
	if (r->key_types.n > 0) {
		bool ok = false;
		for (size_t i = 0; i < r->key_types.n && !ok; i++)
			ok = strcmp(r->key_types.v[i], kt) == 0 ||
			     (strcmp(r->key_types.v[i], "rsa") == 0 && strncmp(kt, "rsa", 3) == 0);
		if (!ok) {
			join(list, sizeof(list), &r->key_types);
			deny(d, rule, "role %s does not allow key type %s; allowed: %s", r->name, kt, list);
			return KB_OK;
		}
	}
	if ((d->key_type = kb_strdup(kt)) == NULL)
		return KB_ERR_NOMEM;
	for (size_t i = 0; i < r->extensions.n; i++)
		if ((rc = strv_push(&d->extensions, r->extensions.v[i])) != KB_OK)
			return rc;
	if (r->ncritical > 0) {
		d->critical = calloc(r->ncritical, sizeof(*d->critical));
		if (d->critical == NULL)
			return KB_ERR_NOMEM;
		for (size_t i = 0; i < r->ncritical; i++) {
			d->critical[i].name = kb_strdup(r->critical[i].name);
			d->critical[i].value = kb_strdup(r->critical[i].value);
			d->ncritical++;
			if (!d->critical[i].name || !d->critical[i].value)
				return KB_ERR_NOMEM;
		}
	}
	d->backend = r->backend;
	d->ec2_instance_connect = r->ec2_instance_connect;
	d->allow = true;
	kb_strlcpy(d->rule, rule, sizeof(d->rule));
	d->reason[0] = '\0';
	return KB_OK;
}

static bool deny_rule_matches(const struct kb_policy_deny *dr, const struct kb_policy_request *req,
			      const struct kb_policy_strv *principals)
{
	if ((dr->users.n || dr->groups.n) && !requester_matches(&dr->users, &dr->groups, req))
		return false;
	if (!sel_matches(&dr->roles, req->role))
		return false;
	if (dr->hosts.n > 0 && (req->host == NULL || !match_any(&dr->hosts, req->host)))
		return false;
	if (dr->principals.n > 0) {
		bool any = false;
		for (size_t i = 0; i < req->nprincipals && !any; i++)
			any = match_any(&dr->principals, req->principals[i]);
		for (size_t i = 0; i < principals->n && !any; i++)
			any = match_any(&dr->principals, principals->v[i]);
		if (!any)
			return false;
	}
	return true;
}

int kb_policy_decide(const struct kb_policy *p, const struct kb_policy_request *req,
		     struct kb_policy_decision *d)
{
	int r;

	memset(d, 0, sizeof(*d));
	if (p == NULL || req == NULL || req->user == NULL || req->role == NULL) {
		deny(d, "default deny", "incomplete request");
		return KB_OK;
	}
	if ((r = decide_role(p, req, d)) != KB_OK) {
		kb_policy_decision_done(d);
		return r;
	}
	/* An explicit deny wins over whatever the role said. */
	for (size_t i = 0; i < p->ndeny; i++) {
		const struct kb_policy_deny *dr = &p->deny[i];
		if (!deny_rule_matches(dr, req, &d->principals))
			continue;
		char rule[32];
		snprintf(rule, sizeof(rule), "deny[%zu]", i);
		deny(d, rule, "denied by deny[%zu]%s%s%s (%s line %u): ask an administrator if this is wrong", i,
		     dr->description ? " \"" : "", dr->description ? dr->description : "",
		     dr->description ? "\"" : "", p->origin, dr->line);
		d->line = dr->line;
		d->col = dr->col;
		break;
	}
	return KB_OK;
}
