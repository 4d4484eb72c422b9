/* Loading an issued credential into an agent (stock ssh-agent or
 * broker-agent). */
#include "issue.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/client.h"
#include "core/err.h"
#include "core/util.h"

void kb_agent_load_done(struct kb_agent_load *l)
{
	if (l == NULL)
		return;
	free(l->socket);
	memset(l, 0, sizeof(*l));
}

int kb_issue_agent_load(const char *socket, const struct kb_key *key, const char *comment, int64_t valid_before,
			struct kb_agent_load *ret)
{
	struct kb_agent_client *c = NULL;
	struct kb_agent_identities ids = { 0 };
	const struct kb_key *old = NULL;
	int64_t left = valid_before - (int64_t)time(NULL);
	int r;

	memset(ret, 0, sizeof(*ret));
	if (socket == NULL)
		socket = getenv("SSH_AUTH_SOCK");
	if (socket == NULL || *socket == '\0')
		return kb_err_set(KB_ERR_NOT_FOUND, "no agent: SSH_AUTH_SOCK is not set (start one with "
						    "'eval $(broker-agent -s)' or use --agent SOCKET or --no-agent)");
	if (left <= 0)
		return kb_err_set(KB_ERR_EXPIRED, "the certificate has already expired");
	if ((ret->socket = kb_strdup(socket)) == NULL)
		return KB_ERR_NOMEM;
	ret->lifetime = left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
	if ((r = kb_agent_connect(socket, &c)) != KB_OK) {
		r = kb_err_set(r, "cannot reach the agent at %s: %s", socket, kb_err_detail());
		goto out;
	}
	/* An identity issued earlier under the same name is replaced. */
	if (kb_agent_list(c, &ids) == KB_OK)
		for (size_t i = 0; i < ids.n && old == NULL; i++)
			if (ids.v[i].comment && strcmp(ids.v[i].comment, comment) == 0 && ids.v[i].key &&
			    kb_key_is_cert(ids.v[i].key) && !kb_key_equal_public(ids.v[i].key, key))
				old = ids.v[i].key;
	struct kb_agent_constraints cons = { .lifetime = ret->lifetime };
	if (old != NULL) {
		r = kb_agent_replace(c, old, key, comment, &cons);
		if (r == KB_OK) {
			ret->replaced = ret->atomic = true;
			goto out;
		}
		/* Stock ssh-agent: add the new identity first, then drop the
		 * old one, so there is never a moment without a credential. */
	}
	if ((r = kb_agent_add(c, key, comment, &cons)) != KB_OK) {
		r = kb_err_set(r, "the agent at %s refused the key", socket);
		goto out;
	}
	if (old != NULL) {
		kb_agent_remove(c, old);
		ret->replaced = true;
	}
out:
	kb_agent_identities_done(&ids);
	kb_agent_close(c);
	if (r != KB_OK)
		kb_agent_load_done(ret);
	return r;
}

int kb_issue_agent_unload(const char *socket, const struct kb_key *key)
{
	struct kb_agent_client *c = NULL;
	int r;

	if (socket == NULL)
		socket = getenv("SSH_AUTH_SOCK");
	if ((r = kb_agent_connect(socket, &c)) != KB_OK)
		return r;
	r = kb_agent_remove(c, key);
	kb_agent_close(c);
	return r;
}
