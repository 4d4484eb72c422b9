/* The job report (--json) and the --on-failure hook. */
#include "rotate/rotate_report.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"

int kb_rot_exit_code(const struct kb_rot_cred *creds, size_t n)
{
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (creds[i].result == KB_ROT_FAIL)
			return 1;
		if (creds[i].result == KB_ROT_PENDING)
			rc = 7;
	}
	return rc;
}

static json_t *step_json(const struct kb_rot_step *s)
{
	json_t *j = json_object();
	json_object_set_new(j, "status", json_string(kb_rot_status_name(s->st)));
	if (s->ms > 0)
		json_object_set_new(j, "duration_ms", json_integer(s->ms));
	if (s->note[0])
		json_object_set_new(j, "note", json_string(s->note));
	json_object_set_new(j, "error", s->detail[0] ? json_string(s->detail) : json_null());
	return j;
}

static json_t *version_json(const char *version, const struct kb_static_cred *c)
{
	if (c == NULL)
		return json_null();
	return json_pack("{s:s?,s:s,s:s}", "version", version, "fingerprint", c->fingerprint, "key_type",
			 kb_key_type_ssh_name(kb_key_type(c->key)));
}

static enum kb_rot_result host_result(const struct kb_rot_host *h)
{
	enum kb_rot_result r = KB_ROT_DONE;
	for (int k = 0; k < KB_ROT_NHSTEPS; k++) {
		if (h->step[k].st == KB_ROT_FAILED)
			return KB_ROT_FAIL;
		if (h->step[k].st == KB_ROT_UNREACHABLE || h->step[k].st == KB_ROT_RUNNING)
			r = KB_ROT_PENDING;
	}
	return r;
}

json_t *kb_rot_report_json(struct kb_rot_cred *creds, size_t n, bool dry_run, int64_t ms, int exit_code)
{
	json_t *arr = json_array();
	enum kb_rot_result worst = KB_ROT_DONE;

	for (size_t i = 0; i < n; i++) {
		struct kb_rot_cred *rc = &creds[i];
		json_t *hosts = json_array(), *steps = json_object();
		if (rc->result > worst)
			worst = rc->result;
		json_object_set_new(steps, "load", step_json(&rc->load));
		json_object_set_new(steps, "create", step_json(&rc->create));
		json_object_set_new(steps, "promote", step_json(&rc->promote));
		for (size_t k = 0; k < rc->nhosts; k++) {
			const struct kb_rot_host *h = &rc->hosts[k];
			json_t *hs = json_object();
			for (int s = 0; s < KB_ROT_NHSTEPS; s++)
				json_object_set_new(hs, kb_rot_hstep_name((enum kb_rot_hstep)s), step_json(&h->step[s]));
			json_array_append_new(hosts, json_pack("{s:s,s:s,s:o}", "target", h->label, "status",
							       kb_rot_result_name(host_result(h)), "steps", hs));
		}
		json_t *c = json_pack("{s:s,s:s,s:s,s:b,s:I}", "name", rc->name, "action", rc->action ? rc->action : "none",
				      "status", kb_rot_result_name(rc->result), "promoted", rc->promoted, "duration_ms",
				      (json_int_t)rc->ms);
		json_object_set_new(c, "current", version_json(rc->cur_version, rc->cur));
		json_object_set_new(c, "pending", version_json(rc->pend_version, rc->pend));
		json_object_set_new(c, "previous", version_json(rc->prev_version, rc->prev));
		json_object_set_new(c, "steps", steps);
		json_object_set_new(c, "hosts", hosts);
		json_array_append_new(arr, c);
	}
	return json_pack("{s:s,s:i,s:b,s:I,s:o}", "status", kb_rot_result_name(worst), "exit", exit_code, "dry_run",
			 dry_run, "duration_ms", (json_int_t)ms, "credentials", arr);
}

/* Space-separated list into a bounded string. */
static void add_word(char *out, size_t n, const char *w)
{
	size_t len = strlen(out);
	if (len + strlen(w) + 2 > n)
		return;
	snprintf(out + len, n - len, "%s%s", len ? " " : "", w);
}

int kb_rot_on_failure(const char *command, const struct kb_rot_cred *creds, size_t n, const char *report,
		      int exit_code)
{
	char failed[4096] = "", pending[4096] = "", hosts[8192] = "", code[16], summary[256];
	size_t nf = 0, np = 0;
	int pfd[2], st;
	pid_t pid;

	for (size_t i = 0; i < n; i++) {
		const struct kb_rot_cred *rc = &creds[i];
		if (rc->result == KB_ROT_FAIL) {
			add_word(failed, sizeof(failed), rc->name);
			nf++;
		} else if (rc->result == KB_ROT_PENDING) {
			add_word(pending, sizeof(pending), rc->name);
			np++;
		}
		for (size_t k = 0; k < rc->nhosts; k++) {
			enum kb_rot_result hr = host_result(&rc->hosts[k]);
			if (hr != KB_ROT_DONE) {
				char w[KB_STATIC_TARGET_LEN_MAX + 16];
				snprintf(w, sizeof(w), "%s=%s", rc->hosts[k].label, kb_rot_result_name(hr));
				add_word(hosts, sizeof(hosts), w);
			}
		}
	}
	snprintf(code, sizeof(code), "%d", exit_code);
	snprintf(summary, sizeof(summary), "keybroker rotation: %zu failed, %zu pending of %zu credentials", nf, np, n);
	if (pipe2(pfd, O_CLOEXEC) != 0)
		return kb_err_errno("pipe");
	if ((pid = fork()) < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return kb_err_errno("fork");
	}
	if (pid == 0) {
		/* The report on stdin, the hook's output on our stderr (stdout
		 * may carry the JSON report). */
		dup2(pfd[0], STDIN_FILENO);
		dup2(STDERR_FILENO, STDOUT_FILENO);
		signal(SIGPIPE, SIG_DFL);
		if (setenv("BROKER_ROTATE_STATUS", nf ? "failed" : "pending", 1) != 0 ||
		    setenv("BROKER_ROTATE_EXIT", code, 1) != 0 || setenv("BROKER_ROTATE_FAILED", failed, 1) != 0 ||
		    setenv("BROKER_ROTATE_PENDING", pending, 1) != 0 || setenv("BROKER_ROTATE_HOSTS", hosts, 1) != 0 ||
		    setenv("BROKER_ROTATE_SUMMARY", summary, 1) != 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	close(pfd[0]);
	/* A hook that does not read its stdin must not block or kill us. */
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	size_t len = strlen(report), off = 0;
	while (off < len) {
		ssize_t w = write(pfd[1], report + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(pfd[1]);
	signal(SIGPIPE, old);
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return kb_err_errno("waitpid");
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return KB_OK;
	return kb_err_set(KB_ERR_IO, "the --on-failure command exited %s%d", WIFSIGNALED(st) ? "on signal " : "",
			  WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}
