/* Certificate display (ssh-keygen -L layout, JSON) and ssh-keygen's -V
 * validity syntax. */
#include "cert/cert.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/mem.h"
#include "core/err.h"
#include "core/text.h"
#include "core/util.h"

/* ---- -V parsing (ssh-keygen.c parse_cert_times) ---- */

static int relative_time(const char *s, int64_t now, uint64_t *ret)
{
	int64_t secs;

	if (kb_parse_duration(s + 1, &secs) != 0)
		return kb_err_set(KB_ERR_INVALID, "invalid relative time \"%s\"", s);
	if (*s == '-') {
		if (secs > now)
			return kb_err_set(KB_ERR_INVALID, "time \"%s\" is before 1970", s);
		*ret = (uint64_t)(now - secs);
	} else {
		if (secs > INT64_MAX - now)
			return kb_err_set(KB_ERR_INVALID, "time \"%s\" is too far in the future", s);
		*ret = (uint64_t)(now + secs);
	}
	return KB_OK;
}

static int hex_time(const char *s, uint64_t *ret)
{
	uint64_t v = 0;
	const char *p = s + 2;

	if (*p == '\0' || strlen(p) > 16)
		return kb_err_set(KB_ERR_INVALID, "invalid hexadecimal time \"%s\"", s);
	for (; *p; p++) {
		int d;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			return kb_err_set(KB_ERR_INVALID, "invalid hexadecimal time \"%s\"", s);
		v = v << 4 | (uint64_t)d;
	}
	*ret = v;
	return KB_OK;
}

static int one_time(const char *s, int64_t now, bool from, uint64_t *ret)
{
	int64_t t;

	if (*s == '+' || *s == '-')
		return relative_time(s, now, ret);
	if (from && strcmp(s, "always") == 0) {
		*ret = 0;
		return KB_OK;
	}
	if (!from && strcmp(s, "forever") == 0) {
		*ret = KB_CERT_VALID_FOREVER;
		return KB_OK;
	}
	if (strncmp(s, "0x", 2) == 0)
		return hex_time(s, ret);
	if (kb_parse_time_sshkeygen(s, &t) != 0 || t < 0)
		return kb_err_set(KB_ERR_INVALID, "invalid %s time \"%s\" (use YYYYMMDD[HHMM[SS]][Z], +/-DURATION, %s or 0xSECONDS)",
				  from ? "start" : "end", s, from ? "always" : "forever");
	*ret = (uint64_t)t;
	return KB_OK;
}

int kb_cert_parse_validity(const char *spec, int64_t now, uint64_t *ret_after, uint64_t *ret_before)
{
	uint64_t after, before;
	char *from = NULL, *to;
	int r;

	if (spec[0] == '+' && strchr(spec, ':') == NULL) {
		if ((r = relative_time(spec, now, &before)) != 0)
			return r;
		/* ssh-keygen backdates a minute for badly synchronised clocks. */
		after = now >= 59 ? (uint64_t)((now - 59) / 60 * 60) : 0;
		goto done;
	}
	if ((from = kb_strdup(spec)) == NULL)
		return KB_ERR_NOMEM;
	to = strchr(from, ':');
	if (to == NULL || to == from || to[1] == '\0') {
		r = kb_err_set(KB_ERR_INVALID, "invalid validity interval \"%s\" (use +DURATION or FROM:TO)", spec);
		goto out;
	}
	*to++ = '\0';
	if ((r = one_time(from, now, true, &after)) != 0 || (r = one_time(to, now, false, &before)) != 0)
		goto out;
done:
	if (before <= after) {
		r = kb_err_set(KB_ERR_INVALID, "empty validity interval \"%s\"", spec);
		goto out;
	}
	*ret_after = after;
	*ret_before = before;
	r = KB_OK;
out:
	free(from);
	return r;
}

/* ---- text ---- */

