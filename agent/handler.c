/* The pure request -> reply function (see handler.h).  Behaviour follows
 * OpenSSH's ssh-agent so that its regression suite and clients see no
 * difference; comments say where we are stricter. */
#include "handler.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "cert/cert.h"
#include "destcon.h"
#include "ssh/key.h"

void kb_agent_ctx_init(struct kb_agent_ctx *ctx, struct kb_agent_keystore *ks)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->ks = ks;
	ctx->replace_grace_ms = KB_AGENT_REPLACE_GRACE_MS;
	pthread_mutex_init(&ctx->lock_mu, NULL);
}

void kb_agent_ctx_done(struct kb_agent_ctx *ctx)
{
	kb_wipe(ctx->lock_hash, sizeof(ctx->lock_hash));
	pthread_mutex_destroy(&ctx->lock_mu);
}

void kb_agent_conn_init(struct kb_agent_conn *c, unsigned long id)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
}

void kb_agent_conn_done(struct kb_agent_conn *c)
{
	for (size_t i = 0; i < c->nbind; i++) {
		kb_key_free(c->bind[i].hostkey);
		free(c->bind[i].sid);
	}
	c->nbind = 0;
}

static int put_status(struct kb_buf *reply, bool ok)
{
	return kb_buf_put_u8(reply, ok ? KB_AGENT_SUCCESS : KB_AGENT_FAILURE);
}

int64_t kb_agent_death(const struct kb_agent_ctx *ctx, uint32_t lifetime, uint64_t valid_before)
{
	int64_t now = ctx->now_mono_ms(), death = 0;

	if (lifetime != 0)
		death = now + (int64_t)lifetime * 1000;
	if (valid_before != 0 && valid_before != KB_CERT_VALID_FOREVER) {
		int64_t real = ctx->now_real();
		if (valid_before > (uint64_t)INT64_MAX / 2 )
			return death;
		if ((int64_t)valid_before <= real)
			return -1;
		int64_t cert_death = now + ((int64_t)valid_before - real) * 1000;
		if (death == 0 || cert_death < death)
			death = cert_death;
	}
	return death;
}

/* The current snapshot with nothing expired in it. */
static struct kb_agent_table *live_table(struct kb_agent_ctx *ctx)
{
	struct kb_agent_table *t = kb_agent_keystore_acquire(ctx->ks);
	if (t->next_death != 0 || t->next_cert_end != 0) {
		int64_t now = ctx->now_mono_ms(), real = ctx->now_real();
		if (kb_agent_table_has_expired(t, now, real)) {
			kb_agent_table_release(t);
			if (kb_agent_keystore_expire(ctx->ks, now, real) > 0)
				kb_debug("expired identities removed");
			t = kb_agent_keystore_acquire(ctx->ks);
		}
	}
	return t;
}

static bool identity_usable(struct kb_agent_ctx *ctx, const struct kb_agent_identity *id)
{
	if (id->death != 0 && id->death <= ctx->now_mono_ms())
		return false;
	if (id->is_cert && id->valid_before != KB_CERT_VALID_FOREVER &&
	    (uint64_t)ctx->now_real() >= id->valid_before)
		return false;
	return true;
}

/* MD5 as hex pairs, SHA1 as unpadded base64 (ssh-keygen -E formats). */
static int other_fingerprint(const struct kb_key *k, int hash, char *out, size_t n)
{
	struct kb_buf b, enc;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int r = -1;

	kb_buf_init(&b, KB_KEY_BLOB_MAX);
	kb_buf_init(&enc, 256);
	if (n < 64 || kb_key_plain_blob(k, &b) != 0 ||
	    EVP_Digest(kb_buf_ptr(&b), kb_buf_remaining(&b), md, &mdlen, hash == KB_AGENT_FP_MD5 ? EVP_md5() : EVP_sha1(),
		       NULL) != 1)
		goto out;
	if (hash == KB_AGENT_FP_MD5) {
		size_t o = (size_t)snprintf(out, n, "MD5");
		for (unsigned i = 0; i < mdlen && o < n; i++)
			o += (size_t)snprintf(out + o, n - o, ":%02x", md[i]);
	} else {
		if (kb_buf_put_base64(&enc, md, mdlen) != 0 || kb_buf_put_u8(&enc, 0) != 0)
			goto out;
		char *s = (char *)enc.data;
		s[strcspn(s, "=")] = '\0';
		snprintf(out, n, "SHA1:%s", s);
	}
	r = 0;
out:
	kb_buf_done(&b);
	kb_buf_done(&enc);
	return r;
}

