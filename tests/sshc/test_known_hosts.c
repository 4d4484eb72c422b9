/* Unit tests: known_hosts parsing and matching, target parsing. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "kbtest.h"
#include "sshc/known_hosts.h"
#include "sshc/sshc.h"
#include "sshc/sshc_priv.h"

#define HK_B64 "AAAAC3NzaC1lZDI1NTE5AAAAID5L+UtGaftfJFWbivg9iD8+VJ0kP0F4aWxTkjn8LpmW"
#define HK "ssh-ed25519 " HK_B64
#define OTHER                                                                                                   \
	"ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBESHA+psTILh3nHMmQNnpJg7+vruKCbS" \
	"Wchs79sFdVfNiYktN3jJA728/H0Qr3QZ97UOTmhF4mNu7gPGWpz7EoU="
#define OTHER_ED "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGIeOC5ZZJeEAY3qhONjiBqAPqRt8zcFt59SjfaVTa2n"
/* Written by ssh-keygen -H for "[127.0.0.1]:2222" and "host.example". */
#define HASHED_2222 "|1|G92IoOFRQHXubqo6nL+q5ejh2uU=|ree5XKqrGd+wGwH1lZLiCIblX+U= " HK
#define HASHED_EXAMPLE "|1|VyT49/p7dNMeoPCyVspsGEIA08A=|GZqx9ERbUshkC0HptrjR2/hQeJE= " HK

static struct kb_buf hk_blob;

static struct kb_known_hosts_result check(const char *text, const char *name)
{
	struct kb_known_hosts_result res;
	int r = kb_known_hosts_check(text, strlen(text), name, hk_blob.data, hk_blob.len, &res);
	KBT_CHECK_INT(r, 0);
	return res;
}

static void test_lookup_name(void)
{
	char n[300];

	kb_known_hosts_lookup_name("Host.Example", 22, n, sizeof(n));
	KBT_CHECK_STR(n, "host.example");
	kb_known_hosts_lookup_name("127.0.0.1", 2222, n, sizeof(n));
	KBT_CHECK_STR(n, "[127.0.0.1]:2222");
	kb_known_hosts_lookup_name("::1", 2222, n, sizeof(n));
	KBT_CHECK_STR(n, "[::1]:2222");
}

static void test_patterns(void)
{
	const char *p;

#define M(pat, name) kb_known_hosts_match_patterns((pat), strlen(pat), (name))
	KBT_CHECK_INT(M("host.example", "host.example"), 1);
	KBT_CHECK_INT(M("HOST.example", "host.example"), 1);
	KBT_CHECK_INT(M("host.example", "host.example.org"), 0);
	KBT_CHECK_INT(M("a,b,host.example", "host.example"), 1);
	KBT_CHECK_INT(M("a,,b", "host.example"), 0);
	KBT_CHECK_INT(M("*.example", "host.example"), 1);
	KBT_CHECK_INT(M("h?st.*", "host.example"), 1);
	KBT_CHECK_INT(M("*", "anything"), 1);
	KBT_CHECK_INT(M("**a*b*c", "xxaxxbxc"), 1);
	KBT_CHECK_INT(M("*a*b*c", "xxaxxbx"), 0);
	KBT_CHECK_INT(M("!host.example,*.example", "host.example"), -1);
	KBT_CHECK_INT(M("!other.example,*.example", "host.example"), 1);
	KBT_CHECK_INT(M("[127.0.0.1]:2222", "[127.0.0.1]:2222"), 1);
	KBT_CHECK_INT(M("[127.0.0.1]:2222", "127.0.0.1"), 0);
	KBT_CHECK_INT(M("127.0.0.1", "[127.0.0.1]:2222"), 0);
	p = "|1|G92IoOFRQHXubqo6nL+q5ejh2uU=|ree5XKqrGd+wGwH1lZLiCIblX+U=";
	KBT_CHECK_INT(M(p, "[127.0.0.1]:2222"), 1);
	KBT_CHECK_INT(M(p, "[127.0.0.1]:2223"), 0);
	KBT_CHECK_INT(M(p, "127.0.0.1"), 0);
	KBT_CHECK_INT(M("|1|G92IoOFRQHXubqo6nL+q5ejh2uU=", "[127.0.0.1]:2222"), 0);
	KBT_CHECK_INT(M("|1|AAAA|ree5XKqrGd+wGwH1lZLiCIblX+U=", "[127.0.0.1]:2222"), 0);
	KBT_CHECK_INT(M("|1|", "x"), 0);
	/* Wildcards are linear, not exponential. */
	{
		char pat[4001], name[4001];
		for (int i = 0; i < 4000; i++) {
			pat[i] = i % 2 ? '*' : 'a';
			name[i] = 'a';
		}
		pat[4000] = name[4000] = '\0';
		pat[3999] = 'b';
		KBT_CHECK_INT(kb_known_hosts_match_patterns(pat, 4000, name), 0);
	}
#undef M
}

