#include "net_options.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int set_net(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	if (strcmp(arg, "none") && strcmp(arg, "slirp") && strcmp(arg, "host"))
		return herr_set(e, 0, "--%s '%s': expected none, slirp or host", opt, arg);
	p->share_net = strcmp(arg, "host") == 0;
	p->slirp = strcmp(arg, "slirp") == 0;
	return 0;
}

int set_share_net_alias(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	return set_net(p, opt, "host", e);
}

int set_allow_host_loopback(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	p->allow_host_loopback = true;
	return 0;
}

/* A port number 1-65535 (0 too when zero_ok); -1 when it is not one. */
static int parse_port(const char *s, bool zero_ok)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v > 65535 || (v == 0 && !zero_ok))
		return -1;
	return (int)v;
}

/* An IPv4 or IPv6 address (brackets allowed around IPv6) with `port`, into ss. */
static int parse_addr(const char *s, uint16_t port, struct sockaddr_storage *ss)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(s);
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	if (n >= sizeof(buf))
		return -1;
	if (s[0] == '[' && n > 2 && s[n - 1] == ']') {
		memcpy(buf, s + 1, n - 2);
		buf[n - 2] = 0;
	} else {
		memcpy(buf, s, n + 1);
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, buf, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		return 0;
	}
	return -1;
}

/* Split "HOST:PORT" at the last colon that is outside brackets; with bare_v6, an IPv6 address
 * without brackets (two colons or more) has no port. Returns the port part or NULL. */
static char *split_port(char *s, bool bare_v6)
{
	char *colon = strrchr(s, ':'), *bracket = strrchr(s, ']');

	if (!colon || (bracket && colon < bracket))
		return NULL;
	if (bare_v6 && !bracket && strchr(s, ':') != colon)
		return NULL; /* a bare IPv6 address */
	*colon = 0;
	return colon + 1;
}

/* --dns ADDR[:PORT]: the upstream resolver that the DNS at 10.0.2.3 forwards to. A port other
 * than 53 is an extension, for resolvers on unprivileged ports (and for the tests). */
int set_dns(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	_cleanup_free_ char *s = xstrdup(arg);
	char *port_s = split_port(s, true);
	int port = port_s ? parse_port(port_s, false) : 53;

	if (port < 0)
		return herr_set(e, 0, "--%s '%s': port out of range", opt, arg);
	if (parse_addr(s, (uint16_t)port, &p->dns) < 0)
		return herr_set(e, 0, "--%s '%s': not an IP address; give one such as 192.168.1.1",
				opt, arg);
	return 0;
}

/* -p [ADDR:]HOSTPORT:PORT[/tcp|/udp] */
int set_publish(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	_cleanup_free_ char *s = xstrdup(arg);
	char *slash = strrchr(s, '/'), *inner, *outer;
	const char *addr = s;
	struct publish_req r = {0};
	int hp, gp;

	if (slash) {
		*slash = 0;
		if (strcmp(slash + 1, "udp") && strcmp(slash + 1, "tcp"))
			return herr_set(e, 0, "--%s '%s': protocol must be tcp or udp", opt, arg);
		r.udp = strcmp(slash + 1, "udp") == 0;
	}
	inner = split_port(s, false);
	outer = inner ? split_port(s, false) : NULL;
	if (!inner)
		return herr_set(e, 0, "--%s '%s': expected [ADDR:]HOSTPORT:PORT[/tcp|/udp]", opt,
				arg);
	if (!outer) {
		outer = s;
		addr = "127.0.0.1"; /* loopback by default: publishing to the LAN is a choice */
	}
	hp = parse_port(outer, false);
	gp = parse_port(inner, false);
	if (hp < 0 || gp < 0)
		return herr_set(e, 0, "--%s '%s': port out of range", opt, arg);
	if (parse_addr(addr, (uint16_t)hp, &r.host) < 0)
		return herr_set(e, 0, "--%s '%s': '%s' is not an IP address", opt, arg, addr);
	r.port = (uint16_t)gp;
	p->publish = xreallocarray(p->publish, p->n_publish + 1, sizeof(*p->publish));
	p->publish[p->n_publish++] = r;
	return 0;
}

static bool valid_hostname(const char *h)
{
	size_t label = 0, n = strlen(h);

	if (n == 0 || n > 253)
		return false;
	for (const char *c = h; *c; c++) {
		if (*c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*c) || *c == '-' || *c == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

static int parse_cidr(const char *s, struct allow_rule *r)
{
	_cleanup_free_ char *a = xstrdup(s);
	char *slash = strchr(a, '/');
	struct sockaddr_storage ss;
	int bits = -1, max;

	if (slash) {
		*slash = 0;
		bits = parse_port(slash + 1, true);
	}
	if (parse_addr(a, 0, &ss) < 0)
		return -1;
	r->family = ss.ss_family;
	max = r->family == AF_INET ? 32 : 128;
	if (r->family == AF_INET)
		memcpy(r->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	else
		memcpy(r->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	if (slash && (bits < 0 || bits > max))
		return -2;
	r->prefix = (uint8_t)(slash ? bits : max);
	return 0;
}

/* --allow-net CIDR | CIDR:PORT | HOSTNAME | HOSTNAME:PORT (IPv6 with a port: [ADDR/N]:PORT) */
int set_allow_net(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	_cleanup_free_ char *s = xstrdup(arg);
	char *port_s = split_port(s, true);
	struct allow_rule r = {0};
	int port = 0, c;

	if (port_s && (port = parse_port(port_s, false)) < 0)
		return herr_set(e, 0, "--%s '%s': port out of range", opt, arg);
	r.port = (uint16_t)port;
	c = parse_cidr(s, &r);
	if (c == -2)
		return herr_set(e, 0, "--%s '%s': prefix length out of range", opt, arg);
	if (c < 0) {
		size_t n = strlen(s);

		if (n && s[n - 1] == '.')
			s[n - 1] = 0; /* example.com. is example.com */
		if (!valid_hostname(s) || strchr(s, '/') || s[0] == '[')
			return herr_set(e, 0,
					"--%s '%s': not a CIDR (10.0.0.0/8), an address or a "
					"hostname",
					opt, arg);
		for (char *ch = s; *ch; ch++)
			*ch = (char)tolower((unsigned char)*ch);
		r.host = xstrdup(s);
	}
	p->allow = xreallocarray(p->allow, p->n_allow + 1, sizeof(*p->allow));
	p->allow[p->n_allow++] = r;
	return 0;
}
