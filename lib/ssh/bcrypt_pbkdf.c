#include "ssh/bcrypt_pbkdf.h"

#include "core/err.h"

int kb_bcrypt_pbkdf(const char *pass, size_t passlen, const uint8_t *salt, size_t saltlen, uint8_t *key,
		    size_t keylen, unsigned rounds)
{
	(void)pass; (void)passlen; (void)salt; (void)saltlen; (void)key; (void)keylen; (void)rounds;
	return kb_err_set(KB_ERR_UNSUPPORTED, "encrypted private keys are not supported yet");
}