/* kb_known_hosts_check_ca: the CA blobs of matching @cert-authority
 * lines, in file order, as SSH strings; malformed CA lines are skipped. */
static void test_check_ca(void)
{
	struct kb_known_hosts_result r;
	struct kb_buf cas, v, other;
	const uint8_t *p;
	size_t n;
	const char *text = "@cert-authority [127.0.0.1]:* " HK "\n"
			   "@cert-authority other.example " OTHER "\n"
			   "@cert-authority !*:2222,* " OTHER "\n"
			   "@cert-authority * ssh-ed25519 !!!\n"
			   "@cert-authority * " OTHER_ED "\n"
			   "@cert-authority * ssh-rsa " HK_B64 "\n";

	kb_buf_init(&cas, 64 * 1024);
	kb_buf_init(&other, 1024);
	KBT_CHECK_INT(kb_buf_put_from_base64(&other, OTHER_ED + 12, strlen(OTHER_ED) - 12), 0);
	KBT_CHECK_INT(kb_known_hosts_check_ca(text, strlen(text), "[127.0.0.1]:2222", hk_blob.data, hk_blob.len, &r,
					      &cas), 0);
	KBT_CHECK_INT(r.status, KB_KH_UNKNOWN);
	KBT_CHECK_INT(r.cert_authority, 2);
	KBT_CHECK_INT(r.bad_lines, 2);
	kb_buf_init_ro(&v, cas.data, cas.len);
	KBT_CHECK_INT(kb_buf_get_string_direct(&v, &p, &n), 0);
	KBT_CHECK(n == hk_blob.len && memcmp(p, hk_blob.data, n) == 0);
	KBT_CHECK_INT(kb_buf_get_string_direct(&v, &p, &n), 0);
	KBT_CHECK(n == other.len && memcmp(p, other.data, n) == 0);
	KBT_CHECK(kb_buf_get_string_direct(&v, &p, &n) != 0);
	/* A full output buffer is an error, not a silent truncation. */
	{
		struct kb_buf small;
		kb_buf_init(&small, 8);
		KBT_CHECK_INT(kb_known_hosts_check_ca(text, strlen(text), "[127.0.0.1]:2222", NULL, 0, &r, &small),
			      KB_ERR_TOO_LARGE);
		kb_buf_done(&small);
	}
	/* The CA key listed as @revoked for the host: revoked (hostcert.c's
	 * check of the CA). */
	r = check("@cert-authority * " HK "\n@revoked * " HK "\n", "[127.0.0.1]:2222");
	KBT_CHECK_INT(r.status, KB_KH_REVOKED);
	kb_buf_done(&cas);
	kb_buf_done(&other);
}


/* Host certificate scan (hostcert.c): ssh-keygen -h -s CA -n 127.0.0.1
 * -V always:forever certificates of HC_HOST, by HC_CA and by another CA. */
