/* Sessions: libssh2 set-up (non-blocking, our allocator and send), the
 * poll() wait under a deadline, connect = TCP + handshake + host key check
 * + authentication under one deadline, and teardown. */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
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

/* Algorithms: libssh2 1.10's defaults still offer arcfour, CBC ciphers,
 * hmac-md5 and diffie-hellman-group1-sha1.  Offer only what OpenSSH
 * itself still enables by default among what libssh2 1.10 has (no
 * chacha20-poly1305, GCM or -etm MACs there, so the Terrapin prefix
 * truncation, which needs those, does not apply). */
static int set_methods(struct kb_sshc *c, const char *hostkeys)
{
	static const struct {
		int type;
		const char *list;
	} prefs[] = {
		{LIBSSH2_METHOD_KEX, "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,"
				     "ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,"
				     "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,"
				     "diffie-hellman-group14-sha256"},
		{LIBSSH2_METHOD_CRYPT_CS, "aes256-ctr,aes192-ctr,aes128-ctr"},
		{LIBSSH2_METHOD_CRYPT_SC, "aes256-ctr,aes192-ctr,aes128-ctr"},
		{LIBSSH2_METHOD_MAC_CS, "hmac-sha2-256,hmac-sha2-512"},
		{LIBSSH2_METHOD_MAC_SC, "hmac-sha2-256,hmac-sha2-512"},
	};

	if (libssh2_session_method_pref(c->s, LIBSSH2_METHOD_HOSTKEY, hostkeys) != 0)
		return kb_sshc_lib_error(c, LIBSSH2_ERROR_METHOD_NOT_SUPPORTED, "host key algorithms");
	for (size_t i = 0; i < KB_ARRAY_SIZE(prefs); i++)
		if (libssh2_session_method_pref(c->s, prefs[i].type, prefs[i].list) != 0)
			return kb_sshc_lib_error(c, LIBSSH2_ERROR_METHOD_NOT_SUPPORTED, "algorithm preferences");
	return 0;
}

/* opts->host_certs, else $KEYBROKER_HOST_CERTS, else NULL (default). */
static const char *host_certs_option(const struct kb_sshc_opts *o)
{
	const char *e = getenv("KEYBROKER_HOST_CERTS");

	if (o->host_certs != NULL)
		return o->host_certs;
	return e != NULL && *e != '\0' ? e : NULL;
}

static int session_start(struct kb_sshc *c, const struct kb_sshc_opts *o, int64_t deadline)
{
	struct kb_buf kh, cas;
	struct kb_known_hosts_result pre;
	char lookup[300], prefs[200];
	bool exists = true;
	void *send_fn;
	ssize_t (*send_ptr)(libssh2_socket_t, const void *, size_t, int, void **) = ssh_send;
	int r, rc;

	kb_buf_init(&kh, KB_KNOWN_HOSTS_FILE_MAX);
	kb_buf_init(&cas, KB_SSHC_CA_KEYS_MAX);
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
	kb_sshc_hostkey_prefs(pre.types, prefs, sizeof(prefs));

	if ((r = kb_sshc_tcp_connect(c, deadline)) != 0)
		goto out;
	c->s = libssh2_session_init_ex(ssh_alloc, ssh_free, ssh_realloc, c);
	if (c->s == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	memcpy(&send_fn, &send_ptr, sizeof(send_fn));
	libssh2_session_callback_set(c->s, LIBSSH2_CALLBACK_SEND, send_fn);
	libssh2_session_set_blocking(c->s, 0);
	if ((r = set_methods(c, prefs)) != 0)
		goto out;
	while ((rc = libssh2_session_handshake(c->s, c->fd)) == LIBSSH2_ERROR_EAGAIN)
		if ((r = kb_sshc_wait(c, deadline, "waiting for the SSH handshake")) != 0)
			goto out;
	if (rc == LIBSSH2_ERROR_KEX_FAILURE && pre.types != 0) {
		char tl[64];
		r = kb_err_set(KB_ERR_NETWORK,
			       "%s: SSH handshake failed: the server offers none of the host key types %s lists for '%s' "
			       "(%s) that libssh2 can verify",
			       c->name, o->known_hosts, lookup, kb_sshc_types_label(pre.types, tl, sizeof(tl)));
		goto out;
	}
	if (rc != 0) {
		r = kb_sshc_lib_error(c, rc, "SSH handshake failed");
		goto out;
	}
	if ((r = kb_sshc_verify_hostkey(c, o->known_hosts, exists, &kh, lookup, &cas)) != 0)
		goto out;
	/* With cas non-empty the host is not verified yet: authentication
	 * (publickey only: the signature is bound to this session and gives
	 * an impostor nothing to relay) and reading its certificates are the
	 * only things done before kb_sshc_verify_host_cert accepts it. */
	if (o->key != NULL)
		r = kb_sshc_auth_key(c, o->key, deadline);
	else
		r = kb_sshc_auth_agent(c, o->agent_socket, o->agent_pin, deadline);
	if (r == 0 && cas.len > 0) {
		int saved = c->command_timeout_ms;
		int64_t left = deadline - kb_sshc_now_ms();
		/* The certificate read runs under the connect deadline. */
		c->command_timeout_ms = left > 0 ? (int)left : 1;
		r = kb_sshc_verify_host_cert(c, o->known_hosts, &kh, lookup, &cas, host_certs_option(o));
		c->command_timeout_ms = saved;
	}
out:
	kb_buf_done(&kh);
	kb_buf_done(&cas);
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
	if (host_certs_option(o) != NULL && !kb_sshc_host_certs_valid(host_certs_option(o)))
		return kb_err_set(KB_ERR_ARGS, "ssh client: bad host certificate paths '%s'%s (shell glob words of "
					       "letters, digits and _./*?+,:@=-)", host_certs_option(o),
				  o->host_certs == NULL ? " in KEYBROKER_HOST_CERTS" : "");
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
