#include "ssh/ossl.h"

#include <pthread.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "core/err.h"

int kb_ossl_err_as(int err, const char *what)
{
	unsigned long e = ERR_get_error();
	char msg[256];

	if (e == 0) {
		ERR_clear_error();
		return kb_err_set(err, "%s", what);
	}
	ERR_error_string_n(e, msg, sizeof(msg));
	ERR_clear_error();
	return kb_err_set(err, "%s: %s", what, msg);
}

int kb_ossl_err(const char *what)
{
	return kb_ossl_err_as(KB_ERR_CRYPTO, what);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool secure_heap;

static void init_once(void)
{
	/* Minimum block 32 bytes; 2 means "initialised but not mlocked"
	 * (RLIMIT_MEMLOCK), which still gives guard pages and wiping. */
	if (CRYPTO_secure_malloc_initialized() || CRYPTO_secure_malloc_init(KB_OSSL_SECURE_HEAP, 32) != 0)
		secure_heap = true;
	ERR_clear_error();
}

void kb_ossl_init(void)
{
	pthread_once(&once, init_once);
}

bool kb_ossl_secure_heap(void)
{
	kb_ossl_init();
	return secure_heap;
}
