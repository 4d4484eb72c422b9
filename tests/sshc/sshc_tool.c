/* Test driver for broker/sshc: drives kb_sshc_* against a real sshd.
 *
 *   sshc-tool [-k KNOWN_HOSTS] [-i KEYFILE | -A SOCK [-P PUBFILE]]
 *             [-T CONNECT_MS] [-C COMMAND_MS] [-a AUTHKEYS] [-j THREADS]
 *             [-n REPEAT] [-H HOST_CERT_PATHS] TARGET OP [ARGS...]
 *   OP: connect | exec CMD (stdin passed through) | add PUB [COMMENT]
 *       | remove PUB | has PUB | parse (prints the canonical target)
 *
 * Exit codes: the command's status for exec, 0 for success otherwise, and
 * for errors: 10 timeout, 11 auth, 12 unknown host, 13 host key changed,
 * 14 revoked, 15 network, 16 too large, 17 args, 1 anything else.  The
 * error goes to stderr as "sshc-tool: <kb_err_str>: <detail>".  With -n,
 * prints "avg_ms=<mean of connect+op+close>" on stdout. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "ssh/key.h"
#include "sshc/sshc.h"
#include "sshc/sshc_priv.h"

static struct kb_sshc_opts opts;
static struct kb_ssh_target target;
static const char *op;
static char **args;
static int nargs;
static struct kb_buf input;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static int exit_code(int r)
{
	switch (r) {
	case KB_ERR_TIMEOUT: return 10;
	case KB_ERR_AUTH: return 11;
	case KB_ERR_NOT_FOUND: return 12;
	case KB_ERR_SIGNATURE: return 13;
	case KB_ERR_REVOKED: return 14;
	case KB_ERR_NETWORK: return 15;
	case KB_ERR_TOO_LARGE: return 16;
	case KB_ERR_ARGS: return 17;
	default: return 1;
	}
}

static int fail(int r)
{
	fprintf(stderr, "sshc-tool: %s: %s\n", kb_err_str(r), kb_err_detail());
	return exit_code(r);
}

static struct kb_key *load_public(const char *path)
{
	struct kb_buf b;
	struct kb_key *k = NULL;

	kb_buf_init(&b, 1 << 20);
	if (kb_read_file(path, 1 << 20, &b) != 0 || kb_buf_put_u8(&b, 0) != 0 ||
	    kb_key_parse_public_line((const char *)b.data, &k, NULL) != 0) {
		/* a private key file works too */
		kb_buf_done(&b);
		return NULL;
	}
	kb_buf_done(&b);
	return k;
}

static struct kb_key *load_private(const char *path)
{
	struct kb_buf b;
	struct kb_key *k = NULL;

	kb_buf_init_secure(&b, 1 << 20);
	if (kb_read_file(path, 1 << 20, &b) == 0)
		kb_key_parse_private_file((const char *)b.data, b.len, NULL, &k, NULL);
	kb_buf_done(&b);
	return k;
}

static int one(void)
{
	struct kb_sshc *c = NULL;
	struct kb_key *pub = NULL;
	int r, status = 0;

	if ((r = kb_sshc_connect(&target, &opts, &c)) != 0)
		return fail(r);
	if (strcmp(op, "connect") == 0) {
		r = 0;
	} else if (strcmp(op, "exec") == 0 && nargs >= 1) {
		struct kb_buf out, err;
		kb_buf_init(&out, 4u << 20);
		kb_buf_init(&err, 4u << 20);
		r = kb_sshc_exec(c, args[0], input.len ? input.data : NULL, input.len, &out, &err, &status);
		if (r == 0) {
			pthread_mutex_lock(&out_lock);
			if (out.len > 0)
				fwrite(out.data, 1, out.len, stdout);
			if (err.len > 0)
				fwrite(err.data, 1, err.len, stderr);
			fflush(stdout);
			pthread_mutex_unlock(&out_lock);
		}
		kb_buf_done(&out);
		kb_buf_done(&err);
	} else if ((strcmp(op, "add") == 0 || strcmp(op, "remove") == 0 || strcmp(op, "has") == 0) && nargs >= 1) {
		if ((pub = load_public(args[0])) == NULL) {
			fprintf(stderr, "sshc-tool: cannot read public key %s\n", args[0]);
			kb_sshc_close(c);
			return 1;
		}
		if (strcmp(op, "add") == 0) {
			r = kb_sshc_authkeys_add(c, pub, nargs >= 2 ? args[1] : NULL);
		} else if (strcmp(op, "remove") == 0) {
			r = kb_sshc_authkeys_remove(c, pub);
		} else {
			bool has = false;
			r = kb_sshc_authkeys_has(c, pub, &has);
			if (r == 0)
				printf("%s\n", has ? "yes" : "no");
		}
	} else {
		fprintf(stderr, "sshc-tool: bad operation\n");
		kb_sshc_close(c);
		return 2;
	}
	if (r != 0)
		r = fail(r);
	else
		r = status;
	kb_sshc_close(c);
	kb_key_free(pub);
	return r;
}

