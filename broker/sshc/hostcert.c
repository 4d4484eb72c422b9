/* Host certificate fallback: libssh2 1.10 cannot negotiate
 * *-cert-v01@openssh.com host key algorithms, so a host known only
 * through a host CA (@cert-authority in known_hosts) is checked after
 * authentication: its certificates are read over an exec channel and one
 * must certify exactly the plain host key the server proved it holds in
 * the key exchange, be signed by a trusted and not revoked CA, name the
 * host, be valid now and verify.  Nothing of the caller's runs before. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cert/cert.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "ssh/key.h"
#include "sshc/known_hosts.h"
#include "sshc/sshc_priv.h"

bool kb_sshc_host_certs_valid(const char *paths)
{
	size_t n = 0;

	if (paths == NULL || *paths == '\0')
		return false;
	for (const char *p = paths; *p != '\0'; p++, n++)
		if (!isalnum((unsigned char)*p) && strchr("_./*?+,:@=- ", *p) == NULL)
			return false;
	return n <= 1024;
}

static bool blob_in_list(const struct kb_buf *list, const struct kb_buf *blob)
{
	struct kb_buf v;
	const uint8_t *p;
	size_t n;

	kb_buf_init_ro(&v, list->data, list->len);
	while (kb_buf_get_string_direct(&v, &p, &n) == 0)
		if (n == blob->len && memcmp(p, blob->data, n) == 0)
			return true;
	return false;
}

static enum kb_sshc_hc_stage check_cert(const struct kb_cert *cert, const uint8_t *hk, size_t hklen, const struct kb_buf *kh,
			     const char *lookup, const struct kb_buf *cas, const char *host, struct kb_sshc_cert_verdict *v)
{
	struct kb_buf b;
	struct kb_known_hosts_result res;
	struct kb_sshc_cert_verdict here;
	enum kb_sshc_hc_stage st = KB_SSHC_HC_NOT_HOST;

	memset(&here, 0, sizeof(here));
	kb_buf_init(&b, KB_KEY_BLOB_MAX);
	if (cert->type != KB_CERT_TYPE_HOST)
		goto out;
	st = KB_SSHC_HC_OTHER_KEY;
	if (kb_key_plain_blob(cert->key, &b) != 0 || b.len != hklen || memcmp(b.data, hk, hklen) != 0)
		goto out;
	st = KB_SSHC_HC_UNKNOWN_CA;
	kb_buf_reset(&b);
	if (kb_key_plain_blob(cert->ca_key, &b) != 0 || !blob_in_list(cas, &b))
		goto out;
	kb_key_fingerprint(cert->ca_key, here.ca_fp, sizeof(here.ca_fp));
	/* A failed lookup counts as revoked: refuse rather than guess. */
	st = KB_SSHC_HC_REVOKED_CA;
	if (kb_known_hosts_check((const char *)kh->data, kh->len, lookup, b.data, b.len, &res) != 0 ||
	    res.status == KB_KH_REVOKED) {
		here.revoked_line = res.line;
		goto out;
	}
	st = KB_SSHC_HC_PRINCIPAL;
	if (kb_cert_check_principal(cert, host, false) != 0)
		goto out;
	st = KB_SSHC_HC_TIME;
	kb_cert_format_validity(cert, here.validity, sizeof(here.validity));
	if (kb_cert_check_time(cert, (uint64_t)time(NULL)) != 0)
		goto out;
	/* As OpenSSH's default CASignatureAlgorithms: no SHA-1 RSA. */
	st = KB_SSHC_HC_SIGNATURE;
	if (cert->sig_alg == NULL || strcmp(cert->sig_alg, "ssh-rsa") == 0 || kb_cert_verify(cert) != 0)
		goto out;
	st = KB_SSHC_HC_OK;
	snprintf(here.key_id, sizeof(here.key_id), "%s", cert->key_id != NULL ? cert->key_id : "");
out:
	kb_buf_done(&b);
	if (st > v->best) {
		*v = here;
		v->best = st;
	}
	return st;
}

/* One certificate line "<type> <base64> [comment]" -> its stage. */
static enum kb_sshc_hc_stage check_line(const char *p, size_t n, const uint8_t *hk, size_t hklen,
			     const struct kb_buf *kh, const char *lookup, const struct kb_buf *cas, const char *host,
			     struct kb_sshc_cert_verdict *v)
{
	const char *end = p + n, *b64;
	struct kb_buf blob;
	struct kb_cert *cert = NULL;
	enum kb_sshc_hc_stage st = KB_SSHC_HC_NONE;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end || *p == '#')
		return KB_SSHC_HC_NONE;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	b64 = p;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	if (p == b64)
		return KB_SSHC_HC_NONE;
	kb_buf_init(&blob, KB_SSHC_HOST_CERTS_MAX);
	if (kb_buf_put_from_base64(&blob, b64, (size_t)(p - b64)) == 0 &&
	    kb_cert_parse(blob.data, blob.len, &cert) == 0) {
		st = check_cert(cert, hk, hklen, kh, lookup, cas, host, v);
		kb_cert_free(cert);
	}
	kb_buf_done(&blob);
	return st;
}

size_t kb_sshc_host_cert_scan(const char *text, size_t len, const uint8_t *hk, size_t hklen,
			      const struct kb_buf *kh, const char *lookup, const struct kb_buf *cas, const char *host,
			      struct kb_sshc_cert_verdict *v)
{
	const char *p = text, *end = text + len;
	size_t ncerts = 0;