void kb_agent_fingerprint(const struct kb_agent_ctx *ctx, const struct kb_key *k, char *out, size_t n)
{
	if (ctx->fp_hash != KB_AGENT_FP_SHA256 && other_fingerprint(k, ctx->fp_hash, out, n) == 0)
		return;
	if (kb_key_fingerprint(k, out, n) != 0)
		kb_strlcpy(out, "(unknown)", n);
}

static int handle_list(struct kb_agent_ctx *ctx, struct kb_agent_conn *conn, struct kb_buf *reply)
{
	struct kb_agent_table *t = live_table(ctx);
	int r;

	if (conn->nbind == 0) {
		/* Local use: every identity is visible; send the cached answer. */
		r = kb_buf_put(reply, kb_buf_ptr(&t->list_reply), kb_buf_remaining(&t->list_reply));
		kb_agent_table_release(t);
		return r;
	}
	size_t at = reply->len;
	uint32_t n = 0;
	if ((r = kb_buf_put_u8(reply, KB_AGENT_IDENTITIES_ANSWER)) != 0 || (r = kb_buf_put_u32(reply, 0)) != 0)
		goto out;
	for (size_t i = 0; i < t->n; i++) {
		struct kb_agent_identity *id = t->ids[i];
		if (kb_agent_identity_permitted(ctx, id, conn, NULL) != 0)
			continue;
		if ((r = kb_buf_put_stringb(reply, &id->blob)) != 0 ||
		    (r = kb_buf_put_cstring(reply, id->comment)) != 0)
			goto out;
		n++;
	}
	r = kb_buf_patch_u32(reply, at + 1, n);
	kb_debug("conn %lu: listed %u of %zu identities", conn->id, n, t->n);
out:
	kb_agent_table_release(t);
	return r;
}

static const char *rsa_alg(uint32_t flags)
{
	if (flags & KB_AGENT_RSA_SHA2_256)
		return "rsa-sha2-256";
	if (flags & KB_AGENT_RSA_SHA2_512)
		return "rsa-sha2-512";
	return "ssh-rsa";
}

/* A certificate is never kept past its valid_before, but its key may still
 * be held: a signature "with the certificate" is made by that key alone, so
 * a request naming a certificate we do not hold is served by the plain key
 * (with the plain identity's own constraints).  ssh-keygen -Y sign with an
 * expired certificate relies on this (OpenSSH's sshsig regress test). */
static struct kb_agent_identity *find_cert_key(const struct kb_agent_table *t, const struct kb_agent_conn *conn,
					       const uint8_t *blob, size_t len)
{
	struct kb_key *k = NULL;
	struct kb_buf plain;
	struct kb_agent_identity *id = NULL;

	if (t->n == 0 || kb_key_from_blob(blob, len, &k) != 0)
		return NULL;
	kb_buf_init(&plain, KB_KEY_BLOB_MAX);
	if (kb_key_is_cert(k) && kb_key_plain_blob(k, &plain) == 0) {
		id = kb_agent_table_find(t, kb_buf_ptr(&plain), kb_buf_remaining(&plain));
		if (id != NULL)
			kb_debug("conn %lu: certificate not held, signing with its key", conn->id);
	}
	kb_buf_done(&plain);
	kb_key_free(k);
	return id;
}

