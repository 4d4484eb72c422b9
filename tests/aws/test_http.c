/* HTTP client tests against tests/aws/httpd.py (KB_TEST_HTTP_URL). */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/util.h"
#include "kbtest.h"
#include "net/http.h"

static const char *base;

static int get(const char *path, size_t max, long timeout, struct kb_http_response *r)
{
	char url[256];
	snprintf(url, sizeof(url), "%s%s", base, path);
	struct kb_http_request q = { .method = "GET", .url = url, .max_body = max, .timeout_ms = timeout };
	return kb_http_do(&q, r);
}

static bool body_has(const struct kb_http_response *r, const char *needle)
{
	char *s = calloc(1, r->body.len + 1);
	if (s == NULL)
		return false;
	memcpy(s, r->body.data, r->body.len);
	bool ok = strstr(s, needle) != NULL;
	free(s);
	return ok;
}

static void test_get(void)
{
	struct kb_http_response r;
	KBT_CHECK_INT(get("/echo", 0, 0, &r), KB_OK);
	KBT_CHECK_INT(r.status, 200);
	KBT_CHECK(body_has(&r, "\"method\": \"GET\""));
	KBT_CHECK_STR(kb_http_response_header(&r, "content-type"), "application/json");
	KBT_CHECK(kb_http_response_header(&r, "X-Nope") == NULL);
	KBT_CHECK(!kb_buf_is_secure(&r.body));
	kb_http_response_done(&r);
	kb_http_response_done(&r); /* idempotent */
}

static void test_post_headers(void)
{
	char url[256];
	snprintf(url, sizeof(url), "%s/echo", base);
	struct kb_http_header h[] = { { "X-Amz-Target", "secretsmanager.GetSecretValue" },
				      { "Content-Type", "application/x-amz-json-1.1" } };
	const char *body = "{\"SecretId\":\"a\"}";
	struct kb_http_request q = { .method = "POST", .url = url, .headers = h, .nheaders = 2,
				     .body = (const uint8_t *)body, .body_len = strlen(body),
				     .secure_body = true };
	struct kb_http_response r;
	KBT_CHECK_INT(kb_http_do(&q, &r), KB_OK);
	KBT_CHECK_INT(r.status, 200);
	KBT_CHECK(kb_buf_is_secure(&r.body));
	KBT_CHECK(body_has(&r, "\"x-amz-target\": \"secretsmanager.GetSecretValue\""));
	KBT_CHECK(body_has(&r, "\"content-type\": \"application/x-amz-json-1.1\""));
	KBT_CHECK(body_has(&r, "{\\\"SecretId\\\":\\\"a\\\"}"));
	KBT_CHECK(!body_has(&r, "expect"));
	kb_http_response_done(&r);

	/* PUT with an empty body still sends Content-Length: 0 (IMDSv2). */
	q.method = "PUT";
	q.body = NULL;
	q.body_len = 0;
	KBT_CHECK_INT(kb_http_do(&q, &r), KB_OK);
	KBT_CHECK(body_has(&r, "\"method\": \"PUT\""));
	KBT_CHECK(body_has(&r, "\"content-length\": \"0\""));
	kb_http_response_done(&r);

	/* Header injection is refused before anything is sent. */
	struct kb_http_header bad[] = { { "X-A", "v\r\nX-Injected: 1" } };
	q.headers = bad;
	q.nheaders = 1;
	KBT_CHECK_INT(kb_http_do(&q, &r), KB_ERR_INVALID);
	kb_http_response_done(&r);
	struct kb_http_header bad2[] = { { "X-A: b", "v" } };
	q.headers = bad2;
	KBT_CHECK_INT(kb_http_do(&q, &r), KB_ERR_INVALID);
	kb_http_response_done(&r);
}

static void test_caps(void)
{
	struct kb_http_response r;
	KBT_CHECK_INT(get("/size/1000", 1000, 0, &r), KB_OK);
	KBT_CHECK_INT(r.body.len, 1000);
	kb_http_response_done(&r);
	KBT_CHECK_INT(get("/size/1001", 1000, 0, &r), KB_ERR_TOO_LARGE);
	KBT_CHECK_INT(r.body.len, 0);
	KBT_CHECK_INT(r.status, 0);
	kb_http_response_done(&r);
	/* Content-Length far over the cap: refused from the header. */
	KBT_CHECK_INT(get("/size/50000000", 0, 0, &r), KB_ERR_TOO_LARGE);
	kb_http_response_done(&r);
	/* No Content-Length: refused while receiving. */
	KBT_CHECK_INT(get("/chunked/4096", 4096, 0, &r), KB_OK);
	KBT_CHECK_INT(r.body.len, 4096);
	kb_http_response_done(&r);
	KBT_CHECK_INT(get("/chunked/70000", 4096, 0, &r), KB_ERR_TOO_LARGE);
	kb_http_response_done(&r);
	/* Many headers: only the first KB_HTTP_MAX_HEADERS kept. */
	KBT_CHECK_INT(get("/headers/100", 0, 0, &r), KB_OK);
	KBT_CHECK_INT(r.nheaders, KB_HTTP_MAX_HEADERS);
	kb_http_response_done(&r);
}

static void test_status_redirect(void)
{
	struct kb_http_response r;
	KBT_CHECK_INT(get("/status/503", 0, 0, &r), KB_OK);
	KBT_CHECK_INT(r.status, 503);
	kb_http_response_done(&r);
	KBT_CHECK_INT(get("/redirect", 0, 0, &r), KB_OK);
	KBT_CHECK_INT(r.status, 302);
	KBT_CHECK_STR(kb_http_response_header(&r, "Location"), "/echo");
	KBT_CHECK_INT(r.body.len, 0);
	kb_http_response_done(&r);
}

