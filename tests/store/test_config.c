/* The configuration parser and precedence: defaults < file < environment
 * < command line, each value with its origin; bad input rejected with the
 * line number; truncations and bit flips never crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "core/err.h"
#include "core/mem.h"
#include "kbtest.h"

static const char *const vars[] = {
	"BROKER_BACKEND", "BROKER_POLICY", "BROKER_STORE_DIR", "BROKER_AUDIT_LOG", "BROKER_SOCKET",
	"AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_SECRETS_MANAGER",
	"AWS_ENDPOINT_URL", "VAULT_ADDR", "VAULT_NAMESPACE", "VAULT_CACERT", "SSH_AUTH_SOCK", "BROKER_CONFIG",
};

static void clean_env(void)
{
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

static int parse(const char *text, struct kb_config **cfg)
{
	kb_config_new(cfg);
	return kb_config_parse(*cfg, text, strlen(text), "t.conf");
}

static void test_parse(void)
{
	struct kb_config *c;
	const char *text = "# comment\n\n  backend aws\n"
			   "aws.region = eu-west-1\r\n"
			   "vault.addr=https://vault:8200\n"
			   "\tlocal.dir   /srv/kb store  \n"
			   "backend vault\n";
	KBT_CHECK_INT(parse(text, &c), KB_OK);
	KBT_CHECK_STR(kb_config_get(c, "backend"), "vault");
	KBT_CHECK_STR(kb_config_origin(c, "backend"), "file t.conf:7");
	KBT_CHECK_STR(kb_config_get(c, "aws.region"), "eu-west-1");
	KBT_CHECK_STR(kb_config_get(c, "vault.addr"), "https://vault:8200");
	KBT_CHECK_STR(kb_config_get(c, "local.dir"), "/srv/kb store");
	KBT_CHECK_STR(kb_config_origin(c, "local.dir"), "file t.conf:6");
	KBT_CHECK(kb_config_get(c, "policy") == NULL);
	KBT_CHECK(kb_config_origin(c, "policy") == NULL);
	/* Keys iterate sorted. */
	const char *prev = NULL, *k;
	size_t n = 0;
	for (size_t i = 0; (k = kb_config_key_at(c, i)) != NULL; i++, n++) {
		if (prev)
			KBT_CHECK(strcmp(prev, k) < 0);
		prev = k;
	}
	KBT_CHECK_INT(n, 4);
	kb_config_free(c);
}

static void test_errors(void)
{
	static const struct {
		const char *text, *detail;
	} bad[] = {
		{ "nosuch.key 1\n", "t.conf:1: unknown setting 'nosuch.key'" },
		{ "\nbackend\n", "t.conf:2: setting 'backend' has no value" },
		{ "backend floppy\n", "t.conf:1: unknown backend 'floppy'" },
		{ "policy a\x01z\n", "control character" },
		{ "backend =\n", "has no value" },
	};
	struct kb_config *c;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		KBT_CHECK_INT(parse(bad[i].text, &c), KB_ERR_INVALID);
		if (strstr(kb_err_detail(), bad[i].detail) == NULL)
			printf("#   detail '%s' lacks '%s'\n", kb_err_detail(), bad[i].detail);
		KBT_CHECK(strstr(kb_err_detail(), bad[i].detail) != NULL);
		kb_config_free(c);
	}
	char *lng = malloc(2000);
	memset(lng, 'x', 1999);
	lng[1999] = '\0';
	memcpy(lng, "policy ", 7);
	KBT_CHECK_INT(parse(lng, &c), KB_ERR_INVALID);
	kb_config_free(c);
	free(lng);
	kb_config_new(&c);
	KBT_CHECK_INT(kb_config_parse(c, "backend local\0x", 15, "t"), KB_ERR_INVALID);
	char *huge = calloc(1, KB_CONFIG_FILE_MAX + 1);
	KBT_CHECK_INT(kb_config_parse(c, huge, KB_CONFIG_FILE_MAX + 1, "t"), KB_ERR_TOO_LARGE);
	free(huge);
	kb_config_free(c);
}

