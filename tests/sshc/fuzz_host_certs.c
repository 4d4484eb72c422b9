/* Fuzz target: the host certificate lines a server sends back in the host
 * CA fallback (kb_sshc_host_cert_scan), checked against a fixed host key
 * and one trusted CA.  The corpus has real ssh-keygen -h certificates. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "sshc/known_hosts.h"
#include "sshc/sshc_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HOST_B64 "AAAAC3NzaC1lZDI1NTE5AAAAICEpoZ7dKKAGfSC/lHI8IGTrpncTbSJ7iU0MY1ha6IxY"
#define CA_B64 "AAAAC3NzaC1lZDI1NTE5AAAAIBQqVpKDyDu8oDBIL2ByHRjlxd+kjK3PilYXTKHro+KN"
#define KH "@cert-authority [127.0.0.1]:* ssh-ed25519 " CA_B64 "\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kb_buf hk, cas, kh;
	struct kb_known_hosts_result res;
	struct kb_sshc_cert_verdict v;
	size_t n;

	kb_init();
	if (size > 1024 * 1024)
		return 0;
	kb_buf_init(&hk, 1024);
	kb_buf_init(&cas, 64 * 1024);
	kb_buf_init_ro(&kh, (const uint8_t *)KH, strlen(KH));
	if (kb_buf_put_from_base64(&hk, HOST_B64, strlen(HOST_B64)) != 0 ||
	    kb_known_hosts_check_ca(KH, strlen(KH), "[127.0.0.1]:2222", hk.data, hk.len, &res, &cas) != 0 ||
	    cas.len == 0)
		abort();
	n = kb_sshc_host_cert_scan((const char *)data, size, hk.data, hk.len, &kh, "[127.0.0.1]:2222", &cas,
				   "127.0.0.1", &v);
	if (v.best > KB_SSHC_HC_OK || (v.best != KB_SSHC_HC_NONE && n == 0) || n > size)
		abort();
	kb_buf_done(&hk);
	kb_buf_done(&cas);
	return 0;
}
