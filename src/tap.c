#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "slirp.h"
#include "util.h"

#define TAP_NAME "tap0"

int tap_open(struct herr *e)
{
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
		herr_set(e, errno, "--net slirp: /dev/net/tun is missing");
	else
		herr_set(e, errno, "--net slirp: cannot open /dev/net/tun");
	herr_hint(e, "the sandbox's network device needs it; distributions ship it as a character "
		     "device 10,200 with mode 0666 (check with `ls -l /dev/net/tun`; as root: "
		     "`modprobe tun; chmod 0666 /dev/net/tun`), or use --net none");
	e->exit_code = EXIT_SETUP;
	return -1;
}

int tap_check(struct herr *e)
{
	int fd = tap_open(e);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

struct closer_fds {
	int tap, gate; /* gate: a pipe's read end, at EOF once we closed our copy of tap */
};

/* The closer's whole life; it shares our memory, so it only makes system calls. */
static int closer(void *arg)
{
	const struct closer_fds *c = arg;
	unsigned lo = (unsigned)(c->tap < c->gate ? c->tap : c->gate);
	unsigned hi = (unsigned)(c->tap < c->gate ? c->gate : c->tap);
	char b;

	syscall(SYS_close_range, 0U, lo - 1, 0);
	syscall(SYS_close_range, lo + 1, hi - 1, 0);
	syscall(SYS_close_range, hi + 1, ~0U, 0);
	/* wait until our parent's copy is gone: ours must be the last, the one that waits */
	while (syscall(SYS_read, c->gate, &b, 1) < 0)
		;
	syscall(SYS_close, c->tap);
	syscall(SYS_exit, 0);
	return 0;
}

#define CLOSER_STACK (16 * 1024)

void tap_close(int fd)
{
	struct closer_fds *c;
	int gate[2];
	void *stack;

	/* A tap fd's last close detaches its queue and waits for an RCU grace period (the
	 * device itself is persistent, see tap_setup): from a few hundred microseconds to
	 * several milliseconds. A child that lives for just that long does it instead, so
	 * hutch's exit (and whoever waits for it) does not wait for the kernel's bookkeeping.
	 * It shares our memory (CLONE_VM): no copy of our page tables, which a fork would cost.
	 * Its stack (and the fds it reads) is never unmapped: it may outlive us, and it is
	 * 16 KiB once per sandbox. */
	stack = mmap(NULL, CLOSER_STACK, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED || pipe2(gate, O_CLOEXEC) < 0) {
		close(fd);
		return;
	}
	c = stack; /* at the bottom of its stack, which grows down from the top */
	*c = (struct closer_fds){fd, gate[0]};
	if (clone(closer, (char *)stack + CLOSER_STACK, CLONE_VM, c) < 0) {
		close(fd);
		close(gate[0]);
		close(gate[1]);
		munmap(stack, CLOSER_STACK);
		return;
	}
	close(fd);
	close(gate[1]); /* EOF for the child: our copy is gone */
	close(gate[0]);
}

/* One rtnetlink request (NEWADDR or NEWROUTE) with its attributes, and its acknowledgement. */
struct nlreq {
	struct nlmsghdr nh;
	union {
		struct ifaddrmsg ifa;
		struct rtmsg rt;
	};
	char attrs[128];
};

static void nl_attr(struct nlreq *r, unsigned short type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->nh.nlmsg_len));

	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static int nl_talk(int nl, struct nlreq *r)
{
	struct {
		struct nlmsghdr nh;
		struct nlmsgerr err;
	} ack;
	ssize_t n;

	r->nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
	if (send(nl, r, r->nh.nlmsg_len, 0) < 0)
		return -errno;
	n = recv(nl, &ack, sizeof(ack), 0);
	if (n < 0)
		return -errno;
	if ((size_t)n < sizeof(ack) || ack.nh.nlmsg_type != NLMSG_ERROR)
		return -EPROTO;
	return ack.err.error;
}

static int add_address(int nl, int ifindex, int family, const uint8_t *addr, int prefix)
{
	struct nlreq r = {
	    .nh = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg)), .nlmsg_type = RTM_NEWADDR}};
	size_t alen = family == AF_INET ? 4 : 16;
	/* No duplicate address detection: nobody else is on this link, and DAD would keep the
	 * address unusable for a second after start. No prefix route: add_route() makes it,
	 * with quickack. */
	uint32_t flags = IFA_F_NODAD | IFA_F_NOPREFIXROUTE;

	r.ifa = (struct ifaddrmsg){.ifa_family = (unsigned char)family,
				   .ifa_prefixlen = (unsigned char)prefix,
				   .ifa_index = (unsigned)ifindex};
	nl_attr(&r, IFA_LOCAL, addr, alen);
	nl_attr(&r, IFA_ADDRESS, addr, alen);
	nl_attr(&r, IFA_FLAGS, &flags, sizeof(flags));
	return nl_talk(nl, &r);
}

