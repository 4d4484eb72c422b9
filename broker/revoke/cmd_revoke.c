/* broker revoke --serial N... | --key-id ID | --identity [ROLE/]NAME | --key PUBFILE | --cert CERTFILE
 *               [--ca CAFILE] [--reason TEXT] [--agent SOCKET | --no-agent]
 * broker revoke --prune [--dry-run]
 * broker revoke --list
 *
 * Records the revocation in the backend (keybroker/revocations), writes an
 * audit line and removes matching identities from the local agent.
 * `broker krl publish` turns the records into a KRL for sshd. */
#include "commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/client.h"
#include "cert/cert.h"
#include "certtool/certtool_io.h"
#include "cert/krl.h"
#include "config.h"
#include "core/mem.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/util.h"
#include "issue/audit.h"
#include "issue/ca.h"
#include "issue/issue.h"
#include "issue/requester.h"
#include "revoke.h"
#include "revoke_int.h"
#include "revoke_targets.h"
#include "store/store.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: broker revoke (--serial N [--serial N]... [--serials-from FILE|-] | --key-id ID |\n"
		   "                      --identity [ROLE/]NAME |\n"
		   "                      --key PUBFILE | --cert CERTFILE) [--ca CAFILE]\n"
		   "                     [--reason TEXT] [--agent SOCKET | --no-agent] [--json]\n"
		   "       broker revoke --prune [--dry-run] [--json]\n"
		   "       broker revoke --list [--json]\n"
		   "Records the revocation in the backend (%s), audits it and removes matching\n"
		   "identities from the agent ($SSH_AUTH_SOCK).  Then run 'broker krl publish -f FILE'.\n"
		   "--serial and --key-id apply to the user CA (every CA in its bundle) unless --ca names one;\n"
		   "--serials-from reads one serial per line.  Many serials are recorded in one write.\n"
		   "--prune drops revocations of certificates that have expired (never key revocations,\n"
		   "never entries without a recorded expiry).\n",
		   KB_REVOCATIONS_SECRET);
}


/* Removes matching identities from the agent; -1 when none is reachable. */
static long agent_remove(const char *sock, const struct target *t, size_t nt)
{
	struct kb_agent_client *c = NULL;
	struct kb_agent_identities ids = { 0 };
	long removed = 0;

	if (sock == NULL || *sock == '\0' || kb_agent_connect(sock, &c) != KB_OK)
		return -1;
	if (kb_agent_list(c, &ids) != KB_OK) {
		kb_agent_close(c);
		return -1;
	}
	for (size_t i = 0; i < ids.n; i++) {
		if (ids.v[i].key == NULL)
			continue;
		for (size_t j = 0; j < nt; j++) {
			if (kb_revocation_matches(&t[j].rev, ids.v[i].key)) {
				if (kb_agent_remove(c, ids.v[i].key) == KB_OK)
					removed++;
				break;
			}
		}
	}
	kb_agent_identities_done(&ids);
	kb_agent_close(c);
	return removed;
}

static json_t *target_json(const struct target *t)
{
	json_t *o = json_object();
	char buf[64], fp[KB_KEY_FP_MAX];
	if (t->rev.serial) {
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)t->rev.serial);
		json_object_set_new(o, "serial", json_string(buf));
	}
	if (t->rev.key_id)
		json_object_set_new(o, "key_id", json_string(t->rev.key_id));
	if (t->rev.key && kb_key_fingerprint(t->rev.key, fp, sizeof(fp)) == KB_OK)
		json_object_set_new(o, "fingerprint", json_string(fp));
	if (t->rev.ca && kb_key_fingerprint(t->rev.ca, fp, sizeof(fp)) == KB_OK)
		json_object_set_new(o, "ca_fingerprint", json_string(fp));
	if (t->identity)
		json_object_set_new(o, "identity", json_string(t->identity));
	json_object_set_new(o, "already_revoked", json_boolean(!t->added));
	return o;
}

