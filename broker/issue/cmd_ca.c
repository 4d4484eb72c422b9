/* broker ca init [--type T] [--host]
 * broker ca show [--host] [--hosts PATTERN] */
#include "commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ca.h"
#include "config.h"
#include "core/mem.h"
#include "core/err.h"
#include "serve_client.h"
#include "store/store.h"

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	if (s)
		puts(s);
	kb_json_free_string(s);
}

static int print_ca(struct kb_ctx *ctx, const struct kb_key *pub, bool host, const char *pattern, bool created)
{
	char *line = NULL, fp[KB_KEY_FP_MAX];
	const char *comment = host ? "keybroker-host-ca" : "keybroker-user-ca";
	int r = kb_key_format_public_line(pub, comment, &line);

	if (r == KB_OK)
		r = kb_key_fingerprint(pub, fp, sizeof(fp));
	if (r != KB_OK) {
		free(line);
		return kb_fail(ctx, r, "cannot format the CA key");
	}
	if (ctx->json) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "ca", host ? "host" : "user", "secret",
				      kb_ca_secret_name(host), "public_key", line, "fingerprint", fp, "key_type",
				      kb_key_ssh_name(pub));
		if (host)
			json_object_set_new(j, "known_hosts", json_pack("s+++", "@cert-authority ", pattern, " ", line));
		json_object_set_new(j, "created", json_boolean(created));
		print_json(j);
	} else if (host) {
		printf("@cert-authority %s %s\n", pattern, line);
	} else {
		printf("%s\n", line);
	}
	free(line);
	return KB_EXIT_OK;
}

static int show_via_daemon(struct kb_ctx *ctx, const char *sock, bool host, const char *pattern)
{
	struct kb_serve_request rq = { .op = KB_SERVE_OP_CA, .host_ca = host };
	struct kb_buf reply;
	struct kb_key *pub = NULL;
	json_t *j = NULL;
	int r, rc;

	kb_buf_init(&reply, KB_SERVE_RESPONSE_MAX);
	r = kb_serve_call(sock, &rq, &reply, &j);
	if (r == KB_OK && !json_is_true(json_object_get(j, "ok"))) {
		const char *msg = json_string_value(json_object_get(j, "message"));
		r = kb_err_set(KB_ERR_NOT_FOUND, "%s", msg ? msg : "the daemon has no CA");
	}
	const char *line = j ? json_string_value(json_object_get(j, "public_key")) : NULL;
	if (r == KB_OK)
		r = line ? kb_key_parse_public_line(line, &pub, NULL)
			 : kb_err_set(KB_ERR_INVALID, "the daemon's answer has no public_key");
	rc = r == KB_OK ? print_ca(ctx, pub, host, pattern, false) : kb_fail(ctx, r, "cannot read the CA");
	kb_key_free(pub);
	json_decref(j);
	kb_buf_done(&reply);
	return rc;
}

int cmd_ca(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "type", required_argument, NULL, 't' },
					      { "host", no_argument, NULL, 'H' },
					      { "hosts", required_argument, NULL, 'p' },
					      { "socket", required_argument, NULL, 's' },
					      { "no-daemon", no_argument, NULL, 'D' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	const char *type = "ed25519", *pattern = "*", *sock = NULL;
	bool host = false, no_daemon = false;
	int c;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		printf("usage: broker ca init [--type ed25519|ecdsa-p256|ecdsa-p384|rsa-3072|rsa-4096] [--host]\n"
		       "       broker ca show [--host] [--hosts PATTERN] [--socket PATH | --no-daemon] [--json]\n");
		return argc < 2 ? KB_EXIT_USAGE : KB_EXIT_OK;
	}
	bool init = strcmp(argv[1], "init") == 0;
	if (!init && strcmp(argv[1], "show") != 0)
		return kb_usage_error(ctx, "unknown ca command '%s' (use init or show)", argv[1]);
	argc--;
	argv++;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 't': type = optarg; break;
		case 'H': host = true; break;
		case 'p': pattern = optarg; break;
		case 's': sock = optarg; break;
		case 'D': no_daemon = true; break;
		case 'h':
			printf("usage: broker ca %s\n", init ? "init [--type T] [--host]" : "show [--host] [--hosts PATTERN]");
			return KB_EXIT_OK;
		default: return KB_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return kb_usage_error(ctx, "unexpected argument '%s'", argv[optind]);
	enum kb_key_type kt;
	unsigned bits;
	if (kb_key_type_from_cli(type, &kt, &bits) != KB_OK || kt == KB_KEY_DSA)
		return kb_usage_error(ctx, "unknown CA key type '%s' (use ed25519, ecdsa-p256, ecdsa-p384, "
					   "ecdsa-p521, rsa-3072 or rsa-4096)", type);
	if (kt == KB_KEY_RSA && bits != 0 && bits < 3072)
		return kb_usage_error(ctx, "an RSA CA needs at least 3072 bits");

	struct kb_config *cfg = kb_ctx_config(ctx);
	struct kb_store *store = NULL;
	struct kb_key *pub = NULL;
	int r, rc;
	if (cfg == NULL)
		return KB_EXIT_FAILURE;
	/* show: through the daemon when there is one (clients of a daemon
	 * usually cannot read the backend themselves). */
	if (!init && (sock = kb_serve_socket_for(cfg, sock, no_daemon)) != NULL)
		return show_via_daemon(ctx, sock, host, pattern);
	if ((r = kb_store_open(cfg, &store)) != KB_OK)
		return kb_fail(ctx, r, "cannot open the %s backend", kb_config_get(cfg, "backend"));
	if (init) {
		r = kb_ca_init(store, kt, bits, host, &pub);
		if (r == KB_ERR_EXISTS) {
			fprintf(stderr, "broker: the %s CA already exists in the %s backend (%s); left unchanged\n",
				host ? "host" : "user", kb_config_get(cfg, "backend"), kb_ca_secret_name(host));
			rc = print_ca(ctx, pub, host, pattern, false);
		} else if (r != KB_OK) {
			rc = kb_fail(ctx, r, "cannot create the %s CA", host ? "host" : "user");
		} else {
			fprintf(stderr, "broker: created the %s CA in the %s backend (%s)\n", host ? "host" : "user",
				kb_config_get(cfg, "backend"), kb_ca_secret_name(host));
			rc = print_ca(ctx, pub, host, pattern, true);
		}
	} else {
		struct kb_key *priv = NULL;
		r = kb_ca_load(store, host, &priv);
		if (r == KB_OK)
			r = kb_key_dup_public(priv, &pub);
		kb_key_free(priv);
		rc = r == KB_OK ? print_ca(ctx, pub, host, pattern, false) : kb_fail(ctx, r, "cannot read the CA");
	}
	kb_key_free(pub);
	kb_store_close(store);
	return rc;
}
