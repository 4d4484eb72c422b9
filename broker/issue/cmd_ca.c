/* broker ca init [--type T] [--host]
 * broker ca show [--host] [--hosts PATTERN] [--bundle]
 * broker ca status [--host]
 * broker ca rotate [--host] [--overlap D] [--type T] [--promote]
 * broker ca promote [--host] [--overlap D] */
#include "commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"
#include "ca.h"
#include "config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "policy.h"
#include "requester.h"
#include "serve_client.h"
#include "store/store.h"

static const char usage_text[] =
	"usage: broker ca init [--type ed25519|ecdsa-p256|ecdsa-p384|rsa-3072|rsa-4096] [--host]\n"
	"       broker ca show [--host] [--hosts PATTERN] [--bundle] [--socket PATH | --no-daemon] [--json]\n"
	"       broker ca status [--host] [--json]\n"
	"       broker ca rotate [--host] [--overlap D] [--type T] [--promote] [--json]\n"
	"       broker ca promote [--host] [--overlap D] [--json]\n";

enum ca_cmd { CA_INIT, CA_SHOW, CA_STATUS, CA_ROTATE, CA_PROMOTE };

static const char *ca_comment(bool host)
{
	return host ? "keybroker-host-ca" : "keybroker-user-ca";
}

static int print_ca(struct kb_ctx *ctx, const struct kb_key *pub, bool host, const char *pattern, bool created)
{
	char *line = NULL, fp[KB_KEY_FP_MAX];
	int r = kb_key_format_public_line(pub, ca_comment(host), &line);

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
		kb_print_json(j);
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

static const char *stage_word(unsigned stage)
{
	return stage == 1 ? "current" : stage == 2 ? "pending" : "previous";
}

static json_t *time_json(int64_t t)
{
	char s[32];
	if (t <= 0)
		return json_null();
	kb_format_time_utc(t, s, sizeof(s));
	return json_string(s);
}

/* The bundle and rotation state as JSON (ca show --bundle --json, ca status --json). */
static json_t *status_json(const struct kb_ca_status *st, bool host, const char *pattern, int64_t now)
{
	json_t *arr = json_array();
	json_t *j = json_pack("{s:s,s:s,s:s,s:o}", "ca", host ? "host" : "user", "secret", kb_ca_secret_name(host),
			      "rotation_secret", kb_ca_rotation_secret_name(host), "bundle", arr);

	for (size_t i = 0; i < st->n; i++) {
		const struct kb_ca_entry *e = &st->entries[i];
		char *line = NULL, fp[KB_KEY_FP_MAX] = "";
		if (kb_key_format_public_line(e->pub, ca_comment(host), &line) != KB_OK ||
		    kb_key_fingerprint(e->pub, fp, sizeof(fp)) != KB_OK) {
			free(line);
			continue;
		}
		json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "stage", stage_word(e->stage), "version", e->version,
				      "fingerprint", fp, "key_type", kb_key_ssh_name(e->pub), "public_key", line,
				      "signs", e->stage == 1);
		if (e->created[0])
			json_object_set_new(o, "created", json_string(e->created));
		if (host)
			json_object_set_new(o, "known_hosts", json_pack("s+++", "@cert-authority ", pattern, " ", line));
		if (e->stage == 4) {
			json_object_set_new(o, "overlap_until", time_json(e->trusted_until));
			if (e->trusted_until > 0)
				json_object_set_new(o, "overlap_left_seconds",
						    json_integer((json_int_t)(e->trusted_until > now ? e->trusted_until - now : 0)));
		}
		json_array_append_new(arr, o);
		free(line);
	}
	json_t *rot = json_object();
	if (st->pending_version[0])
		json_object_set_new(rot, "pending", json_pack("{s:s,s:I}", "version", st->pending_version,
							      "overlap_seconds", (json_int_t)st->pending_overlap));
	if (st->to[0]) {
		json_t *p = json_pack("{s:s,s:s,s:I,s:o,s:b,s:o}", "from", st->from, "to", st->to, "overlap_seconds",
				      (json_int_t)st->overlap, "started", time_json(st->started), "done",
				      st->promotion_done, "overlap_until",
				      st->promotion_done ? time_json(st->overlap_until) : json_null());
		json_object_set_new(rot, "last_promotion", p);
	}
	json_object_set_new(rot, "retired", st->retired_version[0] ? json_string(st->retired_version) : json_null());
	json_object_set_new(j, "rotation", rot);
	return j;
}