static void describe(const struct target *t, char *out, size_t n)
{
	char fp[KB_KEY_FP_MAX] = "";
	if (t->rev.key)
		kb_key_fingerprint(t->rev.key, fp, sizeof(fp));
	snprintf(out, n, "%s%s%s%s%s%s", t->identity ? t->identity : "", t->identity ? " " : "",
		 t->rev.serial ? "serial " : "", "", t->rev.key_id ? "key id " : "", t->rev.key_id ? t->rev.key_id : "");
	if (t->rev.serial) {
		size_t l = strlen(out);
		snprintf(out + l, n - l, "%llu", (unsigned long long)t->rev.serial);
	}
	if (*fp) {
		size_t l = strlen(out);
		snprintf(out + l, n - l, "%skey %s", l ? " " : "", fp);
	}
}


/* Audit lines: one per target for a few, batches of BATCH for many. */
#define FEW 16
#define BATCH 200

static int audit_targets(struct kb_ctx *ctx, struct kb_audit *audit, const struct kb_requester *who,
			 struct target *t, size_t nt, int result, const char *reason, json_t *out)
{
	for (size_t i = 0; i < nt; i += nt <= FEW ? 1 : BATCH) {
		size_t end = nt <= FEW ? i + 1 : (i + BATCH < nt ? i + BATCH : nt);
		char what[512];
		uint64_t seq = 0;
		json_t *e, *arr = json_array();
		size_t added = 0;
		for (size_t j = i; j < end; j++) {
			json_t *tj = target_json(&t[j]);
			added += t[j].added;
			json_array_append_new(arr, tj);
		}
		if (nt <= FEW)
			describe(&t[i], what, sizeof(what));
		else
			snprintf(what, sizeof(what), "%zu targets (%zu-%zu of %zu)", end - i, i + 1, end, nt);
		e = json_pack("{s:s,s:s,s:s,s:s,s:s}", "event", "revoke", "via", "cli", "requester", who->user, "what",
			      what, "outcome",
			      result != KB_OK ? "failed" : added == end - i ? "revoked" : added == 0 ? "already-revoked" : "revoked-some");
		if (nt <= FEW) {
			json_object_update(e, json_array_get(arr, 0));
			json_object_del(e, "already_revoked");
		} else {
			json_object_set(e, "targets", arr);
		}
		if (reason)
			json_object_set_new(e, "reason", json_string(reason));
		int ar = kb_audit_append(audit, e, &seq);
		json_decref(e);
		if (result != KB_OK) {
			json_decref(arr);
			return kb_fail(ctx, result, "cannot record the revocation of %s", what);
		}
		if (ar != KB_OK) {
			json_decref(arr);
			return kb_fail(ctx, ar, "revocation of %s recorded but its audit line could not be written", what);
		}
		size_t k;
		json_t *tj;
		json_array_foreach(arr, k, tj) {
			json_object_set_new(tj, "audit_seq", json_integer((json_int_t)seq));
			json_array_append(out, tj);
		}
		json_decref(arr);
		if (!ctx->json && ctx->verbosity >= 0 && nt <= FEW)
			fprintf(stderr, "broker: %s %s (audit #%llu)\n", t[i].added ? "revoked" : "already revoked:", what,
				(unsigned long long)seq);
	}
	if (!ctx->json && ctx->verbosity >= 0 && nt > FEW) {
		size_t added = 0;
		for (size_t i = 0; i < nt; i++)
			added += t[i].added;
		fprintf(stderr, "broker: revoked %zu, %zu already revoked\n", added, nt - added);
	}
	return KB_EXIT_OK;
}

/* Serials to revoke, from --serial and --serials-from. */
struct serial_list {
	uint64_t *v;
	size_t n;
	const char *path;
	unsigned bad_line;
};

static int serial_push(struct serial_list *l, uint64_t sn)
{
	if ((l->n & (l->n - 1)) == 0) { /* 0 or a power of two: double */
		uint64_t *v = realloc(l->v, (l->n ? 2 * l->n : 1) * sizeof(*v));
		if (v == NULL)
			return KB_ERR_NOMEM;
		l->v = v;
	}
	l->v[l->n++] = sn;
	return KB_OK;
}

