/* AWS response parsers and the ~/.aws INI reader: known answers, size cap,
 * truncation and bit-flip loops (nothing may crash or leak). */
#include <stdlib.h>
#include <string.h>

#include "aws/aws_json.h"
#include "aws/creds.h"
#include "core/err.h"
#include "core/mem.h"
#include "kbtest.h"

static const char describe_doc[] =
	"{\"ARN\":\"a\",\"Name\":\"keybroker/test/x\",\"CreatedDate\":1795991962.5,"
	"\"LastChangedDate\":1795991970,\"VersionIdsToStages\":{\"v-pend\":[\"AWSPENDING\"],"
	"\"v-cur\":[\"AWSCURRENT\"],\"v-prev\":[\"AWSPREVIOUS\",\"custom\"]}}";
static const char get_doc[] =
	"{\"Name\":\"n\",\"VersionId\":\"v-cur\",\"SecretString\":\"{\\\"kind\\\":\\\"x\\\"}\","
	"\"VersionStages\":[\"AWSCURRENT\"]}";
static const char list_doc[] =
	"{\"SecretList\":[{\"Name\":\"keybroker/b\"},{\"Name\":\"keybroker/a\"}],\"NextToken\":\"t1\"}";

static void free_info(struct kb_secret_info *info)
{
	if (info != NULL) {
		free(info->name);
		free(info->versions);
		free(info);
	}
}

static void test_known(void)
{
	struct kb_secret_info *info;
	KBT_CHECK_INT(kb_aws_parse_describe((const uint8_t *)describe_doc, strlen(describe_doc), &info), KB_OK);
	KBT_CHECK_STR(info->name, "keybroker/test/x");
	KBT_CHECK_INT(info->created, 1795991962);
	KBT_CHECK_INT(info->nversions, 3);
	for (size_t i = 0; i < info->nversions; i++) {
		const struct kb_version_info *v = &info->versions[i];
		if (strcmp(v->id, "v-cur") == 0)
			KBT_CHECK_INT(v->stages, KB_STAGE_CURRENT);
		else if (strcmp(v->id, "v-pend") == 0)
			KBT_CHECK_INT(v->stages, KB_STAGE_PENDING);
		else
			KBT_CHECK_INT(v->stages, KB_STAGE_PREVIOUS);
	}
	const char vl[] = "{\"Versions\":[{\"VersionId\":\"v-cur\",\"CreatedDate\":1700000000},"
			  "{\"VersionId\":\"v-old\",\"CreatedDate\":1600000000}]}";
	char *next = (char *)1;
	KBT_CHECK_INT(kb_aws_parse_version_list((const uint8_t *)vl, strlen(vl), info, &next), KB_OK);
	KBT_CHECK(next == NULL);
	KBT_CHECK_INT(info->nversions, 4);
	free_info(info);

	struct kb_buf out;
	char *ver;
	kb_buf_init_secure(&out, KB_STORE_VALUE_MAX);
	KBT_CHECK_INT(kb_aws_parse_get_secret((const uint8_t *)get_doc, strlen(get_doc), &out, &ver), KB_OK);
	KBT_CHECK_STR(ver, "v-cur");
	KBT_CHECK(out.len == 12 && memcmp(out.data, "{\"kind\":\"x\"}", 12) == 0);
	free(ver);
	kb_buf_reset(&out);
	const char bin[] = "{\"VersionId\":\"v\",\"SecretBinary\":\"AAEC/w==\"}";
	KBT_CHECK_INT(kb_aws_parse_get_secret((const uint8_t *)bin, strlen(bin), &out, &ver), KB_OK);
	KBT_CHECK(out.len == 4 && out.data[3] == 0xff);
	free(ver);
	kb_buf_done(&out);

	char **names = NULL;
	size_t n = 0;
	KBT_CHECK_INT(kb_aws_parse_list((const uint8_t *)list_doc, strlen(list_doc), &names, &n, &next), KB_OK);
	KBT_CHECK_INT(n, 2);
	KBT_CHECK_STR(next, "t1");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(next);

	char code[64], msg[256];
	const char e1[] = "{\"__type\":\"com.amazonaws.secretsmanager#ResourceExistsException\",\"message\":\"exists\\n!\"}";
	kb_aws_parse_error((const uint8_t *)e1, strlen(e1), code, sizeof(code), msg, sizeof(msg));
	KBT_CHECK_STR(code, "ResourceExistsException");
	KBT_CHECK_STR(msg, "exists !");
	const char e2[] = "<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code>"
			  "<Message>no</Message></Error></ErrorResponse>";
	kb_aws_parse_error((const uint8_t *)e2, strlen(e2), code, sizeof(code), msg, sizeof(msg));
	KBT_CHECK_STR(code, "SignatureDoesNotMatch");
	KBT_CHECK_STR(msg, "no");
	kb_aws_parse_error((const uint8_t *)"", 0, code, sizeof(code), msg, sizeof(msg));
	KBT_CHECK_STR(code, "");
}

