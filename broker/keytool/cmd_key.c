/* broker key: generate keys, print fingerprints and public keys, in the
 * manner of ssh-keygen (-t/-f/-C/-N, -l, -y). */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "commands.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "ssh/key.h"

#define PUBLIC_FILE_MAX (1024u * 1024u)

static void key_usage(FILE *f)
{
	fprintf(f, "usage: broker key generate -t TYPE -f FILE [-b BITS] [-C COMMENT]\n"
		   "                            [-N PASSPHRASE | --passphrase-file F] [--force]\n"
		   "       broker key fingerprint [-E sha256] [-f] FILE\n"
		   "       broker key public [-P PASSPHRASE | --passphrase-file F] [-f] FILE\n"
		   "TYPE: ed25519, ecdsa-p256, ecdsa-p384, ecdsa-p521, rsa-2048, rsa-3072, rsa-4096\n"
		   "      (also ssh-keygen's ecdsa and rsa with -b BITS)\n");
}

/* First line of FILE as a passphrase, in guarded memory (free with
 * kb_secure_free).  Keeps passphrases out of argv (visible in ps). */
static int read_passphrase_file(const char *path, char **ret)
{
	struct kb_buf b;
	size_t n;
	int r;

	*ret = NULL;
	kb_buf_init_secure(&b, 4096);
	if ((r = kb_read_file(path, 4096, &b)) != KB_OK) {
		kb_buf_done(&b);
		return r;
	}
	n = kb_buf_remaining(&b);
	const uint8_t *p = kb_buf_ptr(&b);
	const uint8_t *nl = memchr(p, '\n', n);
	if (nl != NULL)
		n = (size_t)(nl - p);
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (memchr(p, '\0', n) != NULL) {
		kb_buf_done(&b);
		return kb_err_set(KB_ERR_INVALID, "passphrase file contains a NUL byte");
	}
	if ((*ret = kb_secure_alloc(n + 1)) == NULL) {
		kb_buf_done(&b);
		return KB_ERR_NOMEM;
	}
	memcpy(*ret, p, n);
	(*ret)[n] = '\0';
	kb_buf_done(&b);
	return KB_OK;
}

static char *default_comment(void)
{
	struct passwd *pw = getpwuid(getuid());
	char host[256] = "localhost";

	if (gethostname(host, sizeof(host)) != 0)
		kb_strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	return kb_asprintf("%s@%s", pw != NULL ? pw->pw_name : "user", host);
}

static bool file_exists(const char *path)
{
	return access(path, F_OK) == 0 || errno != ENOENT;
}

