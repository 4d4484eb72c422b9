/* Subcommand entry points, one per cmd_<name>.c file. */
#ifndef KB_COMMANDS_H
#define KB_COMMANDS_H

#include "ctx.h"

int cmd_key(struct kb_ctx *ctx, int argc, char **argv);
int cmd_cert(struct kb_ctx *ctx, int argc, char **argv);
int cmd_krl(struct kb_ctx *ctx, int argc, char **argv);
int cmd_store(struct kb_ctx *ctx, int argc, char **argv);
int cmd_config(struct kb_ctx *ctx, int argc, char **argv);
int cmd_policy(struct kb_ctx *ctx, int argc, char **argv);
int cmd_audit(struct kb_ctx *ctx, int argc, char **argv);
int cmd_ca(struct kb_ctx *ctx, int argc, char **argv);
int cmd_issue(struct kb_ctx *ctx, int argc, char **argv);
int cmd_serve(struct kb_ctx *ctx, int argc, char **argv);
int cmd_inventory(struct kb_ctx *ctx, int argc, char **argv);
int cmd_ec2(struct kb_ctx *ctx, int argc, char **argv);
int cmd_authorized_keys(struct kb_ctx *ctx, int argc, char **argv);
int cmd_exec(struct kb_ctx *ctx, int argc, char **argv);
int cmd_revoke(struct kb_ctx *ctx, int argc, char **argv);
int cmd_static(struct kb_ctx *ctx, int argc, char **argv);
int cmd_rotate(struct kb_ctx *ctx, int argc, char **argv);

#endif
