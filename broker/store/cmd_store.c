/* broker store: read and write the configured secret backend through
 * store.h, so every command works the same on local, aws and vault. */
#include "store/cmd_store.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "core/err.h"
#include "core/util.h"

static const char usage_text[] =
	"usage: broker store ls [PREFIX]\n"
	"       broker store get NAME [--stage current|pending|previous | --version V] [--field F]\n"
	"                             [--force-terminal]\n"
	"       broker store put NAME --from-file FILE|- [--stage current|pending] [--token T]\n"
	"                             [--description TEXT]\n"
	"       broker store promote NAME VERSION\n"
	"       broker store describe NAME\n"
	"       broker store rm NAME\n"
	"All accept --json.  The backend is chosen by --backend, BROKER_BACKEND or the\n"
	"config file ('broker config show' tells which).\n";

int kb_cmd_store_open(struct kb_ctx *ctx, struct kb_store **ret)
{
	struct kb_config *cfg = kb_ctx_config(ctx);
	int r;

	*ret = NULL;
	if (cfg == NULL)
		return KB_EXIT_FAILURE;
	if ((r = kb_store_open(cfg, ret)) != KB_OK) {
		const char *b = kb_config_get(cfg, "backend");
		return kb_fail(ctx, r, "cannot open the %s secret backend", b ? b : "local");
	}
	return KB_EXIT_OK;
}

int kb_cmd_store_fail(struct kb_ctx *ctx, int err, const char *what, const char *name)
{
	int rc = kb_fail(ctx, err, "%s %s", what, name ? name : "");

	switch (err) {
	case KB_ERR_NOT_FOUND:
		fprintf(stderr, "broker: hint: 'broker store ls' lists the secrets, "
				"'broker store describe NAME' their versions\n");
		break;
	case KB_ERR_SIGNATURE:
		fprintf(stderr, "broker: hint: the store may have been tampered with; nothing was returned\n");
		break;
	case KB_ERR_AUTH:
	case KB_ERR_PASSPHRASE:
		fprintf(stderr, "broker: hint: check the backend credentials ('broker config show')\n");
		break;
	default:
		break;
	}
	return rc;
}

int kb_cmd_json_out(json_t *j)
{
	if (j == NULL) {
		fprintf(stderr, "broker: out of memory\n");
		return KB_EXIT_FAILURE;
	}
	int r = json_dumpf(j, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	fputc('\n', stdout);
	return r == 0 ? KB_EXIT_OK : KB_EXIT_FAILURE;
}

/* Parses options for a subcommand: only --json-style flags in opts, then
 * exactly npos positional arguments (nopt of them optional). */
static int positional(struct kb_ctx *ctx, int argc, char **argv, int first, int min, int max)
{
	int n = argc - first;
	if (n < min || n > max) {
		kb_usage_error(ctx, "store %s: expected %s", argv[0],
			       min == max ? (min == 1 ? "NAME" : "NAME VERSION") : "at most one PREFIX");
		fputs(usage_text, stderr);
		return -1;
	}
	return n;
}

static int no_options(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option lo[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			return -2;
		}
		kb_usage_error(ctx, "store %s: unknown option '%s'", argv[0], argv[optind - 1]);
		return -1;
	}
	return optind;
}

static void print_time(const char *label, int64_t t)
{
	char buf[32];
	if (t <= 0) {
		printf("%-9s -\n", label);
		return;
	}
	kb_format_time_utc(t, buf, sizeof(buf));
	printf("%-9s %s\n", label, buf);
}

static json_t *json_time(int64_t t)
{
	char buf[32];
	if (t <= 0)
		return json_null();
	kb_format_time_utc(t, buf, sizeof(buf));
	return json_string(buf);
}

static int cmd_ls(struct kb_ctx *ctx, struct kb_store *s, int argc, char **argv)
{
	int first = no_options(ctx, argc, argv), r;
	char **names = NULL;
	size_t n = 0;

	if (first < 0)
		return first == -2 ? KB_EXIT_OK : KB_EXIT_USAGE;
	if (positional(ctx, argc, argv, first, 0, 1) < 0)
		return KB_EXIT_USAGE;
	const char *prefix = first < argc ? argv[first] : NULL;
	if ((r = kb_store_list(s, prefix, &names, &n)) != KB_OK)
		return kb_cmd_store_fail(ctx, r, "cannot list secrets", prefix ? prefix : "");
	if (ctx->json) {
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < n; i++)
			json_array_append_new(arr, json_string(names[i]));
		kb_store_names_free(names, n);
		return kb_cmd_json_out(json_pack("{s:o?}", "names", arr));
	}
	for (size_t i = 0; i < n; i++)
		printf("%s\n", names[i]);
	kb_store_names_free(names, n);
	return KB_EXIT_OK;
}