/*
 * A route through tap0: the on-link prefix (gw NULL) or the default route. Both carry
 * quickack: libslirp knows no TCP window scaling, so at most 64 KiB are ever in flight, and
 * the sandbox's kernel would otherwise delay its ACK (and with it the window that lets libslirp
 * send more) until the receiving program has read. Its buffers are far larger than 64 KiB, so
 * acknowledging at once reopens the whole window at once.
 */
static int add_route(int nl, int ifindex, int family, const uint8_t *dst, int dst_len,
		     const uint8_t *gw)
{
	struct nlreq r = {
	    .nh = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg)), .nlmsg_type = RTM_NEWROUTE}};
	uint32_t oif = (uint32_t)ifindex;
	struct {
		struct rtattr a;
		uint32_t v;
	} quickack = {{RTA_LENGTH(sizeof(uint32_t)), RTAX_QUICKACK}, 1};
	size_t alen = family == AF_INET ? 4 : 16;

	r.rt = (struct rtmsg){.rtm_family = (unsigned char)family,
			      .rtm_dst_len = (unsigned char)dst_len,
			      .rtm_table = RT_TABLE_MAIN,
			      .rtm_protocol = RTPROT_BOOT,
			      .rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
			      .rtm_type = RTN_UNICAST};
	if (dst_len)
		nl_attr(&r, RTA_DST, dst, alen);
	if (gw)
		nl_attr(&r, RTA_GATEWAY, gw, alen);
	nl_attr(&r, RTA_OIF, &oif, sizeof(oif));
	nl_attr(&r, RTA_METRICS, &quickack, sizeof(quickack));
	return nl_talk(nl, &r);
}

static int link_up(const char *name, struct herr *e)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {0};

	if (s < 0)
		return herr_set(e, errno, "--net slirp: socket");
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_mtu = SLIRP_MTU;
	if (ioctl(s, SIOCSIFMTU, &ifr) < 0)
		return herr_set(e, errno, "--net slirp: cannot set %s's MTU", name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return herr_set(e, errno, "--net slirp: cannot read %s's flags", name);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return herr_set(e, errno, "--net slirp: cannot bring %s up", name);
	return 0;
}

int tap_setup(int fd, struct herr *e)
{
	/* IFF_VNET_HDR: see tap_send() in slirp.c */
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
	_cleanup_close_ int nl = -1;
	int idx, err;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", TAP_NAME);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return herr_set(e, errno, "--net slirp: cannot create the tap device %s", TAP_NAME);
	/* Persistent: the last close of the fd then leaves the device alone, and it goes with its
	 * network namespace, unregistered by the kernel's namespace cleanup worker. Unregistering
	 * it at our close took about 1.5 ms of CPU and RCU waits on every `hutch run --net slirp`.
	 * Nobody else can attach to it: that takes CAP_NET_ADMIN over the namespace, which the
	 * sandbox lacks (the keeper's), or has anyway (a namespace of its own). */
	if (ioctl(fd, TUNSETPERSIST, 1) < 0)
		return herr_set(e, errno, "--net slirp: cannot make %s persistent", TAP_NAME);
	if (link_up(TAP_NAME, e) < 0)
		return -1;
	idx = (int)if_nametoindex(TAP_NAME);
	nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (idx == 0 || nl < 0)
		return herr_set(e, errno, "--net slirp: cannot configure %s", TAP_NAME);
	if ((err = add_address(nl, idx, AF_INET, SLIRP_GUEST4, 24)) < 0 ||
	    (err = add_route(nl, idx, AF_INET, SLIRP_NET4, 24, NULL)) < 0 ||
	    (err = add_route(nl, idx, AF_INET, NULL, 0, SLIRP_HOST4)) < 0)
		return herr_set(e, -err, "--net slirp: cannot give %s its IPv4 address and route",
				TAP_NAME);
	if ((err = add_address(nl, idx, AF_INET6, SLIRP_GUEST6, 64)) < 0 ||
	    (err = add_route(nl, idx, AF_INET6, SLIRP_NET6, 64, NULL)) < 0 ||
	    (err = add_route(nl, idx, AF_INET6, NULL, 0, SLIRP_HOST6)) < 0)
		return herr_set(e, -err, "--net slirp: cannot give %s its IPv6 address and route",
				TAP_NAME);
	return 0;
}
