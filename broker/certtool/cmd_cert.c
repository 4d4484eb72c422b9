/* broker cert sign | inspect: OpenSSH certificates with ssh-keygen's
 * conventions (-s/--ca, -I, -n, -V, -z, -O, -t; -L output layout). */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "cert/cert.h"
#include "cert/krl.h"
#include "certtool_io.h"
#include "commands.h"
#include "core/mem.h"
#include "core/err.h"
#include "core/util.h"
#include "ssh/key.h"

static void cert_usage(FILE *f)
{
	fprintf(f, "usage: broker cert sign --ca CA_KEY -I KEY_ID [-n PRINCIPAL[,...]] [-V INTERVAL]\n"
		   "                       [-z SERIAL] [--host] [-O OPTION]... [-t RSA_SIG_ALG]\n"
		   "                       [-P CA_PASSPHRASE] -f PUBKEY [PUBKEY...]\n"
		   "       broker cert inspect [--json] FILE...\n"
		   "       broker cert check [--json] [--ca CA_PUB] [-n PRINCIPAL] [--at TIME] [--krl KRL] FILE...\n"
		   "INTERVAL: +30m | FROM:TO (YYYYMMDD[HHMM[SS]][Z], +/-DURATION, always, forever, 0xSECONDS)\n"
		   "OPTION: clear | force-command=CMD | source-address=CIDR[,...] | verify-required |\n"
		   "        no-touch-required | no-/permit- x11-forwarding agent-forwarding port-forwarding pty user-rc |\n"
		   "        critical:NAME[=VALUE] | extension:NAME[=VALUE]\n");
}

struct flag_ext {
	const char *suffix;
	const char *ext;
};

static const struct flag_ext flag_exts[] = {
	{ "x11-forwarding", KB_CERT_EXT_X11 },   { "agent-forwarding", KB_CERT_EXT_AGENT },
	{ "port-forwarding", KB_CERT_EXT_PORT }, { "pty", KB_CERT_EXT_PTY },
	{ "user-rc", KB_CERT_EXT_USER_RC },
};

/* One -O option, as ssh-keygen's add_cert_option() understands it. */
static int apply_option(struct kb_cert *c, const char *opt)
{
	for (size_t i = 0; i < KB_ARRAY_SIZE(flag_exts); i++) {
		if (strncasecmp(opt, "no-", 3) == 0 && strcasecmp(opt + 3, flag_exts[i].suffix) == 0) {
			kb_cert_remove_extension(c, flag_exts[i].ext);
			return KB_OK;
		}
		if (strncasecmp(opt, "permit-", 7) == 0 && strcasecmp(opt + 7, flag_exts[i].suffix) == 0)
			return kb_cert_set_extension(c, flag_exts[i].ext, NULL);
	}
	if (strcasecmp(opt, "clear") == 0) {
		kb_cert_clear_options(c);
		return KB_OK;
	}
	if (strcasecmp(opt, KB_CERT_EXT_NO_TOUCH) == 0)
		return kb_cert_set_extension(c, KB_CERT_EXT_NO_TOUCH, NULL);
	if (strcasecmp(opt, KB_CERT_OPT_VERIFY_REQUIRED) == 0)
		return kb_cert_set_critical(c, KB_CERT_OPT_VERIFY_REQUIRED, NULL);
	if (strncasecmp(opt, "force-command=", 14) == 0) {
		if (kb_cert_find_critical(c, KB_CERT_OPT_FORCE_COMMAND) != NULL)
			return kb_err_set(KB_ERR_ARGS, "force-command already specified");
		return kb_cert_set_critical(c, KB_CERT_OPT_FORCE_COMMAND, opt + 14);
	}
	if (strncasecmp(opt, "source-address=", 15) == 0) {
		if (kb_cert_find_critical(c, KB_CERT_OPT_SOURCE_ADDRESS) != NULL)
			return kb_err_set(KB_ERR_ARGS, "source-address already specified");
		return kb_cert_set_critical(c, KB_CERT_OPT_SOURCE_ADDRESS, opt + 15);
	}
	bool crit = strncasecmp(opt, "critical:", 9) == 0;
	if (crit || strncasecmp(opt, "extension:", 10) == 0) {
		char *name = kb_strdup(opt + (crit ? 9 : 10)), *value;
		int r;
		if (name == NULL)
			return KB_ERR_NOMEM;
		if ((value = strchr(name, '=')) != NULL)
			*value++ = '\0';
		if (*name == '\0')
			r = kb_err_set(KB_ERR_ARGS, "empty option name in \"%s\"", opt);
		else if (crit)
			r = kb_cert_set_critical(c, name, value);
		else
			r = kb_cert_set_extension(c, name, value);
		free(name);
		return r;
	}
	return kb_err_set(KB_ERR_ARGS, "unsupported certificate option \"%s\"", opt);
}

