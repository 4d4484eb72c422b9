/* broker issue --role R [--principal P]... [--ttl D] [--type T] [--name ID]
 *              [--host H] [--agent SOCKET | --no-agent] [--out FILE]
 *              [--socket PATH | --no-daemon] [--json]
 *              [--push-ec2 [--terraform-state FILE] [--group G] [--instance-id ID]...
 *               [--os-user USER] [--parallel N]]
 *
 * Uses the broker daemon when its socket is given (--socket, BROKER_SOCKET)
 * or exists at the configured path; otherwise runs the pipeline in-process
 * as the current user.
 *
 * --push-ec2 also pushes the issued key's public key with EC2 Instance
 * Connect to the selected instances (fleet/ec2_issue.h); it always runs
 * in-process, with the policy gate before anything is issued. */
#include "commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cert/cert.h"
#include "config.h"
#include "fleet/ec2_issue.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "fleet/fleet.h"
#include "issue.h"
#include "requester.h"
#include "serve_client.h"

#define KB_ISSUE_MAX_IDS 1024

struct opts {
	struct kb_serve_request rq; /* role, principals, ttl, key_type, name, host */
	const char *agent;
	bool no_agent;
	const char *out;
	const char *socket;
	bool no_daemon;
	/* --push-ec2 */
	bool push_ec2;
	const char *state, *group, *os_user;
	const char *ids[KB_ISSUE_MAX_IDS];
	size_t nids;
	unsigned parallel;
};

struct deliver_state {
	const struct opts *o;
	struct kb_agent_load load;
	bool loaded;
};

static int agent_deliver(void *arg, const struct kb_issue_result *res)
{
	struct deliver_state *st = arg;
	if (st->o->no_agent || st->o->agent == NULL)
		return KB_OK;
	int r = kb_issue_agent_load(st->o->agent, res->key, res->secret_name, res->valid_before, &st->load);
	st->loaded = r == KB_OK;
	return r;
}

static void agent_undo(void *arg, const struct kb_issue_result *res)
{
	struct deliver_state *st = arg;
	if (st->loaded)
		kb_issue_agent_unload(st->load.socket, res->key);
	st->loaded = false;
}

/* --out FILE: FILE (private, 0600), FILE.pub, FILE-cert.pub. */
static int write_out(const char *path, const struct kb_key *key, const char *key_id)
{
	struct kb_buf priv;
	struct kb_key *plain = NULL;
	char *pub = NULL, *certline = NULL, *p1 = NULL, *p2 = NULL;
	int r;

	kb_buf_init_secure(&priv, KB_KEY_PRIVATE_FILE_MAX);
	if ((r = kb_key_dup(key, &plain)) != KB_OK)
		goto out;
	kb_key_drop_cert(plain);
	if ((r = kb_key_write_private_file(plain, key_id, &priv)) != KB_OK ||
	    (r = kb_key_format_public_line(plain, key_id, &pub)) != KB_OK ||
	    (r = kb_cert_format_line(kb_key_cert(key), key_id, &certline)) != KB_OK)
		goto out;
	p1 = kb_asprintf("%s.pub", path);
	p2 = kb_asprintf("%s-cert.pub", path);
	char *pubn = pub ? kb_asprintf("%s\n", pub) : NULL, *certn = certline ? kb_asprintf("%s\n", certline) : NULL;
	if (!p1 || !p2 || !pubn || !certn)
		r = KB_ERR_NOMEM;
	else if ((r = kb_write_file_atomic(path, kb_buf_ptr(&priv), kb_buf_remaining(&priv), 0600, false)) == KB_OK &&
		 (r = kb_write_file_atomic(p1, pubn, strlen(pubn), 0644, false)) == KB_OK)
		r = kb_write_file_atomic(p2, certn, strlen(certn), 0644, false);
	free(pubn);
	free(certn);
out:
	free(p1);
	free(p2);
	free(pub);
	free(certline);
	kb_key_free(plain);
	kb_buf_done(&priv);
	return r;
}

