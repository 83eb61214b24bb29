#include "frame.h"

#include <arpa/inet.h>
#include <net/ethernet.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/ip_icmp.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>

#define ETH_HDR 14

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

bool frame_parse(struct frame *f, uint8_t *buf, size_t len)
{
	size_t hl;

	memset(f, 0, sizeof(*f));
	f->eth = buf;
	f->len = len;
	if (len < ETH_HDR)
		return false;
	f->ip = buf + ETH_HDR;
	len -= ETH_HDR;
	switch (get16(buf + 12)) {
	case ETHERTYPE_IP:
		if (len < 20 || f->ip[0] >> 4 != 4)
			return false;
		hl = (size_t)(f->ip[0] & 15) * 4;
		f->ip_len = get16(f->ip + 2);
		if (hl < 20 || f->ip_len < hl || f->ip_len > len)
			return false;
		f->family = AF_INET;
		f->proto = f->ip[9];
		memcpy(f->src, f->ip + 12, 4);
		memcpy(f->dst, f->ip + 16, 4);
		/* a later fragment has no ports: it is judged like a portless protocol */
		if (get16(f->ip + 6) & 0x1fff)
			f->proto = 0;
		break;
	case ETHERTYPE_IPV6:
		if (len < 40 || f->ip[0] >> 4 != 6)
			return false;
		hl = 40;
		f->ip_len = 40 + (size_t)get16(f->ip + 4);
		if (f->ip_len > len)
			return false;
		f->family = AF_INET6;
		f->proto = f->ip[6]; /* extension headers are judged like a portless protocol */
		memcpy(f->src, f->ip + 8, 16);
		memcpy(f->dst, f->ip + 24, 16);
		break;
	default:
		return true; /* ARP and the like: no addresses to judge */
	}
	f->l4 = f->ip + hl;
	f->l4_len = f->ip_len - hl;
	if ((f->proto == IPPROTO_TCP && f->l4_len >= 20) ||
	    (f->proto == IPPROTO_UDP && f->l4_len >= 8)) {
		f->sport = get16(f->l4);
		f->dport = get16(f->l4 + 2);
	} else if (f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP) {
		return false;
	}
	return true;
}

static uint32_t sum(uint32_t acc, const uint8_t *p, size_t n)
{
	for (; n > 1; p += 2, n -= 2)
		acc += get16(p);
	if (n)
		acc += (uint32_t)p[0] << 8;
	return acc;
}

static uint16_t fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)~acc;
}

/* The TCP/UDP/ICMPv6 checksum with the pseudo header of the packet's family. */
static uint16_t l4_checksum(int family, const uint8_t *src, const uint8_t *dst, uint8_t proto,
			    const uint8_t *l4, size_t n)
{
	size_t alen = family == AF_INET ? 4 : 16;
	uint32_t acc = sum(sum(0, src, alen), dst, alen);

	acc += proto + (uint32_t)n;
	return fold(sum(acc, l4, n));
}

void frame_fix_checksums(struct frame *f)
{
	size_t off = f->proto == IPPROTO_TCP ? 16 : 6;
	uint16_t c;

	if (f->family == AF_INET) {
		size_t hl = (size_t)(f->ip[0] & 15) * 4;
		put16(f->ip + 10, 0);
		put16(f->ip + 10, fold(sum(0, f->ip, hl)));
	}
	if (f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP)
		return;
	put16(f->l4 + off, 0);
	c = l4_checksum(f->family, f->src, f->dst, f->proto, f->l4, f->l4_len);
	put16(f->l4 + off, f->proto == IPPROTO_UDP && c == 0 ? 0xffff : c);
}

void frame_set_src(struct frame *f, const uint8_t *addr, uint16_t port)
{
	size_t alen = f->family == AF_INET ? 4 : 16;

	memcpy(f->src, addr, alen);
	memcpy(f->ip + (f->family == AF_INET ? 12 : 8), addr, alen);
	f->sport = port;
	put16(f->l4, port);
}

void frame_set_dst(struct frame *f, const uint8_t *addr, uint16_t port)
{
	size_t alen = f->family == AF_INET ? 4 : 16;

	memcpy(f->dst, addr, alen);
	memcpy(f->ip + (f->family == AF_INET ? 16 : 24), addr, alen);
	f->dport = port;
	put16(f->l4 + 2, port);
}

/* Ethernet and IP headers of an answer to f (addresses swapped), or of one more packet like f
 * (onward); returns the L4 offset. */
static size_t headers(const struct frame *f, bool onward, uint8_t *out, uint8_t proto,
		      size_t l4_len)
{
	const uint8_t *src = onward ? f->src : f->dst, *dst = onward ? f->dst : f->src;

	memcpy(out, f->eth + (onward ? 0 : 6), 6);
	memcpy(out + 6, f->eth + (onward ? 6 : 0), 6);
	memcpy(out + 12, f->eth + 12, 2);
	out += ETH_HDR;
	if (f->family == AF_INET) {
		memset(out, 0, 20);
		out[0] = 0x45;
		put16(out + 2, (uint16_t)(20 + l4_len));
		out[8] = 64;
		out[9] = proto;
		memcpy(out + 12, src, 4);
		memcpy(out + 16, dst, 4);
		put16(out + 10, fold(sum(0, out, 20)));
		return ETH_HDR + 20;
	}
	memset(out, 0, 40);
	out[0] = 0x60;
	put16(out + 4, (uint16_t)l4_len);
	out[6] = proto;
	out[7] = 64;
	memcpy(out + 8, src, 16);
	memcpy(out + 24, dst, 16);
	return ETH_HDR + 40;
}

