/* One error enum for the whole project.
 *
 * Functions return 0 (KB_OK) on success and a negative enum kb_err on
 * failure.  A foreign-library adapter may attach a human-readable detail
 * (thread-local) that binaries can show next to kb_err_str(). */
#ifndef KB_ERR_H
#define KB_ERR_H

enum kb_err {
	KB_OK = 0,
	KB_ERR_NOMEM = -1,          /* allocation failed */
	KB_ERR_INVALID = -2,        /* malformed input */
	KB_ERR_TRUNCATED = -3,      /* input ended early */
	KB_ERR_TOO_LARGE = -4,      /* over a size limit */
	KB_ERR_TRAILING = -5,       /* unexpected bytes after a valid item */
	KB_ERR_UNSUPPORTED = -6,    /* valid but not supported (type, option) */
	KB_ERR_CRYPTO = -7,         /* cryptographic library failure */
	KB_ERR_SIGNATURE = -8,      /* signature did not verify */
	KB_ERR_IO = -9,             /* system call failed (see errno detail) */
	KB_ERR_NOT_FOUND = -10,
	KB_ERR_EXISTS = -11,
	KB_ERR_PERMISSION = -12,
	KB_ERR_EXPIRED = -13,       /* outside a validity window */
	KB_ERR_PASSPHRASE = -14,    /* wrong or missing passphrase */
	KB_ERR_DENIED = -15,        /* policy denied the request */
	KB_ERR_CONFLICT = -16,      /* concurrent modification (cas) */
	KB_ERR_TIMEOUT = -17,
	KB_ERR_NETWORK = -18,       /* connection failed or reset */
	KB_ERR_BACKEND = -19,       /* backend answered with an error */
	KB_ERR_REVOKED = -20,
	KB_ERR_INTERNAL = -21,      /* a bug: an invariant did not hold */
	KB_ERR_EMBEDDED_NUL = -22,  /* C string with a NUL inside */
	KB_ERR_THROTTLED = -23,
	KB_ERR_SEALED = -24,        /* Vault is sealed */
	KB_ERR_AUTH = -25,          /* credentials missing or rejected */
	KB_ERR_ARGS = -26,          /* bad command-line usage */
	KB_ERR_LIMIT = -27,         /* a count limit was hit */
	KB_ERR__MIN = -28,
};

/* Static message for an error code; never NULL. */
const char *kb_err_str(int err);

/* Thread-local detail for the last error an adapter saw ("" if none).
 * The detail never contains secret material. */
const char *kb_err_detail(void);
void kb_err_clear_detail(void);
/* Sets the detail and returns err, so adapters can `return kb_err_set(...)`. */
int kb_err_set(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* KB_ERR_IO with strerror(errno) and a context string as detail. */
int kb_err_errno(const char *what);

#endif
