/* The egress policy of --net slirp (src/allow.c): the frames the sandbox sends, judged against
 * --allow-net rules, and the DNS answers on their way in, from which hostname rules learn
 * addresses (glibc's ns_initparse and ns_parserr over bytes the resolver, or whoever answers
 * it, chose). The monitor's order is kept: a DNS answer is read before the sandbox sees it, a
 * frame of the sandbox's is judged, and a refused one is answered and its stream cut, as in
 * src/slirp.c. The input: one byte of settings (bit 0: --allow-host-loopback), then records:
 *
 *   byte 0    bits 0-1: 0 a frame from the sandbox, 1 a frame into it, 2 a DNS answer (the
 *             payload of a UDP datagram from 10.0.2.3:53), 3 a DNS question (to it);
 *             bit 2: IPv6 for kinds 2 and 3
 *   byte 1-2  the length N, then N bytes: the whole frame (0, 1) or the DNS message (2, 3)
 */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "allow.h"
#include "errors.h"
#include "frame.h"
#include "options.h"
#include "plan.h"
#include "slirp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Ethernet, IP and UDP around a DNS message, between the sandbox and slirp's DNS. */
static size_t udp_frame(uint8_t *out, bool v6, bool answer, const uint8_t *msg, size_t n)
{
	size_t ipl = v6 ? 40 : 20;
	uint8_t *ip = out + 14, *u = ip + ipl;
	const uint8_t *dns = v6 ? SLIRP_DNS6 : SLIRP_DNS4, *me = v6 ? SLIRP_GUEST6 : SLIRP_GUEST4;
	size_t alen = v6 ? 16 : 4;

	memset(out, 0, 14 + ipl + 8);
	put16(out + 12, v6 ? 0x86dd : 0x0800);
	if (v6) {
		ip[0] = 0x60;
		put16(ip + 4, 8 + n);
		ip[6] = IPPROTO_UDP;
	} else {
		ip[0] = 0x45;
		put16(ip + 2, ipl + 8 + n);
		ip[9] = IPPROTO_UDP;
	}
	memcpy(ip + (v6 ? 8 : 12), answer ? dns : me, alen);
	memcpy(ip + (v6 ? 8 : 12) + alen, answer ? me : dns, alen);
	put16(u, answer ? 53 : 33333);
	put16(u + 2, answer ? 33333 : 53);
	put16(u + 4, 8 + n);
	memcpy(u + 8, msg, n);
	return 14 + ipl + 8 + n;
}

/* The plan: hostname rules (their names learn addresses), a network, and a v6 network. */
static void rules(struct plan *p, bool loopback)
{
	static const char *const allow[] = {"example.com:443", "mirror.example.org",
					    "10.9.0.0/16:80", "2001:db8::/32"};
	struct herr e = {0};

	for (size_t i = 0; i < sizeof(allow) / sizeof(allow[0]); i++)
		if (options_apply(p, options_find("allow-net"), allow[i], &e) < 0)
			abort(); /* the harness's own rules must parse */
	p->allow_host_loopback = loopback;
}

static bool is_dns_answer(const struct frame *f)
{
	bool v4 = f->family == AF_INET;

	return (f->proto == IPPROTO_UDP || f->proto == IPPROTO_TCP) && f->sport == 53 &&
	       memcmp(f->src, v4 ? SLIRP_DNS4 : SLIRP_DNS6, v4 ? 4 : 16) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[SLIRP_MTU + 64 + 62]; /* a frame, or a message with its headers */
	struct allow *a;
	struct plan p;

	if (size < 1)
		return -1;
	plan_init(&p);
	rules(&p, data[0] & 1);
	a = allow_new(&p);
	for (data++, size--; size >= 3;) {
		unsigned kind = data[0] & 3;
		size_t n = (size_t)data[1] << 8 | data[2], len;
		uint8_t *buf;
		struct frame f;
		uint32_t seq;

		n = n < size - 3 ? n : size - 3;
		if (kind < 2) {
			memcpy(out, data + 3, n);
			len = n;
		} else {
			len = udp_frame(out, data[0] & 4, kind == 2, data + 3, n);
		}
		/* exactly the frame's bytes on the heap: a read past its end is caught */
		buf = malloc(len ? len : 1);
		memcpy(buf, out, len);
		data += 3 + n;
		size -= 3 + n;
		if (frame_parse(&f, buf, len)) {
			if (kind == 1 || kind == 2) {
				if (f.family && is_dns_answer(&f))
					allow_snoop_dns(a, &f);
			} else if (!allow_frame(a, &f)) {
				frame_refusal(&f, out, sizeof(out));
				if (allow_cut(a, &seq))
					frame_reset_onward(&f, seq, out);
			}
		}
		free(buf);
	}
	allow_free(a);
	plan_free(&p);
	return 0;
}
