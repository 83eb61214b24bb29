#include "dnstcp.h"

#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "util.h"

/* One direction of a connection: the next sequence number, and the message being gathered. */
struct half {
	bool synced; /* its SYN was seen: next is known */
	uint32_t next;
	uint8_t *buf; /* the length, then the message so far */
	size_t len, cap;
};

struct conn {
	bool used;
	int family;
	uint8_t addr[16]; /* the sandbox's end */
	uint16_t port;
	uint64_t last;	  /* for reusing the oldest slot */
	struct half q, a; /* questions (the sandbox's), answers (the DNS's) */
};

/* A resolver keeps one or two connections open; a sandbox that opens more than this at once
 * loses the oldest (its next segment is refused), and cannot grow our memory. */
#define CONNS 16

struct dns_streams {
	struct conn c[CONNS];
	uint64_t clock;
};

struct dns_streams *dns_streams_new(void)
{
	return xcalloc(1, sizeof(struct dns_streams));
}

static void forget(struct conn *c)
{
	free(c->q.buf);
	free(c->a.buf);
	memset(c, 0, sizeof(*c));
}

void dns_streams_free(struct dns_streams *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < CONNS; i++)
		forget(&s->c[i]);
	free(s);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static struct conn *find(struct dns_streams *s, int family, const uint8_t *addr, uint16_t port)
{
	size_t alen = family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < CONNS; i++)
		if (s->c[i].used && s->c[i].family == family && s->c[i].port == port &&
		    memcmp(s->c[i].addr, addr, alen) == 0)
			return &s->c[i];
	return NULL;
}

/* A slot for a new connection: its old one (a reused port), a free one, or the oldest. */
static struct conn *open_conn(struct dns_streams *s, int family, const uint8_t *addr, uint16_t port)
{
	struct conn *c = find(s, family, addr, port);

	for (size_t i = 0; !c && i < CONNS; i++)
		if (!s->c[i].used)
			c = &s->c[i];
	if (!c) {
		c = &s->c[0];
		for (size_t i = 1; i < CONNS; i++)
			if (s->c[i].last < c->last)
				c = &s->c[i];
	}
	forget(c);
	c->used = true;
	c->family = family;
	memcpy(c->addr, addr, family == AF_INET ? 4 : 16);
	c->port = port;
	return c;
}

/* A direction's SYN: its stream starts at next, and whatever was gathered before is dropped
 * (a second SYN or SYN-ACK on a connection must not leak the buffer of the first). */
static void restart(struct half *h, uint32_t next)
{
	free(h->buf);
	*h = (struct half){.synced = true, .next = next};
}

/* The length of the message being gathered (its 2-byte prefix is in). */
static size_t msg_len(const struct half *h)
{
	return (size_t)h->buf[0] << 8 | h->buf[1];
}

/* Feed n new bytes of one direction; false when fn refused a message it completed. */
static bool feed(struct half *h, const uint8_t *p, size_t n, dns_msg_fn fn, void *ctx)
{
	while (n) {
		size_t want = h->len < 2 ? 2 : 2 + msg_len(h);
		size_t take = want - h->len < n ? want - h->len : n;

		if (h->cap < want) {
			h->buf = xreallocarray(h->buf, want, 1);
			h->cap = want;
		}
		memcpy(h->buf + h->len, p, take);
		h->len += take;
		p += take;
		n -= take;
		/* whole, an empty message (length 0) included */
		if (h->len >= 2 && h->len == 2 + msg_len(h)) {
			h->len = 0;
			if (!fn(ctx, h->buf + 2, want - 2))
				return false;
		}
	}
	return true;
}

bool dns_streams_segment(struct dns_streams *s, const struct frame *f, bool to_dns, dns_msg_fn fn,
			 void *ctx, int64_t *cut)
{
	const uint8_t *t = f->l4, *addr = to_dns ? f->src : f->dst;
	size_t thl = f->l4_len >= 20 ? (size_t)(t[12] >> 4) * 4 : 0;
	uint16_t port = to_dns ? f->sport : f->dport;
	uint8_t flags;
	uint32_t seq;
	struct conn *c;
	struct half *h;
	size_t dlen;
	int32_t off;

	if (thl < 20 || thl > f->l4_len)
		return !to_dns;
	flags = t[13];
	seq = get32(t + 4);
	dlen = f->l4_len - thl;
	if (to_dns && (flags & (TH_SYN | TH_ACK)) == TH_SYN) {
		c = open_conn(s, f->family, addr, port);
		restart(&c->q, seq + 1);
		c->last = ++s->clock;
		return true;
	}
	c = find(s, f->family, addr, port);
	if (c && (flags & TH_RST)) {
		forget(c);
		return true;
	}
	if (c && !to_dns && (flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK)) {
		restart(&c->a, seq + 1);
		return true;
	}
	if (dlen == 0 || flags & TH_RST)
		return true; /* nothing said: acknowledgements, FINs */
	h = c ? (to_dns ? &c->q : &c->a) : NULL;
	if (!h || !h->synced)
		return !to_dns; /* an answer we cannot follow teaches nothing */
	off = (int32_t)(seq - h->next);
	if (off > 0 && !to_dns) {
		h->synced = false; /* a gap: what came before it was never seen */
		return true;
	}
	if (off > 0) {
		if (cut)
			*cut = h->next;
	} else if ((int64_t)off + (int64_t)dlen <= 0) {
		return true; /* sent again: judged already */
	} else {
		uint32_t before = h->next;

		h->next += (uint32_t)((int64_t)dlen + off);
		c->last = ++s->clock;
		if (feed(h, t + thl - off, (size_t)((int64_t)dlen + off), fn, ctx))
			return true;
		if (cut)
			*cut = before;
	}
	forget(c);
	return !to_dns;
}
