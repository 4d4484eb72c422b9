/* Shared by the `broker store` subcommand files. */
#ifndef KB_CMD_STORE_H
#define KB_CMD_STORE_H

#include <jansson.h>

#include "ctx.h"
#include "store/store.h"

/* Opens the configured backend; prints the error and returns an exit code
 * (non-zero) on failure. */
int kb_cmd_store_open(struct kb_ctx *ctx, struct kb_store **ret);
/* Prints "broker: <what> <name>: <error>" and a hint; returns the exit code. */
int kb_cmd_store_fail(struct kb_ctx *ctx, int err, const char *what, const char *name);
/* Prints j (compact JSON) and a newline to stdout; takes ownership. */
int kb_cmd_json_out(json_t *j);

int kb_cmd_store_get(struct kb_ctx *ctx, int argc, char **argv);

#endif
