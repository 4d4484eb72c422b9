/* SSH agent protocol constants (RFC 9987, OpenSSH PROTOCOL.agent) and the
 * keybroker extensions understood by broker-agent.
 *
 * Framing: every message is uint32 length, then `length` bytes whose first
 * byte is the message type.  Both sides refuse frames over
 * KB_AGENT_MAX_MSG. */
#ifndef KB_AGENT_PROTO_H
#define KB_AGENT_PROTO_H

#define KB_AGENT_MAX_MSG (256u * 1024u)

/* Requests (client to agent). */
#define KB_AGENTC_REMOVE_ALL_RSA_IDENTITIES 9 /* legacy SSH1; answered with success */
#define KB_AGENTC_REQUEST_IDENTITIES 11
#define KB_AGENTC_SIGN_REQUEST 13
#define KB_AGENTC_ADD_IDENTITY 17
#define KB_AGENTC_REMOVE_IDENTITY 18
#define KB_AGENTC_REMOVE_ALL_IDENTITIES 19
#define KB_AGENTC_ADD_SMARTCARD_KEY 20
#define KB_AGENTC_REMOVE_SMARTCARD_KEY 21
#define KB_AGENTC_LOCK 22
#define KB_AGENTC_UNLOCK 23
#define KB_AGENTC_ADD_ID_CONSTRAINED 25
#define KB_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED 26
#define KB_AGENTC_EXTENSION 27

/* Replies (agent to client). */
#define KB_AGENT_FAILURE 5
#define KB_AGENT_SUCCESS 6
#define KB_AGENT_IDENTITIES_ANSWER 12
#define KB_AGENT_SIGN_RESPONSE 14
#define KB_AGENT_EXTENSION_FAILURE 28
#define KB_AGENT_EXTENSION_RESPONSE 29

/* Key constraints (in ADD_ID_CONSTRAINED). */
#define KB_AGENT_CONSTRAIN_LIFETIME 1
#define KB_AGENT_CONSTRAIN_CONFIRM 2
#define KB_AGENT_CONSTRAIN_MAXSIGN 3
#define KB_AGENT_CONSTRAIN_EXTENSION 255

/* Sign request flags. */
#define KB_AGENT_RSA_SHA2_256 0x02
#define KB_AGENT_RSA_SHA2_512 0x04

/* Extension names. */
#define KB_AGENT_EXT_QUERY "query"
#define KB_AGENT_EXT_SESSION_BIND "session-bind@openssh.com"
#define KB_AGENT_CONSTRAINT_RESTRICT_DEST "restrict-destination-v00@openssh.com"
#define KB_AGENT_CONSTRAINT_SK_PROVIDER "sk-provider@openssh.com"

/* keybroker extensions (documented in broker-agent(1)):
 *
 * list-identities@keybroker
 *   request:  (nothing after the name)
 *   reply:    byte EXTENSION_RESPONSE, string name, uint32 n, then n times
 *             string key blob, string comment, uint32 flags,
 *             uint64 seconds left (lifetime; 0 when none),
 *             uint64 cert valid_after, uint64 cert valid_before (0 if no cert)
 *
 * replace-identity@keybroker
 *   request:  string old key blob, then exactly the body of an
 *             ADD_ID_CONSTRAINED message (private key, comment, constraints)
 *   reply:    SUCCESS when the old identity was replaced by the new one in one
 *             step (same position in the list), FAILURE otherwise (nothing
 *             changed).  The replaced identity is retired, not dropped: it is
 *             no longer listed but signs for its exact blob for up to 60 s
 *             (never past its lifetime or valid_before), so a client that
 *             listed it just before the swap still gets its signature; see
 *             broker-agent(1). */
#define KB_AGENT_EXT_LIST "list-identities@keybroker"
#define KB_AGENT_EXT_REPLACE "replace-identity@keybroker"

#define KB_AGENT_INFO_CONFIRM 0x01u
#define KB_AGENT_INFO_LIFETIME 0x02u
#define KB_AGENT_INFO_CERT 0x04u
#define KB_AGENT_INFO_RESTRICTED 0x08u

/* Limits shared with OpenSSH's agent. */
#define KB_AGENT_MAX_SESSION_IDS 16
#define KB_AGENT_MAX_DEST_CONSTRAINTS 1024
#define KB_AGENT_MAX_HOP_KEYS 1024

#endif
