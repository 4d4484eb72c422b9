/* Client side of the daemon protocol: which socket to use, one call. */
#include "serve_client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "core/err.h"
#include "core/util.h"

const char *kb_serve_socket_for(const struct kb_config *cfg, const char *explicit_path, bool no_daemon)
{
	struct stat st;

	if (explicit_path != NULL)
		return explicit_path;
	if (no_daemon)
		return NULL;
	const char *cs = kb_config_get(cfg, "serve.socket");
	const char *origin = kb_config_origin(cfg, "serve.socket");
	if (cs && ((origin && strncmp(origin, "env", 3) == 0) || (stat(cs, &st) == 0 && S_ISSOCK(st.st_mode))))
		return cs;
	return NULL;
}

int kb_serve_call(const char *path, const struct kb_serve_request *rq, struct kb_buf *reply, json_t **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct kb_buf req;
	int fd, r;

	*ret = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return kb_err_set(KB_ERR_INVALID, "socket path too long: %s", path);
	kb_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return kb_err_errno("socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		r = kb_err_set(KB_ERR_NETWORK, "cannot reach the broker daemon at %s (%s): start 'broker serve' "
					       "or use --no-daemon", path, strerror(errno));
		close(fd);
		return r;
	}
	struct timeval tv = { 120, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	kb_buf_init(&req, KB_SERVE_REQUEST_MAX);
	if ((r = kb_serve_encode_request(rq, &req)) == KB_OK &&
	    (r = kb_serve_write_frame(fd, kb_buf_ptr(&req), kb_buf_remaining(&req))) == KB_OK &&
	    (r = kb_serve_read_frame(fd, KB_SERVE_RESPONSE_MAX, reply)) == KB_OK) {
		*ret = json_loadb((const char *)kb_buf_ptr(reply), kb_buf_remaining(reply), 0, NULL);
		if (!json_is_object(*ret)) {
			json_decref(*ret);
			*ret = NULL;
			r = kb_err_set(KB_ERR_INVALID, "the broker daemon sent a malformed answer");
		}
	} else if (r != KB_OK) {
		r = kb_err_set(r, "talking to the broker daemon at %s: %s", path, kb_err_detail());
	}
	kb_buf_done(&req);
	close(fd);
	return r;
}
