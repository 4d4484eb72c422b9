/* Unit tests of EC2 Instance Connect entry filtering: signatures (RSA-PSS
 * made here with OpenSSL), expiry, instance, fingerprint, malformed entries,
 * truncation and bit flips; the EC2 host check against fake sysfs trees. */
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/util.h"
#include "fleet/eic.h"
#include "kbtest.h"

#define KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMdBrGM3PYRrBHMeutkPiCmOcF2GLNXLm60gbfT7us4U t"
#define KEY2 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmFQOxXJ0fVYgqVTxPpbtUk4ZQHgOzxSJ24FwrZrW6V other"
#define INST "i-0123456789abcdef0"
#define NOW 1800000000

static EVP_PKEY *key, *other_key;

/* An entry: headers + key line, signed by k, signature wrapped at 64. */
static char *entry(EVP_PKEY *k, const char *headers, const char *keyline)
{
	char *signed_data = kb_asprintf("%s%s\n", headers, keyline);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char sig[512];
	size_t siglen = sizeof(sig);
	struct kb_buf b64;
	char *out;

	EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, k);
	EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
	EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32);
	EVP_DigestSign(md, sig, &siglen, (const unsigned char *)signed_data, strlen(signed_data));
	EVP_MD_CTX_free(md);
	kb_buf_init(&b64, 4096);
	kb_buf_put_base64(&b64, sig, siglen);
	size_t n = kb_buf_remaining(&b64);
	char *wrapped = calloc(1, n + n / 64 + 2), *w = wrapped;
	for (size_t i = 0; i < n; i++) {
		*w++ = (char)kb_buf_ptr(&b64)[i];
		if (i % 64 == 63 && i + 1 < n)
			*w++ = '\n';
	}
	out = kb_asprintf("%s%s\n", signed_data, wrapped);
	free(wrapped);
	free(signed_data);
	kb_buf_done(&b64);
	return out;
}

static char *headers(long ts, const char *inst)
{
	return kb_asprintf("#Timestamp=%ld\n#Instance=%s\n#Caller=arn:aws:iam::1:user/x\n#Request=r-1\n", ts, inst);
}

static unsigned run(const char *text, const char *fp, struct kb_buf *out)
{
	struct kb_eic_filter f = { .instance_id = INST, .now = NOW, .fingerprint = fp, .signer_key = key };
	unsigned count = 0;
	kb_buf_reset(out);
	int r = kb_eic_filter_keys(text, strlen(text), &f, out, &count);
	KBT_CHECK_INT(r, 0);
	return count;
}

static void test_fingerprint(void)
{
	char fp[80];
	KBT_CHECK_INT(kb_eic_fingerprint(KEY, fp, sizeof(fp)), 0);
	/* ssh-keygen -lf says so. */
	KBT_CHECK_STR(fp, "SHA256:nIydjBZTKFQhvD69RYjjrt3mlui+/2+LALpO2JvJ4N8");
	KBT_CHECK(kb_eic_fingerprint("ssh-ed25519", fp, sizeof(fp)) != 0);
	KBT_CHECK(kb_eic_fingerprint("ssh-ed25519 !!!", fp, sizeof(fp)) != 0);
}

