/* EC2 Instance Connect, host side: what AWS's eic_run_authorized_keys does,
 * in C.
 *
 * The instance metadata (IMDSv2) holds, under managed-ssh-keys/:
 *   signer-cert          PEM chain: the signer certificate, then its issuers;
 *   signer-ocsp/         names (SHA-1 fingerprints, hex) of DER OCSP
 *                        responses, each served base64-encoded;
 *   active-keys/USER/    entries, separated by blank lines:
 *                          #Timestamp=<unix expiry>
 *                          #Instance=<instance id>
 *                          #Caller=..., #Request=..., other #Key=value lines
 *                          <authorized_keys line>
 *                          <base64 signature, one or more lines>
 * The signature is RSA-PSS (SHA-256, salt 32) by the signer certificate's
 * key over every '#' line and the key line, each with its newline.  The
 * signer must carry CN managed-ssh-signer.<region>.<domain>, chain to the
 * trust store, and each certificate on its path below the trust anchor
 * needs a good OCSP staple signed by its issuer.
 *
 * Functions return KB_OK or a negative enum kb_err (detail via
 * kb_err_detail()). */
#ifndef KB_FLEET_EIC_H
#define KB_FLEET_EIC_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define KB_EIC_KEYS_MAX (256u * 1024u)   /* active-keys document */
#define KB_EIC_MAX_ENTRIES 1000u
#define KB_EIC_LINE_MAX 16384u
#define KB_EIC_CHAIN_MAX (64u * 1024u)   /* signer-cert document */
#define KB_EIC_CHAIN_CERTS 8u
#define KB_EIC_MAX_STAPLES 8u
#define KB_EIC_STAPLE_MAX (16u * 1024u)

struct kb_eic_filter {
	const char *instance_id;   /* entries for other instances are dropped */
	int64_t now;               /* entries with Timestamp <= now are dropped */
	const char *fingerprint;   /* "SHA256:..." or NULL for every key */
	EVP_PKEY *signer_key;      /* verifies each entry (borrowed) */
};

/* Appends the key line of every valid, unexpired, correctly signed entry
 * (with "\n") to out; *ret_count counts them.  Bad entries are skipped, not
 * errors; only limits (KB_ERR_TOO_LARGE) and allocation failures are. */
int kb_eic_filter_keys(const char *text, size_t len, const struct kb_eic_filter *f, struct kb_buf *out,
		       unsigned *ret_count);

/* "SHA256:<unpadded base64>" of an authorized_keys line's key blob, as
 * ssh-keygen -l prints it.  out needs 64 bytes. */
int kb_eic_fingerprint(const char *key_line, char *out, size_t n);

/* One OCSP staple as served: name (hex SHA-1 of the certificate) and DER. */
struct kb_eic_staple {
	char name[48];
	uint8_t *der;
	size_t len;
};

struct kb_eic_trust {
	const char *ca_file;   /* PEM bundle, or NULL */
	const char *ca_path;   /* hashed directory, or NULL */
	/* Both NULL: OpenSSL's default paths (/etc/ssl/certs). */
};

/* Verifies the chain (CN, trust, OCSP) and returns the signer's public key
 * (caller frees with EVP_PKEY_free). */
int kb_eic_verify_signer(const char *chain_pem, size_t len, const char *expected_cn,
			 const struct kb_eic_trust *trust, const struct kb_eic_staple *staples,
			 size_t nstaples, EVP_PKEY **ret_key);

/* Whether this machine is an EC2 instance, decided before the metadata is
 * trusted (a non-EC2 machine could reach a fake 169.254.169.254), from the
 * evidence AWS's eic_curl_authorized_keys accepts:
 *   /sys/hypervisor/uuid present (Xen): it must start with "ec2";
 *   else /sys/devices/virtual/dmi/id/board_asset_tag present (Nitro): it
 *     must be the instance id the metadata reports;
 *   else /sys/devices/virtual/dmi/id/product_uuid, when readable (root
 *     only), starting with "EC2";
 *   else: not an instance.
 * Paths are below root: "" (the real /sys), else --sysfs-root or
 * $BROKER_SYSFS_ROOT (tests). */
#define KB_EIC_HOST_VALUE_MAX 128u
enum kb_eic_host_verdict { KB_EIC_HOST_NOT_EC2 = 0, KB_EIC_HOST_EC2, KB_EIC_HOST_IF_INSTANCE };
struct kb_eic_host {
	enum kb_eic_host_verdict verdict;
	char asset_tag[KB_EIC_HOST_VALUE_MAX]; /* for KB_EIC_HOST_IF_INSTANCE */
	char why[320];                         /* the evidence, for the log */
};
/* The root to use: given (a command-line option), else $BROKER_SYSFS_ROOT,
 * else "" ("/" counts as ""). */
const char *kb_eic_sysfs_root(const char *given);
/* Reads the evidence (no network).  KB_ERR_INVALID for a relative root. */
int kb_eic_host_probe(const char *root, struct kb_eic_host *h);
/* Settles KB_EIC_HOST_IF_INSTANCE with the metadata's instance id; true
 * when the machine is an EC2 instance. */
bool kb_eic_host_confirm(struct kb_eic_host *h, const char *instance_id);

#endif