static int show_bundle(struct kb_ctx *ctx, struct kb_store *store, bool host, const char *pattern, bool status)
{
	struct kb_ca_status st;
	int64_t now = (int64_t)time(NULL);
	int r = kb_ca_status_read(store, host, now, &st);

	if (r != KB_OK)
		return kb_fail(ctx, r, "cannot read the %s CA bundle", host ? "host" : "user");
	if (ctx->json) {
		kb_print_json(status_json(&st, host, pattern, now));
		kb_ca_status_done(&st);
		return KB_EXIT_OK;
	}
	for (size_t i = 0; i < st.n; i++) {
		const struct kb_ca_entry *e = &st.entries[i];
		char *line = NULL, fp[KB_KEY_FP_MAX] = "";
		char comment[128];
		snprintf(comment, sizeof(comment), "%s %s version %s", ca_comment(host), stage_word(e->stage), e->version);
		r = kb_key_format_public_line(e->pub, status ? ca_comment(host) : comment, &line);
		if (r == KB_OK)
			r = kb_key_fingerprint(e->pub, fp, sizeof(fp));
		if (r != KB_OK) {
			free(line);
			kb_ca_status_done(&st);
			return kb_fail(ctx, r, "cannot format the CA key");
		}
		if (!status) {
			if (host)
				printf("@cert-authority %s %s\n", pattern, line);
			else
				printf("%s\n", line);
		} else {
			char until[200] = "";
			if (e->stage == 4 && e->trusted_until > 0) {
				char t[64], left[64];
				kb_format_time_local(e->trusted_until, t, sizeof(t));
				kb_format_duration(e->trusted_until > now ? e->trusted_until - now : 0, left, sizeof(left));
				snprintf(until, sizeof(until), "  trusted until %s (%s left)", t, left);
			} else if (e->stage == 4) {
				kb_strlcpy(until, "  trusted until an unfinished promotion completes (run 'broker ca promote')",
					   sizeof(until));
			}
			printf("%-8s  version %-6s %s %s%s%s\n", stage_word(e->stage), e->version, kb_key_ssh_name(e->pub),
			       fp, e->stage == 1 ? "  (signs)" : e->stage == 2 ? "  (trusted, not signing yet)" : "",
			       until);
		}
		free(line);
	}
	if (status) {
		printf("%s CA %s: %zu key%s in the bundle (broker ca show --bundle%s)\n", host ? "host" : "user",
		       kb_ca_secret_name(host), st.n, st.n == 1 ? "" : "s", host ? " --host" : "");
		if (st.retired_version[0])
			printf("retired: version %s (its overlap is over; no longer in the bundle)\n", st.retired_version);
		if (st.to[0] && !st.promotion_done)
			printf("unfinished promotion %s -> %s: run 'broker ca promote%s' to finish it\n", st.from, st.to,
			       host ? " --host" : "");
	}
	kb_ca_status_done(&st);
	return KB_EXIT_OK;
}

/* The longest max_ttl of any role in the policy (0 without a policy file). */
static int policy_min_overlap(struct kb_ctx *ctx, struct kb_config *cfg, int64_t *ret)
{
	const char *path = kb_policy_path(cfg);
	struct kb_policy *pol = NULL;
	struct stat sb;
	int r;

	*ret = 0;
	if (path == NULL || (stat(path, &sb) != 0 && errno == ENOENT))
		return KB_EXIT_OK;
	if ((r = kb_policy_load(path, &pol, NULL)) != KB_OK)
		return kb_fail(ctx, r, "cannot read the policy %s (the overlap must cover its longest TTL); fix it "
				       "('broker policy lint %s')",
			       path, path);
	for (size_t i = 0; i < pol->nroles; i++)
		if (pol->roles[i].max_ttl > *ret)
			*ret = pol->roles[i].max_ttl;
	kb_policy_free(pol);
	return KB_EXIT_OK;
}

static int audit_step(struct kb_audit *audit, json_t *e, uint64_t *seq)
{
	int r = kb_audit_append(audit, e, seq);
	json_decref(e);
	return r;
}

