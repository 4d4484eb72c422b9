/* broker revoke --prune [--dry-run] [--json]: drops revocations of
 * certificates that have expired (sshd refuses those anyway), audited. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "commands.h"
#include "core/err.h"
#include "core/mem.h"
#include "issue/audit.h"
#include "revoke.h"
#include "revoke_int.h"

/* What the audit line and the output say about a dropped entry. */
static json_t *summary(const json_t *e)
{
	static const char *const keep[] = { "serial", "key_id", "valid_before", "identity", "time" };
	json_t *o = json_object();
	char fp[KB_KEY_FP_MAX];
	const char *ca = json_string_value(json_object_get(e, "ca"));
	struct kb_key *k = NULL;
	char *comment = NULL;

	for (size_t i = 0; o != NULL && i < sizeof(keep) / sizeof(keep[0]); i++) {
		json_t *v = json_object_get(e, keep[i]);
		if (v != NULL)
			json_object_set(o, keep[i], v);
	}
	if (o != NULL && ca != NULL && kb_key_parse_public_line(ca, &k, &comment) == KB_OK &&
	    kb_key_fingerprint(k, fp, sizeof(fp)) == KB_OK)
		json_object_set_new(o, "ca_fingerprint", json_string(fp));
	kb_key_free(k);
	free(comment);
	return o;
}

#define AUDIT_LIST_MAX 200

int kb_rev_cmd_prune(struct kb_ctx *ctx, struct kb_store *store, struct kb_audit *audit, const char *requester,
		     bool dry_run)
{
	struct kb_revocations_prune_result res = { 0 };
	int64_t now = (int64_t)time(NULL);
	json_t *list = json_array(), *e;
	uint64_t seq = 0;
	size_t i, n;
	int r;

	r = kb_revocations_prune(store, now, dry_run, &res);
	n = json_array_size(res.dropped);
	json_array_foreach(res.dropped, i, e)
		json_array_append_new(list, summary(e));
	if (!dry_run && (r == KB_OK || n > 0)) {
		json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "event", "revoke-prune", "via", "cli", "requester",
				      requester, "outcome", r == KB_OK ? "pruned" : "failed", "dropped", (json_int_t)n,
				      "kept", (json_int_t)res.kept);
		json_t *part = json_array();
		for (i = 0; i < n && i < AUDIT_LIST_MAX; i++)
			json_array_append(part, json_array_get(list, i));
		json_object_set_new(a, "entries", part);
		if (n > AUDIT_LIST_MAX)
			json_object_set_new(a, "entries_truncated", json_true());
		int ar = kb_audit_append(audit, a, &seq);
		json_decref(a);
		if (r == KB_OK && ar != KB_OK) {
			json_decref(list);
			kb_revocations_prune_result_done(&res);
			return kb_fail(ctx, ar, "pruned %zu revocations but the audit line could not be written", n);
		}
	}
	if (r != KB_OK) {
		json_decref(list);
		kb_revocations_prune_result_done(&res);
		return kb_fail(ctx, r, "cannot prune %s", KB_REVOCATIONS_SECRET);
	}
	if (ctx->json) {
		json_t *o = json_pack("{s:b,s:I,s:o,s:I,s:I,s:I,s:I,s:I}", "dry_run", dry_run, "dropped_count", (json_int_t)n,
				      "dropped", list, "kept", (json_int_t)res.kept, "shards_before",
				      (json_int_t)res.shards_before, "shards_after", (json_int_t)res.shards_after,
				      "gc_removed", (json_int_t)res.gc_removed, "gc_left", (json_int_t)res.gc_young);
		if (!dry_run)
			json_object_set_new(o, "audit_seq", json_integer((json_int_t)seq));
		kb_print_json(o);
	} else {
		json_array_foreach(list, i, e) {
			const char *sn = json_string_value(json_object_get(e, "serial"));
			const char *id = json_string_value(json_object_get(e, "key_id"));
			const char *who = json_string_value(json_object_get(e, "identity"));
			printf("%s %s%s%s expired %s%s%s\n", dry_run ? "would drop" : "dropped", sn ? "serial " : "key id ",
			       sn ? sn : id ? id : "?", "", json_string_value(json_object_get(e, "valid_before")),
			       who ? " " : "", who ? who : "");
		}
		json_decref(list);
		if (ctx->verbosity >= 0)
			fprintf(stderr, "broker: %s %zu expired certificate revocation%s, %zu kept (%zu -> %zu shards)%s\n",
				dry_run ? "would drop" : "dropped", n, n == 1 ? "" : "s", res.kept, res.shards_before,
				dry_run ? res.shards_before : res.shards_after, dry_run ? "; nothing written" : "");
		if (!dry_run && ctx->verbosity >= 0 && n > 0)
			fprintf(stderr, "broker: publish the smaller KRL with 'broker krl publish -f FILE'\n");
	}
	kb_revocations_prune_result_done(&res);
	return KB_EXIT_OK;
}
