/* CA key storage in the secret backend, and CA rotation.
 *
 * Rotation keeps its bookkeeping in a second small secret (see ca.h): the
 * CA secret's versions are immutable, and the store knows when a version
 * was created but not when it was promoted, which is what the overlap is
 * counted from. */
#include "ca.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/util.h"
#include "store/store.h"

#define CA_KIND "keybroker/ssh-ca/v1"
#define STATE_KIND "keybroker/ca-rotation/v1"
#define STATE_MAX (8u * 1024u)
#define WRITE_ATTEMPTS 8

const char *kb_ca_secret_name(bool host)
{
	return host ? KB_CA_HOST_SECRET : KB_CA_USER_SECRET;
}

const char *kb_ca_rotation_secret_name(bool host)
{
	return host ? KB_CA_HOST_ROTATION_SECRET : KB_CA_USER_ROTATION_SECRET;
}

uint64_t kb_ca_random_serial(void)
{
	uint64_t s = 0;
	/* 63 bits: the credential JSON carries the serial as a number, and
	 * JSON readers (jansson, Python, jq) hold integers as signed 64-bit. */
	while (s == 0) {
		randombytes_buf(&s, sizeof(s));
		s &= INT64_MAX;
	}
	return s;
}

/* Test-only crash points: KB_TEST_CRASH=NAME kills the process there, the
 * way a power cut or an OOM kill would (the tests check that a rerun
 * converges).  Harmless otherwise: whoever sets the environment can kill
 * the process anyway. */
static void crash_point(const char *name)
{
	const char *e = getenv("KB_TEST_CRASH");
	if (e != NULL && strcmp(e, name) == 0) {
		kb_debug("KB_TEST_CRASH: killed at %s", name);
		raise(SIGKILL);
	}
}

/* KB_TEST_PAUSE=NAME sleeps a second there, so a test can make two
 * brokers race through the same window every time. */
static void pause_point(const char *name)
{
	const char *e = getenv("KB_TEST_PAUSE");
	if (e != NULL && strcmp(e, name) == 0) {
		struct timespec ts = { .tv_sec = 1, .tv_nsec = 0 };
		nanosleep(&ts, NULL);
	}
}

/* Parses the stored CA JSON into a private key (and its "created"). */
static int parse_ca(const struct kb_buf *val, const char *name, struct kb_key **ret, char *created, size_t ncreated)
{
	json_error_t jerr;
	json_t *j = json_loadb((const char *)kb_buf_ptr(val), kb_buf_remaining(val), JSON_REJECT_DUPLICATES, &jerr);
	int r;

	if (j == NULL)
		return kb_err_set(KB_ERR_INVALID, "%s is not JSON (line %d: %s)", name, jerr.line, jerr.text);
	json_t *kind = json_object_get(j, "kind"), *pk = json_object_get(j, "private_key");
	if (!json_is_string(kind) || strcmp(json_string_value(kind), CA_KIND) != 0 || !json_is_string(pk)) {
		json_decref(j);
		return kb_err_set(KB_ERR_INVALID, "%s is not a keybroker CA secret (kind " CA_KIND ")", name);
	}
	if (created != NULL && ncreated > 0) {
		const char *c = json_string_value(json_object_get(j, "created"));
		kb_strlcpy(created, c != NULL && kb_str_printable(c) ? c : "", ncreated);
	}
	r = kb_key_parse_private_file(json_string_value(pk), json_string_length(pk), NULL, ret, NULL);
	json_decref(j);
	if (r != KB_OK)
		return kb_err_set(r, "%s: cannot read its private key", name);
	return KB_OK;
}

/* Reads one version (by stage or id) of the CA secret.  *ret_version gets
 * its id.  KB_ERR_NOT_FOUND (no detail set) when there is none. */
