/* Credentials issued per second: keygen + certificate + credential JSON +
 * local encrypted store, no agent, side by side with the same work done by
 * `ssh-keygen -t ed25519` + `ssh-keygen -s` (keys and certificates written
 * to files), in one run.  Prints both rates and the ratio.
 *
 * usage: bench-issue [SECONDS] (default 3 per side) */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "issue/issue.h"
#include "issue/policy.h"
#include "ssh/key.h"
#include "store/store.h"

extern char **environ;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(char *const argv[])
{
	pid_t pid;
	int st;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", 1, 0);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0)
		return -1;
	posix_spawn_file_actions_destroy(&fa);
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 3.0;
	/* KB_BENCH_DIR picks the file system (default /dev/shm when present:
	 * tmpfs, so both sides measure CPU work, not the disk's fsync). */
	const char *base = getenv("KB_BENCH_DIR");
	struct stat sst;
	if (base == NULL)
		base = stat("/dev/shm", &sst) == 0 ? "/dev/shm" : "/tmp";
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/kb-bench-issue.XXXXXX", base);
	char path[512], ca_path[512];
	struct kb_config *cfg = NULL;
	struct kb_store *store = NULL;
	struct kb_key *ca = NULL;

	if (kb_init() != 0 || mkdtemp(dir) == NULL)
		return 1;
	kb_json_use_wiping_alloc();
	/* Our side: a local store in dir, an ed25519 CA, a fixed decision. */
	snprintf(path, sizeof(path), "%s/store", dir);
	if (kb_config_new(&cfg) || kb_config_set(cfg, "backend", "local", "bench") ||
	    kb_config_set(cfg, "local.dir", path, "bench") || kb_store_open(cfg, &store) ||
	    kb_key_generate(KB_KEY_ED25519, 0, &ca)) {
		fprintf(stderr, "setup failed: %s\n", kb_err_detail());
		return 1;
	}
	const char *pol_text = "{\"version\":1,\"roles\":{\"deploy\":{\"requesters\":{\"users\":[\"bench\"]},"
			       "\"principals\":[\"deploy\"],\"default_ttl\":\"30m\"}}}";
	struct kb_policy *pol = NULL;
	struct kb_policy_request preq = { .user = "bench", .role = "deploy" };
	struct kb_issue_request req = { .user = "bench", .role = "deploy" };
	if (kb_policy_parse(pol_text, strlen(pol_text), "bench", &pol, NULL) != KB_OK)
		return 1;

	/* keygen + sign + credential JSON alone (no store). */
	unsigned long n_mint = 0;
	double t0 = now_s(), t1;
	do {
		struct kb_issue_result res = { 0 };
		if (kb_policy_decide(pol, &preq, &res.decision) != KB_OK || kb_issue_mint(ca, &req, &res) != KB_OK)
			return 1;
		kb_issue_result_done(&res);
		n_mint++;
		t1 = now_s();
	} while (t1 - t0 < secs / 2);
	double rate_mint = (double)n_mint / (t1 - t0);

	unsigned long n_ours = 0;
	t0 = now_s();
	do {
		struct kb_issue_result res = { 0 };
		char name[64], *ver = NULL;
		if (kb_policy_decide(pol, &preq, &res.decision) != KB_OK || !res.decision.allow ||
		    kb_issue_mint(ca, &req, &res) != KB_OK) {
			fprintf(stderr, "mint failed: %s\n", kb_err_detail());
			return 1;
		}
		snprintf(name, sizeof(name), "keybroker/deploy/b%lu", n_ours % 64);
		struct kb_store_put_opts o = { .stage = KB_STAGE_CURRENT };
		if (kb_store_put(store, name, kb_buf_ptr(&res.credential), kb_buf_remaining(&res.credential), &o,
				 &ver) != KB_OK) {
			fprintf(stderr, "store failed: %s\n", kb_err_detail());
			return 1;
		}
		free(ver);
		kb_issue_result_done(&res);
		n_ours++;
		t1 = now_s();
	} while (t1 - t0 < secs);
	double rate_ours = (double)n_ours / (t1 - t0);

	/* ssh-keygen side: CA key, then per credential a new key and a
	 * signature, as files (what the pipeline needs to hand a key out). */
	snprintf(ca_path, sizeof(ca_path), "%s/ca", dir);
	char *gen_ca[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", ca_path, NULL };
	if (run(gen_ca) != 0) {
		fprintf(stderr, "ssh-keygen not available\n");
		return 1;
	}
	unsigned long n_ssh = 0;
	t0 = now_s();
	do {
		char key[512], pub[520];
		snprintf(key, sizeof(key), "%s/k%lu", dir, n_ssh);
		snprintf(pub, sizeof(pub), "%s.pub", key);
		char *gen[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", key, NULL };
		char *sign[] = { "ssh-keygen", "-q", "-s", ca_path, "-I", "bench@deploy", "-n", "deploy",
				 "-V", "-1m:+30m", "-z", "42", "-O", "clear", "-O", "permit-pty", pub, NULL };
		if (run(gen) != 0 || run(sign) != 0) {
			fprintf(stderr, "ssh-keygen pipeline failed\n");
			return 1;
		}
		n_ssh++;
		t1 = now_s();
	} while (t1 - t0 < secs);
	double rate_ssh = (double)n_ssh / (t1 - t0);

	printf("credentials/s  keybroker (keygen+sign+json+local store): %10.1f  (%lu in %.1fs)\n", rate_ours, n_ours,
	       secs);
	printf("credentials/s  ssh-keygen -t ed25519 + ssh-keygen -s:     %10.1f  (%lu in %.1fs)\n", rate_ssh, n_ssh,
	       secs);
	printf("credentials/s  keybroker without the store (keygen+sign+json): %10.1f\n", rate_mint);
	printf("directory: %s (load average matters: run on an idle machine)\n", base);
	printf("ratio: %.0fx\n", rate_ours / rate_ssh);

	kb_policy_free(pol);
	kb_key_free(ca);
	kb_store_close(store);
	kb_config_free(cfg);
	char rm[600];
	snprintf(rm, sizeof(rm), "%s", dir);
	char *rmv[] = { "rm", "-rf", rm, NULL };
	run(rmv);
	return 0;
}