/* Reads a whole file or stdin ("-") into a guarded buffer. */
static int read_value(const char *path, struct kb_buf *out)
{
	if (strcmp(path, "-") != 0) {
		int r = kb_read_file(path, KB_STORE_VALUE_MAX, out);
		if (r == KB_ERR_TOO_LARGE)
			return kb_err_set(r, "%s is larger than %u bytes, the limit for a secret", path,
					  KB_STORE_VALUE_MAX);
		return r;
	}
	for (;;) {
		uint8_t *p;
		if (kb_buf_remaining(out) >= KB_STORE_VALUE_MAX) {
			char c;
			ssize_t n = read(STDIN_FILENO, &c, 1);
			if (n > 0)
				return kb_err_set(KB_ERR_TOO_LARGE, "standard input holds more than %u bytes, the "
								    "limit for a secret",
						  KB_STORE_VALUE_MAX);
			if (n == 0)
				return KB_OK;
			if (errno != EINTR)
				return kb_err_errno("standard input");
			continue;
		}
		size_t room = KB_STORE_VALUE_MAX - kb_buf_remaining(out);
		size_t chunk = room < 4096 ? room : 4096;
		int r = kb_buf_reserve(out, chunk, &p);
		if (r != KB_OK)
			return r;
		ssize_t n = read(STDIN_FILENO, p, chunk);
		out->len -= chunk - (n > 0 ? (size_t)n : 0);
		if (n == 0)
			return KB_OK;
		if (n < 0 && errno != EINTR)
			return kb_err_errno("standard input");
	}
}

static int cmd_put(struct kb_ctx *ctx, struct kb_store *s, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "from-file", required_argument, NULL, 'f' }, { "stage", required_argument, NULL, 's' },
		{ "token", required_argument, NULL, 't' },     { "description", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },            { NULL, 0, NULL, 0 },
	};
	struct kb_store_put_opts o = { .stage = KB_STAGE_CURRENT };
	const char *from = NULL;
	char *version = NULL;
	struct kb_buf value;
	int c, r, rc;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "f:h", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			from = optarg;
			break;
		case 's':
			if (kb_stage_parse(optarg, &o.stage) != KB_OK ||
			    (o.stage != KB_STAGE_CURRENT && o.stage != KB_STAGE_PENDING))
				return kb_usage_error(ctx, "store put: --stage must be current or pending");
			break;
		case 't':
			o.token = optarg;
			break;
		case 'd':
			o.description = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return KB_EXIT_OK;
		default:
			return kb_usage_error(ctx, "store put: bad option '%s'; see 'broker store --help'",
					      argv[optind - 1]);
		}
	}
	if (positional(ctx, argc, argv, optind, 1, 1) < 0)
		return KB_EXIT_USAGE;
	const char *name = argv[optind];
	if (from == NULL)
		return kb_usage_error(ctx, "store put %s: give the value with --from-file FILE (or - for stdin)", name);
	if (!kb_store_name_valid(name))
		return kb_cmd_store_fail(ctx, kb_store_put(s, name, NULL, 0, NULL, NULL), "cannot store", name);
	kb_buf_init_secure(&value, KB_STORE_VALUE_MAX);
	if ((r = read_value(from, &value)) != KB_OK) {
		rc = kb_fail(ctx, r, "cannot read the value for %s", name);
		goto out;
	}
	r = kb_store_put(s, name, kb_buf_ptr(&value), kb_buf_remaining(&value), &o, &version);
	if (r != KB_OK) {
		rc = kb_cmd_store_fail(ctx, r, "cannot store", name);
		goto out;
	}
	if (ctx->json)
		rc = kb_cmd_json_out(json_pack("{s:s,s:s,s:s}", "name", name, "version", version, "stage",
					       kb_stage_name(o.stage)));
	else {
		printf("%s: stored version %s as %s\n", name, version, kb_stage_name(o.stage));
		rc = KB_EXIT_OK;
	}
out:
	kb_buf_done(&value);
	free(version);
	return rc;
}

static int cmd_promote(struct kb_ctx *ctx, struct kb_store *s, int argc, char **argv)
{
	int first = no_options(ctx, argc, argv), r;

	if (first < 0)
		return first == -2 ? KB_EXIT_OK : KB_EXIT_USAGE;
	if (positional(ctx, argc, argv, first, 2, 2) < 0)
		return KB_EXIT_USAGE;
	const char *name = argv[first], *version = argv[first + 1];
	if ((r = kb_store_promote(s, name, version)) != KB_OK)
		return kb_cmd_store_fail(ctx, r, "cannot promote", name);
	if (ctx->json)
		return kb_cmd_json_out(json_pack("{s:s,s:s,s:s}", "name", name, "version", version, "stage", "current"));
	printf("%s: version %s is now current\n", name, version);
	return KB_EXIT_OK;
}