static void print_result(struct kb_ctx *ctx, json_t *cred, const char *secret, const char *backend,
			 const char *version, const struct deliver_state *st, const char *out, const char *via,
			 json_t *extra)
{
	const char *key_id = json_string_value(json_object_get(cred, "key_id"));
	json_int_t serial = json_integer_value(json_object_get(cred, "serial"));
	const char *vb = json_string_value(json_object_get(cred, "valid_before"));
	const char *fp = json_string_value(json_object_get(cred, "fingerprint"));
	json_t *prs = json_object_get(cred, "principals");
	int64_t until = 0;
	char local[64] = "?", left[64] = "?";

	if (vb && kb_parse_time_utc(vb, &until) == KB_OK) {
		kb_format_time_local(until, local, sizeof(local));
		kb_format_duration(until - (int64_t)time(NULL), left, sizeof(left));
	}
	if (ctx->json) {
		json_t *j = json_pack("{s:s?,s:s,s:O,s:s?,s:s?,s:s,s:s,s:s?,s:s}", "key_id", key_id, "serial", "",
				      "principals", prs, "valid_before", vb, "fingerprint", fp, "secret", secret,
				      "backend", backend, "version", version, "via", via);
		char sbuf[32];
		snprintf(sbuf, sizeof(sbuf), "%llu", (unsigned long long)serial);
		json_object_set_new(j, "serial", json_string(sbuf));
		json_object_set_new(j, "expires_in_seconds", json_integer(until - (int64_t)time(NULL)));
		json_object_set_new(j, "agent", st->loaded ? json_string(st->load.socket) : json_null());
		if (st->loaded) {
			json_object_set_new(j, "agent_lifetime", json_integer(st->load.lifetime));
			json_object_set_new(j, "agent_replaced", json_boolean(st->load.replaced));
		}
		json_object_set_new(j, "out", out ? json_string(out) : json_null());
		if (extra != NULL)
			json_object_update(j, extra);
		kb_print_json(j);
		return;
	}
	printf("issued %s\n", key_id ? key_id : "?");
	printf("  serial:      %llu\n", (unsigned long long)serial);
	printf("  principals:  ");
	for (size_t i = 0; i < json_array_size(prs); i++)
		printf("%s%s", i ? ", " : "", json_string_value(json_array_get(prs, i)));
	printf("\n  expires:     %s (in %s)\n", local, left);
	printf("  fingerprint: %s\n", fp ? fp : "?");
	if (st->loaded)
		printf("  agent:       %s (lifetime %us%s)\n", st->load.socket, st->load.lifetime,
		       st->load.replaced ? (st->load.atomic ? ", replaced the previous one atomically"
							     : ", replaced the previous one")
					 : "");
	else
		printf("  agent:       not loaded\n");
	printf("  secret:      %s (backend %s%s%s)\n", secret, backend, version && *version ? ", version " : "",
	       version ? version : "");
	if (out)
		printf("  files:       %s, %s.pub, %s-cert.pub\n", out, out, out);
}

static int via_daemon(struct kb_ctx *ctx, struct opts *o, const char *path)
{
	struct kb_buf resp;
	struct deliver_state st = { .o = o };
	json_t *j = NULL;
	struct kb_key *key = NULL;
	int r, rc = KB_EXIT_FAILURE;

	kb_buf_init_secure(&resp, KB_SERVE_RESPONSE_MAX);
	o->rq.op = KB_SERVE_OP_ISSUE;
	if ((r = kb_serve_call(path, &o->rq, &resp, &j)) != KB_OK) {
		rc = kb_fail(ctx, r, "issue");
		goto out;
	}
	if (!json_is_true(json_object_get(j, "ok"))) {
		const char *msg = json_string_value(json_object_get(j, "message"));
		json_int_t ex = json_integer_value(json_object_get(j, "exit"));
		fprintf(stderr, "broker: %s: %s\n",
			json_is_string(json_object_get(j, "error")) &&
					strcmp(json_string_value(json_object_get(j, "error")), "denied") == 0
				? "denied"
				: "the broker daemon refused",
			msg ? msg : "(no message)");
		rc = ex > 0 && ex < 64 ? (int)ex : KB_EXIT_FAILURE;
		goto out;
	}
	json_t *cred = json_object_get(j, "credential");
	char *text = json_is_object(cred) ? json_dumps(cred, JSON_COMPACT) : NULL;
	r = text ? kb_credential_parse(text, strlen(text), &key) : KB_ERR_INVALID;
	kb_json_free_string(text);
	if (r != KB_OK) {
		rc = kb_fail(ctx, r, "the broker daemon sent a credential this client cannot read");
		goto out;
	}
	const char *secret = json_string_value(json_object_get(j, "secret"));
	int64_t vb = 0;
	kb_parse_time_utc(json_string_value(json_object_get(cred, "valid_before")), &vb);
	if (!o->no_agent && o->agent) {
		r = kb_issue_agent_load(o->agent, key, secret ? secret : "keybroker", vb, &st.load);
		if (r != KB_OK) {
			rc = kb_fail(ctx, r, "issued %s (audited) but could not load it into the agent",
				     json_string_value(json_object_get(cred, "key_id")));
			goto out;
		}
		st.loaded = true;
	}
	if (o->out && (r = write_out(o->out, key, json_string_value(json_object_get(cred, "key_id")))) != KB_OK) {
		rc = kb_fail(ctx, r, "cannot write %s", o->out);
		goto out;
	}
	print_result(ctx, cred, secret ? secret : "?", json_string_value(json_object_get(j, "backend")),
		     json_string_value(json_object_get(j, "version")), &st, o->out, "daemon", NULL);
	rc = KB_EXIT_OK;
out:
	kb_agent_load_done(&st.load);
	kb_key_free(key);
	json_decref(j);
	kb_buf_done(&resp);
	return rc;
}