#define HC_HOST "AAAAC3NzaC1lZDI1NTE5AAAAICEpoZ7dKKAGfSC/lHI8IGTrpncTbSJ7iU0MY1ha6IxY"
#define HC_CA "AAAAC3NzaC1lZDI1NTE5AAAAIBQqVpKDyDu8oDBIL2ByHRjlxd+kjK3PilYXTKHro+KN"
#define HC_GOOD \
	"ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAICMNKePFa1vRS68" \
	"umjjcm8lmskuW15JQ3NsfLRFXz4H7AAAAICEpoZ7dKKAGfSC/lHI8IGTrpncTbSJ7iU0MY1ha6IxYAAAAAAAAAAAAAAACAAAABGd" \
	"vb2QAAAANAAAACTEyNy4wLjAuMQAAAAAAAAAA//////////8AAAAAAAAAAAAAAAAAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIBQqVpK" \
	"DyDu8oDBIL2ByHRjlxd+kjK3PilYXTKHro+KNAAAAUwAAAAtzc2gtZWQyNTUxOQAAAEDtY/fDiC3SsGUqxL0LcJLtFDO325xl6b3" \
	"LM8K2u04EUerkfjSH4mu38THsm1bkLg6mbRxcYVFc7hMyNWTNQhIO"
#define HC_OTHERCA \
	"ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIKTwzIKgqX08cJJ" \
	"lY7RrtonKCHtK6w26rwv9RYh9wjsNAAAAICEpoZ7dKKAGfSC/lHI8IGTrpncTbSJ7iU0MY1ha6IxYAAAAAAAAAAAAAAACAAAABW9" \
	"0aGVyAAAADQAAAAkxMjcuMC4wLjEAAAAAAAAAAP//////////AAAAAAAAAAAAAAAAAAAAMwAAAAtzc2gtZWQyNTUxOQAAACDvgEC" \
	"yT73JKvTRI7hHD1eNYrdXqfMIXK3RaZTWwTGRyAAAAFMAAAALc3NoLWVkMjU1MTkAAABA9D04iMsdd6QcaNmH0HwyN6gA90jF0il" \
	"xytE9R/FawpqLp757pLoqcaMsvyUTq8GLhZ+iGxpC8be6RIUQ1vACCw=="

static enum kb_sshc_hc_stage hc_scan(const char *text, size_t len, const char *kh_text, const char *host)
{
	struct kb_buf hk, cas, kh;
	struct kb_known_hosts_result res;
	struct kb_sshc_cert_verdict v;

	kb_buf_init(&hk, 1024);
	kb_buf_init(&cas, 64 * 1024);
	kb_buf_init_ro(&kh, (const uint8_t *)kh_text, strlen(kh_text));
	KBT_CHECK_INT(kb_buf_put_from_base64(&hk, HC_HOST, strlen(HC_HOST)), 0);
	KBT_CHECK_INT(kb_known_hosts_check_ca(kh_text, strlen(kh_text), "[127.0.0.1]:2222", hk.data, hk.len, &res, &cas),
		      0);
	kb_sshc_host_cert_scan(text, len, hk.data, hk.len, &kh, "[127.0.0.1]:2222", &cas, host, &v);
	kb_buf_done(&hk);
	kb_buf_done(&cas);
	return v.best;
}

