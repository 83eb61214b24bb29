/*
 * DNS over TCP (RFC 7766) between the sandbox and slirp's DNS (10.0.2.3, fd00::3), for
 * --allow-net hostname rules: each direction of each connection is followed just far enough to
 * see its messages whole. On TCP a message is a 2-byte length and then the message, several may
 * follow one another on one connection, and any of them may be split across segments (or share
 * one). The questions going out are judged, the answers coming in are read, message by message.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "frame.h"

struct dns_streams;

/* Called with each whole DNS message (without its length); false refuses it. */
typedef bool (*dns_msg_fn)(void *ctx, const uint8_t *msg, size_t len);

struct dns_streams *dns_streams_new(void);
void dns_streams_free(struct dns_streams *s);

/*
 * f: a TCP segment between the sandbox and slirp's DNS; to_dns: it is the sandbox's. Gives fn
 * every message the segment completes. Returns false when the segment must not pass: fn refused
 * a message, or a segment of the sandbox's cannot be followed (data on a connection never seen
 * opening, or after a gap). The connection is then forgotten, and *cut (when not NULL; left
 * alone when unknown) is the sequence number the DNS's side expects next, to reset it there too.
 */
bool dns_streams_segment(struct dns_streams *s, const struct frame *f, bool to_dns, dns_msg_fn fn,
			 void *ctx, int64_t *cut);
