/* Connection, host key verification and authentication (libssh2 1.10,
 * non-blocking, every step under one deadline). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/client.h"
#include "agent/proto.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "ssh/key.h"
#include "sshc/known_hosts.h"
#include "sshc/sshc_priv.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;

static void init_libssh2(void)
{
	init_result = libssh2_init(0);
}

int64_t kb_sshc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int kb_sshc_wait(struct kb_sshc *c, int64_t deadline, const char *what)
{
	return kb_sshc_wait_ev(c, deadline, what, 0);
}

int kb_sshc_wait_ev(struct kb_sshc *c, int64_t deadline, const char *what, short extra)
{
	int dir = libssh2_session_block_directions(c->s);
	struct pollfd pfd = {.fd = c->fd, .events = extra};

	if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
		pfd.events |= POLLIN;
	if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		pfd.events |= POLLOUT;
	if (pfd.events == 0)
		pfd.events = POLLIN;
	for (;;) {
		int64_t left = deadline - kb_sshc_now_ms();
		int r;

		if (left <= 0)
			return kb_err_set(KB_ERR_TIMEOUT, "%s: timed out %s", c->name, what);
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return kb_err_errno("poll");
	}
}

int kb_sshc_lib_error(struct kb_sshc *c, int rc, const char *what)
{
	char *msg = NULL;
	int err;

	if (c->s != NULL)
		libssh2_session_last_error(c->s, &msg, NULL, 0);
	switch (rc) {
	case LIBSSH2_ERROR_ALLOC:
		err = KB_ERR_NOMEM;
		break;
	case LIBSSH2_ERROR_AUTHENTICATION_FAILED:
	case LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED:
		err = KB_ERR_AUTH;
		break;
	case LIBSSH2_ERROR_TIMEOUT:
		err = KB_ERR_TIMEOUT;
		break;
	default:
		err = KB_ERR_NETWORK;
		break;
	}
	return kb_err_set(err, "%s: %s: %s", c->name, what, msg != NULL && *msg ? msg : "libssh2 error");
}

/* libssh2 allocations: plain malloc (libssh2 releases the sign callback's
 * buffer with free()), wiped before release because libssh2 keeps key
 * exchange secrets and session keys in them. */
static void *ssh_alloc(size_t n, void **abstract)
{
	(void)abstract;
	return malloc(n);
}

static void ssh_free(void *p, void **abstract)
{
	(void)abstract;
	if (p != NULL)
		kb_freezero(p, malloc_usable_size(p));
}

static void *ssh_realloc(void *p, size_t n, void **abstract)
{
	void *q;
	size_t old;

	(void)abstract;
	if (p == NULL)
		return malloc(n);
	old = malloc_usable_size(p);
	if ((q = malloc(n ? n : 1)) == NULL)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	kb_freezero(p, old);
	return q;
}

/* send() without SIGPIPE when the peer is gone. */
static ssize_t ssh_send(libssh2_socket_t fd, const void *buf, size_t n, int flags, void **abstract)
{
	ssize_t r;

	(void)abstract;
	r = send(fd, buf, n, flags | MSG_NOSIGNAL);
	return r < 0 ? -errno : r;
}

static int tcp_connect(struct kb_sshc *c, int64_t deadline)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8];
	int r, last_errno = 0, fd = -1;
	bool timed_out = false;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", (unsigned)c->t.port);
	r = getaddrinfo(c->t.host, port, &hints, &res);
	if (r != 0)
		return kb_err_set(KB_ERR_NETWORK, "%s: cannot resolve %s: %s", c->name, c->t.host, gai_strerror(r));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct pollfd pfd;
		int64_t left;
		int soerr = 0;
		socklen_t slen = sizeof(soerr);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS) {
			last_errno = errno;
			goto next;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		for (;;) {
			left = deadline - kb_sshc_now_ms();
			if (left <= 0) {
				timed_out = true;
				goto next;
			}
			r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
			if (r > 0 || (r < 0 && errno != EINTR))
				break;
		}
		if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) != 0) {
			last_errno = errno;
			goto next;
		}
		if (soerr == 0)
			break;
		last_errno = soerr;
	next:
		close(fd);
		fd = -1;
		if (timed_out)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (timed_out)
			return kb_err_set(KB_ERR_TIMEOUT, "%s: timed out connecting to port %u", c->name,
					  (unsigned)c->t.port);
		return kb_err_set(KB_ERR_NETWORK, "%s: cannot connect: %s", c->name,
				  last_errno ? strerror(last_errno) : "no address");
	}
	r = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &r, sizeof(r));
	c->fd = fd;
	return 0;
}

