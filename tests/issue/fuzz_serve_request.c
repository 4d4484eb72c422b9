/* Fuzz target: the broker daemon's request parser, plus a re-encode and
 * re-parse round trip of whatever parsed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "issue/serve_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kb_serve_request rq, again;
	struct kb_buf b;

	if (kb_serve_parse_request(data, size, &rq) != 0)
		return 0;
	kb_buf_init(&b, KB_SERVE_REQUEST_MAX * 2);
	if (kb_serve_encode_request(&rq, &b) == 0 &&
	    kb_serve_parse_request(kb_buf_ptr(&b), kb_buf_remaining(&b), &again) == 0) {
		if (again.op != rq.op || again.nprincipals != rq.nprincipals)
			abort();
		kb_serve_request_done(&again);
	}
	kb_buf_done(&b);
	kb_serve_request_done(&rq);
	return 0;
}