static int read_ca(struct kb_store *s, bool host, enum kb_stage stage, const char *version, struct kb_key **ret,
		   char ret_version[KB_CA_VERSION_MAX + 1], char *created, size_t ncreated)
{
	const char *name = kb_ca_secret_name(host);
	struct kb_store_sel sel = { .stage = version ? KB_STAGE_NONE : stage, .version = version };
	struct kb_buf val;
	char *ver = NULL;
	int r;

	*ret = NULL;
	kb_buf_init_secure(&val, KB_STORE_VALUE_MAX);
	r = kb_store_get(s, name, &sel, &val, &ver);
	if (r == KB_OK && (ver == NULL || strlen(ver) > KB_CA_VERSION_MAX))
		r = kb_err_set(KB_ERR_INVALID, "%s: the backend returned no usable version id", name);
	if (r == KB_OK) {
		kb_strlcpy(ret_version, ver, KB_CA_VERSION_MAX + 1);
		r = parse_ca(&val, name, ret, created, ncreated);
	}
	free(ver);
	kb_buf_done(&val);
	return r;
}

int kb_ca_load(struct kb_store *s, bool host, struct kb_key **ret)
{
	char ver[KB_CA_VERSION_MAX + 1];
	int r = read_ca(s, host, KB_STAGE_CURRENT, NULL, ret, ver, NULL, 0);

	if (r == KB_ERR_NOT_FOUND)
		r = kb_err_set(KB_ERR_NOT_FOUND, "no %s CA in the backend (%s): create it with 'broker ca init%s'",
			       host ? "host" : "user", kb_ca_secret_name(host), host ? " --host" : "");
	return r;
}

/* A new CA key and its secret JSON (a secure buffer the caller frees with
 * kb_buf_done). */
static int new_ca(enum kb_key_type type, unsigned bits, bool host, struct kb_key **ret_key, struct kb_buf *json_out)
{
	struct kb_key *key = NULL;
	struct kb_buf priv;
	char *pub = NULL, *json = NULL;
	json_t *j = NULL;
	int r;

	*ret_key = NULL;
	kb_buf_init_secure(&priv, KB_KEY_PRIVATE_FILE_MAX);
	if ((r = kb_key_generate(type, bits, &key)) != KB_OK)
		goto out;
	const char *comment = host ? "keybroker-host-ca" : "keybroker-user-ca";
	if ((r = kb_key_write_private_file(key, comment, &priv)) != KB_OK || (r = kb_buf_put_u8(&priv, 0)) != KB_OK ||
	    (r = kb_key_format_public_line(key, comment, &pub)) != KB_OK)
		goto out;
	char created[32];
	kb_format_time_utc((int64_t)time(NULL), created, sizeof(created));
	j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "kind", CA_KIND, "key_type", kb_key_type_ssh_name(type), "private_key",
		      (const char *)kb_buf_ptr(&priv), "public_key", pub, "created", created);
	if (j == NULL || (json = json_dumps(j, JSON_COMPACT)) == NULL) {
		r = KB_ERR_NOMEM;
		goto out;
	}
	if ((r = kb_buf_put(json_out, json, strlen(json))) != KB_OK)
		goto out;
	*ret_key = key;
	key = NULL;
out:
	kb_json_free_string(json);
	json_decref(j);
	free(pub);
	kb_key_free(key);
	kb_buf_done(&priv);
	return r;
}

/* Both brokers of a race see "not found" and then put: the fixed token
 * makes the put create-if-absent (same token with another value is
 * KB_ERR_CONFLICT on every backend), so only one CA is ever made. */
#define INIT_TOKEN "keybroker-ca-init-v1"