static int cmd_generate(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "force", no_argument, NULL, 'F' },
					       { "passphrase-file", required_argument, NULL, 'p' },
					       { "help", no_argument, NULL, 'h' },
					       { NULL, 0, NULL, 0 } };
	const char *type_name = NULL, *file = NULL, *comment = NULL, *pass = NULL, *bits_arg = NULL;
	const char *passfile = NULL;
	char *filepass = NULL;
	bool force = false;
	enum kb_key_type type;
	unsigned bits = 0;
	struct kb_key *k = NULL;
	struct kb_buf priv;
	char *pubfile = NULL, *line = NULL, *defcomment = NULL, fp[KB_KEY_FP_MAX];
	int c, r, rc = KB_EXIT_FAILURE;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+t:f:C:N:b:qh", opts, NULL)) != -1) {
		switch (c) {
		case 't': type_name = optarg; break;
		case 'f': file = optarg; break;
		case 'C': comment = optarg; break;
		case 'N': pass = optarg; break;
		case 'b': bits_arg = optarg; break;
		case 'q': break;
		case 'F': force = true; break;
		case 'p': passfile = optarg; break;
		case 'h': key_usage(stdout); return KB_EXIT_OK;
		default: key_usage(stderr); return KB_EXIT_USAGE;
		}
	}
	if (optind != argc)
		return kb_usage_error(ctx, "key generate: unexpected argument '%s'", argv[optind]);
	if (type_name == NULL || file == NULL)
		return kb_usage_error(ctx, "key generate: -t TYPE and -f FILE are required");
	if (kb_key_type_from_cli(type_name, &type, &bits) != KB_OK || type == KB_KEY_DSA)
		return kb_usage_error(ctx, "unknown key type '%s' (use ed25519, ecdsa-p256, ecdsa-p384, ecdsa-p521, "
					   "rsa-2048, rsa-3072 or rsa-4096)", type_name);
	if (bits_arg != NULL) {
		uint64_t b;
		if (kb_parse_u64(bits_arg, 16384, &b) != KB_OK)
			return kb_usage_error(ctx, "invalid number of bits '%s'", bits_arg);
		if (type == KB_KEY_RSA) {
			if (bits != 0 && bits != b)
				return kb_usage_error(ctx, "-b %s contradicts -t %s", bits_arg, type_name);
			if (b != 2048 && b != 3072 && b != 4096)
				return kb_usage_error(ctx, "RSA keys must be 2048, 3072 or 4096 bits");
			bits = (unsigned)b;
		} else if (type == KB_KEY_ECDSA_P256 && strcmp(type_name, "ecdsa") == 0) {
			if (b == 384)
				type = KB_KEY_ECDSA_P384;
			else if (b == 521)
				type = KB_KEY_ECDSA_P521;
			else if (b != 256)
				return kb_usage_error(ctx, "ECDSA keys must be 256, 384 or 521 bits");
		} else if (b != kb_key_bits_for_type(type)) {
			return kb_usage_error(ctx, "-b %s does not fit key type %s", bits_arg, type_name);
		}
	}
	if (pass != NULL && passfile != NULL)
		return kb_usage_error(ctx, "give -N or --passphrase-file, not both");
	if (passfile != NULL) {
		kb_err_clear_detail();
		if ((r = read_passphrase_file(passfile, &filepass)) != KB_OK)
			return kb_fail(ctx, r, "%s", passfile);
		pass = filepass;
	}
	if (comment == NULL)
		comment = defcomment = default_comment();
	if (comment == NULL || strpbrk(comment, "\r\n") != NULL) {
		free(defcomment);
		kb_secure_free(filepass);
		return kb_usage_error(ctx, "the comment must be a single line");
	}
	if ((pubfile = kb_asprintf("%s.pub", file)) == NULL) {
		free(defcomment);
		kb_secure_free(filepass);
		return kb_fail(ctx, KB_ERR_NOMEM, "key generate");
	}
	kb_buf_init_secure(&priv, KB_KEY_PRIVATE_FILE_MAX);
	kb_err_clear_detail();
	if (!force && (file_exists(file) || file_exists(pubfile))) {
		fprintf(stderr, "broker: %s already exists (use --force to overwrite)\n",
			file_exists(file) ? file : pubfile);
		rc = KB_EXIT_FAILURE;
		goto out;
	}
	if ((r = kb_key_generate(type, bits, &k)) != KB_OK) {
		rc = kb_fail(ctx, r, "cannot generate key");
		goto out;
	}
	if ((r = kb_key_write_private_file_encrypted(k, comment, pass, 0, &priv)) != KB_OK ||
	    (r = kb_key_format_public_line(k, comment, &line)) != KB_OK ||
	    (r = kb_key_fingerprint(k, fp, sizeof(fp))) != KB_OK) {
		rc = kb_fail(ctx, r, "cannot encode key");
		goto out;
	}
	if ((r = kb_write_file_atomic(file, kb_buf_ptr(&priv), kb_buf_remaining(&priv), 0600, !force)) != KB_OK) {
		rc = kb_fail(ctx, r, "%s", file);
		goto out;
	}
	size_t linelen = strlen(line);
	line[linelen] = '\n';
	r = kb_write_file_atomic(pubfile, line, linelen + 1, 0644, !force);
	line[linelen] = '\0';
	if (r != KB_OK) {
		rc = kb_fail(ctx, r, "%s", pubfile);
		unlink(file);
		goto out;
	}
	if (ctx->json) {
		kb_print_json(json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:s}", "file", file, "public_file", pubfile, "type",
				     kb_key_ssh_name(k), "bits", (int)kb_key_bits(k), "fingerprint", fp, "comment",
				     comment, "public_key", line));
	} else if (ctx->verbosity >= 0) {
		printf("Your identification has been saved in %s\n", file);
		printf("Your public key has been saved in %s\n", pubfile);
		printf("The key fingerprint is:\n%s %s\n", fp, comment);
	}
	rc = KB_EXIT_OK;
