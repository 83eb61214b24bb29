#include "allow.h"

#include <arpa/nameser.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "dnstcp.h"
#include "frame.h"
#include "slirp.h"
#include "util.h"

/* An address as a host socket gets it: a v4-mapped IPv6 address is its IPv4 address. */
struct dest {
	int family;
	uint8_t addr[16];
	uint16_t port;
};

/* A hostname rule's name resolved through the sandbox's DNS: its address, with the rule's port. */
struct learned {
	struct dest d;
};

/* Who wrote to a published UDP port: the conversations that port may answer. */
struct peer {
	int fd;
	struct dest d;
};

/* Enough for any real build's mirrors; a sandbox that resolves more cannot grow our memory. */
#define MAX_LEARNED 4096
/* The latest host peers of published UDP ports; an older one must write again first. */
#define PEERS 64

struct allow {
	const struct plan *p;
	struct learned *learned;
	size_t n, cap;
	struct dns_streams *tcp; /* DNS over TCP, with --allow-net rules */
	int64_t cut;		 /* see allow_cut() */
	bool in_frame;		 /* libslirp is taking a frame of the sandbox's now */
	bool dns_frame;		 /* ...a question to its DNS that passed */
	bool refused;		 /* ...and a socket of that frame's was refused */
	int *listeners;		 /* libslirp's UDP sockets of --publish */
	size_t n_listeners;
	struct peer peers[PEERS];
	unsigned next_peer;
};

struct allow *allow_new(const struct plan *p)
{
	struct allow *a = xcalloc(1, sizeof(*a));

	a->p = p;
	a->tcp = dns_streams_new();
	a->cut = -1;
	a->listeners = xcalloc(p->n_publish + 1, sizeof(int));
	for (unsigned i = 0; i < PEERS; i++)
		a->peers[i].fd = -1;
	return a;
}

void allow_free(struct allow *a)
{
	if (!a)
		return;
	free(a->learned);
	free(a->listeners);
	dns_streams_free(a->tcp);
	free(a);
}

static size_t alen(int family)
{
	return family == AF_INET ? 4 : 16;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	return rest == 0 || ((a[bytes] ^ b[bytes]) & (0xff00 >> rest)) == 0;
}

static bool same_dest(const struct dest *x, const struct dest *y)
{
	return x->family == y->family && x->port == y->port &&
	       memcmp(x->addr, y->addr, alen(x->family)) == 0;
}

/* ---------------------------------------------------------------- the one judge */

static bool dest_of(const struct sockaddr *sa, socklen_t len, struct dest *d)
{
	static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};

	memset(d, 0, sizeof(*d));
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		d->family = AF_INET;
		memcpy(d->addr, &in->sin_addr, 4);
		d->port = ntohs(in->sin_port);
		return true;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *a6 = (const uint8_t *)&in6->sin6_addr;

		d->port = ntohs(in6->sin6_port);
		/* ::ffff:127.0.0.1 is the host's 127.0.0.1 to an IPv6 socket */
		if (memcmp(a6, mapped, 12) == 0) {
			d->family = AF_INET;
			memcpy(d->addr, a6 + 12, 4);
		} else {
			d->family = AF_INET6;
			memcpy(d->addr, a6, 16);
		}
		return true;
	}
	return false; /* libslirp has no business with other families (a unix socket) */
}

enum kind { ELSEWHERE, LOOPBACK, NOWHERE };

/*
 * What a real destination is to the host. LOOPBACK: the host itself, where local services
 * trust whoever connects (127/8, ::1, and the unspecified address, which connect() takes for
 * the local host). NOWHERE: no destination a sandbox may have on the host: multicast and
 * broadcast (a datagram to the whole LAN), IPv6 link-local (the host's own links), and slirp's
 * own virtual networks, which libslirp left untranslated (10.0.2.255, any fd00::/64 address it
 * did not map): on the host they are somebody else's network.
 */
static enum kind kind_of(const struct dest *d)
{
	const uint8_t *a = d->addr;

	if (d->family == AF_INET) {
		if (a[0] == 127 || a[0] == 0)
			return LOOPBACK;
		if (a[0] >= 224 || prefix_match(a, SLIRP_NET4, 24))
			return NOWHERE;
		return ELSEWHERE;
	}
	if (memcmp(a, in6addr_loopback.s6_addr, 16) == 0 || memcmp(a, in6addr_any.s6_addr, 16) == 0)
		return LOOPBACK;
	if (a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||
	    prefix_match(a, SLIRP_NET6, 64))
		return NOWHERE;
	return ELSEWHERE;
}

