/* The certificate authority: its private key is a secret in the configured
 * backend (keybroker/ca/user, keybroker/ca/host), stored as JSON
 * {"kind":"keybroker/ssh-ca/v1","key_type","private_key","public_key",
 *  "created"} so any AWS/Vault client can back it up. */
#ifndef KB_CA_H
#define KB_CA_H

#include <stdbool.h>
#include <stdint.h>

#include "ssh/key.h"

struct kb_store;

#define KB_CA_USER_SECRET "keybroker/ca/user"
#define KB_CA_HOST_SECRET "keybroker/ca/host"

const char *kb_ca_secret_name(bool host);

/* Creates the CA key when the secret does not exist.  KB_ERR_EXISTS when
 * it does (never overwritten).  *ret_pub (may be NULL) gets the public key
 * (new or existing, so callers can print it either way). */
int kb_ca_init(struct kb_store *s, enum kb_key_type type, unsigned bits, bool host, struct kb_key **ret_pub);
/* Loads the CA private key.  KB_ERR_NOT_FOUND with advice when missing. */
int kb_ca_load(struct kb_store *s, bool host, struct kb_key **ret);

/* CA rotation (see broker(1), "ca rotate"): the secret's current version
 * signs; a pending version is the next CA, trusted but not yet signing;
 * the previous version stays trusted until its overlap ends.  The bundle
 * is every CA public key sshd must trust now (TrustedUserCAKeys), the
 * current first.  *ret_keys is an array of *ret_n public keys; free each
 * with kb_key_free and the array with free. */
int kb_ca_bundle(struct kb_store *s, bool host, struct kb_key ***ret_keys, size_t *ret_n);

/* A random non-zero 63-bit serial (see SECURITY.md: with n certificates
 * ever issued the chance of any repeat is about n^2 / 2^64). */
uint64_t kb_ca_random_serial(void);

#endif
