/* Choosing the instances of an EC2 Instance Connect push (ec2_issue.h):
 * a Terraform state, one of its inventory groups, and instance ids. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/util.h"
#include "fleet/ec2_issue.h"
#include "fleet/fleet.h"
#include "fleet/inventory.h"

static bool in_group(const json_t *list, const char *group, const char *host)
{
	const json_t *hosts = json_object_get(json_object_get(list, group), "hosts");
	size_t i;
	const json_t *h;

	json_array_foreach(hosts, i, h)
		if (strcmp(json_string_value(h), host) == 0)
			return true;
	return false;
}

static bool selected(const struct kb_ec2_selection *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->t[i].instance_id, id) == 0)
			return true;
	return false;
}

static int read_state(const char *path, struct kb_inventory **ret)
{
	struct kb_buf text;
	int r;

	kb_buf_init(&text, KB_INVENTORY_STATE_MAX);
	r = kb_read_file(path, KB_INVENTORY_STATE_MAX, &text);
	if (r == 0)
		r = kb_inventory_parse((const char *)kb_buf_ptr(&text), kb_buf_remaining(&text), ret);
	kb_buf_done(&text);
	if (r != 0) {
		char d[512];
		kb_strlcpy(d, kb_err_detail(), sizeof(d));
		r = kb_err_set(r, "%s: cannot use this Terraform state%s%s", path, d[0] ? ": " : "", d);
	}
	return r;
}

int kb_ec2_select(const struct kb_ec2_select_opts *o, struct kb_ec2_selection *ret)
{
	struct kb_ec2_selection s = { 0 };
	json_t *list = NULL;
	size_t cap;
	int r = KB_OK;

	memset(ret, 0, sizeof(*ret));
	if (o->group != NULL && o->state == NULL)
		return kb_err_set(KB_ERR_ARGS, "--group needs --terraform-state");
	if (o->az != NULL && !kb_fleet_valid_az(o->az))
		return kb_err_set(KB_ERR_ARGS, "'%s' is not an availability zone name (like eu-west-1a)", o->az);
	if (o->nids > KB_EC2_MAX_TARGETS)
		return kb_err_set(KB_ERR_ARGS, "more than %u instances", KB_EC2_MAX_TARGETS);
	/* Ids first: a typo fails before any file is read. */
	for (size_t i = 0; i < o->nids; i++)
		if (!kb_fleet_valid_instance_id(o->ids[i]))
			return kb_err_set(KB_ERR_ARGS, "'%s' is not an instance id (i- and 8 or 17 hex digits)",
					  o->ids[i]);
	if (o->state != NULL) {
		if ((r = read_state(o->state, &s.inv)) != 0)
			goto out;
		if (o->group != NULL && (r = kb_inventory_list_json(s.inv, NULL, &list)) != 0)
			goto out;
	}
	cap = o->nids + (s.inv ? s.inv->nhosts : 0);
	s.t = calloc(cap ? cap : 1, sizeof(*s.t));
	s.names = calloc(cap ? cap : 1, sizeof(*s.names));
	if (s.t == NULL || s.names == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; s.inv != NULL && i < s.inv->nhosts; i++) {
		const struct kb_inv_host *h = &s.inv->hosts[i];
		if (o->group != NULL && !in_group(list, o->group, h->name))
			continue;
		if (!kb_fleet_valid_instance_id(h->instance_id)) {
			r = kb_err_set(KB_ERR_ARGS, "%s: host %s has instance id '%s', not an EC2 one", o->state,
				       h->name, h->instance_id);
			goto out;
		}
		if (selected(&s, h->instance_id))
			continue;
		s.t[s.n].instance_id = h->instance_id;
		s.t[s.n].az = o->az ? o->az : (kb_fleet_valid_az(h->az) ? h->az : NULL);
		s.names[s.n++] = h->name;
	}
	for (size_t i = 0; i < o->nids; i++) {
		if (selected(&s, o->ids[i]))
			continue;
		s.t[s.n].instance_id = s.names[s.n] = o->ids[i];
		s.t[s.n].az = o->az;
		s.n++;
	}
	if (s.n == 0) {
		r = kb_err_set(KB_ERR_NOT_FOUND, "no instances selected%s%s%s%s", o->state ? " in " : "",
			       o->state ? o->state : "", o->group ? ", group " : "", o->group ? o->group : "");
		goto out;
	}
	*ret = s;
	memset(&s, 0, sizeof(s));
out:
	json_decref(list);
	kb_ec2_selection_done(&s);
	return r;
}

void kb_ec2_selection_done(struct kb_ec2_selection *s)
{
	if (s == NULL)
		return;
	free(s->t);
	free(s->names);
	kb_inventory_free(s->inv);
	memset(s, 0, sizeof(*s));
}