static void test_accept_and_reject(void)
{
	struct kb_buf out;
	char *h = headers(NOW + 30, INST), *e = entry(key, h, KEY);
	kb_buf_init(&out, KB_EIC_KEYS_MAX);

	KBT_CHECK_INT(run(e, NULL, &out), 1);
	KBT_CHECK(kb_buf_remaining(&out) == strlen(KEY) + 1 && memcmp(kb_buf_ptr(&out), KEY "\n", strlen(KEY) + 1) == 0);
	KBT_CHECK_INT(run(e, "SHA256:nIydjBZTKFQhvD69RYjjrt3mlui+/2+LALpO2JvJ4N8", &out), 1);
	KBT_CHECK_INT(run(e, "SHA256:somethingelse", &out), 0);
	free(e);
	/* Signed by another key. */
	e = entry(other_key, h, KEY);
	KBT_CHECK_INT(run(e, NULL, &out), 0);
	free(e);
	free(h);
	/* Expired: Timestamp == now is already too late. */
	h = headers(NOW, INST);
	e = entry(key, h, KEY);
	KBT_CHECK_INT(run(e, NULL, &out), 0);
	free(e);
	free(h);
	/* Another instance. */
	h = headers(NOW + 30, "i-0123456789abcdef1");
	e = entry(key, h, KEY);
	KBT_CHECK_INT(run(e, NULL, &out), 0);
	free(e);
	free(h);
	/* No Instance, no Timestamp. */
	e = entry(key, "#Timestamp=1900000000\n", KEY);
	KBT_CHECK_INT(run(e, NULL, &out), 0);
	free(e);
	e = entry(key, "#Instance=" INST "\n", KEY);
	KBT_CHECK_INT(run(e, NULL, &out), 0);
	free(e);
	/* Unknown '#' lines are signed too: accepted when signed... */
	e = entry(key, "#Timestamp=1900000000\n#Instance=" INST "\n#Future=1\n", KEY);
	KBT_CHECK_INT(run(e, NULL, &out), 1);
	free(e);
	/* ...and a line slipped in after signing breaks the signature. */
	h = headers(NOW + 30, INST);
	e = entry(key, h, KEY);
	char *forged = kb_asprintf("#Extra=1\n%s", e);
	KBT_CHECK_INT(run(forged, NULL, &out), 0);
	free(forged);
	/* The key swapped after signing. */
	char *swapped = kb_asprintf("%s", e);
	char *at = strstr(swapped, "AAAAC3");
	memcpy(at, "AAAAC3NzaC1lZDI1NTE5AAAAIBmFQOxXJ0fVYgqVTxPpbtUk4ZQHgOzxSJ24FwrZrW6V", 68);
	KBT_CHECK_INT(run(swapped, NULL, &out), 0);
	free(swapped);
	free(e);
	free(h);
	kb_buf_done(&out);
}

static void test_mixed(void)
{
	struct kb_buf out;
	char *h = headers(NOW + 30, INST), *hx = headers(NOW - 1, INST);
	char *good1 = entry(key, h, KEY), *good2 = entry(key, h, KEY2), *old = entry(key, hx, KEY2);
	/* Garbage entry (not a key line) must be skipped up to its blank line. */
	char *text = kb_asprintf("%s\n#Timestamp=1\nnot a key\nstill junk\n\n%s\n\n\n%s\n%s", old, good1, "garbage\n", good2);
	kb_buf_init(&out, KB_EIC_KEYS_MAX);
	KBT_CHECK_INT(run(text, NULL, &out), 2);
	KBT_CHECK(kb_buf_remaining(&out) == strlen(KEY) + strlen(KEY2) + 2);
	free(text);
	free(good1);
	free(good2);
	free(old);
	free(h);
	free(hx);
	kb_buf_done(&out);
}

static void test_limits(void)
{
	struct kb_eic_filter f = { .instance_id = INST, .now = NOW, .signer_key = key };
	struct kb_buf out;
	unsigned count = 0;
	kb_buf_init(&out, KB_EIC_KEYS_MAX);
	KBT_CHECK_INT(kb_eic_filter_keys("", (size_t)KB_EIC_KEYS_MAX + 1, &f, &out, &count), KB_ERR_TOO_LARGE);
	/* Many tiny entries: stopped at the entry cap. */
	size_t n = (KB_EIC_MAX_ENTRIES + 10) * 3;
	char *many = malloc(n + 1);
	for (size_t i = 0; i < n; i += 3)
		memcpy(many + i, "x\n\n", 3);
	many[n] = '\0';
	KBT_CHECK_INT(kb_eic_filter_keys(many, n, &f, &out, &count), KB_ERR_TOO_LARGE);
	KBT_CHECK_INT(count, 0);
	free(many);
	kb_buf_done(&out);
}

