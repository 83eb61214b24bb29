/* Ethernet frames between the tap and libslirp: just enough parsing to filter them by address
 * and port, and to answer a refused one (a TCP reset, an ICMP unreachable) so programs fail at
 * once instead of waiting for a timeout. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct frame {
	uint8_t *eth; /* the whole frame */
	size_t len;
	int family; /* AF_INET, AF_INET6, or 0 (ARP and anything else) */
	uint8_t *ip;
	size_t ip_len; /* header and payload, as the IP header says */
	uint8_t proto; /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP(V6)... */
	uint8_t *l4;
	size_t l4_len;
	uint8_t src[16], dst[16]; /* addresses (4 or 16 bytes used) */
	uint16_t sport, dport;	  /* host order; 0 when the protocol has none */
};

/* Fill f from a frame; false when it is too short or malformed to be an IP packet. */
bool frame_parse(struct frame *f, uint8_t *buf, size_t len);
/* Recompute the IP (v4) and TCP/UDP checksums after the addresses or ports were changed. */
void frame_fix_checksums(struct frame *f);
/* Set the source or destination address and port of a parsed UDP or TCP frame. */
void frame_set_src(struct frame *f, const uint8_t *addr, uint16_t port);
void frame_set_dst(struct frame *f, const uint8_t *addr, uint16_t port);
/* Build into out (at least 1600 bytes) the answer that refuses f: a TCP reset for TCP, an ICMP
 * "administratively prohibited" for anything else. Returns its length, 0 for none. */
size_t frame_refusal(const struct frame *f, uint8_t *out, size_t cap);
/* Build into out a UDP datagram that answers f (addresses and ports swapped) with payload.
 * Returns its length, 0 when it does not fit in cap. */
size_t frame_udp_reply(const struct frame *f, const uint8_t *payload, size_t n, uint8_t *out,
		       size_t cap);
/* Build into out a TCP reset that goes where the TCP segment f went, at sequence number seq:
 * it ends f's connection on the far side. Returns its length. */
size_t frame_reset_onward(const struct frame *f, uint32_t seq, uint8_t *out);