/* PUBKEY's certificate path: strip ".pub", add "-cert.pub". */
static char *cert_path(const char *pub)
{
	size_t n = strlen(pub);
	if (n > 4 && strcmp(pub + n - 4, ".pub") == 0)
		n -= 4;
	return kb_asprintf("%.*s-cert.pub", (int)n, pub);
}

struct sign_opts {
	const char *ca_path, *key_id, *principals, *validity, *sig_alg, *passphrase;
	uint64_t serial;
	uint32_t type;
	char **options;
	size_t noptions;
};

struct signed_out {
	char *path;
	char *line;
	struct kb_cert *cert;
};

static int sign_one(struct kb_ctx *ctx, const struct sign_opts *o, const struct kb_key *ca, uint64_t after,
		    uint64_t before, const char *pub_path, struct signed_out *out)
{
	struct kb_key *key = NULL;
	struct kb_cert *c = NULL;
	char *comment = NULL;
	int r;

	if ((r = ct_load_public(pub_path, &key, &comment)) != 0) {
		kb_fail(ctx, r, "cannot read public key %s", pub_path);
		goto out;
	}
	if ((r = kb_cert_new(o->type, key, &c)) != 0 || (r = kb_cert_set_key_id(c, o->key_id)) != 0 ||
	    (o->principals != NULL && (r = kb_cert_add_principals(c, o->principals)) != 0) ||
	    (r = kb_cert_set_validity(c, after, before)) != 0) {
		kb_fail(ctx, r, "cannot build the certificate");
		goto out;
	}
	c->serial = o->serial;
	for (size_t i = 0; i < o->noptions; i++) {
		if ((r = apply_option(c, o->options[i])) != 0) {
			kb_fail(ctx, r, "-O %s", o->options[i]);
			goto out;
		}
	}
	if ((r = kb_cert_sign(c, ca, o->sig_alg)) != 0) {
		kb_fail(ctx, r, "cannot sign %s", pub_path);
		goto out;
	}
	if ((r = kb_cert_format_line(c, comment, &out->line)) != 0 || (out->path = cert_path(pub_path)) == NULL) {
		kb_fail(ctx, r ? r : KB_ERR_NOMEM, "cannot encode the certificate");
		r = r ? r : KB_ERR_NOMEM;
		goto out;
	}
	out->cert = c;
	c = NULL;
out:
	kb_key_free(key);
	kb_cert_free(c);
	free(comment);
	return r;
}