	memset(v, 0, sizeof(*v));
	if (len > KB_SSHC_HOST_CERTS_MAX)
		return 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl != NULL ? nl : end;
		enum kb_sshc_hc_stage st = check_line(p, (size_t)(le - p), hk, hklen, kh, lookup, cas, host, v);

		p = nl != NULL ? nl + 1 : end;
		if (st != KB_SSHC_HC_NONE)
			ncerts++;
		if (st == KB_SSHC_HC_OK)
			break;
	}
	return ncerts;
}

int kb_sshc_verify_host_cert(struct kb_sshc *c, const char *path, const struct kb_buf *kh, const char *lookup,
			     const struct kb_buf *cas, const char *cert_paths)
{
	const char *hk;
	size_t hklen = 0, ncerts = 0;
	int type = 0, status = 0, r;
	struct kb_buf out;
	char cmd[1100];
	struct kb_key *k = NULL;
	struct kb_sshc_cert_verdict v;
	char fp[KB_KEY_FP_MAX] = "?", host[256];
	const char *label = "?";

	if (cert_paths == NULL)
		cert_paths = KB_SSHC_HOST_CERTS_DEFAULT;
	snprintf(host, sizeof(host), "%s", c->t.host);
	for (size_t i = 0; host[i] != '\0'; i++)
		host[i] = (char)tolower((unsigned char)host[i]);
	hk = libssh2_session_hostkey(c->s, &hklen, &type);
	if (hk == NULL || hklen == 0)
		return kb_err_set(KB_ERR_NETWORK, "%s: the server sent no host key", c->name);
	if (kb_key_from_blob((const uint8_t *)hk, hklen, &k) == 0) {
		kb_key_fingerprint(k, fp, sizeof(fp));
		label = kb_key_type_label(k);
	}
	kb_buf_init(&out, KB_SSHC_HOST_CERTS_MAX);
	if (!kb_sshc_host_certs_valid(cert_paths)) {
		r = kb_err_set(KB_ERR_ARGS, "%s: bad host certificate paths '%s'", c->name, cert_paths);
		goto out;
	}
	snprintf(cmd, sizeof(cmd), "cat %s 2>/dev/null", cert_paths);
	r = kb_sshc_exec(c, cmd, NULL, 0, &out, NULL, &status);
	if (r != 0) {
		char why[512];
		kb_strlcpy(why, kb_err_detail(), sizeof(why));
		r = kb_err_set(r == KB_ERR_TIMEOUT ? r : KB_ERR_NOT_FOUND,
			       "%s: host key verification failed: cannot read the host's certificates (%s): %s", c->name,
			       cert_paths, why);
		goto out;
	}
	ncerts = kb_sshc_host_cert_scan((const char *)out.data, out.len, (const uint8_t *)hk, hklen, kh, lookup, cas,
					host, &v);
	switch (v.best) {
	case KB_SSHC_HC_OK:
		kb_debug("%s: host key %s %s accepted: host certificate '%s' signed by @cert-authority %s in %s", c->name,
			 label, fp, v.key_id, v.ca_fp, path);
		r = 0;
		break;
	case KB_SSHC_HC_NONE:
	case KB_SSHC_HC_NOT_HOST:
	case KB_SSHC_HC_OTHER_KEY:
		r = kb_err_set(KB_ERR_NOT_FOUND,
			       "%s: host key verification failed: '%s' is not in %s and, of %zu certificate(s) the host "
			       "has in %s, none is a host certificate for its %s key %s; install one (ssh-keygen -h -s CA "
			       "-n %s on the host's key, HostCertificate in sshd_config) or pin the key in %s",
			       c->name, lookup, path, ncerts, cert_paths, label, fp, host, path);
		break;
	case KB_SSHC_HC_UNKNOWN_CA:
		r = kb_err_set(KB_ERR_SIGNATURE,
			       "%s: host key verification failed: the host certificate for its %s key %s is signed by a "
			       "CA that no @cert-authority line for '%s' in %s trusts; add that CA's line or re-sign the "
			       "host's certificate with a trusted CA",
			       c->name, label, fp, lookup, path);
		break;
	case KB_SSHC_HC_REVOKED_CA:
		r = kb_err_set(KB_ERR_REVOKED,
			       "%s: host key verification failed: the host certificate for its %s key %s is signed by CA "
			       "%s, which is marked @revoked in %s:%u; refusing to connect",
			       c->name, label, fp, v.ca_fp, path, v.revoked_line);
		break;
	case KB_SSHC_HC_PRINCIPAL:
		r = kb_err_set(KB_ERR_SIGNATURE,
			       "%s: host key verification failed: the host certificate for its %s key %s (CA %s) does not "
			       "list '%s' as a principal; re-sign it with -n including %s, or connect by a listed name",
			       c->name, label, fp, v.ca_fp, host, host);
		break;
	case KB_SSHC_HC_TIME:
		r = kb_err_set(KB_ERR_SIGNATURE,
			       "%s: host key verification failed: the host certificate for its %s key %s (CA %s) is not "
			       "valid now (valid %s); renew the host's certificate",
			       c->name, label, fp, v.ca_fp, v.validity);
		break;
	case KB_SSHC_HC_SIGNATURE:
	default:
		r = kb_err_set(KB_ERR_SIGNATURE,
			       "%s: host key verification failed: the signature of the host certificate for its %s key "
			       "%s does not verify with CA %s (corrupt or forged certificate, or a SHA-1 ssh-rsa signature); "
			       "refusing to connect",
			       c->name, label, fp, v.ca_fp);
		break;
	}
out:
	kb_buf_done(&out);
	kb_key_free(k);
	return r;
}
