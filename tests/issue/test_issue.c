/* The issuing pipeline as a library (kb_issue_run): allow, deny, and the
 * failure paths (deliver fails, audit fails) leave nothing current and
 * call undo.  Local backend in a temporary directory. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cert/cert.h"
#include "config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "issue/audit.h"
#include "issue/ca.h"
#include "issue/issue.h"
#include "kbtest.h"
#include "store/store.h"

static char dir[] = "/tmp/kbissue.XXXXXX";
static char path_log[300], path_pol[300], path_store[300];
static struct kb_config *cfg;
static int delivered, undone, fail_deliver;

static int deliver(void *arg, const struct kb_issue_result *res)
{
	(void)arg;
	(void)res;
	delivered++;
	return fail_deliver ? kb_err_set(KB_ERR_NETWORK, "agent went away") : KB_OK;
}

static void undo(void *arg, const struct kb_issue_result *res)
{
	(void)arg;
	(void)res;
	undone++;
}

static const struct kb_issue_deliver dl = { deliver, undo, NULL };

static int log_lines(void)
{
	struct kb_buf b;
	int n = 0;
	kb_buf_init(&b, 1 << 20);
	if (kb_read_file(path_log, 1 << 20, &b) == KB_OK)
		for (size_t i = 0; i < kb_buf_remaining(&b); i++)
			n += kb_buf_ptr(&b)[i] == '\n';
	kb_buf_done(&b);
	return n;
}

static char *current_key_id(void)
{
	struct kb_store *s = NULL;
	struct kb_buf v;
	char *ver = NULL, *out = NULL;
	kb_buf_init_secure(&v, KB_STORE_VALUE_MAX);
	if (kb_store_open(cfg, &s) == KB_OK && kb_store_get(s, "keybroker/deploy/alice", NULL, &v, &ver) == KB_OK) {
		json_t *j = json_loadb((const char *)kb_buf_ptr(&v), kb_buf_remaining(&v), 0, NULL);
		if (j)
			out = kb_strdup(json_string_value(json_object_get(j, "key_id")));
		json_decref(j);
	}
	free(ver);
	kb_buf_done(&v);
	kb_store_close(s);
	return out;
}

static struct kb_issue_request req(const char *role, const char *principal)
{
	static const char *groups[] = { "staff" };
	static const char *prs[1];
	prs[0] = principal;
	return (struct kb_issue_request){ .user = "alice", .uid = 1000, .groups = groups, .ngroups = 1,
					  .role = role, .principals = prs, .nprincipals = principal ? 1 : 0 };
}

static void test_allow(void)
{
	struct kb_issue_ctx ic;
	struct kb_issue_result res = { 0 };
	struct kb_issue_request rq = req("deploy", NULL);
	KBT_CHECK_INT(kb_issue_ctx_init(&ic, cfg, "test"), KB_OK);
	delivered = undone = 0;
	KBT_CHECK_INT(kb_issue_run(&ic, &rq, &dl, &res), KB_OK);
	KBT_CHECK_INT(delivered, 1);
	KBT_CHECK_INT(undone, 0);
	KBT_CHECK_STR(res.secret_name, "keybroker/deploy/alice");
	KBT_CHECK(strncmp(res.key_id, "alice@deploy#", 13) == 0);
	KBT_CHECK(res.serial != 0 && res.serial <= (uint64_t)INT64_MAX);
	KBT_CHECK_INT(res.valid_before - res.valid_after, 600 + KB_ISSUE_BACKDATE);
	const struct kb_cert *c = kb_key_cert(res.key);
	KBT_CHECK(c != NULL);
	if (c) {
		KBT_CHECK_INT(kb_cert_verify(c), KB_OK);
		KBT_CHECK_INT(c->nprincipals, 2);
		KBT_CHECK(kb_cert_find_extension(c, "permit-pty") != NULL);
		KBT_CHECK(kb_cert_find_extension(c, "permit-port-forwarding") == NULL);
		KBT_CHECK(kb_cert_find_critical(c, "force-command") != NULL);
	}
	/* what is stored parses back to the same key and certificate */
	struct kb_key *k2 = NULL;
	KBT_CHECK_INT(kb_credential_parse((const char *)kb_buf_ptr(&res.credential), kb_buf_remaining(&res.credential),
					  &k2), KB_OK);
	KBT_CHECK(k2 && kb_key_equal_public(k2, res.key) && kb_key_is_private(k2) && kb_key_is_cert(k2));
	kb_key_free(k2);
	char *cur = current_key_id();
	KBT_CHECK_STR(cur, res.key_id);
	free(cur);
	kb_issue_result_done(&res);
	kb_issue_ctx_done(&ic);
	struct kb_audit_report rep;
	KBT_CHECK_INT(kb_audit_verify_file(path_log, NULL, 0, &rep), KB_OK);
	kb_audit_report_done(&rep);
}

