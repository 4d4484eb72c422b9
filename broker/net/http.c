/* HTTP client over libcurl.  Limits are enforced here, not left to the
 * callers: body size before buffering, timeouts, http/https only, no
 * redirects, TLS verification on. */
#include "net/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"

#define HEADER_LINE_MAX 8192u
#define URL_MAX 8192u

struct xfer {
	struct kb_http_response *resp;
	size_t max_body;
	bool too_large;
	bool header_bad;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The one libcurl adapter: CURLcode -> enum kb_err, with a detail that
 * names the request (without its query string) and curl's own words. */
static int curl_err(CURLcode rc, const char *errbuf, const char *method, const char *url,
		    const struct xfer *x)
{
	char where[256];
	const char *msg = (errbuf != NULL && errbuf[0] != '\0') ? errbuf : curl_easy_strerror(rc);
	size_t n = strcspn(url, "?#");

	snprintf(where, sizeof(where), "%s %.*s", method, (int)(n > 200 ? 200 : n), url);
	if (x != NULL && x->too_large)
		return kb_err_set(KB_ERR_TOO_LARGE, "%s: response larger than %zu bytes", where,
				  x->max_body);
	if (x != NULL && x->header_bad)
		return kb_err_set(KB_ERR_INVALID, "%s: malformed response header", where);
	switch (rc) {
	case CURLE_OK:
		return KB_OK;
	case CURLE_OUT_OF_MEMORY:
		return kb_err_set(KB_ERR_NOMEM, "%s: %s", where, msg);
	case CURLE_OPERATION_TIMEDOUT:
		return kb_err_set(KB_ERR_TIMEOUT, "%s: %s", where, msg);
	case CURLE_FILESIZE_EXCEEDED:
		return kb_err_set(KB_ERR_TOO_LARGE, "%s: %s", where, msg);
	case CURLE_UNSUPPORTED_PROTOCOL:
		return kb_err_set(KB_ERR_UNSUPPORTED, "%s: %s", where, msg);
	case CURLE_URL_MALFORMAT:
	case CURLE_BAD_FUNCTION_ARGUMENT:
		return kb_err_set(KB_ERR_INVALID, "%s: %s", where, msg);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
		return kb_err_set(KB_ERR_NETWORK, "%s: TLS: %s", where, msg);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_WEIRD_SERVER_REPLY:
		return kb_err_set(KB_ERR_NETWORK, "%s: %s", where, msg);
	default:
		return kb_err_set(KB_ERR_NETWORK, "%s: %s (curl error %d)", where, msg, (int)rc);
	}
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nmemb;

	if (n > x->max_body || x->resp->body.len > x->max_body - n) {
		x->too_large = true;
		return 0; /* aborts the transfer */
	}
	if (kb_buf_put(&x->resp->body, ptr, n) != KB_OK) {
		x->too_large = true;
		return 0;
	}
	return n;
}

static void clear_headers(struct kb_http_response *r)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i]);
		r->headers[i] = NULL;
	}
	r->nheaders = 0;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nmemb, len = n;

	/* A new status line (after 100 Continue or a proxy's CONNECT) starts
	 * a new header block: only the final response's headers count. */
	if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
		clear_headers(x->resp);
		return n;
	}
	while (len > 0 && (ptr[len - 1] == '\n' || ptr[len - 1] == '\r'))
		len--;
	if (len == 0)
		return n;
	if (len > HEADER_LINE_MAX || memchr(ptr, '\0', len) != NULL) {
		x->header_bad = true;
		return 0;
	}
	/* Refuse early when the announced body is over the cap. */
	if (len > 15 && strncasecmp(ptr, "content-length:", 15) == 0) {
		char tmp[32];
		size_t vl = len - 15;
		const char *v = ptr + 15;
		while (vl > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		if (vl >= sizeof(tmp)) {
			x->too_large = true;
			return 0;
		}
		memcpy(tmp, v, vl);
		tmp[vl] = '\0';
		uint64_t cl;
		if (kb_parse_u64(tmp, UINT64_MAX, &cl) == KB_OK && cl > x->max_body) {
			x->too_large = true;
			return 0;
		}
	}
	if (x->resp->nheaders < KB_HTTP_MAX_HEADERS) {
		char *line = malloc(len + 1);
		if (line == NULL)
			return 0;
		memcpy(line, ptr, len);
		line[len] = '\0';
		x->resp->headers[x->resp->nheaders++] = line;
	}
	return n;
}

static bool header_text_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s == '\r' || *s == '\n')
			return false;
	return true;
}