static int handle_sign(struct kb_agent_ctx *ctx, struct kb_agent_conn *conn, struct kb_buf *m,
		       struct kb_buf *reply)
{
	const uint8_t *blob, *data;
	size_t blob_len, data_len;
	uint32_t flags;
	struct kb_agent_table *t = NULL;
	struct kb_agent_identity *id;
	char fp[KB_KEY_FP_MAX], *sig_dest = NULL;
	bool ok = false;
	int r;

	if ((r = kb_buf_get_string_direct(m, &blob, &blob_len)) != 0 ||
	    (r = kb_buf_get_string_direct(m, &data, &data_len)) != 0 ||
	    (r = kb_buf_get_u32(m, &flags)) != 0 || (r = kb_buf_expect_end(m)) != 0) {
		kb_debug("conn %lu: malformed sign request: %s", conn->id, kb_err_str(r));
		return put_status(reply, false);
	}
	t = live_table(ctx);
	if ((id = kb_agent_table_find(t, blob, blob_len)) == NULL &&
	    (id = kb_agent_table_find_retired(t, blob, blob_len, ctx->now_mono_ms(), ctx->now_real())) != NULL)
		kb_debug("conn %lu: signing with a replaced identity (within its grace period)", conn->id);
	if (id == NULL)
		id = find_cert_key(t, conn, blob, blob_len);
	if (id == NULL || !identity_usable(ctx, id)) {
		kb_debug("conn %lu: sign request for a key the agent does not hold", conn->id);
		goto send;
	}
	kb_agent_fingerprint(ctx, id->key, fp, sizeof(fp));
	if (id->ndcs != 0 && kb_agent_check_sign_destination(ctx, id, conn, data, data_len, &sig_dest) != 0)
		goto send;
	if (id->confirm) {
		char *prompt = kb_asprintf("Allow use of key %s?\nKey fingerprint %s.%s%s", id->comment, fp,
					   sig_dest ? "\n" : "", sig_dest ? sig_dest : "");
		bool allowed = prompt != NULL && ctx->confirm != NULL && ctx->confirm(ctx->confirm_arg, prompt);
		free(prompt);
		if (!allowed) {
			kb_info("conn %lu: user refused use of key %s", conn->id, fp);
			goto send;
		}
	}
	const char *alg = kb_key_type(id->key) == KB_KEY_RSA ? rsa_alg(flags) : NULL;
	size_t at = reply->len;
	if ((r = kb_buf_put_u8(reply, KB_AGENT_SIGN_RESPONSE)) != 0 || (r = kb_buf_put_u32(reply, 0)) != 0)
		goto send;
	size_t start = reply->len;
	if ((r = kb_key_sign(id->key, data, data_len, alg, reply)) != 0) {
		kb_info("conn %lu: signing with %s failed: %s", conn->id, fp, kb_err_str(r));
		reply->len = at;
		goto send;
	}
	if ((r = kb_buf_patch_u32(reply, start - 4, (uint32_t)(reply->len - start))) != 0) {
		reply->len = at;
		goto send;
	}
	kb_debug("conn %lu: signed %zu bytes with %s %s", conn->id, data_len, kb_key_ssh_name(id->key), fp);
	ok = true;
send:
	free(sig_dest);
	kb_agent_table_release(t);
	return ok ? 0 : put_status(reply, false);
}

/* Parses an add-identity body (private key, comment, constraints) into a
 * new identity.  Returns 0 or a kb_err; on error nothing is returned. */
static int parse_add(struct kb_agent_ctx *ctx, struct kb_agent_conn *conn, struct kb_buf *m,
		     struct kb_agent_identity **ret)
{
	struct kb_agent_identity *id = kb_agent_identity_new();
	bool have_life = false;
	uint32_t life = 0;
	int r;

