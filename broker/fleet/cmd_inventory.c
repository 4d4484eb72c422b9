/* broker inventory: Ansible's dynamic inventory protocol over Terraform
 * state.  `--list` prints every group and _meta.hostvars; `--host H` prints
 * one host's variables.  Usable directly as `ansible -i` through the shim in
 * contrib/ansible/keybroker_inventory.sh. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/util.h"
#include "fleet/fleet.h"
#include "fleet/inventory.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: broker inventory [--terraform-state FILE] [--list | --host HOST]\n"
		   "                        [--role ROLE | --user USER]\n"
		   "  --terraform-state FILE  terraform.tfstate (v4) or `terraform show -json` output\n"
		   "                          (default: $BROKER_TF_STATE; '-' reads stdin)\n"
		   "  --list                  all groups and host variables (the default)\n"
		   "  --host HOST             one host's variables\n"
		   "  --role ROLE             set ansible_user to the role's first principal\n"
		   "  --user USER             set ansible_user to USER\n");
}

int cmd_inventory(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "terraform-state", required_argument, NULL, 's' },
		{ "list", no_argument, NULL, 'l' },
		{ "host", required_argument, NULL, 'H' },
		{ "role", required_argument, NULL, 'r' },
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state = getenv("BROKER_TF_STATE"), *host = NULL, *role = NULL, *user = NULL;
	char *role_user = NULL;
	bool list = false;
	struct kb_buf text;
	struct kb_inventory *inv = NULL;
	json_t *doc = NULL;
	int c, r, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 's': state = optarg; break;
		case 'l': list = true; break;
		case 'H': host = optarg; break;
		case 'r': role = optarg; break;
		case 'u': user = optarg; break;
		case 'h': usage(stdout); return KB_EXIT_OK;
		default: usage(stderr); return KB_EXIT_USAGE;
		}
	}
	if (optind != argc)
		return kb_usage_error(ctx, "inventory: unexpected argument '%s'", argv[optind]);
	if (list && host != NULL)
		return kb_usage_error(ctx, "inventory: --list and --host exclude each other");
	if (role != NULL && user != NULL)
		return kb_usage_error(ctx, "inventory: --role and --user exclude each other");
	if (state == NULL || state[0] == '\0')
		return kb_usage_error(ctx, "inventory: no state file: pass --terraform-state FILE or set BROKER_TF_STATE");
	if (role != NULL) {
		if ((r = kb_fleet_role_user(ctx, role, &role_user)) != 0)
			return kb_exit_for(r);
		user = role_user;
	}
	if (user != NULL && !kb_fleet_valid_os_user(user)) {
		free(role_user);
		return kb_usage_error(ctx, "inventory: '%s' is not a valid user name", user);
	}

	kb_buf_init(&text, KB_INVENTORY_STATE_MAX);
	r = kb_read_file(strcmp(state, "-") == 0 ? "/dev/stdin" : state, KB_INVENTORY_STATE_MAX, &text);
	if (r != 0) {
		rc = kb_fail(ctx, r, "cannot read Terraform state %s", state);
		goto out;
	}
	r = kb_inventory_parse((const char *)kb_buf_ptr(&text), kb_buf_remaining(&text), &inv);
	if (r != 0) {
		rc = kb_fail(ctx, r, "%s: cannot use this Terraform state", state);
		goto out;
	}
	r = host != NULL ? kb_inventory_host_json(inv, host, user, &doc) : kb_inventory_list_json(inv, user, &doc);
	if (r != 0) {
		rc = kb_fail(ctx, r, "inventory");
		goto out;
	}
	if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) != 0 || fputc('\n', stdout) == EOF ||
	    fflush(stdout) != 0) {
		rc = kb_fail(ctx, KB_ERR_IO, "cannot write the inventory");
		goto out;
	}
	rc = KB_EXIT_OK;
out:
	json_decref(doc);
	kb_inventory_free(inv);
	kb_buf_done(&text);
	free(role_user);
	return rc;
}
