/* The local store's keys and files: the master key from a 0600 key file
 * (created on first use) or from a passphrase with Argon2id, checked
 * against store.info's verifier; subkeys derived with crypto_kdf.  All key
 * material lives in libsodium guarded memory. */
#include "store/store_local_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"

#define KDF_CTX "kbstore1"
#define SUBKEY_ENC 1
#define SUBKEY_NAME 2
#define SUBKEY_VERIFY 3
#define KEYFILE_LEN 32

/* ---- files ---- */

int kb_local_mkdir_private(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return KB_OK;
	return kb_err_errno(path);
}

int kb_local_mkdir_parents(const char *path)
{
	char *copy = kb_strdup(path);
	int r = KB_OK;

	if (copy == NULL)
		return KB_ERR_NOMEM;
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
			r = kb_err_errno(copy);
			break;
		}
		*p = '/';
	}
	if (r == KB_OK)
		r = kb_local_mkdir_private(copy);
	free(copy);
	return r;
}

/* Like OpenSSH's StrictModes: refuse what others could have written. */
int kb_local_check_private(const char *path, bool is_dir, bool secret)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return kb_err_errno(path);
	if (is_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		return kb_err_set(KB_ERR_PERMISSION, "%s is not a %s", path, is_dir ? "directory" : "regular file");
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return kb_err_set(KB_ERR_PERMISSION, "%s is owned by uid %u, not by you", path, (unsigned)st.st_uid);
	if ((st.st_mode & (secret ? 077 : 022)) != 0)
		return kb_err_set(KB_ERR_PERMISSION, "permissions %04o for %s are too open; run chmod %s %s",
				  (unsigned)(st.st_mode & 07777), path, is_dir ? "700" : "600", path);
	return KB_OK;
}

int kb_local_read_capped(const char *path, size_t max, struct kb_buf *out)
{
	int r = kb_read_file(path, max, out);
	if (r == KB_ERR_IO && errno == ENOENT)
		return KB_ERR_NOT_FOUND;
	return r;
}

/* ---- keys ---- */

static int derive_keys(const uint8_t master[32], struct local_keys *k)
{
	if (crypto_kdf_derive_from_key(k->enc, sizeof(k->enc), SUBKEY_ENC, KDF_CTX, master) != 0 ||
	    crypto_kdf_derive_from_key(k->name, sizeof(k->name), SUBKEY_NAME, KDF_CTX, master) != 0)
		return kb_err_set(KB_ERR_CRYPTO, "key derivation failed");
	return KB_OK;
}

static int compute_verifier(const uint8_t master[32], const struct kb_local_info *info, uint8_t out[32])
{
	uint8_t vkey[32], body[KB_LOCAL_INFO_LEN - 32];
	int r = KB_OK;

	kb_local_info_encode_body(info, body);
	if (crypto_kdf_derive_from_key(vkey, sizeof(vkey), SUBKEY_VERIFY, KDF_CTX, master) != 0 ||
	    crypto_generichash(out, 32, body, sizeof(body), vkey, sizeof(vkey)) != 0)
		r = kb_err_set(KB_ERR_CRYPTO, "key verification failed");
	sodium_memzero(vkey, sizeof(vkey));
	return r;
}

