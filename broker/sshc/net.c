/* TCP connection to the target under the connect deadline. */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"
#include "sshc/sshc_priv.h"

/* Name resolution under the deadline: IP literals directly, names with
 * glibc's getaddrinfo_a so a dead resolver cannot hold the job.  A lookup
 * still running at the deadline cannot always be cancelled; its small
 * request block is then left to the resolver thread (leaked). */
static int resolve(struct kb_sshc *c, const char *port, const struct addrinfo *hints, int64_t deadline,
		   struct addrinfo **ret)
{
	struct addrinfo h = *hints;
	struct req {
		struct gaicb cb;
		struct addrinfo hints;
		char host[sizeof(c->t.host)];
		char port[8];
	} *q;
	struct gaicb *list[1];
	int r;

	*ret = NULL;
	h.ai_flags |= AI_NUMERICHOST;
	if (getaddrinfo(c->t.host, port, &h, ret) == 0)
		return 0;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return KB_ERR_NOMEM;
	q->hints = *hints;
	kb_strlcpy(q->host, c->t.host, sizeof(q->host));
	kb_strlcpy(q->port, port, sizeof(q->port));
	q->cb.ar_name = q->host;
	q->cb.ar_service = q->port;
	q->cb.ar_request = &q->hints;
	list[0] = &q->cb;
	if ((r = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL)) != 0) {
		free(q);
		return kb_err_set(KB_ERR_NETWORK, "%s: cannot resolve %s: %s", c->name, c->t.host, gai_strerror(r));
	}
	for (;;) {
		int64_t left = deadline - kb_sshc_now_ms();
		struct timespec ts;
		const struct gaicb *const *wait = (const struct gaicb *const *)list;

		if ((r = gai_error(&q->cb)) != EAI_INPROGRESS)
			break;
		if (left <= 0) {
			if (gai_cancel(&q->cb) == EAI_CANCELED)
				free(q);
			return kb_err_set(KB_ERR_TIMEOUT, "%s: timed out resolving %s", c->name, c->t.host);
		}
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		gai_suspend(wait, 1, &ts);
	}
	if (r != 0) {
		free(q);
		return kb_err_set(KB_ERR_NETWORK, "%s: cannot resolve %s: %s", c->name, c->t.host, gai_strerror(r));
	}
	*ret = q->cb.ar_result;
	free(q);
	return 0;
}

int kb_sshc_tcp_connect(struct kb_sshc *c, int64_t deadline)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8];
	int r, last_errno = 0, fd = -1;
	bool timed_out = false;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", (unsigned)c->t.port);
	if ((r = resolve(c, port, &hints, deadline, &res)) != 0)
		return r;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct pollfd pfd;
		int64_t left;
		int soerr = 0;
		socklen_t slen = sizeof(soerr);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS) {
			last_errno = errno;
			goto next;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		for (;;) {
			left = deadline - kb_sshc_now_ms();
			if (left <= 0) {
				timed_out = true;
				goto next;
			}
			r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
			if (r > 0 || (r < 0 && errno != EINTR))
				break;
		}
		if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) != 0) {
			last_errno = errno;
			goto next;
		}
		if (soerr == 0)
			break;
		last_errno = soerr;
	next:
		close(fd);
		fd = -1;
		if (timed_out)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (timed_out)
			return kb_err_set(KB_ERR_TIMEOUT, "%s: timed out connecting to port %u", c->name,
					  (unsigned)c->t.port);
		return kb_err_set(KB_ERR_NETWORK, "%s: cannot connect: %s", c->name,
				  last_errno ? strerror(last_errno) : "no address");
	}
	r = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &r, sizeof(r));
	c->fd = fd;
	return 0;
}
