/* broker krl create | check | inspect: OpenSSH key revocation lists with
 * ssh-keygen -k / -Q conventions (spec files with serial:, id:, key:,
 * sha1:, sha256:, hash: lines are accepted as positional arguments). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cert/cert.h"
#include "cert/krl.h"
#include "certtool_io.h"
#include "commands.h"
#include "core/err.h"
#include "core/util.h"
#include "ssh/key.h"
#include "config.h"
#include "issue/audit.h"
#include "issue/ca.h"
#include "issue/requester.h"
#include "revoke/revoke.h"
#include "store/store.h"

#include <unistd.h>

static void krl_usage(FILE *f)
{
	fprintf(f, "usage: broker krl create -f OUT [-u] [--ca CA_PUB] [--serial N|N-M]... [--id KEY_ID]...\n"
		   "                         [--key PUBKEY]... [--hash SHA256:FP]... [--krl-version N]\n"
		   "                         [--comment TEXT] [SPEC_OR_KEY_FILE...]\n"
		   "       broker krl check [--json] KRL FILE...   (exit 0: none revoked, 6: revoked)\n"
		   "       broker krl inspect [--json] KRL\n"
		   "       broker krl publish -f FILE   (the revocations recorded by broker revoke)\n"
		   "--serial needs --ca; --id without --ca revokes the key id under any CA.\n"
		   "Spec files use ssh-keygen -k lines: serial:, id:, key:, sha1:, sha256:, hash:.\n");
}

static int load_krl(const char *path, struct kb_krl **ret)
{
	struct kb_buf b;
	int r;

	kb_buf_init(&b, KB_KRL_MAX_SIZE + 1);
	if ((r = kb_read_file(path, KB_KRL_MAX_SIZE, &b)) == 0)
		r = kb_krl_parse(b.data, b.len, ret);
	kb_buf_done(&b);
	return r;
}

/* "N" or "N-M"; numbers in decimal, hex (0x) or octal (0) like ssh-keygen. */
static int parse_serials(const char *s, uint64_t *lo, uint64_t *hi)
{
	char *end;
	if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ')
		return KB_ERR_INVALID;
	errno = 0;
	*lo = strtoull(s, &end, 0);
	if (errno != 0 || end == s)
		return KB_ERR_INVALID;
	*hi = *lo;
	if (*end == '-') {
		const char *p = end + 1;
		if (*p == '\0' || *p == '-' || *p == '+' || *p == ' ')
			return KB_ERR_INVALID;
		errno = 0;
		*hi = strtoull(p, &end, 0);
		if (errno != 0 || end == p)
			return KB_ERR_INVALID;
	}
	if (*end != '\0' || *lo == 0 || *lo > *hi)
		return KB_ERR_INVALID;
	return KB_OK;
}

struct create_state {
	struct kb_ctx *ctx;
	struct kb_krl *krl;
	struct kb_key *ca;
	const char *path;
	int err;
};

/* A certificate on a key line is revoked by serial (or key id when the
 * serial is 0) under its CA, as ssh-keygen -k does; a plain key as an
 * explicit key. */
static int revoke_line_key(struct create_state *st, const char *line, bool sha1, bool sha256)
{
	struct kb_key *k = NULL;
	struct kb_cert *c = NULL;
	int r;

	if ((r = ct_parse_line(line, &k, &c, NULL)) != 0)
		return r;
	if (sha1)
		r = kb_krl_revoke_key_sha1(st->krl, k);
	else if (sha256)
		r = kb_krl_revoke_key_sha256(st->krl, k);
	else if (c != NULL && c->serial != 0)
		r = kb_krl_revoke_serial_range(st->krl, c->ca_key, c->serial, c->serial);
	else if (c != NULL)
		r = kb_krl_revoke_key_id(st->krl, c->ca_key, c->key_id);
	else
		r = kb_krl_revoke_key(st->krl, k);
	kb_key_free(k);
	kb_cert_free(c);
	return r;
}

/* The value after a "name:" directive (leading blanks skipped), or NULL. */
static const char *directive(const char *line, const char *name)
{
	size_t n = strlen(name);
	if (strncasecmp(line, name, n) != 0)
		return NULL;
	line += n;
	while (*line == ' ' || *line == '\t')
		line++;
	return line;
}

