/* Fuzz target: known_hosts text (kb_known_hosts_check) and host pattern
 * lists.  The first input byte picks the looked-up name. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "sshc/known_hosts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HK_B64 "AAAAC3NzaC1lZDI1NTE5AAAAID5L+UtGaftfJFWbivg9iD8+VJ0kP0F4aWxTkjn8LpmW"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *names[] = {"[127.0.0.1]:2222", "host.example", "127.0.0.1", "[::1]:22"};
	struct kb_known_hosts_result res;
	struct kb_buf blob;
	const char *name;

	kb_init();
	if (size < 1 || size > 1024 * 1024)
		return 0;
	name = names[data[0] % 4];
	kb_buf_init(&blob, 1024);
	if (kb_buf_put_from_base64(&blob, HK_B64, strlen(HK_B64)) != 0)
		abort();
	if (kb_known_hosts_check((const char *)data + 1, size - 1, name, blob.data, blob.len, &res) != 0)
		abort();
	if (res.status != KB_KH_UNKNOWN && res.line == 0)
		abort();
	if (kb_known_hosts_check((const char *)data + 1, size - 1, name, NULL, 0, &res) != 0)
		abort();
	if (res.status == KB_KH_OK || res.status == KB_KH_REVOKED)
		abort();
	{
		struct kb_buf cas, v;
		const uint8_t *p;
		size_t n;
		kb_buf_init(&cas, 64 * 1024);
		if (kb_known_hosts_check_ca((const char *)data + 1, size - 1, name, blob.data, blob.len, &res, &cas) ==
		    0) {
			kb_buf_init_ro(&v, cas.data, cas.len);
			while (kb_buf_get_string_direct(&v, &p, &n) == 0)
				if (n == 0 || n > 1024 * 1024)
					abort();
			if (v.off != v.len)
				abort();
		}
		kb_buf_done(&cas);
	}
	if (size - 1 <= 4096)
		kb_known_hosts_match_patterns((const char *)data + 1, size - 1, name);
	kb_buf_done(&blob);
	return 0;
}
