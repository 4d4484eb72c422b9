/* File helpers shared by `broker cert` and `broker krl`: reading public
 * key / certificate lines and private CA keys. */
#ifndef KB_CERTTOOL_IO_H
#define KB_CERTTOOL_IO_H

#include <stdbool.h>
#include <stddef.h>

#include "cert/cert.h"
#include "ssh/key.h"

#define CT_TEXT_MAX (1024u * 1024u) /* a .pub / cert / spec file */

/* Reads a text file (NUL-terminated, no embedded NUL) into *ret. */
int ct_read_text(const char *path, size_t max, char **ret);

/* One line of a .pub / authorized_keys-style file.  A certificate line
 * gives *ret_cert (parsed and its CA signature verified) and *ret_key
 * (its plain key); a plain key line gives *ret_key only.  ret_comment may
 * be NULL. */
int ct_parse_line(const char *line, struct kb_key **ret_key, struct kb_cert **ret_cert, char **ret_comment);

/* Calls fn for each non-blank, non-comment line (1-based line numbers);
 * stops at the first non-zero return and returns it. */
typedef int (*ct_line_fn)(void *arg, const char *line, unsigned lnum);
int ct_each_line(char *text, ct_line_fn fn, void *arg);

/* A public key from a .pub file (the first key line); with a private key
 * file path, tries PATH.pub as ssh-keygen does. */
int ct_load_public(const char *path, struct kb_key **ret_key, char **ret_comment);
/* A private key (openssh-key-v1); passphrase may be NULL. */
int ct_load_private(const char *path, const char *passphrase, struct kb_key **ret_key);

/* After getopt_long returned '?' or ':' (with opterr = 0): prints a
 * one-line error naming the bad option and returns KB_EXIT_USAGE. */
struct kb_ctx;
int ct_bad_option(struct kb_ctx *ctx, const char *cmd, char **argv);

#endif
