/* The one OpenSSL adapter: error mapping and process-wide set-up.
 *
 * kb_ossl_err() drains OpenSSL's thread-local error queue into the
 * KB_ERR_CRYPTO detail ("what: <first OpenSSL error string>").
 * kb_ossl_init() sets up OpenSSL's secure heap once (idempotent, thread
 * safe): the private-key BIGNUMs this library creates live there (mlocked,
 * guard pages, wiped on free), and OpenSSL keeps ECDSA private scalars and
 * ECDSA nonces there too (RSA/DSA keys it copies to its ordinary heap, see
 * key_priv.h). */
#ifndef KB_OSSL_H
#define KB_OSSL_H

#include <stdbool.h>
#include <stddef.h>

/* Size of OpenSSL's secure heap (a power of two). */
#define KB_OSSL_SECURE_HEAP (4u * 1024u * 1024u)

/* Returns KB_ERR_CRYPTO with the OpenSSL error string as detail. */
int kb_ossl_err(const char *what);
/* Like kb_ossl_err but with another code (e.g. KB_ERR_INVALID for inputs
 * OpenSSL rejected). */
int kb_ossl_err_as(int err, const char *what);
void kb_ossl_init(void);
/* True when the secure heap is in use. */
bool kb_ossl_secure_heap(void);

#endif
