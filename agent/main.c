/* broker-agent: a drop-in replacement for OpenSSH's ssh-agent.  Same flags,
 * same output, same socket conventions; see broker-agent(1). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "handler.h"
#include "keystore.h"
#include "server.h"

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	fprintf(stderr,
		"usage: broker-agent [-c | -s] [-Dd] [-a bind_address] [-E fingerprint_hash]\n"
		"                    [-O option] [-P allowed_providers] [-t life]\n"
		"       broker-agent [-a bind_address] [-E fingerprint_hash] [-O option]\n"
		"                    [-P allowed_providers] [-t life] command [arg ...]\n"
		"       broker-agent [-c | -s] -k\n");
	exit(1);
}

/* Makes sure fds 0-2 are open so a socket never becomes stdout. */
static void sanitise_stdfd(void)
{
	int fd = open("/dev/null", O_RDWR);
	while (fd >= 0 && fd <= 2)
		fd = dup(fd);
	if (fd > 2)
		close(fd);
}

static void devnull_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > 2)
		close(fd);
}

static int kill_agent(bool csh)
{
	const char *pidstr = getenv("SSH_AGENT_PID");
	uint64_t pid;

	if (pidstr == NULL) {
		fprintf(stderr, "SSH_AGENT_PID not set, cannot kill agent\n");
		return 1;
	}
	if (kb_parse_u64(pidstr, INT_MAX, &pid) != 0 || pid < 2) {
		fprintf(stderr, "SSH_AGENT_PID=\"%s\", which is not a good PID\n", pidstr);
		return 1;
	}
	if (kill((pid_t)pid, SIGTERM) == -1) {
		perror("kill");
		return 1;
	}
	printf(csh ? "unsetenv SSH_AUTH_SOCK;\n" : "unset SSH_AUTH_SOCK;\n");
	printf(csh ? "unsetenv SSH_AGENT_PID;\n" : "unset SSH_AGENT_PID;\n");
	printf("echo Agent pid %llu killed;\n", (unsigned long long)pid);
	return 0;
}