static int in_process(struct kb_ctx *ctx, struct opts *o, struct kb_config *cfg)
{
	struct kb_requester who;
	struct kb_issue_ctx ic;
	struct kb_issue_result res = { 0 };
	struct deliver_state st = { .o = o };
	struct kb_issue_deliver dl = { agent_deliver, agent_undo, &st };
	int r, rc = KB_EXIT_FAILURE;

	if ((r = kb_requester_from_uid(getuid(), &who)) != KB_OK)
		return kb_fail(ctx, r, "cannot tell who you are");
	if ((r = kb_issue_ctx_init(&ic, cfg, "cli")) != KB_OK) {
		kb_requester_done(&who);
		return kb_fail(ctx, r, "cannot open the audit log %s (a credential is only issued when it is audited)",
			       kb_config_get(cfg, "audit.log"));
	}
	struct kb_issue_request req = {
		.user = who.user, .uid = who.uid, .groups = (const char *const *)who.groups, .ngroups = who.ngroups,
		.role = o->rq.role, .principals = (const char *const *)o->rq.principals,
		.nprincipals = o->rq.nprincipals, .ttl = o->rq.ttl, .key_type = o->rq.key_type,
		.identity = o->rq.name, .host = o->rq.host,
	};
	r = kb_issue_run(&ic, &req, &dl, &res);
	if (r == KB_ERR_DENIED) {
		fprintf(stderr, "broker: denied: %s\n", res.decision.reason);
		rc = KB_EXIT_DENIED;
		goto out;
	}
	if (r != KB_OK) {
		rc = kb_fail(ctx, r, "cannot issue a credential for role %s", o->rq.role);
		goto out;
	}
	if (o->out && (r = write_out(o->out, res.key, res.key_id)) != KB_OK) {
		rc = kb_fail(ctx, r, "issued %s but cannot write %s", res.key_id, o->out);
		goto out;
	}
	json_t *cred = json_loadb((const char *)kb_buf_ptr(&res.credential), kb_buf_remaining(&res.credential), 0, NULL);
	print_result(ctx, cred, res.secret_name, res.backend, res.version, &st, o->out, "in-process", NULL);
	json_decref(cred);
	rc = KB_EXIT_OK;
out:
	kb_agent_load_done(&st.load);
	kb_issue_result_done(&res);
	kb_issue_ctx_done(&ic);
	kb_requester_done(&who);
	return rc;
}


/* --push-ec2: issue under the EC2 Instance Connect gate, load the agent
 * (certificate and plain key), push, report per host. */
