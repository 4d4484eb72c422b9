/* Fuzz target: a KV v2 data read with keybroker's record inside; a parsed
 * record is written back and must parse again to the same state. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_vault_common.h"
#include "vault/vault_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kb_vault_record rec, again;
	struct kb_buf out;

	if (kb_vault_parse_record(data, size, &rec) != 0)
		return 0;
	kb_buf_init_secure(&out, 8u * 1024 * 1024);
	if (rec.has_data && kb_vault_build_write(kb_buf_ptr(&rec.value), kb_buf_remaining(&rec.value), &rec.state,
						 rec.version, &out) == 0) {
		/* The write body is {"data":..,"options":..}: wrap it as a read. */
		struct kb_buf rd;
		kb_buf_init_secure(&rd, 9u * 1024 * 1024);
		const char *head = "{\"data\":{\"metadata\":{\"version\":1},\"data\":";
		kb_buf_put(&rd, head, strlen(head));
		/* out is {"data":{...},"options":{...}}: take the inner object. */
		const uint8_t *p = kb_buf_ptr(&out);
		size_t n = kb_buf_remaining(&out);
		const char *opt = ",\"options\":";
		size_t i;
		for (i = n; i >= strlen(opt); i--)
			if (memcmp(p + i - strlen(opt), opt, strlen(opt)) == 0)
				break;
		if (i >= strlen(opt) && i - strlen(opt) > 8) {
			kb_buf_put(&rd, p + 8, i - strlen(opt) - 8);
			kb_buf_put(&rd, "}}", 2);
			if (kb_vault_parse_record(kb_buf_ptr(&rd), kb_buf_remaining(&rd), &again) == 0) {
				if (!rec.state.present || again.state.current != rec.state.current ||
				    again.state.pending != rec.state.pending || again.state.nvalues != rec.state.nvalues ||
				    kb_buf_remaining(&again.value) != kb_buf_remaining(&rec.value) ||
				    memcmp(kb_buf_ptr(&again.value), kb_buf_ptr(&rec.value), kb_buf_remaining(&rec.value)))
					if (rec.state.present)
						abort();
				kb_vault_record_done(&again);
			} else if (rec.state.present) {
				abort();
			}
		}
		kb_buf_done(&rd);
	}
	kb_buf_done(&out);
	kb_vault_record_done(&rec);
	return 0;
}
