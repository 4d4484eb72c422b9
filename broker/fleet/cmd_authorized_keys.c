/* broker authorized-keys USER [FINGERPRINT]: sshd's AuthorizedKeysCommand
 * for EC2 Instance Connect (AWS's eic_run_authorized_keys in C).
 *
 *   AuthorizedKeysCommand /usr/bin/broker authorized-keys %u %f
 *   AuthorizedKeysCommandUser nobody
 *
 * The metadata is only consulted on an EC2 instance (eic.h: hypervisor
 * uuid, board asset tag, DMI product uuid, as AWS's scripts decide): on
 * any other machine 169.254.169.254 could be anyone.
 *
 * sshd trusts whatever this prints, so: nothing is printed unless every
 * check passed (output is collected and written once at the end), a hard
 * 5 s deadline ends the process whatever it is doing, and errors go to
 * stderr/syslog only. */
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "fleet/eic.h"
#include "fleet/fleet.h"
#include "fleet/imds.h"

#define DEADLINE_S 5

static void on_alarm(int sig)
{
	(void)sig;
	/* Past the deadline: exit without printing anything. */
	_exit(KB_EXIT_FAILURE);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: broker authorized-keys [--imds-endpoint URL] [--ca-file FILE] [--ca-path DIR]\n"
		   "                              [--sysfs-root DIR] [--syslog] USER [FINGERPRINT]\n"
		   "Prints the EC2 Instance Connect keys of USER, only on an EC2 instance (told by\n"
		   "DIR/sys/hypervisor/uuid or DIR/sys/devices/virtual/dmi/id; DIR defaults to\n"
		   "$BROKER_SYSFS_ROOT, else /).\n"
		   "sshd: AuthorizedKeysCommand /usr/bin/broker authorized-keys %%u %%f\n");
}

