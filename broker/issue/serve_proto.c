/* Request parsing and framing for broker serve. */
#include "serve_proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/mem.h"
#include "core/err.h"
#include "core/util.h"

void kb_serve_request_done(struct kb_serve_request *r)
{
	if (r == NULL)
		return;
	free(r->role);
	for (size_t i = 0; i < r->nprincipals; i++)
		free(r->principals[i]);
	free(r->principals);
	free(r->key_type);
	free(r->name);
	free(r->host);
	memset(r, 0, sizeof(*r));
}

static int get_str(json_t *o, const char *k, char **out)
{
	json_t *v = json_object_get(o, k);
	if (v == NULL)
		return KB_OK;
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > KB_POLICY_MAX_STRING ||
	    !kb_str_printable(json_string_value(v)))
		return kb_err_set(KB_ERR_INVALID, "'%s' must be a short printable string", k);
	return (*out = kb_strdup(json_string_value(v))) ? KB_OK : KB_ERR_NOMEM;
}

int kb_serve_parse_request(const uint8_t *body, size_t len, struct kb_serve_request *ret)
{
	static const char *const known[] = { "op", "role", "principals", "ttl", "key_type", "name", "host", "ca" };
	static const char *const claims[] = { "user", "uid", "gid", "requester", "groups", "requested_by" };
	json_error_t jerr;
	json_t *j = NULL;
	const char *key;
	json_t *v;
	int r = KB_OK;

	memset(ret, 0, sizeof(*ret));
	if (len > KB_SERVE_REQUEST_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "request larger than %u bytes", KB_SERVE_REQUEST_MAX);
	if ((j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return kb_err_set(KB_ERR_INVALID, "request is not JSON: %s", jerr.text);
	if (!json_is_object(j)) {
		r = kb_err_set(KB_ERR_INVALID, "request must be a JSON object");
		goto out;
	}
	json_object_foreach(j, key, v) {
		bool ok = false;
		for (size_t i = 0; i < KB_ARRAY_SIZE(claims); i++)
			if (strcmp(key, claims[i]) == 0) {
				r = kb_err_set(KB_ERR_INVALID, "requests cannot name a requester ('%s'): the daemon "
							       "identifies you by your Unix user (SO_PEERCRED)", key);
				goto out;
			}
		for (size_t i = 0; i < KB_ARRAY_SIZE(known); i++)
			ok |= strcmp(key, known[i]) == 0;
		if (!ok) {
			r = kb_err_set(KB_ERR_INVALID, "unknown request field '%.64s'", key);
			goto out;
		}
	}
	json_t *op = json_object_get(j, "op");
	const char *ops = json_is_string(op) ? json_string_value(op) : "";
	if (strcmp(ops, "ping") == 0)
		ret->op = KB_SERVE_OP_PING;
	else if (strcmp(ops, "ca") == 0)
		ret->op = KB_SERVE_OP_CA;
	else if (strcmp(ops, "issue") == 0)
		ret->op = KB_SERVE_OP_ISSUE;
	else {
		r = kb_err_set(KB_ERR_INVALID, "unknown op (use ping, ca or issue)");
		goto out;
	}
	if ((r = get_str(j, "role", &ret->role)) || (r = get_str(j, "key_type", &ret->key_type)) ||
	    (r = get_str(j, "name", &ret->name)) || (r = get_str(j, "host", &ret->host)))
		goto out;
	json_t *ca = json_object_get(j, "ca");
	if (ca != NULL) {
		if (!json_is_string(ca) || (strcmp(json_string_value(ca), "user") && strcmp(json_string_value(ca), "host"))) {
			r = kb_err_set(KB_ERR_INVALID, "'ca' must be \"user\" or \"host\"");
			goto out;
		}
		ret->host_ca = strcmp(json_string_value(ca), "host") == 0;
	}
	json_t *ttl = json_object_get(j, "ttl");
	if (ttl != NULL) {
		if (json_is_integer(ttl) && json_integer_value(ttl) > 0)
			ret->ttl = json_integer_value(ttl);
		else if (!json_is_string(ttl) || kb_parse_duration(json_string_value(ttl), &ret->ttl) != KB_OK ||
			 ret->ttl <= 0) {
			r = kb_err_set(KB_ERR_INVALID, "'ttl' must be a duration such as \"30m\" or seconds");
			goto out;
		}
		if (ret->ttl > KB_POLICY_MAX_TTL_SECS)
			ret->ttl = KB_POLICY_MAX_TTL_SECS + 1; /* the policy says no */
	}
	json_t *pr = json_object_get(j, "principals");
	if (pr != NULL) {
		if (!json_is_array(pr) || json_array_size(pr) > KB_SERVE_MAX_PRINCIPALS) {
			r = kb_err_set(KB_ERR_INVALID, "'principals' must be a list of at most %d names",
				       KB_SERVE_MAX_PRINCIPALS);
			goto out;
		}
		ret->principals = calloc(json_array_size(pr) + 1, sizeof(char *));
		if (ret->principals == NULL) {
			r = KB_ERR_NOMEM;
			goto out;
		}
		size_t i;
		json_array_foreach(pr, i, v) {
			if (!json_is_string(v) || json_string_length(v) == 0 ||
			    json_string_length(v) > KB_POLICY_MAX_STRING || !kb_str_printable(json_string_value(v))) {
				r = kb_err_set(KB_ERR_INVALID, "principal %zu is not a short printable string", i);
				goto out;
			}
			if ((ret->principals[ret->nprincipals] = kb_strdup(json_string_value(v))) == NULL) {
				r = KB_ERR_NOMEM;
				goto out;
			}
			ret->nprincipals++;
		}
	}
	if (ret->op == KB_SERVE_OP_ISSUE && ret->role == NULL)
		r = kb_err_set(KB_ERR_INVALID, "an issue request needs 'role'");
out:
	json_decref(j);
	if (r != KB_OK)
		kb_serve_request_done(ret);
	return r;
}

int kb_serve_encode_request(const struct kb_serve_request *req, struct kb_buf *out)
{
	static const char *const ops[] = { "", "ping", "ca", "issue" };
	json_t *j = json_object();
	int r = KB_OK;

	if (j == NULL)
		return KB_ERR_NOMEM;
	json_object_set_new(j, "op", json_string(ops[req->op]));
	if (req->role)
		json_object_set_new(j, "role", json_string(req->role));
	if (req->nprincipals) {
		json_t *a = json_array();
		for (size_t i = 0; i < req->nprincipals; i++)
			json_array_append_new(a, json_string(req->principals[i]));
		json_object_set_new(j, "principals", a);
	}
	if (req->ttl)
		json_object_set_new(j, "ttl", json_integer(req->ttl));
	if (req->key_type)
		json_object_set_new(j, "key_type", json_string(req->key_type));
	if (req->name)
		json_object_set_new(j, "name", json_string(req->name));
	if (req->host)
		json_object_set_new(j, "host", json_string(req->host));
	if (req->op == KB_SERVE_OP_CA)
		json_object_set_new(j, "ca", json_string(req->host_ca ? "host" : "user"));
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s == NULL)
		return KB_ERR_NOMEM;
	r = kb_buf_put(out, s, strlen(s));
	kb_json_free_string(s);
	return r;
}

static int read_full(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t got = read(fd, p, n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? kb_err_set(KB_ERR_TIMEOUT, "read timed out")
								       : kb_err_errno("read");
		if (got == 0)
			return KB_ERR_TRUNCATED;
		p += got;
		n -= (size_t)got;
	}
	return KB_OK;
}

int kb_serve_read_frame(int fd, size_t max, struct kb_buf *out)
{
	uint8_t hdr[4];
	uint8_t *dst;
	int r;

	if ((r = read_full(fd, hdr, 4)) != KB_OK)
		return r;
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (n > max)
		return kb_err_set(KB_ERR_TOO_LARGE, "message of %u bytes exceeds the %zu-byte limit", n, max);
	if ((r = kb_buf_reserve(out, n, &dst)) != KB_OK)
		return r;
	return read_full(fd, dst, n);
}

int kb_serve_write_frame(int fd, const void *body, size_t len)
{
	uint8_t hdr[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len };
	const uint8_t *parts[2] = { hdr, body };
	size_t lens[2] = { 4, len };

	if (len > UINT32_MAX)
		return KB_ERR_TOO_LARGE;
	for (int i = 0; i < 2; i++) {
		const uint8_t *p = parts[i];
		size_t n = lens[i];
		while (n > 0) {
			ssize_t w = write(fd, p, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return kb_err_errno("write");
			p += w;
			n -= (size_t)w;
		}
	}
	return KB_OK;
}
