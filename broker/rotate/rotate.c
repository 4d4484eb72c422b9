/* The rotation engine: per-credential state and store steps (see rotate.h;
 * the per-host steps are in rotate_hosts.c). */
#include "rotate_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/err.h"
#include "core/util.h"
#include "store/store.h"

const char *kb_rot_status_name(enum kb_rot_status s)
{
	switch (s) {
	case KB_ROT_NOTRUN: return "not-run";
	case KB_ROT_RUNNING: return "running";
	case KB_ROT_OK: return "ok";
	case KB_ROT_SKIPPED: return "skipped";
	case KB_ROT_WOULD: return "would-run";
	case KB_ROT_UNREACHABLE: return "unreachable";
	case KB_ROT_FAILED: return "failed";
	}
	return "?";
}

const char *kb_rot_hstep_name(enum kb_rot_hstep s)
{
	static const char *const names[] = { "probe", "set", "test", "remove" };
	return (unsigned)s < KB_ROT_NHSTEPS ? names[s] : "?";
}

const char *kb_rot_result_name(enum kb_rot_result r)
{
	return r == KB_ROT_DONE ? "done" : r == KB_ROT_PENDING ? "pending" : "failed";
}

void kb_rot_cred_done(struct kb_rot_cred *rc)
{
	if (rc == NULL)
		return;
	for (size_t i = 0; i < rc->nhosts; i++)
		kb_rot_host_close(&rc->hosts[i]);
	free(rc->hosts);
	kb_static_cred_free(rc->cur);
	kb_static_cred_free(rc->pend);
	kb_static_cred_free(rc->prev);
	free(rc->cur_version);
	free(rc->pend_version);
	free(rc->prev_version);
	free(rc->name);
	memset(rc, 0, sizeof(*rc));
}

static void cred_error(struct kb_rot_job *job, struct kb_rot_cred *rc, struct kb_rot_step *s, const char *name,
		       int err, const char *what)
{
	kb_rot_step_error(s, err, what);
	kb_rot_mark(job, rc, NULL, name, s,
		    err == KB_ERR_NETWORK || err == KB_ERR_TIMEOUT || err == KB_ERR_THROTTLED ? KB_ROT_UNREACHABLE
											   : KB_ROT_FAILED);
}

/* Stages from the store: current (required), pending when it is not the
 * current version, previous. */
static int load(struct kb_rot_job *job, struct kb_rot_cred *rc, bool need_pending_private)
{
	struct kb_secret_info *info = NULL;
	const char *pv = NULL, *prv = NULL;
	int r;

	if ((r = kb_store_describe(job->store, rc->name, &info)) != KB_OK) {
		cred_error(job, rc, &rc->load, "load", r, "reading the credential's versions");
		return r;
	}
	for (size_t i = 0; i < info->nversions; i++) {
		const struct kb_version_info *v = &info->versions[i];
		if ((v->stages & KB_STAGE_PENDING) && !(v->stages & KB_STAGE_CURRENT))
			pv = v->id;
		if (v->stages & KB_STAGE_PREVIOUS)
			prv = v->id;
	}
	struct kb_store_sel cur = { .stage = KB_STAGE_CURRENT };
	if ((r = kb_static_get(job->store, rc->name, &cur, true, &rc->cur, &rc->cur_version)) != KB_OK) {
		cred_error(job, rc, &rc->load, "load", r, "reading the current version");
		goto out;
	}
	if (pv != NULL) {
		struct kb_store_sel sel = { .version = pv };
		if ((r = kb_static_get(job->store, rc->name, &sel, need_pending_private, &rc->pend, &rc->pend_version)) !=
		    KB_OK) {
			cred_error(job, rc, &rc->load, "load", r, "reading the pending version");
			goto out;
		}
	}
	if (prv != NULL) {
		struct kb_store_sel sel = { .version = prv };
		if ((r = kb_static_get(job->store, rc->name, &sel, false, &rc->prev, &rc->prev_version)) != KB_OK) {
			cred_error(job, rc, &rc->load, "load", r, "reading the previous version");
			goto out;
		}
		/* A previous version with the same key (re-stored by hand) is
		 * nothing to remove. */
		if (kb_key_equal_public(rc->prev->key, rc->cur->key)) {
			kb_static_cred_free(rc->prev);
			rc->prev = NULL;
		}
	}
	if ((rc->hosts = calloc(rc->cur->ntargets, sizeof(*rc->hosts))) == NULL) {
		r = KB_ERR_NOMEM;
		cred_error(job, rc, &rc->load, "load", r, NULL);
		goto out;
	}
	rc->nhosts = rc->cur->ntargets;
	for (size_t i = 0; i < rc->nhosts; i++) {
		rc->hosts[i].t = rc->cur->targets[i];
		rc->hosts[i].idx = i + 1;
		kb_ssh_target_format(&rc->hosts[i].t, rc->hosts[i].label, sizeof(rc->hosts[i].label));
	}
	rc->load.st = KB_ROT_OK;
out:
	kb_secret_info_free(info);
	return r;
}

