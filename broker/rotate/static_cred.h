/* Static credentials: long-lived keys installed in authorized_keys on the
 * hosts their "targets" list names (DESIGN.md).  Stored like any
 * credential at keybroker/<role>/<name>, kind keybroker/ssh-credential/v1,
 * without a certificate:
 *
 *   {"kind":"keybroker/ssh-credential/v1","key_type":"ssh-ed25519",
 *    "private_key":"-----BEGIN OPENSSH PRIVATE KEY-----\n...",
 *    "public_key":"ssh-ed25519 AAAA... keybroker/static/db",
 *    "fingerprint":"SHA256:...","key_id":"keybroker/static/db",
 *    "role":"static","requested_by":"alice","created":"2026-11-30T01:00:00Z",
 *    "targets":["deploy@10.0.1.5:22", ...]}
 *
 * Functions return KB_OK or a negative enum kb_err with kb_err_set detail. */
#ifndef KB_STATIC_CRED_H
#define KB_STATIC_CRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "ssh/key.h"
#include "sshc/sshc.h"
#include "store/store.h"

struct kb_store;

#define KB_STATIC_TARGETS_MAX 256
#define KB_STATIC_TARGET_LEN_MAX 330 /* user(32) @ [host(255)]:port, with room */
#define KB_STATIC_DEFAULT_ROLE "static"

struct kb_static_cred {
	char *role;
	char *requested_by;
	char *created;                 /* RFC 3339, may be NULL */
	struct kb_key *key;            /* private when parsed with need_private, else public */
	char fingerprint[KB_KEY_FP_MAX];
	struct kb_ssh_target *targets;
	size_t ntargets;
};

/* Parses a stored value.  Not a static credential (another kind, or one
 * with a certificate, or without targets) is KB_ERR_INVALID with a detail.
 * need_private: parse the private key too (else only the public line). */
int kb_static_cred_parse(const char *json, size_t len, bool need_private, struct kb_static_cred **ret);
void kb_static_cred_free(struct kb_static_cred *c);

/* The stored JSON for c (c->key private) into out (use a secure buffer).
 * name is the secret name, used as the key comment and key_id. */
int kb_static_cred_build(const struct kb_static_cred *c, const char *name, struct kb_buf *out);

/* A new credential: fresh key of key_type ("ed25519", "ecdsa-p256",
 * "rsa-3072", ...; NULL: ed25519) with the given targets (copied). */
int kb_static_cred_new(const char *key_type, const char *role, const char *requested_by,
		       const struct kb_ssh_target *targets, size_t ntargets, struct kb_static_cred **ret);

/* Validates role and name (1..64 of [A-Za-z0-9_.@-], not starting with
 * '.' or '-'). */
bool kb_static_name_valid(const char *s);

/* Resolves what a user typed to a secret name: "keybroker/R/N" as is,
 * "R/N" -> keybroker/R/N, "N" -> keybroker/<role>/N when role is given,
 * else the single static credential named N under any role (KB_ERR_ARGS
 * when several match, KB_ERR_NOT_FOUND when none). */
int kb_static_resolve(struct kb_store *s, const char *arg, const char *role, char **ret_name);

/* Names of all static credentials under prefix ("keybroker/" or
 * "keybroker/<role>/"), sorted; other secrets are skipped. */
int kb_static_list(struct kb_store *s, const char *prefix, char ***ret_names, size_t *ret_n);

/* Reads and parses one version (sel) of name.  KB_ERR_NOT_FOUND when the
 * secret or stage does not exist.  ret_version may be NULL. */
int kb_static_get(struct kb_store *s, const char *name, const struct kb_store_sel *sel, bool need_private,
		  struct kb_static_cred **ret, char **ret_version);

#endif