static void test_truncate_and_flip(void)
{
	struct kb_buf out;
	char *h = headers(NOW + 30, INST), *e = entry(key, h, KEY);
	size_t len = strlen(e);
	unsigned accepted = 0;
	kb_buf_init(&out, KB_EIC_KEYS_MAX);
	for (size_t n = 0; n < len; n++) {
		struct kb_eic_filter f = { .instance_id = INST, .now = NOW, .signer_key = key };
		unsigned count = 0;
		char *copy = malloc(n ? n : 1);
		memcpy(copy, e, n);
		kb_buf_reset(&out);
		KBT_CHECK_INT(kb_eic_filter_keys(copy, n, &f, &out, &count), 0);
		accepted += count;
		free(copy);
	}
	/* Only prefixes that still hold the whole signature may pass
	 * (dropping the final newline, nothing else). */
	KBT_CHECK(accepted <= 1);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			struct kb_eic_filter f = { .instance_id = INST, .now = NOW, .signer_key = key };
			unsigned count = 0;
			e[i] ^= (char)(1 << bit);
			kb_buf_reset(&out);
			KBT_CHECK_INT(kb_eic_filter_keys(e, len, &f, &out, &count), 0);
			/* A flip in the signed part or the signature must not verify;
			 * flips in base64 padding/whitespace may still decode the same. */
			if (count == 1 && i < strlen(h) + strlen(KEY) + 1)
				KBT_CHECK(!"a flipped signed byte verified");
			e[i] ^= (char)(1 << bit);
		}
	}
	free(e);
	free(h);
	kb_buf_done(&out);
}

/* ---- is this an EC2 instance? (fake sysfs trees) ---- */

static char sysroot[256];

