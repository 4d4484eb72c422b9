#include "destcon.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "cert/cert.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "ssh/key.h"

#define SID_MAX 1024

static int parse_hop(struct kb_buf *b, struct kb_agent_hop *h)
{
	const uint8_t *p;
	size_t len;
	int r;

	memset(h, 0, sizeof(*h));
	if ((r = kb_buf_get_cstring(b, &h->user)) != 0 || (r = kb_buf_get_cstring(b, &h->hostname)) != 0 ||
	    (r = kb_buf_get_string_direct(b, &p, &len)) != 0)
		return r;
	if (len != 0)
		return KB_ERR_UNSUPPORTED; /* reserved extensions */
	if (*h->hostname == '\0') {
		free(h->hostname);
		h->hostname = NULL;
	}
	if (*h->user == '\0') {
		free(h->user);
		h->user = NULL;
	}
	while (kb_buf_remaining(b) > 0) {
		uint8_t is_ca;
		struct kb_key *k = NULL;
		if (h->nkeys >= KB_AGENT_MAX_HOP_KEYS)
			return KB_ERR_LIMIT;
		if ((r = kb_buf_get_string_direct(b, &p, &len)) != 0 || (r = kb_buf_get_u8(b, &is_ca)) != 0)
			return r;
		if ((r = kb_key_from_blob(p, len, &k)) != 0)
			return r;
		struct kb_key **nk = realloc(h->keys, (h->nkeys + 1) * sizeof(*nk));
		if (nk == NULL) {
			kb_key_free(k);
			return KB_ERR_NOMEM;
		}
		h->keys = nk;
		bool *nc = realloc(h->is_ca, (h->nkeys + 1) * sizeof(*nc));
		if (nc == NULL) {
			kb_key_free(k);
			return KB_ERR_NOMEM;
		}
		h->is_ca = nc;
		h->keys[h->nkeys] = k;
		h->is_ca[h->nkeys] = is_ca != 0;
		h->nkeys++;
	}
	return KB_OK;
}

static int parse_one(struct kb_buf *b, struct kb_agent_destcon *dc)
{
	struct kb_buf inner, from, to;
	const uint8_t *p;
	size_t len;
	int r;

	if ((r = kb_buf_get_sub(b, &inner)) != 0 || (r = kb_buf_get_sub(&inner, &from)) != 0 ||
	    (r = kb_buf_get_sub(&inner, &to)) != 0 || (r = kb_buf_get_string_direct(&inner, &p, &len)) != 0 ||
	    (r = kb_buf_expect_end(&inner)) != 0)
		return r;
	if ((r = parse_hop(&from, &dc->from)) != 0 || (r = parse_hop(&to, &dc->to)) != 0)
		return r;
	if (len != 0)
		return KB_ERR_UNSUPPORTED;
	if ((dc->from.hostname == NULL) != (dc->from.nkeys == 0) || dc->from.user != NULL)
		return KB_ERR_INVALID; /* inconsistent "from" */
	if (dc->to.hostname == NULL || dc->to.nkeys == 0)
		return KB_ERR_INVALID; /* incomplete "to" */
	return KB_OK;
}

int kb_agent_parse_destcons(struct kb_buf *m, struct kb_agent_destcon **ret, size_t *ret_n)
{
	struct kb_buf b;
	struct kb_agent_destcon *v = NULL;
	size_t n = 0;
	int r;

	*ret = NULL;
	*ret_n = 0;
	if ((r = kb_buf_get_sub(m, &b)) != 0)
		return r;
	while (kb_buf_remaining(&b) > 0) {
		if (n >= KB_AGENT_MAX_DEST_CONSTRAINTS) {
			r = KB_ERR_LIMIT;
			goto out;
		}
		struct kb_agent_destcon *nv = realloc(v, (n + 1) * sizeof(*nv));
		if (nv == NULL) {
			r = KB_ERR_NOMEM;
			goto out;
		}
		v = nv;
		memset(&v[n], 0, sizeof(v[n]));
		n++;
		if ((r = parse_one(&b, &v[n - 1])) != 0)
			goto out;
	}
	if (n == 0) {
		r = KB_ERR_INVALID;
		goto out;
	}
	*ret = v;
	*ret_n = n;
	v = NULL;
	r = KB_OK;
out:
	kb_agent_destcons_free(v, n);
	return r;
}

