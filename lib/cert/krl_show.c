/* KRL listings: text (in the spirit of ssh-keygen -Q -l) and JSON. */
#include "cert/krl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "core/mem.h"
#include "core/err.h"
#include "core/text.h"
#include "core/util.h"
#include "krl_internal.h"

/* "<type> SHA256:..." of a key blob, or a placeholder if it does not parse. */
static void describe_key(const uint8_t *p, size_t n, char *type, size_t tn, char *fp, size_t fn)
{
	struct kb_key *k = NULL;

	snprintf(type, tn, "unknown");
	snprintf(fp, fn, "(unparseable key)");
	if (kb_key_from_blob(p, n, &k) != 0)
		return;
	snprintf(type, tn, "%s", kb_key_type_ssh_name(kb_key_type(k)));
	kb_key_fingerprint(k, fp, fn);
	kb_key_free(k);
}

static void sha256_text(const uint8_t *h, char *out, size_t n)
{
	char b64[64];
	sodium_bin2base64(b64, sizeof(b64), h, 32, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	snprintf(out, n, "SHA256:%s", b64);
}

static void hex_text(const uint8_t *h, size_t hn, char *out, size_t n)
{
	sodium_bin2hex(out, n, h, hn);
}

static void serial_text(const struct krl_range *r, char *out, size_t n)
{
	if (r->lo == r->hi)
		snprintf(out, n, "%llu", (unsigned long long)r->lo);
	else
		snprintf(out, n, "%llu-%llu", (unsigned long long)r->lo, (unsigned long long)r->hi);
}


int kb_krl_format_text(const struct kb_krl *krl, char **ret_text)
{
	struct kb_text t = { 0 };
	char when[40], type[48], fp[KB_KEY_FP_MAX], h[96];

	*ret_text = NULL;
	kb_format_time_utc(krl->generated > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)krl->generated, when,
			   sizeof(when));
	kb_text_add(&t, "# KRL version %llu\n", (unsigned long long)krl->version);
	kb_text_add(&t, "# Generated at %s\n", when);
	if (krl->comment && *krl->comment)
		kb_text_add(&t, "# Comment: %s\n", krl->comment);
	for (size_t i = 0; i < krl->keys.n; i++) {
		describe_key(krl->keys.v[i].p, krl->keys.v[i].n, type, sizeof(type), fp, sizeof(fp));
		kb_text_add(&t, "key: %s %s\n", type, fp);
	}
	for (size_t i = 0; i < krl->sha256.n; i++) {
		sha256_text(krl->sha256.v[i].p, h, sizeof(h));
		kb_text_add(&t, "hash: %s\n", h);
	}
	for (size_t i = 0; i < krl->sha1.n; i++) {
		hex_text(krl->sha1.v[i].p, krl->sha1.v[i].n, h, sizeof(h));
		kb_text_add(&t, "sha1: %s\n", h);
	}
	for (size_t i = 0; i < krl->ncas; i++) {
		const struct krl_ca *ca = &krl->cas[i];
		if (ca->nranges == 0 && ca->ids.n == 0)
			continue;
		if (ca->ca.n == 0) {
			kb_text_add(&t, "# CA key: any CA\n");
		} else {
			describe_key(ca->ca.p, ca->ca.n, type, sizeof(type), fp, sizeof(fp));
			kb_text_add(&t, "# CA key: %s %s\n", type, fp);
		}
		for (size_t j = 0; j < ca->nranges; j++) {
			serial_text(&ca->ranges[j], h, sizeof(h));
			kb_text_add(&t, "serial: %s\n", h);
		}
		for (size_t j = 0; j < ca->ids.n; j++) {
			bool printable = true;
			for (size_t k = 0; k < ca->ids.v[j].n; k++)
				if (ca->ids.v[j].p[k] < 0x20 || ca->ids.v[j].p[k] == 0x7f)
					printable = false;
			if (printable)
				kb_text_add(&t, "id: %.*s\n", (int)ca->ids.v[j].n, (const char *)ca->ids.v[j].p);
			else
				kb_text_add(&t, "id: (%zu bytes with control characters)\n", ca->ids.v[j].n);
		}
	}
	if (t.err) {
		free(t.s);
		return t.err;
	}
	if (t.s == NULL && (t.s = kb_strdup("")) == NULL)
		return KB_ERR_NOMEM;
	*ret_text = t.s;
	return KB_OK;
}

