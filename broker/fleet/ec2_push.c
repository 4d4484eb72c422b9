/* EC2 Instance Connect pushes.  See ec2_push.h. */
#include "fleet/ec2_push.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aws/client.h"
#include "core/mem.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "fleet/eic.h"

#define TARGET "AWSEC2InstanceConnectService.SendSSHPublicKey"

int kb_ec2_read_pubkey(const char *path, char **ret_line, char *fp, size_t fplen)
{
	struct kb_buf b;
	int r;

	*ret_line = NULL;
	kb_buf_init(&b, KB_EC2_PUBKEY_MAX);
	if ((r = kb_read_file(path, KB_EC2_PUBKEY_MAX, &b)) != 0)
		goto out;
	size_t n = kb_buf_remaining(&b);
	const char *p = (const char *)kb_buf_ptr(&b);
	if (memmem(p, n, "PRIVATE KEY", 11) != NULL) {
		r = kb_err_set(KB_ERR_INVALID, "%s is a private key: pass the .pub file", path);
		goto out;
	}
	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	char *line = malloc(n + 1);
	if (line == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	memcpy(line, p, n);
	line[n] = '\0';
	if (strlen(line) != n || !kb_str_printable(line) || strchr(line, '\n') != NULL ||
	    (strncmp(line, "ssh-ed25519 ", 12) != 0 && strncmp(line, "ssh-rsa ", 8) != 0 &&
	     strncmp(line, "ecdsa-sha2-nistp", 16) != 0) ||
	    kb_eic_fingerprint(line, fp, fplen) != 0) {
		free(line);
		r = kb_err_set(KB_ERR_INVALID, "%s is not one OpenSSH public key line (ssh-ed25519, ssh-rsa or ecdsa)",
			       path);
		goto out;
	}
	*ret_line = line;
out:
	kb_buf_done(&b);
	return r;
}

static int mkdir_p(const char *dir)
{
	char tmp[4096];
	if (kb_strlcpy(tmp, dir, sizeof(tmp)) >= sizeof(tmp))
		return KB_ERR_INVALID;
	for (char *p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
				return kb_err_errno(tmp);
			*p = '/';
		}
	}
	if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
		return kb_err_errno(tmp);
	return KB_OK;
}

char *kb_ec2_default_cache_path(void)
{
	const char *rt = getenv("XDG_RUNTIME_DIR"), *home = getenv("HOME");
	char *dir = NULL, *path = NULL;

	if (rt != NULL && rt[0] == '/')
		dir = kb_asprintf("%s/keybroker", rt);
	else if (home != NULL && home[0] == '/')
		dir = kb_asprintf("%s/.cache/keybroker", home);
	if (dir != NULL && mkdir_p(dir) == 0)
		path = kb_asprintf("%s/ec2-push.cache", dir);
	free(dir);
	return path;
}

/* Cache: lines "instance user fingerprint unixtime". */
struct cache {
	json_t *entries; /* object "instance user fp" -> integer time */
	int lock_fd;
};

