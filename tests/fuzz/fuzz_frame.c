/* Frames from the tap, as the monitor parses them (src/frame.c): whatever the sandbox writes to
 * its tap device reaches frame_parse, and a refused one is answered from its fields. The input
 * is one Ethernet frame. Besides memory errors, the answers the monitor builds (a reset, an ICMP
 * error, a UDP reply) must themselves be frames it can parse, with checksums that verify, and
 * so must the checksums it fixes. */
#include <assert.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "frame.h"
#include "slirp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The monitor reads at most this much from the tap (src/slirp.c). */
#define MAX_FRAME (SLIRP_MTU + 64)

static uint32_t fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return acc;
}

static uint32_t sum(uint32_t acc, const uint8_t *p, size_t n)
{
	for (; n > 1; p += 2, n -= 2)
		acc += (uint32_t)(p[0] << 8 | p[1]);
	if (n)
		acc += (uint32_t)p[0] << 8;
	return acc;
}

/* A TCP or UDP checksum over the pseudo header verifies when everything sums to 0xffff. */
static void check_l4_sum(const struct frame *f)
{
	size_t alen = f->family == AF_INET ? 4 : 16;
	uint32_t acc = sum(sum(0, f->src, alen), f->dst, alen) + f->proto + (uint32_t)f->l4_len;

	assert(fold(sum(acc, f->l4, f->l4_len)) == 0xffff);
}

/* An answer the monitor built: a frame of the same family, its TCP reset or ICMP error. */
static void check_answer(const struct frame *f, uint8_t *out, size_t n)
{
	struct frame r;

	assert(n <= MAX_FRAME);
	assert(frame_parse(&r, out, n));
	assert(r.family == f->family);
	assert(r.ip_len + 14 == n);
	if (r.proto == IPPROTO_TCP || r.proto == IPPROTO_UDP)
		check_l4_sum(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t addr[16] = {10, 0, 2, 3}, big[65535 - 8 - 20 + 32] = {0};
	uint8_t *buf, out[MAX_FRAME];
	struct frame f;
	size_t n;

	if (size > MAX_FRAME)
		return -1;
	/* a heap copy of exactly the frame's length: a read past its end is caught */
	buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	if (frame_parse(&f, buf, size)) {
		assert(f.len == size);
		if (f.family) {
			assert(f.ip_len + 14 <= size);
			assert(f.l4 + f.l4_len == f.ip + f.ip_len);
		}
		n = frame_refusal(&f, out, sizeof(out));
		if (n)
			check_answer(&f, out, n);
		if (f.proto == IPPROTO_TCP) {
			n = frame_reset_onward(&f, 12345, out);
			check_answer(&f, out, n);
		}
		/* a DNS answer of the monitor's own (REFUSED), here the datagram's own payload,
		 * into a buffer that holds it or one that may not */
		if (f.proto == IPPROTO_UDP) {
			n = frame_udp_reply(&f, f.l4 + 8, f.l4_len - 8, out, sizeof(out));
			if (n)
				check_answer(&f, out, n);
			n = frame_udp_reply(&f, f.l4 + 8, f.l4_len - 8, out, size);
			assert(n <= size);
			if (n)
				check_answer(&f, out, n);
			/* and a payload near the largest a datagram holds, for frames whose first
			 * bit is set (the others stay fast) */
			n = buf[0] & 0x80
				? frame_udp_reply(&f, big, sizeof(big) - 32 + (buf[0] & 31), out,
						  sizeof(out))
				: 0;
			if (n)
				check_answer(&f, out, n);
		}
		/* what --dns does to a query and to its answer */
		if (f.proto == IPPROTO_TCP || f.proto == IPPROTO_UDP) {
			frame_set_dst(&f, addr, 5353);
			frame_set_src(&f, addr, 53);
			frame_fix_checksums(&f);
			check_l4_sum(&f);
		}
	}
	free(buf);
	return 0;
}
