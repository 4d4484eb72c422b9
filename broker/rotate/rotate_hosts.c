/* The per-host steps of a rotation and the bounded worker pool that runs
 * them (see rotate.h).  Each host is touched by one worker at a time. */
#include "rotate_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/err.h"
#include "core/util.h"
#include "issue/audit.h"

#define TEST_MARKER "keybroker-rotate-test"
#define EXEC_OUT_MAX (64u * 1024u)

int64_t kb_rot_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* KEYBROKER_TEST_CRASH=STEP[:N] (test-only): SIGKILL this process right
 * after STEP completed (and was audited), for host N (1-based) when
 * given.  Steps: create, set, test, promote, remove, cleanup.  Used by the
 * tests to prove that a job killed anywhere converges when rerun. */
void kb_rot_crash_point(const char *step, size_t n)
{
	const char *env = getenv("KEYBROKER_TEST_CRASH");
	size_t len;

	if (env == NULL || env[0] == '\0')
		return;
	len = strcspn(env, ":");
	if (len != strlen(step) || strncmp(env, step, len) != 0)
		return;
	if (env[len] == ':') {
		uint64_t want;
		if (kb_parse_u64(env + len + 1, 1u << 20, &want) != KB_OK || want != n)
			return;
	}
	fprintf(stderr, "broker: KEYBROKER_TEST_CRASH: killed after %s%s\n", step, n ? " (host)" : "");
	fflush(NULL);
	raise(SIGKILL);
}

void kb_rot_mark(struct kb_rot_job *job, struct kb_rot_cred *rc, struct kb_rot_host *h, const char *name,
		 struct kb_rot_step *s, enum kb_rot_status st)
{
	pthread_mutex_lock(&job->lock);
	s->st = st;
	if (job->ui)
		kb_rot_ui_update(job->ui, rc, h, name, s);
	pthread_mutex_unlock(&job->lock);
}

/* Records err into s: network trouble means the host is unreachable (try
 * later), anything else is a failure a person must look at. */
void kb_rot_step_error(struct kb_rot_step *s, int err, const char *what)
{
	s->err = err;
	snprintf(s->detail, sizeof(s->detail), "%s%s%s%s%s", what ? what : "", what ? ": " : "", kb_err_str(err),
		 kb_err_detail()[0] ? ": " : "", kb_err_detail());
}

static bool is_network(int err)
{
	return err == KB_ERR_TIMEOUT || err == KB_ERR_NETWORK;
}

static enum kb_rot_status status_for(int err)
{
	return err == KB_ERR_TIMEOUT || err == KB_ERR_NETWORK ? KB_ROT_UNREACHABLE : KB_ROT_FAILED;
}

/* One audit entry per step; a step whose entry cannot be written stops
 * the credential (the change itself is idempotent and is redone or
 * finished by the next run). */
int kb_rot_audit(struct kb_rot_job *job, struct kb_rot_cred *rc, const struct kb_rot_host *h, const char *step,
		 const struct kb_rot_step *s, const char *fingerprint, const char *version)
{
	json_t *e;
	int r;

	if (job->dry_run || job->audit == NULL)
		return KB_OK;
	if ((e = json_object()) == NULL)
		return KB_ERR_NOMEM;
	json_object_set_new(e, "event", json_string(strcmp(rc->action, "install") == 0 ? "static-install" : "rotate"));
	json_object_set_new(e, "step", json_string(step));
	json_object_set_new(e, "requester", json_string(job->user ? job->user : "?"));
	json_object_set_new(e, "credential", json_string(rc->name));
	if (h)
		json_object_set_new(e, "target", json_string(h->label));
	json_object_set_new(e, "outcome", json_string(kb_rot_status_name(s->st)));
	if (s->note[0])
		json_object_set_new(e, "note", json_string(s->note));
	if (s->detail[0])
		json_object_set_new(e, "error", json_string(s->detail));
	if (fingerprint)
		json_object_set_new(e, "fingerprint", json_string(fingerprint));
	if (version)
		json_object_set_new(e, "version", json_string(version));
	r = kb_audit_append(job->audit, e, NULL);
	json_decref(e);
	if (r != KB_OK) {
		pthread_mutex_lock(&job->lock);
		rc->aborted = true;
		pthread_mutex_unlock(&job->lock);
		return kb_err_set(r, "cannot write the audit log: %s", kb_err_detail());
	}
	return KB_OK;
}