static void test_host_cert_scan(void)
{
	const char *kh = "@cert-authority [127.0.0.1]:* ssh-ed25519 " HC_CA "\n";
	const char *kh_rev = "@cert-authority [127.0.0.1]:* ssh-ed25519 " HC_CA "\n@revoked * ssh-ed25519 " HC_CA "\n";
	const char *good = HC_GOOD " comment\n";
	const char *both = HC_OTHERCA "\n" HC_GOOD "\n";
	char copy[2048];
	size_t len = strlen(good);
	unsigned accepted = 0;

	KBT_CHECK_INT(hc_scan(good, len, kh, "127.0.0.1"), KB_SSHC_HC_OK);
	KBT_CHECK_INT(hc_scan(both, strlen(both), kh, "127.0.0.1"), KB_SSHC_HC_OK);
	KBT_CHECK_INT(hc_scan(HC_OTHERCA, strlen(HC_OTHERCA), kh, "127.0.0.1"), KB_SSHC_HC_UNKNOWN_CA);
	KBT_CHECK_INT(hc_scan(good, len, kh, "127.0.0.2"), KB_SSHC_HC_PRINCIPAL);
	KBT_CHECK_INT(hc_scan(good, len, kh_rev, "127.0.0.1"), KB_SSHC_HC_REVOKED_CA);
	KBT_CHECK_INT(hc_scan("", 0, kh, "127.0.0.1"), KB_SSHC_HC_NONE);
	/* Truncations are never accepted, nor is any flipped bit inside the
	 * base64 text that changes the decoded certificate. */
	KBT_CHECK(len < sizeof(copy));
	for (size_t i = 0; i + 10 < len; i++) {
		memcpy(copy, good, i);
		KBT_CHECK(hc_scan(copy, i, kh, "127.0.0.1") != KB_SSHC_HC_OK);
	}
	{
		/* The base64 blob: between the first and second space. */
		const char *b0 = strchr(good, ' ') + 1, *b1 = strchr(b0, ' ');
		size_t from = (size_t)(b0 - good), to = (size_t)(b1 - good);
		for (size_t i = from; i + 3 < to; i++) {
			/* Bits 0-6: libsodium's base64 decoder reads '/' | 0x80
			 * as '/' (same bytes, so harmless here). */
			for (int bit = 0; bit < 7; bit++) {
				memcpy(copy, good, len);
				copy[i] ^= (char)(1 << bit);
				if (hc_scan(copy, len, kh, "127.0.0.1") == KB_SSHC_HC_OK)
					accepted++;
			}
		}
	}
	/* (The last base64 characters may carry ignored padding bits.) */
	KBT_CHECK_INT(accepted, 0);
}

static void test_check(void)
{
	struct kb_known_hosts_result r;

	r = check("", "[127.0.0.1]:2222");
	KBT_CHECK_INT(r.status, KB_KH_UNKNOWN);
	r = check("# comment\n\n[127.0.0.1]:2222 " HK "\n", "[127.0.0.1]:2222");
	KBT_CHECK_INT(r.status, KB_KH_OK);
	KBT_CHECK_INT(r.line, 3);
	KBT_CHECK_INT(r.types, KB_KH_TYPE_ED25519);
	r = check("[127.0.0.1]:2222 " HK " comment words here\r\n", "[127.0.0.1]:2222");
	KBT_CHECK_INT(r.status, KB_KH_OK);
	r = check("\t [127.0.0.1]:2222\t" HK, "[127.0.0.1]:2222");
	KBT_CHECK_INT(r.status, KB_KH_OK);
	r = check("127.0.0.1 " HK "\n", "[127.0.0.1]:2222");
	KBT_CHECK_INT(r.status, KB_KH_UNKNOWN);
	r = check("[127.0.0.1]:2222 " OTHER_ED "\n", "[127.0.0.1]:2222");
	KBT_CHECK_INT(r.status, KB_KH_MISMATCH);
	KBT_CHECK_INT(r.line, 1);
	r = check("[127.0.0.1]:2222 " OTHER "\n[127.0.0.1]:2222 " HK "\n", "[127.0.0.1]:2222");
	KBT_CHECK_INT(r.status, KB_KH_OK);
	KBT_CHECK_INT(r.line, 2);
	KBT_CHECK_INT(r.types, KB_KH_TYPE_ED25519 | KB_KH_TYPE_ECDSA256);
	r = check(HASHED_EXAMPLE "\n" HASHED_2222 "\n", "[127.0.0.1]:2222");
	KBT_CHECK_INT(r.status, KB_KH_OK);
	KBT_CHECK_INT(r.line, 2);
	r = check(HASHED_EXAMPLE "\n" HASHED_2222 "\n", "host.example");
	KBT_CHECK_INT(r.status, KB_KH_OK);
	KBT_CHECK_INT(r.line, 1);
	r = check(HASHED_EXAMPLE "\n", "other.example");
	KBT_CHECK_INT(r.status, KB_KH_UNKNOWN);
	/* @revoked wins, wherever it is. */
	r = check("[127.0.0.1]:2222 " HK "\n@revoked * " HK "\n", "[127.0.0.1]:2222");
	KBT_CHECK_INT(r.status, KB_KH_REVOKED);
	KBT_CHECK_INT(r.line, 2);
	r = check("@revoked other.example " HK "\n[127.0.0.1]:2222 " HK "\n", "[127.0.0.1]:2222");
	KBT_CHECK_INT(r.status, KB_KH_OK);
	r = check("@revoked * " OTHER_ED "\n[127.0.0.1]:2222 " HK "\n", "[127.0.0.1]:2222");
	KBT_CHECK_INT(r.status, KB_KH_OK);
	/* @cert-authority is counted, never trusted. */
	r = check("@cert-authority * " HK "\n", "[127.0.0.1]:2222");
	KBT_CHECK_INT(r.status, KB_KH_UNKNOWN);
	KBT_CHECK_INT(r.cert_authority, 1);
	/* Malformed lines are skipped and counted. */
	r = check("@bogus * " HK "\n[127.0.0.1]:2222 ssh-rsa " HK_B64 "\n[127.0.0.1]:2222 ssh-ed25519 !!!\n"
		  "[127.0.0.1]:2222\n[127.0.0.1]:2222 ssh-ed25519\n",
		  "[127.0.0.1]:2222");
	KBT_CHECK_INT(r.status, KB_KH_UNKNOWN);
	KBT_CHECK_INT(r.bad_lines, 5);
	/* Negation removes the host from a line. */
	r = check("![127.0.0.1]:2222,* " HK "\n", "[127.0.0.1]:2222");
	KBT_CHECK_INT(r.status, KB_KH_UNKNOWN);
	/* Embedded NUL: the line is skipped. */
	{
		static const char t[] = "[127.0.0.1]:2222 " HK "\0x\n";
		struct kb_known_hosts_result res;
		KBT_CHECK_INT(kb_known_hosts_check(t, sizeof(t) - 1, "[127.0.0.1]:2222", hk_blob.data, hk_blob.len, &res), 0);
		KBT_CHECK_INT(res.status, KB_KH_UNKNOWN);
		KBT_CHECK_INT(res.bad_lines, 1);
	}
	/* Types only (blob NULL). */
	{
		const char *t = "[127.0.0.1]:2222 " OTHER "\n";
		struct kb_known_hosts_result res;
		KBT_CHECK_INT(kb_known_hosts_check(t, strlen(t), "[127.0.0.1]:2222", NULL, 0, &res), 0);
		KBT_CHECK_INT(res.types, KB_KH_TYPE_ECDSA256);
	}
}

