/* Shared setup for the Vault parser fuzz targets: jansson goes through the
 * wiping allocator as in the broker, and libsodium is initialised for the
 * guarded buffers the parsers fill. */
#ifndef FUZZ_VAULT_COMMON_H
#define FUZZ_VAULT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (kb_init() != 0)
		return -1;
	kb_json_use_wiping_alloc();
	return 0;
}

#endif