static void test_mutations(void)
{
	const char *text = "backend aws\naws.region = eu-west-1\nvault.addr=https://v:8200\n# x\nlocal.dir /d\n";
	size_t len = strlen(text);
	char *m = malloc(len);
	unsigned ok = 0;
	for (size_t cut = 0; cut <= len; cut++) {
		struct kb_config *c;
		kb_config_new(&c);
		char *exact = malloc(cut ? cut : 1);
		memcpy(exact, text, cut);
		ok += kb_config_parse(c, exact, cut, "t") == KB_OK;
		free(exact);
		kb_config_free(c);
	}
	for (size_t pos = 0; pos < len * 8; pos++) {
		struct kb_config *c;
		kb_config_new(&c);
		memcpy(m, text, len);
		m[pos / 8] ^= (char)(1 << (pos % 8));
		int r = kb_config_parse(c, m, len, "t");
		KBT_CHECK(r == KB_OK || r == KB_ERR_INVALID);
		kb_config_free(c);
	}
	KBT_CHECK(ok > 0);
	free(m);
}

static void test_precedence(void)
{
	char path[] = "/tmp/kbconfig-test.XXXXXX";
	int fd = mkstemp(path);
	const char *text = "backend aws\nlocal.dir /from/file\naws.region eu-west-1\npolicy /file/policy.json\n";
	KBT_CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	clean_env();

	struct kb_config *c = NULL;
	KBT_CHECK_INT(kb_config_load(path, &c), KB_OK);
	KBT_CHECK_STR(kb_config_get(c, "backend"), "aws");
	KBT_CHECK(strstr(kb_config_origin(c, "backend"), "file ") == kb_config_origin(c, "backend"));
	KBT_CHECK_STR(kb_config_get(c, "vault.mount"), "secret");
	KBT_CHECK_STR(kb_config_origin(c, "vault.mount"), "default");
	kb_config_free(c);

	/* The environment beats the file. */
	setenv("BROKER_BACKEND", "vault", 1);
	setenv("BROKER_STORE_DIR", "/from/env", 1);
	setenv("AWS_DEFAULT_REGION", "us-east-2", 1);
	KBT_CHECK_INT(kb_config_load(path, &c), KB_OK);
	KBT_CHECK_STR(kb_config_get(c, "backend"), "vault");
	KBT_CHECK_STR(kb_config_origin(c, "backend"), "env BROKER_BACKEND");
	KBT_CHECK_STR(kb_config_get(c, "local.dir"), "/from/env");
	KBT_CHECK_STR(kb_config_get(c, "aws.region"), "us-east-2");
	KBT_CHECK_STR(kb_config_origin(c, "aws.region"), "env AWS_DEFAULT_REGION");
	KBT_CHECK_STR(kb_config_get(c, "policy"), "/file/policy.json");
	/* AWS_REGION wins over AWS_DEFAULT_REGION, as in the AWS CLI. */
	kb_config_free(c);
	setenv("AWS_REGION", "ap-south-1", 1);
	KBT_CHECK_INT(kb_config_load(path, &c), KB_OK);
	KBT_CHECK_STR(kb_config_get(c, "aws.region"), "ap-south-1");
	/* The command line beats both (main.c sets it this way). */
	KBT_CHECK_INT(kb_config_set(c, "backend", "local", "command line --backend"), KB_OK);
	KBT_CHECK_STR(kb_config_get(c, "backend"), "local");
	KBT_CHECK_STR(kb_config_origin(c, "backend"), "command line --backend");
	kb_config_free(c);

	/* A bad environment value is named. */
	setenv("BROKER_BACKEND", "s3", 1);
	KBT_CHECK_INT(kb_config_load(path, &c), KB_ERR_INVALID);
	KBT_CHECK(c == NULL);
	KBT_CHECK(strstr(kb_err_detail(), "env BROKER_BACKEND") != NULL);
	clean_env();

	/* BROKER_CONFIG names the file; an explicit missing file is an error,
	 * a missing default file is not. */
	setenv("BROKER_CONFIG", path, 1);
	KBT_CHECK_INT(kb_config_load(NULL, &c), KB_OK);
	KBT_CHECK_STR(kb_config_get(c, "backend"), "aws");
	kb_config_free(c);
	unlink(path);
	KBT_CHECK_INT(kb_config_load(NULL, &c), KB_ERR_NOT_FOUND);
	KBT_CHECK_INT(kb_config_load(path, &c), KB_ERR_NOT_FOUND);
	unsetenv("BROKER_CONFIG");
	setenv("XDG_CONFIG_HOME", "/nonexistent-kb", 1);
	setenv("HOME", "/nonexistent-kb", 1);
	KBT_CHECK_INT(kb_config_load(NULL, &c), KB_OK);
	KBT_CHECK_STR(kb_config_get(c, "backend"), "local");
	kb_config_free(c);
}

int main(void)
{
	if (kb_init() != 0)
		return 1;
	KBT_RUN(test_parse);
	KBT_RUN(test_errors);
	KBT_RUN(test_mutations);
	KBT_RUN(test_precedence);
	return kbt_done();
}
