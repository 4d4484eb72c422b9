/* Logging with levels.
 *
 * lib/ code never logs above KB_LOG_DEBUG; binaries decide what to show.
 * Never pass secret material to these macros: log fingerprints, key IDs and
 * secret names instead.  Messages go to stderr (default), syslog, or a file
 * descriptor, one line each, prefixed with the program name. */
#ifndef KB_LOG_H
#define KB_LOG_H

enum kb_log_level {
	KB_LOG_QUIET = 0,
	KB_LOG_ERROR = 1,
	KB_LOG_WARN = 2,
	KB_LOG_INFO = 3,
	KB_LOG_DEBUG = 4,
	KB_LOG_TRACE = 5,
};

void kb_log_init(const char *progname, enum kb_log_level level);
void kb_log_set_level(enum kb_log_level level);
enum kb_log_level kb_log_get_level(void);
/* Send messages to syslog (LOG_AUTH) instead of stderr. */
void kb_log_use_syslog(int enable);
/* Send messages to this fd instead of stderr (-1 restores stderr). */
void kb_log_set_fd(int fd);

void kb_log_msg(enum kb_log_level level, const char *func, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define KB_LOG(lvl, ...)                                                   \
	do {                                                               \
		if ((lvl) <= kb_log_get_level())                           \
			kb_log_msg((lvl), __func__, __LINE__, __VA_ARGS__); \
	} while (0)
#define kb_error(...) KB_LOG(KB_LOG_ERROR, __VA_ARGS__)
#define kb_warn(...) KB_LOG(KB_LOG_WARN, __VA_ARGS__)
#define kb_info(...) KB_LOG(KB_LOG_INFO, __VA_ARGS__)
#define kb_debug(...) KB_LOG(KB_LOG_DEBUG, __VA_ARGS__)
#define kb_trace(...) KB_LOG(KB_LOG_TRACE, __VA_ARGS__)

#endif
