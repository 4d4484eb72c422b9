/* The broker CLI's global context: options accepted before or after the
 * subcommand (--json, --backend, --config, --policy, -v, -q), the loaded
 * configuration, and output helpers. */
#ifndef KB_CTX_H
#define KB_CTX_H

#include <stdbool.h>
#include <stdio.h>

struct kb_config;

/* Exit codes (documented in broker(1)). */
enum kb_exit {
	KB_EXIT_OK = 0,
	KB_EXIT_FAILURE = 1,     /* the operation failed */
	KB_EXIT_USAGE = 2,       /* bad command line */
	KB_EXIT_DENIED = 3,      /* policy denied the request */
	KB_EXIT_NOT_FOUND = 4,   /* secret, key or file not found */
	KB_EXIT_BACKEND = 5,     /* backend unreachable or refused */
	KB_EXIT_VERIFY = 6,      /* verification failed (signature, audit, KRL check: revoked) */
	KB_EXIT_PENDING = 7,     /* a job left work pending */
};

struct kb_ctx {
	bool json;
	int verbosity;            /* 0 normal, 1+ -v, -1 -q */
	const char *config_path;  /* --config */
	struct kb_config *cfg;    /* loaded lazily by kb_ctx_config() */
	const char *progname;
};

/* The configuration, loading it on first use (applies --backend/--policy
 * overrides).  NULL after printing an error. */
struct kb_config *kb_ctx_config(struct kb_ctx *ctx);

/* Maps an enum kb_err to an exit code. */
int kb_exit_for(int err);

/* Prints "broker: <what>: <kb_err_str>[: detail]" and returns the exit
 * code for err. */
int kb_fail(const struct kb_ctx *ctx, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prints "broker: <message>" to stderr and returns KB_EXIT_USAGE. */
int kb_usage_error(const struct kb_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints j (a jansson json_t *) to stdout as indented JSON, one document,
 * and releases it (json_decref).  Accepts NULL (prints nothing).  The
 * output of every read command's --json. */
struct json_t;
void kb_print_json(struct json_t *j);

/* Subcommands: argv[0] is the subcommand name, global options removed. */
typedef int (*kb_cmd_fn)(struct kb_ctx *ctx, int argc, char **argv);

#endif
