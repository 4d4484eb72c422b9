/* broker serve [--socket PATH]: the broker daemon.  It alone needs access
 * to the backend and the CA; clients are identified by SO_PEERCRED. */
#include "commands.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "ca.h"
#include "config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "issue.h"
#include "requester.h"
#include "serve_proto.h"
#include "store/store.h"

#define MAX_CLIENTS 128
#define CLIENT_TIMEOUT_SECS 30

static volatile sig_atomic_t stopping;
static pthread_mutex_t issue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static int nclients;

struct client {
	int fd;
	struct kb_issue_ctx *ic;
};

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int send_json(int fd, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	int r = s ? kb_serve_write_frame(fd, s, strlen(s)) : KB_ERR_NOMEM;
	kb_json_free_string(s);
	json_decref(j);
	return r;
}

static int send_error(int fd, int err, const char *msg)
{
	const char *code = err == KB_ERR_DENIED ? "denied" : err == KB_ERR_INVALID ? "invalid" :
			   err == KB_ERR_NOT_FOUND ? "not_found" : err == KB_ERR_TOO_LARGE ? "too_large" : "failed";
	return send_json(fd, json_pack("{s:b,s:s,s:i,s:s}", "ok", 0, "error", code, "exit", kb_exit_for(err),
				       "message", msg));
}

static int handle_issue(struct client *cl, const struct kb_requester *who, const struct kb_serve_request *rq)
{
	struct kb_issue_request req = {
		.user = who->user, .uid = who->uid, .groups = (const char *const *)who->groups,
		.ngroups = who->ngroups, .role = rq->role, .principals = (const char *const *)rq->principals,
		.nprincipals = rq->nprincipals, .ttl = rq->ttl, .key_type = rq->key_type, .identity = rq->name,
		.host = rq->host,
	};
	struct kb_issue_result res = { 0 };
	char msg[900];

	pthread_mutex_lock(&issue_lock);
	kb_err_clear_detail();
	int r = kb_issue_run(cl->ic, &req, NULL, &res);
	pthread_mutex_unlock(&issue_lock);
	if (r == KB_ERR_DENIED) {
		kb_info("deny %s (uid %u) role %s: %s", who->user, (unsigned)who->uid, rq->role, res.decision.reason);
		snprintf(msg, sizeof(msg), "%s", res.decision.reason);
		kb_issue_result_done(&res);
		return send_error(cl->fd, r, msg);
	}
	if (r != KB_OK) {
		snprintf(msg, sizeof(msg), "%s%s%s", kb_err_str(r), kb_err_detail()[0] ? ": " : "", kb_err_detail());
		kb_warn("issue for %s (uid %u) role %s failed: %s", who->user, (unsigned)who->uid, rq->role, msg);
		kb_issue_result_done(&res);
		return send_error(cl->fd, r, msg);
	}
	kb_info("issued %s to %s (uid %u), serial %llu, %s", res.key_id, who->user, (unsigned)who->uid,
		(unsigned long long)res.serial, res.secret_name);
	json_t *cred = json_loadb((const char *)kb_buf_ptr(&res.credential), kb_buf_remaining(&res.credential), 0,
				  NULL);
	json_t *j = json_pack("{s:b,s:o,s:s,s:s,s:s,s:s,s:I}", "ok", 1, "credential", cred ? cred : json_null(),
			      "secret", res.secret_name, "version", res.version ? res.version : "", "backend",
			      res.backend, "rule", res.decision.rule, "audit_seq", (json_int_t)res.audit_seq);
	kb_issue_result_done(&res);
	return send_json(cl->fd, j);
}

static int handle_ca(struct client *cl, const struct kb_serve_request *rq)
{
	struct kb_key *ca = NULL;
	char *line = NULL;
	int r;

	pthread_mutex_lock(&issue_lock);
	if (cl->ic->store == NULL)
		r = kb_store_open(cl->ic->cfg, &cl->ic->store);
	else
		r = KB_OK;
	if (r == KB_OK)
		r = kb_ca_load(cl->ic->store, rq->host_ca, &ca);
	pthread_mutex_unlock(&issue_lock);
	if (r == KB_OK)
		r = kb_key_format_public_line(ca, rq->host_ca ? "keybroker-host-ca" : "keybroker-user-ca", &line);
	kb_key_free(ca);
	if (r != KB_OK) {
		char msg[600];
		snprintf(msg, sizeof(msg), "%s: %s", kb_err_str(r), kb_err_detail());
		return send_error(cl->fd, r, msg);
	}
	r = send_json(cl->fd, json_pack("{s:b,s:s}", "ok", 1, "public_key", line));
	free(line);
	return r;
}

