/* Confirmation through $SSH_ASKPASS, as OpenSSH's ssh-agent asks for keys
 * added with `ssh-add -c`: the program gets the prompt as its argument and
 * SSH_ASKPASS_PROMPT=confirm in its environment; use is allowed when it
 * exits 0 and prints nothing or "yes". */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

extern char **environ;

#define DEFAULT_ASKPASS "/usr/bin/ssh-askpass"

/* A copy of the environment with SSH_ASKPASS_PROMPT=confirm (built before
 * fork: only async-signal-safe calls happen in the child). */
static char **confirm_env(void)
{
	size_t n = 0;
	while (environ[n] != NULL)
		n++;
	char **env = calloc(n + 2, sizeof(*env));
	if (env == NULL)
		return NULL;
	size_t j = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "SSH_ASKPASS_PROMPT=", 19) != 0)
			env[j++] = environ[i];
	env[j++] = (char *)"SSH_ASKPASS_PROMPT=confirm";
	env[j] = NULL;
	return env;
}

bool kb_agent_askpass_confirm(void *arg, const char *prompt)
{
	(void)arg;
	const char *askpass = getenv("SSH_ASKPASS");
	char out[256];
	size_t got = 0;
	int fds[2], status = 0;
	pid_t pid;

	if (askpass == NULL || *askpass == '\0')
		askpass = DEFAULT_ASKPASS;
	char **env = confirm_env();
	if (env == NULL || pipe2(fds, O_CLOEXEC) != 0) {
		free(env);
		return false;
	}
	char *argv[] = { (char *)askpass, (char *)prompt, NULL };
	if ((pid = fork()) < 0) {
		kb_error("fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		free(env);
		return false;
	}
	if (pid == 0) {
		if (dup2(fds[1], STDOUT_FILENO) < 0)
			_exit(1);
		execve(askpass, argv, env);
		_exit(1);
	}
	close(fds[1]);
	free(env);
	for (;;) {
		ssize_t r = read(fds[0], out + got, sizeof(out) - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == sizeof(out) - 1)
			break;
	}
	close(fds[0]);
	out[got] = '\0';
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		kb_debug("%s refused (status %d)", askpass, status);
		return false;
	}
	out[strcspn(out, "\r\n")] = '\0';
	return out[0] == '\0' || strcasecmp(out, "yes") == 0;
}