/* The idempotency token of "create the pending version after current
 * version V": a retry, or a concurrent job, cannot make a second one. */
static void create_token(const struct kb_rot_cred *rc, char *out, size_t n)
{
	uint8_t h[20];
	crypto_generichash_state st;
	char hex[2 * sizeof(h) + 1];

	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	crypto_generichash_update(&st, (const uint8_t *)rc->name, strlen(rc->name) + 1);
	crypto_generichash_update(&st, (const uint8_t *)rc->cur_version, strlen(rc->cur_version));
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(out, n, "kb-rotate-%s", hex);
}

static int create(struct kb_rot_job *job, struct kb_rot_cred *rc)
{
	struct kb_rot_step *s = &rc->create;
	struct kb_static_cred *c = NULL;
	struct kb_buf val;
	char token[64];
	int64_t t0 = kb_rot_now_ms();
	int r;

	kb_rot_mark(job, rc, NULL, "create", s, KB_ROT_RUNNING);
	if (job->dry_run) {
		snprintf(s->note, sizeof(s->note), "would create a new %s key as pending",
			 kb_key_type_ssh_name(kb_key_type(rc->cur->key)));
		kb_rot_mark(job, rc, NULL, "create", s, KB_ROT_WOULD);
		return KB_OK;
	}
	kb_buf_init_secure(&val, KB_STORE_VALUE_MAX);
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	/* Same type and size, same targets, same role. */
	char now[32];
	kb_format_time_utc((int64_t)time(NULL), now, sizeof(now));
	c->role = kb_strdup(rc->cur->role ? rc->cur->role : KB_STATIC_DEFAULT_ROLE);
	c->requested_by = kb_strdup(job->user ? job->user : "?");
	c->created = kb_strdup(now);
	c->targets = calloc(rc->cur->ntargets, sizeof(*c->targets));
	if (!c->role || !c->requested_by || !c->created || !c->targets) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	memcpy(c->targets, rc->cur->targets, rc->cur->ntargets * sizeof(*c->targets));
	c->ntargets = rc->cur->ntargets;
	enum kb_key_type kt = kb_key_type(rc->cur->key);
	if ((r = kb_key_generate(kt, kt == KB_KEY_RSA ? kb_key_bits(rc->cur->key) : 0, &c->key)) != KB_OK ||
	    (r = kb_key_fingerprint(c->key, c->fingerprint, sizeof(c->fingerprint))) != KB_OK ||
	    (r = kb_static_cred_build(c, rc->name, &val)) != KB_OK)
		goto out;
	create_token(rc, token, sizeof(token));
	struct kb_store_put_opts po = { .stage = KB_STAGE_PENDING, .token = token };
	r = kb_store_put(job->store, rc->name, kb_buf_ptr(&val), kb_buf_remaining(&val), &po, &rc->pend_version);
	if (r == KB_ERR_CONFLICT) {
		/* Another job made the pending version from the same current
		 * one first: use that. */
		struct kb_store_sel sel = { .stage = KB_STAGE_PENDING };
		r = kb_static_get(job->store, rc->name, &sel, true, &rc->pend, &rc->pend_version);
		snprintf(s->note, sizeof(s->note), "another job created the pending version: using it");
	} else if (r == KB_OK) {
		rc->pend = c;
		c = NULL;
		snprintf(s->note, sizeof(s->note), "new %s key stored as pending",
			 kb_key_type_ssh_name(kb_key_type(rc->pend->key)));
	}
out:
	kb_buf_done(&val);
	kb_static_cred_free(c);
	s->ms = kb_rot_now_ms() - t0;
	if (r != KB_OK) {
		cred_error(job, rc, s, "create", r, "storing the pending version");
		return r;
	}
	s->st = KB_ROT_OK;
	if ((r = kb_rot_audit(job, rc, NULL, "create", s, rc->pend->fingerprint, rc->pend_version)) != KB_OK) {
		cred_error(job, rc, s, "create", r, NULL);
		return r;
	}
	kb_rot_mark(job, rc, NULL, "create", s, KB_ROT_OK);
	kb_rot_crash_point("create", 0);
	return KB_OK;
}

