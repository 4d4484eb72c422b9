/* Fuzz target: SSH wire signatures (kb_key_verify's parser and each
 * family's signature decoding).  The first byte picks the key. */
#include <stdlib.h>

#include "core/mem.h"
#include "ssh/key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const pubs[] = {
	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINvp3kggbZk1fhaEWR++1AYnPs3npdRLmHI0YfHfv2x8",
	"ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBKk3uZGjWXB6qlkj/n11ibsnD8RUxLkuMBYuSh9hVNAm5vfsfujLmnlGjGShMAdASCoZyTUrV9wanVGeOmupwyA=",
	"ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAC5+2Z13eSii8OJ08KKGnRkDp+jwxbTnUWTcIQ0guWMioH2iXe6A5itQ3EnzWye5d88q4bV6IfDgrKeCalL6bnWPQFpMyxfi25g5kCLGS3vOopVeLQZLOgYFDfPOMePFcyHjK2PBFfDRsLmAKisIgoRN6qevNRvJZluAl63/DMkpg0+jg==",
	"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDLkgXzQv5Aw7nbuM3PtgzmxsMcNrgt8fUcmaFEp+ifR1GvMCvSwaynFuUfnJA8XEU5rvPzkTP+0HMxiWTRwE+zpW/0Kig62XW+nmUwW375aUyWJ5xYaPDaFLAQatxAQPnPDSRySkdrSlpCr0h3Ms2hpIXXDO3saJjxg38nW0cXDgNtmV+t3NAl5+3B6zCD0A1sA/gGuvDjrrusZ0yQFsTX+QXPPWj4EytAu+E1yfo5mCqkZ8gcYLj8APK0H3BRPxZppkNHs9ume0SWD00JXu3S43xkDzMEzDJrVWwLHbaeWY4fuKzhtrngXsUmgow6zTz4sv6yN+g8kE/ZzTd1VUpZ",
	"ssh-dss AAAAB3NzaC1kc3MAAACBAOXFn/HELeRWKyHybSbOO0/MFEnOTZkV8aVQyRVy0rg2TsDFofx7kPemHRAfnSKVUK3gLBpyCrB25rDrFyFblscUd2hR+TgP5XtRqffkLcpitB4Zex2re6+9w7e9Fx5R8TXx77ilMf2sUyE7LMD9ETJHNSQ+6d4A8pvglLaltAJ3AAAAFQD1UAqSE4oz6HfGqBzeJvLxnlmNQwAAAIA6kDaq15Aw7rmNngMmuSSmPst1u1ToARb2ufvg05UWrA+8wv86HjMzmDKUTEqU/Dn/95ZG5NeRJCKVcgGxgJ4bed4pzNF463nDLgn2Eoe3Mjb4ZQFWE8C7ekXVVGlELykVX6o0Pp4st8HOKpy5FllaaTKdjL+La1BeZTkU2JVMbAAAAIB1fKE/kx2i2FBBnjG8OZQLN/KxC1V3hP+x7l/sruqL97/aDFJi78BtF1Hq6gw7NFAbLB3f+TFUCn8BUb3HBhYxIyIMEvGUAKJ6LbBUmgiXbeVwFNeEAyw69UV+SGeTv6G5wcYUa3GJbnsgcvPhcV0blZUB6rDmM+4BtVDnt5UVww==",
};
static struct kb_key *keys[sizeof(pubs) / sizeof(pubs[0])];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t msg[] = "keybroker fuzz message";
	char *alg = NULL;

	kb_init();
	if (size < 1)
		return 0;
	size_t i = data[0] % (sizeof(pubs) / sizeof(pubs[0]));
	if (keys[i] == NULL && kb_key_parse_public_line(pubs[i], &keys[i], NULL) != 0)
		abort();
	(void)kb_key_verify(keys[i], data + 1, size - 1, msg, sizeof(msg) - 1, NULL);
	if (kb_sig_get_alg(data + 1, size - 1, &alg) == 0)
		(void)kb_key_verify(keys[i], data + 1, size - 1, msg, sizeof(msg) - 1, alg);
	free(alg);
	return 0;
}
