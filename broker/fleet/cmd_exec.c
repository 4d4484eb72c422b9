/* broker exec --role R [--ttl D] [--principal P]... [--revoke-on-exit] -- COMMAND [ARG...]
 *
 * Runs COMMAND with a credential that exists only for the run:
 *   1. a fresh 0700 directory with a private broker-agent on a socket in it;
 *   2. `broker issue --agent SOCKET` issues a certificate under the policy
 *      (through the broker daemon when one runs) and loads it there;
 *   3. COMMAND runs with SSH_AUTH_SOCK and ANSIBLE_SSH_AGENT set to that
 *      socket; SIGINT/SIGTERM/SIGHUP/SIGQUIT are forwarded to it;
 *   4. before the certificate expires it is renewed: the new one replaces
 *      the old one in the agent atomically (the agent's replace extension),
 *      so connections starting at any moment find a valid certificate;
 *   5. when COMMAND exits the agent is stopped (it wipes its keys), the
 *      socket and directory are removed, and COMMAND's status is returned
 *      (128 + signal number when it was killed).
 * The private key is never written anywhere: it goes from the issuer's
 * guarded memory into the agent's. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "core/err.h"
#include "core/util.h"

#define MAX_PRINCIPALS 32
#define ISSUE_OUTPUT_MAX (64u * 1024u)
#define AGENT_START_MS 5000
#define RENEW_RETRY_S 5
#define MAX_SERIALS 256

extern char **environ;

struct exec_opts {
	const char *role, *ttl, *key_type;
	const char *principals[MAX_PRINCIPALS];
	size_t nprincipals;
	bool revoke;
	const char *krl;
	char **cmd;
};

struct run {
	char dir[PATH_MAX];
	char sock[PATH_MAX];
	char self[PATH_MAX];
	pid_t agent, child;
	int64_t expires;    /* unix time the current certificate ends */
	int64_t lifetime;   /* seconds the last certificate was issued for */
	int64_t retry_at;   /* after a failed renewal: when to try again */
	char serials[MAX_SERIALS][24]; /* every certificate issued in this run */
	size_t nserials;
	bool serials_dropped;
	char key_id[160];
	char secret[256];
};

static void usage(FILE *f)
{
	fprintf(f, "usage: broker exec --role ROLE [--ttl DURATION] [--principal P]... [--type T]\n"
		   "                   [--revoke-on-exit --krl FILE] -- COMMAND [ARG...]\n"
		   "  Runs COMMAND with a per-run agent (SSH_AUTH_SOCK, ANSIBLE_SSH_AGENT) holding only a\n"
		   "  certificate issued for ROLE, renewed before it expires; everything is removed when\n"
		   "  COMMAND exits, and its exit status is returned.\n"
		   "  --revoke-on-exit adds every certificate of the run to the KRL FILE (BROKER_KRL) that\n"
		   "  the hosts read with RevokedKeys, once COMMAND has exited.\n"
		   "  BROKER_AGENT names the broker-agent binary (default: next to broker, then PATH).\n");
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* The broker-agent binary: $BROKER_AGENT, next to this binary (installed),
 * ../agent/ (build tree), then PATH. */
static int find_agent(const struct run *rn, char *out, size_t n)
{
	const char *env = getenv("BROKER_AGENT");
	char dir[4000];

	if (env != NULL && env[0] != '\0') {
		if (access(env, X_OK) != 0)
			return kb_err_set(KB_ERR_NOT_FOUND, "BROKER_AGENT=%s is not executable", env);
		kb_strlcpy(out, env, n);
		return KB_OK;
	}
	kb_strlcpy(dir, rn->self, sizeof(dir));
	char *slash = strrchr(dir, '/');
	if (slash != NULL) {
		*slash = '\0';
		if ((size_t)snprintf(out, n, "%.4000s/broker-agent", dir) < n && access(out, X_OK) == 0)
			return KB_OK;
		if ((size_t)snprintf(out, n, "%.4000s/../agent/broker-agent", dir) < n && access(out, X_OK) == 0)
			return KB_OK;
	}
	const char *path = getenv("PATH");
	while (path != NULL && *path != '\0') {
		size_t len = strcspn(path, ":");
		if (len > 0 && len < sizeof(dir) && (size_t)snprintf(out, n, "%.*s/broker-agent", (int)len, path) < n &&
		    access(out, X_OK) == 0)
			return KB_OK;
		path += len + (path[len] == ':');
	}
	return kb_err_set(KB_ERR_NOT_FOUND, "broker-agent not found: install it or set BROKER_AGENT");
}

static int make_dir(struct run *rn)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (base == NULL || base[0] != '/' || stat(base, &st) != 0 || !S_ISDIR(st.st_mode) || access(base, W_OK) != 0)
		base = getenv("TMPDIR");
	if (base == NULL || base[0] != '/')
		base = "/tmp";
	if ((size_t)snprintf(rn->dir, sizeof(rn->dir), "%s/keybroker-exec.XXXXXX", base) >= sizeof(rn->dir))
		return kb_err_set(KB_ERR_INVALID, "runtime directory path too long");
	if (mkdtemp(rn->dir) == NULL) {
		rn->dir[0] = '\0';
		return kb_err_errno("mkdtemp");
	}
	/* mkdtemp makes it 0700; say so explicitly against odd umasks. */
	if (chmod(rn->dir, 0700) != 0)
		return kb_err_errno(rn->dir);
	struct sockaddr_un sa;
	if ((size_t)snprintf(rn->sock, sizeof(rn->sock), "%s/agent.sock", rn->dir) >= sizeof(sa.sun_path))
		return kb_err_set(KB_ERR_INVALID, "agent socket path %s is too long for a Unix socket", rn->sock);
	return KB_OK;
}

