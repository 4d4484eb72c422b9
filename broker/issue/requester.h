/* Who is asking: a user name and its groups, resolved from the system
 * (getpwuid/getgrouplist), never from anything a client claims. */
#ifndef KB_REQUESTER_H
#define KB_REQUESTER_H

#include <stddef.h>
#include <sys/types.h>

#define KB_REQUESTER_MAX_GROUPS 1024

struct kb_requester {
	uid_t uid;
	gid_t gid;
	char *user;
	char **groups; /* names; numeric strings for gids without a name */
	size_t ngroups;
};

/* Resolves uid to its name, primary group and supplementary groups.
 * KB_ERR_NOT_FOUND when the uid has no passwd entry. */
int kb_requester_from_uid(uid_t uid, struct kb_requester *ret);
/* Same, by user name. */
int kb_requester_from_name(const char *name, struct kb_requester *ret);
void kb_requester_done(struct kb_requester *r);

#endif