out:
	kb_buf_done(&priv);
	kb_key_free(k);
	free(pubfile);
	free(line);
	free(defcomment);
	kb_secure_free(filepass);
	return rc;
}

static bool looks_private(const struct kb_buf *b)
{
	const char *p = (const char *)kb_buf_ptr(b);
	size_t n = kb_buf_remaining(b);
	const char *nl = memchr(p, '\n', n);
	size_t first = nl ? (size_t)(nl - p) : n;
	return memmem(p, first, "PRIVATE KEY", 11) != NULL;
}

/* Loads FILE: a private key (its .pub beside it first, as ssh-keygen -l
 * does; the public header of an encrypted key), or a public key file with
 * one key per line.  Calls fn for each key. */
typedef int (*key_fn)(struct kb_ctx *ctx, const char *path, struct kb_key *k, const char *comment, void *arg);

static int load_public_line_file(struct kb_ctx *ctx, const char *path, const struct kb_buf *text, key_fn fn,
				 void *arg, int *count)
{
	const char *p = (const char *)kb_buf_ptr(text), *end = p + kb_buf_remaining(text);
	int r;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = malloc(n + 1);
		if (line == NULL)
			return kb_fail(ctx, KB_ERR_NOMEM, "%s", path);
		memcpy(line, p, n);
		line[n] = '\0';
		p += n + (nl ? 1 : 0);
		const char *s = line + strspn(line, " \t\r");
		if (*s == '\0' || *s == '#') {
			free(line);
			continue;
		}
		struct kb_key *k = NULL;
		char *comment = NULL;
		kb_err_clear_detail();
		r = kb_key_parse_public_line(s, &k, &comment);
		/* authorized_keys lines may start with options: try from each
		 * later word that names a key type. */
		for (const char *q = s; r != KB_OK && (q = strpbrk(q, " \t")) != NULL;) {
			q += strspn(q, " \t");
			if (strncmp(q, "ssh-", 4) == 0 || strncmp(q, "ecdsa-", 6) == 0) {
				free(comment);
				comment = NULL;
				if (kb_key_parse_public_line(q, &k, &comment) == KB_OK)
					r = KB_OK;
			}
		}
		free(line);
		if (r != KB_OK) {
			free(comment);
			return kb_fail(ctx, r, "%s is not a public key file", path);
		}
		r = fn(ctx, path, k, comment, arg);
		kb_key_free(k);
		free(comment);
		if (r != KB_EXIT_OK)
			return r;
		(*count)++;
	}
	return KB_EXIT_OK;
}

