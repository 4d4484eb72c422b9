/* Terraform state -> Ansible inventory.  See inventory.h.
 *
 * Two input shapes share one host extractor: a raw state (version 4) lists
 * resources flat with a "module" path and per-instance "index_key"; `terraform
 * show -json` nests modules (values.root_module.child_modules[]) and gives
 * each instance its full "address".  Both end in an attributes/values object
 * with the aws_instance fields we need. */
#include "fleet/inventory.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

static void host_done(struct kb_inv_host *h)
{
	free(h->name);
	free(h->address);
	free(h->instance_id);
	free(h->az);
	free(h->public_ip);
	free(h->private_ip);
	json_decref(h->tags);
	memset(h, 0, sizeof(*h));
}

void kb_inventory_free(struct kb_inventory *inv)
{
	if (inv == NULL)
		return;
	for (size_t i = 0; i < inv->nhosts; i++)
		host_done(&inv->hosts[i]);
	free(inv->hosts);
	free(inv);
}

void kb_inventory_sanitize_group(char *s)
{
	for (; *s != '\0'; s++) {
		char c = *s;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
		if (!ok)
			*s = '_';
	}
}

/* A string attribute: absent or null gives "" (ok), a string must be
 * printable and bounded, anything else is malformed. */
static int get_str(const json_t *obj, const char *key, const char *where, char **ret)
{
	const json_t *v = json_object_get(obj, key);
	const char *s = "";

	*ret = NULL;
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v))
			return kb_err_set(KB_ERR_INVALID, "%s: attribute '%s' is not a string", where, key);
		s = json_string_value(v);
		if (json_string_length(v) > KB_INVENTORY_MAX_STRING || strlen(s) != json_string_length(v) ||
		    !kb_str_printable(s))
			return kb_err_set(KB_ERR_INVALID, "%s: attribute '%s' is too long or not printable", where, key);
	}
	*ret = kb_strdup(s);
	return *ret == NULL ? KB_ERR_NOMEM : KB_OK;
}

static int copy_tags(const json_t *attrs, const char *where, json_t **ret)
{
	/* tags_all includes the provider's default_tags: what the instance carries. */
	const json_t *t = json_object_get(attrs, "tags_all");
	const char *key;
	json_t *val;

	if (t == NULL || json_is_null(t) || (json_is_object(t) && json_object_size(t) == 0))
		t = json_object_get(attrs, "tags");
	*ret = json_object();
	if (*ret == NULL)
		return KB_ERR_NOMEM;
	if (t == NULL || json_is_null(t))
		return KB_OK;
	if (!json_is_object(t))
		return kb_err_set(KB_ERR_INVALID, "%s: tags are not an object", where);
	if (json_object_size(t) > KB_INVENTORY_MAX_TAGS)
		return kb_err_set(KB_ERR_TOO_LARGE, "%s: more than %u tags", where, KB_INVENTORY_MAX_TAGS);
	json_object_foreach((json_t *)t, key, val) {
		if (!json_is_string(val) || strlen(key) > KB_INVENTORY_MAX_STRING || !kb_str_printable(key) ||
		    json_string_length(val) > KB_INVENTORY_MAX_STRING ||
		    strlen(json_string_value(val)) != json_string_length(val) ||
		    !kb_str_printable(json_string_value(val)))
			return kb_err_set(KB_ERR_INVALID, "%s: tag '%.64s' is not a printable string", where, key);
		if (json_object_set(*ret, key, val) != 0)
			return KB_ERR_NOMEM;
	}
	return KB_OK;
}

