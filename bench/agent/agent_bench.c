/* Load generator for SSH agents (stock ssh-agent or broker-agent).
 *
 *   agent-bench sign SOCKET TYPE CLIENTS SECONDS [VERIFY_EVERY]
 *       Adds one fresh key of TYPE (ed25519, ecdsa, rsa-3072, rsa-4096),
 *       opens CLIENTS connections, keeps exactly one sign request in flight
 *       on each (fresh random data every time) and verifies signatures
 *       (every one by default; VERIFY_EVERY=n verifies one in n).
 *   agent-bench load SOCKET N        adds N fresh Ed25519 keys
 *   agent-bench list SOCKET CLIENTS SECONDS EXPECTED
 *       lists identities on every connection; checks the count each time.
 *   agent-bench openssl-rsa BITS THREADS SECONDS
 *       RSA signatures (SHA-512, PKCS#1 v1.5) by OpenSSL alone.
 *
 * Prints one line: "rate=<ops/s> p50_us=<> p99_us=<> ops=<n> errors=<n>".
 * Two client threads, each an epoll loop over its share of connections. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <sodium.h>

#include "agent/client.h"
#include "agent/proto.h"
#include "core/err.h"
#include "core/mem.h"
#include "ssh/key.h"

#define THREADS 2
#define DATA_LEN 64
#define MAX_SAMPLES (1u << 22)

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct conn {
	int fd;
	uint8_t data[DATA_LEN];
	uint8_t *in;
	size_t in_len, in_cap;
	double sent;
};

struct worker {
	pthread_t th;
	const char *path;
	struct kb_key *key; /* NULL in list mode */
	const uint8_t *blob;
	size_t blob_len;
	uint32_t flags;
	int nconn;
	unsigned verify_every;
	uint32_t expect_keys;
	double start, stop;
	unsigned long ops, errors;
	uint32_t *lat_us;
	size_t nlat;
};

static int connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		perror("connect");
		exit(1);
	}
	return fd;
}

static void send_request(struct worker *w, struct conn *c)
{
	uint8_t msg[KB_KEY_BLOB_MAX + 128];
	size_t n = 4;

	if (w->key == NULL) {
		msg[n++] = KB_AGENTC_REQUEST_IDENTITIES;
	} else {
		randombytes_buf(c->data, sizeof(c->data));
		msg[n++] = KB_AGENTC_SIGN_REQUEST;
		msg[n++] = (uint8_t)(w->blob_len >> 24);
		msg[n++] = (uint8_t)(w->blob_len >> 16);
		msg[n++] = (uint8_t)(w->blob_len >> 8);
		msg[n++] = (uint8_t)w->blob_len;
		memcpy(msg + n, w->blob, w->blob_len);
		n += w->blob_len;
		msg[n++] = 0;
		msg[n++] = 0;
		msg[n++] = 0;
		msg[n++] = DATA_LEN;
		memcpy(msg + n, c->data, DATA_LEN);
		n += DATA_LEN;
		msg[n++] = (uint8_t)(w->flags >> 24);
		msg[n++] = (uint8_t)(w->flags >> 16);
		msg[n++] = (uint8_t)(w->flags >> 8);
		msg[n++] = (uint8_t)w->flags;
	}
	uint32_t len = (uint32_t)(n - 4);
	msg[0] = (uint8_t)(len >> 24);
	msg[1] = (uint8_t)(len >> 16);
	msg[2] = (uint8_t)(len >> 8);
	msg[3] = (uint8_t)len;
	c->sent = now_s();
	c->in_len = 0;
	if (write(c->fd, msg, n) != (ssize_t)n) {
		perror("write");
		exit(1);
	}
}

