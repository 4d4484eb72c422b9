/* The issuing pipeline (see issue.h). */
#include "issue.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "audit.h"
#include "ca.h"
#include "cert/cert.h"
#include "config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/store.h"

bool kb_issue_identity_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > KB_ISSUE_IDENTITY_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && strchr("_.@-", *s) == NULL)
			return false;
	return true;
}

int kb_issue_ctx_init(struct kb_issue_ctx *ic, const struct kb_config *cfg, const char *via)
{
	const char *log = kb_config_get(cfg, "audit.log");
	int r;

	memset(ic, 0, sizeof(*ic));
	ic->cfg = cfg;
	ic->via = via;
	ic->policy_path = kb_config_get(cfg, "policy");
	if (log == NULL)
		return kb_err_set(KB_ERR_INVALID, "no audit log configured (audit.log)");
	if ((r = kb_audit_open(log, kb_config_get(cfg, "audit.key"), &ic->audit)) != KB_OK)
		return r;
	return KB_OK;
}

void kb_issue_ctx_done(struct kb_issue_ctx *ic)
{
	kb_audit_close(ic->audit);
	kb_store_close(ic->store);
	memset(ic, 0, sizeof(*ic));
}

void kb_issue_result_done(struct kb_issue_result *res)
{
	if (res == NULL)
		return;
	kb_policy_decision_done(&res->decision);
	kb_key_free(res->key);
	free(res->secret_name);
	free(res->version);
	kb_buf_done(&res->credential);
	memset(res, 0, sizeof(*res));
}

static json_t *strv_json(const struct kb_policy_strv *s)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < s->n; i++)
		json_array_append_new(a, json_string(s->v[i]));
	return a;
}

/* A store for the role's backend when it differs from the configured one:
 * a copy of the configuration with "backend" replaced. */
static int open_role_store(const struct kb_config *cfg, const char *backend, struct kb_store **ret)
{
	struct kb_config *copy = NULL;
	int r;

	if ((r = kb_config_new(&copy)) != KB_OK)
		return r;
	for (size_t i = 0; kb_config_key_at(cfg, i) != NULL && r == KB_OK; i++) {
		const char *k = kb_config_key_at(cfg, i);
		r = kb_config_set(copy, k, kb_config_get(cfg, k), kb_config_origin(cfg, k));
	}
	if (r == KB_OK)
		r = kb_config_set(copy, "backend", backend, "policy role");
	if (r == KB_OK)
		r = kb_store_open(copy, ret);
	kb_config_free(copy);
	return r;
}

static int audit_line(struct kb_issue_ctx *ic, const struct kb_issue_request *req, const struct kb_issue_result *res,
		      const char *outcome, uint64_t *ret_seq)
{
	const struct kb_policy_decision *d = &res->decision;
	json_t *e = json_object();
	char buf[64];
	int r;

	if (e == NULL)
		return KB_ERR_NOMEM;
	json_object_set_new(e, "event", json_string("issue"));
	json_object_set_new(e, "via", json_string(ic->via ? ic->via : "cli"));
	json_object_set_new(e, "requester", json_string(req->user));
	json_object_set_new(e, "uid", json_integer((json_int_t)req->uid));
	json_object_set_new(e, "role", json_string(req->role));
	json_object_set_new(e, "decision", json_string(d->allow ? "allow" : "deny"));
	json_object_set_new(e, "rule", json_string(d->rule));
	json_object_set_new(e, "outcome", json_string(outcome));
	if (!d->allow)
		json_object_set_new(e, "reason", json_string(d->reason));
	if (req->host)
		json_object_set_new(e, "host", json_string(req->host));
	if (d->principals.n)
		json_object_set_new(e, "principals", strv_json(&d->principals));
	else if (req->nprincipals) {
		json_t *a = json_array();
		for (size_t i = 0; i < req->nprincipals; i++)
			json_array_append_new(a, json_string(req->principals[i]));
		json_object_set_new(e, "principals", a);
	}
	if (d->allow)
		json_object_set_new(e, "ttl", json_integer(d->ttl));
	else if (req->ttl)
		json_object_set_new(e, "ttl", json_integer(req->ttl));
	if (res->serial) {
		/* As a string: JSON readers lose precision above 2^53. */
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)res->serial);
		json_object_set_new(e, "serial", json_string(buf));
		json_object_set_new(e, "key_id", json_string(res->key_id));
		json_object_set_new(e, "fingerprint", json_string(res->fingerprint));
		json_object_set_new(e, "key_type", json_string(d->key_type));
		kb_format_time_utc(res->valid_before, buf, sizeof(buf));
		json_object_set_new(e, "valid_before", json_string(buf));
	}
	if (res->backend)
		json_object_set_new(e, "backend", json_string(res->backend));
	if (res->secret_name)
		json_object_set_new(e, "secret", json_string(res->secret_name));
	if (res->version)
		json_object_set_new(e, "version", json_string(res->version));
	r = kb_audit_append(ic->audit, e, ret_seq);
	json_decref(e);
	return r;
}