static bool valid_instance(const char *id)
{
	/* As AWS's script: i- and 8 to 32 hex digits. */
	size_t n = strlen(id);
	if (n < 10 || n > 34 || strncmp(id, "i-", 2) != 0)
		return false;
	for (size_t i = 2; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

static bool valid_domain(const char *d)
{
	if (d[0] == '\0' || strlen(d) > 253)
		return false;
	for (; *d; d++)
		if (!((*d >= 'a' && *d <= 'z') || (*d >= '0' && *d <= '9') || *d == '.' || *d == '-'))
			return false;
	return true;
}

static bool valid_staple_name(const char *s, size_t n)
{
	if (n != 40)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

struct staples {
	struct kb_eic_staple v[KB_EIC_MAX_STAPLES];
	size_t n;
};

static void staples_done(struct staples *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].der);
	s->n = 0;
}

static int fetch_staples(struct kb_imds *imds, struct staples *out)
{
	struct kb_buf list;
	int r;

	kb_buf_init(&list, 4096);
	r = kb_imds_get(imds, "managed-ssh-keys/signer-ocsp/", 4096, &list);
	if (r == KB_ERR_NOT_FOUND)
		r = KB_OK; /* no staples: fine if nothing needs one */
	while (r == 0 && kb_buf_remaining(&list) > 0) {
		const char *p = (const char *)kb_buf_ptr(&list);
		size_t rem = kb_buf_remaining(&list), n = 0;
		while (n < rem && p[n] != '\n' && p[n] != ' ')
			n++;
		if (n == 0) {
			kb_buf_skip(&list, 1);
			continue;
		}
		if (!valid_staple_name(p, n)) {
			r = kb_err_set(KB_ERR_INVALID, "bad OCSP staple name in the metadata");
			break;
		}
		if (out->n == KB_EIC_MAX_STAPLES) {
			r = kb_err_set(KB_ERR_TOO_LARGE, "more than %u OCSP staples", KB_EIC_MAX_STAPLES);
			break;
		}
		struct kb_eic_staple *st = &out->v[out->n];
		memcpy(st->name, p, n);
		st->name[n] = '\0';
		kb_buf_skip(&list, n);
		char path[128];
		struct kb_buf b64, der;
		snprintf(path, sizeof(path), "managed-ssh-keys/signer-ocsp/%s", st->name);
		kb_buf_init(&b64, KB_EIC_STAPLE_MAX * 2);
		kb_buf_init(&der, KB_EIC_STAPLE_MAX);
		r = kb_imds_get(imds, path, KB_EIC_STAPLE_MAX * 2, &b64);
		if (r == 0)
			r = kb_buf_put_from_base64(&der, (const char *)kb_buf_ptr(&b64), kb_buf_remaining(&b64));
		if (r == 0 && (st->der = malloc(kb_buf_remaining(&der) + 1)) == NULL)
			r = KB_ERR_NOMEM;
		if (r == 0) {
			st->len = kb_buf_remaining(&der);
			memcpy(st->der, kb_buf_ptr(&der), st->len);
			out->n++;
		}
		kb_buf_done(&b64);
		kb_buf_done(&der);
	}
	kb_buf_done(&list);
	return r;
}

/* Region from an availability zone: "eu-west-1a" -> "eu-west-1". */
static void region_of(const char *az, char *out, size_t n)
{
	kb_strlcpy(out, az, n);
	size_t len = strlen(out);
	if (len > 0)
		out[len - 1] = '\0';
}

static int run(const char *user, const char *fingerprint, const char *endpoint, const struct kb_eic_trust *trust,
	       const char *sysfs_root, struct kb_buf *out, unsigned *count)
{
	struct kb_eic_host host;
	struct kb_imds imds;
	struct staples staples = { 0 };
	struct kb_buf chain, keys;
	char *instance = NULL, *az = NULL, *domain = NULL, path[128], region[64], cn[384];
	EVP_PKEY *signer = NULL;
	int r;

	kb_buf_init(&chain, KB_EIC_CHAIN_MAX);
	kb_buf_init(&keys, KB_EIC_KEYS_MAX);
	memset(&imds, 0, sizeof(imds));
	/* Not an instance: no metadata request at all, nothing printed. */
	if ((r = kb_eic_host_probe(sysfs_root, &host)) != 0)
		goto out;
	if (host.verdict == KB_EIC_HOST_NOT_EC2) {
		kb_warn("EC2 Instance Connect: not an EC2 instance (%s); no keys offered", host.why);
		goto out;
	}
	if ((r = kb_imds_open(&imds, endpoint, kb_monotonic_ms() + (DEADLINE_S - 1) * 1000)) != 0)
		goto out;
	if ((r = kb_imds_get_string(&imds, "instance-id", 64, &instance)) != 0)
		goto out;
	if (!valid_instance(instance)) {
		r = kb_err_set(KB_ERR_INVALID, "metadata instance id is malformed");
		goto out;
	}
	if (!kb_eic_host_confirm(&host, instance)) {
		kb_warn("EC2 Instance Connect: not this EC2 instance (%s); no keys offered", host.why);
		goto out;
	}
	/* No keys for this user: nothing to print, not an error. */
	snprintf(path, sizeof(path), "managed-ssh-keys/active-keys/%s/", user);
	r = kb_imds_get(&imds, path, KB_EIC_KEYS_MAX, &keys);
	if (r == KB_ERR_NOT_FOUND) {
		r = KB_OK;
		goto out;
	}
	if (r != 0)
		goto out;
	if ((r = kb_imds_get_string(&imds, "placement/availability-zone", 64, &az)) != 0 ||
	    (r = kb_imds_get_string(&imds, "services/domain", 256, &domain)) != 0)
		goto out;
	if (!kb_fleet_valid_az(az) || !valid_domain(domain)) {
		r = kb_err_set(KB_ERR_INVALID, "metadata zone or domain is malformed");
		goto out;
	}
	region_of(az, region, sizeof(region));
	snprintf(cn, sizeof(cn), "managed-ssh-signer.%s.%s", region, domain);
	if ((r = kb_imds_get(&imds, "managed-ssh-keys/signer-cert/", KB_EIC_CHAIN_MAX, &chain)) != 0 ||
	    (r = fetch_staples(&imds, &staples)) != 0)
		goto out;
	r = kb_eic_verify_signer((const char *)kb_buf_ptr(&chain), kb_buf_remaining(&chain), cn, trust, staples.v,
				 staples.n, &signer);
	if (r != 0)
		goto out;
	struct kb_eic_filter f = {
		.instance_id = instance, .now = (int64_t)time(NULL), .fingerprint = fingerprint, .signer_key = signer,
	};
	r = kb_eic_filter_keys((const char *)kb_buf_ptr(&keys), kb_buf_remaining(&keys), &f, out, count);
out:
	kb_imds_close(&imds);
	EVP_PKEY_free(signer);
	staples_done(&staples);
	free(instance);
	free(az);
	free(domain);
	kb_buf_done(&chain);
	kb_buf_done(&keys);
	return r;
}

int cmd_authorized_keys(struct kb_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "imds-endpoint", required_argument, NULL, 'e' },
		{ "ca-file", required_argument, NULL, 'f' },
		{ "ca-path", required_argument, NULL, 'p' },
		{ "syslog", no_argument, NULL, 's' },
		{ "sysfs-root", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kb_eic_trust trust = { 0 };
	const char *endpoint = NULL, *user, *fingerprint = NULL, *sysfs = NULL;
	struct kb_buf out;
	unsigned count = 0;
	int c, r;

	(void)ctx;
	signal(SIGALRM, on_alarm);
	alarm(DEADLINE_S);
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'e': endpoint = optarg; break;
		case 'f': trust.ca_file = optarg; break;
		case 'p': trust.ca_path = optarg; break;
		case 's': kb_log_use_syslog(1); break;
		case 'r': sysfs = optarg; break;
		case 'h': usage(stdout); return KB_EXIT_OK;
		default: usage(stderr); return KB_EXIT_USAGE;
		}
	}
	if (argc - optind < 1 || argc - optind > 2) {
		usage(stderr);
		return KB_EXIT_USAGE;
	}
	user = argv[optind];
	if (argc - optind == 2 && argv[optind + 1][0] != '\0')
		fingerprint = argv[optind + 1];
	/* The name goes into a URL path: no slashes, nothing odd. */
	if (!kb_fleet_valid_os_user(user)) {
		kb_error("authorized-keys: refusing user name with unexpected characters");
		return KB_EXIT_USAGE;
	}
	/* A user that does not exist: let sshd deal with it. */
	if (getpwnam(user) == NULL)
		return KB_EXIT_OK;

	kb_buf_init(&out, KB_EIC_KEYS_MAX);
	r = run(user, fingerprint, endpoint, &trust, kb_eic_sysfs_root(sysfs), &out, &count);
	if (r != 0) {
		const char *d = kb_err_detail();
		kb_error("EC2 Instance Connect: no keys trusted for %s: %s%s%s", user, kb_err_str(r), d[0] ? ": " : "", d);
		kb_buf_done(&out);
		return kb_exit_for(r);
	}
	alarm(0);
	if (count > 0) {
		kb_info("EC2 Instance Connect: providing %u key(s) for %s", count, user);
		if (fwrite(kb_buf_ptr(&out), 1, kb_buf_remaining(&out), stdout) != kb_buf_remaining(&out) ||
		    fflush(stdout) != 0) {
			kb_buf_done(&out);
			return KB_EXIT_FAILURE;
		}
	}
	kb_buf_done(&out);
	return KB_EXIT_OK;
}
