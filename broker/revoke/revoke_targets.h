/* Resolving what `broker revoke` revokes (cmd_revoke_targets.c). */
#ifndef KB_REVOKE_TARGETS_H
#define KB_REVOKE_TARGETS_H

#include <stdbool.h>
#include <stddef.h>

#include "revoke.h"

struct kb_store;

/* One thing to revoke, owning its keys. */
struct target {
	struct kb_revocation rev;
	struct kb_key *ca, *key;
	char *key_id, *identity;
	bool added;
};
void kb_rev_target_done(struct target *t);

/* keybroker/<role>/<id> names matching "[ROLE/]NAME" (KB_ERR_NOT_FOUND
 * with advice when none). */
int kb_rev_find_identity(struct kb_store *s, const char *name, char ***ret, size_t *ret_n);
/* The stored credential: its key, and its certificate's serial (key id
 * when 0), CA and expiry. */
int kb_rev_load_identity(struct kb_store *s, const char *secret, struct target *t);
/* A public key or certificate file (want_cert: a certificate only). */
int kb_rev_load_keyfile(const char *path, bool want_cert, struct target *t);
/* The CAs a --serial / --key-id applies to: cafile, or the user CA bundle. */
int kb_rev_load_cas(struct kb_store *store, const char *cafile, struct kb_key ***ret, size_t *ret_n);

#endif
