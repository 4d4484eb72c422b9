/* CA key storage in the secret backend. */
#include "ca.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/store.h"

const char *kb_ca_secret_name(bool host)
{
	return host ? KB_CA_HOST_SECRET : KB_CA_USER_SECRET;
}

uint64_t kb_ca_random_serial(void)
{
	uint64_t s = 0;
	/* 63 bits: the credential JSON carries the serial as a number, and
	 * JSON readers (jansson, Python, jq) hold integers as signed 64-bit. */
	while (s == 0) {
		randombytes_buf(&s, sizeof(s));
		s &= INT64_MAX;
	}
	return s;
}

/* Parses the stored CA JSON into a private key. */
static int parse_ca(const struct kb_buf *val, const char *name, struct kb_key **ret)
{
	json_error_t jerr;
	json_t *j = json_loadb((const char *)kb_buf_ptr(val), kb_buf_remaining(val), 0, &jerr);
	int r;

	if (j == NULL)
		return kb_err_set(KB_ERR_INVALID, "%s is not JSON (line %d: %s)", name, jerr.line, jerr.text);
	json_t *kind = json_object_get(j, "kind"), *pk = json_object_get(j, "private_key");
	if (!json_is_string(kind) || strcmp(json_string_value(kind), "keybroker/ssh-ca/v1") != 0 ||
	    !json_is_string(pk)) {
		json_decref(j);
		return kb_err_set(KB_ERR_INVALID, "%s is not a keybroker CA secret (kind keybroker/ssh-ca/v1)", name);
	}
	r = kb_key_parse_private_file(json_string_value(pk), json_string_length(pk), NULL, ret, NULL);
	json_decref(j);
	if (r != KB_OK)
		return kb_err_set(r, "%s: cannot read its private key", name);
	return KB_OK;
}

int kb_ca_load(struct kb_store *s, bool host, struct kb_key **ret)
{
	struct kb_buf val;
	const char *name = kb_ca_secret_name(host);
	int r;

	*ret = NULL;
	kb_buf_init_secure(&val, KB_STORE_VALUE_MAX);
	char *ver = NULL; /* always asked for: not every backend accepts NULL */
	r = kb_store_get(s, name, NULL, &val, &ver);
	free(ver);
	if (r == KB_ERR_NOT_FOUND)
		r = kb_err_set(KB_ERR_NOT_FOUND, "no %s CA in the backend (%s): create it with 'broker ca init%s'",
			       host ? "host" : "user", name, host ? " --host" : "");
	else if (r == KB_OK)
		r = parse_ca(&val, name, ret);
	kb_buf_done(&val);
	return r;
}

int kb_ca_init(struct kb_store *s, enum kb_key_type type, unsigned bits, bool host, struct kb_key **ret_pub)
{
	const char *name = kb_ca_secret_name(host);
	struct kb_key *key = NULL;
	struct kb_buf priv, val;
	char *pub = NULL, *json = NULL;
	json_t *j = NULL;
	int r;

	if (ret_pub)
		*ret_pub = NULL;
	kb_buf_init_secure(&priv, KB_KEY_PRIVATE_FILE_MAX);
	kb_buf_init_secure(&val, KB_STORE_VALUE_MAX);
	char *ver = NULL;
	r = kb_store_get(s, name, NULL, &val, &ver);
	free(ver);
	ver = NULL;
	if (r == KB_OK) {
		if ((r = parse_ca(&val, name, &key)) == KB_OK && ret_pub)
			r = kb_key_dup_public(key, ret_pub);
		if (r == KB_OK)
			r = kb_err_set(KB_ERR_EXISTS, "%s already exists; it is never overwritten", name);
		goto out;
	}
	if (r != KB_ERR_NOT_FOUND)
		goto out;
	if ((r = kb_key_generate(type, bits, &key)) != KB_OK)
		goto out;
	const char *comment = host ? "keybroker-host-ca" : "keybroker-user-ca";
	if ((r = kb_key_write_private_file(key, comment, &priv)) != KB_OK ||
	    (r = kb_buf_put_u8(&priv, 0)) != KB_OK ||
	    (r = kb_key_format_public_line(key, comment, &pub)) != KB_OK)
		goto out;
	char created[32];
	kb_format_time_utc((int64_t)time(NULL), created, sizeof(created));
	j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "kind", "keybroker/ssh-ca/v1", "key_type", kb_key_type_ssh_name(type),
		      "private_key", (const char *)kb_buf_ptr(&priv), "public_key", pub, "created", created);
	if (j == NULL || (json = json_dumps(j, JSON_COMPACT)) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	struct kb_store_put_opts opts = { .stage = KB_STAGE_CURRENT,
					  .description = host ? "keybroker SSH host CA" : "keybroker SSH user CA" };
	r = kb_store_put(s, name, (const uint8_t *)json, strlen(json), &opts, &ver);
	free(ver);
	if (r != KB_OK)
		goto out;
	if (ret_pub)
		r = kb_key_dup_public(key, ret_pub);
out:
	kb_json_free_string(json);
	json_decref(j);
	free(pub);
	kb_key_free(key);
	kb_buf_done(&priv);
	kb_buf_done(&val);
	return r;
}