static int do_rotate(struct kb_ctx *ctx, struct kb_store *store, struct kb_audit *audit, const char *who, bool host,
		     enum kb_key_type kt, unsigned bits, int64_t overlap, int64_t min_overlap)
{
	struct kb_ca_rotate_result res;
	char fp[KB_KEY_FP_MAX] = "", d[64];
	uint64_t seq = 0;
	int r = kb_ca_rotate(store, host, kt, bits, overlap, min_overlap, &res);

	if (r == KB_OK)
		r = kb_key_fingerprint(res.pub, fp, sizeof(fp));
	json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:s}", "event", "ca-rotate", "via", "cli", "requester", who, "ca",
			      host ? "host" : "user", "outcome",
			      r != KB_OK ? "failed" : res.created ? "pending-created" : "pending-kept");
	if (r == KB_OK) {
		json_object_set_new(e, "version", json_string(res.version));
		json_object_set_new(e, "fingerprint", json_string(fp));
		json_object_set_new(e, "overlap_seconds", json_integer((json_int_t)res.overlap));
	} else {
		json_object_set_new(e, "error", json_string(kb_err_detail()[0] ? kb_err_detail() : kb_err_str(r)));
	}
	char detail[600];
	kb_strlcpy(detail, kb_err_detail(), sizeof(detail));
	int ar = audit_step(audit, e, &seq);
	if (r != KB_OK) {
		kb_err_set(r, "%s", detail);
		return kb_fail(ctx, r, "cannot rotate the %s CA", host ? "host" : "user");
	}
	if (ar != KB_OK) {
		kb_ca_rotate_result_done(&res);
		return kb_fail(ctx, ar, "the pending CA is stored but its audit line could not be written");
	}
	kb_format_duration(res.overlap, d, sizeof(d));
	if (ctx->json) {
		char *line = NULL;
		kb_key_format_public_line(res.pub, ca_comment(host), &line);
		kb_print_json(json_pack("{s:s,s:s,s:b,s:s,s:s,s:s?,s:I,s:I}", "ca", host ? "host" : "user", "stage",
				     "pending", "created", res.created, "version", res.version, "fingerprint", fp,
				     "public_key", line, "overlap_seconds", (json_int_t)res.overlap, "audit_seq",
				     (json_int_t)seq));
		free(line);
	} else {
		printf("%s pending %s CA: version %s %s (overlap after promotion: %s)\n",
		       res.created ? "created the" : "kept the existing", host ? "host" : "user", res.version, fp, d);
		printf("next: distribute 'broker ca show --bundle%s' to every host (it is trusted now, not yet signing), "
		       "then run 'broker ca promote%s'\n",
		       host ? " --host" : "", host ? " --host" : "");
	}
	kb_ca_rotate_result_done(&res);
	return KB_EXIT_OK;
}