	*ret = NULL;
	if (id == NULL)
		return KB_ERR_NOMEM;
	if ((r = kb_key_private_deserialize(m, &id->key)) != 0) {
		kb_debug("conn %lu: cannot decode private key: %s", conn->id, kb_err_str(r));
		goto out;
	}
	if ((r = kb_buf_get_cstring(m, &id->comment)) != 0)
		goto out;
	if (!kb_key_is_private(id->key)) {
		r = KB_ERR_INVALID;
		goto out;
	}
	while (kb_buf_remaining(m) > 0) {
		uint8_t ctype;
		if ((r = kb_buf_get_u8(m, &ctype)) != 0)
			goto out;
		switch (ctype) {
		case KB_AGENT_CONSTRAIN_LIFETIME:
			if (have_life) {
				r = KB_ERR_INVALID;
				goto out;
			}
			if ((r = kb_buf_get_u32(m, &life)) != 0)
				goto out;
			have_life = true;
			break;
		case KB_AGENT_CONSTRAIN_CONFIRM:
			if (id->confirm) {
				r = KB_ERR_INVALID;
				goto out;
			}
			id->confirm = true;
			break;
		case KB_AGENT_CONSTRAIN_EXTENSION: {
			char *name = NULL;
			if ((r = kb_buf_get_cstring(m, &name)) != 0)
				goto out;
			if (strcmp(name, KB_AGENT_CONSTRAINT_RESTRICT_DEST) == 0 && id->dcs == NULL) {
				free(name);
				if ((r = kb_agent_parse_destcons(m, &id->dcs, &id->ndcs)) != 0)
					goto out;
				break;
			}
			kb_debug("conn %lu: refusing unsupported constraint \"%s\"", conn->id, name);
			free(name);
			r = KB_ERR_UNSUPPORTED;
			goto out;
		}
		default:
			/* maxsign is for XMSS keys, which we do not support. */
			kb_debug("conn %lu: refusing unsupported constraint %u", conn->id, ctype);
			r = KB_ERR_UNSUPPORTED;
			goto out;
		}
	}
	if (!have_life)
		life = ctx->default_lifetime;
	id->lifetime = life;
	if ((r = kb_key_public_blob(id->key, &id->blob)) != 0)
		goto out;
	if (kb_key_is_cert(id->key)) {
		const struct kb_cert *c = kb_key_cert(id->key);
		id->is_cert = true;
		id->valid_after = c->valid_after;
		id->valid_before = c->valid_before;
	}
	id->death = kb_agent_death(ctx, life, id->is_cert ? id->valid_before : 0);
	if (id->death < 0) {
		kb_info("conn %lu: refusing a certificate that has already expired", conn->id);
		r = KB_ERR_EXPIRED;
		goto out;
	}
	*ret = id;
	id = NULL;
	r = KB_OK;
out:
	kb_agent_identity_unref(id);
	return r;
}

static void log_added(struct kb_agent_ctx *ctx, struct kb_agent_conn *conn, const struct kb_agent_identity *id,
		      const char *what)
{
	char fp[KB_KEY_FP_MAX];
	kb_agent_fingerprint(ctx, id->key, fp, sizeof(fp));
	kb_debug("conn %lu: %s %s %s \"%s\" (life: %u) (confirm: %d) (destination constraints: %zu)", conn->id,
		 what, kb_key_ssh_name(id->key), fp, id->comment, id->lifetime, id->confirm, id->ndcs);
}

static int handle_add(struct kb_agent_ctx *ctx, struct kb_agent_conn *conn, struct kb_buf *m,
		      struct kb_buf *reply)
{
	struct kb_agent_identity *id;
	int r;

