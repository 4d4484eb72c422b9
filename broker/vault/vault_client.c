/* Vault HTTP client: authentication, retries, and error messages. */
#include "vault/vault_client.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "vault/vault_json.h"

#define TOKEN_FILE_MAX 4096u

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static char *secure_strdup(const char *s, size_t n)
{
	char *p = kb_secure_alloc(n + 1);
	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static void secure_str_free(char **p)
{
	if (*p != NULL)
		kb_secure_free(*p);
	*p = NULL;
}

/* Reads a token or secret id file, trimmed, into guarded memory. */
static int read_secret_file(const char *path, char **ret)
{
	struct kb_buf b;
	int r;

	*ret = NULL;
	kb_buf_init_secure(&b, TOKEN_FILE_MAX);
	if ((r = kb_read_file(path, TOKEN_FILE_MAX, &b)) != KB_OK)
		goto out;
	size_t start = 0, end = b.len;
	while (start < end && (b.data[start] == ' ' || b.data[start] == '\n' || b.data[start] == '\r' || b.data[start] == '\t'))
		start++;
	while (end > start && (b.data[end - 1] == ' ' || b.data[end - 1] == '\n' || b.data[end - 1] == '\r' || b.data[end - 1] == '\t'))
		end--;
	for (size_t i = start; i < end; i++)
		if (b.data[i] < 0x21 || b.data[i] > 0x7e) {
			r = kb_err_set(KB_ERR_INVALID, "%s holds characters a Vault credential cannot have", path);
			goto out;
		}
	if (start == end) {
		r = kb_err_set(KB_ERR_AUTH, "%s is empty", path);
		goto out;
	}
	if ((*ret = secure_strdup((const char *)b.data + start, end - start)) == NULL)
		r = KB_ERR_NOMEM;
out:
	kb_buf_done(&b);
	return r;
}

static const char *setting(const struct kb_config *cfg, const char *key, const char *env)
{
	const char *v = cfg ? kb_config_get(cfg, key) : NULL;
	if ((v == NULL || *v == '\0') && env != NULL)
		v = getenv(env);
	return v != NULL && *v != '\0' ? v : NULL;
}

static bool addr_ok(const char *a)
{
	if (strncmp(a, "https://", 8) == 0)
		return a[8] != '\0';
	if (strncmp(a, "http://", 7) != 0)
		return false;
	/* Plain http only to this host: the token would cross the network
	 * in clear otherwise. */
	const char *h = a + 7;
	static const char *const local[] = { "127.0.0.1", "localhost", "[::1]" };
	for (size_t i = 0; i < KB_ARRAY_SIZE(local); i++) {
		size_t n = strlen(local[i]);
		if (strncmp(h, local[i], n) == 0 && (h[n] == '\0' || h[n] == ':' || h[n] == '/'))
			return true;
	}
	return false;
}

static bool mount_ok(const char *m)
{
	size_t n = strlen(m);
	if (n == 0 || n > 128 || m[0] == '/' || m[n - 1] == '/' || strstr(m, "//") || strstr(m, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = m[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_' || ch == '.' || ch == '/'))
			return false;
	}
	return true;
}

int kb_vault_client_init(struct kb_vault_client *c, const struct kb_config *cfg)
{
	const char *v;
	uint64_t n;
	int r;

	memset(c, 0, sizeof(*c));
	c->opened_ms = mono_ms();
	c->lookup_after_ms = 60000;
	c->max_attempts = 7;
	c->deadline_ms = 30000;
	if ((v = getenv("VAULT_MAX_RETRIES")) != NULL && *v) {
		if (kb_parse_u64(v, 20, &n) != KB_OK)
			return kb_err_set(KB_ERR_INVALID, "VAULT_MAX_RETRIES must be a number from 0 to 20");
		c->max_attempts = (unsigned)n + 1;
	}
	if ((v = getenv("VAULT_CLIENT_TIMEOUT")) != NULL && *v) {
		int64_t secs;
		if (kb_parse_duration(v, &secs) != KB_OK || secs < 1 || secs > 3600)
			return kb_err_set(KB_ERR_INVALID, "VAULT_CLIENT_TIMEOUT must be a duration from 1s to 1h");
		c->deadline_ms = (long)secs * 1000;
	}

	v = setting(cfg, "vault.addr", "VAULT_ADDR");
	if (v == NULL)
		return kb_err_set(KB_ERR_INVALID, "no Vault address: set VAULT_ADDR (or vault.addr in the config)");
	if (!addr_ok(v))
		return kb_err_set(KB_ERR_INVALID,
				  "VAULT_ADDR %.200s: use https:// (plain http:// only for 127.0.0.1 or localhost)", v);
	if ((c->addr = kb_strdup(v)) == NULL)
		goto nomem;
	for (size_t len = strlen(c->addr); len > 0 && c->addr[len - 1] == '/'; len--)
		c->addr[len - 1] = '\0';

	v = setting(cfg, "vault.mount", NULL);
	if (v == NULL)
		v = "secret";
	if (!mount_ok(v)) {
		r = kb_err_set(KB_ERR_INVALID, "vault.mount %.200s is not a valid mount path", v);
		goto fail;
	}
	if ((c->mount = kb_strdup(v)) == NULL)
		goto nomem;
	if ((v = setting(cfg, "vault.namespace", "VAULT_NAMESPACE")) != NULL) {
		if (!kb_str_printable(v) || strlen(v) > 256) {
			r = kb_err_set(KB_ERR_INVALID, "VAULT_NAMESPACE is not a valid namespace path");
			goto fail;
		}
		if ((c->namespace_ = kb_strdup(v)) == NULL)
			goto nomem;
	}
	if ((v = setting(cfg, "vault.cacert", "VAULT_CACERT")) != NULL && (c->cacert = kb_strdup(v)) == NULL)
		goto nomem;
	v = setting(cfg, "vault.approle_mount", "VAULT_APPROLE_MOUNT");
	if (v == NULL)
		v = "approle";
	if (!mount_ok(v)) {
		r = kb_err_set(KB_ERR_INVALID, "VAULT_APPROLE_MOUNT %.200s is not a valid mount path", v);
		goto fail;
	}
	if ((c->approle_mount = kb_strdup(v)) == NULL)
		goto nomem;

	/* Token sources, in the order Vault users expect: an explicit token,
	 * then AppRole credentials, then what `vault login` saved. */
	const char *role = setting(cfg, "vault.role_id", "VAULT_ROLE_ID");
	if ((v = getenv("VAULT_TOKEN")) != NULL && *v) {
		if (!kb_str_printable(v) || strlen(v) > KB_VAULT_TOKEN_MAX || strchr(v, ' ')) {
			r = kb_err_set(KB_ERR_INVALID, "VAULT_TOKEN holds characters a Vault token cannot have");
			goto fail;
		}
		if ((c->token = secure_strdup(v, strlen(v))) == NULL)
			goto nomem;
		c->source = KB_VAULT_TOKEN_ENV;
	} else if (role != NULL) {
		if (!kb_str_printable(role) || strlen(role) > 256) {
			r = kb_err_set(KB_ERR_INVALID, "VAULT_ROLE_ID is not a valid role id");
			goto fail;
		}
		if ((c->role_id = secure_strdup(role, strlen(role))) == NULL)
			goto nomem;
		const char *file = setting(cfg, "vault.secret_id_file", "VAULT_SECRET_ID_FILE");
		if (file != NULL) {
			if ((r = read_secret_file(file, &c->secret_id)) != KB_OK)
				goto fail;
		} else if ((v = getenv("VAULT_SECRET_ID")) != NULL && *v) {
			if (!kb_str_printable(v) || strlen(v) > 1024) {
				r = kb_err_set(KB_ERR_INVALID, "VAULT_SECRET_ID is not a valid secret id");
				goto fail;
			}
			if ((c->secret_id = secure_strdup(v, strlen(v))) == NULL)
				goto nomem;
		}
		c->source = KB_VAULT_TOKEN_APPROLE;
	} else if ((v = getenv("HOME")) != NULL && *v) {
		char *path = kb_asprintf("%s/.vault-token", v);
		if (path == NULL)
			goto nomem;
		r = read_secret_file(path, &c->token);
		free(path);
		if (r == KB_OK)
			c->source = KB_VAULT_TOKEN_FILE;
		else if (r != KB_ERR_NOT_FOUND && r != KB_ERR_IO)
			goto fail;
		kb_err_clear_detail();
	}
	return KB_OK;
nomem:
	r = KB_ERR_NOMEM;
fail:
	kb_vault_client_done(c);
	return r;
}

void kb_vault_client_done(struct kb_vault_client *c)
{
	if (c == NULL)
		return;
	free(c->addr);
	free(c->mount);
	free(c->namespace_);
	free(c->cacert);
	free(c->approle_mount);
	secure_str_free(&c->token);
	secure_str_free(&c->role_id);
	secure_str_free(&c->secret_id);
	memset(c, 0, sizeof(*c));
}

char *kb_vault_path(const struct kb_vault_client *c, const char *op, const char *name)
{
	struct kb_buf b;
	char *ret = NULL;
	static const char hex[] = "0123456789ABCDEF";
	int r = KB_OK;

	kb_buf_init(&b, 8192);
	r |= kb_buf_put(&b, c->mount, strlen(c->mount));
	r |= kb_buf_put(&b, "/", 1);
	r |= kb_buf_put(&b, op, strlen(op));
	if (name != NULL && *name) {
		r |= kb_buf_put(&b, "/", 1);
		for (const char *p = name; *p; p++) {
			unsigned char ch = (unsigned char)*p;
			if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			    ch == '-' || ch == '_' || ch == '.' || ch == '~' || ch == '/') {
				r |= kb_buf_put_u8(&b, ch);
			} else {
				char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };
				r |= kb_buf_put(&b, e, 3);
			}
		}
	}
	r |= kb_buf_put_u8(&b, 0);
	if (r == KB_OK)
		ret = kb_strdup((const char *)b.data);
	kb_buf_done(&b);
	return ret;
}

static bool retryable_status(long st)
{
	return st == 429 || st == 500 || st == 502 || st == 503 || st == 504;
}

struct call_state {
	long last_status;
	int last_err;
	bool tls;                 /* TLS failed: not worth retrying */
	char errmsg[256];
};

/* One request with retries; status 2xx/4xx/other final answers come back
 * with KB_OK and resp filled. */
static int request(struct kb_vault_client *c, const char *method, const char *path, const char *query,
		   const struct kb_buf *body, bool with_token, bool secret_answer, struct kb_http_response *resp,
		   struct call_state *cs)
{
	struct kb_retry rt = { c->max_attempts, 100, 2000, c->deadline_ms };
	struct kb_http_header hdr[4];
	size_t nh = 0;
	int64_t start = mono_ms();
	char *url;
	int r = KB_OK;

	url = kb_asprintf("%s/v1/%s%s%s", c->addr, path, query ? "?" : "", query ? query : "");
	if (url == NULL)
		return KB_ERR_NOMEM;
	if (with_token)
		hdr[nh++] = (struct kb_http_header){ "X-Vault-Token", c->token };
	if (c->namespace_ != NULL)
		hdr[nh++] = (struct kb_http_header){ "X-Vault-Namespace", c->namespace_ };
	hdr[nh++] = (struct kb_http_header){ "X-Vault-Request", "true" };
	if (body != NULL)
		hdr[nh++] = (struct kb_http_header){ "Content-Type", "application/json" };

	for (unsigned attempt = 1;; attempt++) {
		long elapsed = (long)(mono_ms() - start);
		long left = c->deadline_ms - elapsed;
		struct kb_http_request req = {
			.method = method,
			.url = url,
			.headers = hdr,
			.nheaders = nh,
			.body = body ? kb_buf_ptr(body) : NULL,
			.body_len = body ? kb_buf_remaining(body) : 0,
			.timeout_ms = left > 0 ? left : 1,
			.connect_timeout_ms = left > 0 && left < 3000 ? left : 3000,
			.ca_file = c->cacert,
			.max_body = KB_VAULT_JSON_MAX,
			.secure_body = secret_answer,
		};
		kb_http_response_done(resp);
		memset(resp, 0, sizeof(*resp));
		r = kb_http_do(&req, resp);
		cs->last_err = r;
		cs->last_status = r == KB_OK ? resp->status : 0;
		cs->errmsg[0] = '\0';
		if (r == KB_OK && resp->status >= 400)
			kb_vault_parse_errors(kb_buf_ptr(&resp->body), kb_buf_remaining(&resp->body), cs->errmsg,
					      sizeof(cs->errmsg));
		if (r == KB_OK && !retryable_status(resp->status))
			break;
		if (r != KB_OK && r != KB_ERR_NETWORK && r != KB_ERR_TIMEOUT)
			break;
		if (r != KB_OK)
			snprintf(cs->errmsg, sizeof(cs->errmsg), "%s", kb_err_detail());
		cs->tls = r == KB_ERR_NETWORK && strstr(cs->errmsg, ": TLS: ") != NULL;
		if (cs->tls)
			break;
		long delay = kb_retry_delay_ms(&rt, attempt, (long)(mono_ms() - start));
		if (delay < 0)
			break;
		kb_debug("Vault %s %s: %s, retry %u in %ld ms", method, path,
			 r == KB_OK ? "retryable status" : kb_err_str(r), attempt, delay);
		sleep_ms(delay);
	}
	free(url);
	return r;
}

static int login(struct kb_vault_client *c)
{
	struct kb_http_response resp;
	struct call_state cs;
	struct kb_buf body;
	struct kb_vault_auth auth;
	char *path = NULL;
	json_t *j = NULL;
	int r;

	memset(&resp, 0, sizeof(resp));
	kb_buf_init_secure(&body, 8192);
	if (c->secret_id == NULL)
		return kb_err_set(KB_ERR_AUTH, "VAULT_ROLE_ID is set but no secret id: set VAULT_SECRET_ID or VAULT_SECRET_ID_FILE");
	j = json_pack("{s:s, s:s}", "role_id", c->role_id, "secret_id", c->secret_id);
	if (j == NULL || (path = kb_asprintf("auth/%s/login", c->approle_mount)) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	size_t need = json_dumpb(j, NULL, 0, JSON_COMPACT);
	uint8_t *dst;
	if ((r = kb_buf_reserve(&body, need, &dst)) != KB_OK)
		goto out;
	json_dumpb(j, (char *)dst, need, JSON_COMPACT);
	if ((r = request(c, "POST", path, NULL, &body, false, true, &resp, &cs)) != KB_OK) {
		r = kb_err_set(r, "Vault AppRole login at %s failed: %s", c->addr, cs.errmsg);
		goto out;
	}
	if (resp.status != 200) {
		if (resp.status == 400 || resp.status == 403)
			r = kb_err_set(KB_ERR_AUTH,
				       "Vault AppRole login rejected (%ld %s): check VAULT_ROLE_ID and the secret id",
				       resp.status, cs.errmsg);
		else if (resp.status == 503)
			r = kb_err_set(KB_ERR_SEALED, "Vault is sealed: unseal it or wait (AppRole login)");
		else if (resp.status == 429)
			r = kb_err_set(KB_ERR_THROTTLED, "Vault rate-limited the AppRole login: try again later");
		else
			r = kb_err_set(KB_ERR_BACKEND, "Vault AppRole login answered %ld: %s", resp.status, cs.errmsg);
		goto out;
	}
	if ((r = kb_vault_parse_auth(kb_buf_ptr(&resp.body), kb_buf_remaining(&resp.body), &auth)) != KB_OK)
		goto out;
	secure_str_free(&c->token);
	c->token = auth.token;
	auth.token = NULL;
	c->token_lease_s = auth.lease_duration;
	c->token_renewable = auth.renewable;
	c->token_obtained_ms = mono_ms();
	c->logins++;
	kb_debug("Vault AppRole login: token lease %lld s", (long long)c->token_lease_s);
	kb_vault_auth_done(&auth);
out:
	json_decref(j);
	free(path);
	kb_buf_done(&body);
	kb_http_response_done(&resp);
	return r;
}

static int renew(struct kb_vault_client *c)
{
	struct kb_http_response resp;
	struct call_state cs;
	struct kb_buf body;
	struct kb_vault_auth auth;
	char inc[64];
	int r;

	memset(&resp, 0, sizeof(resp));
	kb_buf_init(&body, sizeof(inc));
	snprintf(inc, sizeof(inc), "{\"increment\":\"%llds\"}", (long long)c->token_lease_s);
	if ((r = kb_buf_put(&body, inc, strlen(inc))) != KB_OK)
		goto out;
	r = request(c, "POST", "auth/token/renew-self", NULL, &body, true, true, &resp, &cs);
	if (r != KB_OK || resp.status != 200) {
		r = r != KB_OK ? r : KB_ERR_AUTH;
		goto out;
	}
	if ((r = kb_vault_parse_auth(kb_buf_ptr(&resp.body), kb_buf_remaining(&resp.body), &auth)) != KB_OK)
		goto out;
	/* At the max TTL Vault answers with a shorter lease: log in again
	 * once it is too short to be worth keeping. */
	if (auth.lease_duration * 3 < c->token_lease_s) {
		kb_vault_auth_done(&auth);
		r = KB_ERR_EXPIRED;
		goto out;
	}
	c->token_obtained_ms = mono_ms();
	c->token_lease_s = auth.lease_duration;
	c->token_renewable = auth.renewable;
	c->renewals++;
	kb_debug("Vault token renewed: lease %lld s", (long long)c->token_lease_s);
	kb_vault_auth_done(&auth);
out:
	kb_buf_done(&body);
	kb_http_response_done(&resp);
	return r;
}

/* Learns a static token's TTL once (see vault_client.h). */
static void lookup_static(struct kb_vault_client *c)
{
	struct kb_http_response resp;
	struct call_state cs;
	struct kb_vault_lookup lk;

	memset(&resp, 0, sizeof(resp));
	c->looked_up = true;
	if (request(c, "GET", "auth/token/lookup-self", NULL, NULL, true, true, &resp, &cs) == KB_OK &&
	    resp.status == 200 &&
	    kb_vault_parse_lookup(kb_buf_ptr(&resp.body), kb_buf_remaining(&resp.body), &lk) == KB_OK &&
	    lk.ttl > 0 && lk.renewable) {
		int64_t lease = lk.creation_ttl > lk.ttl ? lk.creation_ttl : lk.ttl;
		c->token_lease_s = lease;
		c->token_renewable = true;
		c->token_obtained_ms = mono_ms() - (lease - lk.ttl) * 1000;
		kb_debug("Vault token: ttl %lld s of %lld s, will renew", (long long)lk.ttl, (long long)lease);
	}
	kb_err_clear_detail();
	kb_http_response_done(&resp);
}

int kb_vault_client_ensure_token(struct kb_vault_client *c)
{
	if (c->source == KB_VAULT_TOKEN_APPROLE) {
		int64_t age = mono_ms() - c->token_obtained_ms;
		int64_t lease_ms = c->token_lease_s * 1000;
		if (c->token == NULL)
			return login(c);
		if (lease_ms == 0 || age < lease_ms * 2 / 3)
			return KB_OK;
		/* Renew at two thirds of the lease; log in again when the
		 * token cannot be renewed or is (nearly) gone. */
		if (c->token_renewable && age < lease_ms - 250 && renew(c) == KB_OK)
			return KB_OK;
		kb_err_clear_detail();
		return login(c);
	}
	if (c->token == NULL)
		return kb_err_set(KB_ERR_AUTH, "no Vault token: set VAULT_TOKEN, run `vault login` (~/.vault-token), "
					       "or set VAULT_ROLE_ID and VAULT_SECRET_ID for AppRole");
	if (!c->looked_up && mono_ms() - c->opened_ms >= c->lookup_after_ms)
		lookup_static(c);
	if (c->token_renewable && c->token_lease_s > 0) {
		int64_t age = mono_ms() - c->token_obtained_ms, lease_ms = c->token_lease_s * 1000;
		/* Nothing to fall back on: when renewal stops working the
		 * token is used as it is until Vault refuses it. */
		if (age >= lease_ms * 2 / 3 && age < lease_ms - 250 && renew(c) != KB_OK) {
			c->token_renewable = false;
			kb_err_clear_detail();
		}
	}
	return KB_OK;
}

static const char *token_hint(const struct kb_vault_client *c)
{
	switch (c->source) {
	case KB_VAULT_TOKEN_ENV:
		return "the token in VAULT_TOKEN";
	case KB_VAULT_TOKEN_FILE:
		return "the token in ~/.vault-token";
	case KB_VAULT_TOKEN_APPROLE:
		return "the AppRole's token";
	default:
		return "the token";
	}
}

int kb_vault_call(struct kb_vault_client *c, const char *method, const char *path, const char *query,
		  const struct kb_buf *body, bool secret_answer, struct kb_http_response *resp)
{
	struct call_state cs;
	int r;

	memset(&cs, 0, sizeof(cs));
	if ((r = kb_vault_client_ensure_token(c)) != KB_OK)
		return r;
	r = request(c, method, path, query, body, true, secret_answer, resp, &cs);
	if (r == KB_OK && resp->status == 403 && c->source == KB_VAULT_TOKEN_APPROLE) {
		/* The token may have been revoked or expired early: one fresh
		 * login, then the same request once more. */
		kb_debug("Vault 403 with an AppRole token: logging in again");
		if ((r = login(c)) != KB_OK)
			return r;
		r = request(c, method, path, query, body, true, secret_answer, resp, &cs);
	}
	if (r != KB_OK) {
		if (r == KB_ERR_TIMEOUT)
			return kb_err_set(r, "no answer from Vault at %s within %ld s (%s %s): %s", c->addr,
					  c->deadline_ms / 1000, method, path, cs.errmsg);
		if (r == KB_ERR_NETWORK && cs.tls)
			return kb_err_set(r, "cannot reach Vault at %s: TLS verification failed (%s): %s", c->addr,
					  c->cacert ? "is VAULT_CACERT the CA that signed Vault's certificate?"
						    : "set VAULT_CACERT to the CA that signed Vault's certificate",
					  strstr(cs.errmsg, ": TLS: ") + 7);
		if (r == KB_ERR_NETWORK)
			return kb_err_set(r, "cannot reach Vault at %s (%s): %s", c->addr, path, cs.errmsg);
		if (r == KB_ERR_TOO_LARGE)
			return kb_err_set(r, "Vault's answer to %s %s is over %u bytes: refused", method, path,
					  KB_VAULT_JSON_MAX);
		return r;
	}
	long st = resp->status;
	if (st >= 200 && st < 300)
		return KB_OK;
	switch (st) {
	case 404:
		return kb_err_set(KB_ERR_NOT_FOUND, "Vault has nothing at %s", path);
	case 403:
		return kb_err_set(KB_ERR_AUTH,
				  "Vault denied access to %s: check %s's policy (and that it has not expired)",
				  path, token_hint(c));
	case 429:
		return kb_err_set(KB_ERR_THROTTLED,
				  "Vault is rate limiting requests (429 on %s, %u attempts): try again later or raise the quota",
				  path, c->max_attempts);
	case 503:
		if (strstr(cs.errmsg, "sealed") != NULL)
			return kb_err_set(KB_ERR_SEALED, "Vault is sealed: unseal it or wait (%s)", path);
		return kb_err_set(KB_ERR_BACKEND, "Vault is unavailable (503 on %s): %s", path, cs.errmsg);
	case 400:
		if (strstr(cs.errmsg, "check-and-set") != NULL)
			return kb_err_set(KB_ERR_CONFLICT, "%s changed concurrently (Vault: %s)", path, cs.errmsg);
		break;
	default:
		break;
	}
	return kb_err_set(KB_ERR_BACKEND, "Vault answered %ld to %s %s: %s", st, method, path,
			  cs.errmsg[0] ? cs.errmsg : "(no message)");
}