static int passphrase_key(const struct kb_local_info *info, uint8_t master[32])
{
	const char *pw = getenv("BROKER_STORE_PASSPHRASE");

	if (pw == NULL || *pw == '\0')
		return kb_err_set(KB_ERR_PASSPHRASE,
				  "this local store is protected by a passphrase; set BROKER_STORE_PASSPHRASE");
	if (crypto_pwhash(master, 32, pw, strlen(pw), info->salt, info->opslimit, (size_t)info->memlimit,
			  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return kb_err_set(KB_ERR_NOMEM, "Argon2id needs %llu MiB of memory",
				  (unsigned long long)(info->memlimit >> 20));
	return KB_OK;
}

static char *keyfile_path(const struct kb_config *cfg, const char *dir)
{
	const char *k = kb_config_get(cfg, "local.master_key");
	return k && *k ? kb_strdup(k) : kb_asprintf("%s/master.key", dir);
}

/* Reads the key file, or creates it when create is set and it is missing. */
static int keyfile_key(const char *path, bool create, uint8_t master[32])
{
	struct kb_buf kb;
	int r;

	kb_buf_init_secure(&kb, KEYFILE_LEN + 1);
	r = kb_local_read_capped(path, KEYFILE_LEN, &kb);
	if (r == KB_ERR_NOT_FOUND && create) {
		randombytes_buf(master, 32);
		r = kb_write_file_atomic(path, master, 32, 0600, true);
		if (r == KB_OK)
			kb_info("created master key %s", path);
		goto out;
	}
	if (r == KB_ERR_NOT_FOUND) {
		r = kb_err_set(KB_ERR_NOT_FOUND,
			       "master key %s is missing; the store cannot be decrypted without it "
			       "(restore it from backup, or set local.master_key)",
			       path);
		goto out;
	}
	if (r == KB_ERR_TOO_LARGE || (r == KB_OK && kb_buf_remaining(&kb) != KEYFILE_LEN)) {
		r = kb_err_set(KB_ERR_INVALID, "master key %s is not %d bytes long", path, KEYFILE_LEN);
		goto out;
	}
	if (r != KB_OK)
		goto out;
	if ((r = kb_local_check_private(path, false, true)))
		goto out;
	memcpy(master, kb_buf_ptr(&kb), 32);
out:
	kb_buf_done(&kb);
	return r;
}

static bool secrets_empty(const char *secrets)
{
	DIR *d = opendir(secrets);
	struct dirent *de;
	bool empty = true;

	if (d == NULL)
		return true;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			empty = false;
	closedir(d);
	return empty;
}

/* Called with the exclusive lock held. */
int kb_local_load_keys(const char *dir, const char *secrets, const struct kb_config *cfg,
		       struct local_keys **ret)
{
	char *info_path = kb_asprintf("%s/store.info", dir), *kpath = keyfile_path(cfg, dir);
	uint8_t *master = sodium_malloc(32), verifier[32];
	struct kb_local_info info = { 0 };
	struct kb_buf ib;
	int r;

	kb_buf_init(&ib, KB_LOCAL_INFO_LEN + 1);
	if (info_path == NULL || kpath == NULL || master == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	r = kb_local_read_capped(info_path, KB_LOCAL_INFO_LEN, &ib);
	if (r == KB_ERR_NOT_FOUND) {
		/* A new store, unless secrets exist without their store.info. */
		if (!secrets_empty(secrets)) {
			r = kb_err_set(KB_ERR_NOT_FOUND, "%s is missing but %s holds secrets; restore it from backup",
				       info_path, secrets);
			goto out;
		}
		const char *pw = getenv("BROKER_STORE_PASSPHRASE");
		if (pw != NULL && *pw != '\0' && kb_config_get(cfg, "local.master_key") == NULL) {
			info.mode = KB_LOCAL_MODE_PASSPHRASE;
			info.opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
			info.memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
			randombytes_buf(info.salt, sizeof(info.salt));
			r = passphrase_key(&info, master);
		} else {
			info.mode = KB_LOCAL_MODE_KEYFILE;
			r = keyfile_key(kpath, true, master);
		}
		uint8_t file[KB_LOCAL_INFO_LEN];
		if (r == KB_OK && (r = compute_verifier(master, &info, info.verifier)) == KB_OK) {
			kb_local_info_encode_body(&info, file);
			memcpy(file + KB_LOCAL_INFO_LEN - 32, info.verifier, 32);
			r = kb_write_file_atomic(info_path, file, sizeof(file), 0600, true);
		}
		if (r != KB_OK)
			goto out;
	} else if (r != KB_OK) {
		if (r == KB_ERR_TOO_LARGE)
			r = kb_err_set(KB_ERR_INVALID, "%s is damaged (too large)", info_path);
		goto out;
	} else {
		if ((r = kb_local_info_parse(kb_buf_ptr(&ib), kb_buf_remaining(&ib), &info)) != KB_OK) {
			r = kb_err_set(r == KB_ERR_UNSUPPORTED ? KB_ERR_UNSUPPORTED : KB_ERR_INVALID,
				       "%s is damaged or from an unsupported version", info_path);
			goto out;
		}
		r = info.mode == KB_LOCAL_MODE_PASSPHRASE ? passphrase_key(&info, master)
							  : keyfile_key(kpath, false, master);
		if (r != KB_OK || (r = compute_verifier(master, &info, verifier)))
			goto out;
		if (sodium_memcmp(verifier, info.verifier, 32) != 0) {
			r = info.mode == KB_LOCAL_MODE_PASSPHRASE
				    ? kb_err_set(KB_ERR_PASSPHRASE, "wrong passphrase for the local store %s "
								    "(BROKER_STORE_PASSPHRASE)",
						 dir)
				    : kb_err_set(KB_ERR_AUTH, "master key %s does not belong to the local store %s "
							      "(or %s was modified)",
						 kpath, dir, info_path);
			goto out;
		}
	}
	struct local_keys *k = sodium_malloc(sizeof(*k));
	if (k == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	if ((r = derive_keys(master, k)) == KB_OK) {
		sodium_mprotect_readonly(k);
		*ret = k;
	} else {
		sodium_free(k);
	}
out:
	if (master != NULL)
		sodium_free(master);
	kb_buf_done(&ib);
	free(info_path);
	free(kpath);
	return r;
}