static void finish_step(struct kb_rot_job *job, struct kb_rot_cred *rc, struct kb_rot_host *h, enum kb_rot_hstep k,
			int64_t t0, int err, const char *what, const char *fp)
{
	struct kb_rot_step *s = &h->step[k];
	s->ms = kb_rot_now_ms() - t0;
	if (err != KB_OK)
		kb_rot_step_error(s, err, what);
	enum kb_rot_status st = err == KB_OK ? (s->st == KB_ROT_RUNNING ? KB_ROT_OK : s->st) : status_for(err);
	s->st = st;
	int ar = kb_rot_audit(job, rc, h, kb_rot_hstep_name(k), s, fp, NULL);
	if (ar != KB_OK && st == KB_ROT_OK) {
		kb_rot_step_error(s, ar, NULL);
		st = KB_ROT_FAILED;
	}
	kb_rot_mark(job, rc, h, kb_rot_hstep_name(k), s, st);
}

static int connect_with(struct kb_rot_job *job, struct kb_rot_host *h, const struct kb_key *key, bool agent,
			struct kb_sshc **slot)
{
	struct kb_sshc_opts o = job->base;

	if (*slot != NULL)
		return KB_OK;
	if (agent) {
		o.agent_socket = job->agent_socket;
		o.agent_pin = NULL;
		o.key = NULL;
	} else {
		o.agent_socket = NULL;
		o.key = key;
	}
	return kb_sshc_connect(&h->t, &o, slot);
}

static void drop(struct kb_sshc **c)
{
	kb_sshc_close(*c);
	*c = NULL;
}

/* probe: with the current key, look for the previous key (an unfinished
 * rotation) and remove it; in a dry run only look. */
void kb_rot_host_probe(struct kb_rot_job *job, struct kb_rot_cred *rc, struct kb_rot_host *h)
{
	struct kb_rot_step *s = &h->step[KB_ROT_PROBE];
	int64_t t0 = kb_rot_now_ms();
	bool has = false;
	int r;

	kb_rot_mark(job, rc, h, "probe", s, KB_ROT_RUNNING);
	if ((r = connect_with(job, h, rc->cur->key, false, &h->c_cur)) != KB_OK) {
		finish_step(job, rc, h, KB_ROT_PROBE, t0, r, "login with the current key", NULL);
		return;
	}
	const struct kb_key *look = rc->pend ? rc->pend->key : rc->prev ? rc->prev->key : NULL;
	if (look != NULL && (r = kb_sshc_authkeys_has(h->c_cur, look, &has)) != KB_OK) {
		drop(&h->c_cur);
		finish_step(job, rc, h, KB_ROT_PROBE, t0, r, "reading authorized_keys", NULL);
		return;
	}
	if (rc->pend) {
		snprintf(s->note, sizeof(s->note), "%s", has ? "pending key installed" : "pending key not installed");
	} else if (!has) {
		snprintf(s->note, sizeof(s->note), "no previous key");
	} else if (job->dry_run) {
		snprintf(s->note, sizeof(s->note), "previous key still installed: would remove it");
		s->st = KB_ROT_WOULD;
	} else if ((r = kb_sshc_authkeys_remove(h->c_cur, rc->prev->key)) != KB_OK) {
		drop(&h->c_cur);
		finish_step(job, rc, h, KB_ROT_PROBE, t0, r, "removing the previous key", rc->prev->fingerprint);
		return;
	} else {
		snprintf(s->note, sizeof(s->note), "removed the previous key");
	}
	finish_step(job, rc, h, KB_ROT_PROBE, t0, KB_OK, NULL, has ? rc->prev ? rc->prev->fingerprint : NULL : NULL);
	if (has && rc->prev && !job->dry_run)
		kb_rot_crash_point("cleanup", h->idx);
}

/* set: install the pending key, logged in with the current key (or, for
 * an install, through the caller's agent). */
