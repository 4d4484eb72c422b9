/* Internal to the local store: shared between store_local.c (semantics)
 * and store_local_keys.c (keys and files). */
#ifndef KB_STORE_LOCAL_INT_H
#define KB_STORE_LOCAL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/store_local.h"

struct kb_config;

struct local_keys {
	uint8_t enc[32];
	uint8_t name[32];
};

/* mkdir 0700 (EEXIST is fine); with parents. */
int kb_local_mkdir_private(const char *path);
int kb_local_mkdir_parents(const char *path);
/* Refuses a file or directory others could have written (like OpenSSH's
 * StrictModes); secret also refuses group/other read. */
int kb_local_check_private(const char *path, bool is_dir, bool secret);
/* kb_read_file with KB_ERR_NOT_FOUND for a missing file. */
int kb_local_read_capped(const char *path, size_t max, struct kb_buf *out);
/* Reads or creates store.info and the master key; *ret in guarded
 * memory, read-only (free with sodium_free). */
int kb_local_load_keys(const char *dir, const char *secrets, const struct kb_config *cfg,
		       struct local_keys **ret);

#endif
