/* "user@host[:port]" targets. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "sshc/sshc.h"

static bool user_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
	       c == '_' || c == '-';
}

/* RFC 1123 host name: labels of [A-Za-z0-9-], 1-63 bytes, no leading or
 * trailing hyphen, 253 bytes in all. */
static bool dns_name_ok(const char *h, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (c == '.') {
			if (label == 0 || h[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return h[n - 1] != '-';
}

static int parse_port(const char *s, uint16_t *ret)
{
	uint64_t v;

	if (kb_parse_u64(s, 65535, &v) != 0 || v == 0)
		return KB_ERR_ARGS;
	*ret = (uint16_t)v;
	return 0;
}

int kb_ssh_target_parse(const char *s, struct kb_ssh_target *ret)
{
	const char *at, *h, *hend, *port = NULL;
	struct kb_ssh_target t;
	size_t ulen, hlen;
	char v6[INET6_ADDRSTRLEN + 1];
	unsigned char addr[16];

	memset(ret, 0, sizeof(*ret));
	memset(&t, 0, sizeof(t));
	t.port = 22;
	if (s == NULL || strlen(s) > 400 || !kb_str_printable(s))
		return kb_err_set(KB_ERR_ARGS, "bad target: expected USER@HOST[:PORT]");
	at = strchr(s, '@');
	if (at == NULL)
		return kb_err_set(KB_ERR_ARGS, "bad target '%s': expected USER@HOST[:PORT]", s);
	ulen = (size_t)(at - s);
	if (ulen == 0 || ulen > 32 || s[0] == '-')
		return kb_err_set(KB_ERR_ARGS, "bad target '%s': the user name must be 1-32 characters", s);
	for (size_t i = 0; i < ulen; i++)
		if (!user_char(s[i]))
			return kb_err_set(KB_ERR_ARGS, "bad target '%s': the user name may only contain A-Z a-z 0-9 . _ -",
					  s);
	memcpy(t.user, s, ulen);
	h = at + 1;
	if (*h == '[') {
		hend = strchr(h, ']');
		if (hend == NULL)
			return kb_err_set(KB_ERR_ARGS, "bad target '%s': missing ']'", s);
		h++;
		hlen = (size_t)(hend - h);
		if (hend[1] == ':')
			port = hend + 2;
		else if (hend[1] != '\0')
			return kb_err_set(KB_ERR_ARGS, "bad target '%s': expected ':PORT' after ']'", s);
		if (hlen == 0 || hlen >= sizeof(v6))
			return kb_err_set(KB_ERR_ARGS, "bad target '%s': bad address in brackets", s);
		memcpy(v6, h, hlen);
		v6[hlen] = '\0';
		if (inet_pton(AF_INET6, v6, addr) != 1 && inet_pton(AF_INET, v6, addr) != 1)
			return kb_err_set(KB_ERR_ARGS, "bad target '%s': '%s' is not an IP address", s, v6);
	} else {
		const char *colon = strchr(h, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			return kb_err_set(KB_ERR_ARGS, "bad target '%s': write IPv6 addresses as USER@[ADDR]:PORT", s);
		hend = colon != NULL ? colon : h + strlen(h);
		hlen = (size_t)(hend - h);
		if (colon != NULL)
			port = colon + 1;
		if (!dns_name_ok(h, hlen))
			return kb_err_set(KB_ERR_ARGS, "bad target '%s': '%.*s' is not a host name or IP address", s,
					  (int)(hlen > 253 ? 253 : hlen), h);
	}
	if (hlen >= sizeof(t.host))
		return kb_err_set(KB_ERR_ARGS, "bad target '%s': host name too long", s);
	memcpy(t.host, h, hlen);
	if (port != NULL && parse_port(port, &t.port) != 0)
		return kb_err_set(KB_ERR_ARGS, "bad target '%s': bad port (1-65535)", s);
	*ret = t;
	return 0;
}

void kb_ssh_target_format(const struct kb_ssh_target *t, char *out, size_t n)
{
	if (n == 0)
		return;
	if (strchr(t->host, ':') != NULL)
		snprintf(out, n, "%s@[%s]:%u", t->user, t->host, (unsigned)t->port);
	else
		snprintf(out, n, "%s@%s:%u", t->user, t->host, (unsigned)t->port);
}
