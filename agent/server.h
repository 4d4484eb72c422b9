/* broker-agent's socket server: one thread per client connection (so a
 * slow RSA signature or a confirm prompt only ever delays its own client),
 * a reaper thread that removes identities the moment they expire, and a
 * signal thread that cleans up. */
#ifndef KB_AGENT_SERVER_H
#define KB_AGENT_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

#include "handler.h"

struct kb_agent_server {
	struct kb_agent_ctx *ctx;
	int listen_fd;
	const char *socket_path; /* removed on exit */
	const char *socket_dir;  /* removed on exit when non-NULL */
	pid_t parent_pid;        /* command form: exit when it is gone; 0 otherwise */
	bool exit_on_int;        /* -d / -D: SIGINT cleans up */
};

/* Runs until a signal (or the parent's exit) ends the agent; never
 * returns. */
void kb_agent_server_run(struct kb_agent_server *srv) __attribute__((noreturn));

/* Clocks used by the real agent. */
int64_t kb_agent_clock_mono_ms(void);
int64_t kb_agent_clock_real(void);
void kb_agent_sleep_ms(unsigned ms);

/* The confirm hook: runs $SSH_ASKPASS with SSH_ASKPASS_PROMPT=confirm. */
bool kb_agent_askpass_confirm(void *arg, const char *prompt);

#endif