/* Builds and signs the certificate for res->key under the decision. */
static int sign_cert(const struct kb_key *ca, const struct kb_issue_request *req, struct kb_issue_result *res)
{
	const struct kb_policy_decision *d = &res->decision;
	struct kb_cert *cert = NULL;
	int r;
	int64_t now = (int64_t)time(NULL);

	res->serial = kb_ca_random_serial();
	snprintf(res->key_id, sizeof(res->key_id), "%s@%s#%llu", req->user, req->role,
		 (unsigned long long)res->serial);
	res->valid_after = now - KB_ISSUE_BACKDATE;
	res->valid_before = now + d->ttl;
	if ((r = kb_cert_new(KB_CERT_TYPE_USER, res->key, &cert)) != KB_OK)
		goto out;
	cert->serial = res->serial;
	kb_cert_clear_options(cert);
	if ((r = kb_cert_set_key_id(cert, res->key_id)) != KB_OK ||
	    (r = kb_cert_set_validity(cert, (uint64_t)res->valid_after, (uint64_t)res->valid_before)) != KB_OK)
		goto out;
	for (size_t i = 0; i < d->principals.n; i++)
		if ((r = kb_cert_add_principal(cert, d->principals.v[i])) != KB_OK)
			goto out;
	for (size_t i = 0; i < d->extensions.n; i++)
		if ((r = kb_cert_set_extension(cert, d->extensions.v[i], NULL)) != KB_OK)
			goto out;
	for (size_t i = 0; i < d->ncritical; i++)
		if ((r = kb_cert_set_critical(cert, d->critical[i].name,
					      d->critical[i].value[0] ? d->critical[i].value : NULL)) != KB_OK)
			goto out;
	if ((r = kb_cert_sign(cert, ca, NULL)) != KB_OK)
		goto out;
	r = kb_key_attach_cert(res->key, cert);
	cert = NULL; /* owned by the key now, or freed on failure */
out:
	kb_cert_free(cert);
	return r;
}

static void presize(struct kb_buf *b, size_t n)
{
	uint8_t *p;
	if (kb_buf_reserve(b, n, &p) == KB_OK)
		kb_buf_reset(b);
}

