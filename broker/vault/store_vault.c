/* Placeholder until this backend is implemented. */
#include "store/store.h"

#include "core/err.h"

int kb_store_vault_open(const struct kb_config *cfg, struct kb_store **ret)
{
	(void)cfg;
	*ret = 0;
	return kb_err_set(KB_ERR_UNSUPPORTED, "the vault backend is not implemented yet");
}
