/* Signing throughput of lib/ssh keys against raw OpenSSL / libsodium, with
 * 1 and N threads, and the cost of the alternative design that rebuilds
 * the EVP_PKEY from guarded memory for every signature.
 *   bench-keys-sign [SECONDS_PER_CASE] [THREADS] [raw]
 * "raw" measures only raw OpenSSL without ever creating a lib/ssh key, so
 * OpenSSL's secure heap stays off: compare its raw/s column with a normal
 * run to see what the secure heap costs. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sodium.h>

#include "core/buf.h"
#include "core/mem.h"
#include "ssh/key.h"

static double secs = 1.0;
static const uint8_t msg[64] = "session id and userauth request stand-in ......................";

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum mode { KB, RAW, REBUILD, RAW_FROMDATA };

struct job {
	enum mode mode;
	struct kb_key *k;
	EVP_PKEY *raw;
	const char *md;
	OSSL_PARAM *params;   /* RAW_FROMDATA: the key as parameters */
	uint8_t *rebuild_ser; /* private serialisation, guarded */
	size_t rebuild_len;
	long count;
};

static void *worker(void *p)
{
	struct job *j = p;
	struct kb_buf sig;
	uint8_t out[2048];
	double end = now() + secs;

	kb_buf_init(&sig, 4096);
	while (now() < end) {
		for (int i = 0; i < 16; i++) {
			if (j->mode == KB) {
				kb_buf_reset(&sig);
				if (kb_key_sign(j->k, msg, sizeof(msg), NULL, &sig) != 0)
					abort();
			} else if (j->mode == REBUILD) {
				struct kb_buf in;
				struct kb_key *k = NULL;
				kb_buf_init_ro(&in, j->rebuild_ser, j->rebuild_len);
				if (kb_key_private_deserialize(&in, &k) != 0)
					abort();
				kb_buf_reset(&sig);
				if (kb_key_sign(k, msg, sizeof(msg), NULL, &sig) != 0)
					abort();
				kb_key_free(k);
			} else {
				size_t n = sizeof(out);
				EVP_PKEY *pkey = j->raw;
				if (j->mode == RAW_FROMDATA) {
					EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, j->raw, NULL);
					pkey = NULL;
					if (pc == NULL || EVP_PKEY_fromdata_init(pc) != 1 ||
					    EVP_PKEY_fromdata(pc, &pkey, EVP_PKEY_KEYPAIR, j->params) != 1)
						abort();
					EVP_PKEY_CTX_free(pc);
				}
				EVP_MD_CTX *ctx = EVP_MD_CTX_new();
				if (ctx == NULL ||
				    EVP_DigestSignInit_ex(ctx, NULL, j->md, NULL, NULL, pkey, NULL) != 1 ||
				    EVP_DigestSign(ctx, out, &n, msg, sizeof(msg)) != 1)
					abort();
				EVP_MD_CTX_free(ctx);
				if (pkey != j->raw)
					EVP_PKEY_free(pkey);
			}
			j->count++;
		}
	}
	kb_buf_done(&sig);
	return NULL;
}

static double run(enum mode mode, struct kb_key *k, EVP_PKEY *raw, const char *md, int threads)
{
	pthread_t th[16];
	struct job jobs[16];
	struct kb_buf ser;
	long total = 0;

	OSSL_PARAM *params = NULL;

	kb_buf_init_secure(&ser, KB_KEY_PRIVATE_FILE_MAX);
	if (k != NULL && kb_key_private_serialize(k, &ser) != 0)
		abort();
	if (mode == RAW_FROMDATA && EVP_PKEY_todata(raw, EVP_PKEY_KEYPAIR, &params) != 1)
		abort();
	for (int t = 0; t < threads; t++) {
		jobs[t] = (struct job){ mode, k, raw, md, params, ser.data, ser.len, 0 };
		pthread_create(&th[t], NULL, worker, &jobs[t]);
	}
	for (int t = 0; t < threads; t++) {
		pthread_join(th[t], NULL);
		total += jobs[t].count;
	}
	kb_buf_done(&ser);
	OSSL_PARAM_free(params);
	return (double)total / secs;
}

struct ed_job {
	uint8_t *sk;
	long count;
};