static json_t *key_json(const uint8_t *p, size_t n)
{
	char type[48], fp[KB_KEY_FP_MAX];
	describe_key(p, n, type, sizeof(type), fp, sizeof(fp));
	return json_pack("{s:s, s:s}", "type", type, "fingerprint", fp);
}

/* Key ids need not be UTF-8; JSON strings must be. */
static json_t *safe_stringn(const uint8_t *p, size_t n)
{
	json_t *s = json_stringn((const char *)p, n);
	if (s != NULL)
		return s;
	char *hex = malloc(n * 2 + 1);
	if (hex == NULL)
		return NULL;
	sodium_bin2hex(hex, n * 2 + 1, p, n);
	s = json_pack("{s:s}", "hex", hex);
	free(hex);
	return s;
}

static int append(json_t *arr, json_t *v)
{
	return v == NULL || json_array_append_new(arr, v) != 0 ? KB_ERR_NOMEM : KB_OK;
}

int kb_krl_format_json(const struct kb_krl *krl, char **ret_json)
{
	json_t *o = NULL, *keys, *sha256, *sha1, *certs;
	char when[40], h[96];
	int r = KB_ERR_NOMEM;

	*ret_json = NULL;
	kb_format_time_utc(krl->generated > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)krl->generated, when,
			   sizeof(when));
	o = json_pack("{s:I, s:I, s:s, s:s, s:[], s:[], s:[], s:[]}", "krl_version",
		      (json_int_t)(krl->version > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)krl->version),
		      "generated_date",
		      (json_int_t)(krl->generated > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)krl->generated),
		      "generated_date_utc", when, "comment", kb_krl_comment(krl), "keys", "sha256", "sha1",
		      "certificates");
	if (o == NULL)
		return KB_ERR_NOMEM;
	keys = json_object_get(o, "keys");
	sha256 = json_object_get(o, "sha256");
	sha1 = json_object_get(o, "sha1");
	certs = json_object_get(o, "certificates");
	for (size_t i = 0; i < krl->keys.n; i++)
		if (append(keys, key_json(krl->keys.v[i].p, krl->keys.v[i].n)) != 0)
			goto out;
	for (size_t i = 0; i < krl->sha256.n; i++) {
		sha256_text(krl->sha256.v[i].p, h, sizeof(h));
		if (append(sha256, json_string(h)) != 0)
			goto out;
	}
	for (size_t i = 0; i < krl->sha1.n; i++) {
		hex_text(krl->sha1.v[i].p, krl->sha1.v[i].n, h, sizeof(h));
		if (append(sha1, json_string(h)) != 0)
			goto out;
	}
	for (size_t i = 0; i < krl->ncas; i++) {
		const struct krl_ca *ca = &krl->cas[i];
		if (ca->nranges == 0 && ca->ids.n == 0)
			continue;
		json_t *c = json_pack("{s:o, s:[], s:[]}", "ca",
				      ca->ca.n ? key_json(ca->ca.p, ca->ca.n) : json_null(), "serials", "key_ids");
		if (append(certs, c) != 0)
			goto out;
		for (size_t j = 0; j < ca->nranges; j++) {
			serial_text(&ca->ranges[j], h, sizeof(h));
			if (append(json_object_get(c, "serials"), json_string(h)) != 0)
				goto out;
		}
		for (size_t j = 0; j < ca->ids.n; j++)
			if (append(json_object_get(c, "key_ids"),
				   safe_stringn(ca->ids.v[j].p, ca->ids.v[j].n)) != 0)
				goto out;
	}
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (s == NULL)
		goto out;
	*ret_json = kb_asprintf("%s\n", s);
	kb_json_free_string(s);
	r = *ret_json ? KB_OK : KB_ERR_NOMEM;
out:
	json_decref(o);
	return r;
}
