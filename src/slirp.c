#include "slirp.h"

#include <errno.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <slirp/libslirp.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "allow.h"
#include "frame.h"
#include "hostsock.h"
#include "publish.h"
#include "util.h"

const uint8_t SLIRP_NET4[4] = {10, 0, 2, 0}, SLIRP_HOST4[4] = {10, 0, 2, 2},
	      SLIRP_DNS4[4] = {10, 0, 2, 3}, SLIRP_GUEST4[4] = {10, 0, 2, 100};
const uint8_t SLIRP_NET6[16] = {0xfd}, SLIRP_HOST6[16] = {0xfd, [15] = 2},
	      SLIRP_DNS6[16] = {0xfd, [15] = 3}, SLIRP_GUEST6[16] = {0xfd, [14] = 1};

/* A timer of libslirp's (it has one kind: the IPv6 router advertisement). */
struct timer {
	struct timer *next;
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
};

/* --dns: queries to 10.0.2.3:53 (UDP, and TCP connections) are redirected to the upstream, and
 * its answers made to look like they came from 10.0.2.3 again. The sandbox's protocol and source
 * ports of recent queries tell the answers apart from other traffic with the upstream. */
#define DNS_PORTS 64

struct netstack {
	const struct plan *p;
	Slirp *slirp;
	int tap;
	struct allow *allow;
	struct timer *timers;
	struct pollset *ps; /* from netstack_fill to netstack_dispatch: where libslirp's fds are */
	int tap_index;
	uint8_t dns_seen[16]; /* the upstream as libslirp's side sees it (127.0.0.1: 10.0.2.2) */
	uint16_t dns_port;
	uint32_t dns_ports[DNS_PORTS]; /* protocol << 16 | the sandbox's port */
	unsigned dns_next;
	/* one frame read from the tap, after its virtio-net header */
	uint8_t frame[sizeof(struct virtio_net_hdr) + SLIRP_MTU + 64];
	uint8_t out[SLIRP_MTU + 64]; /* a frame on its way in, when it must be changed */
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t cb_clock_get_ns(void *opaque)
{
	return now_ns();
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct netstack *ns = opaque;
	struct timer *t = xcalloc(1, sizeof(*t));

	*t = (struct timer){.next = ns->timers, .id = id, .cb_opaque = cb_opaque, .expire_ms = -1};
	ns->timers = t;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct netstack *ns = opaque;

	for (struct timer **t = &ns->timers; *t; t = &(*t)->next)
		if (*t == timer) {
			*t = (*t)->next;
			free(timer);
			return;
		}
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	((struct timer *)timer)->expire_ms = expire_ms;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	struct netstack *ns = opaque;

	hutch_say(ns->p->verbose, "slirp: %s", msg);
}

static void cb_nothing(int fd, void *opaque)
{
	/* We gather libslirp's fds afresh before every poll: nothing to register. */
}

static void cb_notify(void *opaque)
{
	/* One thread: the loop runs libslirp again right after this. */
}

static bool udp_or_tcp(const struct frame *f)
{
	return f->proto == IPPROTO_UDP || f->proto == IPPROTO_TCP;
}

static bool is_dns_answer(struct netstack *ns, const struct frame *f)
{
	if (!udp_or_tcp(f) || f->sport != 53)
		return false;
	return memcmp(f->src, f->family == AF_INET ? SLIRP_DNS4 : SLIRP_DNS6,
		      f->family == AF_INET ? 4 : 16) == 0;
}

/* An answer of the --dns upstream to a query we redirected: make it 10.0.2.3's again. */
static void unredirect_dns(struct netstack *ns, struct frame *f)
{
	size_t alen = f->family == AF_INET ? 4 : 16;

	if (!ns->dns_port || !udp_or_tcp(f) || f->family != ns->p->dns.ss_family ||
	    f->sport != ns->dns_port || memcmp(f->src, ns->dns_seen, alen) != 0)
		return;
	for (unsigned i = 0; i < DNS_PORTS; i++)
		if (ns->dns_ports[i] == ((uint32_t)f->proto << 16 | f->dport)) {
			frame_set_src(f, f->family == AF_INET ? SLIRP_DNS4 : SLIRP_DNS6, 53);
			frame_fix_checksums(f);
			return;
		}
}

/*
 * Every frame through the tap carries a virtio-net header (IFF_VNET_HDR). Ours say
 * DATA_VALID: libslirp has just computed every checksum of the frame, so the sandbox's kernel
 * need not verify them again. That pass over each byte ran in the monitor's own thread (the
 * write to the tap delivers the frame there), the one that limits throughput.
 */
static ssize_t tap_send(struct netstack *ns, const void *buf, size_t len)
{
	struct virtio_net_hdr h = {.flags = VIRTIO_NET_HDR_F_DATA_VALID};
	struct iovec iov[2] = {{&h, sizeof(h)}, {(void *)buf, len}};

	return writev(ns->tap, iov, 2);
}

/* libslirp -> the sandbox */
static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct netstack *ns = opaque;
	struct frame f;

