/* broker store get: prints a secret's value (or one JSON field of it).
 * A value that holds a private key is not printed to a terminal unless
 * --force-terminal is given: it would stay in scrollback and screen
 * recordings. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/err.h"
#include "core/mem.h"
#include "store/cmd_store.h"

static bool has_private_key(const uint8_t *p, size_t n, const json_t *obj, const char *field)
{
	static const char marker[] = "PRIVATE KEY-----";

	if (memmem(p, n, marker, sizeof(marker) - 1) != NULL)
		return true;
	if (field != NULL && strcmp(field, "private_key") == 0)
		return true;
	return json_is_object(obj) && json_object_get(obj, "private_key") != NULL;
}

static int print_raw(const uint8_t *p, size_t n)
{
	if (n > 0 && fwrite(p, 1, n, stdout) != n)
		return KB_EXIT_FAILURE;
	return fflush(stdout) == 0 ? KB_EXIT_OK : KB_EXIT_FAILURE;
}

/* The JSON string for a value, or base64 when it is not UTF-8. */
static json_t *value_json(const uint8_t *p, size_t n, const char **key)
{
	json_t *s = json_stringn((const char *)p, n);
	if (s != NULL) {
		*key = "value";
		return s;
	}
	struct kb_buf b64;
	kb_buf_init_secure(&b64, KB_STORE_VALUE_MAX * 2);
	if (kb_buf_put_base64(&b64, p, n) == KB_OK)
		s = json_stringn((const char *)kb_buf_ptr(&b64), kb_buf_remaining(&b64));
	kb_buf_done(&b64);
	*key = "value_base64";
	return s;
}

int kb_cmd_store_get(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "stage", required_argument, NULL, 's' },	{ "version", required_argument, NULL, 'V' },
		{ "field", required_argument, NULL, 'f' },	{ "force-terminal", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },		{ NULL, 0, NULL, 0 },
	};
	struct kb_store_sel sel = { .stage = KB_STAGE_CURRENT };
	const char *field = NULL;
	bool force = false, have_stage = false;
	struct kb_store *s = NULL;
	struct kb_buf value;
	json_t *doc = NULL, *fv = NULL;
	char *version = NULL;
	int c, r, rc;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			if (kb_stage_parse(optarg, &sel.stage) != KB_OK)
				return kb_usage_error(ctx, "store get: --stage must be current, pending or previous");
			have_stage = true;
			break;
		case 'V':
			sel.version = optarg;
			break;
		case 'f':
			field = optarg;
			break;
		case 'F':
			force = true;
			break;
		case 'h':
			printf("usage: broker store get NAME [--stage S | --version V] [--field F] "
			       "[--force-terminal] [--json]\n");
			return KB_EXIT_OK;
		default:
			return kb_usage_error(ctx, "store get: bad option '%s'; see 'broker store --help'",
					      argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return kb_usage_error(ctx, "store get: expected one NAME; see 'broker store --help'");
	if (have_stage && sel.version != NULL)
		return kb_usage_error(ctx, "store get: give --stage or --version, not both");
	const char *name = argv[optind];
	if ((rc = kb_cmd_store_open(ctx, &s)) != KB_EXIT_OK)
		return rc;
	kb_buf_init_secure(&value, KB_STORE_VALUE_MAX);
	if ((r = kb_store_get(s, name, &sel, &value, &version)) != KB_OK) {
		rc = kb_cmd_store_fail(ctx, r, "cannot read", name);
		goto out;
	}
	const uint8_t *p = kb_buf_ptr(&value);
	size_t n = kb_buf_remaining(&value);
	doc = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, NULL);
	if (field != NULL) {
		if (!json_is_object(doc)) {
			rc = kb_fail(ctx, KB_ERR_INVALID, "%s (version %s) is not a JSON object, so it has no field '%s'",
				     name, version, field);
			goto out;
		}
		if ((fv = json_object_get(doc, field)) == NULL) {
			rc = kb_fail(ctx, KB_ERR_NOT_FOUND, "%s (version %s) has no field '%s'", name, version, field);
			goto out;
		}
		/* Only the field is printed: check that, not the whole value. */
		if (json_is_string(fv)) {
			p = (const uint8_t *)json_string_value(fv);
			n = json_string_length(fv);
		} else {
			p = (const uint8_t *)"";
			n = 0;
		}
	}
	if (isatty(STDOUT_FILENO) && !force && has_private_key(p, n, field ? fv : doc, field)) {
		fprintf(stderr,
			"broker: %s holds a private key; refusing to print it to a terminal.\n"
			"broker: redirect the output to a file or a pipe, or add --force-terminal\n",
			name);
		rc = KB_EXIT_USAGE;
		goto out;
	}
	if (ctx->json) {
		const char *key = "value";
		json_t *v = field ? json_incref(fv) : value_json(p, n, &key);
		json_t *j = json_pack("{s:s,s:s}", "name", name, "version", version);
		if (j && field)
			json_object_set_new(j, "field", json_string(field));
		if (j == NULL || v == NULL || json_object_set_new(j, key, v) != 0) {
			json_decref(j);
			rc = kb_fail(ctx, KB_ERR_NOMEM, "cannot format %s", name);
			goto out;
		}
		rc = kb_cmd_json_out(j);
	} else if (field != NULL && !json_is_string(fv)) {
		json_dumpf(fv, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
		fputc('\n', stdout);
		rc = fflush(stdout) == 0 ? KB_EXIT_OK : KB_EXIT_FAILURE;
	} else {
		rc = print_raw(p, n);
		if (rc == KB_EXIT_OK && field != NULL && (n == 0 || p[n - 1] != '\n'))
			fputc('\n', stdout);
	}
out:
	json_decref(doc);
	kb_buf_done(&value);
	free(version);
	kb_store_close(s);
	return rc;
}
