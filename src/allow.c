#include "allow.h"

#include <arpa/nameser.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "dnstcp.h"
#include "slirp.h"
#include "util.h"

/* A hostname rule's name resolved through the sandbox's DNS: its address, with the rule's port. */
struct learned {
	int family;
	uint8_t addr[16];
	uint16_t port;
};

/* Enough for any real build's mirrors; a sandbox that resolves more cannot grow our memory. */
#define MAX_LEARNED 4096

struct allow {
	const struct plan *p;
	struct learned *learned;
	size_t n, cap;
	struct dns_streams *tcp; /* DNS over TCP, with hostname rules */
	int64_t cut;		 /* see allow_cut() */
};

struct allow *allow_new(const struct plan *p)
{
	struct allow *a = xcalloc(1, sizeof(*a));

	a->p = p;
	a->tcp = dns_streams_new();
	a->cut = -1;
	return a;
}

void allow_free(struct allow *a)
{
	if (!a)
		return;
	free(a->learned);
	dns_streams_free(a->tcp);
	free(a);
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	return rest == 0 || ((a[bytes] ^ b[bytes]) & (0xff00 >> rest)) == 0;
}

/* A rule with a port matches TCP and UDP to that port only; one without matches everything. */
static bool port_ok(uint16_t rule_port, const struct frame *f)
{
	return rule_port == 0 ||
	       ((f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP) && f->dport == rule_port);
}

static bool listed(const struct allow *a, const struct frame *f)
{
	for (size_t i = 0; i < a->p->n_allow; i++) {
		const struct allow_rule *r = &a->p->allow[i];

		if (!r->host && r->family == f->family &&
		    prefix_match(r->addr, f->dst, r->prefix) && port_ok(r->port, f))
			return true;
	}
	for (size_t i = 0; i < a->n; i++) {
		const struct learned *l = &a->learned[i];

		if (l->family == f->family &&
		    memcmp(l->addr, f->dst, f->family == AF_INET ? 4 : 16) == 0 &&
		    port_ok(l->port, f))
			return true;
	}
	return false;
}

/* An answer from a port the sandbox published: the host started that conversation. */
static bool published_reply(const struct plan *p, const struct frame *f)
{
	for (size_t i = 0; i < p->n_publish; i++)
		if (f->sport == p->publish[i].port &&
		    f->proto == (p->publish[i].udp ? IPPROTO_UDP : IPPROTO_TCP))
			return true;
	return false;
}

/* Traffic that stays inside slirp's virtual network (its DNS, broadcasts, neighbour
 * discovery) never reaches a host socket, except through the gateway 10.0.2.2 / fd00::2. */
static bool virtual_only(const struct frame *f)
{
	if (f->family == AF_INET)
		return prefix_match(f->dst, SLIRP_NET4, 24) && memcmp(f->dst, SLIRP_HOST4, 4);
	if (f->proto == IPPROTO_ICMPV6 || f->dst[0] == 0xff ||
	    (f->dst[0] == 0xfe && (f->dst[1] & 0xc0) == 0x80))
		return true; /* neighbour discovery, multicast, link-local */
	return prefix_match(f->dst, SLIRP_NET6, 64) && memcmp(f->dst, SLIRP_HOST6, 16);
}

static bool host_loopback(const struct frame *f)
{
	return memcmp(f->dst, f->family == AF_INET ? SLIRP_HOST4 : SLIRP_HOST6,
		      f->family == AF_INET ? 4 : 16) == 0;
}

static bool has_host_rules(const struct plan *p)
{
	for (size_t i = 0; i < p->n_allow; i++)
		if (p->allow[i].host)
			return true;
	return false;
}

static bool is_dns(const struct frame *f)
{
	return (f->proto == IPPROTO_UDP || f->proto == IPPROTO_TCP) && f->dport == 53 &&
	       memcmp(f->dst, f->family == AF_INET ? SLIRP_DNS4 : SLIRP_DNS6,
		      f->family == AF_INET ? 4 : 16) == 0;
}