static void print_signed(const struct kb_ctx *ctx, const struct signed_out *s)
{
	char valid[96], *json = NULL;
	const struct kb_cert *c = s->cert;

	if (ctx->json) {
		if (kb_cert_format_json(c, &json) == 0) {
			/* {"file":...,<cert fields>} */
			printf("{\"file\":");
			for (const char *p = s->path; *p; p++) {
				if (p == s->path)
					putchar('"');
				if (*p == '"' || *p == '\\')
					putchar('\\');
				if ((unsigned char)*p < 0x20)
					printf("\\u%04x", (unsigned char)*p);
				else
					putchar(*p);
			}
			printf("\",%s", json + 1);
			free(json);
		}
		return;
	}
	if (ctx->verbosity < 0)
		return;
	kb_cert_format_validity(c, valid, sizeof(valid));
	fprintf(stderr, "Signed %s key %s: id \"%s\" serial %llu", kb_cert_kind(c), s->path, c->key_id,
		(unsigned long long)c->serial);
	for (size_t i = 0; i < c->nprincipals; i++)
		fprintf(stderr, "%s%s", i == 0 ? " for " : ",", c->principals[i]);
	fprintf(stderr, " valid %s\n", valid);
}

static int cert_sign(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ca", required_argument, NULL, 's' },    { "file", required_argument, NULL, 'f' },
		{ "identity", required_argument, NULL, 'I' }, { "principals", required_argument, NULL, 'n' },
		{ "validity", required_argument, NULL, 'V' }, { "serial", required_argument, NULL, 'z' },
		{ "option", required_argument, NULL, 'O' },   { "host", no_argument, NULL, 'H' },
		{ "sig-alg", required_argument, NULL, 't' },  { "passphrase", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },           { NULL, 0, NULL, 0 },
	};
	struct sign_opts o = { .type = KB_CERT_TYPE_USER };
	const char **pubs = NULL;
	size_t npubs = 0;
	struct signed_out *outs = NULL;
	struct kb_key *ca = NULL;
	uint64_t after = 0, before = KB_CERT_VALID_FOREVER;
	int opt, r, rc = KB_EXIT_FAILURE;

	if ((o.options = calloc((size_t)argc + 1, sizeof(*o.options))) == NULL ||
	    (pubs = calloc((size_t)argc + 1, sizeof(*pubs))) == NULL) {
		rc = kb_fail(ctx, KB_ERR_NOMEM, "cert sign");
		goto out;
	}
	optind = 0;
	opterr = 0; /* our own one-line errors */
	while ((opt = getopt_long(argc, argv, "s:f:I:n:V:z:O:t:P:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': o.ca_path = optarg; break;
		case 'f': pubs[npubs++] = optarg; break;
		case 'I': o.key_id = optarg; break;
		case 'n': o.principals = optarg; break;
		case 'V': o.validity = optarg; break;
		case 'O': o.options[o.noptions++] = optarg; break;
		case 'H': o.type = KB_CERT_TYPE_HOST; break;
		case 't': o.sig_alg = optarg; break;
		case 'P': o.passphrase = optarg; break;
		case 'z':
			if (kb_parse_u64(optarg, UINT64_MAX, &o.serial) != 0) {
				rc = kb_usage_error(ctx, "invalid serial number \"%s\"", optarg);
				goto out;
			}
			break;
		case 'h': cert_usage(stdout); rc = KB_EXIT_OK; goto out;
		default: rc = ct_bad_option(ctx, "cert sign", argv); goto out;
		}
	}
	for (int i = optind; i < argc; i++)
		pubs[npubs++] = argv[i];
	if (o.ca_path == NULL) {
		rc = kb_usage_error(ctx, "cert sign: the CA key is required (--ca CA_KEY)");
		goto out;
	}
	if (o.key_id == NULL) {
		rc = kb_usage_error(ctx, "cert sign: a key id is required (-I KEY_ID)");
		goto out;
	}
	if (npubs == 0) {
		rc = kb_usage_error(ctx, "cert sign: no public key to certify (-f PUBKEY)");
		goto out;
	}
	if (o.sig_alg != NULL && strcmp(o.sig_alg, "ssh-rsa") != 0 && strcmp(o.sig_alg, "rsa-sha2-256") != 0 &&
	    strcmp(o.sig_alg, "rsa-sha2-512") != 0) {
		rc = kb_usage_error(ctx, "cert sign: -t takes ssh-rsa, rsa-sha2-256 or rsa-sha2-512");
		goto out;
	}
	if (o.validity != NULL &&
	    (r = kb_cert_parse_validity(o.validity, (int64_t)time(NULL), &after, &before)) != 0) {
		rc = kb_fail(ctx, KB_ERR_ARGS, "-V %s: %s", o.validity, kb_err_detail());
		goto out;
	}
	if ((r = ct_load_private(o.ca_path, o.passphrase, &ca)) != 0) {
		rc = kb_fail(ctx, r, "cannot load CA key %s%s", o.ca_path,
			     r == KB_ERR_PASSPHRASE ? " (give its passphrase with -P)" : "");
		goto out;
	}
	if (o.sig_alg != NULL && kb_key_type(ca) != KB_KEY_RSA) {
		rc = kb_usage_error(ctx, "cert sign: -t selects an RSA signature but the CA key is not RSA");
		goto out;
	}
	if ((outs = calloc(npubs, sizeof(*outs))) == NULL) {
		rc = kb_fail(ctx, KB_ERR_NOMEM, "cert sign");
		goto out;
	}
	/* Sign everything first, write only when all succeeded. */
	for (size_t i = 0; i < npubs; i++) {
		if ((r = sign_one(ctx, &o, ca, after, before, pubs[i], &outs[i])) != 0) {
			rc = r == KB_ERR_ARGS ? KB_EXIT_USAGE : kb_exit_for(r);
			goto out;
		}
	}
	for (size_t i = 0; i < npubs; i++) {
		char *text = kb_asprintf("%s\n", outs[i].line);
		if (text == NULL) {
			rc = kb_fail(ctx, KB_ERR_NOMEM, "cert sign");
			goto out;
		}
		r = kb_write_file_atomic(outs[i].path, text, strlen(text), 0644, false);
		free(text);
		if (r != 0) {
			rc = kb_fail(ctx, r, "cannot write %s", outs[i].path);
			goto out;
		}
		print_signed(ctx, &outs[i]);
	}
	rc = KB_EXIT_OK;
out:
	for (size_t i = 0; outs != NULL && i < npubs; i++) {
		free(outs[i].path);
		free(outs[i].line);
		kb_cert_free(outs[i].cert);
	}
	free(outs);
	free(o.options);
	free(pubs);
	kb_key_free(ca);
	return rc;
}