static size_t tcp_reset(const struct frame *f, uint8_t *out)
{
	const uint8_t *t = f->l4;
	size_t thl = (size_t)(t[12] >> 4) * 4;
	size_t off = headers(f, false, out, IPPROTO_TCP, 20);
	uint8_t *r = out + off;
	uint32_t seq = (uint32_t)get16(t + 4) << 16 | get16(t + 6);
	uint32_t ack = (uint32_t)get16(t + 8) << 16 | get16(t + 10);

	if (t[13] & TH_RST)
		return 0; /* never answer a reset with a reset */
	memset(r, 0, 20);
	put16(r, f->dport);
	put16(r + 2, f->sport);
	r[12] = 5 << 4;
	if (t[13] & TH_ACK) {
		r[13] = TH_RST;
		put16(r + 4, (uint16_t)(ack >> 16));
		put16(r + 6, (uint16_t)ack);
	} else {
		/* RFC 9293: acknowledge everything the refused segment carried */
		size_t data = f->l4_len > thl ? f->l4_len - thl : 0;
		ack = seq + (uint32_t)data + !!(t[13] & TH_SYN) + !!(t[13] & TH_FIN);
		r[13] = TH_RST | TH_ACK;
		put16(r + 8, (uint16_t)(ack >> 16));
		put16(r + 10, (uint16_t)ack);
	}
	put16(r + 16, l4_checksum(f->family, f->dst, f->src, IPPROTO_TCP, r, 20));
	return off + 20;
}

static size_t icmp_prohibited(const struct frame *f, uint8_t *out, size_t cap)
{
	bool v4 = f->family == AF_INET;
	size_t hl = v4 ? (size_t)(f->ip[0] & 15) * 4 : 40;
	/* RFC 792: the header and 8 bytes; RFC 4443: as much as fits in the minimum MTU */
	size_t quote = v4 ? hl + 8 : 1280 - 40 - 8;
	size_t off, n;
	uint8_t *m;

	if (quote > f->ip_len)
		quote = f->ip_len;
	n = 8 + quote;
	if (ETH_HDR + 40 + n > cap)
		return 0;
	off = headers(f, false, out, v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, n);
	m = out + off;
	memset(m, 0, 8);
	m[0] = v4 ? ICMP_DEST_UNREACH : ICMP6_DST_UNREACH;
	m[1] = v4 ? ICMP_PKT_FILTERED : ICMP6_DST_UNREACH_ADMIN;
	memcpy(m + 8, f->ip, quote);
	put16(m + 2, v4 ? fold(sum(0, m, n))
			: l4_checksum(AF_INET6, f->dst, f->src, IPPROTO_ICMPV6, m, n));
	return off + n;
}

size_t frame_refusal(const struct frame *f, uint8_t *out, size_t cap)
{
	if (f->family == 0)
		return 0;
	/* never answer an ICMP error with one (RFC 1122) */
	if ((f->proto == IPPROTO_ICMP && f->l4_len && f->l4[0] != ICMP_ECHO) ||
	    (f->proto == IPPROTO_ICMPV6 && f->l4_len && f->l4[0] < 128))
		return 0;
	if (f->proto == IPPROTO_TCP)
		return tcp_reset(f, out);
	return icmp_prohibited(f, out, cap);
}

size_t frame_udp_reply(const struct frame *f, const uint8_t *payload, size_t n, uint8_t *out,
		       size_t cap)
{
	size_t off;
	uint8_t *u;

	/* the IPv4 header counts in its total length: a larger payload would wrap it */
	if (f->family == 0 || ETH_HDR + 40 + 8 + n > cap ||
	    (f->family == AF_INET ? 20 : 0) + 8 + n > 0xffff)
		return 0;
	off = headers(f, false, out, IPPROTO_UDP, 8 + n);
	u = out + off;
	put16(u, f->dport);
	put16(u + 2, f->sport);
	put16(u + 4, (uint16_t)(8 + n));
	put16(u + 6, 0);
	memcpy(u + 8, payload, n);
	put16(u + 6, l4_checksum(f->family, f->dst, f->src, IPPROTO_UDP, u, 8 + n));
	if (get16(u + 6) == 0)
		put16(u + 6, 0xffff);
	return off + 8 + n;
}

size_t frame_reset_onward(const struct frame *f, uint32_t seq, uint8_t *out)
{
	size_t off = headers(f, true, out, IPPROTO_TCP, 20);
	uint8_t *r = out + off;

	memset(r, 0, 20);
	put16(r, f->sport);
	put16(r + 2, f->dport);
	put16(r + 4, (uint16_t)(seq >> 16));
	put16(r + 6, (uint16_t)seq);
	memcpy(r + 8, f->l4 + 8, 4); /* f's acknowledgement */
	r[12] = 5 << 4;
	r[13] = TH_RST | TH_ACK;
	put16(r + 16, l4_checksum(f->family, f->src, f->dst, IPPROTO_TCP, r, 20));
	return off + 20;
}
