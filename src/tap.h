/* The sandbox's side of --net slirp: the tap device tap0 in its network namespace. */
#pragma once
#include "errors.h"

/* Open /dev/net/tun (in the monitor, before the clone), non-blocking; clear errors when the
 * device is missing or not accessible. */
int tap_open(struct herr *e);
/* Attach fd to a new tap0 in the caller's network namespace and configure it: up, MTU, the
 * addresses and default routes of slirp's virtual network. Needs CAP_NET_ADMIN there. */
int tap_setup(int fd, struct herr *e);