static void *thread_main(void *arg)
{
	*(int *)arg = one();
	return NULL;
}

int main(int argc, char **argv)
{
	struct kb_key *key = NULL, *pin = NULL;
	int ch, threads = 1, repeat = 0, r = 0;
	uint64_t v;

	kb_init();
	kb_log_init("sshc-tool", getenv("SSHC_DEBUG") != NULL ? KB_LOG_DEBUG : KB_LOG_WARN);
	while ((ch = getopt(argc, argv, "k:i:A:P:T:C:a:j:n:H:")) != -1) {
		switch (ch) {
		case 'k': opts.known_hosts = optarg; break;
		case 'i':
			if ((key = load_private(optarg)) == NULL) {
				fprintf(stderr, "sshc-tool: cannot read private key %s\n", optarg);
				return 2;
			}
			opts.key = key;
			break;
		case 'A': opts.agent_socket = optarg; break;
		case 'P':
			if ((pin = load_public(optarg)) == NULL) {
				fprintf(stderr, "sshc-tool: cannot read public key %s\n", optarg);
				return 2;
			}
			opts.agent_pin = pin;
			break;
		case 'T': kb_parse_u64(optarg, 1000000, &v); opts.connect_timeout_ms = (int)v; break;
		case 'C': kb_parse_u64(optarg, 1000000, &v); opts.command_timeout_ms = (int)v; break;
		case 'a': opts.authorized_keys = optarg; break;
		case 'H': opts.host_certs = optarg; break;
		case 'j': kb_parse_u64(optarg, 64, &v); threads = (int)v; break;
		case 'n': kb_parse_u64(optarg, 100000, &v); repeat = (int)v; break;
		default: return 2;
		}
	}
	if (argc - optind < 2) {
		fprintf(stderr, "usage: sshc-tool [options] TARGET OP [ARGS...]\n");
		return 2;
	}
	if ((r = kb_ssh_target_parse(argv[optind], &target)) != 0)
		return fail(r);
	op = argv[optind + 1];
	args = argv + optind + 2;
	nargs = argc - optind - 2;
	if (strcmp(op, "script") == 0 && nargs >= 2) {
		/* prints the authorized_keys script for OP PUB [COMMENT] */
		struct kb_sshc c = {.t = target, .authorized_keys = (char *)opts.authorized_keys};
		struct kb_buf b;
		struct kb_key *pub = load_public(args[1]);
		kb_buf_init(&b, 1 << 20);
		if (pub == NULL || (r = kb_sshc_authkeys_script(&c, args[0], pub, nargs >= 3 ? args[2] : NULL, &b)) != 0)
			return pub == NULL ? 2 : fail(r);
		fwrite(b.data, 1, b.len, stdout);
		kb_buf_done(&b);
		kb_key_free(pub);
		return 0;
	}
	if (strcmp(op, "parse") == 0) {
		char s[400];
		kb_ssh_target_format(&target, s, sizeof(s));
		printf("%s\n", s);
		return 0;
	}
	kb_buf_init(&input, 8u << 20);
	if (strcmp(op, "exec") == 0 && !isatty(0)) {
		char tmp[65536];
		size_t n;
		while ((n = fread(tmp, 1, sizeof(tmp), stdin)) > 0)
			if (kb_buf_put(&input, tmp, n) != 0)
				break;
	}
	if (repeat > 0) {
		int64_t t0 = kb_sshc_now_ms();
		for (int i = 0; i < repeat && r == 0; i++)
			r = one();
		if (r == 0)
			printf("avg_ms=%.1f\n", (double)(kb_sshc_now_ms() - t0) / repeat);
	} else if (threads > 1) {
		pthread_t tid[64];
		int res[64];
		for (int i = 0; i < threads; i++)
			pthread_create(&tid[i], NULL, thread_main, &res[i]);
		for (int i = 0; i < threads; i++) {
			pthread_join(tid[i], NULL);
			if (res[i] != 0)
				r = res[i];
		}
	} else {
		r = one();
	}
	kb_buf_done(&input);
	kb_key_free(key);
	kb_key_free(pin);
	return r;
}