static void test_failures(void)
{
	struct kb_http_response r;
	KBT_CHECK_INT(get("/slow/3000", 0, 300, &r), KB_ERR_TIMEOUT);
	KBT_CHECK(strstr(kb_err_detail(), "GET http://127.0.0.1") != NULL);
	kb_http_response_done(&r);
	KBT_CHECK_INT(get("/reset", 0, 0, &r), KB_ERR_NETWORK);
	kb_http_response_done(&r);
	KBT_CHECK_INT(get("/lie/100", 0, 0, &r), KB_ERR_NETWORK);
	kb_http_response_done(&r);

	struct kb_http_request q = { .url = "file:///etc/passwd" };
	KBT_CHECK_INT(kb_http_do(&q, &r), KB_ERR_UNSUPPORTED);
	kb_http_response_done(&r);
	q.url = "ftp://127.0.0.1/";
	KBT_CHECK_INT(kb_http_do(&q, &r), KB_ERR_UNSUPPORTED);
	kb_http_response_done(&r);
	q.url = "http://127.0.0.1:1/";
	KBT_CHECK_INT(kb_http_do(&q, &r), KB_ERR_NETWORK);
	kb_http_response_done(&r);

	/* TLS towards a plain-HTTP server fails; verification cannot be off. */
	char url[256];
	snprintf(url, sizeof(url), "https://%s/echo", base + 7);
	q.url = url;
	KBT_CHECK_INT(kb_http_do(&q, &r), KB_ERR_NETWORK);
	KBT_CHECK(strstr(kb_err_detail(), "TLS") != NULL);
	kb_http_response_done(&r);
}

static void test_tls(void)
{
	const char *good = getenv("KB_TEST_HTTPS_URL"), *bad = getenv("KB_TEST_HTTPS_BADNAME_URL");
	const char *ca = getenv("KB_TEST_CA");
	char url[256];
	struct kb_http_response r;
	if (good == NULL || bad == NULL || ca == NULL) {
		printf("# no openssl: TLS checks skipped\n");
		return;
	}
	snprintf(url, sizeof(url), "%s/echo", good);
	struct kb_http_request q = { .url = url };
	/* Unknown CA: refused (verification is always on). */
	KBT_CHECK_INT(kb_http_do(&q, &r), KB_ERR_NETWORK);
	KBT_CHECK(strstr(kb_err_detail(), "TLS") != NULL);
	kb_http_response_done(&r);
	/* With the CA file (VAULT_CACERT style): accepted. */
	q.ca_file = ca;
	KBT_CHECK_INT(kb_http_do(&q, &r), KB_OK);
	KBT_CHECK_INT(r.status, 200);
	kb_http_response_done(&r);
	/* Right CA, wrong name: refused. */
	snprintf(url, sizeof(url), "%s/echo", bad);
	KBT_CHECK_INT(kb_http_do(&q, &r), KB_ERR_NETWORK);
	kb_http_response_done(&r);
	/* A missing CA file is an error, not a silent fallback. */
	snprintf(url, sizeof(url), "%s/echo", good);
	q.ca_file = "/nonexistent/ca.pem";
	KBT_CHECK(kb_http_do(&q, &r) != KB_OK);
	kb_http_response_done(&r);
}

static void test_retry_delay(void)
{
	struct kb_retry rt = { .max_attempts = 5, .base_ms = 100, .cap_ms = 1000, .deadline_ms = 0 };
	long lo = 100000, hi = -1;
	for (int i = 0; i < 2000; i++) {
		long d = kb_retry_delay_ms(&rt, 1, 0);
		KBT_CHECK(d >= 0 && d <= 200);
		if (d < lo)
			lo = d;
		if (d > hi)
			hi = d;
	}
	KBT_CHECK(lo < 50 && hi > 150); /* full jitter spans the range */
	for (int i = 0; i < 200; i++)
		KBT_CHECK(kb_retry_delay_ms(&rt, 4, 0) <= 1000); /* capped */
	KBT_CHECK_INT(kb_retry_delay_ms(&rt, 5, 0), -1);      /* out of attempts */
	KBT_CHECK_INT(kb_retry_delay_ms(&rt, 0, 0), -1);
	rt.deadline_ms = 500;
	KBT_CHECK_INT(kb_retry_delay_ms(&rt, 1, 500), -1);    /* past the deadline */
	rt.base_ms = 400000;
	rt.cap_ms = 400000;
	for (int i = 0; i < 50; i++) {
		long d = kb_retry_delay_ms(&rt, 1, 100);
		KBT_CHECK(d == -1 || d < 400);
	}
}

static void test_escape(void)
{
	char *s = kb_http_escape("a b/c~d+é", false);
	KBT_CHECK_STR(s, "a%20b%2Fc~d%2B%C3%A9");
	free(s);
	s = kb_http_escape("keybroker/ca/user", true);
	KBT_CHECK_STR(s, "keybroker/ca/user");
	free(s);
}

int main(void)
{
	base = getenv("KB_TEST_HTTP_URL");
	if (base == NULL || kb_init() != KB_OK) {
		printf("Bail out! KB_TEST_HTTP_URL not set (run through httpd.py)\n");
		return 1;
	}
	KBT_RUN(test_get);
	KBT_RUN(test_post_headers);
	KBT_RUN(test_caps);
	KBT_RUN(test_status_redirect);
	KBT_RUN(test_failures);
	KBT_RUN(test_tls);
	KBT_RUN(test_retry_delay);
	KBT_RUN(test_escape);
	return kbt_done();
}
