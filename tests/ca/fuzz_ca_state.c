/* Fuzz target: the CA rotation state parser (keybroker/ca/user-rotation). */
#include <stddef.h>
#include <stdint.h>

#include "issue/ca.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)kb_ca_state_check(data, size);
	return 0;
}