static int for_each_key(struct kb_ctx *ctx, const char *path, const char *passphrase, bool want_private_comment,
			key_fn fn, void *arg)
{
	struct kb_buf text;
	struct kb_key *k = NULL;
	char *comment = NULL, *pubpath = NULL;
	int r, rc = KB_EXIT_FAILURE, count = 0;

	kb_buf_init_secure(&text, PUBLIC_FILE_MAX);
	kb_err_clear_detail();
	if ((r = kb_read_file(path, PUBLIC_FILE_MAX, &text)) != KB_OK) {
		rc = kb_fail(ctx, r, "%s", path);
		goto out;
	}
	if (!looks_private(&text)) {
		rc = load_public_line_file(ctx, path, &text, fn, arg, &count);
		if (rc == KB_EXIT_OK && count == 0)
			rc = kb_fail(ctx, KB_ERR_INVALID, "%s is not a public key file", path);
		goto out;
	}
	if (!want_private_comment && (pubpath = kb_asprintf("%s.pub", path)) != NULL) {
		struct kb_buf pub;
		kb_buf_init(&pub, PUBLIC_FILE_MAX);
		if (kb_read_file(pubpath, PUBLIC_FILE_MAX, &pub) == KB_OK) {
			/* Use the .pub only when it holds this key. */
			struct kb_key *pk = NULL, *hk = NULL;
			char *pc = NULL;
			if (kb_buf_put_u8(&pub, 0) == KB_OK &&
			    kb_key_parse_public_line((const char *)kb_buf_ptr(&pub), &pk, &pc) == KB_OK &&
			    kb_key_parse_private_file_public((const char *)kb_buf_ptr(&text), kb_buf_remaining(&text),
							     &hk) == KB_OK &&
			    kb_key_equal_public(pk, hk)) {
				rc = fn(ctx, path, pk, pc, arg);
				kb_key_free(pk);
				kb_key_free(hk);
				free(pc);
				kb_buf_done(&pub);
				goto out;
			}
			kb_key_free(pk);
			kb_key_free(hk);
			free(pc);
		}
		kb_buf_done(&pub);
	}
	kb_err_clear_detail();
	r = kb_key_parse_private_file((const char *)kb_buf_ptr(&text), kb_buf_remaining(&text), passphrase, &k,
				      &comment);
	if (r == KB_ERR_PASSPHRASE && !want_private_comment) {
		kb_err_clear_detail();
		r = kb_key_parse_private_file_public((const char *)kb_buf_ptr(&text), kb_buf_remaining(&text), &k);
	}
	if (r == KB_ERR_PASSPHRASE) {
		rc = kb_fail(ctx, r, "cannot load key \"%s\"%s", path,
			     passphrase == NULL ? " (encrypted: give the passphrase with -P)" : "");
		goto out;
	}
	if (r != KB_OK) {
		rc = kb_fail(ctx, r, "cannot load key \"%s\"", path);
		goto out;
	}
	rc = fn(ctx, path, k, comment, arg);
out:
	kb_buf_done(&text);
	kb_key_free(k);
	kb_free_string(comment);
	free(pubpath);
	return rc;
}

struct print_state {
	json_t *arr;
};

static int print_fingerprint(struct kb_ctx *ctx, const char *path, struct kb_key *k, const char *comment, void *arg)
{
	struct print_state *st = arg;
	char fp[KB_KEY_FP_MAX];
	int r;

	if ((r = kb_key_fingerprint(k, fp, sizeof(fp))) != KB_OK)
		return kb_fail(ctx, r, "%s", path);
	if (comment == NULL || comment[0] == '\0')
		comment = NULL;
	if (ctx->json) {
		json_array_append_new(st->arr, json_pack("{s:s,s:i,s:s,s:s?,s:s,s:b}", "file", path, "bits",
							 (int)kb_key_bits(k), "fingerprint", fp, "comment", comment,
							 "type", kb_key_ssh_name(k), "certificate", kb_key_is_cert(k)));
	} else {
		printf("%u %s %s (%s)\n", kb_key_bits(k), fp, comment ? comment : "no comment", kb_key_type_label(k));
	}
	return KB_EXIT_OK;
}

static void print_collected(json_t *arr)
{
	if (json_array_size(arr) == 1)
		kb_print_json(json_incref(json_array_get(arr, 0)));
	else
		kb_print_json(json_incref(arr));
}