/* Checks one complete reply; returns 0 when good. */
static int check_reply(struct worker *w, struct conn *c, bool verify)
{
	struct kb_buf b;
	uint8_t t;
	kb_buf_init_ro(&b, c->in + 4, c->in_len - 4);
	if (kb_buf_get_u8(&b, &t) != 0)
		return -1;
	if (w->key == NULL) {
		uint32_t n;
		return t == KB_AGENT_IDENTITIES_ANSWER && kb_buf_get_u32(&b, &n) == 0 && n == w->expect_keys ? 0 : -1;
	}
	const uint8_t *sig;
	size_t siglen;
	if (t != KB_AGENT_SIGN_RESPONSE || kb_buf_get_string_direct(&b, &sig, &siglen) != 0)
		return -1;
	if (!verify)
		return 0;
	return kb_key_verify(w->key, sig, siglen, c->data, DATA_LEN, NULL) == 0 ? 0 : -1;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct conn *conns = calloc((size_t)w->nconn, sizeof(*conns));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event evs[256];
	unsigned long n_done = 0;

	w->lat_us = malloc(MAX_SAMPLES * sizeof(*w->lat_us));
	for (int i = 0; i < w->nconn; i++) {
		conns[i].fd = connect_to(w->path);
		conns[i].in_cap = 1u << 20;
		conns[i].in = malloc(conns[i].in_cap);
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &conns[i] };
		epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
	}
	for (int i = 0; i < w->nconn; i++)
		send_request(w, &conns[i]);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, 1000);
		double t = now_s();
		if (t >= w->stop)
			break;
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
			if (r <= 0) {
				fprintf(stderr, "agent closed a connection\n");
				exit(1);
			}
			c->in_len += (size_t)r;
			if (c->in_len < 4)
				continue;
			size_t want = 4 + ((size_t)c->in[0] << 24 | (size_t)c->in[1] << 16 | (size_t)c->in[2] << 8 | c->in[3]);
			if (want > c->in_cap) {
				fprintf(stderr, "reply too large\n");
				exit(1);
			}
			if (c->in_len < want)
				continue;
			n_done++;
			bool verify = w->verify_every <= 1 || n_done % w->verify_every == 0;
			if (check_reply(w, c, verify) != 0)
				w->errors++;
			double done = now_s();
			if (c->sent >= w->start) {
				w->ops++;
				if (w->nlat < MAX_SAMPLES)
					w->lat_us[w->nlat++] = (uint32_t)((done - c->sent) * 1e6);
			}
			send_request(w, c);
		}
	}
	for (int i = 0; i < w->nconn; i++) {
		close(conns[i].fd);
		free(conns[i].in);
	}
	free(conns);
	close(ep);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void run(const char *path, struct kb_key *key, uint32_t flags, int clients, double secs, unsigned verify_every,
		uint32_t expect)
{
	struct worker w[THREADS];
	struct kb_buf blob;
	double start = now_s() + 0.5, stop = start + secs;

	kb_buf_init(&blob, KB_KEY_BLOB_MAX);
	if (key != NULL && kb_key_public_blob(key, &blob) != 0)
		exit(1);
	memset(w, 0, sizeof(w));
	for (int i = 0; i < THREADS; i++) {
		w[i].path = path;
		w[i].key = key;
		w[i].blob = kb_buf_ptr(&blob);
		w[i].blob_len = kb_buf_remaining(&blob);
		w[i].flags = flags;
		w[i].nconn = clients / THREADS + (i < clients % THREADS);
		w[i].verify_every = verify_every;
		w[i].expect_keys = expect;
		w[i].start = start;
		w[i].stop = stop;
		if (w[i].nconn > 0)
			pthread_create(&w[i].th, NULL, worker_main, &w[i]);
	}
	unsigned long ops = 0, errors = 0;
	size_t nlat = 0;
	for (int i = 0; i < THREADS; i++) {
		if (w[i].nconn > 0)
			pthread_join(w[i].th, NULL);
		ops += w[i].ops;
		errors += w[i].errors;
		nlat += w[i].nlat;
	}
	uint32_t *all = malloc((nlat ? nlat : 1) * sizeof(*all));
	size_t k = 0;
	for (int i = 0; i < THREADS; i++) {
		if (w[i].nlat)
			memcpy(all + k, w[i].lat_us, w[i].nlat * sizeof(*all));
		k += w[i].nlat;
		free(w[i].lat_us);
	}
	qsort(all, nlat, sizeof(*all), cmp_u32);
	printf("rate=%.0f p50_us=%u p99_us=%u ops=%lu errors=%lu\n", (double)ops / secs, nlat ? all[nlat / 2] : 0,
	       nlat ? all[nlat * 99 / 100] : 0, ops, errors);
	free(all);
	kb_buf_done(&blob);
}

struct rsa_arg {
	EVP_PKEY *pkey;
	double stop;
	unsigned long ops;
};