static int add_host(struct kb_inventory *inv, const char *address, const json_t *attrs)
{
	struct kb_inv_host h = { 0 };
	char *state = NULL;
	int r;

	if (!json_is_object(attrs))
		return kb_err_set(KB_ERR_INVALID, "%s: no attributes object", address);
	if ((r = get_str(attrs, "instance_state", address, &state)) != 0)
		goto out;
	/* Instances on their way out are not deploy targets. */
	if (strcmp(state, "terminated") == 0 || strcmp(state, "shutting-down") == 0)
		goto out;
	if (inv->nhosts >= KB_INVENTORY_MAX_HOSTS) {
		r = kb_err_set(KB_ERR_TOO_LARGE, "more than %u instances", KB_INVENTORY_MAX_HOSTS);
		goto out;
	}
	if ((h.address = kb_strdup(address)) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	if ((r = get_str(attrs, "id", address, &h.instance_id)) != 0 ||
	    (r = get_str(attrs, "availability_zone", address, &h.az)) != 0 ||
	    (r = get_str(attrs, "public_ip", address, &h.public_ip)) != 0 ||
	    (r = get_str(attrs, "private_ip", address, &h.private_ip)) != 0 ||
	    (r = copy_tags(attrs, address, &h.tags)) != 0)
		goto out;
	if (h.instance_id[0] == '\0') {
		r = kb_err_set(KB_ERR_INVALID, "%s: no instance id", address);
		goto out;
	}
	const json_t *port = json_object_get(h.tags, "SSHPort");
	if (port != NULL) {
		uint64_t p;
		if (kb_parse_u64(json_string_value(port), 65535, &p) != 0 || p == 0) {
			r = kb_err_set(KB_ERR_INVALID, "%s: tag SSHPort is not a port number", address);
			goto out;
		}
		h.ssh_port = (long)p;
	}
	for (size_t i = 0; i < inv->nhosts; i++) {
		if (strcmp(inv->hosts[i].instance_id, h.instance_id) == 0) {
			r = kb_err_set(KB_ERR_INVALID, "instance %s appears twice (%s and %s)", h.instance_id,
				       inv->hosts[i].address, address);
			goto out;
		}
	}
	if (inv->nhosts == inv->cap) {
		size_t ncap = inv->cap ? inv->cap * 2 : 8;
		struct kb_inv_host *nh = realloc(inv->hosts, ncap * sizeof(*nh));
		if (nh == NULL) {
			r = KB_ERR_NOMEM;
			goto out;
		}
		inv->hosts = nh;
		inv->cap = ncap;
	}
	inv->hosts[inv->nhosts++] = h;
	memset(&h, 0, sizeof(h));
out:
	free(state);
	host_done(&h);
	return r;
}

static bool is_aws_instance(const json_t *res)
{
	const char *mode = json_string_value(json_object_get(res, "mode"));
	const char *type = json_string_value(json_object_get(res, "type"));

	/* Data sources (mode "data") describe instances owned elsewhere. */
	return type != NULL && strcmp(type, "aws_instance") == 0 && (mode == NULL || strcmp(mode, "managed") == 0);
}

/* Raw state, version 4. */
static int parse_v4(struct kb_inventory *inv, const json_t *root)
{
	const json_t *resources = json_object_get(root, "resources");
	const json_t *res;
	size_t i;

	if (resources == NULL || json_is_null(resources))
		return KB_OK;
	if (!json_is_array(resources))
		return kb_err_set(KB_ERR_INVALID, "'resources' is not an array");
	json_array_foreach(resources, i, res) {
		if (!json_is_object(res))
			return kb_err_set(KB_ERR_INVALID, "resource %zu is not an object", i);
		if (!is_aws_instance(res))
			continue;
		const char *name = json_string_value(json_object_get(res, "name"));
		const json_t *mod = json_object_get(res, "module");
		const json_t *instances = json_object_get(res, "instances");
		if (name == NULL || !kb_str_printable(name) || strlen(name) > KB_INVENTORY_MAX_STRING)
			return kb_err_set(KB_ERR_INVALID, "resource %zu: no valid 'name'", i);
		if (mod != NULL && (!json_is_string(mod) || !kb_str_printable(json_string_value(mod)) ||
				    json_string_length(mod) > KB_INVENTORY_MAX_STRING))
			return kb_err_set(KB_ERR_INVALID, "resource %zu: 'module' is not a string", i);
		if (instances == NULL || json_is_null(instances))
			continue;
		if (!json_is_array(instances))
			return kb_err_set(KB_ERR_INVALID, "aws_instance.%s: 'instances' is not an array", name);
		size_t j;
		const json_t *inst;
		json_array_foreach(instances, j, inst) {
			if (!json_is_object(inst))
				return kb_err_set(KB_ERR_INVALID, "aws_instance.%s: instance %zu is not an object", name, j);
			/* A deposed object is the old half of create_before_destroy. */
			if (json_object_get(inst, "deposed") != NULL)
				continue;
			const json_t *key = json_object_get(inst, "index_key");
			char idx[KB_INVENTORY_MAX_STRING + 8] = "";
			if (json_is_integer(key))
				snprintf(idx, sizeof(idx), "[%lld]", (long long)json_integer_value(key));
			else if (json_is_string(key) && json_string_length(key) <= KB_INVENTORY_MAX_STRING &&
				 kb_str_printable(json_string_value(key)))
				snprintf(idx, sizeof(idx), "[\"%s\"]", json_string_value(key));
			else if (key != NULL && !json_is_null(key))
				return kb_err_set(KB_ERR_INVALID, "aws_instance.%s: bad index_key", name);
			char *addr = kb_asprintf("%s%saws_instance.%s%s", mod ? json_string_value(mod) : "",
						 mod ? "." : "", name, idx);
			if (addr == NULL)
				return KB_ERR_NOMEM;
			int r = add_host(inv, addr, json_object_get(inst, "attributes"));
			free(addr);
			if (r != 0)
				return r;
		}
	}
	return KB_OK;
}

/* `terraform show -json`: values.root_module and nested child_modules. */
static int parse_show_module(struct kb_inventory *inv, const json_t *mod, unsigned depth)
{
	const json_t *resources, *children, *v;
	size_t i;

	if (depth > KB_INVENTORY_MAX_MODULE_DEPTH)
		return kb_err_set(KB_ERR_TOO_LARGE, "modules nested deeper than %u", KB_INVENTORY_MAX_MODULE_DEPTH);
	if (!json_is_object(mod))
		return kb_err_set(KB_ERR_INVALID, "a module is not an object");
	resources = json_object_get(mod, "resources");
	if (resources != NULL && !json_is_array(resources))
		return kb_err_set(KB_ERR_INVALID, "'resources' is not an array");
	json_array_foreach(resources, i, v) {
		if (!json_is_object(v))
			return kb_err_set(KB_ERR_INVALID, "resource %zu is not an object", i);
		if (!is_aws_instance(v))
			continue;
		const char *addr = json_string_value(json_object_get(v, "address"));
		if (addr == NULL || !kb_str_printable(addr) || strlen(addr) > KB_INVENTORY_MAX_STRING)
			return kb_err_set(KB_ERR_INVALID, "resource %zu: no valid 'address'", i);
		int r = add_host(inv, addr, json_object_get(v, "values"));
		if (r != 0)
			return r;
	}
	children = json_object_get(mod, "child_modules");
	if (children != NULL && !json_is_array(children))
		return kb_err_set(KB_ERR_INVALID, "'child_modules' is not an array");
	json_array_foreach(children, i, v) {
		int r = parse_show_module(inv, v, depth + 1);
		if (r != 0)
			return r;
	}
	return KB_OK;
}

static int parse_show(struct kb_inventory *inv, const json_t *root)
{
	const char *fv = json_string_value(json_object_get(root, "format_version"));
	const json_t *values = json_object_get(root, "values");

	if (fv == NULL || (strncmp(fv, "0.", 2) != 0 && strncmp(fv, "1.", 2) != 0))
		return kb_err_set(KB_ERR_UNSUPPORTED, "terraform show -json format_version %.16s is not supported (1.x is)",
				  fv ? fv : "(not a string)");
	/* An empty state has no "values" at all. */
	if (values == NULL || json_is_null(values))
		return KB_OK;
	if (!json_is_object(values))
		return kb_err_set(KB_ERR_INVALID, "'values' is not an object");
	const json_t *root_module = json_object_get(values, "root_module");
	if (root_module == NULL || json_is_null(root_module))
		return KB_OK;
	return parse_show_module(inv, root_module, 0);
}

/* Name tag when it is a clean and unique hostname, else the instance id. */
static int name_hosts(struct kb_inventory *inv)
{
	for (size_t i = 0; i < inv->nhosts; i++) {
		struct kb_inv_host *h = &inv->hosts[i];
		const char *name = json_string_value(json_object_get(h->tags, "Name"));
		bool ok = name != NULL && name[0] != '\0' && strcspn(name, " \t[]:,#=") == strlen(name);
		for (size_t j = 0; ok && j < inv->nhosts; j++) {
			const char *other = json_string_value(json_object_get(inv->hosts[j].tags, "Name"));
			if (j != i && other != NULL && strcmp(other, name) == 0)
				ok = false;
			/* Nor may it collide with another host's instance id. */
			if (j != i && strcmp(inv->hosts[j].instance_id, name) == 0)
				ok = false;
		}
		h->name = kb_strdup(ok ? name : h->instance_id);
		if (h->name == NULL)
			return KB_ERR_NOMEM;
	}
	return KB_OK;
}

int kb_inventory_parse(const char *text, size_t len, struct kb_inventory **ret)
{
	struct kb_inventory *inv = NULL;
	json_error_t jerr;
	json_t *root = NULL;
	int r;

	*ret = NULL;
	if (len > KB_INVENTORY_STATE_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "state larger than %u bytes", KB_INVENTORY_STATE_MAX);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return kb_err_set(KB_ERR_INVALID, "not JSON: line %d: %s", jerr.line, jerr.text);
	if (!json_is_object(root)) {
		r = kb_err_set(KB_ERR_INVALID, "not a Terraform state (not a JSON object)");
		goto out;
	}
	if ((inv = calloc(1, sizeof(*inv))) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	const json_t *version = json_object_get(root, "version");
	if (json_object_get(root, "format_version") != NULL) {
		inv->format = "show-json";
		r = parse_show(inv, root);
	} else if (json_is_integer(version) && json_integer_value(version) == 4) {
		inv->format = "tfstate-v4";
		r = parse_v4(inv, root);
	} else if (json_is_integer(version) && json_integer_value(version) >= 1 && json_integer_value(version) <= 3) {
		r = kb_err_set(KB_ERR_UNSUPPORTED,
			       "state format version %lld (Terraform before 0.12) is not supported; "
			       "upgrade the state with Terraform >= 0.12 or pass `terraform show -json` output",
			       (long long)json_integer_value(version));
	} else if (version != NULL) {
		r = kb_err_set(KB_ERR_UNSUPPORTED, "state format version is not 4 (only version 4 is supported)");
	} else {
		r = kb_err_set(KB_ERR_INVALID, "not a Terraform state: neither 'version' nor 'format_version'");
	}
	if (r == 0)
		r = name_hosts(inv);
	if (r == 0) {
		*ret = inv;
		inv = NULL;
	}
out:
	kb_inventory_free(inv);
	json_decref(root);
	return r;
}

static json_t *hostvars(const struct kb_inv_host *h, const char *user)
{
	json_t *v = json_object();
	const char *addr = h->public_ip[0] != '\0' ? h->public_ip : h->private_ip;

	if (v == NULL)
		return NULL;
	if ((addr[0] != '\0' && json_object_set_new(v, "ansible_host", json_string(addr)) != 0) ||
	    (h->ssh_port != 0 && json_object_set_new(v, "ansible_port", json_integer(h->ssh_port)) != 0) ||
	    (user != NULL && json_object_set_new(v, "ansible_user", json_string(user)) != 0) ||
	    json_object_set_new(v, "ec2_instance_id", json_string(h->instance_id)) != 0 ||
	    json_object_set_new(v, "ec2_availability_zone", json_string(h->az)) != 0 ||
	    json_object_set_new(v, "ec2_public_ip", json_string(h->public_ip)) != 0 ||
	    json_object_set_new(v, "ec2_private_ip", json_string(h->private_ip)) != 0 ||
	    json_object_set_new(v, "ec2_resource_address", json_string(h->address)) != 0 ||
	    json_object_set(v, "ec2_tags", h->tags) != 0) {
		json_decref(v);
		return NULL;
	}
	return v;
}

static int group_add(json_t *root, char *group, const char *host)
{
	json_t *g, *hosts;

	kb_inventory_sanitize_group(group);
	g = json_object_get(root, group);
	if (g == NULL) {
		g = json_pack("{s:[]}", "hosts");
		if (g == NULL || json_object_set_new(root, group, g) != 0)
			return KB_ERR_NOMEM;
	}
	hosts = json_object_get(g, "hosts");
	return json_array_append_new(hosts, json_string(host)) == 0 ? KB_OK : KB_ERR_NOMEM;
}

int kb_inventory_list_json(const struct kb_inventory *inv, const char *user, json_t **ret)
{
	json_t *root = json_object(), *hv = json_object();
	int r = KB_ERR_NOMEM;

	*ret = NULL;
	if (root == NULL || hv == NULL || json_object_set_new(root, "_meta", json_pack("{s:O}", "hostvars", hv)) != 0)
		goto out;
	/* "ec2" holds every host, so an empty state still lists a group. */
	if (json_object_set_new(root, "ec2", json_pack("{s:[]}", "hosts")) != 0)
		goto out;
	for (size_t i = 0; i < inv->nhosts; i++) {
		const struct kb_inv_host *h = &inv->hosts[i];
		json_t *vars = hostvars(h, user);
		char *g;
		const char *key;
		json_t *val;

		if (vars == NULL || json_object_set_new(hv, h->name, vars) != 0)
			goto out;
		if ((g = kb_strdup("ec2")) == NULL || (r = group_add(root, g, h->name)) != 0) {
			free(g);
			r = r ? r : KB_ERR_NOMEM;
			goto out;
		}
		free(g);
		r = KB_ERR_NOMEM;
		if (h->az[0] != '\0') {
			if ((g = kb_asprintf("az_%s", h->az)) == NULL || (r = group_add(root, g, h->name)) != 0) {
				free(g);
				r = r ? r : KB_ERR_NOMEM;
				goto out;
			}
			free(g);
		}
		json_object_foreach(h->tags, key, val) {
			const char *s = json_string_value(val);
			/* Every Name differs: a group per host helps nobody. */
			if (strcmp(key, "Name") == 0)
				continue;
			g = s[0] != '\0' ? kb_asprintf("tag_%s_%s", key, s) : kb_asprintf("tag_%s", key);
			if (g == NULL || (r = group_add(root, g, h->name)) != 0) {
				free(g);
				r = r ? r : KB_ERR_NOMEM;
				goto out;
			}
			free(g);
		}
		r = KB_ERR_NOMEM;
	}
	*ret = root;
	root = NULL;
	r = KB_OK;
out:
	json_decref(hv);
	json_decref(root);
	return r;
}

int kb_inventory_host_json(const struct kb_inventory *inv, const char *host, const char *user, json_t **ret)
{
	*ret = NULL;
	for (size_t i = 0; i < inv->nhosts; i++) {
		if (strcmp(inv->hosts[i].name, host) == 0) {
			*ret = hostvars(&inv->hosts[i], user);
			return *ret ? KB_OK : KB_ERR_NOMEM;
		}
	}
	return kb_err_set(KB_ERR_NOT_FOUND, "no host '%.128s' in the state", host);
}