static void test_deny(void)
{
	struct kb_issue_ctx ic;
	struct kb_issue_result res = { 0 };
	struct kb_issue_request rq = req("deploy", "root");
	char *before = current_key_id();
	int lines = log_lines();
	KBT_CHECK_INT(kb_issue_ctx_init(&ic, cfg, "test"), KB_OK);
	delivered = 0;
	KBT_CHECK_INT(kb_issue_run(&ic, &rq, &dl, &res), KB_ERR_DENIED);
	KBT_CHECK_STR(res.decision.reason, "role deploy does not allow principal root; allowed: deploy, alice");
	KBT_CHECK(res.key == NULL);
	KBT_CHECK_INT(delivered, 0);
	KBT_CHECK_INT(log_lines(), lines + 1);
	char *after = current_key_id();
	KBT_CHECK_STR(after, before);
	free(before);
	free(after);
	kb_issue_result_done(&res);
	/* bad identity names are refused before anything is made */
	rq = req("deploy", NULL);
	rq.identity = "../etc";
	KBT_CHECK_INT(kb_issue_run(&ic, &rq, &dl, &res), KB_ERR_INVALID);
	kb_issue_result_done(&res);
	kb_issue_ctx_done(&ic);
}

static void test_deliver_fails(void)
{
	struct kb_issue_ctx ic;
	struct kb_issue_result res = { 0 };
	struct kb_issue_request rq = req("deploy", NULL);
	char *before = current_key_id();
	int lines = log_lines();
	KBT_CHECK_INT(kb_issue_ctx_init(&ic, cfg, "test"), KB_OK);
	fail_deliver = 1;
	KBT_CHECK_INT(kb_issue_run(&ic, &rq, &dl, &res), KB_ERR_NETWORK);
	fail_deliver = 0;
	KBT_CHECK(res.key == NULL);
	KBT_CHECK_INT(log_lines(), lines + 1); /* audited as failed */
	char *after = current_key_id();
	KBT_CHECK_STR(after, before); /* the pending version never became current */
	free(before);
	free(after);
	kb_issue_result_done(&res);
	kb_issue_ctx_done(&ic);
}

static void test_audit_fails(void)
{
	struct kb_issue_ctx ic;
	struct kb_issue_result res = { 0 };
	struct kb_issue_request rq = req("deploy", NULL);
	char *before = current_key_id();
	KBT_CHECK_INT(kb_issue_ctx_init(&ic, cfg, "test"), KB_OK);
	/* cut the log's last line: appends refuse until someone looks */
	FILE *f = fopen(path_log, "a");
	fputs("{\"seq\":", f);
	fclose(f);
	delivered = undone = 0;
	int r = kb_issue_run(&ic, &rq, &dl, &res);
	KBT_CHECK(r != KB_OK && r != KB_ERR_DENIED);
	KBT_CHECK(strstr(kb_err_detail(), "nothing was issued") != NULL);
	KBT_CHECK_INT(delivered, 1);
	KBT_CHECK_INT(undone, 1);
	KBT_CHECK(res.key == NULL);
	char *after = current_key_id();
	KBT_CHECK_STR(after, before);
	free(before);
	free(after);
	kb_issue_result_done(&res);
	kb_issue_ctx_done(&ic);
}

static struct kb_store *ca_store;
static struct kb_key *ca_pub;

static void test_ca_never_overwritten(void)
{
	struct kb_key *again = NULL, *loaded = NULL;
	KBT_CHECK_INT(kb_ca_init(ca_store, KB_KEY_ED25519, 0, false, &again), KB_ERR_EXISTS);
	KBT_CHECK(again && kb_key_equal_public(again, ca_pub));
	KBT_CHECK_INT(kb_ca_load(ca_store, false, &loaded), KB_OK);
	KBT_CHECK(loaded && kb_key_is_private(loaded) && kb_key_equal_public(loaded, ca_pub));
	kb_key_free(again);
	again = NULL;
	KBT_CHECK_INT(kb_ca_load(ca_store, true, &again), KB_ERR_NOT_FOUND);
	KBT_CHECK(again == NULL);
	kb_key_free(loaded);
}

int main(void)
{
	static const char pol[] =
		"{\"version\":1,\"roles\":{\"deploy\":{\"requesters\":{\"groups\":[\"staff\"]},"
		"\"principals\":[\"deploy\",\"{{requester}}\"],\"default_ttl\":\"10m\","
		"\"critical_options\":{\"force-command\":\"/bin/true\"}}}}";
	kb_init();
	kb_json_use_wiping_alloc();
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path_log, sizeof(path_log), "%s/audit/audit.log", dir);
	snprintf(path_pol, sizeof(path_pol), "%s/policy.json", dir);
	snprintf(path_store, sizeof(path_store), "%s/store", dir);
	if (kb_write_file_atomic(path_pol, pol, strlen(pol), 0600, false) != KB_OK || kb_config_new(&cfg) ||
	    kb_config_set(cfg, "backend", "local", "t") || kb_config_set(cfg, "local.dir", path_store, "t") ||
	    kb_config_set(cfg, "audit.log", path_log, "t") || kb_config_set(cfg, "policy", path_pol, "t"))
		return 1;
	struct kb_store *s = NULL;
	struct kb_key *pub = NULL;
	if (kb_store_open(cfg, &s) != KB_OK || kb_ca_init(s, KB_KEY_ED25519, 0, false, &pub) != KB_OK)
		return 1;
	KBT_RUN(test_allow);
	KBT_RUN(test_deny);
	KBT_RUN(test_deliver_fails);
	KBT_RUN(test_audit_fails);
	ca_store = s;
	ca_pub = pub;
	KBT_RUN(test_ca_never_overwritten);
	kb_key_free(pub);
	kb_store_close(s);
	kb_config_free(cfg);
	char *rm[] = { "rm", "-rf", dir, NULL };
	pid_t pid = fork();
	if (pid == 0) {
		execvp(rm[0], rm);
		_exit(1);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return kbt_done();
}