static int do_promote(struct kb_ctx *ctx, struct kb_store *store, struct kb_audit *audit, const char *who, bool host,
		      int64_t overlap, int64_t min_overlap)
{
	struct kb_ca_promote_result res;
	char fp[KB_KEY_FP_MAX] = "", until[32] = "";
	uint64_t seq = 0;
	int r = kb_ca_promote(store, host, overlap, min_overlap, &res);
	const char *outcome = r != KB_OK ? (res.blocked_until ? "refused" : "failed")
			      : res.outcome == KB_CA_PROMOTED	 ? "promoted"
			      : res.outcome == KB_CA_PROMOTE_FINISHED ? "finished"
								      : "already-promoted";

	if (r == KB_OK) {
		r = kb_key_fingerprint(res.pub, fp, sizeof(fp));
		kb_format_time_utc(res.overlap_until, until, sizeof(until));
	}
	json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:s}", "event", "ca-promote", "via", "cli", "requester", who, "ca",
			      host ? "host" : "user", "outcome", outcome);
	if (r == KB_OK) {
		json_object_set_new(e, "from", json_string(res.from));
		json_object_set_new(e, "to", json_string(res.to));
		json_object_set_new(e, "fingerprint", json_string(fp));
		json_object_set_new(e, "overlap_seconds", json_integer((json_int_t)res.overlap));
		json_object_set_new(e, "overlap_until", json_string(until));
	} else {
		json_object_set_new(e, "error", json_string(kb_err_detail()[0] ? kb_err_detail() : kb_err_str(r)));
	}
	char detail[600];
	kb_strlcpy(detail, kb_err_detail(), sizeof(detail));
	/* "already-promoted" changes nothing: not worth an audit line per
	 * timer run. */
	int ar = r == KB_OK && res.outcome == KB_CA_PROMOTE_ALREADY ? (json_decref(e), KB_OK) : audit_step(audit, e, &seq);
	if (r != KB_OK) {
		if (res.blocked_until) {
			fprintf(stderr, "broker: cannot promote the %s CA yet: %s\n", host ? "host" : "user", detail);
			return KB_EXIT_PENDING;
		}
		kb_err_set(r, "%s", detail);
		return kb_fail(ctx, r, "cannot promote the %s CA", host ? "host" : "user");
	}
	if (ar != KB_OK) {
		kb_ca_promote_result_done(&res);
		return kb_fail(ctx, ar, "the %s CA was promoted but the audit line could not be written",
			       host ? "host" : "user");
	}
	if (ctx->json) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s}", "ca", host ? "host" : "user", "outcome", outcome,
				      "from", res.from, "to", res.to, "fingerprint", fp, "overlap_seconds",
				      (json_int_t)res.overlap, "overlap_until", until);
		json_object_set_new(j, "audit_seq", seq ? json_integer((json_int_t)seq) : json_null());
		kb_print_json(j);
	} else {
		char local[64], d[64];
		kb_format_time_local(res.overlap_until, local, sizeof(local));
		kb_format_duration(res.overlap, d, sizeof(d));
		printf("%s %s CA version %s (%s) signs now; version %s stays in the bundle until %s (overlap %s)\n",
		       res.outcome == KB_CA_PROMOTED ? "promoted:" : res.outcome == KB_CA_PROMOTE_FINISHED
							       ? "finished an interrupted promotion:"
							       : "already promoted:",
		       host ? "host" : "user", res.to, fp, res.from, local, d);
		printf("next: redistribute 'broker ca show --bundle%s' after %s to drop the old CA\n",
		       host ? " --host" : "", local);
	}
	kb_ca_promote_result_done(&res);
	return KB_EXIT_OK;
}

