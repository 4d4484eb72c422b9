/* The rotation engine for static credentials: the four-step protocol
 * (create, set, test, finish) per credential, over its targets with
 * bounded parallelism.
 *
 * State is never kept by the job itself; every run derives it from the
 * store stages and the hosts:
 *   - a pending version (not current)     -> resume: set, test, finish
 *   - no pending, a previous version that
 *     some host still holds              -> finish: remove it (probe step)
 *   - otherwise                          -> a new rotation: create, ...
 * The current key is removed from a host only after the pending one was
 * installed on and logged in to every target and then promoted.  Steps
 * are idempotent (authorized_keys add/remove, store put with a token,
 * promote), so a run killed anywhere is completed by the next one. */
#ifndef KB_ROTATE_H
#define KB_ROTATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "rotate/static_cred.h"
#include "sshc/sshc.h"

struct kb_store;
struct kb_audit;
struct kb_rot_ui;

enum kb_rot_hstep { KB_ROT_PROBE, KB_ROT_SET, KB_ROT_TEST, KB_ROT_REMOVE, KB_ROT_NHSTEPS };

enum kb_rot_status {
	KB_ROT_NOTRUN = 0,
	KB_ROT_RUNNING,
	KB_ROT_OK,
	KB_ROT_SKIPPED,     /* not needed (e.g. nothing to remove) */
	KB_ROT_WOULD,       /* --dry-run: would run */
	KB_ROT_UNREACHABLE, /* host down or timed out: retry later */
	KB_ROT_FAILED,      /* refused (host key, auth, command): needs a person */
};

enum kb_rot_result { KB_ROT_DONE = 0, KB_ROT_PENDING, KB_ROT_FAIL };

struct kb_rot_step {
	enum kb_rot_status st;
	int64_t ms;
	int err;
	char note[96];      /* what was done ("added", "removed previous key") */
	char detail[400];   /* error detail */
};

struct kb_rot_host {
	struct kb_ssh_target t;
	char label[KB_STATIC_TARGET_LEN_MAX + 1];
	size_t idx; /* 1-based position in the credential's targets */
	struct kb_rot_step step[KB_ROT_NHSTEPS];
	struct kb_sshc *c_cur; /* authenticated with the current key (or the agent) */
	struct kb_sshc *c_new; /* authenticated with the pending key */
};

struct kb_rot_cred {
	char *name;
	const char *action; /* "rotate", "resume", "finish", "install", "none" */
	struct kb_static_cred *cur, *pend, *prev;
	char *cur_version, *pend_version, *prev_version;
	struct kb_rot_step load, create, promote;
	struct kb_rot_host *hosts;
	size_t nhosts;
	enum kb_rot_result result;
	bool promoted;
	bool aborted; /* the audit log could not be written: stop */
	int64_t ms;
};

struct kb_rot_job {
	struct kb_store *store;
	struct kb_audit *audit;
	const char *user;           /* requester, for the audit log */
	struct kb_sshc_opts base;   /* known_hosts, timeouts, authorized_keys */
	const char *agent_socket;   /* install: the caller's agent */
	int parallel;
	bool dry_run;
	bool resume_only;           /* finish or resume, never start a rotation */
	struct kb_rot_ui *ui;       /* progress, may be NULL */
	pthread_mutex_t lock;       /* ui and audit ordering */
};

/* Rotates (or resumes, or finishes) one credential; rc->name set by the
 * caller.  Fills rc; returns KB_OK when the job could run (the outcome is
 * rc->result), an error for setup problems. */
int kb_rot_run(struct kb_rot_job *job, struct kb_rot_cred *rc);

/* Installs the current key of rc->name on its targets through the caller's
 * agent (job->agent_socket) and logs in with it (static create --install,
 * static install). */
int kb_rot_install(struct kb_rot_job *job, struct kb_rot_cred *rc);

void kb_rot_cred_done(struct kb_rot_cred *rc);

const char *kb_rot_status_name(enum kb_rot_status s);
const char *kb_rot_hstep_name(enum kb_rot_hstep s);
const char *kb_rot_result_name(enum kb_rot_result r);

/* Test-only crash points (KEYBROKER_TEST_CRASH=STEP[:N], see rotate.c). */
void kb_rot_crash_point(const char *step, size_t n);

/* Progress output (rotate_ui.c); all calls made under job->lock. */
struct kb_rot_ui *kb_rot_ui_new(bool tty, bool quiet);
void kb_rot_ui_free(struct kb_rot_ui *ui);
void kb_rot_ui_begin(struct kb_rot_ui *ui, const struct kb_rot_cred *rc);
void kb_rot_ui_update(struct kb_rot_ui *ui, const struct kb_rot_cred *rc, const struct kb_rot_host *h,
		      const char *step, const struct kb_rot_step *s);
void kb_rot_ui_end(struct kb_rot_ui *ui, const struct kb_rot_cred *rc);

#endif
