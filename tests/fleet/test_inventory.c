/* Unit tests of the Terraform-state inventory: shapes, groups, host vars,
 * errors, and truncation / bit-flip loops (nothing may crash or leak). */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/util.h"
#include "fleet/fleet.h"
#include "fleet/inventory.h"
#include "kbtest.h"

static const char *dir;

static char *load(const char *name, size_t *len)
{
	struct kb_buf b;
	char *path = kb_asprintf("%s/%s", dir, name), *out = NULL;

	kb_buf_init(&b, KB_INVENTORY_STATE_MAX);
	if (kb_read_file(path, KB_INVENTORY_STATE_MAX, &b) == 0 && (out = malloc(kb_buf_remaining(&b) + 1)) != NULL) {
		*len = kb_buf_remaining(&b);
		memcpy(out, kb_buf_ptr(&b), *len);
		out[*len] = '\0';
	}
	kb_buf_done(&b);
	free(path);
	return out;
}

static struct kb_inventory *parse_file(const char *name, int *r)
{
	size_t len = 0;
	char *text = load(name, &len);
	struct kb_inventory *inv = NULL;

	*r = text ? kb_inventory_parse(text, len, &inv) : KB_ERR_IO;
	free(text);
	return inv;
}

static const struct kb_inv_host *find(const struct kb_inventory *inv, const char *name)
{
	for (size_t i = 0; i < inv->nhosts; i++)
		if (strcmp(inv->hosts[i].name, name) == 0)
			return &inv->hosts[i];
	return NULL;
}

static void test_v4_modules(void)
{
	int r;
	struct kb_inventory *inv = parse_file("v4-modules.tfstate", &r);
	const struct kb_inv_host *h;

	KBT_CHECK_INT(r, 0);
	if (inv == NULL)
		return;
	KBT_CHECK_STR(inv->format, "tfstate-v4");
	/* 3 count + 2 for_each + 1 nested; data source, deposed, terminated and aws_lb left out. */
	KBT_CHECK_INT(inv->nhosts, 6);
	KBT_CHECK((h = find(inv, "web-1")) != NULL);
	if (h) {
		KBT_CHECK_STR(h->address, "aws_instance.web[1]");
		KBT_CHECK_STR(h->public_ip, "");
		KBT_CHECK_STR(h->private_ip, "10.0.2.10");
		KBT_CHECK_STR(h->az, "eu-west-1b");
		/* tags_all wins: the provider's default tags are on the instance. */
		KBT_CHECK_STR(json_string_value(json_object_get(h->tags, "Environment")), "prod");
	}
	/* A Name with a space is no hostname: the instance id stands in. */
	KBT_CHECK((h = find(inv, "i-0fedcba9876543210")) != NULL);
	if (h)
		KBT_CHECK_STR(h->address, "module.db.aws_instance.node[\"primary\"]");
	KBT_CHECK((h = find(inv, "i-1234abcd")) != NULL);
	if (h)
		KBT_CHECK_STR(h->address, "module.ops.module.monitor.aws_instance.this");
	KBT_CHECK(find(inv, "bastion") == NULL);
	KBT_CHECK(find(inv, "web-old") == NULL);
	kb_inventory_free(inv);
}

static void test_list_json(void)
{
	int r;
	struct kb_inventory *inv = parse_file("v4-modules.tfstate", &r);
	json_t *doc = NULL, *hv;

	KBT_CHECK_INT(r, 0);
	if (inv == NULL)
		return;
	KBT_CHECK_INT(kb_inventory_list_json(inv, "deploy", &doc), 0);
	KBT_CHECK(doc != NULL);
	if (doc != NULL) {
		KBT_CHECK_INT(json_array_size(json_object_get(json_object_get(doc, "az_eu_west_1a"), "hosts")), 2);
		KBT_CHECK_INT(json_array_size(json_object_get(json_object_get(doc, "tag_Role_web"), "hosts")), 3);
		KBT_CHECK_INT(json_array_size(json_object_get(json_object_get(doc, "tag_Tier_data_store"), "hosts")), 1);
		KBT_CHECK_INT(json_array_size(json_object_get(json_object_get(doc, "ec2"), "hosts")), 6);
		KBT_CHECK(json_object_get(doc, "tag_Name_web_0") == NULL);
		hv = json_object_get(json_object_get(json_object_get(doc, "_meta"), "hostvars"), "web-0");
		KBT_CHECK_STR(json_string_value(json_object_get(hv, "ansible_host")), "54.10.0.1");
		KBT_CHECK_STR(json_string_value(json_object_get(hv, "ansible_user")), "deploy");
		KBT_CHECK_STR(json_string_value(json_object_get(hv, "ec2_instance_id")), "i-0123456789abcdef0");
		hv = json_object_get(json_object_get(json_object_get(doc, "_meta"), "hostvars"), "web-2");
		KBT_CHECK_STR(json_string_value(json_object_get(hv, "ansible_host")), "10.0.3.10");
	}
	json_decref(doc);
	doc = NULL;
	KBT_CHECK_INT(kb_inventory_host_json(inv, "web-1", NULL, &doc), 0);
	KBT_CHECK(doc != NULL && json_object_get(doc, "ansible_user") == NULL);
	json_decref(doc);
	KBT_CHECK_INT(kb_inventory_host_json(inv, "nope", NULL, &doc), KB_ERR_NOT_FOUND);
	KBT_CHECK(doc == NULL);
	kb_inventory_free(inv);
}