int cmd_ca(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { { "type", required_argument, NULL, 't' },
					      { "host", no_argument, NULL, 'H' },
					      { "hosts", required_argument, NULL, 'p' },
					      { "socket", required_argument, NULL, 's' },
					      { "no-daemon", no_argument, NULL, 'D' },
					      { "bundle", no_argument, NULL, 'b' },
					      { "overlap", required_argument, NULL, 'o' },
					      { "promote", no_argument, NULL, 'P' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	const char *type = NULL, *pattern = "*", *sock = NULL, *overlap_s = NULL;
	bool host = false, no_daemon = false, bundle = false, promote = false;
	enum ca_cmd cmd;
	int c;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(usage_text, stdout);
		return argc < 2 ? KB_EXIT_USAGE : KB_EXIT_OK;
	}
	if (strcmp(argv[1], "init") == 0)
		cmd = CA_INIT;
	else if (strcmp(argv[1], "show") == 0)
		cmd = CA_SHOW;
	else if (strcmp(argv[1], "status") == 0)
		cmd = CA_STATUS;
	else if (strcmp(argv[1], "rotate") == 0)
		cmd = CA_ROTATE;
	else if (strcmp(argv[1], "promote") == 0)
		cmd = CA_PROMOTE;
	else
		return kb_usage_error(ctx, "unknown ca command '%s' (use init, show, status, rotate or promote)", argv[1]);
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
		case 'b': bundle = true; break;
		case 'o': overlap_s = optarg; break;
		case 'P': promote = true; break;
		case 'h': fputs(usage_text, stdout); return KB_EXIT_OK;
		default: return KB_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return kb_usage_error(ctx, "unexpected argument '%s'", argv[optind]);
	if (type != NULL && cmd != CA_INIT && cmd != CA_ROTATE)
		return kb_usage_error(ctx, "--type is for 'ca init' and 'ca rotate'");
	if (overlap_s != NULL && cmd != CA_ROTATE && cmd != CA_PROMOTE)
		return kb_usage_error(ctx, "--overlap is for 'ca rotate' and 'ca promote'");
	if (bundle && cmd != CA_SHOW)
		return kb_usage_error(ctx, "--bundle is for 'ca show'");
	if (promote && cmd != CA_ROTATE)
		return kb_usage_error(ctx, "--promote is for 'ca rotate' (or use 'ca promote')");
	if (promote)
		cmd = CA_PROMOTE;
	enum kb_key_type kt = KB_KEY_UNSPEC;
	unsigned bits = 0;
	if (type != NULL || cmd == CA_INIT) {
		if (kb_key_type_from_cli(type ? type : "ed25519", &kt, &bits) != KB_OK || kt == KB_KEY_DSA)
			return kb_usage_error(ctx, "unknown CA key type '%s' (use ed25519, ecdsa-p256, ecdsa-p384, "
						   "ecdsa-p521, rsa-3072 or rsa-4096)", type);
		if (kt == KB_KEY_RSA && bits != 0 && bits < 3072)
			return kb_usage_error(ctx, "an RSA CA needs at least 3072 bits");
	}
	int64_t overlap = 0;
	if (overlap_s != NULL && (kb_parse_duration(overlap_s, &overlap) != KB_OK || overlap <= 0))
		return kb_usage_error(ctx, "invalid --overlap '%s' (a duration such as 90s, 30m, 12h, 2d)", overlap_s);

	struct kb_config *cfg = kb_ctx_config(ctx);
	struct kb_store *store = NULL;
	struct kb_key *pub = NULL;
	struct kb_audit *audit = NULL;
	struct kb_requester who = { 0 };
	int r, rc;
	if (cfg == NULL)
		return KB_EXIT_FAILURE;
	/* show: through the daemon when there is one (clients of a daemon
	 * usually cannot read the backend themselves).  The bundle is read
	 * from the backend: the distribution job runs where it can. */
	if (cmd == CA_SHOW && !bundle && (sock = kb_serve_socket_for(cfg, sock, no_daemon)) != NULL)
		return show_via_daemon(ctx, sock, host, pattern);
	int64_t min_overlap = 0;
	if (cmd == CA_ROTATE || cmd == CA_PROMOTE) {
		/* Changes are audited: open the log before changing anything. */
		const char *log = kb_config_get(cfg, "audit.log");
		if ((rc = policy_min_overlap(ctx, cfg, &min_overlap)) != KB_EXIT_OK)
			return rc;
		if (overlap > 0 && overlap < min_overlap) {
			char a[64], m[64];
			kb_format_duration(overlap, a, sizeof(a));
			kb_format_duration(min_overlap, m, sizeof(m));
			return kb_usage_error(ctx,
					      "--overlap %s is shorter than the longest max_ttl in the policy (%s): "
					      "certificates signed by the old CA would be refused before they expire; "
					      "use --overlap %llds or more",
					      a, m, (long long)min_overlap);
		}
		if (log == NULL)
			return kb_fail(ctx, KB_ERR_INVALID, "no audit log configured (audit.log); CA changes are always audited");
		if ((r = kb_requester_from_uid(getuid(), &who)) != KB_OK)
			return kb_fail(ctx, r, "cannot resolve the calling user");
		if ((r = kb_audit_open(log, kb_config_get(cfg, "audit.key"), &audit)) != KB_OK) {
			kb_requester_done(&who);
			return kb_fail(ctx, r, "cannot open the audit log %s", log);
		}
	}
	if ((r = kb_store_open(cfg, &store)) != KB_OK) {
		rc = kb_fail(ctx, r, "cannot open the %s backend", kb_config_get(cfg, "backend"));
		goto out;
	}
	switch (cmd) {
	case CA_INIT:
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
		break;
	case CA_SHOW:
		if (bundle) {
			rc = show_bundle(ctx, store, host, pattern, false);
			break;
		}
		{
			struct kb_key *priv = NULL;
			r = kb_ca_load(store, host, &priv);
			if (r == KB_OK)
				r = kb_key_dup_public(priv, &pub);
			kb_key_free(priv);
			rc = r == KB_OK ? print_ca(ctx, pub, host, pattern, false) : kb_fail(ctx, r, "cannot read the CA");
		}
		break;
	case CA_STATUS: rc = show_bundle(ctx, store, host, pattern, true); break;
	case CA_ROTATE: rc = do_rotate(ctx, store, audit, who.user, host, kt, bits, overlap, min_overlap); break;
	case CA_PROMOTE: rc = do_promote(ctx, store, audit, who.user, host, overlap, min_overlap); break;
	default: rc = KB_EXIT_FAILURE; break;
	}
out:
	kb_key_free(pub);
	kb_store_close(store);
	kb_audit_close(audit);
	kb_requester_done(&who);
	return rc;
}
