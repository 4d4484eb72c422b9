/* Placeholder: replaced by the rotation work. */
#include <stdio.h>

#include "commands.h"

int cmd_rotate(struct kb_ctx *ctx, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return kb_usage_error(ctx, "'rotate' is not implemented yet");
}