static bool socket_ready(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	kb_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static void child_signals_default(const sigset_t *orig)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, orig, NULL);
}

static int start_agent(struct run *rn, const sigset_t *orig)
{
	char agent[PATH_MAX];
	int r;

	if ((r = find_agent(rn, agent, sizeof(agent))) != 0)
		return r;
	rn->agent = fork();
	if (rn->agent < 0)
		return kb_err_errno("fork");
	if (rn->agent == 0) {
		child_signals_default(orig);
		/* Its own process group: a Ctrl-C meant for COMMAND must not
		 * kill the agent under it. */
		setpgid(0, 0);
		int fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
			if (fd > 2)
				close(fd);
		}
		execl(agent, "broker-agent", "-D", "-a", rn->sock, (char *)NULL);
		fprintf(stderr, "broker: exec: cannot run %s: %s\n", agent, strerror(errno));
		_exit(127);
	}
	for (int waited = 0; waited < AGENT_START_MS; waited += 20) {
		int st;
		if (socket_ready(rn->sock))
			return KB_OK;
		if (waitpid(rn->agent, &st, WNOHANG) == rn->agent) {
			rn->agent = 0;
			return kb_err_set(KB_ERR_IO, "broker-agent exited at start");
		}
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return kb_err_set(KB_ERR_TIMEOUT, "broker-agent did not open %s within %d ms", rn->sock, AGENT_START_MS);
}

/* Runs this binary with argv, stdout captured into out (when not NULL),
 * stderr passed through.  Returns the exit status (or 127/128+sig). */