static int push_ec2(struct kb_ctx *ctx, struct opts *o)
{
	struct kb_ec2_select_opts so = { .state = o->state, .group = o->group, .ids = o->ids, .nids = o->nids };
	struct kb_ec2_selection sel = { 0 };
	struct kb_ec2_issue_push ip = {
		.role = o->rq.role, .principals = (const char *const *)o->rq.principals,
		.nprincipals = o->rq.nprincipals, .ttl = o->rq.ttl, .key_type = o->rq.key_type,
		.identity = o->rq.name, .agent = o->no_agent ? NULL : o->agent, .via = "cli", .sel = &sel,
		.push = { .os_user = o->os_user, .parallel = o->parallel },
	};
	char *cache = NULL, *keyfile = NULL;
	json_t *extra = NULL;
	int r, rc = KB_EXIT_FAILURE;

	if ((r = kb_ec2_select(&so, &sel)) != KB_OK) {
		rc = r == KB_ERR_ARGS ? kb_usage_error(ctx, "issue --push-ec2: %s", kb_err_detail())
				      : kb_fail(ctx, r, "issue --push-ec2");
		goto out;
	}
	/* The push cache only saves work; without a place for it, push anyway. */
	ip.push.cache_path = cache = kb_ec2_default_cache_path();
	r = kb_ec2_issue_and_push(ctx, &ip);
	if (!ip.issued) {
		rc = kb_exit_for(r);
		goto out;
	}
	int out_r = KB_OK;
	if (o->out && (out_r = write_out(o->out, ip.res.key, ip.res.key_id)) != KB_OK)
		kb_fail(ctx, out_r, "issued %s but cannot write %s", ip.res.key_id, o->out);
	else if (o->out)
		keyfile = kb_asprintf("%s.pub", o->out);
	struct deliver_state st = { .o = o, .load = ip.load, .loaded = ip.loaded };
	json_t *cred = json_loadb((const char *)kb_buf_ptr(&ip.res.credential), kb_buf_remaining(&ip.res.credential), 0,
				  NULL);
	if (ctx->json) {
		extra = json_pack("{s:{s:s, s:s, s:i, s:o}}", "ec2_push", "os_user", ip.os_user, "public_key_fingerprint",
				  ip.fingerprint, "failed", (int)ip.failed, "hosts",
				  kb_ec2_results_json(&sel, ip.os_user, ip.fingerprint));
	}
	print_result(ctx, cred, ip.res.secret_name, ip.res.backend, ip.res.version, &st, o->out, "in-process", extra);
	json_decref(cred);
	if (!ctx->json) {
		if (ip.plain_loaded)
			printf("  plain key:   in the agent too, for EC2 Instance Connect (same lifetime)\n");
		printf("  ec2 push:    %s as %s to %zu instance%s\n", ip.fingerprint, ip.os_user, sel.n,
		       sel.n == 1 ? "" : "s");
		kb_ec2_results_print(&sel, ip.os_user, ip.fingerprint);
	}
	if (ip.failed > 0) {
		fprintf(stderr, "broker: the credential %s stays issued%s (its certificate is valid where the broker CA "
				"is trusted)\n", ip.res.key_id, ip.loaded ? " and in the agent" : "");
		kb_ec2_print_retry(&sel, o->rq.role, ip.os_user, keyfile);
		rc = kb_exit_for(ip.push_err);
		if (rc == KB_EXIT_OK)
			rc = KB_EXIT_FAILURE;
		goto out;
	}
	rc = r != KB_OK ? kb_exit_for(r) : out_r != KB_OK ? kb_exit_for(out_r) : KB_EXIT_OK;
out:
	json_decref(extra);
	free(keyfile);
	free(cache);
	kb_ec2_issue_push_done(&ip);
	kb_ec2_selection_done(&sel);
	return rc;
}