int kb_ca_init(struct kb_store *s, enum kb_key_type type, unsigned bits, bool host, struct kb_key **ret_pub)
{
	const char *name = kb_ca_secret_name(host);
	struct kb_key *key = NULL;
	struct kb_buf json;
	char ver[KB_CA_VERSION_MAX + 1];
	int r;

	if (ret_pub)
		*ret_pub = NULL;
	kb_buf_init_secure(&json, KB_STORE_VALUE_MAX);
	r = read_ca(s, host, KB_STAGE_CURRENT, NULL, &key, ver, NULL, 0);
	if (r == KB_ERR_NOT_FOUND) {
		kb_err_clear_detail();
		kb_key_free(key);
		key = NULL;
		if ((r = new_ca(type, bits, host, &key, &json)) != KB_OK)
			goto out;
		pause_point("ca-init-before-put");
		struct kb_store_put_opts opts = { .stage = KB_STAGE_CURRENT,
						  .token = INIT_TOKEN,
						  .description = host ? "keybroker SSH host CA" : "keybroker SSH user CA" };
		char *nv = NULL;
		r = kb_store_put(s, name, kb_buf_ptr(&json), kb_buf_remaining(&json), &opts, &nv);
		free(nv);
		if (r == KB_OK) {
			/* Re-read: what is current now must be our key. */
			struct kb_key *now = NULL;
			if ((r = read_ca(s, host, KB_STAGE_CURRENT, NULL, &now, ver, NULL, 0)) == KB_OK &&
			    !kb_key_equal_public(now, key))
				r = KB_ERR_CONFLICT;
			kb_key_free(now);
			if (r == KB_OK) {
				if (ret_pub)
					r = kb_key_dup_public(key, ret_pub);
				goto out;
			}
		}
		if (r != KB_ERR_CONFLICT)
			goto out;
		/* Another broker created it first: report theirs. */
		kb_debug("ca init %s: lost a race; reading the CA that won", name);
		kb_err_clear_detail();
		kb_key_free(key);
		key = NULL;
		r = read_ca(s, host, KB_STAGE_CURRENT, NULL, &key, ver, NULL, 0);
	}
	if (r == KB_OK) {
		if (ret_pub)
			r = kb_key_dup_public(key, ret_pub);
		if (r == KB_OK)
			r = kb_err_set(KB_ERR_EXISTS, "%s already exists; it is never overwritten", name);
	}
out:
	kb_key_free(key);
	kb_buf_done(&json);
	return r;
}

/* An idempotency token "<prefix><id>" within the store's 64-character
 * limit: long ids (another client's version ids may be 64 characters) are
 * replaced by a hash. */
static void make_token(const char *prefix, const char *id, char out[65])
{
	size_t pl = strlen(prefix), il = strlen(id);
	if (pl + il <= 64) {
		memcpy(out, prefix, pl);
		memcpy(out + pl, id, il + 1);
		return;
	}
	uint8_t h[16];
	char hex[2 * sizeof(h) + 1];
	crypto_generichash(h, sizeof(h), (const uint8_t *)id, strlen(id), NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(out, 65, "%sh-%s", prefix, hex);
}

/* ---- rotation state ---- */

struct state {
	char based_on[KB_CA_VERSION_MAX + 1]; /* the state secret's version read ("" none) */
	char pending[KB_CA_VERSION_MAX + 1];
	int64_t pending_overlap, pending_created;
	char from[KB_CA_VERSION_MAX + 1], to[KB_CA_VERSION_MAX + 1];
	int64_t overlap, started, overlap_until;
	bool done;
};

static bool version_ok(const char *v)
{
	return v != NULL && *v != '\0' && strlen(v) <= KB_CA_VERSION_MAX && kb_str_printable(v) &&
	       strchr(v, ' ') == NULL;
}

static int get_version(json_t *o, const char *key, char out[KB_CA_VERSION_MAX + 1])
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v) || !version_ok(json_string_value(v)))
		return KB_ERR_INVALID;
	kb_strlcpy(out, json_string_value(v), KB_CA_VERSION_MAX + 1);
	return KB_OK;
}

static int get_int(json_t *o, const char *key, int64_t *out)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return KB_ERR_INVALID;
	*out = (int64_t)json_integer_value(v);
	return KB_OK;
}