/* The one question of a DNS message, lowercase without the final dot; false if none. */
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

static bool host_listed(const struct plan *p, const char *name)
{
	for (size_t i = 0; i < p->n_allow; i++)
		if (p->allow[i].host && strcasecmp(p->allow[i].host, name) == 0)
			return true;
	return false;
}

/* With hostname rules, the sandbox may only ask the DNS about those names: otherwise the
 * host's resolvers would carry whatever it encodes into the names it asks about (DNS
 * tunnelling), allowlist or not. Over TCP every message of the stream is judged whole, before
 * the segment that completes it goes on. */
static bool question_ok(void *ctx, const uint8_t *m, size_t len)
{
	const struct allow *a = ctx;
	char name[NS_MAXDNAME];
	ns_msg msg;

	return dns_question(m, len, &msg, name, sizeof(name)) && host_listed(a->p, name);
}

static bool dns_allowed(struct allow *a, const struct frame *f)
{
	const uint8_t *m;
	size_t len;

	if (f->proto == IPPROTO_TCP)
		return dns_streams_segment(a->tcp, f, true, question_ok, a, &a->cut);
	return udp_message(f, &m, &len) && question_ok(a, m, len);
}

bool allow_frame(struct allow *a, const struct frame *f)
{
	a->cut = -1;
	if (f->family != 0 && is_dns(f) && has_host_rules(a->p))
		return dns_allowed(a, f);
	if (f->family == 0 || virtual_only(f) || published_reply(a->p, f))
		return true;
	/* libslirp turns the gateway into the host's 127.0.0.1 and ::1, where local services
	 * trust whoever connects (databases, X, agents): closed unless asked for. */
	if (host_loopback(f) && !a->p->allow_host_loopback)
		return false;
	return a->p->n_allow == 0 || listed(a, f);
}

bool allow_cut(const struct allow *a, uint32_t *seq)
{
	if (a->cut < 0)
		return false;
	*seq = (uint32_t)a->cut;
	return true;
}

static void learn(struct allow *a, int family, const uint8_t *addr, uint16_t port)
{
	struct learned l = {.family = family, .port = port};

	memcpy(l.addr, addr, family == AF_INET ? 4 : 16);
	for (size_t i = 0; i < a->n; i++)
		if (memcmp(&a->learned[i], &l, sizeof(l)) == 0)
			return;
	if (a->n == MAX_LEARNED)
		return;
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->learned = xreallocarray(a->learned, a->cap, sizeof(*a->learned));
	}
	a->learned[a->n++] = l;
}

/* One DNS answer: learn its addresses when its question is a hostname rule's name. */
static bool snoop_message(void *ctx, const uint8_t *m, size_t len)
{
	struct allow *a = ctx;
	char name[NS_MAXDNAME];
	ns_msg msg;
	ns_rr rr;

	if (!dns_question(m, len, &msg, name, sizeof(name)))
		return true;
	for (size_t i = 0; i < a->p->n_allow; i++) {
		const struct allow_rule *r = &a->p->allow[i];

		if (!r->host || strcasecmp(r->host, name) != 0)
			continue;
		/* every address in the answer: the question's name may lead there by CNAMEs */
		for (int k = 0; k < ns_msg_count(msg, ns_s_an); k++) {
			if (ns_parserr(&msg, ns_s_an, k, &rr) < 0)
				break;
			if (ns_rr_type(rr) == ns_t_a && ns_rr_rdlen(rr) == 4)
				learn(a, AF_INET, ns_rr_rdata(rr), r->port);
			else if (ns_rr_type(rr) == ns_t_aaaa && ns_rr_rdlen(rr) == 16)
				learn(a, AF_INET6, ns_rr_rdata(rr), r->port);
		}
	}
	return true;
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
