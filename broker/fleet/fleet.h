/* Shared helpers of the fleet commands (inventory, ec2, authorized-keys,
 * exec): input validation as AWS and OpenSSH define it, and role lookups
 * in the policy. */
#ifndef KB_FLEET_H
#define KB_FLEET_H

#include <stdbool.h>

#include "ctx.h"

/* EC2 instance ids: "i-" and 8 or 17 lower-case hex digits. */
bool kb_fleet_valid_instance_id(const char *id);
/* OS user names as EC2 Instance Connect accepts them (1-32 characters,
 * [A-Za-z_] first, then [A-Za-z0-9@._-], a final '$' allowed). */
bool kb_fleet_valid_os_user(const char *user);
/* Availability zone names: "eu-west-1a", "us-gov-west-1b". */
bool kb_fleet_valid_az(const char *az);

/* The first principal of ROLE in the configured policy ({{requester}}
 * expanded to the calling user).  Prints an error and returns a negative
 * kb_err on failure; *ret_user is a heap string on success. */
int kb_fleet_role_user(struct kb_ctx *ctx, const char *role, char **ret_user);

#endif
