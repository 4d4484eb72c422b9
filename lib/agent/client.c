#include "agent/client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/proto.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "ssh/key.h"

struct kb_agent_client {
	int fd;
};

int kb_agent_connect(const char *path, struct kb_agent_client **ret)
{
	struct sockaddr_un sun;
	struct kb_agent_client *c;
	int fd;

	*ret = NULL;
	if (path == NULL && (path = getenv("SSH_AUTH_SOCK")) == NULL)
		return kb_err_set(KB_ERR_NOT_FOUND, "SSH_AUTH_SOCK is not set: no agent to talk to");
	if (strlen(path) >= sizeof(sun.sun_path))
		return kb_err_set(KB_ERR_INVALID, "agent socket path too long: %s", path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	kb_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return kb_err_errno("socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;
		close(fd);
		return kb_err_set(KB_ERR_NETWORK, "cannot connect to agent at %s: %s", path, strerror(e));
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return KB_ERR_NOMEM;
	}
	c->fd = fd;
	*ret = c;
	return KB_OK;
}

void kb_agent_close(struct kb_agent_client *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c);
}

static int io_full(int fd, void *p, size_t n, bool wr)
{
	uint8_t *q = p;
	while (n > 0) {
		ssize_t r = wr ? send(fd, q, n, MSG_NOSIGNAL) : read(fd, q, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kb_err_set(KB_ERR_NETWORK, "agent connection: %s", strerror(errno));
		if (r == 0)
			return kb_err_set(KB_ERR_NETWORK, "agent closed the connection");
		q += r;
		n -= (size_t)r;
	}
	return KB_OK;
}

int kb_agent_call(struct kb_agent_client *c, const uint8_t *req, size_t len, struct kb_buf *reply)
{
	uint8_t hdr[4];
	uint8_t *p;
	int r;

	if (len == 0 || len > KB_AGENT_MAX_MSG)
		return KB_ERR_TOO_LARGE;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	if ((r = io_full(c->fd, hdr, 4, true)) != 0 || (r = io_full(c->fd, (void *)req, len, true)) != 0 ||
	    (r = io_full(c->fd, hdr, 4, false)) != 0)
		return r;
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (n == 0 || n > 64u * 1024u * 1024u)
		return kb_err_set(KB_ERR_INVALID, "agent reply of %u bytes", n);
	if ((r = kb_buf_reserve(reply, n, &p)) != 0)
		return r;
	return io_full(c->fd, p, n, false);
}

/* Sends req and checks the reply's first byte; the rest stays in reply. */
static int call_expect(struct kb_agent_client *c, struct kb_buf *req, struct kb_buf *reply, uint8_t want)
{
	uint8_t t;
	int r;

	if ((r = kb_agent_call(c, kb_buf_ptr(req), kb_buf_remaining(req), reply)) != 0)
		return r;
	if ((r = kb_buf_get_u8(reply, &t)) != 0)
		return KB_ERR_INVALID;
	if (t == want)
		return KB_OK;
	if (t == KB_AGENT_FAILURE || t == KB_AGENT_EXTENSION_FAILURE)
		return kb_err_set(KB_ERR_DENIED, "the agent refused the request");
	return kb_err_set(KB_ERR_INVALID, "unexpected agent reply type %u", t);
}

void kb_agent_identities_done(struct kb_agent_identities *l)
{
	for (size_t i = 0; l->v != NULL && i < l->n; i++) {
		free(l->v[i].blob);
		kb_key_free(l->v[i].key);
		free(l->v[i].comment);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int parse_identities(struct kb_buf *b, bool info, struct kb_agent_identities *ret)
{
	uint32_t n;
	int r;

	if ((r = kb_buf_get_u32(b, &n)) != 0)
		return r;
	/* Each entry needs at least 8 bytes: cap before allocating. */
	if (n > kb_buf_remaining(b) / 8)
		return KB_ERR_INVALID;
	if ((ret->v = calloc(n ? n : 1, sizeof(*ret->v))) == NULL)
		return KB_ERR_NOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct kb_agent_identity_info *e = &ret->v[i];
		const uint8_t *blob;
		ret->n = i + 1;
		if ((r = kb_buf_get_string_direct(b, &blob, &e->blob_len)) != 0 ||
		    (r = kb_buf_get_cstring(b, &e->comment)) != 0)
			return r;
		if ((e->blob = malloc(e->blob_len ? e->blob_len : 1)) == NULL)
			return KB_ERR_NOMEM;
		memcpy(e->blob, blob, e->blob_len);
		if (kb_key_from_blob(blob, e->blob_len, &e->key) != 0)
			e->key = NULL;
		if (info && ((r = kb_buf_get_u32(b, &e->flags)) != 0 || (r = kb_buf_get_u64(b, &e->seconds_left)) != 0 ||
			     (r = kb_buf_get_u64(b, &e->valid_after)) != 0 ||
			     (r = kb_buf_get_u64(b, &e->valid_before)) != 0))
			return r;
	}
	return kb_buf_expect_end(b);
}

int kb_agent_list(struct kb_agent_client *c, struct kb_agent_identities *ret)
{
	struct kb_buf req, reply;
	int r;

	memset(ret, 0, sizeof(*ret));
	kb_buf_init(&req, 16);
	kb_buf_init(&reply, 64u * 1024u * 1024u);
	if ((r = kb_buf_put_u8(&req, KB_AGENTC_REQUEST_IDENTITIES)) == 0 &&
	    (r = call_expect(c, &req, &reply, KB_AGENT_IDENTITIES_ANSWER)) == 0)
		r = parse_identities(&reply, false, ret);
	if (r != 0)
		kb_agent_identities_done(ret);
	kb_buf_done(&req);
	kb_buf_done(&reply);
	return r;
}

int kb_agent_list_info(struct kb_agent_client *c, struct kb_agent_identities *ret)
{
	struct kb_buf req, reply;
	char *name = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	kb_buf_init(&req, 64);
	kb_buf_init(&reply, 64u * 1024u * 1024u);
	if ((r = kb_buf_put_u8(&req, KB_AGENTC_EXTENSION)) != 0 || (r = kb_buf_put_cstring(&req, KB_AGENT_EXT_LIST)) != 0)
		goto out;
	if ((r = call_expect(c, &req, &reply, KB_AGENT_EXTENSION_RESPONSE)) != 0) {
		if (r == KB_ERR_DENIED)
			r = kb_err_set(KB_ERR_UNSUPPORTED, "the agent does not support %s (not broker-agent?)",
				       KB_AGENT_EXT_LIST);
		goto out;
	}
	if ((r = kb_buf_get_cstring(&reply, &name)) != 0)
		goto out;
	if (strcmp(name, KB_AGENT_EXT_LIST) != 0) {
		r = KB_ERR_INVALID;
		goto out;
	}
	r = parse_identities(&reply, true, ret);
out:
	if (r != 0)
		kb_agent_identities_done(ret);
	free(name);
	kb_buf_done(&req);
	kb_buf_done(&reply);
	return r;
}

static int put_add_body(struct kb_buf *req, const struct kb_key *k, const char *comment,
			const struct kb_agent_constraints *cons)
{
	int r;

	if ((r = kb_key_private_serialize(k, req)) != 0 || (r = kb_buf_put_cstring(req, comment ? comment : "")) != 0)
		return r;
	if (cons != NULL && cons->lifetime != 0 &&
	    ((r = kb_buf_put_u8(req, KB_AGENT_CONSTRAIN_LIFETIME)) != 0 || (r = kb_buf_put_u32(req, cons->lifetime)) != 0))
		return r;
	if (cons != NULL && cons->confirm && (r = kb_buf_put_u8(req, KB_AGENT_CONSTRAIN_CONFIRM)) != 0)
		return r;
	return KB_OK;
}

static bool constrained(const struct kb_agent_constraints *cons)
{
	return cons != NULL && (cons->lifetime != 0 || cons->confirm);
}

static int simple_call(struct kb_agent_client *c, struct kb_buf *req)
{
	struct kb_buf reply;
	int r;

	kb_buf_init(&reply, 1024);
	r = call_expect(c, req, &reply, KB_AGENT_SUCCESS);
	kb_buf_done(&reply);
	return r;
}

int kb_agent_add(struct kb_agent_client *c, const struct kb_key *k, const char *comment,
		 const struct kb_agent_constraints *cons)
{
	struct kb_buf req;
	int r;

	kb_buf_init_secure(&req, KB_AGENT_MAX_MSG);
	if ((r = kb_buf_put_u8(&req, constrained(cons) ? KB_AGENTC_ADD_ID_CONSTRAINED : KB_AGENTC_ADD_IDENTITY)) == 0 &&
	    (r = put_add_body(&req, k, comment, cons)) == 0)
		r = simple_call(c, &req);
	kb_buf_done(&req);
	return r;
}

static int put_key_blob(struct kb_buf *req, const struct kb_key *k)
{
	struct kb_buf blob;
	int r;

	kb_buf_init(&blob, KB_KEY_BLOB_MAX);
	if ((r = kb_key_public_blob(k, &blob)) == 0)
		r = kb_buf_put_stringb(req, &blob);
	kb_buf_done(&blob);
	return r;
}

int kb_agent_remove(struct kb_agent_client *c, const struct kb_key *k)
{
	struct kb_buf req;
	int r;

	kb_buf_init(&req, KB_AGENT_MAX_MSG);
	if ((r = kb_buf_put_u8(&req, KB_AGENTC_REMOVE_IDENTITY)) == 0 && (r = put_key_blob(&req, k)) == 0)
		r = simple_call(c, &req);
	kb_buf_done(&req);
	return r;
}

int kb_agent_remove_all(struct kb_agent_client *c)
{
	struct kb_buf req;
	int r;

	kb_buf_init(&req, 16);
	if ((r = kb_buf_put_u8(&req, KB_AGENTC_REMOVE_ALL_IDENTITIES)) == 0)
		r = simple_call(c, &req);
	kb_buf_done(&req);
	return r;
}

int kb_agent_replace(struct kb_agent_client *c, const struct kb_key *old, const struct kb_key *new_key,
		     const char *comment, const struct kb_agent_constraints *cons)
{
	struct kb_buf req;
	int r;

	kb_buf_init_secure(&req, KB_AGENT_MAX_MSG);
	if ((r = kb_buf_put_u8(&req, KB_AGENTC_EXTENSION)) == 0 &&
	    (r = kb_buf_put_cstring(&req, KB_AGENT_EXT_REPLACE)) == 0 && (r = put_key_blob(&req, old)) == 0 &&
	    (r = put_add_body(&req, new_key, comment, cons)) == 0)
		r = simple_call(c, &req);
	kb_buf_done(&req);
	return r;
}

int kb_agent_sign(struct kb_agent_client *c, const struct kb_key *k, const uint8_t *data, size_t len,
		  uint32_t flags, struct kb_buf *sig_out)
{
	struct kb_buf req, reply;
	const uint8_t *sig;
	size_t siglen;
	int r;

	kb_buf_init(&req, KB_AGENT_MAX_MSG);
	kb_buf_init(&reply, KB_AGENT_MAX_MSG);
	if ((r = kb_buf_put_u8(&req, KB_AGENTC_SIGN_REQUEST)) != 0 || (r = put_key_blob(&req, k)) != 0 ||
	    (r = kb_buf_put_string(&req, data, len)) != 0 || (r = kb_buf_put_u32(&req, flags)) != 0)
		goto out;
	if ((r = call_expect(c, &req, &reply, KB_AGENT_SIGN_RESPONSE)) != 0 ||
	    (r = kb_buf_get_string_direct(&reply, &sig, &siglen)) != 0 || (r = kb_buf_expect_end(&reply)) != 0)
		goto out;
	r = kb_buf_put(sig_out, sig, siglen);
out:
	kb_buf_done(&req);
	kb_buf_done(&reply);
	return r;
}