static void test_show_json(void)
{
	int r;
	struct kb_inventory *inv = parse_file("show.json", &r);
	const struct kb_inv_host *h;

	KBT_CHECK_INT(r, 0);
	if (inv == NULL)
		return;
	KBT_CHECK_STR(inv->format, "show-json");
	KBT_CHECK_INT(inv->nhosts, 4);
	KBT_CHECK((h = find(inv, "backup")) != NULL);
	if (h)
		KBT_CHECK_STR(h->address, "module.db.module.backup.aws_instance.this");
	/* Empty tags_all falls back to tags. */
	KBT_CHECK((h = find(inv, "i-0fedcba9876543210")) != NULL);
	if (h)
		KBT_CHECK_STR(json_string_value(json_object_get(h->tags, "Role")), "db");
	kb_inventory_free(inv);
}

static void test_empty_shapes(void)
{
	const char *names[] = { "v4-empty.tfstate", "v4-no-instances.tfstate", "show-empty.json" };
	for (size_t i = 0; i < KB_ARRAY_SIZE(names); i++) {
		int r;
		struct kb_inventory *inv = parse_file(names[i], &r);
		KBT_CHECK_INT(r, 0);
		KBT_CHECK(inv != NULL && inv->nhosts == 0);
		kb_inventory_free(inv);
	}
}

static void test_errors(void)
{
	struct { const char *name; int err; } cases[] = {
		{ "v3.tfstate", KB_ERR_UNSUPPORTED },
		{ "v5.tfstate", KB_ERR_UNSUPPORTED },
		{ "malformed-truncated.tfstate", KB_ERR_INVALID },
		{ "malformed-types.tfstate", KB_ERR_INVALID },
		{ "malformed-duplicate.tfstate", KB_ERR_INVALID },
		{ "malformed-array.tfstate", KB_ERR_INVALID },
	};
	for (size_t i = 0; i < KB_ARRAY_SIZE(cases); i++) {
		int r;
		struct kb_inventory *inv = parse_file(cases[i].name, &r);
		KBT_CHECK_INT(r, cases[i].err);
		KBT_CHECK(inv == NULL);
		KBT_CHECK(kb_err_detail()[0] != '\0');
	}
}

static void test_limits(void)
{
	struct kb_inventory *inv = NULL;
	/* Over the cap: refused before parsing (the text is never read). */
	KBT_CHECK_INT(kb_inventory_parse("{}", (size_t)KB_INVENTORY_STATE_MAX + 1, &inv), KB_ERR_TOO_LARGE);
	/* Modules nested past the limit. */
	size_t depth = KB_INVENTORY_MAX_MODULE_DEPTH + 2;
	struct kb_buf b;
	kb_buf_init(&b, 1 << 20);
	kb_buf_put(&b, "{\"format_version\":\"1.0\",\"values\":{\"root_module\":", 48);
	for (size_t i = 0; i < depth; i++)
		kb_buf_put(&b, "{\"child_modules\":[", 18);
	kb_buf_put(&b, "{}", 2);
	for (size_t i = 0; i < depth; i++)
		kb_buf_put(&b, "]}", 2);
	kb_buf_put(&b, "}}", 2);
	KBT_CHECK_INT(kb_inventory_parse((const char *)kb_buf_ptr(&b), kb_buf_remaining(&b), &inv), KB_ERR_TOO_LARGE);
	KBT_CHECK(inv == NULL);
	kb_buf_done(&b);
	/* A bad SSHPort tag. */
	const char *bad = "{\"version\":4,\"resources\":[{\"mode\":\"managed\",\"type\":\"aws_instance\",\"name\":\"w\","
			  "\"instances\":[{\"attributes\":{\"id\":\"i-12345678\",\"tags\":{\"SSHPort\":\"99999\"}}}]}]}";
	KBT_CHECK_INT(kb_inventory_parse(bad, strlen(bad), &inv), KB_ERR_INVALID);
	const char *nul = "{\"version\":4,\"resources\":[{\"mode\":\"managed\",\"type\":\"aws_instance\",\"name\":\"w\","
			  "\"instances\":[{\"attributes\":{\"id\":\"i-1234\\u00005678\"}}]}]}";
	KBT_CHECK_INT(kb_inventory_parse(nul, strlen(nul), &inv), KB_ERR_INVALID);
}

