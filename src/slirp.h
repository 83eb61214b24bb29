/*
 * --net slirp: libslirp, driven by the monitor's event loop, is the sandbox's gateway. Frames
 * the sandbox writes to its tap device come out of the tap fd here, pass the egress policy
 * (allow.c), and go into libslirp, which turns them into ordinary sockets of the invoking
 * user; libslirp's answers go back into the tap. No extra process, no thread.
 *
 * The virtual network is slirp's usual one (as QEMU, slirp4netns and podman use it):
 * 10.0.2.0/24 and fd00::/64, the sandbox at 10.0.2.100 / fd00::100, the gateway 10.0.2.2 /
 * fd00::2 (which leads to the host's loopback, when allowed), the DNS at 10.0.2.3 / fd00::3.
 */
#pragma once
#include <stdint.h>

#include "errors.h"
#include "plan.h"
#include "pollset.h"

#define SLIRP_MTU 65520

extern const uint8_t SLIRP_NET4[4], SLIRP_HOST4[4], SLIRP_DNS4[4], SLIRP_GUEST4[4];
extern const uint8_t SLIRP_NET6[16], SLIRP_HOST6[16], SLIRP_DNS6[16], SLIRP_GUEST6[16];

struct netstack;

/* libslirp with the plan's forwards (a port already in use fails here, before the clone). */
struct netstack *netstack_new(const struct plan *p, struct herr *e);
/* The tap's fd (the monitor's; tap0 inside), once the sandbox is built. */
void netstack_set_tap(struct netstack *ns, int tap);
void netstack_free(struct netstack *ns);
/* Before poll: add the tap and libslirp's sockets to ps, and lower *timeout_ms to the next
 * timer. After poll: move frames and data, fire timers. */
void netstack_fill(struct netstack *ns, struct pollset *ps, int *timeout_ms);
void netstack_dispatch(struct netstack *ns, const struct pollset *ps, int poll_failed);
