#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static const char *prog = "keybroker";
static enum kb_log_level cur_level = KB_LOG_WARN;
static int use_syslog;
static int log_fd = -1;

void kb_log_init(const char *progname, enum kb_log_level level)
{
	const char *slash = progname ? strrchr(progname, '/') : NULL;
	prog = slash ? slash + 1 : (progname ? progname : prog);
	cur_level = level;
}

void kb_log_set_level(enum kb_log_level level)
{
	cur_level = level;
}

enum kb_log_level kb_log_get_level(void)
{
	return cur_level;
}

void kb_log_use_syslog(int enable)
{
	use_syslog = enable;
	if (enable)
		openlog(prog, LOG_PID, LOG_AUTH);
}

void kb_log_set_fd(int fd)
{
	log_fd = fd;
}

void kb_log_msg(enum kb_log_level level, const char *func, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Control characters from untrusted input must not forge log lines. */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (use_syslog) {
		static const int prio[] = { LOG_ERR, LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_DEBUG };
		syslog(prio[level], "%s", msg);
		return;
	}
	char out[1200];
	if (level >= KB_LOG_DEBUG)
		n = snprintf(out, sizeof(out), "%s: %s:%d: %s\n", prog, func, line, msg);
	else
		n = snprintf(out, sizeof(out), "%s: %s\n", prog, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(out))
		n = sizeof(out) - 1;
	ssize_t w = write(log_fd >= 0 ? log_fd : STDERR_FILENO, out, (size_t)n);
	(void)w;
}
