#include "certtool_io.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/util.h"
#include "ctx.h"

#define CERT_SUFFIX "-cert-v01@openssh.com"

int ct_read_text(const char *path, size_t max, char **ret)
{
	struct kb_buf b;
	int r;

	*ret = NULL;
	kb_buf_init(&b, max + 1);
	if ((r = kb_read_file(path, max, &b)) != 0)
		goto out;
	if (b.len > 0 && memchr(b.data, '\0', b.len) != NULL) {
		r = kb_err_set(KB_ERR_INVALID, "%s: binary data in a text file", path);
		goto out;
	}
	if ((*ret = malloc(b.len + 1)) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	if (b.len)
		memcpy(*ret, b.data, b.len);
	(*ret)[b.len] = '\0';
out:
	kb_buf_done(&b);
	return r;
}

int ct_each_line(char *text, ct_line_fn fn, void *arg)
{
	unsigned lnum = 0;
	char *p = text;

	while (p != NULL && *p != '\0') {
		char *nl = strchr(p, '\n');
		if (nl != NULL)
			*nl = '\0';
		lnum++;
		size_t n = strlen(p);
		if (n > 0 && p[n - 1] == '\r')
			p[--n] = '\0';
		const char *s = p + strspn(p, " \t");
		if (*s != '\0' && *s != '#') {
			int r = fn(arg, s, lnum);
			if (r != 0)
				return r;
		}
		p = nl ? nl + 1 : NULL;
	}
	return KB_OK;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

int ct_parse_line(const char *line, struct kb_key **ret_key, struct kb_cert **ret_cert, char **ret_comment)
{
	struct kb_cert *c = NULL;
	struct kb_key *k = NULL;
	struct kb_buf blob;
	char *comment = NULL;
	int r;

	*ret_key = NULL;
	*ret_cert = NULL;
	if (ret_comment)
		*ret_comment = NULL;
	const char *type = line + strspn(line, " \t");
	size_t tn = strcspn(type, " \t");
	if (!ends_with(type, tn, CERT_SUFFIX)) {
		if ((r = kb_key_parse_public_line(type, &k, ret_comment ? &comment : NULL)) != 0)
			return r;
		if (kb_key_is_cert(k)) { /* the key module parsed a certificate name we did not */
			kb_key_free(k);
			free(comment);
			return kb_err_set(KB_ERR_UNSUPPORTED, "unexpected certificate type %.*s", (int)tn, type);
		}
		*ret_key = k;
		if (ret_comment)
			*ret_comment = comment;
		return KB_OK;
	}
	const char *b64 = type + tn;
	b64 += strspn(b64, " \t");
	size_t bn = strcspn(b64, " \t");
	if (bn == 0)
		return kb_err_set(KB_ERR_INVALID, "certificate line has no key data");
	if (bn > 4 * (KB_KEY_BLOB_MAX / 3) + 4)
		return kb_err_set(KB_ERR_TOO_LARGE, "certificate larger than %u bytes", KB_KEY_BLOB_MAX);
	kb_buf_init(&blob, KB_KEY_BLOB_MAX);
	if ((r = kb_buf_put_from_base64(&blob, b64, bn)) != 0) {
		r = kb_err_set(r, "certificate is not valid base64");
		goto out;
	}
	if ((r = kb_cert_parse(blob.data, blob.len, &c)) != 0)
		goto out;
	if (strlen(kb_cert_type_name(c)) != tn || memcmp(kb_cert_type_name(c), type, tn) != 0) {
		r = kb_err_set(KB_ERR_INVALID, "certificate type %.*s does not match its contents (%s)", (int)tn,
			       type, kb_cert_type_name(c));
		goto out;
	}
	if ((r = kb_cert_verify(c)) != 0)
		goto out;
	if ((r = kb_key_dup_public(c->key, &k)) != 0)
		goto out;
	kb_key_drop_cert(k);
	if (ret_comment) {
		const char *cm = b64 + bn;
		cm += strspn(cm, " \t");
		if ((comment = kb_strdup(cm)) == NULL) {
			r = KB_ERR_NOMEM;
			goto out;
		}
		*ret_comment = comment;
		comment = NULL;
	}
	*ret_key = k;
	*ret_cert = c;
	k = NULL;
	c = NULL;
out:
	kb_buf_done(&blob);
	kb_cert_free(c);
	kb_key_free(k);
	free(comment);
	return r;
}

struct first_key {
	struct kb_key *key;
	char *comment;
	int err;
};

static int take_first(void *arg, const char *line, unsigned lnum)
{
	struct first_key *f = arg;
	struct kb_cert *c = NULL;
	(void)lnum;
	f->err = ct_parse_line(line, &f->key, &c, &f->comment);
	kb_cert_free(c);
	return 1; /* only the first key line */
}

int ct_load_public(const char *path, struct kb_key **ret_key, char **ret_comment)
{
	struct first_key f = { NULL, NULL, KB_ERR_NOT_FOUND };
	char *text = NULL;
	int r;

	*ret_key = NULL;
	if (ret_comment)
		*ret_comment = NULL;
	if ((r = ct_read_text(path, CT_TEXT_MAX, &text)) != 0)
		return r;
	if (strncmp(text, "-----BEGIN", 10) == 0) {
		/* A private key file: use its .pub like ssh-keygen. */
		free(text);
		char *pub = kb_asprintf("%s.pub", path);
		if (pub == NULL)
			return KB_ERR_NOMEM;
		r = ct_load_public(pub, ret_key, ret_comment);
		free(pub);
		return r;
	}
	ct_each_line(text, take_first, &f);
	free(text);
	if (f.err == KB_ERR_NOT_FOUND)
		return kb_err_set(KB_ERR_INVALID, "%s: no public key in the file", path);
	if (f.err != 0)
		return f.err;
	*ret_key = f.key;
	if (ret_comment)
		*ret_comment = f.comment;
	else
		free(f.comment);
	return KB_OK;
}

int ct_load_private(const char *path, const char *passphrase, struct kb_key **ret_key)
{
	struct kb_buf b;
	int r;

	*ret_key = NULL;
	kb_buf_init_secure(&b, KB_KEY_PRIVATE_FILE_MAX + 1);
	if ((r = kb_read_file(path, KB_KEY_PRIVATE_FILE_MAX, &b)) == 0)
		r = kb_key_parse_private_file((const char *)b.data, b.len, passphrase, ret_key, NULL);
	kb_buf_done(&b);
	return r;
}

int ct_bad_option(struct kb_ctx *ctx, const char *cmd, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";
	if (optopt != 0 && optopt < 256 && arg[0] == '-' && arg[1] != '-')
		return kb_usage_error(ctx, "%s: unknown option or missing value: -%c (see --help)", cmd, optopt);
	return kb_usage_error(ctx, "%s: unknown option or missing value: %s (see --help)", cmd, arg);
}