static int serial_line(void *arg, const char *line, unsigned lnum)
{
	struct serial_list *l = arg;
	char word[32];
	size_t n = strcspn(line, " \t\r");
	uint64_t sn = 0;

	if (l->bad_line != 0)
		return 1;
	if (n >= sizeof(word) || line[n + strspn(line + n, " \t\r")] != '\0') {
		l->bad_line = lnum;
		return 1;
	}
	memcpy(word, line, n);
	word[n] = '\0';
	if (kb_parse_u64(word, UINT64_MAX, &sn) != KB_OK || sn == 0 || serial_push(l, sn) != KB_OK)
		l->bad_line = lnum;
	return l->bad_line != 0;
}

/* One decimal serial per line ('#' comments and blank lines skipped). */
#define SERIALS_FILE_MAX (32u * 1024u * 1024u)
static int read_serials(struct serial_list *l, const char *path)
{
	char *text = NULL;
	int r = ct_read_text(strcmp(path, "-") == 0 ? "/dev/stdin" : path, SERIALS_FILE_MAX, &text);
	if (r != KB_OK)
		return r;
	ct_each_line(text, serial_line, l);
	free(text);
	if (l->bad_line != 0)
		return kb_err_set(KB_ERR_ARGS, "%s:%u: not a serial (one non-zero decimal number per line)", path,
				  l->bad_line);
	return KB_OK;
}