static void test_cap(void)
{
	/* A valid document one byte over the cap is refused before parsing. */
	size_t n = KB_AWS_RESPONSE_MAX + 1;
	char *big = malloc(n);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	json_t *doc;
	KBT_CHECK_INT(kb_aws_parse_doc((const uint8_t *)big, n, &doc), KB_ERR_TOO_LARGE);
	KBT_CHECK_INT(kb_aws_parse_doc((const uint8_t *)big, n - 1 - 0, &doc), KB_ERR_INVALID);
	big[n - 2] = '}';
	KBT_CHECK_INT(kb_aws_parse_doc((const uint8_t *)big, n - 1, &doc), KB_OK);
	json_decref(doc);
	free(big);
	/* A secret value over 64 KiB is refused. */
	size_t vn = KB_STORE_VALUE_MAX + 1;
	char *doc2 = malloc(vn + 64);
	int off = snprintf(doc2, 64, "{\"VersionId\":\"v\",\"SecretString\":\"");
	memset(doc2 + off, 'a', vn);
	memcpy(doc2 + off + vn, "\"}", 2);
	struct kb_buf out;
	char *ver;
	kb_buf_init_secure(&out, KB_STORE_VALUE_MAX * 2);
	KBT_CHECK_INT(kb_aws_parse_get_secret((const uint8_t *)doc2, (size_t)off + vn + 2, &out, &ver), KB_ERR_TOO_LARGE);
	KBT_CHECK_INT(out.len, 0);
	kb_buf_done(&out);
	free(doc2);
}

static void run_all(const uint8_t *p, size_t n)
{
	struct kb_secret_info *info = NULL;
	struct kb_buf out;
	char *ver = NULL, *next = NULL, **names = NULL, code[64], msg[256];
	size_t nn = 0;
	if (kb_aws_parse_describe(p, n, &info) == KB_OK)
		free_info(info);
	kb_buf_init_secure(&out, KB_STORE_VALUE_MAX);
	if (kb_aws_parse_get_secret(p, n, &out, &ver) == KB_OK)
		free(ver);
	kb_buf_done(&out);
	if (kb_aws_parse_list(p, n, &names, &nn, &next) == KB_OK) {
		for (size_t i = 0; i < nn; i++)
			free(names[i]);
		free(names);
		free(next);
	}
	kb_aws_parse_error(p, n, code, sizeof(code), msg, sizeof(msg));
	info = calloc(1, sizeof(*info));
	if (kb_aws_parse_version_list(p, n, info, &next) == KB_OK)
		free(next);
	free_info(info);
}

