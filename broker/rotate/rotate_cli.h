/* What `broker rotate` and `broker static` share: job setup from the
 * command line and configuration, and the job's exit code. */
#ifndef KB_ROTATE_CLI_H
#define KB_ROTATE_CLI_H

#include "ctx.h"
#include "rotate/rotate.h"

struct kb_rot_cli {
	const char *known_hosts;     /* NULL: ~/.ssh/known_hosts */
	const char *authorized_keys; /* remote path, NULL: ~/.ssh/authorized_keys */
	const char *connect_timeout, *command_timeout;
	int parallel;
	bool dry_run;
	bool no_hosts;               /* no host access: known_hosts not needed */
	/* filled by kb_rot_cli_setup: */
	char kh_path[4096];
	char user[256];
};

/* Validates the options, opens the store and the audit log and fills job
 * (job->store, job->audit owned by job; release with kb_rot_cli_done).
 * Returns KB_EXIT_OK or an exit code after printing the error. */
int kb_rot_cli_setup(struct kb_ctx *ctx, struct kb_rot_cli *o, const char *what, struct kb_rot_job *job);
void kb_rot_cli_done(struct kb_rot_job *job);


/* Prints the JSON report (--json) and runs the hook; returns the exit. */
int kb_rot_cli_finish(struct kb_ctx *ctx, struct kb_rot_cred *creds, size_t n, bool dry_run, int64_t ms,
		      const char *on_failure);

/* broker static list / show (static_read.c). */
int kb_cmd_static_read(struct kb_ctx *ctx, bool show, const char *arg, const char *role);

#endif
