/* broker config: shows the effective configuration and where each value
 * came from (default, file and line, environment variable, command line). */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "commands.h"
#include "config.h"
#include "store/cmd_store.h"

static const char usage_text[] = "usage: broker config show [--json]\n"
				 "       broker config get KEY\n"
				 "Precedence: command line > environment > config file > default.\n";

static int show(struct kb_ctx *ctx, const struct kb_config *cfg)
{
	const char *k;
	size_t w = 0;

	if (ctx->json) {
		json_t *o = json_object();
		for (size_t i = 0; o && (k = kb_config_key_at(cfg, i)) != NULL; i++)
			json_object_set_new(o, k, json_pack("{s:s,s:s}", "value", kb_config_get(cfg, k), "origin",
							    kb_config_origin(cfg, k)));
		return kb_cmd_json_out(o);
	}
	for (size_t i = 0; (k = kb_config_key_at(cfg, i)) != NULL; i++)
		if (strlen(k) > w)
			w = strlen(k);
	for (size_t i = 0; (k = kb_config_key_at(cfg, i)) != NULL; i++)
		printf("%-*s %s  (%s)\n", (int)w, k, kb_config_get(cfg, k), kb_config_origin(cfg, k));
	return KB_EXIT_OK;
}

int cmd_config(struct kb_ctx *ctx, int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(usage_text, stdout);
		return KB_EXIT_OK;
	}
	bool is_show = argc == 1 || (argc == 2 && strcmp(argv[1], "show") == 0);
	bool is_get = argc == 3 && strcmp(argv[1], "get") == 0;
	if (!is_show && !is_get) {
		fputs(usage_text, stderr);
		return KB_EXIT_USAGE;
	}
	struct kb_config *cfg = kb_ctx_config(ctx);
	if (cfg == NULL)
		return KB_EXIT_FAILURE;
	if (is_show)
		return show(ctx, cfg);
	const char *v = kb_config_get(cfg, argv[2]);
	if (v == NULL) {
		fprintf(stderr, "broker: setting '%s' is not set; 'broker config show' lists the settings\n", argv[2]);
		return KB_EXIT_NOT_FOUND;
	}
	if (ctx->json)
		return kb_cmd_json_out(json_pack("{s:s,s:s,s:s}", "key", argv[2], "value", v, "origin",
						 kb_config_origin(cfg, argv[2])));
	printf("%s\n", v);
	return KB_EXIT_OK;
}
