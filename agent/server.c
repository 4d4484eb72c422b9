#include "server.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

#define MAX_CONNECTIONS 1024
#define REPLY_MAX (64u * 1024u * 1024u)
#define THREAD_STACK (512u * 1024u)
#define READ_CHUNK 4096u

static struct kb_agent_server *g_srv;
static pthread_mutex_t conn_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t conn_cv = PTHREAD_COND_INITIALIZER;
static unsigned nconns;
static atomic_ulong next_conn_id;

int64_t kb_agent_clock_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kb_agent_clock_real(void)
{
	return (int64_t)time(NULL);
}

void kb_agent_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void cleanup_and_exit(int status) __attribute__((noreturn));
static void cleanup_and_exit(int status)
{
	if (g_srv != NULL) {
		if (g_srv->socket_path != NULL)
			unlink(g_srv->socket_path);
		if (g_srv->socket_dir != NULL)
			rmdir(g_srv->socket_dir);
		/* Drop every identity: keys not in use by a signing thread are
		 * wiped now; guarded memory vanishes with the process anyway. */
		kb_agent_keystore_remove_all(g_srv->ctx->ks);
	}
	_exit(status);
}

static int write_full(int fd, const void *p, size_t n)
{
	const uint8_t *q = p;
	while (n > 0) {
		ssize_t r = write(fd, q, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		q += r;
		n -= (size_t)r;
	}
	return 0;
}

struct conn_arg {
	int fd;
};

static void *conn_main(void *arg)
{
	struct conn_arg *ca = arg;
	int fd = ca->fd;
	struct kb_agent_conn conn;
	struct kb_buf req, reply;

	free(ca);
	kb_agent_conn_init(&conn, atomic_fetch_add(&next_conn_id, 1));
	kb_buf_init_secure(&req, KB_AGENT_MAX_MSG + 2 * READ_CHUNK);
	kb_buf_init(&reply, REPLY_MAX);
	for (;;) {
		/* Answer every complete frame already read (one read usually
		 * brings a whole request: one syscall in, one out). */
		while (kb_buf_remaining(&req) >= 4) {
			uint8_t *h = req.data + req.off;
			uint32_t len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
			if (len == 0 || len > KB_AGENT_MAX_MSG) {
				kb_debug("conn %lu: message length %u out of range, closing", conn.id, len);
				goto out;
			}
			if (kb_buf_remaining(&req) - 4 < len)
				break;
			/* Replies hold no secrets: reuse the buffer without wiping. */
			reply.off = reply.len = 0;
			int r = kb_buf_put_u32(&reply, 0);
			if (r == 0)
				r = kb_agent_handle(g_srv->ctx, &conn, h + 4, len, &reply);
			/* The request may have carried a private key. */
			kb_wipe(h, 4 + (size_t)len);
			kb_buf_skip(&req, 4 + (size_t)len);
			if (r == 0)
				r = kb_buf_patch_u32(&reply, 0, (uint32_t)(reply.len - 4));
			if (r != 0 || write_full(fd, reply.data, reply.len) != 0)
				goto out;
		}
		/* Keep only the partial frame, at the front. */
		size_t rem = kb_buf_remaining(&req);
		if (req.off > 0) {
			memmove(req.data, req.data + req.off, rem);
			kb_wipe(req.data + rem, req.len - rem);
			req.off = 0;
			req.len = rem;
		}
		size_t want = READ_CHUNK;
		if (rem >= 4) {
			size_t frame = 4 + ((size_t)req.data[0] << 24 | (size_t)req.data[1] << 16 |
					    (size_t)req.data[2] << 8 | req.data[3]);
			if (frame - rem > want)
				want = frame - rem;
		}
		uint8_t *p;
		if (kb_buf_reserve(&req, want, &p) != 0)
			goto out;
		ssize_t n;
		do
			n = read(fd, p, want);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			goto out;
		req.len -= want - (size_t)n;
	}
out:
	close(fd);
	kb_agent_conn_done(&conn);
	kb_buf_done(&req);
	kb_buf_done(&reply);
	pthread_mutex_lock(&conn_mu);
	nconns--;
	pthread_cond_signal(&conn_cv);
	pthread_mutex_unlock(&conn_mu);
	return NULL;
}

static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred)) {
		kb_error("getsockopt(SO_PEERCRED) failed: %s", strerror(errno));
		return false;
	}
	if (cred.uid != 0 && cred.uid != getuid()) {
		kb_error("uid mismatch: peer euid %u != uid %u", (unsigned)cred.uid, (unsigned)getuid());
		return false;
	}
	return true;
}