/* Exact equality including any certificate. */
static bool key_equal_full(const struct kb_key *a, const struct kb_key *b)
{
	struct kb_buf x, y;
	bool eq = false;

	kb_buf_init(&x, KB_KEY_BLOB_MAX);
	kb_buf_init(&y, KB_KEY_BLOB_MAX);
	if (kb_key_public_blob(a, &x) == 0 && kb_key_public_blob(b, &y) == 0)
		eq = kb_buf_remaining(&x) == kb_buf_remaining(&y) &&
		     memcmp(kb_buf_ptr(&x), kb_buf_ptr(&y), kb_buf_remaining(&x)) == 0;
	kb_buf_done(&x);
	kb_buf_done(&y);
	return eq;
}

static bool host_cert_ok(struct kb_agent_ctx *ctx, const struct kb_cert *c, const char *hostname)
{
	uint64_t now = (uint64_t)ctx->now_real();

	if (c->type != KB_CERT_TYPE_HOST || hostname == NULL)
		return false;
	if (now < c->valid_after || now >= c->valid_before)
		return false;
	for (size_t i = 0; i < c->nprincipals; i++)
		if (strcmp(c->principals[i], hostname) == 0)
			return true;
	return false;
}

static bool match_key_hop(struct kb_agent_ctx *ctx, const struct kb_key *key, const struct kb_agent_hop *h)
{
	if (key == NULL)
		return false;
	for (size_t i = 0; i < h->nkeys; i++) {
		if (!kb_key_is_cert(key)) {
			if (!h->is_ca[i] && kb_key_equal_public(key, h->keys[i]) && !kb_key_is_cert(h->keys[i]))
				return true;
			continue;
		}
		const struct kb_cert *c = kb_key_cert(key);
		if (!h->is_ca[i] || c == NULL || c->ca_key == NULL)
			continue;
		if (!kb_key_equal_public(c->ca_key, h->keys[i]))
			continue;
		if (host_cert_ok(ctx, c, h->hostname))
			return true;
	}
	return false;
}

static int permitted_by(struct kb_agent_ctx *ctx, const struct kb_key *fromkey, const struct kb_key *tokey,
			const struct kb_agent_identity *id, const char *user)
{
	for (size_t i = 0; i < id->ndcs; i++) {
		const struct kb_agent_destcon *d = &id->dcs[i];
		if (fromkey == NULL) {
			if (d->from.hostname != NULL || d->from.nkeys != 0)
				continue;
		} else if (!match_key_hop(ctx, fromkey, &d->from)) {
			continue;
		}
		if (tokey != NULL && !match_key_hop(ctx, tokey, &d->to))
			continue;
		if (d->to.user != NULL && user != NULL && fnmatch(d->to.user, user, 0) != 0)
			continue;
		return 0;
	}
	return -1;
}

int kb_agent_identity_permitted(struct kb_agent_ctx *ctx, const struct kb_agent_identity *id,
				const struct kb_agent_conn *conn, const char *user)
{
	const struct kb_key *fromkey = NULL;

	if (id->ndcs == 0 || conn->nbind == 0)
		return 0; /* unconstrained, or local use */
	for (size_t i = 0; i < conn->nbind; i++) {
		const struct kb_agent_binding *b = &conn->bind[i];
		const char *test_user = NULL;
		if (i == conn->nbind - 1) {
			test_user = user;
			if (b->forwarded && user != NULL) {
				kb_debug("conn %lu: refusing to sign on a forwarding hop", conn->id);
				return -1;
			}
		} else if (!b->forwarded) {
			kb_debug("conn %lu: refusing to forward through a signing binding", conn->id);
			return -1;
		}
		if (permitted_by(ctx, fromkey, b->hostkey, id, test_user) != 0) {
			kb_debug("conn %lu: identity \"%s\" not permitted for this destination", conn->id,
				 id->comment);
			return -1;
		}
		fromkey = b->hostkey;
	}
	const struct kb_agent_binding *last = &conn->bind[conn->nbind - 1];
	if (last->forwarded && user == NULL && permitted_by(ctx, last->hostkey, NULL, id, NULL) != 0)
		return -1; /* usable at that host but not beyond it */
	return 0;
}