	if ((r = parse_add(ctx, conn, m, &id)) != 0)
		return put_status(reply, false);
	/* An existing identity that this connection may not see is not
	 * updated (as OpenSSH). */
	struct kb_agent_table *t = kb_agent_keystore_acquire(ctx->ks);
	struct kb_agent_identity *old = kb_agent_table_find(t, kb_buf_ptr(&id->blob), kb_buf_remaining(&id->blob));
	bool hidden = old != NULL && kb_agent_identity_permitted(ctx, old, conn, NULL) != 0;
	kb_agent_table_release(t);
	if (hidden) {
		kb_agent_identity_unref(id);
		return put_status(reply, false);
	}
	log_added(ctx, conn, id, "add");
	r = kb_agent_keystore_add(ctx->ks, id);
	return put_status(reply, r == 0);
}

static int handle_remove(struct kb_agent_ctx *ctx, struct kb_agent_conn *conn, struct kb_buf *m,
			 struct kb_buf *reply)
{
	const uint8_t *blob;
	size_t len;
	bool ok = false;

	if (kb_buf_get_string_direct(m, &blob, &len) != 0 || kb_buf_expect_end(m) != 0)
		return put_status(reply, false);
	struct kb_agent_table *t = kb_agent_keystore_acquire(ctx->ks);
	struct kb_agent_identity *id = kb_agent_table_find(t, blob, len);
	/* A replaced identity still in its grace period can be removed too
	 * (and goes with the live one holding its key). */
	if (id == NULL)
		id = kb_agent_table_find_retired(t, blob, len, ctx->now_mono_ms(), ctx->now_real());
	if (id != NULL && kb_agent_identity_permitted(ctx, id, conn, NULL) == 0) {
		kb_debug("conn %lu: remove \"%s\"", conn->id, id->comment);
		ok = kb_agent_keystore_remove(ctx->ks, blob, len) == 0;
	} else if (id == NULL && conn->nbind == 0) {
		/* Not held as such (ssh-add -d sends the plain key first, then
		 * the certificate next to it): replaced identities holding this
		 * key go, and the reply says whether any did. */
		ok = kb_agent_keystore_remove(ctx->ks, blob, len) == 0;
	}
	kb_agent_table_release(t);
	return put_status(reply, ok);
}

static void lock_hash(const struct kb_agent_ctx *ctx, const char *pw, size_t len, uint8_t out[32])
{
	crypto_generichash(out, 32, (const unsigned char *)pw, len, ctx->lock_salt, sizeof(ctx->lock_salt));
}

static int handle_lock(struct kb_agent_ctx *ctx, struct kb_buf *m, bool lock, struct kb_buf *reply)
{
	char *pw = NULL;
	bool ok = false;
	unsigned delay = 0;
	uint8_t h[32];

	/* A lock request we cannot parse must not be answered as if it had
	 * worked: close the connection (OpenSSH aborts). */
	if (kb_buf_get_cstring(m, &pw) != 0)
		return KB_ERR_INVALID;
	size_t len = strlen(pw);
	pthread_mutex_lock(&ctx->lock_mu);
	if (len == 0) {
		kb_debug("empty lock passphrase not supported");
	} else if (lock && !ctx->locked) {
		randombytes_buf(ctx->lock_salt, sizeof(ctx->lock_salt));
		lock_hash(ctx, pw, len, ctx->lock_hash);
		ctx->locked = true;
		ok = true;
		/* Replaced identities do not outlive a lock. */
		kb_agent_keystore_drop_retired(ctx->ks);
		kb_debug("agent locked");
	} else if (!lock && ctx->locked) {
		lock_hash(ctx, pw, len, h);
		if (sodium_memcmp(h, ctx->lock_hash, sizeof(h)) == 0) {
			ctx->locked = false;
			ctx->lock_failures = 0;
			kb_wipe(ctx->lock_hash, sizeof(ctx->lock_hash));
			ok = true;
			kb_debug("agent unlocked");
		} else {
			if (ctx->lock_failures < 100)
				ctx->lock_failures++;
			delay = 100 * ctx->lock_failures;
			kb_debug("unlock failed, delaying %u ms", delay);
		}
		kb_wipe(h, sizeof(h));
	}
	pthread_mutex_unlock(&ctx->lock_mu);
	kb_free_string(pw);
	if (delay != 0 && ctx->delay_ms != NULL)
		ctx->delay_ms(delay);
	return put_status(reply, ok);
}

