/* An SSH client for jobs that reach hosts (static-key install and
 * rotation), built on libssh2.
 *
 *  - Host keys are always verified: against an OpenSSH known_hosts file
 *    (plain and hashed "|1|" host names, "[host]:port" for other ports,
 *    @revoked honoured).  An unknown or changed host key is refused with an
 *    error naming the host, the key's fingerprint and the file, like ssh's
 *    StrictHostKeyChecking=yes.  Never accepted blindly.
 *  - Host CAs: libssh2 1.10 cannot negotiate certificate host key
 *    algorithms, so "@cert-authority" lines are honoured by a fallback.
 *    When the server's plain host key K is not listed for the host (and
 *    not @revoked) but @cert-authority lines match the host name (same
 *    pattern rules, "[host]:port" for other ports), the client
 *    authenticates (public key only: the signature covers the session id,
 *    so an impostor can neither relay it nor learn a secret), then reads
 *    the host's certificates with one exec ("cat <host_certs>", output
 *    capped at 256 KiB) and accepts the host only if one of them is a
 *    host certificate for exactly K, signed by a CA of a matching
 *    @cert-authority line that is not @revoked, listing the host name
 *    the caller gave (the IP for an IP literal; no wildcards, and a
 *    certificate without principals is not accepted), valid now (no clock
 *    skew allowance, as OpenSSH) and with a good signature.  Otherwise
 *    the connection is closed.  Nothing else runs on the connection
 *    before acceptance, and kb_sshc_connect returns only after it.  A
 *    host listed with other plain keys stays a mismatch: CA lines never
 *    override a pinned key (as in OpenSSH).
 *  - Authentication: through an ssh-agent socket (optionally pinned to one
 *    identity, so "log in with the current key" means exactly that key), or
 *    with a private key held in memory (signed in process; the key is never
 *    serialised to a file).
 *  - Every network step has a deadline: connect, handshake, auth and each
 *    command.  A host that does not answer fails with KB_ERR_TIMEOUT and
 *    an error naming it; it never hangs the job.
 *
 * Functions return 0 or a negative enum kb_err with kb_err_set detail
 * ("deploy@10.0.1.5:22: host key mismatch ...").
 *
 * Error codes of kb_sshc_connect (the detail always names the target):
 *   KB_ERR_ARGS       bad options
 *   KB_ERR_TIMEOUT    connect_timeout_ms elapsed (it bounds TCP connect,
 *                     handshake and authentication together)
 *   KB_ERR_NETWORK    refused, reset, name not resolved, handshake failed
 *   KB_ERR_NOT_FOUND  host key unknown: no known_hosts entry for the host,
 *                     or (host CA) no host certificate for its key
 *   KB_ERR_SIGNATURE  host key changed: the host is listed with other keys;
 *                     or (host CA) its certificate has an untrusted CA, lacks
 *                     the host name, is expired or not yet valid, or its
 *                     signature is bad
 *   KB_ERR_REVOKED    the host key, or (host CA) the certificate's CA, is
 *                     marked @revoked
 *   KB_ERR_AUTH       no key accepted, agent unusable or pinned key absent
 * kb_sshc_exec: KB_ERR_TIMEOUT, KB_ERR_TOO_LARGE, KB_ERR_NETWORK.  After a
 * timeout or an overflow the connection is dropped (libssh2 cannot stop a
 * remote command): later calls on it fail; close it and connect again.
 * The authkeys calls: KB_ERR_IO (the host could not write the file),
 * KB_ERR_CONFLICT (another edit held the file's lock for 10 s),
 * KB_ERR_UNSUPPORTED (no awk on the host), and exec's errors. */
#ifndef KB_SSHC_H
#define KB_SSHC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct kb_key;

/* "user@host[:port]" or "user@[v6addr]:port"; port defaults to 22. */
struct kb_ssh_target {
	char user[64];
	char host[256];
	uint16_t port;
};
/* Parses and validates a target (user: 1-32 of [A-Za-z0-9._-], host:
 * a DNS name or IP literal).  KB_ERR_ARGS with a detail on bad input. */
int kb_ssh_target_parse(const char *s, struct kb_ssh_target *ret);
/* Formats back to the canonical "user@host:port". */
void kb_ssh_target_format(const struct kb_ssh_target *t, char *out, size_t n);

struct kb_sshc_opts {
	const char *known_hosts;     /* required: path of the known_hosts file */
	int connect_timeout_ms;      /* 0: 10 s */
	int command_timeout_ms;      /* 0: 30 s, per command */
	/* Exactly one way to authenticate: */
	const char *agent_socket;    /* an ssh-agent socket (NULL: not used) */
	const struct kb_key *agent_pin; /* with agent_socket: only this public key (NULL: any) */
	const struct kb_key *key;    /* a private key in memory */
	/* Remote authorized_keys file for the kb_sshc_authkeys_* calls:
	 * NULL means ".ssh/authorized_keys" in the login's home; a relative
	 * path is relative to the home, "%u" expands to the login name (as in
	 * sshd's AuthorizedKeysFile). */
	const char *authorized_keys;
	/* Where the host keeps its host certificates, for hosts trusted
	 * through a host CA (below): shell glob words, NULL means the
	 * environment's KEYBROKER_HOST_CERTS when set, else
	 * "/etc/ssh/ssh_host_*_key-cert.pub". */
	const char *host_certs;
};

struct kb_sshc;

/* Connects, verifies the host key, authenticates. */
int kb_sshc_connect(const struct kb_ssh_target *t, const struct kb_sshc_opts *o, struct kb_sshc **ret);
void kb_sshc_close(struct kb_sshc *c);

/* Runs a command (sh -c on the remote side, as ssh does) with the
 * command timeout; stdin is given data (may be NULL), stdout and stderr
 * are captured (each capped at 1 MiB; more is KB_ERR_TOO_LARGE).
 * *ret_status is the exit status (or 255 when killed by a signal). */
int kb_sshc_exec(struct kb_sshc *c, const char *command, const uint8_t *in, size_t inlen, struct kb_buf *out,
		 struct kb_buf *err, int *ret_status);

/* authorized_keys edits on the remote account (o->authorized_keys),
 * each atomic on the host (temporary file + rename, mode 0600, ~/.ssh
 * created 0700 when missing), idempotent, and never touching other lines
 * (options, comments and unrelated keys are kept byte for byte).  A key
 * matches a line when the line's key blob equals the key's public blob,
 * whatever the options or comment. */
int kb_sshc_authkeys_add(struct kb_sshc *c, const struct kb_key *pub, const char *comment);
int kb_sshc_authkeys_remove(struct kb_sshc *c, const struct kb_key *pub);
int kb_sshc_authkeys_has(struct kb_sshc *c, const struct kb_key *pub, bool *ret);

#endif
