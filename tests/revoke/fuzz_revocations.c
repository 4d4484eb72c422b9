/* Fuzz target: the keybroker/revocations document parser and the KRL
 * built from it (written and parsed back). */
#include <stddef.h>
#include <stdint.h>

#include "cert/krl.h"
#include "core/buf.h"
#include "revoke/revoke.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = NULL;
	struct kb_krl *krl = NULL, *back = NULL;
	struct kb_buf out;

	if (kb_revocations_parse((const char *)data, size, &doc) != 0)
		return 0;
	kb_buf_init(&out, KB_KRL_MAX_SIZE);
	if (kb_krl_new(&krl) == 0 && kb_revocations_build_krl(doc, krl, NULL) == 0 && kb_krl_write(krl, &out) == 0) {
		if (kb_krl_parse(out.data, out.len, &back) != 0)
			__builtin_trap(); /* what we write must read back */
	}
	kb_krl_free(back);
	kb_krl_free(krl);
	kb_buf_done(&out);
	json_decref(doc);
	return 0;
}
