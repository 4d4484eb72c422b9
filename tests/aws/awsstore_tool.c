/* Drives the AWS backend directly (below `broker store`), for the
 * integration and fault tests:
 *   awsstore-tool put NAME FILE [current|pending] [TOKEN]  -> prints version
 *   awsstore-tool get NAME [current|pending|previous|v:VERSION] -> value on stdout
 *   awsstore-tool promote NAME VERSION
 *   awsstore-tool describe NAME   -> "id stages created" lines
 *   awsstore-tool list [PREFIX]
 *   awsstore-tool rm NAME
 *   awsstore-tool creds           -> source and access key id of the chain
 *   awsstore-tool eic INSTANCE OSUSER PUBKEY
 *                                 -> EC2 Instance Connect SendSSHPublicKey
 *                                    through kb_aws_json_call, prints the body
 * Configuration from the environment (AWS_*, BROKER_AWS_*).  Exit status:
 * 0, or the broker's exit code for the error, message on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/client.h"
#include "aws/creds.h"
#include "config.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "ctx.h"
#include "store/store.h"

static int fail(int r, const char *what)
{
	fprintf(stderr, "awsstore-tool: %s: %s (%s)\n", what, kb_err_str(r), kb_err_detail());
	return kb_exit_for(r);
}

static enum kb_stage stage_of(const char *s)
{
	if (strcmp(s, "pending") == 0)
		return KB_STAGE_PENDING;
	if (strcmp(s, "previous") == 0)
		return KB_STAGE_PREVIOUS;
	return KB_STAGE_CURRENT;
}

int main(int argc, char **argv)
{
	struct kb_config *cfg = NULL;
	struct kb_store *st = NULL;
	int r, rc = 0;

	if (argc < 2 || kb_init() != KB_OK)
		return 2;
	kb_json_use_wiping_alloc();
	if (strcmp(argv[1], "creds") == 0) {
		struct kb_aws_creds *c;
		r = kb_aws_creds_resolve(NULL, &c);
		if (r != KB_OK)
			return fail(r, "credentials");
		printf("%s %s %s %lld\n", c->source, c->access_key_id, c->session_token ? "token" : "-",
		       (long long)c->expiration);
		kb_aws_creds_free(c);
		return 0;
	}
	if (strcmp(argv[1], "eic") == 0 && argc == 5) {
		struct kb_aws_client cl;
		struct kb_aws_result res;
		r = kb_aws_client_init(&cl, "ec2-instance-connect", NULL, getenv("AWS_ENDPOINT_URL"), NULL);
		if (r != KB_OK)
			return fail(r, "client");
		char *body = kb_asprintf("{\"InstanceId\":\"%s\",\"InstanceOSUser\":\"%s\",\"SSHPublicKey\":\"%s\"}",
					 argv[2], argv[3], argv[4]);
		r = kb_aws_json_call(&cl, "AWSEC2InstanceConnectService.SendSSHPublicKey", body, strlen(body), true, &res);
		if (r == KB_OK)
			printf("%.*s\n", (int)res.resp.body.len, (const char *)res.resp.body.data);
		else
			rc = fail(r, "SendSSHPublicKey");
		kb_aws_result_done(&res);
		kb_aws_client_done(&cl);
		free(body);
		return rc;
	}
	if (kb_config_load(NULL, &cfg) != KB_OK)
		return fail(KB_ERR_INVALID, "config");
	if ((r = kb_store_aws_open(cfg, &st)) != KB_OK) {
		kb_config_free(cfg);
		return fail(r, "open");
	}
	const char *cmd = argv[1], *name = argc > 2 ? argv[2] : "";
	if (strcmp(cmd, "put") == 0 && argc >= 4) {
		struct kb_buf v;
		char *ver = NULL;
		kb_buf_init_secure(&v, KB_STORE_VALUE_MAX);
		struct kb_store_put_opts o = { .stage = argc > 4 ? stage_of(argv[4]) : KB_STAGE_CURRENT,
					       .token = argc > 5 ? argv[5] : NULL };
		r = kb_read_file(argv[3], KB_STORE_VALUE_MAX, &v);
		if (r == KB_OK)
			r = st->ops->put(st, name, v.data, v.len, &o, &ver);
		if (r == KB_OK)
			printf("%s\n", ver);
		else
			rc = fail(r, "put");
		free(ver);
		kb_buf_done(&v);
	} else if (strcmp(cmd, "get") == 0 && argc >= 3) {
		struct kb_buf v;
		char *ver = NULL;
		struct kb_store_sel sel = { 0 };
		kb_buf_init_secure(&v, KB_STORE_VALUE_MAX);
		if (argc > 3 && strncmp(argv[3], "v:", 2) == 0)
			sel.version = argv[3] + 2;
		else if (argc > 3)
			sel.stage = stage_of(argv[3]);
		r = st->ops->get(st, name, &sel, &v, &ver);
		if (r == KB_OK) {
			fwrite(v.data, 1, v.len, stdout);
			fprintf(stderr, "version %s\n", ver);
		} else {
			rc = fail(r, "get");
		}
		free(ver);
		kb_buf_done(&v);
	} else if (strcmp(cmd, "promote") == 0 && argc >= 4) {
		if ((r = st->ops->promote(st, name, argv[3])) != KB_OK)
			rc = fail(r, "promote");
	} else if (strcmp(cmd, "describe") == 0 && argc >= 3) {
		struct kb_secret_info *info;
		if ((r = st->ops->describe(st, name, &info)) != KB_OK) {
			rc = fail(r, "describe");
		} else {
			for (size_t i = 0; i < info->nversions; i++)
				printf("%s %s%s%s %lld\n", info->versions[i].id,
				       info->versions[i].stages & KB_STAGE_CURRENT ? "C" : "-",
				       info->versions[i].stages & KB_STAGE_PENDING ? "P" : "-",
				       info->versions[i].stages & KB_STAGE_PREVIOUS ? "V" : "-",
				       (long long)info->versions[i].created);
			free(info->name);
			free(info->versions);
			free(info);
		}
	} else if (strcmp(cmd, "list") == 0) {
		char **names;
		size_t n;
		if ((r = st->ops->list(st, argc > 2 ? argv[2] : NULL, &names, &n)) != KB_OK) {
			rc = fail(r, "list");
		} else {
			for (size_t i = 0; i < n; i++) {
				printf("%s\n", names[i]);
				free(names[i]);
			}
			free(names);
		}
	} else if (strcmp(cmd, "rm") == 0 && argc >= 3) {
		if ((r = st->ops->remove(st, name)) != KB_OK)
			rc = fail(r, "rm");
	} else {
		rc = 2;
	}
	st->ops->close(st);
	kb_config_free(cfg);
	return rc;
}