static int spec_line(void *arg, const char *line, unsigned lnum)
{
	struct create_state *st = arg;
	const char *v;
	int r;

	if ((v = directive(line, "serial:")) != NULL) {
		uint64_t lo, hi;
		if (st->ca == NULL)
			r = kb_err_set(KB_ERR_ARGS, "revoking by serial needs the CA key (--ca CA_PUB)");
		else if (parse_serials(v, &lo, &hi) != 0)
			r = kb_err_set(KB_ERR_ARGS, "invalid serial \"%s\" (N or N-M, not 0)", v);
		else
			r = kb_krl_revoke_serial_range(st->krl, st->ca, lo, hi);
	} else if ((v = directive(line, "id:")) != NULL) {
		r = kb_krl_revoke_key_id(st->krl, st->ca, v);
	} else if ((v = directive(line, "key:")) != NULL) {
		r = revoke_line_key(st, v, false, false);
	} else if ((v = directive(line, "sha1:")) != NULL) {
		r = revoke_line_key(st, v, true, false);
	} else if ((v = directive(line, "sha256:")) != NULL) {
		r = revoke_line_key(st, v, false, true);
	} else if ((v = directive(line, "hash:")) != NULL) {
		r = kb_krl_revoke_fingerprint(st->krl, v);
	} else {
		r = revoke_line_key(st, line, false, false);
	}
	if (r != 0) {
		st->err = kb_fail(st->ctx, r, "%s:%u", st->path, lnum);
		return 1;
	}
	return 0;
}

static int add_file(struct create_state *st, const char *path)
{
	char *text = NULL;
	int r;

	/* Spec files may list many revocations: allow a whole KRL's worth. */
	if ((r = ct_read_text(path, KB_KRL_MAX_SIZE, &text)) != 0)
		return kb_fail(st->ctx, r, "cannot read %s", path);
	st->path = path;
	st->err = 0;
	ct_each_line(text, spec_line, st);
	free(text);
	return st->err;
}