/* A rule with a port matches TCP and UDP to that port only; one without matches everything. */
static bool port_ok(uint16_t rule_port, int proto, uint16_t port)
{
	return rule_port == 0 ||
	       ((proto == IPPROTO_TCP || proto == IPPROTO_UDP) && port == rule_port);
}

/* d as the sandbox names it in --allow-net rules: the host's loopback is the gateway. */
static bool listed(const struct allow *a, int fd, struct dest d)
{
	int proto = 0;
	socklen_t sl = sizeof(proto);

	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &sl) < 0)
		return false;
	if (kind_of(&d) == LOOPBACK)
		memcpy(d.addr, d.family == AF_INET ? SLIRP_HOST4 : SLIRP_HOST6, alen(d.family));
	for (size_t i = 0; i < a->p->n_allow; i++) {
		const struct allow_rule *r = &a->p->allow[i];

		if (!r->host && r->family == d.family && prefix_match(r->addr, d.addr, r->prefix) &&
		    port_ok(r->port, proto, d.port))
			return true;
	}
	for (size_t i = 0; i < a->n; i++) {
		const struct dest *l = &a->learned[i].d;

		if (l->family == d.family && memcmp(l->addr, d.addr, alen(d.family)) == 0 &&
		    port_ok(l->port, proto, d.port))
			return true;
	}
	return false;
}

static bool is_listener(const struct allow *a, int fd)
{
	for (size_t i = 0; i < a->n_listeners; i++)
		if (a->listeners[i] == fd)
			return true;
	return false;
}

/* An answer from a published UDP port to a host peer that wrote to it: the host started that
 * conversation. (TCP needs no such rule: libslirp accepts a published connection, it does not
 * connect one, and a segment from the published port on any other connection is a new socket
 * and a connect() judged like every other.) */
static bool published_reply(const struct allow *a, int fd, const struct dest *d)
{
	for (unsigned i = 0; i < PEERS; i++)
		if (a->peers[i].fd == fd && same_dest(&a->peers[i].d, d))
			return true;
	return false;
}

static uint16_t dns_port(const struct plan *p)
{
	if (p->dns.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&p->dns)->sin_port);
	if (p->dns.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&p->dns)->sin6_port);
	return 53;
}

static bool judge(const struct allow *a, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct dest d;

	if (!dest_of(sa, len, &d))
		return false;
	/* A question to slirp's DNS that allow_frame() let through, on its way to the resolver
	 * (libslirp's from /etc/resolv.conf, or --dns): hutch, not the sandbox, chose where. */
	if (a->dns_frame && d.port == dns_port(a->p))
		return true;
	if (published_reply(a, fd, &d))
		return true;
	switch (kind_of(&d)) {
	case NOWHERE:
		return false;
	case LOOPBACK:
		/* libslirp turns the gateway (and 255.255.255.255, and fd00::/64) into the host's
		 * 127.0.0.1 and ::1: closed unless asked for */
		if (!a->p->allow_host_loopback)
			return false;
		break;
	case ELSEWHERE:
		break;
	}
	return a->p->n_allow == 0 || listed(a, fd, d);
}

bool allow_host_socket(struct allow *a, int fd, const struct sockaddr *sa, socklen_t len)
{
	bool ok = judge(a, fd, sa, len);

	if (!ok && a->in_frame)
		a->refused = true;
	return ok;
}

void allow_note_listener(struct allow *a, int fd)
{
	int type = 0;
	socklen_t sl = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) == 0 && type == SOCK_DGRAM &&
	    a->n_listeners < a->p->n_publish)
		a->listeners[a->n_listeners++] = fd;
}

void allow_note_peer(struct allow *a, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct peer p = {.fd = fd};

	if (!is_listener(a, fd) || !dest_of(sa, len, &p.d) || published_reply(a, fd, &p.d))
		return; /* not a published port's, or known already */
	a->peers[a->next_peer++ % PEERS] = p;
}

/* ---------------------------------------------------------------- DNS questions */

static bool is_dns(const struct frame *f)
{
	return (f->proto == IPPROTO_UDP || f->proto == IPPROTO_TCP) && f->dport == 53 &&
	       memcmp(f->dst, f->family == AF_INET ? SLIRP_DNS4 : SLIRP_DNS6, alen(f->family)) == 0;
}

