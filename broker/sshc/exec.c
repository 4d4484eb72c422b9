/* Remote commands over a session channel, under the command deadline. */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "sshc/sshc_priv.h"

#define CHUNK 16384

/* After a timeout or an overflow the command is abandoned.  The channel
 * cannot be closed cleanly (sshd answers a close only once the command has
 * exited) and libssh2 1.10 cannot send a "signal" request after exec, so
 * the whole connection is dropped: sshd then closes the command's pipes,
 * as when an ssh client is killed.  A command that neither reads nor
 * writes (sleep) keeps running on the host until it ends. */
static void abort_channel(struct kb_sshc *c, LIBSSH2_CHANNEL *ch)
{
	(void)ch; /* freed with the session */
	kb_sshc_drop(c);
}

static int capture(struct kb_sshc *c, struct kb_buf *dst, size_t *count, const char *buf, size_t n, const char *which)
{
	if (*count + n > KB_SSHC_OUTPUT_MAX)
		return kb_err_set(KB_ERR_TOO_LARGE, "%s: the command's %s exceeded %u bytes", c->name, which,
				  KB_SSHC_OUTPUT_MAX);
	*count += n;
	if (dst == NULL)
		return 0;
	if (kb_buf_put(dst, buf, n) != 0)
		return kb_err_set(KB_ERR_TOO_LARGE, "%s: the command's %s does not fit the buffer", c->name, which);
	return 0;
}

int kb_sshc_exec(struct kb_sshc *c, const char *command, const uint8_t *in, size_t inlen, struct kb_buf *out,
		 struct kb_buf *err, int *ret_status)
{
	LIBSSH2_CHANNEL *ch = NULL;
	int64_t deadline;
	size_t inoff = 0, nout = 0, nerr = 0;
	bool eof_sent = false;
	unsigned eof_spins = 0;
	char *buf = NULL;
	int rc, r = 0;

	*ret_status = -1;
	if (c == NULL || command == NULL)
		return kb_err_set(KB_ERR_ARGS, "ssh exec: no connection or command");
	if (c->broken)
		return kb_err_set(KB_ERR_NETWORK, "%s: connection unusable after an earlier failure", c->name);
	if (in == NULL)
		inlen = 0;
	deadline = kb_sshc_now_ms() + c->command_timeout_ms;
	buf = malloc(CHUNK);
	if (buf == NULL)
		return KB_ERR_NOMEM;

	while ((ch = libssh2_channel_open_session(c->s)) == NULL) {
		rc = libssh2_session_last_errno(c->s);
		if (rc != LIBSSH2_ERROR_EAGAIN) {
			r = kb_sshc_lib_error(c, rc, "cannot open a session channel");
			goto out;
		}
		if ((r = kb_sshc_wait(c, deadline, "opening a channel")) != 0) {
			c->broken = true;
			goto out;
		}
	}
	while ((rc = libssh2_channel_exec(ch, command)) == LIBSSH2_ERROR_EAGAIN)
		if ((r = kb_sshc_wait(c, deadline, "starting the command")) != 0)
			goto abort;
	if (rc != 0) {
		r = kb_sshc_lib_error(c, rc, "the server refused to run the command");
		goto abort;
	}

