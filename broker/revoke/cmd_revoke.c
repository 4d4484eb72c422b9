/* Placeholder until this subcommand is implemented. */
#include "commands.h"

#include <stdio.h>

int cmd_revoke(struct kb_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	fprintf(stderr, "broker: '%s' is not implemented yet\n", argv[0]);
	return KB_EXIT_FAILURE;
}