static void test_truncate_flip(void)
{
	const char *docs[] = { describe_doc, get_doc, list_doc };
	for (size_t d = 0; d < 3; d++) {
		size_t n = strlen(docs[d]);
		uint8_t *p = malloc(n);
		for (size_t i = 0; i < n; i++) {
			memcpy(p, docs[d], n);
			run_all(p, i); /* truncated */
			for (int b = 0; b < 8; b++) {
				p[i] ^= (uint8_t)(1u << b);
				run_all(p, n);
				p[i] ^= (uint8_t)(1u << b);
			}
		}
		/* Truncated documents never parse. */
		for (size_t i = 0; i + 1 < n; i++) {
			json_t *doc;
			KBT_CHECK(kb_aws_parse_doc((const uint8_t *)docs[d], i, &doc) != KB_OK);
		}
		free(p);
	}
}

static void test_ini(void)
{
	const char t[] = "# c\n[default]\naws_access_key_id = AKIA1\naws_secret_access_key=  s1 \n"
			 "[profile   dev]\nregion = eu-west-3\ns3 =\n  region = nested\n"
			 "[dev]\naws_access_key_id=AKIA2\n";
	char *v;
	KBT_CHECK_INT(kb_aws_ini_get(t, strlen(t), "default", "aws_access_key_id", false, &v), KB_OK);
	KBT_CHECK_STR(v, "AKIA1");
	free(v);
	KBT_CHECK_INT(kb_aws_ini_get(t, strlen(t), "default", "aws_secret_access_key", true, &v), KB_OK);
	KBT_CHECK_STR(v, "s1");
	kb_secure_free(v);
	KBT_CHECK_INT(kb_aws_ini_get(t, strlen(t), "profile dev", "region", false, &v), KB_OK);
	KBT_CHECK_STR(v, "eu-west-3");
	free(v);
	KBT_CHECK_INT(kb_aws_ini_get(t, strlen(t), "dev", "region", false, &v), KB_ERR_NOT_FOUND);
	KBT_CHECK(kb_aws_ini_has_section(t, strlen(t), "dev"));
	KBT_CHECK(!kb_aws_ini_has_section(t, strlen(t), "prod"));
	KBT_CHECK_INT(kb_aws_ini_get("[a\nk=v\n", 7, "a", "k", false, &v), KB_ERR_INVALID);
	KBT_CHECK_INT(kb_aws_ini_get("[a]\nk=v\0x", 9, "a", "k", false, &v), KB_ERR_INVALID);
	size_t n = strlen(t);
	for (size_t i = 0; i < n; i++) {
		if (kb_aws_ini_get(t, i, "default", "aws_secret_access_key", true, &v) == KB_OK)
			kb_secure_free(v);
	}
}

static void test_imds_doc(void)
{
	const char d[] = "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIA1\","
			 "\"SecretAccessKey\":\"sek\",\"Token\":\"tok\",\"Expiration\":\"2026-11-30T04:00:00Z\"}";
	struct kb_aws_creds *c;
	KBT_CHECK_INT(kb_aws_imds_parse_creds(d, strlen(d), &c), KB_OK);
	KBT_CHECK_STR(c->access_key_id, "ASIA1");
	KBT_CHECK_STR(c->session_token, "tok");
	KBT_CHECK_INT(c->expiration, 1796011200);
	KBT_CHECK(kb_aws_creds_expiring(c, 1796011200 - 299, 300));
	KBT_CHECK(!kb_aws_creds_expiring(c, 1796011200 - 301, 300));
	kb_aws_creds_free(c);
	for (size_t i = 0; i < strlen(d); i++) {
		KBT_CHECK(kb_aws_imds_parse_creds(d, i, &c) != KB_OK);
		KBT_CHECK(c == NULL);
	}
}

int main(void)
{
	if (kb_init() != KB_OK)
		return 1;
	kb_json_use_wiping_alloc();
	KBT_RUN(test_known);
	KBT_RUN(test_cap);
	KBT_RUN(test_truncate_flip);
	KBT_RUN(test_ini);
	KBT_RUN(test_imds_doc);
	return kbt_done();
}