static int krl_create(struct kb_ctx *ctx, int argc, char **argv)
{
	enum { OPT_SERIAL = 256, OPT_ID, OPT_KEY, OPT_HASH, OPT_COMMENT };
	static const struct option longopts[] = {
		{ "file", required_argument, NULL, 'f' },   { "ca", required_argument, NULL, 's' },
		{ "serial", required_argument, NULL, OPT_SERIAL }, { "id", required_argument, NULL, OPT_ID },
		{ "key", required_argument, NULL, OPT_KEY },  { "hash", required_argument, NULL, OPT_HASH },
		{ "krl-version", required_argument, NULL, 'z' }, { "comment", required_argument, NULL, OPT_COMMENT },
		{ "update", no_argument, NULL, 'u' },         { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct create_state st = { .ctx = ctx };
	struct {
		int kind;
		const char *v;
	} *items = NULL;
	size_t nitems = 0;
	const char *out_path = NULL, *ca_path = NULL, *version = NULL, *comment = NULL;
	bool update = false;
	struct kb_buf out;
	int opt, r, rc = KB_EXIT_FAILURE;

	kb_buf_init(&out, KB_KRL_MAX_SIZE);
	if ((items = calloc((size_t)argc + 1, sizeof(*items))) == NULL)
		return kb_fail(ctx, KB_ERR_NOMEM, "krl create");
	optind = 0;
	opterr = 0; /* our own one-line errors */
	while ((opt = getopt_long(argc, argv, "f:s:z:uh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f': out_path = optarg; break;
		case 's': ca_path = optarg; break;
		case 'z': version = optarg; break;
		case 'u': update = true; break;
		case OPT_COMMENT: comment = optarg; break;
		case OPT_SERIAL: case OPT_ID: case OPT_KEY: case OPT_HASH:
			items[nitems].kind = opt;
			items[nitems++].v = optarg;
			break;
		case 'h': krl_usage(stdout); rc = KB_EXIT_OK; goto out;
		default: rc = ct_bad_option(ctx, "krl create", argv); goto out;
		}
	}
	if (out_path == NULL) {
		rc = kb_usage_error(ctx, "krl create: the output file is required (-f OUT)");
		goto out;
	}
	if (update) {
		if ((r = load_krl(out_path, &st.krl)) != 0) {
			rc = kb_fail(ctx, r, "cannot read KRL %s to update it", out_path);
			goto out;
		}
	} else if ((r = kb_krl_new(&st.krl)) != 0) {
		rc = kb_fail(ctx, r, "krl create");
		goto out;
	}
	if (version != NULL) {
		uint64_t v;
		if (kb_parse_u64(version, UINT64_MAX, &v) != 0) {
			rc = kb_usage_error(ctx, "krl create: invalid --krl-version \"%s\"", version);
			goto out;
		}
		kb_krl_set_version(st.krl, v);
	}
	if (comment != NULL && (r = kb_krl_set_comment(st.krl, comment)) != 0) {
		rc = kb_fail(ctx, r, "krl create");
		goto out;
	}
	if (ca_path != NULL && (r = ct_load_public(ca_path, &st.ca, NULL)) != 0) {
		rc = kb_fail(ctx, r, "cannot read CA public key %s", ca_path);
		goto out;
	}
	for (size_t i = 0; i < nitems; i++) {
		uint64_t lo, hi;
		switch (items[i].kind) {
		case OPT_SERIAL:
			if (st.ca == NULL) {
				rc = kb_usage_error(ctx, "krl create: --serial needs the CA key (--ca CA_PUB)");
				goto out;
			}
			if (parse_serials(items[i].v, &lo, &hi) != 0) {
				rc = kb_usage_error(ctx, "krl create: invalid --serial \"%s\" (N or N-M, not 0)",
						    items[i].v);
				goto out;
			}
			r = kb_krl_revoke_serial_range(st.krl, st.ca, lo, hi);
			break;
		case OPT_ID:
			r = kb_krl_revoke_key_id(st.krl, st.ca, items[i].v);
			break;
		case OPT_HASH:
			r = kb_krl_revoke_fingerprint(st.krl, items[i].v);
			break;
		default: {
			char *text = NULL;
			if ((r = ct_read_text(items[i].v, CT_TEXT_MAX, &text)) == 0) {
				st.path = items[i].v;
				st.err = 0;
				/* Key lines (spec directives are accepted too). */
				ct_each_line(text, spec_line, &st);
				free(text);
				if (st.err != 0) {
					rc = st.err;
					goto out;
				}
			}
			break;
		}
		}
		if (r != 0) {
			rc = kb_fail(ctx, r, "krl create: %s", items[i].v);
			goto out;
		}
	}
	for (int i = optind; i < argc; i++) {
		if ((rc = add_file(&st, argv[i])) != 0)
			goto out;
	}
	rc = KB_EXIT_FAILURE;
	kb_krl_set_generated_date(st.krl, (uint64_t)time(NULL));
	if ((r = kb_krl_write(st.krl, &out)) != 0) {
		rc = kb_fail(ctx, r, "cannot encode the KRL");
		goto out;
	}
	if ((r = kb_write_file_atomic(out_path, out.data, out.len, 0644, false)) != 0) {
		rc = kb_fail(ctx, r, "cannot write %s", out_path);
		goto out;
	}
	rc = KB_EXIT_OK;
out:
	kb_buf_done(&out);
	free(items);
	kb_krl_free(st.krl);
	kb_key_free(st.ca);
	return rc;
}

struct check_state {
	struct kb_ctx *ctx;
	const struct kb_krl *krl;
	const char *path;
	bool revoked, failed;
};

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static int check_line(void *arg, const char *line, unsigned lnum)
{
	struct check_state *st = arg;
	struct kb_key *k = NULL;
	struct kb_cert *c = NULL;
	char *comment = NULL, fp[KB_KEY_FP_MAX] = "?";
	int r;

	if ((r = ct_parse_line(line, &k, &c, &comment)) != 0) {
		kb_fail(st->ctx, r, "%s:%u", st->path, lnum);
		st->failed = true;
		return 0;
	}
	const char *cm = comment ? comment : "";
	kb_key_fingerprint(k, fp, sizeof(fp));
	kb_err_clear_detail();
	r = c != NULL ? kb_krl_check_cert(st->krl, c) : kb_krl_check_key(st->krl, k);
	if (r != 0 && r != KB_ERR_REVOKED) {
		kb_fail(st->ctx, r, "%s:%u", st->path, lnum);
		st->failed = true;
		goto out;
	}
	if (r == KB_ERR_REVOKED)
		st->revoked = true;
	if (st->ctx->json) {
		printf("{\"file\":");
		json_str(st->path);
		printf(",\"line\":%u,\"fingerprint\":", lnum);
		json_str(fp);
		printf(",\"certificate\":%s,\"revoked\":%s", c ? "true" : "false", r ? "true" : "false");
		if (r) {
			printf(",\"reason\":");
			json_str(kb_err_detail());
		}
		printf("}\n");
	} else if (r == KB_ERR_REVOKED) {
		printf("%s%s%s%s: REVOKED: %s\n", st->path, *cm ? " (" : "", cm, *cm ? ")" : "", kb_err_detail());
	} else {
		printf("%s%s%s%s: ok\n", st->path, *cm ? " (" : "", cm, *cm ? ")" : "");
	}
out:
	kb_key_free(k);
	kb_cert_free(c);
	free(comment);
	return 0;
}

static int krl_check(struct kb_ctx *ctx, int argc, char **argv)
{
	struct check_state st = { .ctx = ctx };
	struct kb_krl *krl = NULL;
	int r;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		krl_usage(stdout);
		return KB_EXIT_OK;
	}
	if (argc < 3)
		return kb_usage_error(ctx, "krl check: usage: broker krl check KRL FILE...");
	if ((r = load_krl(argv[1], &krl)) != 0)
		return kb_fail(ctx, r, "cannot read KRL %s", argv[1]);
	st.krl = krl;
	for (int i = 2; i < argc; i++) {
		char *text = NULL;
		if ((r = ct_read_text(argv[i], CT_TEXT_MAX, &text)) != 0) {
			kb_fail(ctx, r, "cannot read %s", argv[i]);
			st.failed = true;
			continue;
		}
		st.path = argv[i];
		ct_each_line(text, check_line, &st);
		free(text);
	}
	kb_krl_free(krl);
	/* Revoked wins: a caller gating access must see "revoked". */
	if (st.revoked)
		return KB_EXIT_VERIFY;
	return st.failed ? KB_EXIT_FAILURE : KB_EXIT_OK;
}

static int krl_inspect(struct kb_ctx *ctx, int argc, char **argv)
{
	struct kb_krl *krl = NULL;
	char *text = NULL;
	int r;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		krl_usage(stdout);
		return KB_EXIT_OK;
	}
	if (argc != 2)
		return kb_usage_error(ctx, "krl inspect: usage: broker krl inspect [--json] KRL");
	if ((r = load_krl(argv[1], &krl)) != 0)
		return kb_fail(ctx, r, "cannot read KRL %s", argv[1]);
	r = ctx->json ? kb_krl_format_json(krl, &text) : kb_krl_format_text(krl, &text);
	kb_krl_free(krl);
	if (r != 0)
		return kb_fail(ctx, r, "krl inspect");
	fputs(text, stdout);
	free(text);
	return KB_EXIT_OK;
}

/* broker krl publish -f FILE: every revocation recorded in the backend
 * (broker revoke) as a KRL for sshd's RevokedKeys, with a krl_version
 * above both the file's and the one recorded in the backend. */
static int krl_publish(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "file", required_argument, NULL, 'f' }, { "comment", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *comment = "keybroker revocations";
	struct kb_store *store = NULL;
	struct kb_audit *audit = NULL;
	struct kb_krl *krl = NULL, *old = NULL;
	struct kb_key *capriv = NULL;
	struct kb_requester who = { 0 };
	json_t *doc = NULL;
	char *base = NULL;
	struct kb_buf out;
	uint64_t file_version = 0, version = 0;
	size_t n = 0;
	int opt, r, rc = KB_EXIT_FAILURE;

	kb_buf_init(&out, KB_KRL_MAX_SIZE);
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "f:c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f': path = optarg; break;
		case 'c': comment = optarg; break;
		case 'h': krl_usage(stdout); rc = KB_EXIT_OK; goto out;
		default: rc = ct_bad_option(ctx, "krl publish", argv); goto out;
		}
	}
	if (path == NULL || optind != argc) {
		rc = kb_usage_error(ctx, "krl publish: usage: broker krl publish -f FILE");
		goto out;
	}
	struct kb_config *cfg = kb_ctx_config(ctx);
	if (cfg == NULL)
		goto out;
	const char *log = kb_config_get(cfg, "audit.log");
	if (log == NULL) {
		rc = kb_fail(ctx, KB_ERR_INVALID, "no audit log configured (audit.log)");
		goto out;
	}
	if ((r = kb_requester_from_uid(getuid(), &who)) != KB_OK ||
	    (r = kb_audit_open(log, kb_config_get(cfg, "audit.key"), &audit)) != KB_OK) {
		rc = kb_fail(ctx, r, "cannot open the audit log %s", log);
		goto out;
	}
	if ((r = kb_store_open(cfg, &store)) != KB_OK) {
		rc = kb_fail(ctx, r, "cannot open the %s backend", kb_config_get(cfg, "backend"));
		goto out;
	}
	/* The user CA must exist: a KRL for a broker without a CA is a mistake. */
	if ((r = kb_ca_load(store, false, &capriv)) != KB_OK) {
		rc = kb_fail(ctx, r, "cannot read the user CA");
		goto out;
	}
	kb_key_free(capriv);
	capriv = NULL;
	/* An existing file that parses fixes the lower bound of the version. */
	if (access(path, F_OK) == 0) {
		if ((r = load_krl(path, &old)) == KB_OK)
			file_version = kb_krl_version(old);
		else if (ctx->verbosity >= 0)
			fprintf(stderr, "broker: warning: %s is not a readable KRL (%s); replacing it\n", path,
				kb_err_str(r));
	}
	if ((r = kb_revocations_next_krl_version(store, file_version, &version)) != KB_OK) {
		rc = kb_fail(ctx, r, "cannot record the new krl_version in the backend");
		goto out;
	}
	if ((r = kb_revocations_load(store, &doc, &base)) != KB_OK) {
		rc = kb_fail(ctx, r, "cannot read %s", KB_REVOCATIONS_SECRET);
		goto out;
	}
	if ((r = kb_krl_new(&krl)) != KB_OK || (r = kb_revocations_build_krl(doc, krl, &n)) != KB_OK ||
	    (r = kb_krl_set_comment(krl, comment)) != KB_OK) {
		rc = kb_fail(ctx, r, "cannot build the KRL");
		goto out;
	}
	kb_krl_set_version(krl, version);
	kb_krl_set_generated_date(krl, (uint64_t)time(NULL));
	if ((r = kb_krl_write(krl, &out)) != KB_OK) {
		rc = kb_fail(ctx, r, "cannot encode the KRL");
		goto out;
	}
	if ((r = kb_write_file_atomic(path, out.data, out.len, 0644, false)) != KB_OK) {
		rc = kb_fail(ctx, r, "cannot write %s", path);
		goto out;
	}
	json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "event", "krl-publish", "via", "cli", "requester", who.user,
			      "file", path, "krl_version", (json_int_t)version, "entries", (json_int_t)n);
	uint64_t seq = 0;
	r = kb_audit_append(audit, e, &seq);
	json_decref(e);
	if (r != KB_OK) {
		rc = kb_fail(ctx, r, "%s written but its audit line could not be written", path);
		goto out;
	}
	if (ctx->json) {
		printf("{\"file\":");
		json_str(path);
		printf(",\"krl_version\":%llu,\"entries\":%zu,\"bytes\":%zu,\"audit_seq\":%llu}\n",
		       (unsigned long long)version, n, out.len, (unsigned long long)seq);
	} else if (ctx->verbosity >= 0)
		fprintf(stderr, "broker: wrote %s: krl_version %llu, %zu revocation%s, %zu bytes\n", path,
			(unsigned long long)version, n, n == 1 ? "" : "s", out.len);
	rc = KB_EXIT_OK;
out:
	kb_buf_done(&out);
	kb_krl_free(krl);
	kb_krl_free(old);
	json_decref(doc);
	free(base);
	kb_store_close(store);
	kb_audit_close(audit);
	kb_requester_done(&who);
	return rc;
}

int cmd_krl(struct kb_ctx *ctx, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		krl_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? KB_EXIT_USAGE : KB_EXIT_OK;
	}
	if (strcmp(argv[1], "create") == 0)
		return krl_create(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "check") == 0)
		return krl_check(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "inspect") == 0 || strcmp(argv[1], "show") == 0)
		return krl_inspect(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "publish") == 0)
		return krl_publish(ctx, argc - 1, argv + 1);
	return kb_usage_error(ctx, "krl: unknown subcommand '%s' (create, check, inspect, publish)", argv[1]);
}
