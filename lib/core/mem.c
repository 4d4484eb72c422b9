#include "core/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <jansson.h>
#include <sodium.h>

#include "core/err.h"

int kb_init(void)
{
	if (sodium_init() < 0)
		return kb_err_set(KB_ERR_CRYPTO, "libsodium failed to initialise");
	return KB_OK;
}

void *kb_secure_alloc(size_t n)
{
	return sodium_malloc(n);
}

void kb_secure_free(void *p)
{
	if (p != NULL)
		sodium_free(p);
}

void kb_secure_readonly(void *p)
{
	if (p != NULL)
		sodium_mprotect_readonly(p);
}

void kb_secure_readwrite(void *p)
{
	if (p != NULL)
		sodium_mprotect_readwrite(p);
}

void kb_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		sodium_memzero(p, n);
}

void kb_freezero(void *p, size_t n)
{
	if (p == NULL)
		return;
	sodium_memzero(p, n);
	free(p);
}

void kb_free_string(char *s)
{
	if (s == NULL)
		return;
	sodium_memzero(s, strlen(s));
	free(s);
}

int kb_ct_equal(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

/* jansson's free() does not get a size, so each block carries its size in
 * a 16-byte header (keeps max_align_t alignment for the payload). */
#define HDR 16u

static void *wiping_malloc(size_t n)
{
	if (n > SIZE_MAX - HDR)
		return NULL;
	uint8_t *p = malloc(n + HDR);
	if (p == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + HDR;
}

static void wiping_free(void *q)
{
	if (q == NULL)
		return;
	uint8_t *p = (uint8_t *)q - HDR;
	size_t n;
	memcpy(&n, p, sizeof(n));
	sodium_memzero(p, n + HDR);
	free(p);
}

void kb_json_use_wiping_alloc(void)
{
	json_set_alloc_funcs(wiping_malloc, wiping_free);
}

void kb_json_free_string(char *s)
{
	json_malloc_t jm;
	json_free_t jf;

	if (s == NULL)
		return;
	sodium_memzero(s, strlen(s));
	json_get_alloc_funcs(&jm, &jf);
	jf(s);
}

int kb_harden_process(void)
{
	struct rlimit rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		return kb_err_errno("setrlimit(RLIMIT_CORE)");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return kb_err_errno("prctl(PR_SET_DUMPABLE)");
	return KB_OK;
}
