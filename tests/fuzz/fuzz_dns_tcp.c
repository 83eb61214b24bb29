/* DNS over TCP as the monitor follows it (src/dnstcp.c): the sandbox's questions and the
 * answers coming back, segment by segment, on several connections at once. The input is a
 * list of segments, each:
 *
 *   byte 0   bit 0: the sandbox's (to the DNS) or the DNS's; bit 1: IPv6; bits 2-3: which of
 *            four connections (source ports); bit 4: the sequence number is the one the
 *            harness expects next plus byte 1 (signed), else bytes 1-4 as they are
 *   byte 1-4 the sequence number (or the delta in byte 1)
 *   byte 5   TCP flags
 *   byte 6   the TCP header's length in words (its high nibble: data offset), taken as is
 *   byte 7   the payload's length N, then N bytes of payload
 *
 * Each segment is made into a real Ethernet frame and parsed by frame_parse first, so the
 * stream code sees exactly what the monitor gives it. */
#include <assert.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dnstcp.h"
#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every message a stream completes: its bytes are all read (so a short buffer is caught), and
 * one that starts with 0xff is refused, as a question about a name not allowed would be. */
static bool message(void *ctx, const uint8_t *msg, size_t len)
{
	unsigned *acc = ctx;

	for (size_t i = 0; i < len; i++)
		*acc += msg[i];
	return !(len && msg[0] == 0xff);
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

/* Ethernet, IPv4 or IPv6, TCP: the sandbox (10.0.2.15, fd00::15) and slirp's DNS. */
static size_t build(uint8_t *out, bool v6, bool to_dns, uint16_t port, uint32_t seq, uint8_t flags,
		    uint8_t doff, const uint8_t *payload, size_t n)
{
	static const uint8_t me4[4] = {10, 0, 2, 15}, dns4[4] = {10, 0, 2, 3};
	static const uint8_t me6[16] = {0xfd, [15] = 0x15}, dns6[16] = {0xfd, [15] = 3};
	size_t ipl = v6 ? 40 : 20, tcpl = 20;
	uint8_t *ip = out + 14, *t;

	memset(out, 0, 14 + ipl + tcpl);
	put16(out + 12, v6 ? 0x86dd : 0x0800);
	if (v6) {
		ip[0] = 0x60;
		put16(ip + 4, (uint32_t)(tcpl + n));
		ip[6] = IPPROTO_TCP;
		memcpy(ip + 8, to_dns ? me6 : dns6, 16);
		memcpy(ip + 24, to_dns ? dns6 : me6, 16);
	} else {
		ip[0] = 0x45;
		put16(ip + 2, (uint32_t)(ipl + tcpl + n));
		ip[9] = IPPROTO_TCP;
		memcpy(ip + 12, to_dns ? me4 : dns4, 4);
		memcpy(ip + 16, to_dns ? dns4 : me4, 4);
	}
	t = ip + ipl;
	put16(t, to_dns ? port : 53);
	put16(t + 2, to_dns ? 53 : port);
	put32(t + 4, seq);
	t[12] = doff;
	t[13] = flags;
	memcpy(t + tcpl, payload, n);
	return 14 + ipl + tcpl + n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_streams *s = dns_streams_new();
	uint32_t next[2][4] = {{0}}; /* [to_dns][connection]: what the harness expects next */
	uint8_t *frame = malloc(14 + 40 + 20 + 255);
	unsigned acc = 0;

	while (size >= 8) {
		uint8_t ctl = data[0], flags = data[5], doff = data[6];
		bool to_dns = ctl & 1, v6 = ctl & 2;
		unsigned c = (ctl >> 2) & 3;
		uint32_t seq = ctl & 16 ? next[to_dns][c] + (uint32_t)(int8_t)data[1]
					: (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 |
					      (uint32_t)data[3] << 8 | data[4];
		size_t n = data[7] < size - 8 ? data[7] : size - 8;
		int64_t cut = -1;
		struct frame f;
		size_t len;

		len =
		    build(frame, v6, to_dns, (uint16_t)(40000 + c), seq, flags, doff, data + 8, n);
		data += 8 + n;
		size -= 8 + n;
		/* exactly the frame's bytes on the heap: a read past its end is caught */
		uint8_t *exact = malloc(len);
		memcpy(exact, frame, len);
		if (frame_parse(&f, exact, len) && f.proto == IPPROTO_TCP)
			if (!dns_streams_segment(s, &f, to_dns, message, &acc, &cut))
				assert(to_dns);
		free(exact);
		next[to_dns][c] = seq + (uint32_t)n + !!(flags & TH_SYN);
	}
	free(frame);
	dns_streams_free(s);
	return 0;
}