/* The name of a DNS message's one question, lowercase without the final dot; false if none. */
static bool dns_question(const uint8_t *m, size_t len, ns_msg *msg, char *name, size_t n)
{
	ns_rr rr;
	size_t l;

	if (len == 0 || len > NS_MAXMSG || ns_initparse(m, (int)len, msg) < 0 ||
	    ns_msg_count(*msg, ns_s_qd) != 1 || ns_parserr(msg, ns_s_qd, 0, &rr) < 0)
		return false;
	snprintf(name, n, "%s", ns_rr_name(rr));
	l = strlen(name);
	if (l && name[l - 1] == '.')
		name[l - 1] = 0;
	return true;
}

/* The DNS message a UDP frame carries. */
static bool udp_message(const struct frame *f, const uint8_t **m, size_t *len)
{
	if (f->proto != IPPROTO_UDP || f->l4_len <= 8)
		return false;
	*m = f->l4 + 8;
	*len = f->l4_len - 8;
	return true;
}

static const struct allow_rule *host_rule(const struct plan *p, const char *name, size_t from)
{
	for (size_t i = from; i < p->n_allow; i++)
		if (p->allow[i].host && strcasecmp(p->allow[i].host, name) == 0)
			return &p->allow[i];
	return NULL;
}

/* With any --allow-net rule, the sandbox may only ask the DNS about the names that hostname
 * rules list: otherwise the host's resolvers would carry whatever it encodes into the names it
 * asks about (DNS tunnelling), allowlist or not. Over TCP every message of the stream is judged
 * whole, before the segment that completes it goes on. */
static bool question_ok(void *ctx, const uint8_t *m, size_t len)
{
	const struct allow *a = ctx;
	char name[NS_MAXDNAME];
	ns_msg msg;

	return dns_question(m, len, &msg, name, sizeof(name)) && host_rule(a->p, name, 0);
}

bool allow_frame(struct allow *a, const struct frame *f)
{
	const uint8_t *m;
	size_t len;
	bool ok = true;

	a->cut = -1;
	a->in_frame = true;
	a->dns_frame = a->refused = false;
	if (f->family == 0 || !is_dns(f))
		return true;
	if (a->p->n_allow && f->proto == IPPROTO_TCP)
		ok = dns_streams_segment(a->tcp, f, true, question_ok, a, &a->cut);
	else if (a->p->n_allow)
		ok = udp_message(f, &m, &len) && question_ok(a, m, len);
	a->dns_frame = ok;
	return ok;
}

bool allow_frame_end(struct allow *a)
{
	bool refused = a->refused;

	a->in_frame = a->dns_frame = a->refused = false;
	return refused;
}

/* Where the question of a DNS message ends (its name and type and class), or 0. */
static size_t question_end(const uint8_t *m, size_t len)
{
	size_t i = NS_HFIXEDSZ;

	while (i < len && m[i]) {
		if ((m[i] & 0xc0) == 0xc0) {
			i++; /* a pointer ends the name */
			break;
		}
		if (m[i] > 63)
			return 0;
		i += 1 + (size_t)m[i];
	}
	i += 1 + NS_QFIXEDSZ;
	return i <= len ? i : 0;
}

size_t allow_refusal(const struct allow *a, const struct frame *f, uint8_t *out, size_t cap)
{
	uint8_t answer[NS_HFIXEDSZ + NS_MAXCDNAME + NS_QFIXEDSZ];
	const uint8_t *m;
	size_t len, q;

	/* a refused question gets REFUSED from slirp's DNS at once: the resolver stops there */
	if (is_dns(f) && udp_message(f, &m, &len) && len >= NS_HFIXEDSZ &&
	    (q = question_end(m, len)) && q <= sizeof(answer)) {
		memcpy(answer, m, q);
		answer[2] = (uint8_t)(0x80 | (m[2] & 0x79)); /* a response: opcode and RD kept */
		answer[3] = 0x80 | ns_r_refused;
		memcpy(answer + 4, "\0\1\0\0\0\0\0\0", 8); /* the question, no records */
		return frame_udp_reply(f, answer, q, out, cap);
	}
	return frame_refusal(f, out, cap);
}

