/* Internals shared by the revocation files (not for other modules). */
#ifndef KB_REVOKE_INT_H
#define KB_REVOKE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "revoke.h"

struct kb_store;

/* Changes head in place (*changed: write it back).  May be called again
 * after a conflict with a fresh head: it must start over each time. */
typedef int (*kb_rev_mutate_fn)(struct kb_store *s, json_t *head, void *arg, bool *changed);
int kb_rev_head_update(struct kb_store *s, kb_rev_mutate_fn fn, void *arg);

/* The head alone (v2-shaped; empty when missing, *ret_version NULL). */
int kb_rev_head_load(struct kb_store *s, json_t **ret_doc, char **ret_version);
/* Reads and parses shard id (entries in the full form).  With needles,
 * a shard whose text contains none of them is not parsed: KB_OK with
 * *ret_doc NULL (a quick "nothing of yours in here" for dedup). */
int kb_rev_shard_get(struct kb_store *s, const char *id, char *const *needles, size_t nneedles, json_t **ret_doc);
/* Writes entries as new shards (each about KB_REVOKE_SHARD_TARGET bytes
 * at most) and appends their ids to shards. */
int kb_rev_pack(struct kb_store *s, const json_t *entries, json_t *shards);

/* Parsed shards by id: shards never change, so they are read once per
 * command even when a conflict makes us start over. */
struct kb_rev_shard_cache {
	char (*ids)[KB_REVOKE_SHARD_ID_LEN + 1];
	json_t **docs; /* NULL: holds none of the needles */
	size_t n;
	char **needles;
	size_t nneedles;
};
/* The cached shard (read on first use; NOT_FOUND becomes KB_ERR_CONFLICT:
 * a prune replaced it, start over).  *ret may be NULL (see needles). */
int kb_rev_cache_get(struct kb_store *s, struct kb_rev_shard_cache *c, const char *id, const json_t **ret);
void kb_rev_cache_done(struct kb_rev_shard_cache *c);

/* broker revoke --prune [--dry-run] (cmd_revoke_prune.c); an exit code. */
struct kb_ctx;
struct kb_audit;
/* broker revoke --list (cmd_revoke_list.c); an exit code. */
int kb_rev_cmd_list(struct kb_ctx *ctx, struct kb_store *store);
int kb_rev_cmd_prune(struct kb_ctx *ctx, struct kb_store *store, struct kb_audit *audit, const char *requester,
		     bool dry_run);

#endif