	if (len > sizeof(ns->out))
		return (ssize_t)len;
	if ((ns->dns_port || ns->p->n_allow) && frame_parse(&f, (uint8_t *)buf, len) &&
	    (f.proto == IPPROTO_UDP ||
	     (f.proto == IPPROTO_TCP && (f.sport == 53 || f.sport == ns->dns_port)))) {
		/* only DNS is changed or read here: copy just those frames */
		memcpy(ns->out, buf, len);
		frame_parse(&f, ns->out, len);
		unredirect_dns(ns, &f);
		if (is_dns_answer(ns, &f))
			allow_snoop_dns(ns->allow, &f);
		buf = ns->out;
	}
	/* A full tap queue drops the frame, like a full link: TCP sends it again. */
	if (tap_send(ns, buf, len) < 0 && errno != EAGAIN)
		return -1;
	return (ssize_t)len;
}

static const SlirpCb callbacks = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_nothing,
    .unregister_poll_fd = cb_nothing,
    .notify = cb_notify,
    .timer_new_opaque = cb_timer_new_opaque,
};

/* The upstream of --dns as libslirp will see a packet to it: loopback becomes the gateway. */
static void setup_dns(struct netstack *ns)
{
	const struct sockaddr_storage *d = &ns->p->dns;

	if (d->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)d;
		bool lo = ((const uint8_t *)&in->sin_addr)[0] == 127;

		memcpy(ns->dns_seen, lo ? SLIRP_HOST4 : (const uint8_t *)&in->sin_addr, 4);
		ns->dns_port = ntohs(in->sin_port);
	} else if (d->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)d;
		bool lo = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);

		memcpy(ns->dns_seen, lo ? SLIRP_HOST6 : (const uint8_t *)&in6->sin6_addr, 16);
		ns->dns_port = ntohs(in6->sin6_port);
	}
}

struct netstack *netstack_new(const struct plan *p, struct herr *e)
{
	struct netstack *ns = xcalloc(1, sizeof(*ns));
	int r;
	SlirpConfig cfg = {
	    .version = 4,
	    .in_enabled = true,
	    .in6_enabled = true,
	    .vprefix_len = 64,
	    .if_mtu = SLIRP_MTU,
	    .if_mru = SLIRP_MTU,
	    /* The gateway leads to the host's loopback; allow.c judges every socket that
	     * reaches it, and so --dns 127.0.0.1 works without opening the rest of it. */
	    .disable_host_loopback = false,
	    .disable_dhcp = true, /* tap.c configures the addresses */
	};