static void *client_main(void *arg)
{
	struct client *cl = arg;
	struct ucred cred;
	socklen_t cl_len = sizeof(cred);
	struct kb_requester who = { 0 };
	struct timeval tv = { CLIENT_TIMEOUT_SECS, 0 };

	setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(cl->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (getsockopt(cl->fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl_len) != 0 ||
	    kb_requester_from_uid(cred.uid, &who) != KB_OK) {
		send_error(cl->fd, KB_ERR_PERMISSION, "cannot identify the connecting user");
		goto out;
	}
	for (;;) {
		struct kb_buf in;
		struct kb_serve_request rq;
		kb_buf_init(&in, KB_SERVE_REQUEST_MAX);
		int r = kb_serve_read_frame(cl->fd, KB_SERVE_REQUEST_MAX, &in);
		if (r != KB_OK) {
			if (r == KB_ERR_TOO_LARGE)
				send_error(cl->fd, r, kb_err_detail());
			kb_buf_done(&in);
			break;
		}
		kb_err_clear_detail();
		r = kb_serve_parse_request(kb_buf_ptr(&in), kb_buf_remaining(&in), &rq);
		kb_buf_done(&in);
		if (r != KB_OK) {
			kb_info("bad request from %s (uid %u): %s", who.user, (unsigned)who.uid, kb_err_detail());
			if (send_error(cl->fd, r, kb_err_detail()) != KB_OK)
				break;
			continue;
		}
		if (rq.op == KB_SERVE_OP_PING)
			r = send_json(cl->fd, json_pack("{s:b,s:s,s:I}", "ok", 1, "user", who.user, "uid",
							(json_int_t)who.uid));
		else if (rq.op == KB_SERVE_OP_CA)
			r = handle_ca(cl, &rq);
		else
			r = handle_issue(cl, &who, &rq);
		kb_serve_request_done(&rq);
		if (r != KB_OK)
			break;
	}
out:
	kb_requester_done(&who);
	close(cl->fd);
	free(cl);
	pthread_mutex_lock(&count_lock);
	nclients--;
	pthread_mutex_unlock(&count_lock);
	return NULL;
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path))
		return kb_err_set(KB_ERR_INVALID, "socket path too long: %s", path);
	kb_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	char *dir = kb_strdup(path);
	if (dir == NULL)
		return KB_ERR_NOMEM;
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
			int r = kb_err_errno(dir);
			free(dir);
			return r;
		}
		/* Someone else's directory (e.g. pre-created in /tmp) could
		 * swap the socket for theirs: refuse it. */
		struct stat dst;
		if (lstat(dir, &dst) != 0 || !S_ISDIR(dst.st_mode) ||
		    (dst.st_uid != geteuid() && dst.st_uid != 0) || (dst.st_mode & 022) != 0) {
			int r = kb_err_set(KB_ERR_PERMISSION, "%s must be a directory owned by this user (or root) "
							      "and not writable by others", dir);
			free(dir);
			return r;
		}
	}
	free(dir);
	/* A socket left by a daemon that died is replaced; a live one is not. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return kb_err_set(KB_ERR_EXISTS, "%s exists and is not a socket", path);
		int t = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool live = t >= 0 && connect(t, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		if (t >= 0)
			close(t);
		if (live)
			return kb_err_set(KB_ERR_EXISTS, "a broker daemon is already listening on %s", path);
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kb_err_errno("socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chmod(path, 0666) != 0 || listen(fd, 64) != 0) {
		int r = kb_err_errno(path);
		close(fd);
		return r;
	}
	return fd;
}

int cmd_serve(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "socket", required_argument, NULL, 's' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	const char *sock = NULL;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 's') {
			sock = optarg;
		} else if (c == 'h') {
			printf("usage: broker serve [--socket PATH]\n");
			return KB_EXIT_OK;
		} else {
			return KB_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return kb_usage_error(ctx, "serve takes no arguments");
	struct kb_config *cfg = kb_ctx_config(ctx);
	if (cfg == NULL)
		return KB_EXIT_FAILURE;
	if (sock == NULL)
		sock = kb_config_get(cfg, "serve.socket");
	if (kb_harden_process() != KB_OK)
		kb_warn("cannot harden the process: %s", kb_err_detail());
	if (ctx->verbosity >= 0 && kb_log_get_level() < KB_LOG_INFO)
		kb_log_set_level(KB_LOG_INFO);

	struct kb_issue_ctx ic;
	int r = kb_issue_ctx_init(&ic, cfg, "daemon");
	if (r != KB_OK)
		return kb_fail(ctx, r, "cannot open the audit log");
	int lfd = listen_on(sock);
	if (lfd < 0) {
		kb_issue_ctx_done(&ic);
		return kb_fail(ctx, lfd, "cannot listen on %s", sock);
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	kb_info("listening on %s (policy %s, backend %s, audit %s)", sock, ic.policy_path,
		kb_config_get(cfg, "backend"), kb_config_get(cfg, "audit.log"));

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (!stopping) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			kb_error("accept: %s", strerror(errno));
			sleep(1);
			continue;
		}
		pthread_mutex_lock(&count_lock);
		bool full = nclients >= MAX_CLIENTS;
		if (!full)
			nclients++;
		pthread_mutex_unlock(&count_lock);
		struct client *cl = full ? NULL : calloc(1, sizeof(*cl));
		pthread_t th;
		if (cl == NULL) {
			if (!full) {
				pthread_mutex_lock(&count_lock);
				nclients--;
				pthread_mutex_unlock(&count_lock);
			}
			send_error(fd, KB_ERR_LIMIT, "the broker is busy: try again");
			close(fd);
			continue;
		}
		cl->fd = fd;
		cl->ic = &ic;
		if (pthread_create(&th, &attr, client_main, cl) != 0) {
			close(fd);
			free(cl);
			pthread_mutex_lock(&count_lock);
			nclients--;
			pthread_mutex_unlock(&count_lock);
		}
	}
	pthread_attr_destroy(&attr);
	close(lfd);
	unlink(sock);
	/* Let running requests finish before the context goes away. */
	for (int i = 0; i < 100; i++) {
		pthread_mutex_lock(&count_lock);
		int n = nclients;
		pthread_mutex_unlock(&count_lock);
		if (n == 0)
			break;
		usleep(50000);
	}
	kb_info("stopped");
	kb_issue_ctx_done(&ic);
	return KB_EXIT_OK;
}