void kb_rot_host_set(struct kb_rot_job *job, struct kb_rot_cred *rc, struct kb_rot_host *h)
{
	struct kb_rot_step *s = &h->step[KB_ROT_SET];
	bool install = strcmp(rc->action, "install") == 0;
	const struct kb_static_cred *newc = install ? rc->cur : rc->pend;
	int64_t t0 = kb_rot_now_ms();
	int r;

	const struct kb_rot_step *probe = &h->step[KB_ROT_PROBE];
	if (probe->st == KB_ROT_UNREACHABLE || probe->st == KB_ROT_FAILED) {
		/* Tried a moment ago: do not wait for its timeout twice. */
		s->err = probe->err;
		snprintf(s->detail, sizeof(s->detail), "%s", probe->detail);
		kb_rot_mark(job, rc, h, "set", s, probe->st);
		return;
	}
	kb_rot_mark(job, rc, h, "set", s, KB_ROT_RUNNING);
	bool reused = h->c_cur != NULL;
	if ((r = connect_with(job, h, install ? NULL : rc->cur->key, install, &h->c_cur)) != KB_OK) {
		finish_step(job, rc, h, KB_ROT_SET, t0, r,
			    install ? "login through the agent (SSH_AUTH_SOCK)" : "login with the current key", NULL);
		return;
	}
	r = kb_sshc_authkeys_add(h->c_cur, newc->key, rc->name);
	if (reused && is_network(r)) {
		/* The session kept from the probe may have been closed by the
		 * server meanwhile: one fresh login. */
		drop(&h->c_cur);
		if ((r = connect_with(job, h, rc->cur->key, false, &h->c_cur)) == KB_OK)
			r = kb_sshc_authkeys_add(h->c_cur, newc->key, rc->name);
	}
	if (r != KB_OK) {
		drop(&h->c_cur);
		finish_step(job, rc, h, KB_ROT_SET, t0, r, "adding the key to authorized_keys", newc->fingerprint);
		return;
	}
	/* A previous key this host kept (it was down when the last rotation
	 * finished) goes before anything is promoted again. */
	bool had = false;
	if (!install && rc->prev != NULL && (r = kb_sshc_authkeys_has(h->c_cur, rc->prev->key, &had)) == KB_OK && had)
		r = kb_sshc_authkeys_remove(h->c_cur, rc->prev->key);
	if (r != KB_OK) {
		drop(&h->c_cur);
		finish_step(job, rc, h, KB_ROT_SET, t0, r, "removing the previous key", rc->prev->fingerprint);
		return;
	}
	snprintf(s->note, sizeof(s->note), "%s", had ? "key installed, previous key removed" : "key installed");
	finish_step(job, rc, h, KB_ROT_SET, t0, KB_OK, NULL, newc->fingerprint);
	/* The current-key session is not needed any more. */
	drop(&h->c_cur);
	if (s->st == KB_ROT_OK)
		kb_rot_crash_point("set", h->idx);
}

/* test: log in with the new key only and run a harmless command. */
void kb_rot_host_test(struct kb_rot_job *job, struct kb_rot_cred *rc, struct kb_rot_host *h)
{
	struct kb_rot_step *s = &h->step[KB_ROT_TEST];
	const struct kb_static_cred *newc = strcmp(rc->action, "install") == 0 ? rc->cur : rc->pend;
	int64_t t0 = kb_rot_now_ms();
	struct kb_buf out, err;
	int r, status = -1;

	kb_rot_mark(job, rc, h, "test", s, KB_ROT_RUNNING);
	drop(&h->c_new); /* a fresh login proves the key as installed now */
	if ((r = connect_with(job, h, newc->key, false, &h->c_new)) != KB_OK) {
		finish_step(job, rc, h, KB_ROT_TEST, t0, r, "login with the new key", newc->fingerprint);
		return;
	}
	kb_buf_init(&out, EXEC_OUT_MAX);
	kb_buf_init(&err, EXEC_OUT_MAX);
	r = kb_sshc_exec(h->c_new, "echo " TEST_MARKER, NULL, 0, &out, &err, &status);
	if (r == KB_OK && (status != 0 || memmem(kb_buf_ptr(&out), kb_buf_remaining(&out), TEST_MARKER,
						 sizeof(TEST_MARKER) - 1) == NULL)) {
		size_t n = kb_buf_remaining(&err);
		r = kb_err_set(KB_ERR_INVALID, "the test command 'echo %s' exited %d (stderr: %.*s)", TEST_MARKER,
			       status, (int)(n > 200 ? 200 : n), (const char *)kb_buf_ptr(&err));
	}
	kb_buf_done(&out);
	kb_buf_done(&err);
	if (r != KB_OK) {
		drop(&h->c_new);
		finish_step(job, rc, h, KB_ROT_TEST, t0, r, "test command", newc->fingerprint);
		return;
	}
	snprintf(s->note, sizeof(s->note), "logged in with the new key");
	finish_step(job, rc, h, KB_ROT_TEST, t0, KB_OK, NULL, newc->fingerprint);
	if (s->st == KB_ROT_OK)
		kb_rot_crash_point("test", h->idx);
}

/* remove (after promotion): take the old key away, logged in with the new
 * one. */