static void *reaper_main(void *arg)
{
	struct kb_agent_server *srv = arg;
	struct kb_agent_keystore *ks = srv->ctx->ks;

	for (;;) {
		pthread_mutex_lock(&ks->mu);
		int64_t now = kb_agent_clock_mono_ms();
		int64_t wake = now + (srv->parent_pid ? 1000 : 60000);
		if (ks->cur->next_death != 0 && ks->cur->next_death < wake)
			wake = ks->cur->next_death;
		uint64_t gen = ks->generation;
		struct timespec ts = { .tv_sec = wake / 1000, .tv_nsec = (long)(wake % 1000) * 1000000L };
		while (ks->generation == gen && kb_agent_clock_mono_ms() < wake)
			if (pthread_cond_timedwait(&ks->changed, &ks->mu, &ts) == ETIMEDOUT)
				break;
		pthread_mutex_unlock(&ks->mu);
		int n = kb_agent_keystore_expire(ks, kb_agent_clock_mono_ms(), kb_agent_clock_real());
		if (n > 0)
			kb_debug("expired %d identities", n);
		if (srv->parent_pid != 0 && getppid() != srv->parent_pid && kill(srv->parent_pid, 0) != 0) {
			kb_debug("parent %ld is gone, exiting", (long)srv->parent_pid);
			cleanup_and_exit(0);
		}
	}
	return NULL;
}

static void *signal_main(void *arg)
{
	struct kb_agent_server *srv = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGINT && !srv->exit_on_int)
			continue;
		kb_debug("received signal %d, cleaning up", sig);
		cleanup_and_exit(sig == SIGINT ? 0 : 2);
	}
	return NULL;
}

static int spawn(void *(*fn)(void *), void *arg)
{
	pthread_t th;
	pthread_attr_t attr;
	int r;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	r = pthread_create(&th, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return r;
}

void kb_agent_server_run(struct kb_agent_server *srv)
{
	sigset_t set;

	g_srv = srv;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (spawn(signal_main, srv) != 0 || spawn(reaper_main, srv) != 0) {
		kb_error("cannot start threads");
		cleanup_and_exit(1);
	}
	for (;;) {
		pthread_mutex_lock(&conn_mu);
		while (nconns >= MAX_CONNECTIONS)
			pthread_cond_wait(&conn_cv, &conn_mu);
		pthread_mutex_unlock(&conn_mu);

		int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED) {
				kb_error("accept: %s", strerror(errno));
				if (errno == EMFILE || errno == ENFILE)
					kb_agent_sleep_ms(100);
			}
			continue;
		}
		if (!peer_allowed(fd)) {
			close(fd);
			continue;
		}
		struct conn_arg *ca = malloc(sizeof(*ca));
		if (ca == NULL) {
			close(fd);
			continue;
		}
		ca->fd = fd;
		pthread_mutex_lock(&conn_mu);
		nconns++;
		pthread_mutex_unlock(&conn_mu);
		if (spawn(conn_main, ca) != 0) {
			kb_error("cannot start a connection thread");
			free(ca);
			close(fd);
			pthread_mutex_lock(&conn_mu);
			nconns--;
			pthread_mutex_unlock(&conn_mu);
		}
	}
}
