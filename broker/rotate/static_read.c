/* broker static list / show: what is stored, where it is installed and
 * whether a rotation is under way.  Public data only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "rotate/rotate_cli.h"
#include "store/store.h"

struct state {
	const char *current, *pending, *previous;
	int64_t created;
};

static void stages(const struct kb_secret_info *info, struct state *st)
{
	memset(st, 0, sizeof(*st));
	for (size_t i = 0; info && i < info->nversions; i++) {
		const struct kb_version_info *v = &info->versions[i];
		if (v->stages & KB_STAGE_CURRENT)
			st->current = v->id;
		else if (v->stages & KB_STAGE_PENDING)
			st->pending = v->id;
		if (v->stages & KB_STAGE_PREVIOUS)
			st->previous = v->id;
	}
	st->created = info ? info->created : 0;
}

static json_t *cred_json(const char *name, const struct kb_static_cred *c, const struct kb_static_cred *pend,
			 const struct kb_secret_info *info, bool full)
{
	struct state st;
	json_t *t = json_array(), *j;
	char *pub = NULL;

	stages(info, &st);
	for (size_t i = 0; i < c->ntargets; i++) {
		char s[KB_STATIC_TARGET_LEN_MAX + 1];
		kb_ssh_target_format(&c->targets[i], s, sizeof(s));
		json_array_append_new(t, json_string(s));
	}
	j = json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:o,s:s?,s:s?}", "name", name, "key_type",
		      kb_key_type_ssh_name(kb_key_type(c->key)), "fingerprint", c->fingerprint, "role", c->role,
		      "created", c->created, "targets", t, "version", st.current, "requested_by", c->requested_by);
	json_object_set_new(j, "rotation", json_string(st.pending ? "pending" : "none"));
	if (pend)
		json_object_set_new(j, "pending", json_pack("{s:s?,s:s}", "version", st.pending, "fingerprint",
							    pend->fingerprint));
	if (full) {
		if (kb_key_format_public_line(c->key, name, &pub) == KB_OK)
			json_object_set_new(j, "public_key", json_string(pub));
		json_t *vs = json_array();
		for (size_t i = 0; info && i < info->nversions; i++) {
			const struct kb_version_info *v = &info->versions[i];
			json_t *sa = json_array();
			for (unsigned b = KB_STAGE_CURRENT; b <= KB_STAGE_PREVIOUS; b <<= 1)
				if (v->stages & b)
					json_array_append_new(sa, json_string(kb_stage_name((enum kb_stage)b)));
			char when[32] = "";
			if (v->created)
				kb_format_time_utc(v->created, when, sizeof(when));
			json_array_append_new(vs, json_pack("{s:s,s:o,s:s?}", "id", v->id, "stages", sa, "created",
							    when[0] ? when : NULL));
		}
		json_object_set_new(j, "versions", vs);
	}
	free(pub);
	return j;
}

static void print_text(json_t *j, bool full)
{
	const char *name = json_string_value(json_object_get(j, "name"));
	json_t *t = json_object_get(j, "targets");

	if (!full) {
		printf("%-40s %-20s %-8s %s", name, json_string_value(json_object_get(j, "key_type")),
		       json_string_value(json_object_get(j, "rotation")), "");
		for (size_t i = 0; i < json_array_size(t); i++)
			printf("%s%s", i ? "," : "", json_string_value(json_array_get(t, i)));
		printf("\n");
		return;
	}
	printf("%s\n", name);
	printf("  key:         %s %s\n", json_string_value(json_object_get(j, "key_type")),
	       json_string_value(json_object_get(j, "fingerprint")));
	printf("  public key:  %s\n", json_string_value(json_object_get(j, "public_key")));
	printf("  targets:     ");
	for (size_t i = 0; i < json_array_size(t); i++)
		printf("%s%s", i ? ", " : "", json_string_value(json_array_get(t, i)));
	const char *created = json_string_value(json_object_get(j, "created"));
	const char *by = json_string_value(json_object_get(j, "requested_by"));
	printf("\n  created:     %s by %s\n", created ? created : "?", by ? by : "?");
	json_t *p = json_object_get(j, "pending");
	if (p)
		printf("  rotation:    pending (version %s, %s): run 'broker rotate --credential %s'\n",
		       json_string_value(json_object_get(p, "version")), json_string_value(json_object_get(p, "fingerprint")),
		       name);
	else
		printf("  rotation:    none under way\n");
	json_t *vs = json_object_get(j, "versions");
	printf("  versions:\n");
	for (size_t i = 0; i < json_array_size(vs); i++) {
		json_t *v = json_array_get(vs, i), *sa = json_object_get(v, "stages");
		const char *when = json_string_value(json_object_get(v, "created"));
		printf("    %-12s %-21s", json_string_value(json_object_get(v, "id")), when ? when : "");
		for (size_t k = 0; k < json_array_size(sa); k++)
			printf(" %s", json_string_value(json_array_get(sa, k)));
		printf("\n");
	}
}

static int one(struct kb_store *s, const char *name, bool full, json_t **ret)
{
	struct kb_static_cred *c = NULL, *p = NULL;
	struct kb_secret_info *info = NULL;
	struct kb_store_sel cur = { .stage = KB_STAGE_CURRENT };
	struct state st;
	int r;

	*ret = NULL;
	if ((r = kb_static_get(s, name, &cur, false, &c, NULL)) != KB_OK)
		return r;
	if ((r = kb_store_describe(s, name, &info)) != KB_OK)
		goto out;
	stages(info, &st);
	if (st.pending) {
		struct kb_store_sel sel = { .version = st.pending };
		if (kb_static_get(s, name, &sel, false, &p, NULL) != KB_OK)
			kb_err_clear_detail();
	}
	*ret = cred_json(name, c, p, info, full);
out:
	kb_static_cred_free(c);
	kb_static_cred_free(p);
	kb_secret_info_free(info);
	return r;
}

int kb_cmd_static_read(struct kb_ctx *ctx, bool show, const char *arg, const char *role)
{
	struct kb_config *cfg = kb_ctx_config(ctx);
	struct kb_store *s = NULL;
	char **names = NULL, *name = NULL;
	size_t n = 0;
	json_t *out = NULL;
	int r, rc = KB_EXIT_OK;

	if (cfg == NULL)
		return KB_EXIT_FAILURE;
	if ((r = kb_store_open(cfg, &s)) != KB_OK)
		return kb_fail(ctx, r, "static: cannot open the backend");
	if (show) {
		if ((r = kb_static_resolve(s, arg, role, &name)) != KB_OK || (r = one(s, name, true, &out)) != KB_OK) {
			rc = kb_fail(ctx, r, "static show %s", arg);
			goto out;
		}
		if (ctx->json) {
			kb_print_json(json_incref(out));
		} else {
			print_text(out, true);
		}
		goto out;
	}
	char *prefix = role ? kb_asprintf("keybroker/%s/", role) : kb_strdup("keybroker/");
	r = prefix ? kb_static_list(s, prefix, &names, &n) : KB_ERR_NOMEM;
	free(prefix);
	if (r != KB_OK) {
		rc = kb_fail(ctx, r, "static list");
		goto out;
	}
	out = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *j;
		if ((r = one(s, names[i], false, &j)) != KB_OK) {
			rc = kb_fail(ctx, r, "static list: %s", names[i]);
			goto out;
		}
		json_array_append_new(out, j);
	}
	if (ctx->json) {
		kb_print_json(json_incref(out));
	} else {
		if (n == 0 && ctx->verbosity >= 0)
			fprintf(stderr, "broker: no static credentials%s%s (create one with 'broker static create')\n",
				role ? " for role " : "", role ? role : "");
		for (size_t i = 0; i < json_array_size(out); i++)
			print_text(json_array_get(out, i), false);
	}
out:
	json_decref(out);
	kb_store_names_free(names, n);
	free(name);
	kb_store_close(s);
	return rc;
}
