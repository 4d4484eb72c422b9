/* Internals shared by the rotation engine's files. */
#ifndef KB_ROTATE_INT_H
#define KB_ROTATE_INT_H

#include "rotate/rotate.h"

#define KB_ROT_PARALLEL_MAX 64

typedef void (*kb_rot_host_fn)(struct kb_rot_job *job, struct kb_rot_cred *rc, struct kb_rot_host *h);

int64_t kb_rot_now_ms(void);
void kb_rot_mark(struct kb_rot_job *job, struct kb_rot_cred *rc, struct kb_rot_host *h, const char *name,
		 struct kb_rot_step *s, enum kb_rot_status st);
void kb_rot_step_error(struct kb_rot_step *s, int err, const char *what);
int kb_rot_audit(struct kb_rot_job *job, struct kb_rot_cred *rc, const struct kb_rot_host *h, const char *step,
		 const struct kb_rot_step *s, const char *fingerprint, const char *version);

void kb_rot_host_probe(struct kb_rot_job *job, struct kb_rot_cred *rc, struct kb_rot_host *h);
void kb_rot_host_set(struct kb_rot_job *job, struct kb_rot_cred *rc, struct kb_rot_host *h);
void kb_rot_host_test(struct kb_rot_job *job, struct kb_rot_cred *rc, struct kb_rot_host *h);
void kb_rot_host_remove(struct kb_rot_job *job, struct kb_rot_cred *rc, struct kb_rot_host *h);
void kb_rot_host_unset(struct kb_rot_job *job, struct kb_rot_cred *rc, struct kb_rot_host *h);
void kb_rot_host_close(struct kb_rot_host *h);

/* Runs fn on every host (for which want returns true, want NULL: all)
 * with at most job->parallel at a time. */
void kb_rot_for_hosts(struct kb_rot_job *job, struct kb_rot_cred *rc, kb_rot_host_fn fn,
		      bool (*want)(const struct kb_rot_host *h));

#endif