/* The credential JSON (DESIGN.md), into res->credential (secure). */
static int build_credential(const struct kb_issue_request *req, struct kb_issue_result *res)
{
	const struct kb_policy_decision *d = &res->decision;
	struct kb_buf priv;
	struct kb_key *plain = NULL;
	char *pub = NULL, *certline = NULL, *json = NULL, va[32], vb[32];
	json_t *j = NULL;
	int r;

	kb_buf_init_secure(&priv, KB_KEY_PRIVATE_FILE_MAX);
	/* One guarded allocation each instead of one per doubling:
	 * sodium_malloc costs several system calls. */
	presize(&priv, 8192);
	if ((r = kb_key_dup(res->key, &plain)) != KB_OK)
		goto out;
	kb_key_drop_cert(plain);
	if ((r = kb_key_write_private_file(plain, res->key_id, &priv)) != KB_OK ||
	    (r = kb_buf_put_u8(&priv, 0)) != KB_OK ||
	    (r = kb_key_format_public_line(plain, res->key_id, &pub)) != KB_OK ||
	    (r = kb_cert_format_line(kb_key_cert(res->key), res->key_id, &certline)) != KB_OK)
		goto out;
	kb_format_time_utc(res->valid_after, va, sizeof(va));
	kb_format_time_utc(res->valid_before, vb, sizeof(vb));
	j = json_object();
	if (j == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	json_object_set_new(j, "kind", json_string(KB_CREDENTIAL_KIND));
	json_object_set_new(j, "key_type", json_string(kb_key_type_ssh_name(kb_key_type(plain))));
	json_object_set_new(j, "private_key", json_string((const char *)kb_buf_ptr(&priv)));
	json_object_set_new(j, "public_key", json_string(pub));
	json_object_set_new(j, "certificate", json_string(certline));
	/* serial: a JSON number as DESIGN.md shows; exact for readers with
	 * 64-bit integers (Python, jq 1.7), and repeated in key_id. */
	json_object_set_new(j, "serial", json_integer((json_int_t)res->serial));
	json_object_set_new(j, "key_id", json_string(res->key_id));
	json_object_set_new(j, "fingerprint", json_string(res->fingerprint));
	json_object_set_new(j, "principals", strv_json(&d->principals));
	json_object_set_new(j, "valid_after", json_string(va));
	json_object_set_new(j, "valid_before", json_string(vb));
	json_object_set_new(j, "role", json_string(req->role));
	json_object_set_new(j, "requested_by", json_string(req->user));
	if ((json = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	kb_buf_init_secure(&res->credential, KB_STORE_VALUE_MAX);
	presize(&res->credential, strlen(json) + 1);
	r = kb_buf_put(&res->credential, json, strlen(json));
out:
	kb_json_free_string(json);
	json_decref(j);
	free(pub);
	free(certline);
	kb_key_free(plain);
	kb_buf_done(&priv);
	return r;
}

int kb_issue_mint(const struct kb_key *ca, const struct kb_issue_request *req, struct kb_issue_result *res)
{
	enum kb_key_type kt;
	unsigned bits;
	int r;

	if ((r = kb_key_type_from_cli(res->decision.key_type, &kt, &bits)) != KB_OK ||
	    (r = kb_key_generate(kt, bits, &res->key)) != KB_OK ||
	    (r = kb_key_fingerprint(res->key, res->fingerprint, sizeof(res->fingerprint))) != KB_OK ||
	    (r = sign_cert(ca, req, res)) != KB_OK)
		return r;
	return build_credential(req, res);
}

int kb_issue_run(struct kb_issue_ctx *ic, const struct kb_issue_request *req, const struct kb_issue_deliver *dl,
		 struct kb_issue_result *res)
{
	struct kb_policy *pol = NULL;
	struct kb_store *role_store = NULL, *store;
	struct kb_policy_request preq = { 0 };
	bool delivered = false;
	int r, ar;

	memset(res, 0, sizeof(*res));
	if (ic->policy_path == NULL)
		return kb_err_set(KB_ERR_INVALID, "no policy configured: use --policy FILE or set BROKER_POLICY");
	if ((r = kb_policy_load(ic->policy_path, &pol, NULL)) != KB_OK)
		return r == KB_ERR_INVALID ? r : kb_err_set(r, "cannot read policy %s: %s", ic->policy_path, kb_err_detail());
	preq = (struct kb_policy_request){ .user = req->user, .groups = req->groups, .ngroups = req->ngroups,
					   .role = req->role, .principals = req->principals,
					   .nprincipals = req->nprincipals, .ttl = req->ttl, .host = req->host,
					   .key_type = req->key_type };
	if ((r = kb_policy_decide(pol, &preq, &res->decision)) != KB_OK)
		goto out;
	if (!res->decision.allow) {
		r = audit_line(ic, req, res, "denied", &res->audit_seq);
		if (r == KB_OK)
			r = KB_ERR_DENIED;
		goto out;
	}

	const char *identity = req->identity ? req->identity : req->user;
	if (!kb_issue_identity_valid(identity)) {
		r = kb_err_set(KB_ERR_INVALID, "identity '%s' is not a valid name (1-64 of A-Z a-z 0-9 _ . @ -): "
					       "use --name", identity);
		goto out;
	}
	if ((res->secret_name = kb_asprintf("keybroker/%s/%s", req->role, identity)) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	if (ic->store == NULL && (r = kb_store_open(ic->cfg, &ic->store)) != KB_OK)
		goto out;
	const char *configured = kb_config_get(ic->cfg, "backend");
	res->backend = configured ? configured : "local";
	store = ic->store;
	if (res->decision.backend && strcmp(res->decision.backend, res->backend) != 0) {
		if ((r = open_role_store(ic->cfg, res->decision.backend, &role_store)) != KB_OK)
			goto out_audit;
		store = role_store;
		res->backend = res->decision.backend;
	}

	struct kb_key *ca = NULL;
	if ((r = kb_ca_load(ic->store, false, &ca)) != KB_OK)
		goto out_audit;
	r = kb_issue_mint(ca, req, res);
	kb_key_free(ca);
	if (r != KB_OK)
		goto out_audit;
	struct kb_store_put_opts opts = { .stage = KB_STAGE_PENDING, .description = "keybroker SSH credential" };
	if ((r = kb_store_put(store, res->secret_name, kb_buf_ptr(&res->credential),
			      kb_buf_remaining(&res->credential), &opts, &res->version)) != KB_OK)
		goto out_audit;
	if (dl && dl->deliver) {
		if ((r = dl->deliver(dl->arg, res)) != KB_OK)
			goto out_audit;
		delivered = true;
	}
	/* The audit entry must be on disk before the credential counts. */
	if ((r = audit_line(ic, req, res, "issued", &res->audit_seq)) != KB_OK) {
		char detail[512];
		kb_strlcpy(detail, kb_err_detail(), sizeof(detail));
		r = kb_err_set(r, "cannot write the audit log (%s); nothing was issued", detail);
		goto undo;
	}
	if ((r = kb_store_promote(store, res->secret_name, res->version)) != KB_OK) {
		char detail[512];
		kb_strlcpy(detail, kb_err_detail(), sizeof(detail));
		r = kb_err_set(r, "stored %s version %s but could not make it current (%s)", res->secret_name,
			       res->version, detail);
		/* Audited already: record that it did not complete. */
		audit_line(ic, req, res, "failed: promote", NULL);
		goto undo;
	}
	r = KB_OK;
	goto out;
out_audit: {
	/* An allowed request that failed before it was handed out. */
	char detail[512], outcome[600];
	int saved = r;
	kb_strlcpy(detail, kb_err_detail(), sizeof(detail));
	snprintf(outcome, sizeof(outcome), "failed: %s%s%s", kb_err_str(saved), detail[0] ? ": " : "", detail);
	ar = audit_line(ic, req, res, outcome, NULL);
	(void)ar;
	kb_err_set(saved, "%s", detail);
	r = saved;
	goto out;
}
undo:
	if (delivered && dl->undo)
		dl->undo(dl->arg, res);
out:
	if (r != KB_OK && r != KB_ERR_DENIED) {
		kb_key_free(res->key);
		res->key = NULL;
		kb_buf_done(&res->credential);
	}
	kb_store_close(role_store);
	kb_policy_free(pol);
	return r;
}

int kb_credential_parse(const char *json, size_t len, struct kb_key **ret_key)
{
	json_error_t jerr;
	json_t *j;
	struct kb_key *key = NULL;
	struct kb_key *ck = NULL;
	struct kb_buf blob;
	int r;

	*ret_key = NULL;
	if (len > KB_STORE_VALUE_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "credential larger than %u bytes", KB_STORE_VALUE_MAX);
	if ((j = json_loadb(json, len, 0, &jerr)) == NULL)
		return kb_err_set(KB_ERR_INVALID, "credential is not JSON: %s", jerr.text);
	json_t *kind = json_object_get(j, "kind"), *pk = json_object_get(j, "private_key"),
	       *c = json_object_get(j, "certificate");
	if (!json_is_string(kind) || strcmp(json_string_value(kind), KB_CREDENTIAL_KIND) != 0 ||
	    !json_is_string(pk) || !json_is_string(c)) {
		json_decref(j);
		return kb_err_set(KB_ERR_INVALID, "not a keybroker SSH credential");
	}
	kb_buf_init(&blob, KB_KEY_BLOB_MAX);
	r = kb_key_parse_private_file(json_string_value(pk), json_string_length(pk), NULL, &key, NULL);
	if (r == KB_OK)
		r = kb_key_parse_public_line(json_string_value(c), &ck, NULL);
	if (r == KB_OK && !kb_key_is_cert(ck))
		r = kb_err_set(KB_ERR_INVALID, "credential certificate is not a certificate");
	struct kb_cert *cert = NULL;
	if (r == KB_OK && (r = kb_cert_dup(kb_key_cert(ck), &cert)) == KB_OK)
		r = kb_key_attach_cert(key, cert); /* checks the public keys match */
	json_decref(j);
	kb_buf_done(&blob);
	kb_key_free(ck);
	if (r != KB_OK) {
		kb_key_free(key);
		return r;
	}
	*ret_key = key;
	return KB_OK;
}