bool allow_cut(const struct allow *a, uint32_t *seq)
{
	if (a->cut < 0)
		return false;
	*seq = (uint32_t)a->cut;
	return true;
}

/* ---------------------------------------------------------------- DNS answers */

static void learn(struct allow *a, int family, const uint8_t *addr, uint16_t port)
{
	struct learned l = {.d = {.family = family, .port = port}};

	memcpy(l.d.addr, addr, alen(family));
	for (size_t i = 0; i < a->n; i++)
		if (same_dest(&a->learned[i].d, &l.d))
			return;
	if (a->n == MAX_LEARNED)
		return;
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->learned = xreallocarray(a->learned, a->cap, sizeof(*a->learned));
	}
	a->learned[a->n++] = l;
}

/* The names an answer's records may belong to: the question's, and each CNAME's target from a
 * name already in the chain. An answer lists CNAMEs in order, but nothing makes a resolver
 * keep that order, so the chain is followed until it grows no more (bounded). */
#define CHAIN 16

/* a and b are the same name, in any case, with or without the final dot */
static bool same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	la -= la > 1 && a[la - 1] == '.';
	lb -= lb > 1 && b[lb - 1] == '.';
	return la == lb && strncasecmp(a, b, la) == 0;
}

static bool in_chain(char chain[][NS_MAXDNAME], size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (same_name(chain[i], name))
			return true;
	return false;
}

static size_t follow_cnames(ns_msg *msg, char chain[][NS_MAXDNAME], size_t n)
{
	bool grew = true;
	ns_rr rr;

	while (grew && n < CHAIN) {
		grew = false;
		for (int k = 0; k < ns_msg_count(*msg, ns_s_an) && n < CHAIN; k++) {
			if (ns_parserr(msg, ns_s_an, k, &rr) < 0)
				return n;
			if (ns_rr_type(rr) != ns_t_cname || !in_chain(chain, n, ns_rr_name(rr)) ||
			    ns_name_uncompress(ns_msg_base(*msg), ns_msg_end(*msg), ns_rr_rdata(rr),
					       chain[n], NS_MAXDNAME) < 0 ||
			    in_chain(chain, n, chain[n]))
				continue;
			n++;
			grew = true;
		}
	}
	return n;
}

/* One DNS answer: when its question is a hostname rule's name, learn the addresses of the
 * records that belong to that name or to a CNAME chain from it, and nothing else: an answer
 * may carry records for any name it likes (a hostile resolver, or the sandbox's own server
 * behind --dns), and those must not open anything. */
static bool snoop_message(void *ctx, const uint8_t *m, size_t len)
{
	struct allow *a = ctx;
	char chain[CHAIN][NS_MAXDNAME];
	const struct allow_rule *r;
	size_t n;
	ns_msg msg;
	ns_rr rr;

	if (!dns_question(m, len, &msg, chain[0], sizeof(chain[0])) ||
	    !host_rule(a->p, chain[0], 0))
		return true;
	n = follow_cnames(&msg, chain, 1);
	for (int k = 0; k < ns_msg_count(msg, ns_s_an); k++) {
		if (ns_parserr(&msg, ns_s_an, k, &rr) < 0)
			break;
		if (!in_chain(chain, n, ns_rr_name(rr)))
			continue;
		/* every rule of that name: each may carry its own port */
		for (r = host_rule(a->p, chain[0], 0); r;
		     r = host_rule(a->p, chain[0], (size_t)(r - a->p->allow) + 1)) {
			if (ns_rr_type(rr) == ns_t_a && ns_rr_rdlen(rr) == 4)
				learn(a, AF_INET, ns_rr_rdata(rr), r->port);
			else if (ns_rr_type(rr) == ns_t_aaaa && ns_rr_rdlen(rr) == 16)
				learn(a, AF_INET6, ns_rr_rdata(rr), r->port);
		}
	}
	return true;
}

static bool has_host_rules(const struct plan *p)
{
	for (size_t i = 0; i < p->n_allow; i++)
		if (p->allow[i].host)
			return true;
	return false;
}

void allow_snoop_dns(struct allow *a, const struct frame *f)
{
	const uint8_t *m;
	size_t len;

	if (!has_host_rules(a->p))
		return;
	if (f->proto == IPPROTO_TCP)
		dns_streams_segment(a->tcp, f, false, snoop_message, a, NULL);
	else if (udp_message(f, &m, &len))
		snoop_message(a, m, len);
}
