/* broker audit verify [--key FILE] [FILE]
 * broker audit keygen FILE */
#include "commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "config.h"
#include "core/err.h"
#include "core/mem.h"

static int cmd_verify(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "key", required_argument, NULL, 'k' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	const char *key_path = NULL, *path = NULL;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'k') {
			key_path = optarg;
		} else if (c == 'h') {
			printf("usage: broker audit verify [--key FILE] [LOG]\n");
			return KB_EXIT_OK;
		} else {
			return KB_EXIT_USAGE;
		}
	}
	if (argc - optind > 1)
		return kb_usage_error(ctx, "audit verify takes one LOG file");
	path = optind < argc ? argv[optind] : NULL;
	if (path == NULL || key_path == NULL) {
		struct kb_config *cfg = kb_ctx_config(ctx);
		if (cfg == NULL)
			return KB_EXIT_FAILURE;
		if (path == NULL)
			path = kb_config_get(cfg, "audit.log");
		if (key_path == NULL)
			key_path = kb_config_get(cfg, "audit.key");
	}
	if (path == NULL)
		return kb_usage_error(ctx, "no audit log: give LOG or set audit.log");

	uint8_t *key = NULL;
	size_t keylen = 0;
	int r;
	if (key_path && (r = kb_audit_load_key(key_path, &key, &keylen)) != KB_OK)
		return kb_fail(ctx, r, "cannot read audit key %s", key_path);
	struct kb_audit_report rep;
	r = kb_audit_verify_file(path, key, keylen, &rep);
	kb_secure_free(key);
	if (r != KB_OK && r != KB_ERR_SIGNATURE) {
		kb_audit_report_done(&rep);
		return kb_fail(ctx, r, "cannot verify %s", path);
	}
	if (ctx->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < rep.nproblems; i++)
			json_array_append_new(arr, json_pack("{s:i,s:s}", "line", (int)rep.problems[i].line,
							     "message", rep.problems[i].msg));
		json_t *j = json_pack("{s:s,s:b,s:I,s:I,s:s,s:b,s:o}", "file", path, "ok", r == KB_OK, "entries",
				      (json_int_t)rep.entries, "last_seq", (json_int_t)rep.last_seq, "head",
				      rep.head, "keyed", rep.keyed, "problems", arr);
		kb_print_json(j);
	} else {
		for (size_t i = 0; i < rep.nproblems; i++)
			printf("%s:%zu: %s\n", path, rep.problems[i].line, rep.problems[i].msg);
		if (r == KB_OK)
			printf("%s: %zu entries, chain intact%s; last seq %llu, head %s\n"
			       "(lines cut off the end show only against a head you noted earlier)\n",
			       path, rep.entries, rep.keyed ? " (keyed)" : " (unkeyed)",
			       (unsigned long long)rep.last_seq, rep.head);
		else
			printf("%s: TAMPERED: %zu problem%s in %zu entries\n", path, rep.nproblems,
			       rep.nproblems == 1 ? "" : "s", rep.entries);
	}
	kb_audit_report_done(&rep);
	return r == KB_OK ? KB_EXIT_OK : KB_EXIT_VERIFY;
}

int cmd_audit(struct kb_ctx *ctx, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		printf("usage: broker audit verify [--key FILE] [LOG]\n"
		       "       broker audit keygen FILE\n");
		return argc < 2 ? KB_EXIT_USAGE : KB_EXIT_OK;
	}
	if (strcmp(argv[1], "verify") == 0)
		return cmd_verify(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "keygen") == 0) {
		if (argc != 3)
			return kb_usage_error(ctx, "usage: broker audit keygen FILE");
		int r = kb_audit_new_key(argv[2]);
		if (r != KB_OK)
			return kb_fail(ctx, r, "cannot write audit key %s", argv[2]);
		printf("wrote audit key %s (mode 0600); set 'audit.key %s' in the broker's configuration\n",
		       argv[2], argv[2]);
		return KB_EXIT_OK;
	}
	return kb_usage_error(ctx, "unknown audit command '%s' (use verify or keygen)", argv[1]);
}