	for (;;) {
		bool progress = false, out_eof = false, err_eof = false;
		short extra = POLLIN;
		ssize_t n;

		if (inoff < inlen) {
			size_t want = inlen - inoff < CHUNK ? inlen - inoff : CHUNK;
			n = libssh2_channel_write(ch, (const char *)in + inoff, want);
			if (n > 0) {
				inoff += (size_t)n;
				progress = true;
			} else if (n == LIBSSH2_ERROR_EAGAIN) {
				if (libssh2_session_block_directions(c->s) & LIBSSH2_SESSION_BLOCK_OUTBOUND)
					extra |= POLLOUT;
			} else {
				/* The command closed its stdin: drop the rest. */
				inoff = inlen;
				eof_sent = true;
			}
		} else if (!eof_sent) {
			rc = libssh2_channel_send_eof(ch);
			if (rc != LIBSSH2_ERROR_EAGAIN) {
				eof_sent = true;
				progress = true;
			} else if (libssh2_session_block_directions(c->s) & LIBSSH2_SESSION_BLOCK_OUTBOUND) {
				extra |= POLLOUT;
			}
		}
		n = libssh2_channel_read(ch, buf, CHUNK);
		if (n > 0) {
			if ((r = capture(c, out, &nout, buf, (size_t)n, "output")) != 0)
				goto abort;
			progress = true;
		} else if (n == 0) {
			out_eof = libssh2_channel_eof(ch);
		} else if (n != LIBSSH2_ERROR_EAGAIN) {
			r = kb_sshc_lib_error(c, (int)n, "reading the command's output");
			goto abort;
		}
		n = libssh2_channel_read_stderr(ch, buf, CHUNK);
		if (n > 0) {
			if ((r = capture(c, err, &nerr, buf, (size_t)n, "error output")) != 0)
				goto abort;
			progress = true;
		} else if (n == 0) {
			err_eof = libssh2_channel_eof(ch);
		} else if (n != LIBSSH2_ERROR_EAGAIN) {
			r = kb_sshc_lib_error(c, (int)n, "reading the command's error output");
			goto abort;
		}
		if (out_eof && err_eof)
			break;
		/* The EOF (often with the exit status and the close) may have
		 * been read off the socket by the stderr read just above, after
		 * the stdout read had found nothing: then nothing more will
		 * arrive, and waiting on the socket would only end at the
		 * deadline.  Read again at once instead (a few times at most,
		 * in case libssh2 still answers EAGAIN). */
		if (!progress && libssh2_channel_eof(ch) == 1 && eof_spins++ < 4)
			continue;
		if (!progress && (r = kb_sshc_wait_ev(c, deadline, "waiting for the command", extra)) != 0)
			goto abort;
	}

	while ((rc = libssh2_channel_close(ch)) == LIBSSH2_ERROR_EAGAIN)
		if ((r = kb_sshc_wait(c, deadline, "closing the channel")) != 0)
			goto abort;
	while ((rc = libssh2_channel_wait_closed(ch)) == LIBSSH2_ERROR_EAGAIN)
		if ((r = kb_sshc_wait(c, deadline, "waiting for the command's exit status")) != 0)
			goto abort;
	{
		char *sig = NULL;
		size_t siglen = 0;
		int status = libssh2_channel_get_exit_status(ch);
		libssh2_channel_get_exit_signal(ch, &sig, &siglen, NULL, NULL, NULL, NULL);
		if (sig != NULL) {
			kb_debug("%s: command killed by SIG%.*s", c->name, (int)siglen, sig);
			status = 255;
			libssh2_free(c->s, sig);
		}
		*ret_status = status;
	}
	while ((rc = libssh2_channel_free(ch)) == LIBSSH2_ERROR_EAGAIN)
		if (kb_sshc_wait(c, deadline, "freeing the channel") != 0) {
			c->broken = true;
			break;
		}
	ch = NULL;
	r = 0;
	goto out;
abort:
	if (r == KB_ERR_TIMEOUT) {
		char detail[512];
		bool eof = ch != NULL && libssh2_channel_eof(ch) == 1;
		kb_strlcpy(detail, kb_err_detail(), sizeof(detail));
		abort_channel(c, ch);
		r = kb_err_set(KB_ERR_TIMEOUT, "%s (command timeout %d ms; %zu bytes of output, %zu of error output%s)",
			       detail, c->command_timeout_ms, nout, nerr, eof ? ", output closed" : "");
	} else {
		char detail[512];
		kb_strlcpy(detail, kb_err_detail(), sizeof(detail));
		abort_channel(c, ch);
		kb_err_set(r, "%s", detail);
	}
out:
	free(buf);
	return r;
}