static int cmd_fingerprint(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	const char *file = NULL, *hash = "sha256";
	struct print_state st = { NULL };
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+E:f:lh", opts, NULL)) != -1) {
		switch (c) {
		case 'E': hash = optarg; break;
		case 'f': file = optarg; break;
		case 'l': break;
		case 'h': key_usage(stdout); return KB_EXIT_OK;
		default: key_usage(stderr); return KB_EXIT_USAGE;
		}
	}
	if (file == NULL && optind < argc)
		file = argv[optind++];
	if (optind != argc || file == NULL)
		return kb_usage_error(ctx, "usage: broker key fingerprint [-E sha256] FILE");
	if (strcasecmp(hash, "sha256") != 0)
		return kb_usage_error(ctx, "unsupported fingerprint hash '%s' (only sha256)", hash);
	st.arr = json_array();
	rc = for_each_key(ctx, file, NULL, false, print_fingerprint, &st);
	if (rc == KB_EXIT_OK && ctx->json)
		print_collected(st.arr);
	json_decref(st.arr);
	return rc;
}

static int print_public(struct kb_ctx *ctx, const char *path, struct kb_key *k, const char *comment, void *arg)
{
	struct print_state *st = arg;
	char *line = NULL, fp[KB_KEY_FP_MAX];
	int r;

	if ((r = kb_key_format_public_line(k, comment, &line)) != KB_OK ||
	    (r = kb_key_fingerprint(k, fp, sizeof(fp))) != KB_OK) {
		free(line);
		return kb_fail(ctx, r, "%s", path);
	}
	if (ctx->json)
		json_array_append_new(st->arr, json_pack("{s:s,s:s,s:s,s:s?,s:s}", "file", path, "type",
							 kb_key_ssh_name(k), "fingerprint", fp, "comment",
							 comment && comment[0] ? comment : NULL, "public_key", line));
	else
		printf("%s\n", line);
	free(line);
	return KB_EXIT_OK;
}

static int cmd_public(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "passphrase-file", required_argument, NULL, 'p' },
					       { "help", no_argument, NULL, 'h' },
					       { NULL, 0, NULL, 0 } };
	const char *file = NULL, *pass = NULL, *passfile = NULL;
	char *filepass = NULL;
	struct print_state st = { NULL };
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+P:f:yh", opts, NULL)) != -1) {
		switch (c) {
		case 'P': pass = optarg; break;
		case 'p': passfile = optarg; break;
		case 'f': file = optarg; break;
		case 'y': break;
		case 'h': key_usage(stdout); return KB_EXIT_OK;
		default: key_usage(stderr); return KB_EXIT_USAGE;
		}
	}
	if (file == NULL && optind < argc)
		file = argv[optind++];
	if (optind != argc || file == NULL)
		return kb_usage_error(ctx, "usage: broker key public [-P PASSPHRASE | --passphrase-file F] FILE");
	if (pass != NULL && passfile != NULL)
		return kb_usage_error(ctx, "give -P or --passphrase-file, not both");
	if (passfile != NULL) {
		kb_err_clear_detail();
		if ((rc = read_passphrase_file(passfile, &filepass)) != KB_OK)
			return kb_fail(ctx, rc, "%s", passfile);
		pass = filepass;
	}
	st.arr = json_array();
	rc = for_each_key(ctx, file, pass, true, print_public, &st);
	kb_secure_free(filepass);
	if (rc == KB_EXIT_OK && ctx->json)
		print_collected(st.arr);
	json_decref(st.arr);
	return rc;
}

int cmd_key(struct kb_ctx *ctx, int argc, char **argv)
{
	if (argc < 2) {
		key_usage(stderr);
		return KB_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		key_usage(stdout);
		return KB_EXIT_OK;
	}
	if (strcmp(argv[1], "generate") == 0 || strcmp(argv[1], "gen") == 0)
		return cmd_generate(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "fingerprint") == 0 || strcmp(argv[1], "fp") == 0)
		return cmd_fingerprint(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "public") == 0)
		return cmd_public(ctx, argc - 1, argv + 1);
	fprintf(stderr, "broker: key: unknown subcommand '%s' (generate, fingerprint, public)\n", argv[1]);
	return KB_EXIT_USAGE;
}