static int handle_ext_list(struct kb_agent_ctx *ctx, struct kb_agent_conn *conn, struct kb_buf *m,
			   struct kb_buf *reply)
{
	if (kb_buf_expect_end(m) != 0)
		return put_status(reply, false);
	struct kb_agent_table *t = live_table(ctx);
	int64_t now = ctx->now_mono_ms();
	size_t start = reply->len, at;
	uint32_t n = 0;
	int r;

	if ((r = kb_buf_put_u8(reply, KB_AGENT_EXTENSION_RESPONSE)) != 0 ||
	    (r = kb_buf_put_cstring(reply, KB_AGENT_EXT_LIST)) != 0)
		goto out;
	at = reply->len;
	if ((r = kb_buf_put_u32(reply, 0)) != 0)
		goto out;
	for (size_t i = 0; i < t->n; i++) {
		const struct kb_agent_identity *id = t->ids[i];
		if (kb_agent_identity_permitted(ctx, id, conn, NULL) != 0)
			continue;
		uint32_t flags = (id->confirm ? KB_AGENT_INFO_CONFIRM : 0) | (id->is_cert ? KB_AGENT_INFO_CERT : 0) |
				 (id->ndcs ? KB_AGENT_INFO_RESTRICTED : 0) | (id->death ? KB_AGENT_INFO_LIFETIME : 0);
		uint64_t left = id->death > now ? (uint64_t)((id->death - now + 999) / 1000) : 0;
		if ((r = kb_buf_put_stringb(reply, &id->blob)) != 0 ||
		    (r = kb_buf_put_cstring(reply, id->comment)) != 0 || (r = kb_buf_put_u32(reply, flags)) != 0 ||
		    (r = kb_buf_put_u64(reply, left)) != 0 ||
		    (r = kb_buf_put_u64(reply, id->is_cert ? id->valid_after : 0)) != 0 ||
		    (r = kb_buf_put_u64(reply, id->is_cert ? id->valid_before : 0)) != 0)
			goto out;
		n++;
	}
	r = kb_buf_patch_u32(reply, at, n);
out:
	kb_agent_table_release(t);
	if (r != 0) {
		reply->len = start;
		return put_status(reply, false);
	}
	return 0;
}

static int handle_ext_replace(struct kb_agent_ctx *ctx, struct kb_agent_conn *conn, struct kb_buf *m,
			      struct kb_buf *reply)
{
	const uint8_t *old;
	size_t old_len;
	struct kb_agent_identity *id;

	if (kb_buf_get_string_direct(m, &old, &old_len) != 0 || parse_add(ctx, conn, m, &id) != 0)
		return put_status(reply, false);
	struct kb_agent_table *t = kb_agent_keystore_acquire(ctx->ks);
	struct kb_agent_identity *cur = kb_agent_table_find(t, old, old_len);
	bool visible = cur != NULL && kb_agent_identity_permitted(ctx, cur, conn, NULL) == 0;
	kb_agent_table_release(t);
	if (!visible) {
		kb_debug("conn %lu: replace: old identity not found", conn->id);
		kb_agent_identity_unref(id);
		return put_status(reply, false);
	}
	log_added(ctx, conn, id, "replace with");
	return put_status(reply, kb_agent_keystore_replace(ctx->ks, old, old_len, id, ctx->now_mono_ms(),
							   ctx->replace_grace_ms) == 0);
}

static int handle_extension(struct kb_agent_ctx *ctx, struct kb_agent_conn *conn, struct kb_buf *m,
			    struct kb_buf *reply)
{
	char *name = NULL;
	int r;

