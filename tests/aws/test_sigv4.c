/* SigV4 against AWS's published test suite (tests/aws/sigv4/vectors.txt). */
#include <stdlib.h>
#include <string.h>

#include "aws/creds.h"
#include "aws/sigv4.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "kbtest.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static const char *dir;
static int nvectors;

struct vec {
	char name[128], method[16], path[256], body[256], authz[512];
	struct kb_http_header q[8], h[8];
	char *strs[32];
	size_t nq, nh, ns;
};

static char *keep(struct vec *v, const char *s, size_t n)
{
	char *p = malloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	v->strs[v->ns++] = p;
	return p;
}

static void vec_clear(struct vec *v)
{
	for (size_t i = 0; i < v->ns; i++)
		free(v->strs[i]);
	memset(v, 0, sizeof(*v));
}

static char *read_text(const char *name, const char *ext)
{
	char path[512];
	struct kb_buf b;
	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
	kb_buf_init(&b, 65536);
	if (kb_read_file(path, 65536, &b) != KB_OK) {
		kb_buf_done(&b);
		return NULL;
	}
	char *s = calloc(1, b.len + 1);
	memcpy(s, b.data, b.len);
	kb_buf_done(&b);
	return s;
}

static void run_vec(struct vec *v)
{
	struct kb_sigv4_input in = { .method = v->method, .path = v->path, .query = v->q,
				     .nquery = v->nq, .headers = v->h, .nheaders = v->nh,
				     .body = (const uint8_t *)v->body, .body_len = strlen(v->body),
				     .region = "us-east-1", .service = "service",
				     .amz_date = "20150830T123600Z" };
	char *authz, *creq, *sts;
	int ok = 1;
	KBT_CHECK_INT(kb_sigv4_sign(&in, AKID, SECRET, &authz, &creq, &sts), KB_OK);
	if (v->authz[0] != '\0') {
		if (strcmp(authz, v->authz) != 0) {
			printf("# %s: got %s\n", v->name, authz);
			ok = 0;
		}
	}
	char *want = read_text(v->name, "creq");
	if (want != NULL && strcmp(want, creq) != 0) {
		printf("# %s: canonical request differs:\n%s\n", v->name, creq);
		ok = 0;
	}
	free(want);
	want = read_text(v->name, "sts");
	if (want != NULL && strcmp(want, sts) != 0) {
		printf("# %s: string to sign differs:\n%s\n", v->name, sts);
		ok = 0;
	}
	free(want);
	KBT_CHECK(ok);
	/* Another secret gives another signature. */
	char *other;
	KBT_CHECK_INT(kb_sigv4_sign(&in, AKID, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ", &other, NULL, NULL), KB_OK);
	KBT_CHECK(strcmp(other, authz) != 0);
	free(other);
	free(authz);
	free(creq);
	free(sts);
	nvectors++;
}

static void test_suite(void)
{
	char path[512];
	struct kb_buf b;
	struct vec v;
	snprintf(path, sizeof(path), "%s/vectors.txt", dir);
	kb_buf_init(&b, 1 << 20);
	KBT_CHECK_INT(kb_read_file(path, 1 << 20, &b), KB_OK);
	kb_buf_put_u8(&b, 0);
	memset(&v, 0, sizeof(v));
	char *text = (char *)b.data;
	for (char *line = text; line != NULL && *line != '\0';) {
		char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		char *eq;
#define IS(p) (strncmp(line, p " ", strlen(p) + 1) == 0)
#define ARG (line + strcspn(line, " ") + 1)
#define ARGLEN (n - (size_t)(ARG - line))
		if (n == 0) {
			if (v.name[0] != '\0')
				run_vec(&v);
			vec_clear(&v);
		} else if (line[0] == '#') {
		} else if (IS("name")) {
			snprintf(v.name, sizeof(v.name), "%.*s", (int)ARGLEN, ARG);
		} else if (IS("method")) {
			snprintf(v.method, sizeof(v.method), "%.*s", (int)ARGLEN, ARG);
		} else if (IS("path")) {
			snprintf(v.path, sizeof(v.path), "%.*s", (int)ARGLEN, ARG);
		} else if (IS("body")) {
			snprintf(v.body, sizeof(v.body), "%.*s", (int)ARGLEN, ARG);
		} else if (IS("authz")) {
			snprintf(v.authz, sizeof(v.authz), "%.*s", (int)ARGLEN, ARG);
		} else if (IS("query")) {
			eq = memchr(ARG, '=', ARGLEN);
			v.q[v.nq].name = keep(&v, ARG, (size_t)(eq - ARG));
			v.q[v.nq].value = keep(&v, eq + 1, n - (size_t)(eq + 1 - line));
			v.nq++;
		} else if (IS("header")) {
			eq = memchr(ARG, ':', ARGLEN);
			v.h[v.nh].name = keep(&v, ARG, (size_t)(eq - ARG));
			v.h[v.nh].value = keep(&v, eq + 1, n - (size_t)(eq + 1 - line));
			v.nh++;
		}
		line = nl ? nl + 1 : NULL;
	}
	if (v.name[0] != '\0')
		run_vec(&v);
	vec_clear(&v);
	kb_buf_done(&b);
	printf("# %d vectors\n", nvectors);
	KBT_CHECK(nvectors >= 20);
}

static void test_sign_request(void)
{
	struct kb_aws_creds *c;
	struct kb_aws_signed s;
	KBT_CHECK_INT(kb_aws_creds_new(AKID, SECRET, NULL, 0, "test", &c), KB_OK);
	KBT_CHECK_INT(kb_aws_sign_request(c, "us-east-1", "service", "GET",
					  "https://example.amazonaws.com/?Param2=value2&Param1=value1",
					  NULL, 0, NULL, 0, 1440938160, &s), KB_OK);
	const char *authz = NULL, *host = NULL, *date = NULL;
	for (size_t i = 0; i < s.n; i++) {
		if (strcmp(s.h[i].name, "Authorization") == 0)
			authz = s.h[i].value;
		if (strcmp(s.h[i].name, "Host") == 0)
			host = s.h[i].value;
		if (strcmp(s.h[i].name, "X-Amz-Date") == 0)
			date = s.h[i].value;
	}
	KBT_CHECK_STR(host, "example.amazonaws.com");
	KBT_CHECK_STR(date, "20150830T123600Z");
	KBT_CHECK_STR(authz, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
	kb_aws_signed_done(&s);

	/* Percent-encoded URL parts are decoded then canonically encoded. */
	KBT_CHECK_INT(kb_aws_sign_request(c, "us-east-1", "service", "GET",
					  "https://example.amazonaws.com/%E1%88%B4", NULL, 0, NULL, 0,
					  1440938160, &s), KB_OK);
	KBT_CHECK_STR(s.h[s.n - 1].value, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
	kb_aws_signed_done(&s);

	/* Bad URLs are refused. */
	KBT_CHECK(kb_aws_sign_request(c, "r", "s", "GET", "https://h/%zz", NULL, 0, NULL, 0, 0, &s) != KB_OK);
	KBT_CHECK(kb_aws_sign_request(c, "r", "s", "GET", "https://h/%4", NULL, 0, NULL, 0, 0, &s) != KB_OK);
	KBT_CHECK(kb_aws_sign_request(c, "r", "s", "GET", "https://h/%00", NULL, 0, NULL, 0, 0, &s) != KB_OK);
	KBT_CHECK(kb_aws_sign_request(c, "r", "s", "GET", "https://u@h/", NULL, 0, NULL, 0, 0, &s) != KB_OK);
	KBT_CHECK(kb_aws_sign_request(c, "r", "s", "GET", "nourl", NULL, 0, NULL, 0, 0, &s) != KB_OK);
	kb_aws_creds_free(c);

	/* A session token is signed as X-Amz-Security-Token. */
	KBT_CHECK_INT(kb_aws_creds_new(AKID, SECRET, "TOKEN", 0, "test", &c), KB_OK);
	KBT_CHECK_INT(kb_aws_sign_request(c, "us-east-1", "ec2-instance-connect", "POST",
					  "https://ec2-instance-connect.us-east-1.amazonaws.com/",
					  NULL, 0, (const uint8_t *)"{}", 2, 1440938160, &s), KB_OK);
	KBT_CHECK(strstr(s.h[s.n - 1].value, "/us-east-1/ec2-instance-connect/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token,") != NULL);
	kb_aws_signed_done(&s);
	kb_aws_creds_free(c);
}

int main(int argc, char **argv)
{
	if (argc < 2 || kb_init() != KB_OK) {
		printf("Bail out! usage: test-sigv4 VECTOR_DIR\n");
		return 1;
	}
	dir = argv[1];
	KBT_RUN(test_suite);
	KBT_RUN(test_sign_request);
	return kbt_done();
}