static void test_limits(void)
{
	struct kb_known_hosts_result res;
	size_t n = KB_KNOWN_HOSTS_LINE_MAX + 100;
	char *t = malloc(n + 64);

	KBT_CHECK(t != NULL);
	if (t == NULL)
		return;
	/* An overlong line is skipped without decoding it. */
	memcpy(t, "[127.0.0.1]:2222 ssh-ed25519 ", 29);
	memset(t + 29, 'A', n - 29);
	memcpy(t + n, "\n", 1);
	KBT_CHECK_INT(kb_known_hosts_check(t, n + 1, "[127.0.0.1]:2222", hk_blob.data, hk_blob.len, &res), 0);
	KBT_CHECK_INT(res.bad_lines, 1);
	/* A key field longer than any blob is refused before decoding. */
	n = 40000;
	memset(t + 29, 'A', n - 29);
	KBT_CHECK_INT(kb_known_hosts_check(t, n, "[127.0.0.1]:2222", hk_blob.data, hk_blob.len, &res), 0);
	KBT_CHECK_INT(res.bad_lines, 1);
	KBT_CHECK_INT(kb_known_hosts_check(t, (size_t)KB_KNOWN_HOSTS_FILE_MAX + 1, "x", NULL, 0, &res),
		      KB_ERR_TOO_LARGE);
	free(t);
}

/* Every prefix and every single-bit flip of a realistic file parses
 * without crashing, and only the intact file says OK at line 6. */