static void *rsa_main(void *arg)
{
	struct rsa_arg *a = arg;
	uint8_t data[DATA_LEN], sig[1024];
	while (now_s() < a->stop) {
		size_t siglen = sizeof(sig);
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		randombytes_buf(data, sizeof(data));
		if (EVP_DigestSignInit(md, NULL, EVP_sha512(), NULL, a->pkey) != 1 ||
		    EVP_DigestSign(md, sig, &siglen, data, sizeof(data)) != 1)
			exit(1);
		EVP_MD_CTX_free(md);
		a->ops++;
	}
	return NULL;
}

static void openssl_rsa(unsigned bits, int threads, double secs)
{
	EVP_PKEY *pkey = EVP_RSA_gen(bits);
	struct rsa_arg a[16];
	pthread_t th[16];
	double stop = now_s() + secs;
	unsigned long ops = 0;

	if (pkey == NULL || threads < 1 || threads > 16)
		exit(1);
	for (int i = 0; i < threads; i++) {
		a[i] = (struct rsa_arg){ .pkey = pkey, .stop = stop };
		pthread_create(&th[i], NULL, rsa_main, &a[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		ops += a[i].ops;
	}
	printf("rate=%.0f p50_us=0 p99_us=0 ops=%lu errors=0\n", (double)ops / secs, ops);
	EVP_PKEY_free(pkey);
}

static int num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0 || v > 1000000) {
		fprintf(stderr, "bad number: %s\n", s);
		exit(2);
	}
	return (int)v;
}

static struct kb_key *add_key(const char *path, const char *type, uint32_t *flags)
{
	struct kb_agent_client *c;
	struct kb_key *k = NULL;
	enum kb_key_type t = KB_KEY_ED25519;
	unsigned bits = 0;

	*flags = 0;
	if (strcmp(type, "ecdsa") == 0) {
		t = KB_KEY_ECDSA_P256;
	} else if (strncmp(type, "rsa-", 4) == 0) {
		t = KB_KEY_RSA;
		bits = (unsigned)strtoul(type + 4, NULL, 10);
		*flags = KB_AGENT_RSA_SHA2_512;
	}
	if (kb_key_generate(t, bits, &k) != 0 || kb_agent_connect(path, &c) != 0 ||
	    kb_agent_add(c, k, "bench", NULL) != 0) {
		fprintf(stderr, "cannot add a %s key: %s\n", type, kb_err_detail());
		exit(1);
	}
	kb_agent_close(c);
	return k;
}

int main(int argc, char **argv)
{
	if (kb_init() != 0 || argc < 2)
		goto usage;
	if (strcmp(argv[1], "sign") == 0 && (argc == 6 || argc == 7)) {
		uint32_t flags;
		struct kb_key *k = add_key(argv[2], argv[3], &flags);
		run(argv[2], k, flags, num(argv[4]), strtod(argv[5], NULL), argc == 7 ? (unsigned)num(argv[6]) : 1, 0);
		kb_key_free(k);
		return 0;
	}
	if (strcmp(argv[1], "load") == 0 && argc == 4) {
		struct kb_agent_client *c;
		if (kb_agent_connect(argv[2], &c) != 0)
			return 1;
		for (int i = 0; i < num(argv[3]); i++) {
			struct kb_key *k = NULL;
			char comment[64];
			snprintf(comment, sizeof(comment), "bench-key-%d@loadtest", i);
			if (kb_key_generate(KB_KEY_ED25519, 0, &k) != 0 || kb_agent_add(c, k, comment, NULL) != 0)
				return 1;
			kb_key_free(k);
		}
		kb_agent_close(c);
		return 0;
	}
	if (strcmp(argv[1], "list") == 0 && argc == 6) {
		run(argv[2], NULL, 0, num(argv[3]), strtod(argv[4], NULL), 1, (uint32_t)num(argv[5]));
		return 0;
	}
	if (strcmp(argv[1], "openssl-rsa") == 0 && argc == 5) {
		openssl_rsa((unsigned)num(argv[2]), num(argv[3]), strtod(argv[4], NULL));
		return 0;
	}
usage:
	fprintf(stderr, "usage: agent-bench sign|load|list|openssl-rsa ... (see the source header)\n");
	return 2;
}
