/* Daemon protocol: request parsing (claims refused), framing limits, and
 * truncation/bit-flip robustness. */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "issue/ca.h"
#include "issue/serve_proto.h"
#include "kbtest.h"

static const char issue_req[] = "{\"op\":\"issue\",\"role\":\"deploy\",\"principals\":[\"deploy\",\"ubuntu\"],"
				"\"ttl\":\"30m\",\"key_type\":\"ed25519\",\"name\":\"ci-1\",\"host\":\"web-1\"}";

static int parse(const char *s, struct kb_serve_request *rq)
{
	return kb_serve_parse_request((const uint8_t *)s, strlen(s), rq);
}

static void test_parse(void)
{
	struct kb_serve_request rq;
	KBT_CHECK_INT(parse(issue_req, &rq), KB_OK);
	KBT_CHECK_INT(rq.op, KB_SERVE_OP_ISSUE);
	KBT_CHECK_STR(rq.role, "deploy");
	KBT_CHECK_INT(rq.nprincipals, 2);
	KBT_CHECK_INT(rq.ttl, 1800);
	KBT_CHECK_STR(rq.name, "ci-1");
	kb_serve_request_done(&rq);
	KBT_CHECK_INT(parse("{\"op\":\"ping\"}", &rq), KB_OK);
	KBT_CHECK_INT(rq.op, KB_SERVE_OP_PING);
	KBT_CHECK_INT(parse("{\"op\":\"ca\",\"ca\":\"host\"}", &rq), KB_OK);
	KBT_CHECK(rq.host_ca);
	/* claims of identity are refused, whatever the value */
	const char *claims[] = { "{\"op\":\"issue\",\"role\":\"r\",\"user\":\"root\"}",
				 "{\"op\":\"issue\",\"role\":\"r\",\"uid\":0}",
				 "{\"op\":\"issue\",\"role\":\"r\",\"groups\":[\"admins\"]}",
				 "{\"op\":\"issue\",\"role\":\"r\",\"requester\":\"alice\"}" };
	for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
		KBT_CHECK_INT(parse(claims[i], &rq), KB_ERR_INVALID);
		KBT_CHECK(strstr(kb_err_detail(), "SO_PEERCRED") != NULL);
	}
	const char *bad[] = { "{\"op\":\"issue\"}", "{\"op\":\"x\"}", "[]", "{\"op\":\"issue\",\"role\":\"r\",\"ttl\":\"x\"}",
			      "{\"op\":\"issue\",\"role\":\"r\",\"principals\":[1]}", "{\"op\":\"issue\",\"role\":\"r\",\"extra\":1}",
			      "{\"op\":\"issue\",\"role\":\"r\",\"role\":\"s\"}", "{\"op\":\"issue\",\"role\":\"a\\nb\"}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		KBT_CHECK_INT(parse(bad[i], &rq), KB_ERR_INVALID);
}

static void test_roundtrip(void)
{
	struct kb_serve_request rq, again;
	struct kb_buf b;
	KBT_CHECK_INT(parse(issue_req, &rq), KB_OK);
	kb_buf_init(&b, 1 << 16);
	KBT_CHECK_INT(kb_serve_encode_request(&rq, &b), KB_OK);
	KBT_CHECK_INT(kb_serve_parse_request(kb_buf_ptr(&b), kb_buf_remaining(&b), &again), KB_OK);
	KBT_CHECK_STR(again.host, "web-1");
	KBT_CHECK_INT(again.ttl, 1800);
	kb_serve_request_done(&again);
	kb_serve_request_done(&rq);
	kb_buf_done(&b);
}

static void test_frames(void)
{
	int sv[2];
	struct kb_buf b;
	KBT_CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	KBT_CHECK_INT(kb_serve_write_frame(sv[0], "{}", 2), KB_OK);
	kb_buf_init(&b, 1024);
	KBT_CHECK_INT(kb_serve_read_frame(sv[1], 1024, &b), KB_OK);
	KBT_CHECK_INT(kb_buf_remaining(&b), 2);
	kb_buf_done(&b);
	/* an announced length over the cap is refused before reading it */
	uint8_t big[4] = { 0x7f, 0xff, 0xff, 0xff };
	KBT_CHECK_INT(write(sv[0], big, 4), 4);
	kb_buf_init(&b, 1024);
	KBT_CHECK_INT(kb_serve_read_frame(sv[1], 1024, &b), KB_ERR_TOO_LARGE);
	kb_buf_done(&b);
	/* EOF in the middle of a frame */
	uint8_t part[6] = { 0, 0, 0, 10, '{', '}' };
	KBT_CHECK_INT(write(sv[0], part, 6), 6);
	close(sv[0]);
	kb_buf_init(&b, 1024);
	KBT_CHECK_INT(kb_serve_read_frame(sv[1], 1024, &b), KB_ERR_TRUNCATED);
	kb_buf_done(&b);
	close(sv[1]);
}

static void test_truncate_flip(void)
{
	size_t n = strlen(issue_req);
	char buf[sizeof(issue_req)];
	for (size_t i = 0; i < n; i++) {
		struct kb_serve_request rq;
		memcpy(buf, issue_req, n);
		KBT_CHECK(kb_serve_parse_request((const uint8_t *)buf, i, &rq) != KB_OK);
		for (int bit = 0; bit < 8; bit++) {
			memcpy(buf, issue_req, n);
			buf[i] ^= (char)(1 << bit);
			if (kb_serve_parse_request((const uint8_t *)buf, n, &rq) == KB_OK)
				kb_serve_request_done(&rq);
		}
	}
}

/* Random serials stay within what JSON readers hold exactly (int64). */
static void test_serial(void)
{
	uint64_t seen_high = 0;
	for (int i = 0; i < 4096; i++) {
		uint64_t s = kb_ca_random_serial();
		KBT_CHECK(s != 0 && s <= (uint64_t)INT64_MAX);
		seen_high |= s >> 62;
	}
	KBT_CHECK(seen_high == 1); /* bit 62 is used, bit 63 never */
}

int main(void)
{
	kb_init();
	KBT_RUN(test_parse);
	KBT_RUN(test_roundtrip);
	KBT_RUN(test_frames);
	KBT_RUN(test_truncate_flip);
	KBT_RUN(test_serial);
	return kbt_done();
}