static int promote(struct kb_rot_job *job, struct kb_rot_cred *rc)
{
	struct kb_rot_step *s = &rc->promote;
	int64_t t0 = kb_rot_now_ms();
	int r;

	kb_rot_mark(job, rc, NULL, "promote", s, KB_ROT_RUNNING);
	/* Promote only the key that was installed and tested: the stored
	 * pending version must still hold it (a backend that lets another
	 * job overwrite a version would otherwise make an untested key
	 * current). */
	struct kb_static_cred *stored = NULL;
	struct kb_store_sel sel = { .version = rc->pend_version };
	r = kb_static_get(job->store, rc->name, &sel, false, &stored, NULL);
	if (r == KB_OK && !kb_key_equal_public(stored->key, rc->pend->key))
		r = kb_err_set(KB_ERR_CONFLICT, "pending version %s no longer holds the key this job installed and "
						"tested (another job changed it?): not promoted; run again",
			       rc->pend_version);
	kb_static_cred_free(stored);
	if (r == KB_OK)
		r = kb_store_promote(job->store, rc->name, rc->pend_version);
	s->ms = kb_rot_now_ms() - t0;
	if (r != KB_OK) {
		cred_error(job, rc, s, "promote", r, "making the pending version current");
		return r;
	}
	rc->promoted = true;
	snprintf(s->note, sizeof(s->note), "version %.40s is current", rc->pend_version);
	s->st = KB_ROT_OK;
	if ((r = kb_rot_audit(job, rc, NULL, "promote", s, rc->pend->fingerprint, rc->pend_version)) != KB_OK) {
		cred_error(job, rc, s, "promote", r, NULL);
		return r;
	}
	kb_rot_mark(job, rc, NULL, "promote", s, KB_ROT_OK);
	kb_rot_crash_point("promote", 0);
	return KB_OK;
}

static bool set_ok(const struct kb_rot_host *h)
{
	return h->step[KB_ROT_SET].st == KB_ROT_OK;
}

static bool needs_remove(const struct kb_rot_host *h)
{
	return h->step[KB_ROT_REMOVE].st == KB_ROT_NOTRUN;
}

static bool all_ok(const struct kb_rot_cred *rc, enum kb_rot_hstep k)
{
	for (size_t i = 0; i < rc->nhosts; i++)
		if (rc->hosts[i].step[k].st != KB_ROT_OK && rc->hosts[i].step[k].st != KB_ROT_WOULD)
			return false;
	return true;
}

static void mark_all(struct kb_rot_job *job, struct kb_rot_cred *rc, enum kb_rot_hstep k, enum kb_rot_status st,
		     const char *note)
{
	for (size_t i = 0; i < rc->nhosts; i++) {
		struct kb_rot_step *s = &rc->hosts[i].step[k];
		if (s->st != KB_ROT_NOTRUN)
			continue;
		snprintf(s->note, sizeof(s->note), "%s", note);
		kb_rot_mark(job, rc, &rc->hosts[i], kb_rot_hstep_name(k), s, st);
	}
}

/* done: every step ran (or was not needed); failed: anything refused;
 * pending otherwise (a host did not answer, or steps are left). */
static void compute_result(struct kb_rot_cred *rc)
{
	bool failed = rc->load.st == KB_ROT_FAILED || rc->create.st == KB_ROT_FAILED ||
		      rc->promote.st == KB_ROT_FAILED || rc->aborted;
	bool left = rc->load.st == KB_ROT_UNREACHABLE || rc->create.st == KB_ROT_UNREACHABLE ||
		    rc->promote.st == KB_ROT_UNREACHABLE;
	for (size_t i = 0; i < rc->nhosts; i++)
		for (int k = 0; k < KB_ROT_NHSTEPS; k++) {
			enum kb_rot_status st = rc->hosts[i].step[k].st;
			failed |= st == KB_ROT_FAILED;
			left |= st == KB_ROT_UNREACHABLE || st == KB_ROT_RUNNING;
		}
	bool rotating = strcmp(rc->action, "rotate") == 0 || strcmp(rc->action, "resume") == 0;
	if (rotating && !rc->promoted && rc->promote.st != KB_ROT_WOULD)
		left = true;
	rc->result = failed ? KB_ROT_FAIL : left ? KB_ROT_PENDING : KB_ROT_DONE;
}