/* Every prefix and every single-bit flip: a clean result or a clean error. */
static void test_truncate_and_flip(void)
{
	size_t len = 0;
	char *text = load("v4-modules.tfstate", &len);
	unsigned ok = 0, failed = 0;

	KBT_CHECK(text != NULL);
	if (text == NULL)
		return;
	for (size_t n = 0; n < len; n += 7) {
		struct kb_inventory *inv = NULL;
		char *copy = malloc(n ? n : 1);
		memcpy(copy, text, n);
		int r = kb_inventory_parse(copy, n, &inv);
		if (r == 0)
			ok++;
		else
			failed++;
		KBT_CHECK((r == 0) == (inv != NULL));
		kb_inventory_free(inv);
		free(copy);
	}
	for (size_t i = 0; i < len; i += 3) {
		for (int bit = 0; bit < 8; bit += 3) {
			struct kb_inventory *inv = NULL;
			json_t *doc = NULL;
			text[i] ^= (char)(1 << bit);
			int r = kb_inventory_parse(text, len, &inv);
			if (r == 0) {
				KBT_CHECK_INT(kb_inventory_list_json(inv, NULL, &doc), 0);
				json_decref(doc);
			}
			kb_inventory_free(inv);
			text[i] ^= (char)(1 << bit);
		}
	}
	KBT_CHECK(failed > 0);
	free(text);
}

static void test_validators(void)
{
	KBT_CHECK(kb_fleet_valid_instance_id("i-1234abcd"));
	KBT_CHECK(kb_fleet_valid_instance_id("i-0123456789abcdef0"));
	KBT_CHECK(!kb_fleet_valid_instance_id("i-1234ABCD"));
	KBT_CHECK(!kb_fleet_valid_instance_id("i-1234abc"));
	KBT_CHECK(!kb_fleet_valid_instance_id("i-0123456789abcdef01"));
	KBT_CHECK(!kb_fleet_valid_instance_id("x-1234abcd"));
	KBT_CHECK(!kb_fleet_valid_instance_id(""));
	KBT_CHECK(kb_fleet_valid_os_user("ec2-user"));
	KBT_CHECK(kb_fleet_valid_os_user("_svc"));
	KBT_CHECK(kb_fleet_valid_os_user("machine$"));
	KBT_CHECK(!kb_fleet_valid_os_user("9lives"));
	KBT_CHECK(!kb_fleet_valid_os_user("a/b"));
	KBT_CHECK(!kb_fleet_valid_os_user("a$b"));
	KBT_CHECK(!kb_fleet_valid_os_user(""));
	KBT_CHECK(!kb_fleet_valid_os_user("abcdefghijklmnopqrstuvwxyz0123456"));
	KBT_CHECK(kb_fleet_valid_az("eu-west-1a"));
	KBT_CHECK(kb_fleet_valid_az("us-gov-west-1b"));
	KBT_CHECK(!kb_fleet_valid_az("eu-west-1"));
	KBT_CHECK(!kb_fleet_valid_az("eu-1a"));
	KBT_CHECK(!kb_fleet_valid_az("eu-west-1aa"));
	KBT_CHECK(!kb_fleet_valid_az("EU-west-1a"));
}

int main(int argc, char **argv)
{
	dir = argc > 1 ? argv[1] : "tfstate";
	KBT_RUN(test_v4_modules);
	KBT_RUN(test_list_json);
	KBT_RUN(test_show_json);
	KBT_RUN(test_empty_shapes);
	KBT_RUN(test_errors);
	KBT_RUN(test_limits);
	KBT_RUN(test_truncate_and_flip);
	KBT_RUN(test_validators);
	return kbt_done();
}
