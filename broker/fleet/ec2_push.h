/* EC2 Instance Connect pushes: SendSSHPublicKey to many instances in
 * parallel (bounded), each through the signed AWS JSON client (which
 * retries ThrottlingException with full-jitter backoff), with a small
 * state cache so a key is pushed once per host per 60 s window.
 *
 * Functions return KB_OK or a negative enum kb_err. */
#ifndef KB_FLEET_EC2_PUSH_H
#define KB_FLEET_EC2_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KB_EC2_KEY_LIFETIME_S 60     /* how long AWS keeps a pushed key */
#define KB_EC2_REPUSH_MARGIN_S 15    /* push again when less than this is left */
#define KB_EC2_MAX_PARALLEL 64
#define KB_EC2_MAX_TARGETS 10000
#define KB_EC2_CACHE_MAX (1024u * 1024u)
#define KB_EC2_PUBKEY_MAX 8192u

struct kb_ec2_target {
	const char *instance_id;   /* validated by the caller */
	const char *az;            /* or NULL */
	/* Results. */
	int err;                   /* KB_OK when pushed or skipped */
	bool skipped;              /* pushed recently: nothing sent */
	int64_t pushed_at;         /* unix time of the push in effect */
	unsigned attempts;
	char request_id[64];
	char detail[256];
};

struct kb_ec2_push_opts {
	const char *os_user;
	const char *pubkey;        /* one authorized_keys line */
	const char *fingerprint;   /* of pubkey, for the cache and messages */
	const char *region;        /* NULL: environment / profile */
	const char *endpoint;      /* NULL: AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT, AWS_ENDPOINT_URL, AWS */
	const char *profile;       /* NULL: AWS_PROFILE / default */
	unsigned parallel;         /* 1..KB_EC2_MAX_PARALLEL */
	const char *cache_path;    /* NULL: no cache */
	bool force;                /* push even when the cache says it is fresh */
};

/* Pushes to every target; returns KB_OK when all were pushed or skipped,
 * else the first target's error (each target has its own err/detail). */
int kb_ec2_push_many(const struct kb_ec2_push_opts *o, struct kb_ec2_target *t, size_t n);

/* The default cache file: $XDG_RUNTIME_DIR/keybroker/ec2-push.cache, else
 * ~/.cache/keybroker/ec2-push.cache (heap string; directories created
 * 0700). */
char *kb_ec2_default_cache_path(void);

/* Reads one public key file (a single authorized_keys line, no options);
 * refuses private keys and anything over KB_EC2_PUBKEY_MAX. */
int kb_ec2_read_pubkey(const char *path, char **ret_line, char *fp, size_t fplen);

#endif
