/* Broker configuration: flat "key value" settings with their origin.
 *
 * Precedence (highest first): command-line options, environment variables,
 * the config file, built-in defaults.  Every value remembers where it came
 * from, so `broker config show` can explain it.
 *
 * Known keys (documented in broker(1)):
 *   backend            local | aws | vault                (BROKER_BACKEND)
 *   policy             path of the policy file            (BROKER_POLICY)
 *   local.dir          local store directory
 *   local.master_key   master key file (default <local.dir>/master.key)
 *   aws.region         (AWS_REGION, AWS_DEFAULT_REGION, profile config)
 *   aws.endpoint       (AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL)
 *   aws.profile        (AWS_PROFILE)
 *   vault.addr         (VAULT_ADDR)   vault.mount (default "secret")
 *   vault.namespace    (VAULT_NAMESPACE) vault.cacert (VAULT_CACERT)
 *   vault.role_id, vault.secret_id_file, vault.approle_mount  AppRole login
 *                      (VAULT_ROLE_ID, VAULT_SECRET_ID_FILE, VAULT_APPROLE_MOUNT;
 *                      the secret id itself is never a config value)
 *   audit.log          audit log path      audit.key  audit key file
 *   agent.socket       agent socket for `broker issue` (SSH_AUTH_SOCK)
 *   serve.socket       broker daemon socket (BROKER_SOCKET) */
#ifndef KB_CONFIG_H
#define KB_CONFIG_H

#include <stddef.h>

#define KB_CONFIG_FILE_MAX (64u * 1024u)

struct kb_config;

/* Loads defaults, then the file (path, else BROKER_CONFIG, else
 * $XDG_CONFIG_HOME/keybroker/broker.conf or /etc/keybroker/broker.conf for
 * root; a missing default file is not an error, a missing explicit one
 * is), then the environment. */
int kb_config_load(const char *path, struct kb_config **ret);
/* Parses config text (for tests and fuzzing); origin names the source. */
int kb_config_parse(struct kb_config *cfg, const char *text, size_t len, const char *origin);
int kb_config_new(struct kb_config **ret);
void kb_config_free(struct kb_config *cfg);

/* NULL when unset. */
const char *kb_config_get(const struct kb_config *cfg, const char *key);
/* Where the value came from ("default", "file /etc/keybroker/broker.conf:3",
 * "env BROKER_BACKEND", "command line --backend"), or NULL. */
const char *kb_config_origin(const struct kb_config *cfg, const char *key);
int kb_config_set(struct kb_config *cfg, const char *key, const char *value, const char *origin);
/* Iterates in key order: returns the i-th key or NULL past the end. */
const char *kb_config_key_at(const struct kb_config *cfg, size_t i);

#endif
