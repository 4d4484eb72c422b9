/* Public key authentication: a private key in memory or an ssh-agent,
 * both through libssh2_userauth_publickey with our own sign callback (the
 * agent is reached with lib/agent's client, which can ask for rsa-sha2
 * signatures; libssh2 1.10's own agent code cannot). */
#include <stdlib.h>
#include <string.h>

#include "agent/client.h"
#include "agent/proto.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "ssh/key.h"
#include "sshc/sshc_priv.h"

struct sign_ctx {
	struct kb_sshc *c;
	const struct kb_key *key;        /* in-memory private key */
	struct kb_agent_client *agent;   /* or: the agent and its public key */
	const struct kb_key *agent_key;
	int err;
};

/* The algorithm name inside the data libssh2 asks us to sign (RFC 4252 7:
 * session id, byte 50, user, service, "publickey", TRUE, alg, blob). */
static int sign_data_alg(const unsigned char *data, size_t len, char **ret)
{
	struct kb_buf b;
	const uint8_t *p;
	size_t n;
	uint8_t u8;
	int r;

	/* Only ever sign a publickey user authentication request. */
	kb_buf_init_ro(&b, data, len);
	if ((r = kb_buf_get_string_direct(&b, &p, &n)) != 0 || (r = kb_buf_get_u8(&b, &u8)) != 0)
		return r;
	if (u8 != 50) /* SSH_MSG_USERAUTH_REQUEST */
		return kb_err_set(KB_ERR_INVALID, "refusing to sign something other than a login request");
	if ((r = kb_buf_get_string_direct(&b, &p, &n)) != 0 || (r = kb_buf_get_string_direct(&b, &p, &n)) != 0)
		return r;
	if (n != 14 || memcmp(p, "ssh-connection", 14) != 0)
		return kb_err_set(KB_ERR_INVALID, "refusing to sign a request for another service");
	if ((r = kb_buf_get_string_direct(&b, &p, &n)) != 0)
		return r;
	if (n != 9 || memcmp(p, "publickey", 9) != 0 || (r = kb_buf_get_u8(&b, &u8)) != 0 || u8 != 1)
		return kb_err_set(KB_ERR_INVALID, "refusing to sign a request that is not publickey");
	return kb_buf_get_cstring(&b, ret);
}

