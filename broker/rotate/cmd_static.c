/* Placeholder: replaced by the rotation work. */
#include <stdio.h>

#include "commands.h"

int cmd_static(struct kb_ctx *ctx, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return kb_usage_error(ctx, "'static' is not implemented yet");
}
