/* bcrypt_pbkdf (OpenBSD / OpenSSH key derivation for encrypted
 * openssh-key-v1 files) and the Blowfish it is built on. */
#ifndef KB_BCRYPT_PBKDF_H
#define KB_BCRYPT_PBKDF_H

#include <stddef.h>
#include <stdint.h>

/* Derives keylen (1..1024) bytes; rounds >= 1.  Returns KB_OK or
 * KB_ERR_INVALID for bad parameters. */
int kb_bcrypt_pbkdf(const char *pass, size_t passlen, const uint8_t *salt, size_t saltlen, uint8_t *key,
		    size_t keylen, unsigned rounds);

#endif
