/* authorized_keys edits on the remote account.
 *
 * Each call runs one POSIX sh script on the host ("/bin/sh -s", the script
 * on stdin, so the login shell's syntax does not matter and the key is not
 * visible in the process list).  The script takes a lock directory next
 * to the file (concurrent edits of one account from parallel jobs would
 * otherwise lose updates), writes a temporary file in the same directory
 * with umask 077 and renames it over the original, so sshd only ever sees
 * the old or the new file.  Lines are copied unchanged; a line matches when
 * its key field (after any options, whose quoted values may hold blanks,
 * skipped as sshd does) equals the key's base64 blob. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/util.h"
#include "ssh/key.h"
#include "sshc/sshc_priv.h"

#define SCRIPT_MAX (64u * 1024u)
#define COMMENT_MAX 200

/* The script proper; the variables op, f, blob and line are set before
 * it.  On success it prints "kb-authkeys:done" (has: ":present" or
 * ":absent") and exits 0, so a forced command or a broken shell that
 * exits 0 without running it is noticed.  Errors: exit 2 usage, 3 I/O
 * error, 4 locked by another edit, 5 no awk, with a message on stderr. */
static const char script_body[] =
	"{\n"
	"set -u\n"
	"umask 077\n"
	"die() { echo \"kb-authkeys: $2\" >&2; exit \"$1\"; }\n"
	"command -v awk >/dev/null 2>&1 || die 5 'awk not found on the host'\n"
	/* key field of an authorized_keys line, "" for blanks and comments */
	"fn='function keyfield(s,  i, c, q, n, w) {\n"
	"  sub(/\\r$/, \"\", s); sub(/^[ \\t]+/, \"\", s)\n"
	"  if (s == \"\" || substr(s, 1, 1) == \"#\") return \"\"\n"
	"  n = split(s, w)\n"
	"  if (w[1] ~ /^(ssh-|ecdsa-|sk-)/) return w[2]\n"
	"  q = 0\n"
	"  for (i = 1; i <= length(s); i++) {\n"
	"    c = substr(s, i, 1)\n"
	"    if (c == \"\\\\\" && substr(s, i + 1, 1) == \"\\\"\") { i++; continue }\n"
	"    if (c == \"\\\"\") q = !q\n"
	"    else if (!q && (c == \" \" || c == \"\\t\")) break\n"
	"  }\n"
	"  n = split(substr(s, i), w)\n"
	"  return w[2]\n"
	"}'\n"
	"has() { [ -f \"$f\" ] && awk -v blob=\"$blob\" \"$fn\"' keyfield($0) == blob { found = 1; exit } END { exit !found }' \"$f\"; }\n"
	"d=$(dirname -- \"$f\") || die 3 'bad path'\n"
	"if [ -e \"$f\" ] && [ ! -f \"$f\" ]; then die 3 \"$f is not a regular file\"; fi\n"
	/* a rename would replace the link, not its target */
	"if [ -L \"$f\" ] && [ \"$op\" != has ]; then die 3 \"$f is a symbolic link; give the path of its target\"; fi\n"
	"if [ \"$op\" = has ]; then if has; then echo kb-authkeys:present; else echo kb-authkeys:absent; fi; exit 0; fi\n"
	"if [ \"$op\" = add ]; then\n"
	"  if [ ! -d \"$d\" ]; then mkdir -p -- \"$d\" || die 3 \"cannot create $d\"; fi\n"
	"elif [ ! -f \"$f\" ]; then echo kb-authkeys:done; exit 0\n"
	"fi\n"
	/* The lock: flock(1) where the host has it (released by the kernel
	 * whatever kills the script), else a directory holding the owner's
	 * pid, taken over when that process is gone. */
	"lock=\"$f.kb-lock\"\n"
	"unlock=:\n"
	"if command -v flock >/dev/null 2>&1 && { : >> \"$lock\"; } 2>/dev/null && exec 9< \"$lock\"; then\n"
	"  flock -w 10 9 || die 4 \"$f is locked by another edit for 10 s\"\n"
	"else\n"
	"  lock=\"$f.kb-lockdir\"\n"
	"  n=0\n"
	"  until mkdir -- \"$lock\" 2>/dev/null; do\n"
	"    [ -d \"$d\" ] || die 3 \"$d does not exist\"\n"
	"    [ -d \"$lock\" ] || die 3 \"cannot create files in $d\"\n"
	"    p=$(cat -- \"$lock/pid\" 2>/dev/null) || p=\n"
	"    if [ -n \"$p\" ] && ! kill -0 \"$p\" 2>/dev/null && mv -- \"$lock\" \"$lock.stale.$$\" 2>/dev/null; then\n"
	"      rm -rf -- \"$lock.stale.$$\"; continue\n"
	"    fi\n"
	"    n=$((n + 1))\n"
	"    [ $n -lt 10 ] || die 4 \"$f is locked by another edit (remove $lock if it is stale)\"\n"
	"    sleep 1\n"
	"  done\n"
	"  echo $$ > \"$lock/pid\"\n"
	"  unlock='rm -rf -- \"$lock\"'\n"
	"fi\n"
	/* temporary files of editors that died (only lock holders make them) */
	"for t in \"$f\".kb-tmp.*; do [ -f \"$t\" ] && rm -f -- \"$t\"; done\n"
	"tmp=\"$f.kb-tmp.$$\"\n"
	"trap 'rm -f -- \"$tmp\"; eval \"$unlock\"' EXIT\n"
	"trap 'exit 3' HUP INT TERM PIPE\n"
	"if [ \"$op\" = add ]; then\n"
	"  if has; then echo kb-authkeys:done; exit 0; fi\n"
	"  : > \"$tmp\" || die 3 \"cannot write in $d\"\n"
	"  if [ -s \"$f\" ]; then\n"
	"    cat -- \"$f\" > \"$tmp\" || die 3 \"cannot copy $f\"\n"
	"    [ -z \"$(tail -c 1 -- \"$f\")\" ] || printf '\\n' >> \"$tmp\" || die 3 \"cannot write $tmp\"\n"
	"  fi\n"
	"  printf '%s\\n' \"$line\" >> \"$tmp\" || die 3 \"cannot write $tmp\"\n"
	"elif [ \"$op\" = remove ]; then\n"
	"  if ! has; then echo kb-authkeys:done; exit 0; fi\n"
	"  nonl=0\n"
	"  [ -z \"$(tail -c 1 -- \"$f\")\" ] || nonl=1\n"
	"  awk -v blob=\"$blob\" -v nonl=\"$nonl\" \"$fn\"'\n"
	"    { if (havep) printf \"%s\\n\", p; havep = 0; if (keyfield($0) != blob) { p = $0; havep = 1 } }\n"
	"    END { if (havep) { if (nonl) printf \"%s\", p; else printf \"%s\\n\", p } }' \"$f\" > \"$tmp\" \\\n"
	"    || die 3 \"cannot rewrite $f\"\n"
	"else die 2 \"unknown operation $op\"\n"
	"fi\n"
	"chmod 600 \"$tmp\" || die 3 \"cannot chmod $tmp\"\n"
	"mv -f -- \"$tmp\" \"$f\" || die 3 \"cannot replace $f\"\n"
	"eval \"$unlock\"; trap - EXIT\n"
	"echo kb-authkeys:done\n"
	"exit 0\n"
	"} </dev/null\n";

