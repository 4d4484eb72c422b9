/* Test helper: SSHSIG (PROTOCOL.sshsig) signatures with lib/ssh, so the
 * interop test can check our signatures with `ssh-keygen -Y verify` and
 * ssh-keygen's with ours.
 *   sshsig_tool sign PRIVATE_KEY NAMESPACE < MSG > SIG
 *   sshsig_tool verify PUBLIC_KEY_FILE NAMESPACE SIG < MSG   (exit 0 = good)
 *   sshsig_tool rawsign PRIVATE_KEY ALG|- < MSG > WIRE_SIGNATURE  (fuzz seeds) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "ssh/key.h"

#define BEGIN "-----BEGIN SSH SIGNATURE-----"
#define END "-----END SSH SIGNATURE-----"

static int read_stdin(struct kb_buf *b)
{
	uint8_t tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), stdin)) > 0)
		if (kb_buf_put(b, tmp, n) != KB_OK)
			return -1;
	return ferror(stdin) ? -1 : 0;
}

/* The blob that is signed: MAGIC, namespace, reserved, hash alg, H(msg). */
static int signed_data(const char *ns, const struct kb_buf *msg, struct kb_buf *out)
{
	uint8_t h[crypto_hash_sha512_BYTES];
	crypto_hash_sha512(h, kb_buf_ptr(msg), kb_buf_remaining(msg));
	if (kb_buf_put(out, "SSHSIG", 6) || kb_buf_put_cstring(out, ns) || kb_buf_put_string(out, NULL, 0) ||
	    kb_buf_put_cstring(out, "sha512") || kb_buf_put_string(out, h, sizeof(h)))
		return -1;
	return 0;
}

static char *slurp(const char *path, struct kb_buf *b)
{
	if (kb_read_file(path, 1 << 20, b) != KB_OK || kb_buf_put_u8(b, 0) != KB_OK) {
		fprintf(stderr, "sshsig_tool: cannot read %s\n", path);
		exit(2);
	}
	return (char *)kb_buf_ptr(b);
}

int main(int argc, char **argv)
{
	struct kb_buf msg, data, sig, blob, file, out;
	struct kb_key *k = NULL;
	int rc = 0;

	kb_init();
	kb_buf_init(&msg, 1 << 20);
	kb_buf_init(&data, 1 << 20);
	kb_buf_init(&sig, 1 << 16);
	kb_buf_init(&blob, 1 << 16);
	kb_buf_init_secure(&file, 1 << 20);
	kb_buf_init(&out, 1 << 17);
	if (argc < 4 || read_stdin(&msg) != 0)
		return 2;
	if (strcmp(argv[1], "rawsign") == 0) {
		char *text = slurp(argv[2], &file);
		if (kb_key_parse_private_file(text, strlen(text), NULL, &k, NULL) != KB_OK ||
		    kb_key_sign(k, kb_buf_ptr(&msg), kb_buf_remaining(&msg), strcmp(argv[3], "-") ? argv[3] : NULL,
				&sig) != KB_OK)
			return 2;
		fwrite(kb_buf_ptr(&sig), 1, kb_buf_remaining(&sig), stdout);
	} else if (strcmp(argv[1], "sign") == 0) {
		char *text = slurp(argv[2], &file);
		if (kb_key_parse_private_file(text, strlen(text), NULL, &k, NULL) != KB_OK)
			return 2;
		kb_buf_init(&blob, 1 << 16);
		if (signed_data(argv[3], &msg, &data) || kb_key_sign(k, kb_buf_ptr(&data), kb_buf_remaining(&data),
								      NULL, &sig) != KB_OK)
			return 2;
		struct kb_buf pub, whole;
		kb_buf_init(&pub, 1 << 16);
		kb_buf_init(&whole, 1 << 17);
		if (kb_key_public_blob(k, &pub) || kb_buf_put(&whole, "SSHSIG", 6) || kb_buf_put_u32(&whole, 1) ||
		    kb_buf_put_stringb(&whole, &pub) || kb_buf_put_cstring(&whole, argv[3]) ||
		    kb_buf_put_string(&whole, NULL, 0) || kb_buf_put_cstring(&whole, "sha512") ||
		    kb_buf_put_stringb(&whole, &sig) ||
		    kb_buf_put_base64(&out, kb_buf_ptr(&whole), kb_buf_remaining(&whole)))
			return 2;
		printf("%s\n", BEGIN);
		for (size_t i = 0; i < kb_buf_remaining(&out); i += 70)
			printf("%.*s\n", (int)(kb_buf_remaining(&out) - i > 70 ? 70 : kb_buf_remaining(&out) - i),
			       (const char *)kb_buf_ptr(&out) + i);
		printf("%s\n", END);
		kb_buf_done(&pub);
		kb_buf_done(&whole);
	} else if (strcmp(argv[1], "verify") == 0 && argc == 5) {
		char *pubtext = slurp(argv[2], &file), *b, *e;
		struct kb_buf sigfile, raw, in;
		const uint8_t *pk, *s;
		size_t pklen, slen;
		char *ns = NULL, *alg = NULL;
		uint8_t magic[6];
		uint32_t ver;
		struct kb_key *signer = NULL;
		int r;

		if (kb_key_parse_public_line(pubtext, &k, NULL) != KB_OK)
			return 2;
		kb_buf_init(&sigfile, 1 << 17);
		kb_buf_init(&raw, 1 << 17);
		b = strstr(slurp(argv[4], &sigfile), BEGIN);
		e = b ? strstr(b, END) : NULL;
		if (b == NULL || e == NULL)
			return 2;
		b += strlen(BEGIN);
		if (kb_buf_put_from_base64(&raw, b, (size_t)(e - b)) != KB_OK)
			return 2;
		kb_buf_init_ro(&in, kb_buf_ptr(&raw), kb_buf_remaining(&raw));
		if (kb_buf_get(&in, magic, 6) || memcmp(magic, "SSHSIG", 6) || kb_buf_get_u32(&in, &ver) || ver != 1 ||
		    kb_buf_get_string_direct(&in, &pk, &pklen) || kb_buf_get_cstring(&in, &ns) ||
		    kb_buf_get_string_direct(&in, &s, &slen) || kb_buf_get_cstring(&in, &alg) ||
		    kb_buf_get_string_direct(&in, &s, &slen) || kb_buf_expect_end(&in))
			return 2;
		if (kb_key_from_blob(pk, pklen, &signer) != KB_OK || !kb_key_equal_public(signer, k) ||
		    strcmp(ns, argv[3]) != 0 || strcmp(alg, "sha512") != 0) {
			fprintf(stderr, "sshsig_tool: wrong key, namespace or hash\n");
			exit(1);
		}
		if (signed_data(ns, &msg, &data))
			return 2;
		r = kb_key_verify(k, s, slen, kb_buf_ptr(&data), kb_buf_remaining(&data), NULL);
		if (r != KB_OK)
			fprintf(stderr, "sshsig_tool: %s\n", kb_err_str(r));
		free(ns);
		free(alg);
		kb_key_free(signer);
		kb_buf_done(&sigfile);
		kb_buf_done(&raw);
		kb_key_free(k);
		k = NULL;
		rc = r == KB_OK ? 0 : 1;
	} else {
		return 2;
	}
	kb_key_free(k);
	kb_buf_done(&msg);
	kb_buf_done(&data);
	kb_buf_done(&sig);
	kb_buf_done(&blob);
	kb_buf_done(&file);
	kb_buf_done(&out);
	return rc;
}