static json_t *stages_json(unsigned stages)
{
	json_t *a = json_array();
	for (unsigned b = KB_STAGE_CURRENT; a && b <= KB_STAGE_PREVIOUS; b <<= 1)
		if (stages & b)
			json_array_append_new(a, json_string(kb_stage_name((enum kb_stage)b)));
	return a;
}

static int cmd_describe(struct kb_ctx *ctx, struct kb_store *s, int argc, char **argv)
{
	int first = no_options(ctx, argc, argv), r;
	struct kb_secret_info *info = NULL;

	if (first < 0)
		return first == -2 ? KB_EXIT_OK : KB_EXIT_USAGE;
	if (positional(ctx, argc, argv, first, 1, 1) < 0)
		return KB_EXIT_USAGE;
	if ((r = kb_store_describe(s, argv[first], &info)) != KB_OK)
		return kb_cmd_store_fail(ctx, r, "cannot describe", argv[first]);
	if (ctx->json) {
		json_t *vs = json_array();
		for (size_t i = 0; vs && i < info->nversions; i++) {
			const struct kb_version_info *v = &info->versions[i];
			json_array_append_new(vs, json_pack("{s:s,s:o,s:o}", "version", v->id, "stages",
							    stages_json(v->stages), "created", json_time(v->created)));
		}
		json_t *j = json_pack("{s:s,s:o,s:o,s:o?}", "name", info->name, "created", json_time(info->created),
				      "updated", json_time(info->updated), "versions", vs);
		kb_secret_info_free(info);
		return kb_cmd_json_out(j);
	}
	printf("%-9s %s\n", "name", info->name);
	print_time("created", info->created);
	print_time("updated", info->updated);
	printf("versions  %zu\n", info->nversions);
	for (size_t i = info->nversions; i-- > 0;) {
		const struct kb_version_info *v = &info->versions[i];
		char when[32] = "-", st[40] = "";
		if (v->created > 0)
			kb_format_time_utc(v->created, when, sizeof(when));
		for (unsigned b = KB_STAGE_CURRENT; b <= KB_STAGE_PREVIOUS; b <<= 1)
			if (v->stages & b)
				snprintf(st + strlen(st), sizeof(st) - strlen(st), "%s%s", st[0] ? "," : "",
					 kb_stage_name((enum kb_stage)b));
		printf("  %-36s %-16s %s\n", v->id, st[0] ? st : "-", when);
	}
	kb_secret_info_free(info);
	return KB_EXIT_OK;
}

static int cmd_rm(struct kb_ctx *ctx, struct kb_store *s, int argc, char **argv)
{
	int first = no_options(ctx, argc, argv), r;

	if (first < 0)
		return first == -2 ? KB_EXIT_OK : KB_EXIT_USAGE;
	if (positional(ctx, argc, argv, first, 1, 1) < 0)
		return KB_EXIT_USAGE;
	if ((r = kb_store_remove(s, argv[first])) != KB_OK)
		return kb_cmd_store_fail(ctx, r, "cannot remove", argv[first]);
	if (ctx->json)
		return kb_cmd_json_out(json_pack("{s:s,s:b}", "name", argv[first], "removed", 1));
	printf("%s: removed\n", argv[first]);
	return KB_EXIT_OK;
}

int cmd_store(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(struct kb_ctx *, struct kb_store *, int, char **);
	} subs[] = {
		{ "ls", cmd_ls },		{ "list", cmd_ls },	   { "put", cmd_put },
		{ "promote", cmd_promote }, { "describe", cmd_describe }, { "rm", cmd_rm },
		{ "delete", cmd_rm },
	};
	struct kb_store *s = NULL;
	int rc;

	if (argc < 2) {
		fputs(usage_text, stderr);
		return KB_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		fputs(usage_text, stdout);
		return KB_EXIT_OK;
	}
	if (strcmp(argv[1], "get") == 0)
		return kb_cmd_store_get(ctx, argc - 1, argv + 1);
	/* Help needs no backend. */
	for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(usage_text, stdout);
			return KB_EXIT_OK;
		}
	}
	for (size_t i = 0; i < KB_ARRAY_SIZE(subs); i++) {
		if (strcmp(argv[1], subs[i].name) != 0)
			continue;
		if ((rc = kb_cmd_store_open(ctx, &s)) != KB_EXIT_OK)
			return rc;
		rc = subs[i].fn(ctx, s, argc - 1, argv + 1);
		kb_store_close(s);
		return rc;
	}
	kb_usage_error(ctx, "unknown store command '%s'", argv[1]);
	fputs(usage_text, stderr);
	return KB_EXIT_USAGE;
}