static void *ed_worker(void *p)
{
	struct ed_job *j = p;
	uint8_t sig[64];
	double end = now() + secs;
	while (now() < end)
		for (int i = 0; i < 16; i++, j->count++)
			crypto_sign_detached(sig, NULL, msg, sizeof(msg), j->sk);
	return NULL;
}

static double run_raw_ed25519(int threads)
{
	uint8_t pk[32], *sk = kb_secure_alloc(64);
	pthread_t th[16];
	struct ed_job jobs[16];
	long total = 0;

	crypto_sign_keypair(pk, sk);
	for (int t = 0; t < threads; t++) {
		jobs[t] = (struct ed_job){ sk, 0 };
		pthread_create(&th[t], NULL, ed_worker, &jobs[t]);
	}
	for (int t = 0; t < threads; t++) {
		pthread_join(th[t], NULL);
		total += jobs[t].count;
	}
	kb_secure_free(sk);
	return (double)total / secs;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *label;
		enum kb_key_type type;
		unsigned bits;
		const char *ossl_type, *ossl_arg, *md;
	} cases[] = {
		{ "ed25519", KB_KEY_ED25519, 0, NULL, NULL, NULL },
		{ "ecdsa-p256", KB_KEY_ECDSA_P256, 0, "EC", "P-256", "SHA256" },
		{ "ecdsa-p384", KB_KEY_ECDSA_P384, 0, "EC", "P-384", "SHA384" },
		{ "rsa-2048", KB_KEY_RSA, 2048, "RSA", NULL, "SHA512" },
		{ "rsa-3072", KB_KEY_RSA, 3072, "RSA", NULL, "SHA512" },
		{ "rsa-4096", KB_KEY_RSA, 4096, "RSA", NULL, "SHA512" },
	};
	int threads = 2;
	int raw_only = argc > 3 && strcmp(argv[3], "raw") == 0;
	EVP_PKEY *raw_plain[sizeof(cases) / sizeof(cases[0])] = { 0 };

	if (argc > 1)
		secs = strtod(argv[1], NULL);
	if (argc > 2)
		threads = (int)strtol(argv[2], NULL, 10);
	if (threads < 1 || threads > 16 || secs <= 0)
		return 2;
	kb_init();
	/* Raw OpenSSL keys made before lib/ssh turns on the secure heap. */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].ossl_type == NULL)
			continue;
		raw_plain[i] = cases[i].ossl_arg ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", cases[i].ossl_arg)
						 : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)cases[i].bits);
	}
	printf("%-11s %7s %14s %14s %14s %14s\n", "key", "threads", "raw/s", "keybroker/s", "ratio",
	       "rebuild-each/s");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kb_key *k = NULL;
		if (raw_only) {
			for (int t = 1; t <= threads; t *= 2)
				if (cases[i].ossl_type)
					printf("%-11s %7d %14.0f   (EVP_PKEY built per signature: %.0f/s)\n",
					       cases[i].label, t, run(RAW, NULL, raw_plain[i], cases[i].md, t),
					       run(RAW_FROMDATA, NULL, raw_plain[i], cases[i].md, t));
			EVP_PKEY_free(raw_plain[i]);
			continue;
		}
		if (kb_key_generate(cases[i].type, cases[i].bits, &k) != 0)
			return 1;
		if (CRYPTO_secure_malloc_initialized())
			printf("(%s: OpenSSL secure heap bytes in use with the key alive: %zu)\n", cases[i].label,
			       CRYPTO_secure_used());
		for (int t = 1; t <= threads; t *= 2) {
			double raw = cases[i].ossl_type ? run(RAW, NULL, raw_plain[i], cases[i].md, t)
							: run_raw_ed25519(t);
			double ours = run(KB, k, NULL, NULL, t);
			double reb = run(REBUILD, k, NULL, NULL, t);
			printf("%-11s %7d %14.0f %14.0f %13.1f%% %14.0f\n", cases[i].label, t, raw, ours,
			       100.0 * ours / raw, reb);
			fflush(stdout);
		}
		kb_key_free(k);
		EVP_PKEY_free(raw_plain[i]);
	}
	printf("OpenSSL secure heap in use: %s\n", CRYPTO_secure_malloc_initialized() ? "yes" : "no");
	return 0;
}