void kb_rot_host_remove(struct kb_rot_job *job, struct kb_rot_cred *rc, struct kb_rot_host *h)
{
	struct kb_rot_step *s = &h->step[KB_ROT_REMOVE];
	int64_t t0 = kb_rot_now_ms();
	int r;

	kb_rot_mark(job, rc, h, "remove", s, KB_ROT_RUNNING);
	bool reused = h->c_new != NULL;
	if ((r = connect_with(job, h, rc->pend->key, false, &h->c_new)) != KB_OK) {
		finish_step(job, rc, h, KB_ROT_REMOVE, t0, r, "login with the new key", NULL);
		return;
	}
	r = kb_sshc_authkeys_remove(h->c_new, rc->cur->key);
	if (reused && is_network(r)) {
		drop(&h->c_new);
		if ((r = connect_with(job, h, rc->pend->key, false, &h->c_new)) == KB_OK)
			r = kb_sshc_authkeys_remove(h->c_new, rc->cur->key);
	}
	if (r != KB_OK) {
		drop(&h->c_new);
		finish_step(job, rc, h, KB_ROT_REMOVE, t0, r, "removing the old key", rc->cur->fingerprint);
		return;
	}
	snprintf(s->note, sizeof(s->note), "old key removed");
	finish_step(job, rc, h, KB_ROT_REMOVE, t0, KB_OK, NULL, rc->cur->fingerprint);
	drop(&h->c_new);
	if (s->st == KB_ROT_OK)
		kb_rot_crash_point("remove", h->idx);
}

/* After a lost race at promote: take this job's own (unstored) pending key
 * off a host it was installed on. */
void kb_rot_host_unset(struct kb_rot_job *job, struct kb_rot_cred *rc, struct kb_rot_host *h)
{
	struct kb_rot_step *s = &h->step[KB_ROT_REMOVE];
	int64_t t0 = kb_rot_now_ms();
	int r;

	kb_rot_mark(job, rc, h, "remove", s, KB_ROT_RUNNING);
	/* Logged in with that key itself: it is on this host (set passed),
	 * while the current key may be gone already (the other job may have
	 * finished). */
	if ((r = connect_with(job, h, rc->pend->key, false, &h->c_new)) == KB_OK)
		r = kb_sshc_authkeys_remove(h->c_new, rc->pend->key);
	if (r != KB_OK) {
		drop(&h->c_new);
		finish_step(job, rc, h, KB_ROT_REMOVE, t0, r, "removing this job's unused key", rc->pend->fingerprint);
		return;
	}
	snprintf(s->note, sizeof(s->note), "removed this job's key (another job's key is pending)");
	finish_step(job, rc, h, KB_ROT_REMOVE, t0, KB_OK, NULL, rc->pend->fingerprint);
}

void kb_rot_host_close(struct kb_rot_host *h)
{
	drop(&h->c_cur);
	drop(&h->c_new);
}

struct pool {
	struct kb_rot_job *job;
	struct kb_rot_cred *rc;
	kb_rot_host_fn fn;
	bool (*want)(const struct kb_rot_host *h);
	size_t next;
	pthread_mutex_t m;
};

static void *worker(void *arg)
{
	struct pool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->m);
		size_t i = p->next++;
		pthread_mutex_unlock(&p->m);
		if (i >= p->rc->nhosts)
			return NULL;
		struct kb_rot_host *h = &p->rc->hosts[i];
		if (p->rc->aborted)
			continue;
		if (p->want == NULL || p->want(h))
			p->fn(p->job, p->rc, h);
	}
}

void kb_rot_for_hosts(struct kb_rot_job *job, struct kb_rot_cred *rc, kb_rot_host_fn fn,
		      bool (*want)(const struct kb_rot_host *h))
{
	struct pool p = { .job = job, .rc = rc, .fn = fn, .want = want };
	size_t nt = job->parallel > 0 ? (size_t)job->parallel : 1;
	pthread_t tids[KB_ROT_PARALLEL_MAX];
	size_t started = 0;

	if (nt > rc->nhosts)
		nt = rc->nhosts;
	if (nt > KB_ROT_PARALLEL_MAX)
		nt = KB_ROT_PARALLEL_MAX;
	pthread_mutex_init(&p.m, NULL);
	/* One worker runs in this thread: --parallel 1 is strictly in
	 * target order (and the crash points deterministic). */
	for (size_t i = 1; i < nt; i++)
		if (pthread_create(&tids[started], NULL, worker, &p) == 0)
			started++;
	worker(&p);
	for (size_t i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	pthread_mutex_destroy(&p.m);
}