static bool url_scheme_ok(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

int kb_http_do(const struct kb_http_request *req, struct kb_http_response *resp)
{
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE];
	struct xfer x;
	CURL *h = NULL;
	int ret;

	memset(resp, 0, sizeof(*resp));
	memset(&x, 0, sizeof(x));
	errbuf[0] = '\0';
	const char *method = req->method != NULL ? req->method : "GET";
	x.resp = resp;
	x.max_body = req->max_body != 0 ? req->max_body : KB_HTTP_BODY_MAX;
	if (req->secure_body)
		kb_buf_init_secure(&resp->body, x.max_body);
	else
		kb_buf_init(&resp->body, x.max_body);

	if (req->url == NULL || strlen(req->url) > URL_MAX || !kb_str_printable(req->url))
		return kb_err_set(KB_ERR_INVALID, "bad URL");
	if (!url_scheme_ok(req->url))
		return kb_err_set(KB_ERR_UNSUPPORTED, "only http:// and https:// URLs are allowed");
	if (!header_text_ok(method) || strlen(method) > 16)
		return kb_err_set(KB_ERR_INVALID, "bad HTTP method");

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return kb_err_set(KB_ERR_INTERNAL, "curl_global_init failed");
	h = curl_easy_init();
	if (h == NULL)
		return kb_err_set(KB_ERR_NOMEM, "curl_easy_init failed");

	for (size_t i = 0; i < req->nheaders; i++) {
		const struct kb_http_header *hd = &req->headers[i];
		if (!header_text_ok(hd->name) || !header_text_ok(hd->value) ||
		    strchr(hd->name, ':') != NULL || hd->name[0] == '\0') {
			ret = kb_err_set(KB_ERR_INVALID, "bad request header");
			goto out;
		}
		char *line = kb_asprintf("%s: %s", hd->name, hd->value);
		if (line == NULL) {
			ret = KB_ERR_NOMEM;
			goto out;
		}
		struct curl_slist *nh = curl_slist_append(hdrs, line);
		kb_free_string(line); /* may hold a token */
		if (nh == NULL) {
			ret = KB_ERR_NOMEM;
			goto out;
		}
		hdrs = nh;
	}
	/* No "Expect: 100-continue" round trip. */
	struct curl_slist *nh = curl_slist_append(hdrs, "Expect:");
	if (nh == NULL) {
		ret = KB_ERR_NOMEM;
		goto out;
	}
	hdrs = nh;

	long timeout = req->timeout_ms > 0 ? req->timeout_ms : 10000;
	long ctimeout = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 3000;
	CURLcode rc = CURLE_OK;
#define SET(opt, val) \
	do { \
		if (rc == CURLE_OK) \
			rc = curl_easy_setopt(h, opt, val); \
	} while (0)
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (req->ca_file != NULL) {
		/* Trust exactly this bundle (as Vault does with VAULT_CACERT),
		 * not also the system directory Debian's libcurl defaults to. */
		SET(CURLOPT_CAINFO, req->ca_file);
		SET(CURLOPT_CAPATH, (const char *)NULL);
	}
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, timeout);
	SET(CURLOPT_CONNECTTIMEOUT_MS, ctimeout);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x.max_body);
	SET(CURLOPT_USERAGENT, "keybroker/" KB_VERSION);
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, &x);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, &x);
	SET(CURLOPT_ACCEPT_ENCODING, NULL); /* no decompression bombs */
	if (strcmp(method, "GET") == 0) {
		SET(CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "HEAD") == 0) {
		SET(CURLOPT_NOBODY, 1L);
	} else {
		if (strcmp(method, "POST") != 0)
			SET(CURLOPT_CUSTOMREQUEST, method);
		/* Always send a body (maybe empty) so Content-Length is set,
		 * as IMDSv2's token PUT and AWS POSTs expect. */
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		SET(CURLOPT_POSTFIELDS, req->body != NULL ? (const char *)req->body : "");
	}
#undef SET
	if (rc != CURLE_OK) {
		ret = curl_err(rc, errbuf, method, req->url, NULL);
		goto out;
	}

	rc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK) {
		ret = curl_err(rc, errbuf, method, req->url, &x);
		kb_debug("%s: %s", kb_err_str(ret), kb_err_detail());
		kb_buf_reset(&resp->body);
		clear_headers(resp);
		goto out;
	}
	resp->status = status;
	kb_debug("%s %.*s -> %ld (%zu bytes)", method, (int)strcspn(req->url, "?"), req->url, status,
		 resp->body.len);
	ret = KB_OK;
out:
	/* Header lines may hold tokens (X-Amz-Security-Token, X-Vault-Token):
	 * wipe curl's copies before they go back to the allocator. */
	for (struct curl_slist *l = hdrs; l != NULL; l = l->next)
		if (l->data != NULL)
			kb_wipe(l->data, strlen(l->data));
	curl_slist_free_all(hdrs);
	if (h != NULL)
		curl_easy_cleanup(h);
	return ret;
}

void kb_http_response_done(struct kb_http_response *resp)
{
	if (resp == NULL)
		return;
	kb_buf_done(&resp->body);
	clear_headers(resp);
	resp->status = 0;
}

const char *kb_http_response_header(const struct kb_http_response *resp, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < resp->nheaders; i++) {
		const char *h = resp->headers[i];
		if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
			const char *v = h + nl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			return v;
		}
	}
	return NULL;
}

long kb_retry_delay_ms(const struct kb_retry *r, unsigned attempt, long elapsed_ms)
{
	if (attempt == 0 || attempt >= r->max_attempts)
		return -1;
	if (r->deadline_ms > 0 && elapsed_ms >= r->deadline_ms)
		return -1;
	long base = r->base_ms > 0 ? r->base_ms : 1;
	long cap = r->cap_ms > 0 ? r->cap_ms : base;
	long ceil = base;
	for (unsigned i = 0; i < attempt && ceil < cap; i++)
		ceil = ceil > cap / 2 ? cap : ceil * 2;
	if (ceil > cap)
		ceil = cap;
	if (ceil > (long)UINT32_MAX - 1)
		ceil = (long)UINT32_MAX - 1;
	long delay = (long)randombytes_uniform((uint32_t)ceil + 1);
	if (r->deadline_ms > 0 && elapsed_ms + delay >= r->deadline_ms)
		return -1;
	return delay;
}

int64_t kb_http_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kb_http_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

char *kb_http_escape(const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);

	if (n > (SIZE_MAX - 1) / 3)
		return NULL;
	char *out = malloc(n * 3 + 1), *o = out;
	if (out == NULL)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		unsigned char c = *p;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}
