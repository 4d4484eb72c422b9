#include "requester.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"

void kb_requester_done(struct kb_requester *r)
{
	if (r == NULL)
		return;
	free(r->user);
	for (size_t i = 0; i < r->ngroups; i++)
		free(r->groups[i]);
	free(r->groups);
	memset(r, 0, sizeof(*r));
}

static int fill(const struct passwd *pw, struct kb_requester *ret)
{
	int ngroups = 64;
	gid_t *gids = NULL;
	int rc = KB_ERR_NOMEM;

	memset(ret, 0, sizeof(*ret));
	ret->uid = pw->pw_uid;
	ret->gid = pw->pw_gid;
	if ((ret->user = kb_strdup(pw->pw_name)) == NULL)
		goto out;
	for (;;) {
		int n = ngroups;
		gid_t *g = realloc(gids, (size_t)n * sizeof(gid_t));
		if (g == NULL)
			goto out;
		gids = g;
		if (getgrouplist(pw->pw_name, pw->pw_gid, gids, &n) >= 0) {
			ngroups = n;
			break;
		}
		if (n <= ngroups || n > KB_REQUESTER_MAX_GROUPS) {
			rc = kb_err_set(KB_ERR_LIMIT, "user %s is in more than %d groups", pw->pw_name,
					KB_REQUESTER_MAX_GROUPS);
			goto out;
		}
		ngroups = n;
	}
	if ((ret->groups = calloc((size_t)ngroups + 1, sizeof(char *))) == NULL)
		goto out;
	for (int i = 0; i < ngroups; i++) {
		struct group grbuf, *gr = NULL;
		char buf[8192];
		char *name;
		if (getgrgid_r(gids[i], &grbuf, buf, sizeof(buf), &gr) == 0 && gr != NULL)
			name = kb_strdup(gr->gr_name);
		else
			name = kb_asprintf("%u", (unsigned)gids[i]);
		if (name == NULL)
			goto out;
		bool dup = false;
		for (size_t j = 0; j < ret->ngroups; j++)
			dup |= strcmp(ret->groups[j], name) == 0;
		if (dup)
			free(name);
		else
			ret->groups[ret->ngroups++] = name;
	}
	rc = KB_OK;
out:
	free(gids);
	if (rc != KB_OK)
		kb_requester_done(ret);
	return rc;
}

int kb_requester_from_uid(uid_t uid, struct kb_requester *ret)
{
	struct passwd pwbuf, *pw = NULL;
	char buf[8192];

	memset(ret, 0, sizeof(*ret));
	if (getpwuid_r(uid, &pwbuf, buf, sizeof(buf), &pw) != 0 || pw == NULL)
		return kb_err_set(KB_ERR_NOT_FOUND, "uid %u has no user name", (unsigned)uid);
	return fill(pw, ret);
}

int kb_requester_from_name(const char *name, struct kb_requester *ret)
{
	struct passwd pwbuf, *pw = NULL;
	char buf[8192];

	memset(ret, 0, sizeof(*ret));
	if (getpwnam_r(name, &pwbuf, buf, sizeof(buf), &pw) != 0 || pw == NULL)
		return kb_err_set(KB_ERR_NOT_FOUND, "no user '%s' on this system", name);
	return fill(pw, ret);
}
