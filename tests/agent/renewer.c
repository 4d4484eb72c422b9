/* Test driver for certificate renewal through broker-agent's
 * replace-identity@keybroker extension (what broker exec / broker issue do).
 *
 *   test-agent-renewer loop SOCK STOPFILE INTERVAL_MS KEY...
 *     Adds KEY0 (private key file; its KEY0-cert.pub attached), then until
 *     STOPFILE exists replaces the current identity by the next KEY (round
 *     robin) every INTERVAL_MS.  Prints "ready" once the first identity is
 *     in, and "replaces N" at the end.
 *   test-agent-renewer add SOCK KEY / replace SOCK OLDKEY NEWKEY
 *     One add, or one replace (exit 0 when the agent said SUCCESS).
 *   test-agent-renewer sign SOCK KEY
 *     Asks the agent to sign random data with KEY's certificate blob and
 *     verifies the signature; exit 0 when signed and verified, 1 when the
 *     agent refused, 2 on other errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "agent/client.h"
#include "cert/cert.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "ssh/key.h"

static struct kb_key *load(const char *path)
{
	struct kb_buf text, pub;
	struct kb_key *k = NULL, *c = NULL;
	struct kb_cert *cert = NULL;
	char *certpath = kb_asprintf("%s-cert.pub", path);

	kb_buf_init_secure(&text, 1u << 20);
	kb_buf_init(&pub, 1u << 20);
	if (certpath == NULL || kb_read_file(path, 1u << 20, &text) != 0 ||
	    kb_key_parse_private_file((const char *)kb_buf_ptr(&text), kb_buf_remaining(&text), NULL, &k, NULL) != 0 ||
	    kb_read_file(certpath, 1u << 20, &pub) != 0 || kb_buf_put_u8(&pub, 0) != 0 ||
	    kb_key_parse_public_line((const char *)kb_buf_ptr(&pub), &c, NULL) != 0 || !kb_key_is_cert(c) ||
	    kb_cert_dup(kb_key_cert(c), &cert) != 0 || kb_key_attach_cert(k, cert) != 0) {
		fprintf(stderr, "renewer: cannot load %s with its certificate: %s\n", path, kb_err_detail());
		kb_cert_free(cert);
		kb_key_free(k);
		k = NULL;
	}
	kb_key_free(c);
	kb_buf_done(&text);
	kb_buf_done(&pub);
	free(certpath);
	return k;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int do_loop(const char *sock, const char *stop, unsigned interval, char **paths, size_t n)
{
	struct kb_agent_client *c = NULL;
	struct kb_key **keys = calloc(n, sizeof(*keys));
	struct kb_agent_constraints cons = { .lifetime = 3600 };
	unsigned long replaces = 0, failures = 0;
	int rc = 2;

	if (keys == NULL)
		return 2;
	for (size_t i = 0; i < n; i++)
		if ((keys[i] = load(paths[i])) == NULL)
			goto out;
	if (kb_agent_connect(sock, &c) != 0 || kb_agent_add(c, keys[0], "kbrenew", &cons) != 0) {
		fprintf(stderr, "renewer: cannot add the first identity: %s\n", kb_err_detail());
		goto out;
	}
	printf("ready\n");
	fflush(stdout);
	for (size_t cur = 0; access(stop, F_OK) != 0;) {
		sleep_ms(interval);
		size_t next = (cur + 1) % n;
		/* One connection per renewal, as broker does. */
		kb_agent_close(c);
		c = NULL;
		if (kb_agent_connect(sock, &c) != 0)
			goto out;
		if (kb_agent_replace(c, keys[cur], keys[next], "kbrenew", &cons) == 0) {
			replaces++;
			cur = next;
		} else {
			failures++;
		}
	}
	printf("replaces %lu failed %lu\n", replaces, failures);
	rc = failures == 0 ? 0 : 1;
out:
	kb_agent_close(c);
	for (size_t i = 0; i < n; i++)
		kb_key_free(keys[i]);
	free(keys);
	return rc;
}

static int do_sign(const char *sock, const char *path)
{
	struct kb_agent_client *c = NULL;
	struct kb_key *k = load(path);
	struct kb_buf sig;
	uint8_t data[64];
	int rc = 2;

	randombytes_buf(data, sizeof(data));
	kb_buf_init(&sig, 4096);
	if (k == NULL || kb_agent_connect(sock, &c) != 0)
		goto out;
	int r = kb_agent_sign(c, k, data, sizeof(data), 0, &sig);
	if (r == KB_ERR_DENIED) {
		rc = 1;
	} else if (r == 0) {
		rc = kb_key_verify(k, kb_buf_ptr(&sig), kb_buf_remaining(&sig), data, sizeof(data), NULL) == 0 ? 0 : 2;
		if (rc != 0)
			fprintf(stderr, "renewer: signature does not verify\n");
	}
out:
	kb_buf_done(&sig);
	kb_agent_close(c);
	kb_key_free(k);
	return rc;
}

static int do_once(const char *sock, const char *oldpath, const char *path)
{
	struct kb_agent_client *c = NULL;
	struct kb_key *old = oldpath ? load(oldpath) : NULL, *k = load(path);
	struct kb_agent_constraints cons = { .lifetime = 3600 };
	int rc = 2;

	if (k == NULL || (oldpath != NULL && old == NULL) || kb_agent_connect(sock, &c) != 0)
		goto out;
	int r = old ? kb_agent_replace(c, old, k, "kbrenew", &cons) : kb_agent_add(c, k, "kbrenew", &cons);
	rc = r == 0 ? 0 : 1;
out:
	kb_agent_close(c);
	kb_key_free(old);
	kb_key_free(k);
	return rc;
}

int main(int argc, char **argv)
{
	uint64_t interval;

	if (kb_init() != 0)
		return 2;
	if (argc >= 6 && strcmp(argv[1], "loop") == 0 && kb_parse_u64(argv[4], 60000, &interval) == 0)
		return do_loop(argv[2], argv[3], (unsigned)interval, argv + 5, (size_t)(argc - 5));
	if (argc == 4 && strcmp(argv[1], "sign") == 0)
		return do_sign(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "add") == 0)
		return do_once(argv[2], NULL, argv[3]);
	if (argc == 5 && strcmp(argv[1], "replace") == 0)
		return do_once(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: test-agent-renewer loop SOCK STOPFILE INTERVAL_MS KEY... | sign SOCK KEY |\n"
			"       add SOCK KEY | replace SOCK OLDKEY NEWKEY\n");
	return 2;
}