/* Host key algorithms to offer: the types known_hosts lists for the host
 * (as ssh does), or every plain type libssh2 1.10 can verify when the host
 * is unknown (so the error can show the server's key).  Certificate
 * algorithms are never offered: libssh2 1.10 lists ecdsa-*-cert-v01 host
 * key methods that cannot verify anything. */
static void hostkey_prefs(unsigned types, char *out, size_t n)
{
	static const struct {
		unsigned bit;
		const char *alg;
	} order[] = {
		{KB_KH_TYPE_ED25519, "ssh-ed25519"},
		{KB_KH_TYPE_ECDSA256, "ecdsa-sha2-nistp256"},
		{KB_KH_TYPE_ECDSA384, "ecdsa-sha2-nistp384"},
		{KB_KH_TYPE_ECDSA521, "ecdsa-sha2-nistp521"},
		{KB_KH_TYPE_RSA, "ssh-rsa"},
	};
	size_t len = 0;

	out[0] = '\0';
	if ((types & ~KB_KH_TYPE_DSA) == 0)
		types = KB_KH_TYPE_ED25519 | KB_KH_TYPE_ECDSA256 | KB_KH_TYPE_ECDSA384 | KB_KH_TYPE_ECDSA521 |
			KB_KH_TYPE_RSA;
	for (size_t i = 0; i < KB_ARRAY_SIZE(order); i++) {
		if (!(types & order[i].bit))
			continue;
		len += (size_t)snprintf(out + len, n - len, "%s%s", len ? "," : "", order[i].alg);
		if (len >= n)
			break;
	}
}

static const char *types_label(unsigned types, char *out, size_t n)
{
	snprintf(out, n, "%s%s%s%s%s", types & KB_KH_TYPE_ED25519 ? " ED25519" : "",
		 types & (KB_KH_TYPE_ECDSA256 | KB_KH_TYPE_ECDSA384 | KB_KH_TYPE_ECDSA521) ? " ECDSA" : "",
		 types & KB_KH_TYPE_RSA ? " RSA" : "", types & KB_KH_TYPE_DSA ? " DSA" : "", types ? "" : " none");
	return out + 1;
}

static int verify_hostkey(struct kb_sshc *c, const char *path, bool file_exists, const struct kb_buf *kh,
			  const char *lookup)
{
	const char *blob;
	size_t bloblen = 0;
	int type = 0, r;
	struct kb_key *k = NULL;
	struct kb_known_hosts_result res;
	char fp[KB_KEY_FP_MAX] = "?";
	const char *label = "?";
	char portopt[16] = "";

	blob = libssh2_session_hostkey(c->s, &bloblen, &type);
	if (blob == NULL || bloblen == 0)
		return kb_err_set(KB_ERR_NETWORK, "%s: the server sent no host key", c->name);
	if (kb_key_from_blob((const uint8_t *)blob, bloblen, &k) == 0) {
		kb_key_fingerprint(k, fp, sizeof(fp));
		label = kb_key_type_label(k);
	}
	r = kb_known_hosts_check((const char *)kh->data, kh->len, lookup, (const uint8_t *)blob, bloblen, &res);
	if (r != 0)
		goto out;
	if (c->t.port != 22)
		snprintf(portopt, sizeof(portopt), "-p %u ", (unsigned)c->t.port);
	switch (res.status) {
	case KB_KH_OK:
		kb_debug("%s: host key %s %s matches %s:%u", c->name, label, fp, path, res.line);
		r = 0;
		break;
	case KB_KH_REVOKED:
		r = kb_err_set(KB_ERR_REVOKED,
			       "%s: the server's %s host key %s is marked @revoked in %s:%u; refusing to connect", c->name,
			       label, fp, path, res.line);
		break;
	case KB_KH_MISMATCH:
		r = kb_err_set(KB_ERR_SIGNATURE,
			       "%s: REMOTE HOST IDENTIFICATION HAS CHANGED: the server's %s host key %s does not match "
			       "%s:%u (possible man-in-the-middle attack, or the host was reinstalled); if the change is "
			       "expected: ssh-keygen -R '%s' -f %s, then add the new key",
			       c->name, label, fp, path, res.line, lookup, path);
		break;
	default:
		r = kb_err_set(KB_ERR_NOT_FOUND,
			       "%s: host key verification failed: no entry for '%s' in %s%s%s (the server's %s key is %s); "
			       "check the fingerprint out of band, then: ssh-keyscan %s-t %s %s >> %s",
			       c->name, lookup, path, file_exists ? "" : " (file does not exist)",
			       res.cert_authority ? ", and @cert-authority lines are not supported" : "", label, fp,
			       portopt, k != NULL && kb_key_type(k) == KB_KEY_ED25519 ? "ed25519"
				       : k != NULL && kb_key_type(k) == KB_KEY_RSA    ? "rsa"
										      : "ecdsa",
			       c->t.host, path);
		break;
	}
out:
	kb_key_free(k);
	return r;
}