/* Parses the state JSON. */
static int parse_state(const uint8_t *p, size_t len, struct state *st)
{
	json_error_t jerr;
	json_t *j, *o;
	int r = KB_OK;

	memset(st, 0, sizeof(*st));
	if (len > STATE_MAX)
		return KB_ERR_TOO_LARGE;
	if ((j = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return KB_ERR_INVALID;
	json_t *kind = json_object_get(j, "kind");
	if (!json_is_object(j) || !json_is_string(kind) || strcmp(json_string_value(kind), STATE_KIND) != 0)
		r = KB_ERR_INVALID;
	if (r == KB_OK && (o = json_object_get(j, "pending")) != NULL) {
		if (!json_is_object(o) || get_version(o, "version", st->pending) ||
		    get_int(o, "overlap", &st->pending_overlap) || get_int(o, "created", &st->pending_created))
			r = KB_ERR_INVALID;
	}
	if (r == KB_OK && (o = json_object_get(j, "promotion")) != NULL) {
		json_t *done = json_object_get(o, "done");
		if (!json_is_object(o) || get_version(o, "from", st->from) || get_version(o, "to", st->to) ||
		    get_int(o, "overlap", &st->overlap) || get_int(o, "started", &st->started) || !json_is_boolean(done))
			r = KB_ERR_INVALID;
		else if ((st->done = json_is_true(done)) && get_int(o, "overlap_until", &st->overlap_until))
			r = KB_ERR_INVALID;
	}
	json_decref(j);
	if (r != KB_OK)
		memset(st, 0, sizeof(*st));
	return r;
}

int kb_ca_state_check(const uint8_t *p, size_t len)
{
	struct state st;
	return parse_state(p, len, &st);
}

static int read_state(struct kb_store *s, bool host, struct state *st)
{
	const char *name = kb_ca_rotation_secret_name(host);
	struct kb_buf val;
	char *ver = NULL;
	int r;

	memset(st, 0, sizeof(*st));
	kb_buf_init(&val, KB_STORE_VALUE_MAX);
	r = kb_store_get(s, name, NULL, &val, &ver);
	if (r == KB_ERR_NOT_FOUND) {
		kb_err_clear_detail();
		r = KB_OK;
	} else if (r == KB_OK) {
		if ((r = parse_state(kb_buf_ptr(&val), kb_buf_remaining(&val), st)) != KB_OK)
			r = kb_err_set(KB_ERR_INVALID, "%s is not a keybroker CA rotation state (kind " STATE_KIND
						       "); fix or delete it with 'broker store'", name);
		else if (!version_ok(ver))
			r = kb_err_set(KB_ERR_INVALID, "%s: the backend returned no usable version id", name);
		else
			kb_strlcpy(st->based_on, ver, sizeof(st->based_on));
	}
	free(ver);
	kb_buf_done(&val);
	return r;
}

/* Writes st as the new current state, only if nobody else wrote since it
 * was read (KB_ERR_CONFLICT otherwise). */
static int write_state(struct kb_store *s, bool host, struct state *st)
{
	const char *name = kb_ca_rotation_secret_name(host);
	json_t *j = json_pack("{s:s,s:s}", "kind", STATE_KIND, "ca", host ? "host" : "user");
	char *json = NULL, *ver = NULL, token[65];
	int r = KB_ERR_NOMEM;

	if (j == NULL)
		return KB_ERR_NOMEM;
	if (st->pending[0] != '\0')
		json_object_set_new(j, "pending", json_pack("{s:s,s:I,s:I}", "version", st->pending, "overlap",
							    (json_int_t)st->pending_overlap, "created",
							    (json_int_t)st->pending_created));
	if (st->to[0] != '\0') {
		json_t *p = json_pack("{s:s,s:s,s:I,s:I,s:b}", "from", st->from, "to", st->to, "overlap",
				      (json_int_t)st->overlap, "started", (json_int_t)st->started, "done", st->done);
		if (p != NULL && st->done) {
			char t[32];
			kb_format_time_utc(st->overlap_until, t, sizeof(t));
			json_object_set_new(p, "overlap_until", json_integer((json_int_t)st->overlap_until));
			json_object_set_new(p, "overlap_until_utc", json_string(t));
		}
		json_object_set_new(j, "promotion", p);
	}
	if ((json = json_dumps(j, JSON_COMPACT)) == NULL)
		goto out;
	make_token("state-after-", st->based_on[0] ? st->based_on : "none", token);
	struct kb_store_put_opts opts = { .stage = KB_STAGE_CURRENT,
					  .token = token,
					  .description = "keybroker CA rotation state" };
	r = kb_store_put(s, name, (const uint8_t *)json, strlen(json), &opts, &ver);
	if (r == KB_OK && version_ok(ver))
		kb_strlcpy(st->based_on, ver, sizeof(st->based_on));
	if (r == KB_ERR_CONFLICT)
		kb_debug("%s: written concurrently; re-reading", name);
out:
	free(ver);
	kb_json_free_string(json);
	json_decref(j);
	return r;
}

/* ---- status and bundle ---- */

void kb_ca_status_done(struct kb_ca_status *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->n; i++)
		kb_key_free(st->entries[i].pub);
	free(st->entries);
	memset(st, 0, sizeof(*st));
}

/* Reads the version of stage into a new entry of st (none: no entry). */
static int add_entry(struct kb_store *s, bool host, enum kb_stage stage, struct kb_ca_status *st,
		     struct kb_ca_entry **ret)
{
	struct kb_ca_entry e = { .stage = stage };
	struct kb_key *priv = NULL;
	int r;

	*ret = NULL;
	r = read_ca(s, host, stage, NULL, &priv, e.version, e.created, sizeof(e.created));
	if (r == KB_ERR_NOT_FOUND && stage != KB_STAGE_CURRENT) {
		kb_err_clear_detail();
		return KB_OK;
	}
	if (r == KB_OK)
		r = kb_key_dup_public(priv, &e.pub);
	kb_key_free(priv);
	if (r != KB_OK)
		return r;
	/* The same version under two labels is listed once. */
	for (size_t i = 0; i < st->n; i++) {
		if (strcmp(st->entries[i].version, e.version) == 0) {
			kb_key_free(e.pub);
			return KB_OK;
		}
	}
	struct kb_ca_entry *ne = realloc(st->entries, (st->n + 1) * sizeof(*ne));
	if (ne == NULL) {
		kb_key_free(e.pub);
		return KB_ERR_NOMEM;
	}
	st->entries = ne;
	st->entries[st->n] = e;
	*ret = &st->entries[st->n++];
	return KB_OK;
}

int kb_ca_status_read(struct kb_store *s, bool host, int64_t now, struct kb_ca_status *ret)
{
	struct kb_ca_entry *cur = NULL, *e = NULL;
	struct state state;
	int r;

	memset(ret, 0, sizeof(*ret));
	if ((r = read_state(s, host, &state)) != KB_OK)
		return r;
	if ((r = add_entry(s, host, KB_STAGE_CURRENT, ret, &cur)) != KB_OK) {
		if (r == KB_ERR_NOT_FOUND)
			r = kb_err_set(KB_ERR_NOT_FOUND, "no %s CA in the backend (%s): create it with 'broker ca init%s'",
				       host ? "host" : "user", kb_ca_secret_name(host), host ? " --host" : "");
		goto fail;
	}
	char curver[KB_CA_VERSION_MAX + 1];
	kb_strlcpy(curver, cur->version, sizeof(curver)); /* cur moves on realloc */
	if ((r = add_entry(s, host, KB_STAGE_PENDING, ret, &e)) != KB_OK ||
	    (r = add_entry(s, host, KB_STAGE_PREVIOUS, ret, &e)) != KB_OK)
		goto fail;
	kb_strlcpy(ret->pending_version, state.pending, sizeof(ret->pending_version));
	ret->pending_overlap = state.pending_overlap;
	kb_strlcpy(ret->from, state.from, sizeof(ret->from));
	kb_strlcpy(ret->to, state.to, sizeof(ret->to));
	ret->overlap = state.overlap;
	ret->started = state.started;
	ret->overlap_until = state.overlap_until;
	ret->promotion_done = state.done;
	if (e != NULL) {
		/* The previous CA is trusted only while the promotion that made
		 * it previous is recorded and its overlap runs (open-ended while
		 * that promotion is unfinished: a rerun of promote sets the
		 * end). */
		bool ours = strcmp(state.to, curver) == 0 && strcmp(state.from, e->version) == 0;
		if (ours && (!state.done || now < state.overlap_until)) {
			e->trusted_until = state.done ? state.overlap_until : 0;
		} else {
			kb_strlcpy(ret->retired_version, e->version, sizeof(ret->retired_version));
			kb_key_free(e->pub);
			ret->n--;
		}
	}
	return KB_OK;
fail:
	kb_ca_status_done(ret);
	return r;
}

int kb_ca_bundle(struct kb_store *s, bool host, struct kb_key ***ret_keys, size_t *ret_n)
{
	struct kb_ca_status st;
	int r;

	*ret_keys = NULL;
	*ret_n = 0;
	if ((r = kb_ca_status_read(s, host, (int64_t)time(NULL), &st)) != KB_OK)
		return r;
	struct kb_key **keys = calloc(st.n, sizeof(*keys));
	if (keys == NULL) {
		kb_ca_status_done(&st);
		return KB_ERR_NOMEM;
	}
	for (size_t i = 0; i < st.n; i++) {
		keys[i] = st.entries[i].pub;
		st.entries[i].pub = NULL;
	}
	*ret_keys = keys;
	*ret_n = st.n;
	kb_ca_status_done(&st);
	return KB_OK;
}

/* ---- rotate and promote ---- */

void kb_ca_rotate_result_done(struct kb_ca_rotate_result *res)
{
	if (res == NULL)
		return;
	kb_key_free(res->pub);
	memset(res, 0, sizeof(*res));
}

void kb_ca_promote_result_done(struct kb_ca_promote_result *res)
{
	if (res == NULL)
		return;
	kb_key_free(res->pub);
	memset(res, 0, sizeof(*res));
}

static int no_ca(bool host)
{
	return kb_err_set(KB_ERR_NOT_FOUND, "no %s CA in the backend (%s): create it with 'broker ca init%s' first",
			  host ? "host" : "user", kb_ca_secret_name(host), host ? " --host" : "");
}

/* Reads the current CA (required: a clear error when there is none) and
 * the pending one when it is a version of its own; *pend stays NULL (and
 * the result KB_OK) when there is no pending CA. */
static int read_current_and_pending(struct kb_store *s, bool host, struct kb_key **cur, char *curver,
				    struct kb_key **pend, char *pendver)
{
	int r = read_ca(s, host, KB_STAGE_CURRENT, NULL, cur, curver, NULL, 0);

	if (r != KB_OK)
		return r == KB_ERR_NOT_FOUND ? no_ca(host) : r;
	r = read_ca(s, host, KB_STAGE_PENDING, NULL, pend, pendver, NULL, 0);
	if (r == KB_OK && strcmp(pendver, curver) == 0) {
		kb_key_free(*pend);
		*pend = NULL;
		r = KB_ERR_NOT_FOUND;
	}
	if (r == KB_ERR_NOT_FOUND) {
		kb_err_clear_detail();
		r = KB_OK;
	}
	return r;
}

/* The overlap a step uses: the one asked for, else the larger of the
 * recorded one and the policy's longest TTL. */
static int pick_overlap(int64_t asked, int64_t recorded, int64_t min_overlap, int64_t *ret)
{
	char a[64], m[64];

	if (asked > 0) {
		if (asked < min_overlap) {
			kb_format_duration(asked, a, sizeof(a));
			kb_format_duration(min_overlap, m, sizeof(m));
			return kb_err_set(KB_ERR_ARGS,
					  "an overlap of %s is shorter than the longest certificate TTL in the policy (%s): "
					  "certificates signed by the old CA would be refused before they expire; "
					  "use --overlap %llds or more",
					  a, m, (long long)min_overlap);
		}
		*ret = asked;
		return KB_OK;
	}
	*ret = recorded > min_overlap ? recorded : min_overlap;
	if (*ret <= 0)
		return kb_err_set(KB_ERR_ARGS, "no policy with a max_ttl to take the overlap from: give --overlap "
					       "(at least the longest TTL of any certificate this CA signs)");
	return KB_OK;
}

int kb_ca_rotate(struct kb_store *s, bool host, enum kb_key_type type, unsigned bits, int64_t overlap,
		 int64_t min_overlap, struct kb_ca_rotate_result *res)
{
	struct kb_key *cur = NULL, *pend = NULL;
	struct kb_buf json;
	struct state st;
	char curver[KB_CA_VERSION_MAX + 1], pendver[KB_CA_VERSION_MAX + 1];
	int r = KB_ERR_CONFLICT;

	memset(res, 0, sizeof(*res));
	if (overlap > 0 && (r = pick_overlap(overlap, 0, min_overlap, &res->overlap)) != KB_OK)
		return r;
	kb_buf_init_secure(&json, KB_STORE_VALUE_MAX);
	for (unsigned attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
		kb_key_free(cur);
		kb_key_free(pend);
		cur = pend = NULL;
		kb_buf_reset(&json);
		if ((r = read_state(s, host, &st)) != KB_OK)
			break;
		if ((r = read_current_and_pending(s, host, &cur, curver, &pend, pendver)) != KB_OK)
			break;
		bool known = pend != NULL && strcmp(st.pending, pendver) == 0;
		if ((r = pick_overlap(overlap, known ? st.pending_overlap : 0, min_overlap, &res->overlap)) != KB_OK)
			break;
		if (pend == NULL) {
			enum kb_key_type t = type != KB_KEY_UNSPEC ? type : kb_key_type(cur);
			unsigned b = type != KB_KEY_UNSPEC ? bits : t == KB_KEY_RSA ? kb_key_bits(cur) : 0;
			char token[65], *nv = NULL;
			if ((r = new_ca(t, b, host, &pend, &json)) != KB_OK)
				break;
			pause_point("ca-rotate-before-put");
			/* One token per current CA: two brokers rotating at once
			 * make one pending CA (the loser gets a conflict and takes
			 * the winner's on the next round). */
			make_token("rotate-after-", curver, token);
			struct kb_store_put_opts opts = { .stage = KB_STAGE_PENDING, .token = token };
			r = kb_store_put(s, kb_ca_secret_name(host), kb_buf_ptr(&json), kb_buf_remaining(&json), &opts,
					 &nv);
			if (r == KB_OK && !version_ok(nv))
				r = kb_err_set(KB_ERR_INVALID, "the backend returned no usable version id");
			if (r == KB_OK)
				kb_strlcpy(pendver, nv, sizeof(pendver));
			free(nv);
			if (r == KB_ERR_CONFLICT) {
				kb_err_clear_detail();
				continue;
			}
			if (r != KB_OK)
				break;
			/* Re-read: a store that let a racing writer replace the
			 * version under the same token (moto does; AWS, Vault and
			 * the local store refuse) must not make two brokers report
			 * two different pending CAs. */
			struct kb_key *check = NULL;
			char cv[KB_CA_VERSION_MAX + 1];
			r = read_ca(s, host, KB_STAGE_NONE, pendver, &check, cv, NULL, 0);
			bool same = r == KB_OK && kb_key_equal_public(check, pend);
			kb_key_free(check);
			if (r == KB_OK && !same) {
				kb_debug("rotate %s: the pending version holds another CA; re-reading", kb_ca_secret_name(host));
				continue;
			}
			if (r != KB_OK)
				break;
			res->created = true;
			crash_point("ca-rotate-after-put");
		}
		if (strcmp(st.pending, pendver) != 0 || st.pending_overlap != res->overlap) {
			kb_strlcpy(st.pending, pendver, sizeof(st.pending));
			st.pending_overlap = res->overlap;
			st.pending_created = (int64_t)time(NULL);
			if ((r = write_state(s, host, &st)) == KB_ERR_CONFLICT) {
				kb_err_clear_detail();
				continue;
			}
			if (r != KB_OK)
				break;
		}
		kb_strlcpy(res->version, pendver, sizeof(res->version));
		r = kb_key_dup_public(pend, &res->pub);
		break;
	}
	if (r == KB_ERR_CONFLICT)
		r = kb_err_set(KB_ERR_CONFLICT, "%s kept changing while rotating (another broker?); run again",
			       kb_ca_secret_name(host));
	kb_key_free(cur);
	kb_key_free(pend);
	kb_buf_done(&json);
	if (r != KB_OK)
		kb_ca_rotate_result_done(res);
	return r;
}

int kb_ca_promote(struct kb_store *s, bool host, int64_t overlap, int64_t min_overlap, struct kb_ca_promote_result *res)
{
	struct kb_key *cur = NULL, *pend = NULL, *prev = NULL;
	struct state st;
	char curver[KB_CA_VERSION_MAX + 1], pendver[KB_CA_VERSION_MAX + 1], prevver[KB_CA_VERSION_MAX + 1];
	bool promoted = false, finished = false;
	int r = KB_ERR_CONFLICT;

	memset(res, 0, sizeof(*res));
	if (overlap > 0 && (r = pick_overlap(overlap, 0, min_overlap, &res->overlap)) != KB_OK)
		return r;
	for (unsigned attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
		kb_key_free(cur);
		kb_key_free(pend);
		kb_key_free(prev);
		cur = pend = prev = NULL;
		prevver[0] = '\0';
		if ((r = read_state(s, host, &st)) != KB_OK)
			break;
		if ((r = read_current_and_pending(s, host, &cur, curver, &pend, pendver)) != KB_OK)
			break;
		r = read_ca(s, host, KB_STAGE_PREVIOUS, NULL, &prev, prevver, NULL, 0);
		if (r == KB_ERR_NOT_FOUND) {
			kb_err_clear_detail();
			prevver[0] = '\0';
			r = KB_OK;
		}
		if (r != KB_OK)
			break;

		/* A promotion that stopped after the store moved the stages:
		 * the overlap starts now (never earlier than the promotion). */
		if (strcmp(st.to, curver) == 0 && !st.done) {
			st.done = true;
			st.overlap_until = (int64_t)time(NULL) + st.overlap;
			if (strcmp(st.pending, curver) == 0)
				st.pending[0] = '\0';
			if ((r = write_state(s, host, &st)) == KB_ERR_CONFLICT) {
				kb_err_clear_detail();
				continue;
			}
			if (r != KB_OK)
				break;
			if (!promoted)
				finished = true;
		}
		if (pend == NULL || promoted) {
			/* (promoted: someone may have made a new pending CA since;
			 * that is for the next promotion.) */
			if (strcmp(st.to, curver) != 0 || !st.done) {
				r = kb_err_set(KB_ERR_NOT_FOUND, "no pending %s CA to promote: run 'broker ca rotate%s' "
								 "first",
					       host ? "host" : "user", host ? " --host" : "");
				break;
			}
			res->outcome = promoted ? KB_CA_PROMOTED : finished ? KB_CA_PROMOTE_FINISHED : KB_CA_PROMOTE_ALREADY;
			kb_strlcpy(res->from, st.from, sizeof(res->from));
			kb_strlcpy(res->to, st.to, sizeof(res->to));
			res->overlap = st.overlap;
			res->overlap_until = st.overlap_until;
			r = kb_key_dup_public(cur, &res->pub);
			break;
		}
		/* The previous CA (of the last promotion) is still in its
		 * overlap: promoting now would drop it from the bundle. */
		int64_t now = (int64_t)time(NULL);
		if (prevver[0] && strcmp(st.to, curver) == 0 && strcmp(st.from, prevver) == 0 && st.done &&
		    now < st.overlap_until) {
			char t[32], left[64];
			kb_format_time_utc(st.overlap_until, t, sizeof(t));
			kb_format_duration(st.overlap_until - now, left, sizeof(left));
			res->blocked_until = st.overlap_until;
			r = kb_err_set(KB_ERR_CONFLICT,
				       "the previous %s CA (version %s) is trusted until %s (%s from now): promoting now "
				       "would drop it from the bundle while certificates it signed may still be valid; "
				       "promote after that",
				       host ? "host" : "user", prevver, t, left);
			break;
		}
		bool known = strcmp(st.pending, pendver) == 0;
		if ((r = pick_overlap(overlap, known ? st.pending_overlap : 0, min_overlap, &res->overlap)) != KB_OK)
			break;
		pause_point("ca-promote-before-start");
		kb_strlcpy(st.from, curver, sizeof(st.from));
		kb_strlcpy(st.to, pendver, sizeof(st.to));
		st.overlap = res->overlap;
		st.started = now;
		st.done = false;
		st.overlap_until = 0;
		if ((r = write_state(s, host, &st)) == KB_ERR_CONFLICT) {
			kb_err_clear_detail();
			continue;
		}
		if (r != KB_OK)
			break;
		crash_point("ca-promote-after-start");
		if ((r = kb_store_promote(s, kb_ca_secret_name(host), pendver)) != KB_OK)
			break;
		promoted = true;
		crash_point("ca-promote-after-promote");
		/* The next round records the end of the overlap. */
	}
	if (r == KB_ERR_CONFLICT && res->blocked_until == 0)
		r = kb_err_set(KB_ERR_CONFLICT, "%s kept changing while promoting (another broker?); run again",
			       kb_ca_secret_name(host));
	kb_key_free(cur);
	kb_key_free(pend);
	kb_key_free(prev);
	if (r != KB_OK) {
		int64_t b = res->blocked_until;
		kb_ca_promote_result_done(res);
		res->blocked_until = b;
	}
	return r;
}