static int pkalg_type(const char *alg, enum kb_key_type *type, bool *cert)
{
	if (strcmp(alg, "rsa-sha2-256") == 0 || strcmp(alg, "rsa-sha2-512") == 0) {
		*type = KB_KEY_RSA;
		*cert = false;
		return 0;
	}
	if (strcmp(alg, "rsa-sha2-256-cert-v01@openssh.com") == 0 ||
	    strcmp(alg, "rsa-sha2-512-cert-v01@openssh.com") == 0) {
		*type = KB_KEY_RSA;
		*cert = true;
		return 0;
	}
	return kb_key_type_from_ssh_name(alg, type, cert);
}

/* Parses data as an SSH publickey userauth request (RFC 4252 7) made with
 * the identity's key; returns user, session id and optional host key. */
static int parse_userauth(const struct kb_agent_identity *id, const uint8_t *data, size_t len, char **ret_user,
			  const uint8_t **ret_sid, size_t *ret_sid_len, struct kb_key **ret_hostkey)
{
	struct kb_buf b;
	char *user = NULL, *service = NULL, *method = NULL, *pkalg = NULL;
	const uint8_t *sid, *kblob;
	size_t sid_len, kblob_len;
	uint8_t t, sig_follows;
	struct kb_key *hostkey = NULL;
	enum kb_key_type type;
	bool cert;
	int r;

	kb_buf_init_ro(&b, data, len);
	if ((r = kb_buf_get_string_direct(&b, &sid, &sid_len)) != 0 || (r = kb_buf_get_u8(&b, &t)) != 0 ||
	    (r = kb_buf_get_cstring(&b, &user)) != 0 || (r = kb_buf_get_cstring(&b, &service)) != 0 ||
	    (r = kb_buf_get_cstring(&b, &method)) != 0 || (r = kb_buf_get_u8(&b, &sig_follows)) != 0 ||
	    (r = kb_buf_get_cstring(&b, &pkalg)) != 0 || (r = kb_buf_get_string_direct(&b, &kblob, &kblob_len)) != 0)
		goto out;
	r = KB_ERR_INVALID;
	if (sid_len == 0 || t != 50 /* SSH2_MSG_USERAUTH_REQUEST */ || sig_follows != 1 ||
	    strcmp(service, "ssh-connection") != 0)
		goto out;
	if (kblob_len != kb_buf_remaining(&id->blob) || memcmp(kblob, kb_buf_ptr(&id->blob), kblob_len) != 0)
		goto out;
	if (pkalg_type(pkalg, &type, &cert) != 0 || type != kb_key_type(id->key) || cert != id->is_cert)
		goto out;
	if (strcmp(method, "publickey-hostbound-v00@openssh.com") == 0) {
		const uint8_t *hk;
		size_t hk_len;
		if ((r = kb_buf_get_string_direct(&b, &hk, &hk_len)) != 0 ||
		    (r = kb_key_from_blob(hk, hk_len, &hostkey)) != 0)
			goto out;
	} else if (strcmp(method, "publickey") != 0) {
		goto out;
	}
	if ((r = kb_buf_expect_end(&b)) != 0)
		goto out;
	*ret_user = user;
	user = NULL;
	*ret_sid = sid;
	*ret_sid_len = sid_len;
	*ret_hostkey = hostkey;
	hostkey = NULL;
	r = KB_OK;
out:
	free(user);
	free(service);
	free(method);
	free(pkalg);
	kb_key_free(hostkey);
	return r;
}