static void test_truncate_bitflip(void)
{
	static const char text[] = "# known hosts\n"
				   "@cert-authority *.example " OTHER "\n"
				   "other.example,10.1.2.3 " OTHER_ED "\n"
				   HASHED_EXAMPLE "\n"
				   "@revoked nothere.example " HK "\n"
				   HASHED_2222 "\n"
				   "[127.0.0.*]:2222 " OTHER "\n";
	size_t len = sizeof(text) - 1;
	char *copy = malloc(len);
	struct kb_known_hosts_result res;
	unsigned ok_count = 0;

	KBT_CHECK(copy != NULL);
	if (copy == NULL)
		return;
	res = check(text, "[127.0.0.1]:2222");
	KBT_CHECK_INT(res.status, KB_KH_OK);
	KBT_CHECK_INT(res.line, 6);
	KBT_CHECK_INT(res.cert_authority, 0);
	for (size_t i = 0; i <= len; i++) {
		memcpy(copy, text, i);
		KBT_CHECK_INT(kb_known_hosts_check(copy, i, "[127.0.0.1]:2222", hk_blob.data, hk_blob.len, &res), 0);
		if (res.status == KB_KH_OK)
			ok_count++;
	}
	/* OK only once the whole hashed line 6 is present. */
	KBT_CHECK(ok_count > 0 && ok_count < 200);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(copy, text, len);
			copy[i] = (char)(copy[i] ^ (1 << bit));
			KBT_CHECK_INT(kb_known_hosts_check(copy, len, "[127.0.0.1]:2222", hk_blob.data, hk_blob.len, &res),
				      0);
		}
	}
	free(copy);
}

static void test_targets(void)
{
	struct kb_ssh_target t;
	char s[400];
	static const char *bad[] = {
		"", "host", "@host", "us er@host", "-u@host", "u@", "u@host:", "u@host:0", "u@host:65536",
		"u@host:22x", "u@::1", "u@[::1", "u@[::1]x", "u@[nothost]:22", "u@-host", "u@host-", "u@ho_st",
		"u@host..example", "u@host:22:22", "abcdefghijabcdefghijabcdefghijabc@host", "u@ho\nst",
	};

	KBT_CHECK_INT(kb_ssh_target_parse("deploy@10.0.1.5", &t), 0);
	KBT_CHECK_STR(t.user, "deploy");
	KBT_CHECK_STR(t.host, "10.0.1.5");
	KBT_CHECK_INT(t.port, 22);
	KBT_CHECK_INT(kb_ssh_target_parse("a.b_c-d@Web-1.example.org:2222", &t), 0);
	KBT_CHECK_STR(t.host, "Web-1.example.org");
	KBT_CHECK_INT(t.port, 2222);
	kb_ssh_target_format(&t, s, sizeof(s));
	KBT_CHECK_STR(s, "a.b_c-d@Web-1.example.org:2222");
	KBT_CHECK_INT(kb_ssh_target_parse("root@[::1]:2200", &t), 0);
	KBT_CHECK_STR(t.host, "::1");
	kb_ssh_target_format(&t, s, sizeof(s));
	KBT_CHECK_STR(s, "root@[::1]:2200");
	KBT_CHECK_INT(kb_ssh_target_parse("root@[fe80::1]", &t), 0);
	KBT_CHECK_INT(t.port, 22);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = kb_ssh_target_parse(bad[i], &t);
		if (r != KB_ERR_ARGS)
			printf("#   accepted bad target '%s'\n", bad[i]);
		KBT_CHECK_INT(r, KB_ERR_ARGS);
		KBT_CHECK(kb_err_detail()[0] != '\0');
		KBT_CHECK_INT(t.port, 0);
	}
}

int main(void)
{
	kb_init();
	kb_buf_init(&hk_blob, 1024);
	if (kb_buf_put_from_base64(&hk_blob, HK_B64, strlen(HK_B64)) != 0)
		return 1;
	KBT_RUN(test_lookup_name);
	KBT_RUN(test_patterns);
	KBT_RUN(test_check);
	KBT_RUN(test_check_ca);
	KBT_RUN(test_host_cert_scan);
	KBT_RUN(test_limits);
	KBT_RUN(test_truncate_bitflip);
	KBT_RUN(test_targets);
	kb_buf_done(&hk_blob);
	return kbt_done();
}