static int cache_open(struct cache *c, const char *path)
{
	struct kb_buf b;
	char *lock = kb_asprintf("%s.lock", path);
	int r = KB_OK;

	c->entries = json_object();
	c->lock_fd = -1;
	if (lock == NULL || c->entries == NULL) {
		free(lock);
		return KB_ERR_NOMEM;
	}
	/* One pusher at a time per cache: two runs must not both push. */
	c->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(lock);
	if (c->lock_fd < 0 || flock(c->lock_fd, LOCK_EX) != 0)
		return kb_err_errno("push cache lock");
	kb_buf_init(&b, KB_EC2_CACHE_MAX);
	r = kb_read_file(path, KB_EC2_CACHE_MAX, &b);
	if (r == KB_ERR_NOT_FOUND)
		r = KB_OK; /* no cache yet */
	if (r == KB_ERR_TOO_LARGE)
		r = KB_OK; /* start afresh rather than fail a deploy over a cache */
	int64_t now = (int64_t)time(NULL);
	while (r == 0 && kb_buf_remaining(&b) > 0) {
		const char *p = (const char *)kb_buf_ptr(&b);
		size_t rem = kb_buf_remaining(&b);
		const char *nl = memchr(p, '\n', rem);
		size_t n = nl ? (size_t)(nl - p) : rem;
		char line[512], inst[64], user[64], fp[96];
		long long t;
		kb_buf_skip(&b, nl ? n + 1 : n);
		if (n >= sizeof(line))
			continue;
		memcpy(line, p, n);
		line[n] = '\0';
		if (sscanf(line, "%63s %63s %95s %lld", inst, user, fp, &t) != 4)
			continue;
		if (now - t >= KB_EC2_KEY_LIFETIME_S || t > now + 5)
			continue; /* lapsed, or from the future */
		char *k = kb_asprintf("%s %s %s", inst, user, fp);
		if (k == NULL || json_object_set_new(c->entries, k, json_integer(t)) != 0)
			r = KB_ERR_NOMEM;
		free(k);
	}
	kb_buf_done(&b);
	return r;
}

static int cache_save(struct cache *c, const char *path)
{
	struct kb_buf out;
	const char *k;
	json_t *v;
	int r = KB_OK;

	kb_buf_init(&out, KB_EC2_CACHE_MAX);
	json_object_foreach(c->entries, k, v) {
		char line[512];
		int n = snprintf(line, sizeof(line), "%s %lld\n", k, (long long)json_integer_value(v));
		if (n < 0 || (size_t)n >= sizeof(line) || (r = kb_buf_put(&out, line, (size_t)n)) != 0)
			break;
	}
	if (r == 0)
		r = kb_write_file_atomic(path, kb_buf_ptr(&out), kb_buf_remaining(&out), 0600, false);
	kb_buf_done(&out);
	return r;
}

static void cache_close(struct cache *c)
{
	json_decref(c->entries);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
}

struct pool {
	const struct kb_ec2_push_opts *o;
	struct kb_ec2_target *t;
	size_t n, next;
	pthread_mutex_t mu;
};

static void push_one(struct kb_aws_client *client, const struct kb_ec2_push_opts *o, struct kb_ec2_target *t)
{
	struct kb_aws_result res;
	json_t *body = json_pack("{s:s, s:s, s:s}", "InstanceId", t->instance_id, "InstanceOSUser", o->os_user,
				 "SSHPublicKey", o->pubkey);
	char *text = NULL;

	memset(&res, 0, sizeof(res));
	if (body == NULL || (t->az != NULL && json_object_set_new(body, "AvailabilityZone", json_string(t->az)) != 0) ||
	    (text = json_dumps(body, JSON_COMPACT)) == NULL) {
		t->err = KB_ERR_NOMEM;
		goto out;
	}
	/* Pushing twice within the window is harmless: idempotent for retries. */
	t->err = kb_aws_json_call(client, TARGET, text, strlen(text), true, &res);
	t->attempts = res.attempts;
	if (t->err == 0) {
		json_error_t jerr;
		json_t *reply = json_loadb((const char *)kb_buf_ptr(&res.resp.body), kb_buf_remaining(&res.resp.body), 0,
					   &jerr);
		const char *rid = json_string_value(json_object_get(reply, "RequestId"));
		if (!json_is_true(json_object_get(reply, "Success"))) {
			t->err = kb_err_set(KB_ERR_BACKEND, "SendSSHPublicKey did not report success");
		} else {
			t->pushed_at = (int64_t)time(NULL);
			if (rid != NULL && kb_str_printable(rid))
				kb_strlcpy(t->request_id, rid, sizeof(t->request_id));
		}
		json_decref(reply);
	}
	if (t->err != 0)
		snprintf(t->detail, sizeof(t->detail), "%s", kb_err_detail());
out:
	kb_json_free_string(text);
	json_decref(body);
	kb_aws_result_done(&res);
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	struct kb_aws_client client;
	int r = kb_aws_client_init(&client, "ec2-instance-connect", p->o->region, p->o->endpoint, p->o->profile);
	char detail[256];

	snprintf(detail, sizeof(detail), "%s", r ? kb_err_detail() : "");
	for (;;) {
		pthread_mutex_lock(&p->mu);
		size_t i = p->next;
		while (i < p->n && p->t[i].skipped)
			i++;
		p->next = i < p->n ? i + 1 : i;
		pthread_mutex_unlock(&p->mu);
		if (i >= p->n)
			break;
		if (r != 0) {
			p->t[i].err = r;
			kb_strlcpy(p->t[i].detail, detail, sizeof(p->t[i].detail));
			continue;
		}
		push_one(&client, p->o, &p->t[i]);
	}
	if (r == 0)
		kb_aws_client_done(&client);
	return NULL;
}