struct inspect_state {
	struct kb_ctx *ctx;
	const char *path;
	int status;
	unsigned count;
};

static int inspect_line(void *arg, const char *line, unsigned lnum)
{
	struct inspect_state *st = arg;
	struct kb_key *key = NULL;
	struct kb_cert *c = NULL;
	char *text = NULL;
	int r;

	st->count++;
	r = ct_parse_line(line, &key, &c, NULL);
	if (r == 0 && c == NULL) {
		fprintf(stderr, "broker: %s:%u is not a certificate\n", st->path, lnum);
		st->status = KB_EXIT_FAILURE;
		goto out;
	}
	if (r != 0) {
		int code = kb_fail(st->ctx, r, "%s:%u: invalid certificate", st->path, lnum);
		if (st->status == KB_EXIT_OK || code == KB_EXIT_VERIFY)
			st->status = code;
		goto out;
	}
	if (st->ctx->json) {
		if ((r = kb_cert_format_json(c, &text)) == 0)
			fputs(text, stdout);
	} else if ((r = kb_cert_format_text(c, &text)) == 0) {
		if (lnum == 1)
			printf("%s:\n%s", st->path, text);
		else
			printf("%s:%u:\n%s", st->path, lnum, text);
	}
	if (r != 0)
		st->status = kb_fail(st->ctx, r, "%s:%u", st->path, lnum);
out:
	free(text);
	kb_key_free(key);
	kb_cert_free(c);
	return 0;
}