static void put(const char *rel, const char *text)
{
	char path[512], dir[512];
	snprintf(path, sizeof(path), "%s%s", sysroot, rel);
	kb_strlcpy(dir, path, sizeof(dir));
	for (char *p = dir + strlen(sysroot) + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(dir, 0755);
			*p = '/';
		}
	FILE *f = fopen(path, "w");
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static void clear(void)
{
	char path[512];
	const char *files[] = { "/sys/hypervisor/uuid", "/sys/devices/virtual/dmi/id/board_asset_tag",
				"/sys/devices/virtual/dmi/id/product_uuid" };
	for (size_t i = 0; i < KB_ARRAY_SIZE(files); i++) {
		snprintf(path, sizeof(path), "%s%s", sysroot, files[i]);
		unlink(path);
	}
}

static enum kb_eic_host_verdict probe(void)
{
	struct kb_eic_host h;
	KBT_CHECK_INT(kb_eic_host_probe(sysroot, &h), KB_OK);
	KBT_CHECK(h.why[0] != '\0');
	return h.verdict;
}

static void test_host_check(void)
{
	struct kb_eic_host h;
	char big[400];

	snprintf(sysroot, sizeof(sysroot), "/tmp/kb-eic-host-XXXXXX");
	KBT_CHECK(mkdtemp(sysroot) != NULL);
	/* Nothing at all: not an instance. */
	KBT_CHECK_INT(probe(), KB_EIC_HOST_NOT_EC2);
	/* Xen: the hypervisor uuid decides, whatever else is there. */
	put("/sys/hypervisor/uuid", "ec2e1916-9099-7caf-fd21-012345abcdef\n");
	KBT_CHECK_INT(probe(), KB_EIC_HOST_EC2);
	put("/sys/hypervisor/uuid", "EC2E1916-9099-7CAF-FD21-012345ABCDEF");
	KBT_CHECK_INT(probe(), KB_EIC_HOST_EC2);
	put("/sys/devices/virtual/dmi/id/board_asset_tag", INST "\n");
	put("/sys/hypervisor/uuid", "4b2e1916-9099-7caf-fd21-012345abcdef\n");
	KBT_CHECK_INT(probe(), KB_EIC_HOST_NOT_EC2);
	put("/sys/hypervisor/uuid", "");
	KBT_CHECK_INT(probe(), KB_EIC_HOST_NOT_EC2);
	/* Nitro: the asset tag must be the metadata's instance id. */
	clear();
	put("/sys/devices/virtual/dmi/id/board_asset_tag", INST "\n");
	KBT_CHECK(kb_eic_host_probe(sysroot, &h) == KB_OK && h.verdict == KB_EIC_HOST_IF_INSTANCE);
	KBT_CHECK(kb_eic_host_confirm(&h, INST));
	KBT_CHECK(kb_eic_host_probe(sysroot, &h) == KB_OK && !kb_eic_host_confirm(&h, "i-0123456789abcdef1"));
	KBT_CHECK_INT(h.verdict, KB_EIC_HOST_NOT_EC2);
	KBT_CHECK(kb_eic_host_probe(sysroot, &h) == KB_OK && !kb_eic_host_confirm(&h, NULL));
	KBT_CHECK(kb_eic_host_probe(sysroot, &h) == KB_OK && !kb_eic_host_confirm(&h, "i-0123456789abcdef"));
	put("/sys/devices/virtual/dmi/id/board_asset_tag", "Default string\n");
	KBT_CHECK_INT(probe(), KB_EIC_HOST_NOT_EC2);
	put("/sys/devices/virtual/dmi/id/board_asset_tag", "");
	KBT_CHECK_INT(probe(), KB_EIC_HOST_NOT_EC2);
	/* An asset tag present but odd is not overridden by the product uuid. */
	put("/sys/devices/virtual/dmi/id/product_uuid", "EC2AE145-D1DC-13B2-94ED-01234ABCDEF\n");
	KBT_CHECK_INT(probe(), KB_EIC_HOST_NOT_EC2);
	/* Only the product uuid. */
	clear();
	put("/sys/devices/virtual/dmi/id/product_uuid", "EC2AE145-D1DC-13B2-94ED-01234ABCDEF\n");
	KBT_CHECK_INT(probe(), KB_EIC_HOST_EC2);
	put("/sys/devices/virtual/dmi/id/product_uuid", "4C4C4544-0042-3510-8052-B4C04F313233\n");
	KBT_CHECK_INT(probe(), KB_EIC_HOST_NOT_EC2);
	/* Oversized or binary values are not evidence. */
	clear();
	memset(big, 'e', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[1] = 'c';
	big[2] = '2';
	put("/sys/hypervisor/uuid", big);
	KBT_CHECK_INT(probe(), KB_EIC_HOST_NOT_EC2);
	put("/sys/hypervisor/uuid", "ec2\001x");
	KBT_CHECK_INT(probe(), KB_EIC_HOST_NOT_EC2);
	clear();
	/* The root: relative refused; option over environment; "/" is the real one. */
	KBT_CHECK_INT(kb_eic_host_probe("tmp/x", &h), KB_ERR_INVALID);
	setenv("BROKER_SYSFS_ROOT", "/from/env", 1);
	KBT_CHECK_STR(kb_eic_sysfs_root(NULL), "/from/env");
	KBT_CHECK_STR(kb_eic_sysfs_root("/given"), "/given");
	unsetenv("BROKER_SYSFS_ROOT");
	KBT_CHECK_STR(kb_eic_sysfs_root(NULL), "");
	KBT_CHECK_STR(kb_eic_sysfs_root("/"), "");
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "%s/sys/devices/virtual/dmi/id", sysroot);
	rmdir(cmd);
	snprintf(cmd, sizeof(cmd), "%s/sys/devices/virtual/dmi", sysroot);
	rmdir(cmd);
	snprintf(cmd, sizeof(cmd), "%s/sys/devices/virtual", sysroot);
	rmdir(cmd);
	snprintf(cmd, sizeof(cmd), "%s/sys/devices", sysroot);
	rmdir(cmd);
	snprintf(cmd, sizeof(cmd), "%s/sys/hypervisor", sysroot);
	rmdir(cmd);
	snprintf(cmd, sizeof(cmd), "%s/sys", sysroot);
	rmdir(cmd);
	rmdir(sysroot);
}

int main(void)
{
	key = EVP_RSA_gen(2048);
	other_key = EVP_RSA_gen(2048);
	KBT_RUN(test_fingerprint);
	KBT_RUN(test_accept_and_reject);
	KBT_RUN(test_mixed);
	KBT_RUN(test_limits);
	KBT_RUN(test_truncate_and_flip);
	KBT_RUN(test_host_check);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other_key);
	return kbt_done();
}
