/* broker revoke --list [--json]: every recorded revocation (head and
 * shards), newest last; CA keys shown as fingerprints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "commands.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "revoke.h"
#include "revoke_int.h"

/* The entry with "ca" replaced by "ca_fingerprint" (the last CA line's
 * fingerprint is cached: entries of one CA come in runs). */
static json_t *shown(const json_t *e, char *last_line, size_t lmax, char *last_fp)
{
	json_t *o = json_deep_copy(e);
	const char *ca = json_string_value(json_object_get(e, "ca"));

	if (o == NULL || ca == NULL)
		return o;
	if (strcmp(ca, last_line) != 0) {
		struct kb_key *k = NULL;
		char *comment = NULL;
		kb_strlcpy(last_fp, "?", KB_KEY_FP_MAX);
		if (kb_key_parse_public_line(ca, &k, &comment) == KB_OK)
			(void)kb_key_fingerprint(k, last_fp, KB_KEY_FP_MAX);
		kb_key_free(k);
		free(comment);
		kb_strlcpy(last_line, ca, lmax);
	}
	json_object_del(o, "ca");
	json_object_set_new(o, "ca_fingerprint", json_string(last_fp));
	return o;
}

/* The field, with control characters shown as '?' (a reason must not
 * be able to rewrite the terminal). */
static const char *str(const json_t *e, const char *k)
{
	static char buf[2048];
	const char *v = json_string_value(json_object_get(e, k));
	size_t i = 0;
	for (; v != NULL && v[i] != '\0' && i + 1 < sizeof(buf); i++)
		buf[i] = ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) ? '?' : v[i];
	buf[i] = '\0';
	return buf;
}

int kb_rev_cmd_list(struct kb_ctx *ctx, struct kb_store *store)
{
	json_t *doc = NULL, *e, *out = json_array();
	char *ver = NULL, last_fp[KB_KEY_FP_MAX] = "", *last_line = malloc(16384);
	size_t i;
	int r;

	if (out == NULL || last_line == NULL) {
		json_decref(out);
		free(last_line);
		return kb_fail(ctx, KB_ERR_NOMEM, "revoke --list");
	}
	last_line[0] = '\0';
	if ((r = kb_revocations_load(store, &doc, &ver)) != KB_OK) {
		json_decref(out);
		free(last_line);
		return kb_fail(ctx, r, "cannot read %s", KB_REVOCATIONS_SECRET);
	}
	size_t n = json_array_size(json_object_get(doc, "entries"));
	size_t nshards = json_array_size(json_object_get(doc, "shards"));
	json_int_t kv = json_integer_value(json_object_get(doc, "krl_version"));
	json_array_foreach(json_object_get(doc, "entries"), i, e) {
		json_t *o = shown(e, last_line, 16384, last_fp);
		if (o == NULL)
			break;
		if (ctx->json) {
			json_array_append_new(out, o);
			continue;
		}
		printf("%s", str(o, "time"));
		if (json_object_get(o, "serial"))
			printf(" serial %s", str(o, "serial"));
		if (json_object_get(o, "key_id"))
			printf(" key-id \"%s\"", str(o, "key_id"));
		if (json_object_get(o, "ca_fingerprint"))
			printf(" ca %s", str(o, "ca_fingerprint"));
		if (json_object_get(o, "fingerprint"))
			printf(" key %s", str(o, "fingerprint"));
		if (json_object_get(o, "valid_before"))
			printf(" expires %s", str(o, "valid_before"));
		if (json_object_get(o, "identity"))
			printf(" identity %s", str(o, "identity"));
		if (json_object_get(o, "requester"))
			printf(" by %s", str(o, "requester"));
		if (json_object_get(o, "reason"))
			printf(" reason \"%s\"", str(o, "reason"));
		putchar('\n');
		json_decref(o);
	}
	if (ctx->json) {
		json_t *j = json_pack("{s:s,s:I,s:I,s:I,s:o}", "secret", KB_REVOCATIONS_SECRET, "krl_version", kv, "shards",
				      (json_int_t)nshards, "count", (json_int_t)n, "entries", out);
		kb_print_json(j);
	} else {
		json_decref(out);
		if (ctx->verbosity >= 0)
			fprintf(stderr, "broker: %zu revocation%s in %s (%zu shard%s), krl_version %lld\n", n, n == 1 ? "" : "s",
				KB_REVOCATIONS_SECRET, nshards, nshards == 1 ? "" : "s", (long long)kv);
	}
	json_decref(doc);
	free(ver);
	free(last_line);
	return KB_EXIT_OK;
}