	memcpy(&cfg.vnetwork, SLIRP_NET4, 4);
	memcpy(&cfg.vnetmask, (uint8_t[]){255, 255, 255, 0}, 4);
	memcpy(&cfg.vhost, SLIRP_HOST4, 4);
	memcpy(&cfg.vdhcp_start, (uint8_t[]){10, 0, 2, 15}, 4);
	memcpy(&cfg.vnameserver, SLIRP_DNS4, 4);
	memcpy(&cfg.vprefix_addr6, SLIRP_NET6, 16);
	memcpy(&cfg.vhost6, SLIRP_HOST6, 16);
	memcpy(&cfg.vnameserver6, SLIRP_DNS6, 16);
	ns->p = p;
	ns->tap = -1;
	ns->allow = allow_new(p);
	setup_dns(ns);
	if (!hostsock_in_effect()) {
		/* libslirp's sockets would go unjudged: no loopback rule, no allowlist */
		netstack_free(ns);
		herr_set(e, 0, "--net slirp: this hutch binary does not export its socket judge");
		herr_hint(
		    e,
		    "rebuild hutch with its meson.build (it links with --export-dynamic-symbol)");
		return NULL;
	}
	ns->slirp = slirp_new(&cfg, &callbacks, ns);
	if (!ns->slirp) {
		netstack_free(ns);
		herr_set(e, errno, "--net slirp: libslirp could not start");
		return NULL;
	}
	hostsock_enter(ns->allow);
	r = publish_all(ns->slirp, p, e);
	hostsock_leave();
	if (r < 0) {
		netstack_free(ns);
		return NULL;
	}
	return ns;
}

void netstack_free(struct netstack *ns)
{
	if (!ns)
		return;
	/* closes every socket and listener of the sandbox's: nothing is left listening */
	if (ns->slirp)
		slirp_cleanup(ns->slirp);
	while (ns->timers)
		cb_timer_free(ns->timers, ns);
	allow_free(ns->allow);
	free(ns);
}

static int add_poll(int fd, int events, void *opaque)
{
	struct netstack *ns = opaque;
	short ev = (short)((events & SLIRP_POLL_IN ? POLLIN : 0) |
			   (events & SLIRP_POLL_OUT ? POLLOUT : 0) |
			   (events & SLIRP_POLL_PRI ? POLLPRI : 0));

	return pollset_add(ns->ps, fd, ev);
}

static int get_revents(int idx, void *opaque)
{
	struct netstack *ns = opaque;
	short r = pollset_revents(ns->ps, idx);

	return (r & POLLIN ? SLIRP_POLL_IN : 0) | (r & POLLOUT ? SLIRP_POLL_OUT : 0) |
	       (r & POLLPRI ? SLIRP_POLL_PRI : 0) | (r & POLLERR ? SLIRP_POLL_ERR : 0) |
	       (r & POLLHUP ? SLIRP_POLL_HUP : 0);
}

void netstack_set_tap(struct netstack *ns, int tap)
{
	struct pollset none = {0};

	ns->tap = tap;
	/* libslirp reads its clock in slirp_pollfds_poll, and the sockets that the sandbox's
	 * frames create take their expiry from it: before a first poll the clock says 0, and the
	 * sockets of the first frames were born expired (the sandbox's first DNS answer was lost,
	 * and the lookup took the resolver's 5 s retry). One empty poll sets the clock. */
	ns->ps = &none;
	hostsock_enter(ns->allow);
	slirp_pollfds_poll(ns->slirp, 0, get_revents, ns);
	hostsock_leave();
	ns->ps = NULL;
}

void netstack_fill(struct netstack *ns, struct pollset *ps, int *timeout_ms)
{
	uint32_t t = *timeout_ms < 0 ? UINT32_MAX : (uint32_t)*timeout_ms;
	int64_t now = now_ns() / 1000000;

	ns->ps = ps;
	ns->tap_index = pollset_add(ps, ns->tap, POLLIN);
	slirp_pollfds_fill(ns->slirp, &t, add_poll, ns);
	for (struct timer *tm = ns->timers; tm; tm = tm->next)
		if (tm->expire_ms >= 0) {
			int64_t left = tm->expire_ms > now ? tm->expire_ms - now : 0;
			if (left < t)
				t = (uint32_t)left;
		}
	*timeout_ms = t == UINT32_MAX ? -1 : (int)t;
}

static void remember_port(struct netstack *ns, uint32_t key)
{
	/* a TCP connection sends many segments: its port takes one place */
	for (unsigned i = 0; i < DNS_PORTS; i++)
		if (ns->dns_ports[i] == key)
			return;
	ns->dns_ports[ns->dns_next++ % DNS_PORTS] = key;
}