/* ---- authentication ---- */

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
	kb_buf_init(&plain, KB_KEY_BLOB_MAX);
	if ((r = cert ? kb_key_public_blob(k, &plain) : kb_key_plain_blob(k, &plain)) != 0)
		goto out;
	kb_buf_init_ro(&view, plain.data, plain.len);
	if ((r = kb_buf_get_string_direct(&view, &p, &n)) != 0)
		goto out;
	if ((r = kb_buf_put_cstring(out, cert ? "rsa-sha2-512-cert-v01@openssh.com" : "rsa-sha2-512")) != 0 ||
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

static int auth_key(struct kb_sshc *c, const struct kb_key *key, int64_t deadline)
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

static int auth_agent(struct kb_sshc *c, const char *sock, const struct kb_key *pin, int64_t deadline)
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

static int session_start(struct kb_sshc *c, const struct kb_sshc_opts *o, int64_t deadline)
{
	struct kb_buf kh;
	struct kb_known_hosts_result pre;
	char lookup[300], prefs[200];
	bool exists = true;
	void *send_fn;
	ssize_t (*send_ptr)(libssh2_socket_t, const void *, size_t, int, void **) = ssh_send;
	int r, rc;

	kb_buf_init(&kh, KB_KNOWN_HOSTS_FILE_MAX);
	r = kb_read_file(o->known_hosts, KB_KNOWN_HOSTS_FILE_MAX, &kh);
	if (r == KB_ERR_NOT_FOUND) {
		exists = false;
		r = 0;
	} else if (r != 0) {
		char why[512];
		kb_strlcpy(why, kb_err_detail(), sizeof(why));
		r = kb_err_set(r, "%s: cannot read known_hosts: %s", c->name, why[0] ? why : kb_err_str(r));
		goto out;
	}
	kb_known_hosts_lookup_name(c->t.host, c->t.port, lookup, sizeof(lookup));
	if ((r = kb_known_hosts_check((const char *)kh.data, kh.len, lookup, NULL, 0, &pre)) != 0)
		goto out;
	hostkey_prefs(pre.types, prefs, sizeof(prefs));

	if ((r = tcp_connect(c, deadline)) != 0)
		goto out;
	c->s = libssh2_session_init_ex(ssh_alloc, ssh_free, ssh_realloc, c);
	if (c->s == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	memcpy(&send_fn, &send_ptr, sizeof(send_fn));
	libssh2_session_callback_set(c->s, LIBSSH2_CALLBACK_SEND, send_fn);
	libssh2_session_set_blocking(c->s, 0);
	if (libssh2_session_method_pref(c->s, LIBSSH2_METHOD_HOSTKEY, prefs) != 0) {
		r = kb_sshc_lib_error(c, LIBSSH2_ERROR_METHOD_NOT_SUPPORTED, "host key algorithms");
		goto out;
	}
	while ((rc = libssh2_session_handshake(c->s, c->fd)) == LIBSSH2_ERROR_EAGAIN)
		if ((r = kb_sshc_wait(c, deadline, "waiting for the SSH handshake")) != 0)
			goto out;
	if (rc == LIBSSH2_ERROR_KEX_FAILURE && pre.types != 0) {
		char tl[64];
		r = kb_err_set(KB_ERR_NETWORK,
			       "%s: SSH handshake failed: the server offers none of the host key types %s lists for '%s' "
			       "(%s) that libssh2 can verify",
			       c->name, o->known_hosts, lookup, types_label(pre.types, tl, sizeof(tl)));
		goto out;
	}
	if (rc != 0) {
		r = kb_sshc_lib_error(c, rc, "SSH handshake failed");
		goto out;
	}
	if ((r = verify_hostkey(c, o->known_hosts, exists, &kh, lookup)) != 0)
		goto out;
	if (o->key != NULL)
		r = auth_key(c, o->key, deadline);
	else
		r = auth_agent(c, o->agent_socket, o->agent_pin, deadline);
out:
	kb_buf_done(&kh);
	return r;
}

int kb_sshc_connect(const struct kb_ssh_target *t, const struct kb_sshc_opts *o, struct kb_sshc **ret)
{
	struct kb_sshc *c;
	int64_t deadline;
	int r;

	*ret = NULL;
	pthread_once(&init_once, init_libssh2);
	if (init_result != 0)
		return kb_err_set(KB_ERR_CRYPTO, "libssh2_init failed");
	if (t == NULL || o == NULL || o->known_hosts == NULL)
		return kb_err_set(KB_ERR_ARGS, "ssh client: a known_hosts file is required");
	if ((o->key != NULL) == (o->agent_socket != NULL))
		return kb_err_set(KB_ERR_ARGS, "ssh client: give exactly one of an agent socket or a key");
	if (o->connect_timeout_ms < 0 || o->command_timeout_ms < 0)
		return kb_err_set(KB_ERR_ARGS, "ssh client: negative timeout");
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return KB_ERR_NOMEM;
	c->fd = -1;
	c->t = *t;
	kb_ssh_target_format(t, c->name, sizeof(c->name));
	c->command_timeout_ms = o->command_timeout_ms ? o->command_timeout_ms : KB_SSHC_DEFAULT_COMMAND_MS;
	if (o->authorized_keys != NULL && (c->authorized_keys = kb_strdup(o->authorized_keys)) == NULL) {
		free(c);
		return KB_ERR_NOMEM;
	}
	deadline = kb_sshc_now_ms() + (o->connect_timeout_ms ? o->connect_timeout_ms : KB_SSHC_DEFAULT_CONNECT_MS);
	r = session_start(c, o, deadline);
	if (r != 0) {
		char detail[512];
		/* Closing must not overwrite the error's detail. */
		kb_strlcpy(detail, kb_err_detail(), sizeof(detail));
		c->broken = true;
		kb_sshc_close(c);
		kb_err_set(r, "%s", detail);
		return r;
	}
	*ret = c;
	return 0;
}

void kb_sshc_drop(struct kb_sshc *c)
{
	int64_t deadline = kb_sshc_now_ms() + 300;

	if (c->s != NULL && !c->dropped) {
		/* Best effort: a disconnect message if the transport is idle. */
		while (libssh2_session_disconnect(c->s, "timeout") == LIBSSH2_ERROR_EAGAIN)
			if (kb_sshc_wait(c, deadline, "disconnecting") != 0)
				break;
	}
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	c->broken = true;
	c->dropped = true;
}

void kb_sshc_close(struct kb_sshc *c)
{
	if (c == NULL)
		return;
	if (c->s != NULL) {
		int64_t deadline = kb_sshc_now_ms() + 500;

		if (!c->broken) {
			while (libssh2_session_disconnect(c->s, "bye") == LIBSSH2_ERROR_EAGAIN)
				if (kb_sshc_wait(c, deadline, "disconnecting") != 0)
					break;
		}
		/* With the socket shut down nothing can block: pending channel
		 * closes fail instead of waiting, and the session is freed. */
		if (c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);
		for (int i = 0; i < 1000; i++)
			if (libssh2_session_free(c->s) != LIBSSH2_ERROR_EAGAIN)
				break;
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c->authorized_keys);
	free(c);
}