/* Appends s single-quoted for sh. */
static int put_quoted(struct kb_buf *b, const char *s, size_t n)
{
	int r = kb_buf_put(b, "'", 1);

	for (size_t i = 0; r == 0 && i < n; i++)
		r = s[i] == '\'' ? kb_buf_put(b, "'\\''", 4) : kb_buf_put(b, &s[i], 1);
	return r != 0 ? r : kb_buf_put(b, "'", 1);
}

/* The file's path as a shell word: %u the login, %h and relative paths
 * the remote $HOME, %% a percent sign (sshd's AuthorizedKeysFile tokens). */
static int put_path(struct kb_sshc *c, struct kb_buf *b)
{
	const char *p = c->authorized_keys != NULL ? c->authorized_keys : ".ssh/authorized_keys";
	struct kb_buf lit;
	int r = 0;

	if (*p == '\0' || strlen(p) > 4096 || !kb_str_printable(p))
		return kb_err_set(KB_ERR_ARGS, "bad authorized_keys path");
	if (*p != '/' && strncmp(p, "%h", 2) != 0)
		r = kb_buf_put(b, "\"$HOME\"/", 8);
	kb_buf_init(&lit, 8192);
	for (; r == 0 && *p != '\0'; p++) {
		if (*p != '%') {
			r = kb_buf_put(&lit, p, 1);
			continue;
		}
		p++;
		if (*p == '%') {
			r = kb_buf_put(&lit, "%", 1);
		} else if (*p == 'u') {
			r = kb_buf_put(&lit, c->t.user, strlen(c->t.user));
		} else if (*p == 'h') {
			if (lit.len > 0 && (r = put_quoted(b, (const char *)lit.data, lit.len)) == 0)
				kb_buf_reset(&lit);
			if (r == 0)
				r = kb_buf_put(b, "\"$HOME\"", 7);
		} else {
			r = kb_err_set(KB_ERR_ARGS, "authorized_keys path: unknown token %%%c (use %%u, %%h or %%%%)",
				       *p ? *p : ' ');
			break;
		}
	}
	if (r == 0 && lit.len > 0)
		r = put_quoted(b, (const char *)lit.data, lit.len);
	kb_buf_done(&lit);
	return r;
}