static int cert_inspect(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct inspect_state st = { .ctx = ctx, .status = KB_EXIT_OK };
	const char *files[64];
	size_t nfiles = 0;
	int opt;

	optind = 0;
	opterr = 0; /* our own one-line errors */
	while ((opt = getopt_long(argc, argv, "f:Lh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			if (nfiles < KB_ARRAY_SIZE(files))
				files[nfiles++] = optarg;
			break;
		case 'L': break; /* ssh-keygen -L habit */
		case 'h': cert_usage(stdout); return KB_EXIT_OK;
		default: return ct_bad_option(ctx, "cert inspect", argv);
		}
	}
	for (int i = optind; i < argc && nfiles < KB_ARRAY_SIZE(files); i++)
		files[nfiles++] = argv[i];
	if (nfiles == 0)
		return kb_usage_error(ctx, "cert inspect: no certificate file given");
	for (size_t i = 0; i < nfiles; i++) {
		char *text = NULL;
		int r = ct_read_text(files[i], CT_TEXT_MAX, &text);
		if (r != 0) {
			st.status = kb_fail(ctx, r, "cannot read %s", files[i]);
			continue;
		}
		st.path = files[i];
		st.count = 0;
		ct_each_line(text, inspect_line, &st);
		free(text);
		if (st.count == 0) {
			fprintf(stderr, "broker: %s: no certificate in the file\n", files[i]);
			st.status = KB_EXIT_FAILURE;
		}
	}
	return st.status;
}

struct check_state {
	struct kb_ctx *ctx;
	const char *path, *principal;
	struct kb_key *ca;
	struct kb_krl *krl;
	uint64_t at;
	bool invalid, failed;
	unsigned count;
};

/* Why c is not acceptable (kb_err detail set), or KB_OK. */
static int judge(const struct check_state *st, const struct kb_cert *c)
{
	int r;
	if (st->ca != NULL && !kb_key_equal_public(st->ca, c->ca_key))
		return kb_err_set(KB_ERR_SIGNATURE, "signed by another CA");
	if ((r = kb_cert_check_time(c, st->at)) != 0)
		return r;
	if (st->principal != NULL &&
	    (r = kb_cert_check_principal(c, st->principal, c->type == KB_CERT_TYPE_HOST)) != 0)
		return r;
	if (st->krl != NULL && (r = kb_krl_check_cert(st->krl, c)) != 0)
		return r;
	return KB_OK;
}

static int check_line(void *arg, const char *line, unsigned lnum)
{
	struct check_state *st = arg;
	struct kb_key *key = NULL;
	struct kb_cert *c = NULL;
	char fp[KB_KEY_FP_MAX] = "?";
	int r;

	st->count++;
	kb_err_clear_detail();
	r = ct_parse_line(line, &key, &c, NULL);
	if (r == 0 && c == NULL)
		r = kb_err_set(KB_ERR_INVALID, "not a certificate");
	/* Anything wrong with the certificate itself makes it invalid. */
	if (r != KB_ERR_NOMEM) {
		if (key != NULL)
			kb_key_fingerprint(key, fp, sizeof(fp));
		if (r == 0)
			r = judge(st, c);
		if (r != 0 && r != KB_ERR_NOMEM)
			st->invalid = true;
	} else {
		kb_fail(st->ctx, r, "%s:%u", st->path, lnum);
		st->failed = true;
		goto out;
	}
	if (st->ctx->json) {
		const char *why = r == 0 ? NULL : kb_err_detail()[0] ? kb_err_detail() : kb_err_str(r);
		json_t *o = json_pack("{s:s, s:I, s:s, s:b, s:s*}", "file", st->path, "line", (json_int_t)lnum,
				      "fingerprint", fp, "valid", r == 0, "reason", why);
		if (o != NULL && c != NULL) {
			json_object_set_new(o, "key_id", json_string(c->key_id));
			if (c->serial <= INT64_MAX)
				json_object_set_new(o, "serial", json_integer((json_int_t)c->serial));
		}
		char *txt = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		if (txt != NULL)
			printf("%s\n", txt);
		kb_json_free_string(txt);
		json_decref(o);
	} else if (r == 0) {
		printf("%s:%u: valid: %s certificate, key id \"%s\", serial %llu\n", st->path, lnum, kb_cert_kind(c),
		       c->key_id, (unsigned long long)c->serial);
	} else {
		printf("%s:%u: INVALID: %s\n", st->path, lnum, kb_err_detail()[0] ? kb_err_detail() : kb_err_str(r));
	}
out:
	kb_key_free(key);
	kb_cert_free(c);
	return 0;
}

static int parse_at(const char *s, uint64_t *ret)
{
	int64_t t;
	if (kb_parse_time_utc(s, &t) == 0 || kb_parse_time_sshkeygen(s, &t) == 0) {
		if (t < 0)
			return KB_ERR_INVALID;
		*ret = (uint64_t)t;
		return KB_OK;
	}
	return KB_ERR_INVALID;
}

static int cert_check(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ca", required_argument, NULL, 's' },  { "principal", required_argument, NULL, 'n' },
		{ "at", required_argument, NULL, 'a' },  { "krl", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },      { NULL, 0, NULL, 0 },
	};
	struct check_state st = { .ctx = ctx, .at = (uint64_t)time(NULL) };
	const char *ca_path = NULL, *krl_path = NULL;
	int opt, r, rc = KB_EXIT_FAILURE;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "s:n:a:k:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': ca_path = optarg; break;
		case 'n': st.principal = optarg; break;
		case 'k': krl_path = optarg; break;
		case 'a':
			if (parse_at(optarg, &st.at) != 0)
				return kb_usage_error(ctx, "cert check: invalid --at time \"%s\" (RFC 3339 or YYYYMMDD[HHMM[SS]][Z])", optarg);
			break;
		case 'h': cert_usage(stdout); return KB_EXIT_OK;
		default: return ct_bad_option(ctx, "cert check", argv);
		}
	}
	if (optind >= argc)
		return kb_usage_error(ctx, "cert check: no certificate file given");
	if (ca_path != NULL && (r = ct_load_public(ca_path, &st.ca, NULL)) != 0) {
		rc = kb_fail(ctx, r, "cannot read CA public key %s", ca_path);
		goto out;
	}
	if (krl_path != NULL) {
		struct kb_buf b;
		kb_buf_init(&b, KB_KRL_MAX_SIZE + 1);
		if ((r = kb_read_file(krl_path, KB_KRL_MAX_SIZE, &b)) == 0)
			r = kb_krl_parse(b.data, b.len, &st.krl);
		kb_buf_done(&b);
		if (r != 0) {
			rc = kb_fail(ctx, r, "cannot read KRL %s", krl_path);
			goto out;
		}
	}
	for (int i = optind; i < argc; i++) {
		char *text = NULL;
		if ((r = ct_read_text(argv[i], CT_TEXT_MAX, &text)) != 0) {
			kb_fail(ctx, r, "cannot read %s", argv[i]);
			st.failed = true;
			continue;
		}
		st.path = argv[i];
		st.count = 0;
		ct_each_line(text, check_line, &st);
		free(text);
		if (st.count == 0) {
			fprintf(stderr, "broker: %s: no certificate in the file\n", argv[i]);
			st.failed = true;
		}
	}
	rc = st.invalid ? KB_EXIT_VERIFY : st.failed ? KB_EXIT_FAILURE : KB_EXIT_OK;
out:
	kb_key_free(st.ca);
	kb_krl_free(st.krl);
	return rc;
}

int cmd_cert(struct kb_ctx *ctx, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		cert_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? KB_EXIT_USAGE : KB_EXIT_OK;
	}
	if (strcmp(argv[1], "sign") == 0)
		return cert_sign(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "inspect") == 0 || strcmp(argv[1], "show") == 0)
		return cert_inspect(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "check") == 0)
		return cert_check(ctx, argc - 1, argv + 1);
	return kb_usage_error(ctx, "cert: unknown subcommand '%s' (sign, inspect, check)", argv[1]);
}