static void absolute_time(uint64_t t, char *out, size_t n)
{
	struct tm tm;
	time_t tt = t > (uint64_t)INT64_MAX ? (time_t)INT64_MAX : (time_t)t;

	if (localtime_r(&tt, &tm) == NULL || strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		snprintf(out, n, "@%llu", (unsigned long long)t);
}

void kb_cert_format_validity(const struct kb_cert *c, char *out, size_t n)
{
	char from[40], to[40];

	if (c->valid_after == 0 && c->valid_before == KB_CERT_VALID_FOREVER) {
		snprintf(out, n, "forever");
		return;
	}
	absolute_time(c->valid_after, from, sizeof(from));
	absolute_time(c->valid_before, to, sizeof(to));
	if (c->valid_after == 0)
		snprintf(out, n, "before %s", to);
	else if (c->valid_before == KB_CERT_VALID_FOREVER)
		snprintf(out, n, "after %s", from);
	else
		snprintf(out, n, "from %s to %s", from, to);
}


static bool is_known_flag_extension(const char *name)
{
	static const char *const names[] = {
		KB_CERT_EXT_X11, KB_CERT_EXT_AGENT,   KB_CERT_EXT_PORT,
		KB_CERT_EXT_PTY, KB_CERT_EXT_USER_RC, KB_CERT_EXT_NO_TOUCH,
	};
	for (size_t i = 0; i < KB_ARRAY_SIZE(names); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

static void add_hex(struct kb_text *t, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kb_text_add(t, "%02x", p[i]);
}

/* Mirrors ssh-keygen.c show_options(). */
static void show_options(struct kb_text *t, const struct kb_cert_option *o, size_t n, bool critical)
{
	for (size_t i = 0; i < n; i++) {
		char *v = NULL;
		kb_text_add(t, "                %s", o[i].name);
		if (!critical && is_known_flag_extension(o[i].name) && o[i].data_len == 0) {
			kb_text_add(t, "\n");
		} else if (critical &&
			   (strcmp(o[i].name, KB_CERT_OPT_FORCE_COMMAND) == 0 ||
			    strcmp(o[i].name, KB_CERT_OPT_SOURCE_ADDRESS) == 0) &&
			   kb_cert_option_string(&o[i], &v) == 0) {
			kb_text_add(t, " %s\n", v);
			free(v);
		} else if (critical && strcmp(o[i].name, KB_CERT_OPT_VERIFY_REQUIRED) == 0 && o[i].data_len == 0) {
			kb_text_add(t, "\n");
		} else if (o[i].data_len > 0) {
			/* ssh-keygen shows the raw (still wrapped) data. */
			size_t n = o[i].data_len;
			kb_text_add(t, " UNKNOWN OPTION: %08zx", n);
			add_hex(t, o[i].data, n);
			kb_text_add(t, " (len %zu)\n", n + 4);
		} else {
			kb_text_add(t, " UNKNOWN FLAG OPTION\n");
		}
	}
}

int kb_cert_format_text(const struct kb_cert *c, char **ret_text)
{
	struct kb_text t = { 0 };
	char key_fp[KB_KEY_FP_MAX] = "?", ca_fp[KB_KEY_FP_MAX] = "?", valid[96];
	int r;

	*ret_text = NULL;
	if (c->key == NULL || c->ca_key == NULL)
		return kb_err_set(KB_ERR_INVALID, "certificate is not signed");
	if ((r = kb_key_fingerprint(c->key, key_fp, sizeof(key_fp))) != 0 ||
	    (r = kb_key_fingerprint(c->ca_key, ca_fp, sizeof(ca_fp))) != 0)
		return r;
	kb_cert_format_validity(c, valid, sizeof(valid));
	kb_text_add(&t, "        Type: %s %s certificate\n", kb_cert_type_name(c), kb_cert_kind(c));
	kb_text_add(&t, "        Public key: %s-CERT %s\n", kb_key_type_label(c->key), key_fp);
	kb_text_add(&t, "        Signing CA: %s %s (using %s)\n", kb_key_type_label(c->ca_key), ca_fp,
	    c->sig_alg ? c->sig_alg : "?");
	kb_text_add(&t, "        Key ID: \"%s\"\n", c->key_id ? c->key_id : "");
	kb_text_add(&t, "        Serial: %llu\n", (unsigned long long)c->serial);
	kb_text_add(&t, "        Valid: %s\n", valid);
	kb_text_add(&t, "        Principals: ");
	if (c->nprincipals == 0) {
		kb_text_add(&t, "(none)\n");
	} else {
		for (size_t i = 0; i < c->nprincipals; i++)
			kb_text_add(&t, "\n                %s", c->principals[i]);
		kb_text_add(&t, "\n");
	}
	kb_text_add(&t, "        Critical Options: ");
	if (c->ncritical == 0) {
		kb_text_add(&t, "(none)\n");
	} else {
		kb_text_add(&t, "\n");
		show_options(&t, c->critical, c->ncritical, true);
	}
	kb_text_add(&t, "        Extensions: ");
	if (c->nextensions == 0) {
		kb_text_add(&t, "(none)\n");
	} else {
		kb_text_add(&t, "\n");
		show_options(&t, c->extensions, c->nextensions, false);
	}
	if (t.err) {
		free(t.s);
		return t.err;
	}
	*ret_text = t.s;
	return KB_OK;
}

/* ---- JSON ---- */

static json_t *json_u64(uint64_t v)
{
	if (v <= (uint64_t)INT64_MAX)
		return json_integer((json_int_t)v);
	char s[24];
	snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
	return json_string(s);
}

static json_t *json_time(uint64_t v, bool is_end)
{
	char s[32];
	if ((is_end && v == KB_CERT_VALID_FOREVER) || (!is_end && v == 0) || v > (uint64_t)INT64_MAX)
		return json_null();
	kb_format_time_utc((int64_t)v, s, sizeof(s));
	return json_string(s);
}

/* Key ids and principals need not be UTF-8; JSON strings must be. */
static json_t *safe_string(const char *v)
{
	json_t *s = json_string(v);
	if (s != NULL)
		return s;
	struct kb_text t = { 0 };
	add_hex(&t, (const uint8_t *)v, strlen(v));
	s = t.err ? NULL : json_pack("{s:s}", "hex", t.s);
	free(t.s);
	return s;
}

static json_t *json_options(const struct kb_cert_option *o, size_t n)
{
	json_t *obj = json_object();
	for (size_t i = 0; obj != NULL && i < n; i++) {
		char *v = NULL;
		json_t *val;
		if (o[i].data_len == 0) {
			val = json_true();
		} else if (kb_cert_option_string(&o[i], &v) == 0 && kb_str_printable(v) &&
			   (val = json_string(v)) != NULL) {
			/* a printable UTF-8 value */
		} else {
			struct kb_text t = { 0 };
			add_hex(&t, o[i].data, o[i].data_len);
			val = t.err ? NULL : json_pack("{s:s}", "hex", t.s);
			free(t.s);
		}
		free(v);
		if (val == NULL || json_object_set_new(obj, o[i].name, val) != 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

int kb_cert_format_json(const struct kb_cert *c, char **ret_json)
{
	char key_fp[KB_KEY_FP_MAX], ca_fp[KB_KEY_FP_MAX], valid[96], type_label[32];
	json_t *o = NULL, *principals = NULL;
	int r;

	*ret_json = NULL;
	if (c->key == NULL || c->ca_key == NULL)
		return kb_err_set(KB_ERR_INVALID, "certificate is not signed");
	if ((r = kb_key_fingerprint(c->key, key_fp, sizeof(key_fp))) != 0 ||
	    (r = kb_key_fingerprint(c->ca_key, ca_fp, sizeof(ca_fp))) != 0)
		return r;
	kb_cert_format_validity(c, valid, sizeof(valid));
	snprintf(type_label, sizeof(type_label), "%s-CERT", kb_key_type_label(c->key));
	if ((principals = json_array()) == NULL)
		return KB_ERR_NOMEM;
	for (size_t i = 0; i < c->nprincipals; i++)
		if (json_array_append_new(principals, safe_string(c->principals[i])) != 0) {
			json_decref(principals);
			return KB_ERR_NOMEM;
		}
	o = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s}, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:o}",
		      "type", kb_cert_type_name(c), "cert_type", kb_cert_kind(c),
		      "public_key", "type", type_label, "fingerprint", key_fp,
		      "signing_ca", "type", kb_key_type_label(c->ca_key), "fingerprint", ca_fp,
		      "algorithm", c->sig_alg ? c->sig_alg : "",
		      "key_id", safe_string(c->key_id ? c->key_id : ""),
		      "serial", json_u64(c->serial),
		      "valid_after", json_u64(c->valid_after),
		      "valid_before", json_u64(c->valid_before),
		      "valid_after_utc", json_time(c->valid_after, false),
		      "valid_before_utc", json_time(c->valid_before, true),
		      "valid", valid,
		      "principals", principals,
		      "critical_options", json_options(c->critical, c->ncritical),
		      "extensions", json_options(c->extensions, c->nextensions));
	if (o == NULL)
		return KB_ERR_NOMEM;
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s == NULL)
		return KB_ERR_NOMEM;
	*ret_json = kb_asprintf("%s\n", s);
	kb_json_free_string(s);
	return *ret_json ? KB_OK : KB_ERR_NOMEM;
}