static bool comment_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       strchr("._@:+=,/- ", ch) != NULL;
}

int kb_sshc_authkeys_script(struct kb_sshc *c, const char *op, const struct kb_key *pub, const char *comment,
			    struct kb_buf *out)
{
	struct kb_buf blob, b64, path;
	char cm[COMMENT_MAX + 1];
	size_t cn = 0;
	int r;

	kb_buf_init(&blob, KB_KEY_BLOB_MAX);
	kb_buf_init(&b64, KB_KEY_BLOB_MAX * 2);
	kb_buf_init(&path, 16384);
	if ((r = kb_key_plain_blob(pub, &blob)) != 0 || (r = kb_buf_put_base64(&b64, blob.data, blob.len)) != 0)
		goto out;
	/* Only the base64 alphabet reaches the shell. */
	for (size_t i = 0; i < b64.len; i++) {
		char ch = (char)b64.data[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '+' ||
		      ch == '/' || ch == '=')) {
			r = kb_err_set(KB_ERR_INTERNAL, "base64 produced an unexpected byte");
			goto out;
		}
	}
	if (comment != NULL) {
		for (const char *p = comment; *p != '\0' && cn < COMMENT_MAX; p++)
			cm[cn++] = comment_char(*p) ? *p : '_';
		while (cn > 0 && cm[cn - 1] == ' ')
			cn--;
	}
	cm[cn] = '\0';
	if ((r = put_path(c, &path)) != 0)
		goto out;
	if ((r = kb_buf_put(out, "op=", 3)) != 0 || (r = put_quoted(out, op, strlen(op))) != 0 ||
	    (r = kb_buf_put(out, "\nf=", 3)) != 0 || (r = kb_buf_put(out, path.data, path.len)) != 0 ||
	    (r = kb_buf_put(out, "\nblob=", 6)) != 0 || (r = put_quoted(out, (const char *)b64.data, b64.len)) != 0 ||
	    (r = kb_buf_put(out, "\nline=", 6)) != 0)
		goto out;
	{
		const char *type = kb_key_type_ssh_name(kb_key_type(pub));
		char *line = kb_asprintf("%s %.*s%s%s", type, (int)b64.len, (const char *)b64.data, cn ? " " : "",
					 cm);
		if (line == NULL) {
			r = KB_ERR_NOMEM;
			goto out;
		}
		r = put_quoted(out, line, strlen(line));
		free(line);
		if (r != 0)
			goto out;
	}
	if ((r = kb_buf_put(out, "\n", 1)) != 0 || (r = kb_buf_put(out, script_body, sizeof(script_body) - 1)) != 0)
		goto out;
