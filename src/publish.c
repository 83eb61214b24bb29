#include "publish.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "slirp.h"

static void describe(const struct publish_req *r, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	const struct sockaddr_in *in = (const struct sockaddr_in *)&r->host;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&r->host;
	bool v6 = r->host.ss_family == AF_INET6;

	inet_ntop(r->host.ss_family,
		  v6 ? (const void *)&in6->sin6_addr : (const void *)&in->sin_addr, addr,
		  sizeof(addr));
	snprintf(buf, len, "%s%s%s:%u:%u/%s", v6 ? "[" : "", addr, v6 ? "]" : "",
		 ntohs(v6 ? in6->sin6_port : in->sin_port), r->port, r->udp ? "udp" : "tcp");
}

int publish_all(Slirp *slirp, const struct plan *p, struct herr *e)
{
	/* An IPv6 listener forwards to the sandbox's IPv6 address, an IPv4 one to its IPv4. */
	struct sockaddr_in guest = {.sin_family = AF_INET};
	struct sockaddr_in6 guest6 = {.sin6_family = AF_INET6};

	memcpy(&guest.sin_addr, SLIRP_GUEST4, 4);
	memcpy(&guest6.sin6_addr, SLIRP_GUEST6, 16);
	for (size_t i = 0; i < p->n_publish; i++) {
		const struct publish_req *r = &p->publish[i];
		bool v6 = r->host.ss_family == AF_INET6;
		int flags = (r->udp ? SLIRP_HOSTFWD_UDP : 0) | (v6 ? SLIRP_HOSTFWD_V6ONLY : 0);
		char what[96];

		guest.sin_port = guest6.sin6_port = htons(r->port);
		errno = 0;
		if (slirp_add_hostxfwd(
			slirp, (const struct sockaddr *)&r->host,
			v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
			v6 ? (const struct sockaddr *)&guest6 : (const struct sockaddr *)&guest,
			v6 ? sizeof(guest6) : sizeof(guest), flags) < 0) {
			int err = errno ? errno : EADDRINUSE;

			describe(r, what, sizeof(what));
			herr_set(e, err, "--publish %s: cannot listen on the host", what);
			return herr_hint(e, err == EADDRINUSE
						? "another program uses that port; pick another "
						  "HOSTPORT (see `ss -ltnup`)"
						: "ports below 1024 need privileges; pick another");
		}
	}
	return 0;
}
