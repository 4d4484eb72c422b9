/* Ansible inventory from Terraform state.
 *
 * Reads either a raw state file (terraform.tfstate, format version 4, as
 * written by Terraform >= 0.12 and `terraform state pull`) or the output of
 * `terraform show -json` (format_version 0.x/1.x, values.root_module and
 * child_modules).  Every managed `aws_instance`, in the root module and in
 * child modules, with count and for_each indexes, becomes one host.
 *
 * Limits are checked before parsing (KB_INVENTORY_STATE_MAX bytes) and while
 * walking (module nesting, hosts, tags); a document over a limit or of an
 * unsupported shape fails with a detail naming what is wrong.
 *
 * Functions return KB_OK or a negative enum kb_err (detail via
 * kb_err_detail()); ret_* are NULL on entry and owned by the caller. */
#ifndef KB_FLEET_INVENTORY_H
#define KB_FLEET_INVENTORY_H

#include <jansson.h>
#include <stddef.h>

#define KB_INVENTORY_STATE_MAX (32u * 1024u * 1024u)
#define KB_INVENTORY_MAX_HOSTS 10000u
#define KB_INVENTORY_MAX_MODULE_DEPTH 32u
#define KB_INVENTORY_MAX_TAGS 128u
#define KB_INVENTORY_MAX_STRING 1024u

struct kb_inv_host {
	char *name;         /* inventory hostname (Name tag if unique, else instance id) */
	char *address;      /* Terraform resource address, e.g. module.web.aws_instance.app[0] */
	char *instance_id;
	char *az;           /* availability zone ("" if unknown) */
	char *public_ip;    /* "" if none */
	char *private_ip;   /* "" if none */
	json_t *tags;       /* object of string values (never NULL) */
	long ssh_port;      /* from the SSHPort tag, 0 if unset */
};

struct kb_inventory {
	struct kb_inv_host *hosts;
	size_t nhosts;
	size_t cap;
	const char *format; /* "tfstate-v4" or "show-json" */
};

/* Parses a state document (not NUL-terminated necessarily). */
int kb_inventory_parse(const char *text, size_t len, struct kb_inventory **ret);
void kb_inventory_free(struct kb_inventory *inv);

/* The --list document: groups ("ec2", "az_<zone>", "tag_<key>_<value>")
 * and _meta.hostvars.  user may be NULL (then no ansible_user). */
int kb_inventory_list_json(const struct kb_inventory *inv, const char *user, json_t **ret);
/* The --host document for one host; KB_ERR_NOT_FOUND when absent. */
int kb_inventory_host_json(const struct kb_inventory *inv, const char *host, const char *user,
			   json_t **ret);

/* Replaces every character outside [A-Za-z0-9_] with '_' in place, as
 * Ansible's group name rules want. */
void kb_inventory_sanitize_group(char *s);

#endif