	if (kb_buf_get_cstring(m, &name) != 0)
		return put_status(reply, false);
	if (strcmp(name, KB_AGENT_EXT_SESSION_BIND) == 0) {
		r = put_status(reply, kb_agent_session_bind(ctx, conn, m) == 0);
	} else if (strcmp(name, KB_AGENT_EXT_QUERY) == 0) {
		if ((r = kb_buf_put_u8(reply, KB_AGENT_EXTENSION_RESPONSE)) == 0 &&
		    (r = kb_buf_put_cstring(reply, KB_AGENT_EXT_QUERY)) == 0 &&
		    (r = kb_buf_put_cstring(reply, KB_AGENT_EXT_QUERY)) == 0 &&
		    (r = kb_buf_put_cstring(reply, KB_AGENT_EXT_SESSION_BIND)) == 0 &&
		    (r = kb_buf_put_cstring(reply, KB_AGENT_EXT_LIST)) == 0)
			r = kb_buf_put_cstring(reply, KB_AGENT_EXT_REPLACE);
	} else if (strcmp(name, KB_AGENT_EXT_LIST) == 0) {
		r = handle_ext_list(ctx, conn, m, reply);
	} else if (strcmp(name, KB_AGENT_EXT_REPLACE) == 0) {
		r = handle_ext_replace(ctx, conn, m, reply);
	} else {
		kb_debug("conn %lu: unsupported extension \"%s\"", conn->id, name);
		r = put_status(reply, false);
	}
	free(name);
	return r;
}

int kb_agent_handle(struct kb_agent_ctx *ctx, struct kb_agent_conn *conn, const uint8_t *msg, size_t len,
		    struct kb_buf *reply)
{
	struct kb_buf m;
	uint8_t type;
	bool locked;

	kb_buf_init_ro(&m, msg, len);
	if (len > KB_AGENT_MAX_MSG || kb_buf_get_u8(&m, &type) != 0)
		return KB_ERR_INVALID;
	kb_trace("conn %lu: message type %u, %zu bytes", conn->id, type, len);

	pthread_mutex_lock(&ctx->lock_mu);
	locked = ctx->locked;
	pthread_mutex_unlock(&ctx->lock_mu);
	if (locked && type != KB_AGENTC_UNLOCK) {
		if (type == KB_AGENTC_REQUEST_IDENTITIES) {
			int r = kb_buf_put_u8(reply, KB_AGENT_IDENTITIES_ANSWER);
			return r ? r : kb_buf_put_u32(reply, 0);
		}
		return put_status(reply, false);
	}

	switch (type) {
	case KB_AGENTC_REQUEST_IDENTITIES:
		return handle_list(ctx, conn, reply);
	case KB_AGENTC_SIGN_REQUEST:
		return handle_sign(ctx, conn, &m, reply);
	case KB_AGENTC_ADD_IDENTITY:
	case KB_AGENTC_ADD_ID_CONSTRAINED:
		return handle_add(ctx, conn, &m, reply);
	case KB_AGENTC_REMOVE_IDENTITY:
		return handle_remove(ctx, conn, &m, reply);
	case KB_AGENTC_REMOVE_ALL_IDENTITIES:
	case KB_AGENTC_REMOVE_ALL_RSA_IDENTITIES:
		kb_debug("conn %lu: remove all identities", conn->id);
		return put_status(reply, kb_agent_keystore_remove_all(ctx->ks) == 0);
	case KB_AGENTC_LOCK:
	case KB_AGENTC_UNLOCK:
		return handle_lock(ctx, &m, type == KB_AGENTC_LOCK, reply);
	case KB_AGENTC_EXTENSION:
		return handle_extension(ctx, conn, &m, reply);
	case KB_AGENTC_ADD_SMARTCARD_KEY:
	case KB_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED:
	case KB_AGENTC_REMOVE_SMARTCARD_KEY:
		kb_info("conn %lu: PKCS#11 providers are not supported by broker-agent", conn->id);
		return put_status(reply, false);
	default:
		kb_debug("conn %lu: unknown message type %u", conn->id, type);
		return put_status(reply, false);
	}
}