static int run_self(const struct run *rn, char **argv, const sigset_t *orig, struct kb_buf *out)
{
	int pfd[2] = { -1, -1 }, st = 0;
	pid_t pid;

	if (out != NULL && pipe2(pfd, O_CLOEXEC) != 0)
		return 127;
	if ((pid = fork()) < 0) {
		if (out != NULL) {
			close(pfd[0]);
			close(pfd[1]);
		}
		return 127;
	}
	if (pid == 0) {
		child_signals_default(orig);
		if (out != NULL)
			dup2(pfd[1], STDOUT_FILENO);
		execv(rn->self, argv);
		_exit(127);
	}
	if (out != NULL) {
		bool full = false;
		close(pfd[1]);
		for (;;) {
			char tmp[4096];
			ssize_t n = read(pfd[0], tmp, sizeof(tmp));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			if (!full && kb_buf_put(out, tmp, (size_t)n) != 0)
				full = true;
		}
		close(pfd[0]);
		if (full)
			kb_buf_reset(out);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 127;
}

/* Runs `broker issue ... --agent SOCK --json` and reads the certificate's
 * end and serial from its answer.  The issuer's stderr passes through. */
static int issue(struct run *rn, const struct exec_opts *o, const sigset_t *orig, int *ret_exit)
{
	char *argv[16 + 2 * MAX_PRINCIPALS];
	size_t a = 0;
	struct kb_buf out;
	int r = KB_OK, st;

	*ret_exit = KB_EXIT_FAILURE;
	argv[a++] = rn->self;
	argv[a++] = (char *)"issue";
	argv[a++] = (char *)"--json";
	argv[a++] = (char *)"--role";
	argv[a++] = (char *)o->role;
	argv[a++] = (char *)"--agent";
	argv[a++] = rn->sock;
	if (o->ttl != NULL) {
		argv[a++] = (char *)"--ttl";
		argv[a++] = (char *)o->ttl;
	}
	if (o->key_type != NULL) {
		argv[a++] = (char *)"--type";
		argv[a++] = (char *)o->key_type;
	}
	for (size_t i = 0; i < o->nprincipals; i++) {
		argv[a++] = (char *)"--principal";
		argv[a++] = (char *)o->principals[i];
	}
	argv[a] = NULL;

	kb_buf_init(&out, ISSUE_OUTPUT_MAX);
	if ((st = run_self(rn, argv, orig, &out)) != 0) {
		*ret_exit = st < 64 ? st : KB_EXIT_FAILURE;
		r = kb_err_set(KB_ERR_DENIED, "broker issue failed");
		goto out;
	}
	json_t *j = json_loadb((const char *)kb_buf_ptr(&out), kb_buf_remaining(&out), 0, NULL);
	json_t *exp = json_object_get(j, "expires_in_seconds");
	const char *kid = json_string_value(json_object_get(j, "key_id"));
	const char *secret = json_string_value(json_object_get(j, "secret"));
	const char *serial = json_string_value(json_object_get(j, "serial"));
	uint64_t sv;
	if (!json_is_integer(exp) || json_integer_value(exp) <= 0 || json_is_null(json_object_get(j, "agent")) ||
	    serial == NULL || kb_parse_u64(serial, UINT64_MAX, &sv) != 0) {
		json_decref(j);
		r = kb_err_set(KB_ERR_INVALID, "broker issue gave no certificate lifetime or serial, or did not load the agent");
		goto out;
	}
	rn->lifetime = json_integer_value(exp);
	rn->expires = now_s() + rn->lifetime;
	kb_strlcpy(rn->key_id, kid ? kid : "?", sizeof(rn->key_id));
	kb_strlcpy(rn->secret, secret ? secret : "", sizeof(rn->secret));
	if (rn->nserials < MAX_SERIALS)
		kb_strlcpy(rn->serials[rn->nserials++], serial, sizeof(rn->serials[0]));
	else
		rn->serials_dropped = true;
	json_decref(j);
	*ret_exit = KB_EXIT_OK;
out:
	kb_buf_done(&out);
	return r;
}

/* --revoke-on-exit: every certificate of this run goes into the KRL
 * (created or updated) by serial under the user CA. */
static int revoke_run(struct run *rn, const struct exec_opts *o, const sigset_t *orig)
{
	char *argv[16 + 2 * MAX_SERIALS], capath[PATH_MAX + 16];
	char *show[] = { rn->self, (char *)"ca", (char *)"show", NULL };
	struct kb_buf ca;
	size_t a = 0;
	int r, st;

	if (rn->nserials == 0)
		return KB_OK;
	kb_buf_init(&ca, 64 * 1024);
	if ((st = run_self(rn, show, orig, &ca)) != 0 || kb_buf_remaining(&ca) == 0) {
		kb_buf_done(&ca);
		return kb_err_set(KB_ERR_BACKEND, "broker ca show failed (exit %d)", st);
	}
	snprintf(capath, sizeof(capath), "%s/user_ca.pub", rn->dir);
	r = kb_write_file_atomic(capath, kb_buf_ptr(&ca), kb_buf_remaining(&ca), 0600, false);
	kb_buf_done(&ca);
	if (r != 0)
		return r;
	argv[a++] = rn->self;
	argv[a++] = (char *)"krl";
	argv[a++] = (char *)"create";
	if (access(o->krl, F_OK) == 0)
		argv[a++] = (char *)"-u";
	argv[a++] = (char *)"-f";
	argv[a++] = (char *)o->krl;
	argv[a++] = (char *)"--ca";
	argv[a++] = capath;
	for (size_t i = 0; i < rn->nserials; i++) {
		argv[a++] = (char *)"--serial";
		argv[a++] = rn->serials[i];
	}
	argv[a] = NULL;
	st = run_self(rn, argv, orig, NULL);
	unlink(capath);
	if (st != 0)
		return kb_err_set(KB_ERR_IO, "broker krl create failed (exit %d)", st);
	if (rn->serials_dropped)
		return kb_err_set(KB_ERR_LIMIT, "more than %d certificates in this run: only the first were revoked",
				  MAX_SERIALS);
	return KB_OK;
}

/* When to renew: a third of the lifetime before the end, at least 5 s. */
static int64_t renew_at(const struct run *rn)
{
	int64_t margin = rn->lifetime / 3;
	if (margin < 5)
		margin = 5;
	return rn->expires - margin;
}

static void stop_agent(struct run *rn)
{
	if (rn->agent > 0) {
		int st;
		kill(rn->agent, SIGTERM);
		for (int i = 0; i < 250; i++) {
			if (waitpid(rn->agent, &st, WNOHANG) == rn->agent) {
				rn->agent = 0;
				break;
			}
			struct timespec ts = { 0, 20 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		if (rn->agent > 0) {
			kill(rn->agent, SIGKILL);
			waitpid(rn->agent, &st, 0);
			rn->agent = 0;
		}
	}
	if (rn->sock[0] != '\0')
		unlink(rn->sock);
	if (rn->dir[0] != '\0' && rmdir(rn->dir) != 0 && errno != ENOENT)
		fprintf(stderr, "broker: exec: cannot remove %s: %s\n", rn->dir, strerror(errno));
}

static int run_command(struct run *rn, const struct exec_opts *o, const sigset_t *orig)
{
	sigset_t waitset;
	int status = 0;

	rn->child = fork();
	if (rn->child < 0)
		return kb_fail(NULL, kb_err_errno("fork"), "exec: cannot start the command");
	if (rn->child == 0) {
		child_signals_default(orig);
		if (setenv("SSH_AUTH_SOCK", rn->sock, 1) != 0 || setenv("ANSIBLE_SSH_AGENT", rn->sock, 1) != 0)
			_exit(127);
		unsetenv("SSH_AGENT_PID");
		execvp(o->cmd[0], o->cmd);
		fprintf(stderr, "broker: exec: cannot run %s: %s\n", o->cmd[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	sigemptyset(&waitset);
	sigaddset(&waitset, SIGCHLD);
	sigaddset(&waitset, SIGINT);
	sigaddset(&waitset, SIGTERM);
	sigaddset(&waitset, SIGHUP);
	sigaddset(&waitset, SIGQUIT);
	for (;;) {
		pid_t w = waitpid(rn->child, &status, WNOHANG);
		if (w == rn->child)
			break;
		/* The agent must outlive the command. */
		int ast;
		if (rn->agent > 0 && waitpid(rn->agent, &ast, WNOHANG) == rn->agent) {
			rn->agent = 0;
			fprintf(stderr, "broker: exec: the per-run agent exited; stopping %s\n", o->cmd[0]);
			kill(rn->child, SIGTERM);
		}
		int64_t due = renew_at(rn);
		if (rn->retry_at > due)
			due = rn->retry_at;
		int64_t wake = due - now_s();
		if (wake <= 0) {
			int code;
			if (issue(rn, o, orig, &code) != 0) {
				fprintf(stderr, "broker: exec: renewing the certificate failed (%s); %lld s left, "
						"retrying in %d s\n",
					kb_err_detail(), (long long)(rn->expires - now_s()), RENEW_RETRY_S);
				rn->retry_at = now_s() + RENEW_RETRY_S;
			} else {
				rn->retry_at = 0;
				fprintf(stderr, "broker: exec: renewed %s (valid %lld s more)\n", rn->key_id,
					(long long)rn->lifetime);
			}
			continue;
		}
		if (wake > 3600)
			wake = 3600;
		struct timespec ts = { (time_t)wake, 0 };
		siginfo_t si;
		int sig = sigtimedwait(&waitset, &si, &ts);
		if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT)
			kill(rn->child, sig);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return KB_EXIT_FAILURE;
}

int cmd_exec(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "role", required_argument, NULL, 'r' },     { "ttl", required_argument, NULL, 't' },
		{ "principal", required_argument, NULL, 'p' }, { "type", required_argument, NULL, 'T' },
		{ "revoke-on-exit", no_argument, NULL, 'R' },  { "krl", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct exec_opts o = { 0 };
	struct run rn = { 0 };
	sigset_t block, orig;
	int c, r, rc = KB_EXIT_FAILURE, code;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': o.role = optarg; break;
		case 't': o.ttl = optarg; break;
		case 'T': o.key_type = optarg; break;
		case 'p':
			if (o.nprincipals == MAX_PRINCIPALS)
				return kb_usage_error(ctx, "exec: more than %d --principal", MAX_PRINCIPALS);
			o.principals[o.nprincipals++] = optarg;
			break;
		case 'R': o.revoke = true; break;
		case 'K': o.krl = optarg; break;
		case 'h': usage(stdout); return KB_EXIT_OK;
		default: usage(stderr); return KB_EXIT_USAGE;
		}
	}
	if (o.role == NULL)
		return kb_usage_error(ctx, "exec: --role ROLE is required");
	if (optind >= argc)
		return kb_usage_error(ctx, "exec: no command given (broker exec --role R -- COMMAND [ARG...])");
	o.cmd = &argv[optind];
	if (o.ttl != NULL) {
		int64_t secs;
		if (kb_parse_duration(o.ttl, &secs) != 0 || secs < 10)
			return kb_usage_error(ctx, "exec: --ttl '%s' is not a duration of at least 10s", o.ttl);
	}
	if (o.krl == NULL)
		o.krl = getenv("BROKER_KRL");
	if (o.revoke && (o.krl == NULL || o.krl[0] == '\0'))
		return kb_usage_error(ctx, "exec: --revoke-on-exit needs the KRL file the hosts use (--krl FILE or "
					   "BROKER_KRL)");
	ssize_t n = readlink("/proc/self/exe", rn.self, sizeof(rn.self) - 1);
	if (n <= 0)
		return kb_fail(ctx, kb_err_errno("/proc/self/exe"), "exec: cannot find the broker binary");
	rn.self[n] = '\0';

	/* Signals are taken synchronously (sigtimedwait) in the loop. */
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigprocmask(SIG_BLOCK, &block, &orig);

	if ((r = make_dir(&rn)) != 0) {
		rc = kb_fail(ctx, r, "exec: cannot create the runtime directory");
		goto out;
	}
	if ((r = start_agent(&rn, &orig)) != 0) {
		rc = kb_fail(ctx, r, "exec: cannot start the per-run agent");
		goto out;
	}
	if ((r = issue(&rn, &o, &orig, &code)) != 0) {
		rc = code != KB_EXIT_OK ? code : kb_fail(ctx, r, "exec: cannot issue a credential");
		goto out;
	}
	if (ctx->verbosity >= 0)
		fprintf(stderr, "broker: exec: %s in a per-run agent (expires in %lld s, renewed before)\n", rn.key_id,
			(long long)rn.lifetime);
	rc = run_command(&rn, &o, &orig);
	if (o.revoke) {
		/* The command is done: nothing may use these certificates again. */
		if ((r = revoke_run(&rn, &o, &orig)) != 0) {
			kb_fail(ctx, r, "exec: --revoke-on-exit: could not revoke %s in %s", rn.key_id, o.krl);
			if (rc == KB_EXIT_OK)
				rc = KB_EXIT_FAILURE;
		} else if (ctx->verbosity >= 0) {
			fprintf(stderr, "broker: exec: revoked %zu certificate%s of this run in %s\n", rn.nserials,
				rn.nserials == 1 ? "" : "s", o.krl);
		}
	}
out:
	stop_agent(&rn);
	sigprocmask(SIG_SETMASK, &orig, NULL);
	return rc;
}