static int run_steps(struct kb_rot_job *job, struct kb_rot_cred *rc)
{
	int r;

	if (rc->pend == NULL && rc->prev != NULL) {
		/* Did the last rotation finish?  Ask the hosts. */
		kb_rot_for_hosts(job, rc, kb_rot_host_probe, NULL);
		bool leftover = false;
		for (size_t i = 0; i < rc->nhosts; i++) {
			const struct kb_rot_step *p = &rc->hosts[i].step[KB_ROT_PROBE];
			leftover |= (p->st == KB_ROT_OK || p->st == KB_ROT_WOULD) && strcmp(p->note, "no previous key") != 0;
		}
		if (leftover) {
			/* The last rotation had not finished: finishing it is
			 * this run's job.  (A host that did not answer may hold
			 * the previous key too: the next rotation's set step
			 * removes it there before anything is promoted.) */
			rc->action = "finish";
			return KB_OK;
		}
	}
	if (rc->pend == NULL && job->resume_only) {
		rc->action = "none";
		rc->create.st = KB_ROT_SKIPPED;
		snprintf(rc->create.note, sizeof(rc->create.note), "no rotation to resume (--resume-only)");
		kb_rot_mark(job, rc, NULL, "create", &rc->create, KB_ROT_SKIPPED);
		return KB_OK;
	}
	if (rc->pend == NULL) {
		rc->action = "rotate";
		if (create(job, rc) != KB_OK)
			return KB_OK;
	} else {
		rc->action = "resume";
		rc->create.st = KB_ROT_SKIPPED;
		snprintf(rc->create.note, sizeof(rc->create.note), "pending version %.40s exists: resuming",
			 rc->pend_version);
	}
	if (job->dry_run) {
		/* Read-only: can the job log in, what is installed. */
		if (rc->nhosts > 0 && rc->hosts[0].step[KB_ROT_PROBE].st == KB_ROT_NOTRUN)
			kb_rot_for_hosts(job, rc, kb_rot_host_probe, NULL);
		mark_all(job, rc, KB_ROT_SET, KB_ROT_WOULD, "would install the pending key");
		mark_all(job, rc, KB_ROT_TEST, KB_ROT_WOULD, "would log in with the pending key");
		snprintf(rc->promote.note, sizeof(rc->promote.note), "would make the pending version current");
		kb_rot_mark(job, rc, NULL, "promote", &rc->promote, KB_ROT_WOULD);
		mark_all(job, rc, KB_ROT_REMOVE, KB_ROT_WOULD, "would remove the current key");
		return KB_OK;
	}
	kb_rot_for_hosts(job, rc, kb_rot_host_set, NULL);
	kb_rot_for_hosts(job, rc, kb_rot_host_test, set_ok);
	if (rc->aborted || !all_ok(rc, KB_ROT_SET) || !all_ok(rc, KB_ROT_TEST)) {
		/* Not every host confirmed the new key: the current one stays
		 * everywhere, the rotation stays pending. */
		snprintf(rc->promote.note, sizeof(rc->promote.note), "waiting for every target to pass set and test");
		mark_all(job, rc, KB_ROT_TEST, KB_ROT_SKIPPED, "set did not succeed");
		return KB_OK;
	}
	if ((r = promote(job, rc)) == KB_ERR_CONFLICT) {
		/* Another job's key won: this job's key is stored nowhere and
		 * must not stay on the hosts. */
		kb_rot_for_hosts(job, rc, kb_rot_host_unset, set_ok);
		return KB_OK;
	}
	if (r != KB_OK)
		return KB_OK;
	kb_rot_for_hosts(job, rc, kb_rot_host_remove, needs_remove);
	return KB_OK;
}

static void ui_begin(struct kb_rot_job *job, struct kb_rot_cred *rc)
{
	if (job->ui) {
		pthread_mutex_lock(&job->lock);
		kb_rot_ui_begin(job->ui, rc);
		pthread_mutex_unlock(&job->lock);
	}
}

/* Closes the credential's sessions, computes its result, updates the UI. */
static void credential_end(struct kb_rot_job *job, struct kb_rot_cred *rc, int64_t t0)
{
	for (size_t i = 0; i < rc->nhosts; i++)
		kb_rot_host_close(&rc->hosts[i]);
	rc->ms = kb_rot_now_ms() - t0;
	compute_result(rc);
	if (job->ui) {
		pthread_mutex_lock(&job->lock);
		kb_rot_ui_end(job->ui, rc);
		pthread_mutex_unlock(&job->lock);
	}
}

int kb_rot_run(struct kb_rot_job *job, struct kb_rot_cred *rc)
{
	int64_t t0 = kb_rot_now_ms();
	int r;

	rc->action = "rotate";
	ui_begin(job, rc);
	if ((r = load(job, rc, true)) == KB_OK)
		r = run_steps(job, rc);
	credential_end(job, rc, t0);
	return KB_OK;
}

int kb_rot_install(struct kb_rot_job *job, struct kb_rot_cred *rc)
{
	int64_t t0 = kb_rot_now_ms();

	rc->action = "install";
	ui_begin(job, rc);
	if (load(job, rc, true) == KB_OK) {
		if (job->dry_run) {
			mark_all(job, rc, KB_ROT_SET, KB_ROT_WOULD, "would install the key");
			mark_all(job, rc, KB_ROT_TEST, KB_ROT_WOULD, "would log in with the key");
		} else {
			kb_rot_for_hosts(job, rc, kb_rot_host_set, NULL);
			kb_rot_for_hosts(job, rc, kb_rot_host_test, set_ok);
		}
	}
	credential_end(job, rc, t0);
	return KB_OK;
}