out:
	kb_buf_done(&blob);
	kb_buf_done(&b64);
	kb_buf_done(&path);
	return r;
}

/* First line of the script's stderr, printable, for the error detail. */
static void first_line(const struct kb_buf *e, char *out, size_t n)
{
	size_t i = 0;

	for (size_t k = e->off; k < e->len && i + 1 < n; k++) {
		char ch = (char)e->data[k];
		if (ch == '\n')
			break;
		out[i++] = (ch >= 0x20 && ch < 0x7f) ? ch : '?';
	}
	out[i] = '\0';
}

static bool output_is(const char *got, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(got, want, n) == 0;
}

static int run(struct kb_sshc *c, const char *op, const struct kb_key *pub, const char *comment, int *ret_status)
{
	struct kb_buf script, out, err;
	char msg[300];
	int r, status = -1;

	*ret_status = -1;
	if (c == NULL || pub == NULL)
		return kb_err_set(KB_ERR_ARGS, "authorized_keys: no connection or key");
	kb_buf_init(&script, SCRIPT_MAX);
	kb_buf_init(&out, 4096);
	kb_buf_init(&err, 8192);
	if ((r = kb_sshc_authkeys_script(c, op, pub, comment, &script)) != 0)
		goto out;
	r = kb_sshc_exec(c, "/bin/sh -s", script.data, script.len, &out, &err, &status);
	if (r == KB_ERR_TOO_LARGE)
		r = kb_err_set(KB_ERR_INVALID, "%s: authorized_keys %s: unexpected output from the host", c->name, op);
	if (r != 0)
		goto out;
	*ret_status = status;
	if (status == 0) {
		const char *got = (const char *)kb_buf_ptr(&out);
		size_t n = kb_buf_remaining(&out);
		bool has = strcmp(op, "has") == 0;

		if (has && output_is(got, n, "kb-authkeys:present\n")) {
			*ret_status = 0;
		} else if (has && output_is(got, n, "kb-authkeys:absent\n")) {
			*ret_status = 1;
		} else if (has || !output_is(got, n, "kb-authkeys:done\n")) {
			first_line(&out, msg, sizeof(msg));
			r = kb_err_set(KB_ERR_BACKEND,
				       "%s: authorized_keys %s: the host did not run the edit script (a forced command or "
				       "a restricted shell?); it printed '%s'",
				       c->name, op, msg);
		}
		goto out;
	}
	first_line(&err, msg, sizeof(msg));
	switch (status) {
	case 4:
		r = KB_ERR_CONFLICT;
		break;
	case 5:
		r = KB_ERR_UNSUPPORTED;
		break;
	case 3:
		r = KB_ERR_IO;
		break;
	default:
		r = KB_ERR_BACKEND;
		break;
	}
	r = kb_err_set(r, "%s: authorized_keys %s failed (exit %d): %s", c->name, op, status,
		       msg[0] ? msg : "no message");
out:
	kb_buf_done(&script);
	kb_buf_done(&out);
	kb_buf_done(&err);
	return r;
}

int kb_sshc_authkeys_add(struct kb_sshc *c, const struct kb_key *pub, const char *comment)
{
	int status;

	return run(c, "add", pub, comment, &status);
}

int kb_sshc_authkeys_remove(struct kb_sshc *c, const struct kb_key *pub)
{
	int status;

	return run(c, "remove", pub, NULL, &status);
}

int kb_sshc_authkeys_has(struct kb_sshc *c, const struct kb_key *pub, bool *ret)
{
	int status, r;

	*ret = false;
	r = run(c, "has", pub, NULL, &status);
	if (r == 0)
		*ret = status == 0;
	return r;
}
