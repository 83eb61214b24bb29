/* The egress policy of --net slirp (src/allow.c): the DNS questions the sandbox sends (the only
 * frames refused before libslirp), the answers on their way in, from which hostname rules learn
 * addresses (glibc's ns_initparse and ns_parserr over bytes the resolver, or whoever answers
 * it, chose), and the judge of the host sockets libslirp opens, on the addresses it gives them
 * (src/hostsock.c). src/slirp.c's order is kept: a frame is judged, the host sockets libslirp
 * then uses are judged as the frame's, allow_frame_end closes it, and a refused one is answered
 * (allow_refusal) and its stream cut. The input: one byte of settings (bit 0:
 * --allow-host-loopback; bit 1: --dns 127.0.0.1:5353), then records:
 *
 *   byte 0    bits 0-2: the kind, 0 a frame from the sandbox, 1 a frame into it, 2 a DNS
 *             answer (the payload of a UDP datagram from 10.0.2.3:53), 3 a DNS question (to
 *             it), 4 a host socket's connect or send to an address, 5 bind of a listener,
 *             6 recvfrom an address; bit 3: IPv6 (kinds 2 and 3); bit 4: the host socket is
 *             the TCP one, else the UDP one (kinds 4 to 6)
 *   byte 1-2  the length N, then N bytes: the frame, the DNS message or the sockaddr
 *
 * The two host sockets are made at start and never bound or connected: allow.c only asks them
 * their type. */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "allow.h"
#include "errors.h"
#include "frame.h"
#include "options.h"
#include "plan.h"
#include "slirp.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int udp_fd = -1, tcp_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (udp_fd < 0 || tcp_fd < 0)
		abort();
	return 0;
}

static void put16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Ethernet, IP and UDP around a DNS message, between the sandbox and slirp's DNS. */
static size_t udp_frame(uint8_t *out, bool v6, bool answer, const uint8_t *msg, size_t n)
{
	size_t ipl = v6 ? 40 : 20, alen = v6 ? 16 : 4;
	uint8_t *ip = out + 14, *u = ip + ipl;
	const uint8_t *dns = v6 ? SLIRP_DNS6 : SLIRP_DNS4, *me = v6 ? SLIRP_GUEST6 : SLIRP_GUEST4;

	memset(out, 0, 14 + ipl + 8);
	put16(out + 12, v6 ? 0x86dd : 0x0800);
	ip[0] = v6 ? 0x60 : 0x45;
	put16(ip + (v6 ? 4 : 2), (v6 ? 0 : ipl) + 8 + n);
	ip[v6 ? 6 : 9] = IPPROTO_UDP;
	memcpy(ip + (v6 ? 8 : 12), answer ? dns : me, alen);
	memcpy(ip + (v6 ? 8 : 12) + alen, answer ? me : dns, alen);
	put16(u, answer ? 53 : 33333);
	put16(u + 2, answer ? 33333 : 53);
	put16(u + 4, 8 + n);
	memcpy(u + 8, msg, n);
	return 14 + ipl + 8 + n;
}

/* The plan: hostname rules (their names learn addresses), networks, a published UDP port. */
static void rules(struct plan *p, uint8_t settings)
{
	static const char *const allow[] = {"example.com:443", "mirror.example.org",
					    "10.9.0.0/16:80", "2001:db8::/32"};
	const struct option_def *o = options_find("allow-net");
	struct herr e = {0};

	for (size_t i = 0; i < sizeof(allow) / sizeof(allow[0]); i++)
		if (options_apply(p, o, allow[i], &e) < 0)
			abort(); /* the harness's own settings must parse */
	if (options_apply(p, options_find("publish"), "127.0.0.1:8053:53/udp", &e) < 0 ||
	    ((settings & 2) && options_apply(p, options_find("dns"), "127.0.0.1:5353", &e) < 0))
		abort();
	p->allow_host_loopback = settings & 1;
}

static bool is_dns_answer(const struct frame *f)
{
	bool v4 = f->family == AF_INET;

	return (f->proto == IPPROTO_UDP || f->proto == IPPROTO_TCP) && f->sport == 53 &&
	       memcmp(f->src, v4 ? SLIRP_DNS4 : SLIRP_DNS6, v4 ? 4 : 16) == 0;
}

/* The end of a frame libslirp took: answered when one of its host sockets was refused. */
static void frame_end(struct allow *a, struct frame *open, uint8_t *out, size_t cap)
{
	if (allow_frame_end(a) && open->proto != IPPROTO_TCP)
		allow_refusal(a, open, out, cap);
}

/* A frame of the sandbox's (buf stays alive while *open is its frame). */
static bool from_sandbox(struct allow *a, struct frame *f, uint8_t *out, size_t cap)
{
	uint32_t seq;

	if (allow_frame(a, f))
		return true;
	allow_frame_end(a);
	allow_refusal(a, f, out, cap);
	if (allow_cut(a, &seq) && f->proto == IPPROTO_TCP)
		frame_reset_onward(f, seq, out);
	return false;
}

static void host_socket(struct allow *a, unsigned kind, int fd, const uint8_t *p, size_t n)
{
	/* exactly the address's bytes: libslirp passes its length, at least the family */
	struct sockaddr *sa = malloc(n);

	memcpy(sa, p, n);
	if (kind == 4)
		allow_host_socket(a, fd, sa, (socklen_t)n);
	else if (kind == 5)
		allow_note_listener(a, fd);
	else
		allow_note_peer(a, fd, sa, (socklen_t)n);
	free(sa);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[SLIRP_MTU + 64 + 62]; /* a frame, or a message with its headers */
	uint8_t *open_buf = NULL;
	struct frame f, open;
	struct allow *a;
	struct plan p;

	if (size < 1)
		return -1;
	plan_init(&p);
	rules(&p, data[0]);
	a = allow_new(&p);
	for (data++, size--; size >= 3;) {
		uint8_t ctl = data[0];
		unsigned kind = ctl & 7, n = (unsigned)data[1] << 8 | data[2];
		int fd = ctl & 16 ? tcp_fd : udp_fd;
		const uint8_t *body = data + 3;
		uint8_t *buf;
		size_t len;

		n = n < size - 3 ? n : (unsigned)(size - 3);
		data += 3 + n;
		size -= 3 + n;
		if (kind >= 4) {
			if (kind < 7 && n >= sizeof(sa_family_t) && n <= 128)
				host_socket(a, kind, fd, body, n);
			continue;
		}
		if (open_buf) {
			frame_end(a, &open, out, sizeof(out));
			free(open_buf);
			open_buf = NULL;
		}
		len = kind < 2 ? (memcpy(out, body, n), n)
			       : udp_frame(out, ctl & 8, kind == 2, body, n);
		/* exactly the frame's bytes on the heap: a read past its end is caught */
		buf = malloc(len ? len : 1);
		memcpy(buf, out, len);
		if (!frame_parse(&f, buf, len)) {
			free(buf);
		} else if (kind == 1 || kind == 2) {
			if (f.family && is_dns_answer(&f))
				allow_snoop_dns(a, &f);
			free(buf);
		} else if (from_sandbox(a, &f, out, sizeof(out))) {
			open = f; /* libslirp has it: its host sockets are judged as its */
			open_buf = buf;
		} else {
			free(buf);
		}
	}
	if (open_buf) {
		frame_end(a, &open, out, sizeof(out));
		free(open_buf);
	}
	allow_free(a);
	plan_free(&p);
	return 0;
}
