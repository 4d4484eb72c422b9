/* Is this machine an EC2 instance?  The same evidence AWS's
 * eic_curl_authorized_keys accepts before it trusts the metadata service,
 * read from sysfs (root overridable for tests).  See eic.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"
#include "fleet/eic.h"

#define HYPERVISOR_UUID "/sys/hypervisor/uuid"
#define BOARD_ASSET_TAG "/sys/devices/virtual/dmi/id/board_asset_tag"
#define PRODUCT_UUID "/sys/devices/virtual/dmi/id/product_uuid"

/* Reads a small sysfs file into out without trailing whitespace.
 * 1: read; 0: absent; -1: present but unreadable or oversized. */
static int read_small(const char *root, const char *rel, char *out, size_t n)
{
	char path[4200];
	ssize_t got;
	int fd;

	out[0] = '\0';
	if ((size_t)snprintf(path, sizeof(path), "%s%s", root, rel) >= sizeof(path))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	got = read(fd, out, n - 1);
	if (got > 0 && (size_t)got == n - 1) {
		char extra;
		if (read(fd, &extra, 1) > 0)
			got = -1; /* longer than any real value */
	}
	close(fd);
	if (got < 0) {
		out[0] = '\0';
		return -1;
	}
	out[got] = '\0';
	while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == ' ' || out[got - 1] == '\r' || out[got - 1] == '\t'))
		out[--got] = '\0';
	if (strlen(out) != (size_t)got || !kb_str_printable(out)) {
		out[0] = '\0';
		return -1;
	}
	return 1;
}

const char *kb_eic_sysfs_root(const char *given)
{
	const char *r = given;
	if (r == NULL || r[0] == '\0')
		r = getenv("BROKER_SYSFS_ROOT");
	if (r == NULL || r[0] == '\0' || strcmp(r, "/") == 0)
		return "";
	return r;
}

int kb_eic_host_probe(const char *root, struct kb_eic_host *h)
{
	char v[KB_EIC_HOST_VALUE_MAX];
	int r;

	memset(h, 0, sizeof(*h));
	if (root == NULL)
		root = "";
	if (root[0] != '\0' && root[0] != '/')
		return kb_err_set(KB_ERR_INVALID, "the sysfs root '%s' is not an absolute path", root);
	/* Xen: the hypervisor's uuid starts with "ec2" on EC2. */
	r = read_small(root, HYPERVISOR_UUID, v, sizeof(v));
	if (r != 0) {
		h->verdict = r > 0 && strncasecmp(v, "ec2", 3) == 0 ? KB_EIC_HOST_EC2 : KB_EIC_HOST_NOT_EC2;
		snprintf(h->why, sizeof(h->why), "%s %s", HYPERVISOR_UUID,
			 r < 0 ? "is unreadable" : h->verdict == KB_EIC_HOST_EC2 ? "starts with ec2"
										  : "does not start with ec2");
		return KB_OK;
	}
	/* Nitro: the board asset tag is the instance id (compared once the
	 * metadata has named the instance). */
	r = read_small(root, BOARD_ASSET_TAG, v, sizeof(v));
	if (r != 0) {
		if (r > 0 && strncmp(v, "i-", 2) == 0) {
			h->verdict = KB_EIC_HOST_IF_INSTANCE;
			kb_strlcpy(h->asset_tag, v, sizeof(h->asset_tag));
			snprintf(h->why, sizeof(h->why), "%s is %s", BOARD_ASSET_TAG, v);
		} else {
			h->verdict = KB_EIC_HOST_NOT_EC2;
			snprintf(h->why, sizeof(h->why), "%s %s", BOARD_ASSET_TAG,
				 r < 0 ? "is unreadable" : "is not an instance id");
		}
		return KB_OK;
	}
	/* Neither: the DMI product uuid, readable by root only, starts with
	 * "EC2" on EC2 machines. */
	r = read_small(root, PRODUCT_UUID, v, sizeof(v));
	if (r > 0 && strncasecmp(v, "ec2", 3) == 0) {
		h->verdict = KB_EIC_HOST_EC2;
		snprintf(h->why, sizeof(h->why), "%s starts with EC2", PRODUCT_UUID);
		return KB_OK;
	}
	h->verdict = KB_EIC_HOST_NOT_EC2;
	snprintf(h->why, sizeof(h->why), "no %s, no %s%s", HYPERVISOR_UUID, BOARD_ASSET_TAG,
		 r > 0 ? ", and the DMI product uuid is not an EC2 one" : "");
	return KB_OK;
}

bool kb_eic_host_confirm(struct kb_eic_host *h, const char *instance_id)
{
	if (h->verdict == KB_EIC_HOST_IF_INSTANCE) {
		bool same = instance_id != NULL && strcmp(h->asset_tag, instance_id) == 0;
		h->verdict = same ? KB_EIC_HOST_EC2 : KB_EIC_HOST_NOT_EC2;
		if (!same)
			snprintf(h->why, sizeof(h->why), "%s (%s) is not the metadata's instance id", BOARD_ASSET_TAG,
				 h->asset_tag);
	}
	return h->verdict == KB_EIC_HOST_EC2;
}