static int sign_cb(LIBSSH2_SESSION *session, unsigned char **sig, size_t *sig_len, const unsigned char *data,
		   size_t data_len, void **abstract)
{
	struct sign_ctx *ctx = *abstract;
	struct kb_buf out, view;
	char *alg = NULL, *got_alg = NULL;
	const uint8_t *raw;
	size_t rawlen;
	int r;

	(void)session;
	*sig = NULL;
	*sig_len = 0;
	kb_buf_init(&out, 64 * 1024);
	if ((r = sign_data_alg(data, data_len, &alg)) != 0)
		goto out;
	/* The signature algorithm: the offered name without a certificate
	 * suffix ("rsa-sha2-512" for the RSA blobs auth_blob writes). */
	{
		const char *suffix = strstr(alg, "-cert-v01@openssh.com");
		if (suffix != NULL)
			alg[suffix - alg] = '\0';
	}
	if (ctx->key != NULL) {
		r = kb_key_sign(ctx->key, data, data_len, kb_key_type(ctx->key) == KB_KEY_RSA ? alg : NULL, &out);
	} else {
		uint32_t flags = 0;
		if (strcmp(alg, "rsa-sha2-512") == 0)
			flags = KB_AGENT_RSA_SHA2_512;
		else if (strcmp(alg, "rsa-sha2-256") == 0)
			flags = KB_AGENT_RSA_SHA2_256;
		r = kb_agent_sign(ctx->agent, ctx->agent_key, data, data_len, flags, &out);
	}
	if (r != 0)
		goto out;
	/* string(alg) string(signature): libssh2 wants the inner bytes. */
	kb_buf_init_ro(&view, out.data, out.len);
	if ((r = kb_buf_get_cstring(&view, &got_alg)) != 0 || (r = kb_buf_get_string_direct(&view, &raw, &rawlen)) != 0)
		goto out;
	if (strcmp(got_alg, alg) != 0) {
		r = kb_err_set(KB_ERR_SIGNATURE, "signer returned a %s signature for %s", got_alg, alg);
		goto out;
	}
	*sig = malloc(rawlen);
	if (*sig == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	memcpy(*sig, raw, rawlen);
	*sig_len = rawlen;
	r = 0;
out:
	if (r != 0)
		ctx->err = r;
	free(alg);
	free(got_alg);
	kb_buf_done(&out);
	return r == 0 ? 0 : -1;
}

/* The public key blob to offer.  libssh2 1.10 names the signature
 * algorithm after the blob's type string and knows nothing of RFC 8332,
 * so an RSA key would be offered as "ssh-rsa" (SHA-1), which OpenSSH 8.8+
 * refuses.  Writing the blob with the type string "rsa-sha2-512" makes
 * libssh2 send that algorithm name; OpenSSH maps that name to an RSA key
 * when it parses the blob, and our callback signs with SHA-512. */
static int auth_blob(const struct kb_key *k, bool plain_only, struct kb_buf *out)
{
	struct kb_buf plain, view;
	const uint8_t *p;
	size_t n;
	bool cert = kb_key_is_cert(k) && !plain_only;
	int r;

	if (kb_key_type(k) != KB_KEY_RSA)
		return cert ? kb_key_public_blob(k, out) : kb_key_plain_blob(k, out);
	/* The CA's signature covers a certificate's type string, so an RSA
	 * certificate cannot be renamed: with libssh2 1.10 it could only be
	 * offered as ssh-rsa-cert-v01 (SHA-1), which OpenSSH 8.8+ refuses. */
	if (cert)
		return KB_ERR_UNSUPPORTED;
	kb_buf_init(&plain, KB_KEY_BLOB_MAX);
	if ((r = cert ? kb_key_public_blob(k, &plain) : kb_key_plain_blob(k, &plain)) != 0)
		goto out;
	kb_buf_init_ro(&view, plain.data, plain.len);
	if ((r = kb_buf_get_string_direct(&view, &p, &n)) != 0)
		goto out;
	if ((r = kb_buf_put_cstring(out, "rsa-sha2-512")) != 0 ||
	    (r = kb_buf_put(out, kb_buf_ptr(&view), kb_buf_remaining(&view))) != 0)
		goto out;
out:
	kb_buf_done(&plain);
	return r;
}

/* One publickey attempt: 0 success, KB_ERR_AUTH refused, other errors. */
static int try_publickey(struct kb_sshc *c, struct sign_ctx *ctx, const struct kb_key *pub, int64_t deadline)
{
	struct kb_buf blob;
	void *abstract = ctx;
	int rc, r;

	kb_buf_init(&blob, KB_KEY_BLOB_MAX);
	/* An in-memory key is offered as the plain key (what authorized_keys
	 * lists); agent identities as the agent holds them. */
	if ((r = auth_blob(pub, ctx->key != NULL, &blob)) != 0)
		goto out;
	ctx->err = 0;
	while ((rc = libssh2_userauth_publickey(c->s, c->t.user, blob.data, blob.len, sign_cb, &abstract)) ==
	       LIBSSH2_ERROR_EAGAIN) {
		if ((r = kb_sshc_wait(c, deadline, "during authentication")) != 0) {
			c->broken = true;
			goto out;
		}
	}
	if (rc == 0)
		r = 0;
	else if (ctx->err != 0)
		r = ctx->err;
	else if (rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED || rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED)
		r = KB_ERR_AUTH;
	else
		r = kb_sshc_lib_error(c, rc, "authentication");
out:
	kb_buf_done(&blob);
	return r;
}

int kb_sshc_auth_key(struct kb_sshc *c, const struct kb_key *key, int64_t deadline)
{
	struct sign_ctx ctx = {.c = c, .key = key};
	char fp[KB_KEY_FP_MAX] = "?";
	int r;

	if (!kb_key_is_private(key))
		return kb_err_set(KB_ERR_ARGS, "%s: the key given for authentication has no private half", c->name);
	r = try_publickey(c, &ctx, key, deadline);
	if (r == KB_ERR_AUTH) {
		kb_key_fingerprint(key, fp, sizeof(fp));
		return kb_err_set(KB_ERR_AUTH, "%s: permission denied (publickey): the server did not accept %s key %s",
				  c->name, kb_key_type_label(key), fp);
	}
	if (r != 0 && r != KB_ERR_TIMEOUT && ctx.err != 0)
		return kb_err_set(r, "%s: signing for authentication failed: %s", c->name, kb_err_str(r));
	return r;
}

static bool is_ecdsa(enum kb_key_type t)
{
	return t == KB_KEY_ECDSA_P256 || t == KB_KEY_ECDSA_P384 || t == KB_KEY_ECDSA_P521;
}

int kb_sshc_auth_agent(struct kb_sshc *c, const char *sock, const struct kb_key *pin, int64_t deadline)
{
	struct kb_agent_client *ag = NULL;
	struct kb_agent_identities ids = {0};
	struct sign_ctx ctx = {.c = c};
	struct kb_buf pinblob;
	char fp[KB_KEY_FP_MAX] = "?";
	unsigned tried = 0;
	int r;

	kb_buf_init(&pinblob, KB_KEY_BLOB_MAX);
	if (pin != NULL) {
		if ((r = kb_key_plain_blob(pin, &pinblob)) != 0)
			goto out;
		kb_key_fingerprint(pin, fp, sizeof(fp));
	}
	/* An unusable agent means missing credentials: KB_ERR_AUTH. */
	if ((r = kb_agent_connect(sock, &ag)) != 0) {
		char why[512];
		kb_strlcpy(why, kb_err_detail(), sizeof(why));
		r = kb_err_set(KB_ERR_AUTH, "%s: cannot use the agent at %s: %s", c->name, sock,
			       why[0] ? why : kb_err_str(r));
		goto out;
	}
	if ((r = kb_agent_list(ag, &ids)) != 0) {
		r = kb_err_set(KB_ERR_AUTH, "%s: cannot list the keys of the agent at %s: %s", c->name, sock,
			       kb_err_str(r));
		goto out;
	}
	ctx.agent = ag;
	r = KB_ERR_AUTH;
	for (size_t i = 0; i < ids.n; i++) {
		struct kb_agent_identity_info *id = &ids.v[i];

		if (id->key == NULL)
			continue;
		if (kb_key_is_cert(id->key) && !is_ecdsa(kb_key_type(id->key))) {
			/* libssh2 1.10 labels the signature with the certificate's
			 * name; OpenSSH wants the plain name and refuses it.  Only
			 * for ECDSA certificates does libssh2 use the plain name. */
			kb_debug("%s: skipping the agent's %s certificate (libssh2 1.10 signs certificates other "
				 "than ECDSA wrongly)", c->name, kb_key_type_label(id->key));
			continue;
		}
		if (pin != NULL && (id->blob_len != pinblob.len || memcmp(id->blob, pinblob.data, pinblob.len) != 0))
			continue;
		tried++;
		ctx.agent_key = id->key;
		r = try_publickey(c, &ctx, id->key, deadline);
		if (r != KB_ERR_AUTH)
			break;
	}
	if (r == 0)
		goto out;
	if (r == KB_ERR_AUTH) {
		if (pin != NULL && tried == 0)
			r = kb_err_set(KB_ERR_AUTH, "%s: the agent at %s does not hold the key %s (add it with ssh-add)",
				       c->name, sock, fp);
		else if (pin != NULL)
			r = kb_err_set(KB_ERR_AUTH,
				       "%s: permission denied (publickey): the server did not accept the agent's key %s",
				       c->name, fp);
		else
			r = kb_err_set(KB_ERR_AUTH,
				       "%s: permission denied (publickey): the server accepted none of the %u keys in the "
				       "agent at %s",
				       c->name, tried, sock);
	} else if (ctx.err != 0 && r != KB_ERR_TIMEOUT) {
		r = kb_err_set(r, "%s: the agent did not sign: %s", c->name, kb_err_str(r));
	}
out:
	kb_agent_identities_done(&ids);
	kb_agent_close(ag);
	kb_buf_done(&pinblob);
	return r;
}
