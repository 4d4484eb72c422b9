/* KRL in-memory representation, shared by krl.c and krl_show.c only. */
#ifndef KB_KRL_INTERNAL_H
#define KB_KRL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

struct krl_range {
	uint64_t lo, hi;
};

struct krl_blob {
	uint8_t *p;
	size_t n;
};

/* Sorted (length, then bytes) and unique once normalised. */
struct krl_blobset {
	struct krl_blob *v;
	size_t n;
};

struct krl_ca {
	struct krl_blob ca;         /* plain CA key blob; n == 0 for "any CA" */
	struct krl_range *ranges;   /* sorted, merged */
	size_t nranges;
	struct krl_blobset ids;     /* key ids, without NUL */
};

struct kb_krl {
	uint64_t version, generated;
	char *comment;
	struct krl_ca *cas;
	size_t ncas;
	struct krl_blobset keys, sha1, sha256;
	size_t entries;             /* counted against KB_KRL_MAX_ENTRIES */
};

#endif