static int bind_socket(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "broker-agent: socket path too long: %s\n", path);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	kb_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		perror("socket");
		return -1;
	}
	mode_t old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		umask(old);
		fprintf(stderr, "bind: %s\n", strerror(e));
		close(fd);
		return -1;
	}
	umask(old);
	if (listen(fd, SOMAXCONN) < 0) {
		perror("listen");
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

static struct kb_agent_keystore ks;
static struct kb_agent_ctx ctx;

/* Keystore and handler context: set up only in the process that serves
 * (the parent of a fork prints or execs and must not carry them). */
static void run_agent(struct kb_agent_server *srv, uint32_t lifetime, int fp_hash) __attribute__((noreturn));
static void run_agent(struct kb_agent_server *srv, uint32_t lifetime, int fp_hash)
{
	if (kb_agent_keystore_init(&ks) != 0) {
		kb_error("out of memory");
		_exit(1);
	}
	kb_agent_ctx_init(&ctx, &ks);
	ctx.now_mono_ms = kb_agent_clock_mono_ms;
	ctx.now_real = kb_agent_clock_real;
	ctx.confirm = kb_agent_askpass_confirm;
	ctx.delay_ms = kb_agent_sleep_ms;
	ctx.default_lifetime = lifetime;
	ctx.fp_hash = fp_hash;
	/* For tests only: a shorter grace for replaced identities (never a
	 * longer one; 0 restores the old drop-at-once behaviour). */
	const char *grace = getenv("KB_TEST_REPLACE_GRACE_MS");
	uint64_t g;
	if (grace != NULL && kb_parse_u64(grace, KB_AGENT_REPLACE_GRACE_MS, &g) == 0)
		ctx.replace_grace_ms = (int64_t)g;
	srv->ctx = &ctx;
	kb_agent_server_run(srv);
}

int main(int argc, char **argv)
{
	bool c_flag = false, s_flag = false, k_flag = false, d_flag = false, D_flag = false;
	const char *bind_addr = NULL;
	int64_t lifetime = 0;
	int fp_hash = KB_AGENT_FP_SHA256;
	int ch;

	sanitise_stdfd();
	/* Not dumpable and no core files from the very start (as ssh-agent). */
	if (kb_harden_process() != 0) {
		fprintf(stderr, "broker-agent: cannot harden process: %s\n", kb_err_detail());
		return 1;
	}
	if (kb_init() != 0) {
		fprintf(stderr, "broker-agent: libsodium initialisation failed\n");
		return 1;
	}
	kb_log_init("broker-agent", KB_LOG_INFO);

	while ((ch = getopt(argc, argv, "+cDdksE:a:O:P:t:")) != -1) {
		switch (ch) {
		case 'E':
			if (strcmp(optarg, "md5") == 0)
				fp_hash = KB_AGENT_FP_MD5;
			else if (strcmp(optarg, "sha1") == 0)
				fp_hash = KB_AGENT_FP_SHA1;
			else if (strcmp(optarg, "sha256") != 0) {
				fprintf(stderr, "Invalid hash algorithm \"%s\"\r\n", optarg);
				return 255; /* ssh-agent's fatal() status */
			}
			break;
		case 'c':
			if (s_flag)
				usage();
			c_flag = true;
			break;
		case 'k':
			k_flag = true;
			break;
		case 'O':
			/* Accepted for compatibility: PKCS#11 and FIDO keys are
			 * refused anyway. */
			if (strcmp(optarg, "no-restrict-websafe") != 0 && strcmp(optarg, "allow-remote-pkcs11") != 0 &&
			    strncmp(optarg, "websafe-allow=", 14) != 0) {
				fprintf(stderr, "Unknown -O option\r\n");
				return 255;
			}
			break;
		case 'P':
			/* Provider allowlist: no provider is ever loaded. */
			break;
		case 's':
			if (c_flag)
				usage();
			s_flag = true;
			break;
		case 'd':
			if (d_flag || D_flag)
				usage();
			d_flag = true;
			break;
		case 'D':
			if (d_flag || D_flag)
				usage();
			D_flag = true;
			break;
		case 'a':
			bind_addr = optarg;
			break;
		case 't':
			if (kb_parse_duration(optarg, &lifetime) != 0 || lifetime < 0 || lifetime > UINT32_MAX) {
				fprintf(stderr, "Invalid lifetime\n");
				usage();
			}
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 0 && (c_flag || k_flag || s_flag || d_flag || D_flag))
		usage();
	if (argc == 0 && !c_flag && !s_flag) {
		const char *shell = getenv("SHELL");
		size_t n = shell ? strlen(shell) : 0;
		if (n > 2 && strcmp(shell + n - 3, "csh") == 0)
			c_flag = true;
	}
	if (k_flag)
		return kill_agent(c_flag);

	pid_t parent_pid = getpid();
	char dir[PATH_MAX] = "", path[PATH_MAX];
	if (bind_addr == NULL) {
		const char *tmp = getenv("TMPDIR");
		if (tmp == NULL || *tmp == '\0')
			tmp = "/tmp";
		if ((size_t)snprintf(dir, sizeof(dir), "%s/ssh-XXXXXXXXXX", tmp) >= sizeof(dir) ||
		    mkdtemp(dir) == NULL) {
			perror("mkdtemp: private socket dir");
			return 1;
		}
		snprintf(path, sizeof(path), "%s/agent.%ld", dir, (long)parent_pid);
	} else {
		kb_strlcpy(path, bind_addr, sizeof(path));
	}
	int lfd = bind_socket(path);
	if (lfd < 0) {
		if (*dir)
			rmdir(dir);
		return 1;
	}

	struct kb_agent_server srv = {
		.ctx = NULL,
		.listen_fd = lfd,
		.socket_path = path,
		.socket_dir = *dir ? dir : NULL,
		.parent_pid = 0,
		.exit_on_int = d_flag || D_flag,
	};
	const char *fmt = c_flag ? "setenv %s %s;\n" : "%s=%s; export %s;\n";

	if (d_flag || D_flag) {
		kb_log_init("broker-agent", d_flag ? KB_LOG_DEBUG : KB_LOG_INFO);
		printf(fmt, "SSH_AUTH_SOCK", path, "SSH_AUTH_SOCK");
		printf("echo Agent pid %ld;\n", (long)parent_pid);
		fflush(stdout);
		run_agent(&srv, (uint32_t)lifetime, fp_hash);
	}

	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		unlink(path);
		if (*dir)
			rmdir(dir);
		return 1;
	}
	if (pid != 0) {
		/* Parent: print the environment, or become the command. */
		char pidstr[32];
		close(lfd);
		snprintf(pidstr, sizeof(pidstr), "%ld", (long)pid);
		if (argc == 0) {
			printf(fmt, "SSH_AUTH_SOCK", path, "SSH_AUTH_SOCK");
			printf(fmt, "SSH_AGENT_PID", pidstr, "SSH_AGENT_PID");
			printf("echo Agent pid %ld;\n", (long)pid);
			return 0;
		}
		if (setenv("SSH_AUTH_SOCK", path, 1) == -1 || setenv("SSH_AGENT_PID", pidstr, 1) == -1) {
			perror("setenv");
			return 1;
		}
		execvp(argv[0], argv);
		perror(argv[0]);
		return 1;
	}

	/* Child: the agent. */
	kb_log_use_syslog(1);
	if (setsid() == -1)
		kb_error("setsid: %s", strerror(errno));
	if (chdir("/") != 0)
		kb_error("chdir /: %s", strerror(errno));
	devnull_stdio();
	if (argc > 0) {
		srv.parent_pid = parent_pid;
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent_pid) {
			unlink(path);
			if (*dir)
				rmdir(dir);
			_exit(0);
		}
	}
	run_agent(&srv, (uint32_t)lifetime, fp_hash);
}