static const char *endpoint_from_env(const char *given)
{
	const char *e = given;
	if (e == NULL || e[0] == '\0')
		e = getenv("AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT");
	if (e == NULL || e[0] == '\0')
		e = getenv("AWS_ENDPOINT_URL");
	return e != NULL && e[0] != '\0' ? e : NULL;
}

int kb_ec2_push_many(const struct kb_ec2_push_opts *o, struct kb_ec2_target *t, size_t n)
{
	struct cache cache = { .entries = NULL, .lock_fd = -1 };
	struct kb_ec2_push_opts eo = *o;
	struct pool pool = { .o = &eo, .t = t, .n = n };
	pthread_t th[KB_EC2_MAX_PARALLEL];
	unsigned nth = o->parallel == 0 ? 1 : o->parallel;
	int64_t now = (int64_t)time(NULL);
	int r;

	if (n > KB_EC2_MAX_TARGETS)
		return kb_err_set(KB_ERR_TOO_LARGE, "more than %u instances", KB_EC2_MAX_TARGETS);
	if (nth > KB_EC2_MAX_PARALLEL)
		nth = KB_EC2_MAX_PARALLEL;
	eo.endpoint = endpoint_from_env(o->endpoint);
	if (o->cache_path != NULL && (r = cache_open(&cache, o->cache_path)) != 0) {
		cache_close(&cache);
		for (size_t i = 0; i < n; i++) {
			t[i].err = r;
			snprintf(t[i].detail, sizeof(t[i].detail), "push cache %s: %s", o->cache_path, kb_err_detail());
		}
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		t[i].err = KB_OK;
		t[i].skipped = false;
		if (cache.entries == NULL || o->force)
			continue;
		char *k = kb_asprintf("%s %s %s", t[i].instance_id, o->os_user, o->fingerprint);
		json_t *v = k ? json_object_get(cache.entries, k) : NULL;
		if (v != NULL && now - json_integer_value(v) < KB_EC2_KEY_LIFETIME_S - KB_EC2_REPUSH_MARGIN_S) {
			t[i].skipped = true;
			t[i].pushed_at = json_integer_value(v);
		}
		free(k);
	}
	if (nth > n)
		nth = n ? (unsigned)n : 1;
	pthread_mutex_init(&pool.mu, NULL);
	unsigned started = 0;
	for (; started < nth; started++)
		if (pthread_create(&th[started], NULL, worker, &pool) != 0)
			break;
	if (started == 0)
		worker(&pool);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&pool.mu);

	r = KB_OK;
	for (size_t i = 0; i < n; i++) {
		if (t[i].err != 0 && r == 0)
			r = t[i].err;
		if (t[i].err == 0 && !t[i].skipped && cache.entries != NULL) {
			char *k = kb_asprintf("%s %s %s", t[i].instance_id, o->os_user, o->fingerprint);
			if (k != NULL)
				json_object_set_new(cache.entries, k, json_integer(t[i].pushed_at));
			free(k);
		}
	}
	if (cache.entries != NULL && o->cache_path != NULL) {
		int cr = cache_save(&cache, o->cache_path);
		if (cr != 0)
			kb_warn("cannot save the push cache %s: %s", o->cache_path, kb_err_detail());
	}
	cache_close(&cache);
	return r;
}
