/* Host key algorithm choice and verification against known_hosts. */
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "ssh/key.h"
#include "sshc/known_hosts.h"
#include "sshc/sshc_priv.h"

/* Host key algorithms to offer: the types known_hosts lists for the host
 * (as ssh does), or every plain type libssh2 1.10 can verify when the host
 * is unknown (so the error can show the server's key).  Certificate
 * algorithms are never offered: libssh2 1.10 lists ecdsa-*-cert-v01 host
 * key methods that cannot verify anything. */
void kb_sshc_hostkey_prefs(unsigned types, char *out, size_t n)
{
	static const struct {
		unsigned bit;
		const char *alg;
	} order[] = {
		{KB_KH_TYPE_ED25519, "ssh-ed25519"},
		{KB_KH_TYPE_ECDSA256, "ecdsa-sha2-nistp256"},
		{KB_KH_TYPE_ECDSA384, "ecdsa-sha2-nistp384"},
		{KB_KH_TYPE_ECDSA521, "ecdsa-sha2-nistp521"},
		{KB_KH_TYPE_RSA, "ssh-rsa"},
	};
	size_t len = 0;

	out[0] = '\0';
	if ((types & ~KB_KH_TYPE_DSA) == 0)
		types = KB_KH_TYPE_ED25519 | KB_KH_TYPE_ECDSA256 | KB_KH_TYPE_ECDSA384 | KB_KH_TYPE_ECDSA521 |
			KB_KH_TYPE_RSA;
	for (size_t i = 0; i < KB_ARRAY_SIZE(order); i++) {
		if (!(types & order[i].bit))
			continue;
		len += (size_t)snprintf(out + len, n - len, "%s%s", len ? "," : "", order[i].alg);
		if (len >= n)
			break;
	}
}

const char *kb_sshc_types_label(unsigned types, char *out, size_t n)
{
	snprintf(out, n, "%s%s%s%s%s", types & KB_KH_TYPE_ED25519 ? " ED25519" : "",
		 types & (KB_KH_TYPE_ECDSA256 | KB_KH_TYPE_ECDSA384 | KB_KH_TYPE_ECDSA521) ? " ECDSA" : "",
		 types & KB_KH_TYPE_RSA ? " RSA" : "", types & KB_KH_TYPE_DSA ? " DSA" : "", types ? "" : " none");
	return out + 1;
}

int kb_sshc_verify_hostkey(struct kb_sshc *c, const char *path, bool file_exists, const struct kb_buf *kh,
			   const char *lookup, struct kb_buf *cas)
{
	const char *blob;
	size_t bloblen = 0;
	int type = 0, r;
	struct kb_key *k = NULL;
	struct kb_known_hosts_result res;
	char fp[KB_KEY_FP_MAX] = "?";
	const char *label = "?";
	char portopt[16] = "";

	blob = libssh2_session_hostkey(c->s, &bloblen, &type);
	if (blob == NULL || bloblen == 0)
		return kb_err_set(KB_ERR_NETWORK, "%s: the server sent no host key", c->name);
	if (kb_key_from_blob((const uint8_t *)blob, bloblen, &k) == 0) {
		kb_key_fingerprint(k, fp, sizeof(fp));
		label = kb_key_type_label(k);
	}
	kb_buf_reset(cas);
	r = kb_known_hosts_check_ca((const char *)kh->data, kh->len, lookup, (const uint8_t *)blob, bloblen, &res,
				    cas);
	if (r != 0)
		goto out;
	if (c->t.port != 22)
		snprintf(portopt, sizeof(portopt), "-p %u ", (unsigned)c->t.port);
	switch (res.status) {
	case KB_KH_OK:
		kb_buf_reset(cas); /* pinned: no certificate check */
		kb_debug("%s: host key %s %s matches %s:%u", c->name, label, fp, path, res.line);
		r = 0;
		break;
	case KB_KH_REVOKED:
		r = kb_err_set(KB_ERR_REVOKED,
			       "%s: the server's %s host key %s is marked @revoked in %s:%u; refusing to connect", c->name,
			       label, fp, path, res.line);
		break;
	case KB_KH_MISMATCH:
		r = kb_err_set(KB_ERR_SIGNATURE,
			       "%s: REMOTE HOST IDENTIFICATION HAS CHANGED: the server's %s host key %s does not match "
			       "%s:%u (possible man-in-the-middle attack, or the host was reinstalled); if the change is "
			       "expected: ssh-keygen -R '%s' -f %s, then add the new key",
			       c->name, label, fp, path, res.line, lookup, path);
		break;
	default:
		if (cas->len > 0) {
			/* Not pinned, but a host CA is trusted for the name: the
			 * caller authenticates, then checks the host's certificate
			 * (kb_sshc_verify_host_cert) before using the session. */
			kb_debug("%s: host key %s %s not in %s; %u @cert-authority line(s) for '%s': checking the host "
				 "certificate after authentication",
				 c->name, label, fp, path, res.cert_authority, lookup);
			r = 0;
			break;
		}
		r = kb_err_set(KB_ERR_NOT_FOUND,
			       "%s: host key verification failed: no entry for '%s' in %s%s%s (the server's %s key is %s); "
			       "check the fingerprint out of band, then: ssh-keyscan %s-t %s %s >> %s (or trust a host CA: "
			       "an '@cert-authority %s <CA key>' line, with a host certificate for '%s' installed on the "
			       "host)",
			       c->name, lookup, path, file_exists ? "" : " (file does not exist)",
			       res.cert_authority ? ", and its @cert-authority lines are malformed" : "", label, fp,
			       portopt, k != NULL && kb_key_type(k) == KB_KEY_ED25519 ? "ed25519"
				       : k != NULL && kb_key_type(k) == KB_KEY_RSA    ? "rsa"
										      : "ecdsa",
			       c->t.host, path, lookup, c->t.host);
		break;
	}
out:
	kb_key_free(k);
	return r;
}