int cmd_revoke(struct kb_ctx *ctx, int argc, char **argv)
{
	enum { OPT_SERIAL = 256, OPT_SERIALS_FROM, OPT_KEYID, OPT_IDENTITY, OPT_KEY, OPT_CERT, OPT_CA, OPT_REASON, OPT_AGENT, OPT_NOAGENT,
	       OPT_PRUNE, OPT_DRYRUN, OPT_LIST };
	static const struct option longopts[] = {
		{ "serial", required_argument, NULL, OPT_SERIAL }, { "serials-from", required_argument, NULL, OPT_SERIALS_FROM },
		{ "key-id", required_argument, NULL, OPT_KEYID },
		{ "identity", required_argument, NULL, OPT_IDENTITY }, { "key", required_argument, NULL, OPT_KEY },
		{ "cert", required_argument, NULL, OPT_CERT }, { "ca", required_argument, NULL, OPT_CA },
		{ "reason", required_argument, NULL, OPT_REASON }, { "agent", required_argument, NULL, OPT_AGENT },
		{ "no-agent", no_argument, NULL, OPT_NOAGENT }, { "prune", no_argument, NULL, OPT_PRUNE },
		{ "dry-run", no_argument, NULL, OPT_DRYRUN }, { "list", no_argument, NULL, OPT_LIST }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *key_id = NULL, *identity = NULL, *keyfile = NULL, *reason = NULL, *cafile = NULL, *from = NULL;
	struct serial_list sl = { 0 };
	const char *sock = getenv("SSH_AUTH_SOCK");
	bool want_cert = false, prune = false, dry_run = false, list = false;
	struct target *t = NULL;
	size_t nt = 0, nforms = 0, ncas = 0;
	struct kb_key **cas = NULL;
	struct kb_store *store = NULL;
	struct kb_audit *audit = NULL;
	struct kb_requester who = { 0 };
	struct kb_revocation *revs = NULL;
	bool *added = NULL;
	char **secrets = NULL;
	size_t nsecrets = 0;
	int opt, r, rc = KB_EXIT_FAILURE;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_SERIAL: {
			uint64_t sn = 0;
			if (kb_parse_u64(optarg, UINT64_MAX, &sn) != KB_OK || sn == 0) {
				free(sl.v);
				return kb_usage_error(ctx, "revoke: invalid --serial \"%s\" (a non-zero decimal number)", optarg);
			}
			if (serial_push(&sl, sn) != KB_OK) {
				free(sl.v);
				return kb_fail(ctx, KB_ERR_NOMEM, "revoke");
			}
			if (sl.n == 1 && from == NULL)
				nforms++;
			break;
		}
		case OPT_SERIALS_FROM:
			if (from != NULL) {
				free(sl.v);
				return kb_usage_error(ctx, "revoke: --serials-from given twice");
			}
			from = optarg;
			if (sl.n == 0)
				nforms++;
			break;
		case OPT_KEYID: key_id = optarg; nforms++; break;
		case OPT_IDENTITY: identity = optarg; nforms++; break;
		case OPT_KEY: keyfile = optarg; nforms++; break;
		case OPT_CERT: keyfile = optarg; want_cert = true; nforms++; break;
		case OPT_CA: cafile = optarg; break;
		case OPT_REASON: reason = optarg; break;
		case OPT_AGENT: sock = optarg; break;
		case OPT_NOAGENT: sock = NULL; break;
		case OPT_PRUNE: prune = true; break;
		case OPT_DRYRUN: dry_run = true; break;
		case OPT_LIST: list = true; break;
		case 'j': ctx->json = true; break;
		case 'h': free(sl.v); usage(stdout); return KB_EXIT_OK;
		default:
			free(sl.v);
			return kb_usage_error(ctx, "revoke: unknown or incomplete option '%s' (see broker revoke --help)",
					      argv[optind - 1]);
		}
	}
	if (optind < argc)
		rc = kb_usage_error(ctx, "revoke: unexpected argument '%s'", argv[optind]);
	else if (list && (nforms != 0 || cafile || reason || prune || dry_run))
		rc = kb_usage_error(ctx, "revoke: --list takes only --json");
	else if (prune && (nforms != 0 || cafile || reason))
		rc = kb_usage_error(ctx, "revoke: --prune takes only --dry-run and --json");
	else if (dry_run && !prune)
		rc = kb_usage_error(ctx, "revoke: --dry-run goes with --prune");
	else if (!prune && !list && nforms != 1)
		rc = kb_usage_error(ctx, "revoke: give exactly one of --serial, --key-id, --identity, --key, --cert");
	else if (cafile != NULL && sl.n == 0 && from == NULL && key_id == NULL)
		rc = kb_usage_error(ctx, "revoke: --ca goes with --serial or --key-id");
	else if (key_id != NULL && (*key_id == '\0' || strlen(key_id) > KB_KRL_KEY_ID_MAX))
		rc = kb_usage_error(ctx, "revoke: invalid --key-id (1-%d characters)", KB_KRL_KEY_ID_MAX);
	else if (reason != NULL && strlen(reason) > KB_REVOKE_REASON_MAX)
		rc = kb_usage_error(ctx, "revoke: --reason is longer than %d characters", KB_REVOKE_REASON_MAX);
	else if (from != NULL && (r = read_serials(&sl, from)) != KB_OK)
		rc = r == KB_ERR_ARGS ? kb_usage_error(ctx, "revoke: %s", kb_err_detail()) : kb_fail(ctx, r, "revoke: %s", from);
	else if (from != NULL && sl.n == 0)
		rc = kb_usage_error(ctx, "revoke: no serial in %s", from);
	else
		rc = KB_EXIT_OK;
	if (rc != KB_EXIT_OK) {
		free(sl.v);
		return rc;
	}
	uint64_t *serials = sl.v;
	size_t nserials = sl.n;
	rc = KB_EXIT_FAILURE;

	struct kb_config *cfg = kb_ctx_config(ctx);
	if (cfg == NULL)
		goto out;
	if (list) { /* a read: no audit line, no audit log needed */
		if ((r = kb_store_open(cfg, &store)) != KB_OK)
			rc = kb_fail(ctx, r, "cannot open the %s backend", kb_config_get(cfg, "backend"));
		else
			rc = kb_rev_cmd_list(ctx, store);
		goto out;
	}
	const char *log = kb_config_get(cfg, "audit.log");
	if (log == NULL) {
		rc = kb_fail(ctx, KB_ERR_INVALID, "no audit log configured (audit.log); revocations are always audited");
		goto out;
	}
	if ((r = kb_requester_from_uid(getuid(), &who)) != KB_OK) {
		rc = kb_fail(ctx, r, "cannot resolve the calling user");
		goto out;
	}
	if ((r = kb_audit_open(log, kb_config_get(cfg, "audit.key"), &audit)) != KB_OK) {
		rc = kb_fail(ctx, r, "cannot open the audit log %s", log);
		goto out;
	}
	if ((r = kb_store_open(cfg, &store)) != KB_OK) {
		rc = kb_fail(ctx, r, "cannot open the %s backend", kb_config_get(cfg, "backend"));
		goto out;
	}
	if (prune) {
		rc = kb_rev_cmd_prune(ctx, store, audit, who.user, dry_run);
		goto out;
	}

	/* Resolve what to revoke before anything is written. */
	if (identity != NULL && (r = kb_rev_find_identity(store, identity, &secrets, &nsecrets)) != KB_OK) {
		rc = kb_fail(ctx, r, "revoke");
		goto out;
	}
	if ((nserials > 0 || key_id != NULL) && (r = kb_rev_load_cas(store, cafile, &cas, &ncas)) != KB_OK) {
		rc = kb_fail(ctx, r, "revoke: %s", cafile ? cafile : "cannot read the user CA");
		goto out;
	}
	if ((nserials > 0 || key_id != NULL) && ncas == 0) {
		rc = kb_fail(ctx, KB_ERR_NOT_FOUND, "revoke: the user CA bundle is empty (see 'broker ca show --bundle')");
		goto out;
	}
	nt = identity ? nsecrets : nserials > 0 ? nserials * ncas : key_id ? ncas : 1;
	if ((t = calloc(nt, sizeof(*t))) == NULL || (revs = calloc(nt, sizeof(*revs))) == NULL ||
	    (added = calloc(nt, sizeof(*added))) == NULL) {
		rc = kb_fail(ctx, KB_ERR_NOMEM, "revoke");
		goto out;
	}
	for (size_t i = 0; i < nt; i++) {
		if (identity != NULL)
			r = kb_rev_load_identity(store, secrets[i], &t[i]);
		else if (keyfile != NULL)
			r = kb_rev_load_keyfile(keyfile, want_cert, &t[i]);
		else {
			r = kb_key_dup_public(cas[i % ncas], &t[i].ca);
			t[i].rev.serial = nserials ? serials[i / ncas] : 0;
			if (r == KB_OK && key_id != NULL && (t[i].key_id = strdup(key_id)) == NULL)
				r = KB_ERR_NOMEM;
		}
		if (r != KB_OK) {
			rc = kb_fail(ctx, r, "revoke: %s", identity ? secrets[i] : keyfile ? keyfile : "revoke");
			goto out;
		}
		t[i].rev.ca = t[i].ca;
		t[i].rev.key = t[i].key;
		t[i].rev.key_id = t[i].key_id;
		t[i].rev.identity = t[i].identity;
		t[i].rev.requester = who.user;
		t[i].rev.reason = reason;
		revs[i] = t[i].rev;
	}

	r = kb_revocations_add_many(store, revs, nt, added);
	for (size_t i = 0; i < nt; i++)
		t[i].added = added[i];
	json_t *arr = json_array();
	if ((rc = audit_targets(ctx, audit, &who, t, nt, r, reason, arr)) != KB_EXIT_OK) {
		json_decref(arr);
		goto out;
	}
	long removed = agent_remove(sock, t, nt);
	if (ctx->json) {
		json_t *o = json_pack("{s:o,s:s}", "revoked", arr, "secret", KB_REVOCATIONS_SECRET);
		json_object_set_new(o, "agent_removed", removed >= 0 ? json_integer(removed) : json_null());
		kb_print_json(o);
	} else {
		json_decref(arr);
		if (ctx->verbosity >= 0) {
			if (removed >= 0)
				fprintf(stderr, "broker: removed %ld matching identit%s from the agent\n", removed,
					removed == 1 ? "y" : "ies");
			fprintf(stderr, "broker: publish it for sshd with 'broker krl publish -f FILE'\n");
		}
	}
	rc = KB_EXIT_OK;
out:
	for (size_t i = 0; t != NULL && i < nt; i++)
		kb_rev_target_done(&t[i]);
	for (size_t i = 0; i < ncas; i++)
		kb_key_free(cas[i]);
	free(cas);
	free(t);
	free(revs);
	free(added);
	free(serials);
	kb_store_names_free(secrets, nsecrets);
	kb_store_close(store);
	kb_audit_close(audit);
	kb_requester_done(&who);
	return rc;
}