int cmd_issue(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "role", required_argument, NULL, 'r' },   { "principal", required_argument, NULL, 'n' },
		{ "ttl", required_argument, NULL, 't' },    { "type", required_argument, NULL, 'T' },
		{ "name", required_argument, NULL, 'N' },   { "host", required_argument, NULL, 'H' },
		{ "agent", required_argument, NULL, 'a' },  { "no-agent", no_argument, NULL, 'A' },
		{ "out", required_argument, NULL, 'o' },    { "socket", required_argument, NULL, 's' },
		{ "no-daemon", no_argument, NULL, 'D' },    { "help", no_argument, NULL, 'h' },
		{ "push-ec2", no_argument, NULL, 'E' },     { "terraform-state", required_argument, NULL, 'S' },
		{ "group", required_argument, NULL, 'g' },  { "instance-id", required_argument, NULL, 'i' },
		{ "os-user", required_argument, NULL, 'u' }, { "parallel", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	static char *principals[KB_SERVE_MAX_PRINCIPALS];
	struct opts o = { .rq = { .principals = principals }, .parallel = 8 };
	bool push_opts = false;
	uint64_t par;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+h", lopts, NULL)) != -1) {
		switch (c) {
		case 'r': o.rq.role = optarg; break;
		case 'T': o.rq.key_type = optarg; break;
		case 'N': o.rq.name = optarg; break;
		case 'H': o.rq.host = optarg; break;
		case 'a': o.agent = optarg; break;
		case 'A': o.no_agent = true; break;
		case 'o': o.out = optarg; break;
		case 's': o.socket = optarg; break;
		case 'D': o.no_daemon = true; break;
		case 'E': o.push_ec2 = true; break;
		case 'S': o.state = optarg; push_opts = true; break;
		case 'g': o.group = optarg; push_opts = true; break;
		case 'u': o.os_user = optarg; push_opts = true; break;
		case 'i':
			if (o.nids == KB_ISSUE_MAX_IDS)
				return kb_usage_error(ctx, "more than %d --instance-id options", KB_ISSUE_MAX_IDS);
			o.ids[o.nids++] = optarg;
			push_opts = true;
			break;
		case 'P':
			if (kb_parse_u64(optarg, KB_EC2_MAX_PARALLEL, &par) != KB_OK || par == 0)
				return kb_usage_error(ctx, "--parallel takes 1 to %d", KB_EC2_MAX_PARALLEL);
			o.parallel = (unsigned)par;
			push_opts = true;
			break;
		case 'n':
			if (o.rq.nprincipals == KB_SERVE_MAX_PRINCIPALS)
				return kb_usage_error(ctx, "too many --principal options");
			principals[o.rq.nprincipals++] = optarg;
			break;
		case 't':
			if (kb_parse_duration(optarg, &o.rq.ttl) != KB_OK || o.rq.ttl <= 0)
				return kb_usage_error(ctx, "bad --ttl '%s': use e.g. 90s, 30m, 2h", optarg);
			break;
		case 'h':
			printf("usage: broker issue --role ROLE [--principal P]... [--ttl DURATION] [--type KEYTYPE]\n"
			       "                    [--name IDENTITY] [--host HOST] [--agent SOCKET | --no-agent]\n"
			       "                    [--out FILE] [--socket PATH | --no-daemon] [--json]\n"
			       "                    [--push-ec2 [--terraform-state FILE] [--group GROUP]\n"
			       "                     [--instance-id ID]... [--os-user USER] [--parallel N]]\n"
			       "  --push-ec2 also pushes the issued key with EC2 Instance Connect to every instance of\n"
			       "  the Terraform state (default $BROKER_TF_STATE; --group: one inventory group) and/or\n"
			       "  each --instance-id, as USER (default: the role's first principal).  The role must set\n"
			       "  ec2_instance_connect and allow USER on every host; this is checked before issuing.\n"
			       "  AWS settings: AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT.\n");
			return KB_EXIT_OK;
		default:
			return KB_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return kb_usage_error(ctx, "unexpected argument '%s'", argv[optind]);
	if (o.rq.role == NULL)
		return kb_usage_error(ctx, "issue needs --role ROLE (see 'broker policy check' for your roles)");
	if (o.agent && o.no_agent)
		return kb_usage_error(ctx, "--agent and --no-agent exclude each other");
	if (o.socket && o.no_daemon)
		return kb_usage_error(ctx, "--socket and --no-daemon exclude each other");
	if (push_opts && !o.push_ec2)
		return kb_usage_error(ctx, "--terraform-state, --group, --instance-id, --os-user and --parallel go with "
					   "--push-ec2");
	if (o.push_ec2) {
		if (o.state == NULL && o.nids == 0) {
			const char *env = getenv("BROKER_TF_STATE");
			o.state = env && *env ? env : NULL;
		}
		if (o.state == NULL && o.nids == 0)
			return kb_usage_error(ctx, "--push-ec2: which instances? give --terraform-state FILE (or set "
						   "BROKER_TF_STATE) and/or --instance-id ID");
		if (o.os_user && !kb_fleet_valid_os_user(o.os_user))
			return kb_usage_error(ctx, "--os-user '%s' is not a valid OS user name (1-32 characters: letters, "
						   "digits, '.', '_', '-', '@')", o.os_user);
		if (o.socket)
			return kb_usage_error(ctx, "--push-ec2 issues in-process (the policy gate runs before issuing); "
						   "it does not go through the broker daemon: drop --socket");
	}
	if (o.rq.name && !kb_issue_identity_valid(o.rq.name))
		return kb_usage_error(ctx, "bad --name '%s': 1-64 of A-Z a-z 0-9 _ . @ -", o.rq.name);
	struct kb_config *cfg = kb_ctx_config(ctx);
	if (cfg == NULL)
		return KB_EXIT_FAILURE;
	if (!o.no_agent && o.agent == NULL) {
		o.agent = kb_config_get(cfg, "agent.socket");
		if (o.agent == NULL) {
			if (o.out == NULL)
				return kb_usage_error(ctx, "no agent: SSH_AUTH_SOCK is not set; start one (eval "
							   "$(broker-agent -s)), or use --agent SOCKET, --no-agent or --out FILE");
			o.no_agent = true;
		}
	}
	if (o.push_ec2) {
		if (o.no_agent && o.out == NULL)
			return kb_usage_error(ctx, "--push-ec2 with --no-agent needs --out FILE: the pushed key must be "
						   "usable by someone");
		return push_ec2(ctx, &o);
	}
	/* The daemon: explicit socket, BROKER_SOCKET, or an existing socket at
	 * the configured path. */
	const char *sock = kb_serve_socket_for(cfg, o.socket, o.no_daemon);
	return sock ? via_daemon(ctx, &o, sock) : in_process(ctx, &o, cfg);
}
