/* Memory for secrets.
 *
 * Long-lived secrets (private keys, master keys) live in libsodium guarded
 * memory: guard pages, mlock, and wiped by sodium_free.  Transient secrets on
 * the heap or stack are wiped with kb_wipe before release.  Every free
 * function accepts NULL. */
#ifndef KB_MEM_H
#define KB_MEM_H

#include <stddef.h>

/* Initialises libsodium; call once at program start.
 * Returns 0 or KB_ERR_CRYPTO. */
int kb_init(void);

void *kb_secure_alloc(size_t n);
void kb_secure_free(void *p);
/* Makes a guarded region read-only / read-write again (sodium_mprotect). */
void kb_secure_readonly(void *p);
void kb_secure_readwrite(void *p);

void kb_wipe(void *p, size_t n);
/* Wipes n bytes then free()s p. */
void kb_freezero(void *p, size_t n);
/* Wipes a NUL-terminated heap string then frees it. */
void kb_free_string(char *s);

/* Constant-time equality of two n-byte regions (true when equal). */
int kb_ct_equal(const void *a, const void *b, size_t n);

/* Routes jansson's allocations through a wiping allocator, so JSON
 * documents that held secrets leave nothing behind when freed. */
void kb_json_use_wiping_alloc(void);

/* Frees a string jansson allocated (json_dumps) through jansson's current
 * allocator, wiping it first.  Accepts NULL. */
void kb_json_free_string(char *s);

/* Process hardening for programs that hold secrets: no core dumps, not
 * dumpable (no ptrace by same uid).  Returns 0 or KB_ERR_IO. */
int kb_harden_process(void);

#endif