/* --dns: a query to 10.0.2.3:53 (or fd00::3) goes to the upstream instead. */
static void redirect_dns(struct netstack *ns, struct frame *f)
{
	if (!ns->dns_port || !udp_or_tcp(f) || f->dport != 53 ||
	    f->family != ns->p->dns.ss_family ||
	    memcmp(f->dst, f->family == AF_INET ? SLIRP_DNS4 : SLIRP_DNS6,
		   f->family == AF_INET ? 4 : 16) != 0)
		return;
	remember_port(ns, (uint32_t)f->proto << 16 | f->sport);
	frame_set_dst(f, ns->dns_seen, ns->dns_port);
	frame_fix_checksums(f);
}

/* A DNS stream refused in mid-message: libslirp's side of it is reset too, so the part of the
 * message that went ahead is dropped with its connection and never reaches a resolver whole. */
static void cut_stream(struct netstack *ns, const struct frame *f)
{
	struct frame r;
	uint32_t seq;
	size_t n;

	if (!allow_cut(ns->allow, &seq))
		return;
	n = frame_reset_onward(f, seq, ns->out);
	if (!frame_parse(&r, ns->out, n))
		return;
	redirect_dns(ns, &r);
	slirp_input(ns->slirp, ns->out, (int)n);
}

static void refuse(struct netstack *ns, const struct frame *f)
{
	size_t n = allow_refusal(ns->allow, f, ns->out, sizeof(ns->out));

	if (n && tap_send(ns, ns->out, n) < 0) {
		/* a full queue: the sandbox retries, and is refused again */
	}
}

/* the sandbox -> libslirp: its DNS questions judged here, its host sockets in hostsock.c */
static void input_frame(struct netstack *ns, uint8_t *buf, size_t len)
{
	struct frame f;

	if (!frame_parse(&f, buf, len))
		return; /* nothing a working stack sends; libslirp never sees it */
	if (!allow_frame(ns->allow, &f)) {
		allow_frame_end(ns->allow);
		refuse(ns, &f);
		cut_stream(ns, &f);
		return;
	}
	redirect_dns(ns, &f);
	slirp_input(ns->slirp, buf, (int)len);
	/* a refused connect() was already answered by libslirp with a reset */
	if (allow_frame_end(ns->allow) && f.proto != IPPROTO_TCP)
		refuse(ns, &f);
}

/* At most this many frames per wakeup, so libslirp's sockets get their turn. */
#define TAP_BATCH 256

/* Frames from the tap into libslirp until none is left (or TAP_BATCH); how many. */
static int drain_tap(struct netstack *ns)
{
	const size_t hl = sizeof(struct virtio_net_hdr);
	int i;

	for (i = 0; i < TAP_BATCH; i++) {
		ssize_t n = read(ns->tap, ns->frame, sizeof(ns->frame));

		/* no offloads are enabled, so the header has nothing to say */
		if (n <= (ssize_t)hl)
			break;
		input_frame(ns, ns->frame + hl, (size_t)n - hl);
	}
	return i;
}

void netstack_dispatch(struct netstack *ns, const struct pollset *ps, int poll_failed)
{
	int64_t now;

	ns->ps = (struct pollset *)ps;
	hostsock_enter(ns->allow);
	if (pollset_revents(ps, ns->tap_index) & POLLIN)
		drain_tap(ns);
	slirp_pollfds_poll(ns->slirp, poll_failed, get_revents, ns);
	/* What libslirp just sent (a segment from a host socket) was handled by the sandbox's
	 * kernel in our write, and its acknowledgement is already waiting on the tap: read it
	 * now, and libslirp sends the next segment, without a round through poll(). */
	drain_tap(ns);
	now = now_ns() / 1000000;
	for (struct timer *t = ns->timers; t; t = t->next)
		if (t->expire_ms >= 0 && t->expire_ms <= now) {
			t->expire_ms = -1;
			slirp_handle_timer(ns->slirp, t->id, t->cb_opaque);
			break; /* the handler may have changed the list; the rest wait a round */
		}
	hostsock_leave();
	ns->ps = NULL;
}