int kb_agent_check_sign_destination(struct kb_agent_ctx *ctx, const struct kb_agent_identity *id,
				    const struct kb_agent_conn *conn, const uint8_t *data, size_t len,
				    char **ret_dest)
{
	char *user = NULL;
	const uint8_t *sid = NULL;
	size_t sid_len = 0;
	struct kb_key *hostkey = NULL;
	int r = KB_ERR_DENIED;

	*ret_dest = NULL;
	if (conn->nbind == 0) {
		kb_info("conn %lu: refusing use of destination-constrained key on an unbound connection", conn->id);
		return KB_ERR_DENIED;
	}
	if (parse_userauth(id, data, len, &user, &sid, &sid_len, &hostkey) != 0) {
		kb_info("conn %lu: refusing use of destination-constrained key to sign an unidentified signature",
			conn->id);
		return KB_ERR_DENIED;
	}
	if (kb_agent_identity_permitted(ctx, id, conn, user) != 0)
		goto out;
	const struct kb_agent_binding *last = &conn->bind[conn->nbind - 1];
	if (sid_len != last->sid_len || memcmp(sid, last->sid, sid_len) != 0) {
		kb_info("conn %lu: unexpected session ID on signature request for user %s", conn->id, user);
		goto out;
	}
	if (conn->nbind > 1 && hostkey == NULL) {
		kb_info("conn %lu: no host key in signature request on a forwarded connection", conn->id);
		goto out;
	}
	if (hostkey != NULL && !key_equal_full(hostkey, last->hostkey)) {
		kb_info("conn %lu: host key in request differs from the bound session's", conn->id);
		goto out;
	}
	*ret_dest = kb_asprintf("public key authentication request for user \"%s\" to listed host", user);
	r = KB_OK;
out:
	free(user);
	kb_key_free(hostkey);
	return r;
}

int kb_agent_session_bind(struct kb_agent_ctx *ctx, struct kb_agent_conn *conn, struct kb_buf *m)
{
	const uint8_t *kblob, *sid, *sig;
	size_t kblob_len, sid_len, sig_len;
	uint8_t fwd;
	struct kb_key *key = NULL;
	char fp[KB_KEY_FP_MAX];
	int r;

	if ((r = kb_buf_get_string_direct(m, &kblob, &kblob_len)) != 0 ||
	    (r = kb_buf_get_string_direct(m, &sid, &sid_len)) != 0 ||
	    (r = kb_buf_get_string_direct(m, &sig, &sig_len)) != 0 || (r = kb_buf_get_u8(m, &fwd)) != 0 ||
	    (r = kb_buf_expect_end(m)) != 0)
		return r;
	if (sid_len == 0 || sid_len > SID_MAX)
		return KB_ERR_INVALID;
	if ((r = kb_key_from_blob(kblob, kblob_len, &key)) != 0)
		return r;
	kb_agent_fingerprint(ctx, key, fp, sizeof(fp));
	if ((r = kb_key_verify(key, sig, sig_len, sid, sid_len, NULL)) != 0) {
		kb_info("conn %lu: session-bind signature by %s does not verify", conn->id, fp);
		goto out;
	}
	for (size_t i = 0; i < conn->nbind; i++) {
		const struct kb_agent_binding *b = &conn->bind[i];
		if (!b->forwarded) {
			kb_info("conn %lu: attempt to bind a session to a connection bound for authentication",
				conn->id);
			r = KB_ERR_DENIED;
			goto out;
		}
		bool sid_match = b->sid_len == sid_len && memcmp(b->sid, sid, sid_len) == 0;
		if (sid_match && key_equal_full(key, b->hostkey)) {
			kb_debug("conn %lu: session already recorded for %s", conn->id, fp);
			r = KB_OK;
			goto out;
		} else if (sid_match) {
			kb_info("conn %lu: session ID recorded against a different host key", conn->id);
			r = KB_ERR_DENIED;
			goto out;
		}
	}
	if (conn->nbind >= KB_AGENT_MAX_SESSION_IDS) {
		kb_info("conn %lu: too many session IDs recorded", conn->id);
		r = KB_ERR_LIMIT;
		goto out;
	}
	struct kb_agent_binding *nb = &conn->bind[conn->nbind];
	if ((nb->sid = malloc(sid_len)) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	memcpy(nb->sid, sid, sid_len);
	nb->sid_len = sid_len;
	nb->hostkey = key;
	nb->forwarded = fwd != 0;
	key = NULL;
	conn->nbind++;
	kb_debug("conn %lu: recorded %s session binding to %s (slot %zu)", conn->id, nb->forwarded ? "forwarding" : "auth",
		 fp, conn->nbind - 1);
	r = KB_OK;
out:
	kb_key_free(key);
	return r;
}
