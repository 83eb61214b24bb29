/* The sandbox's side of --net slirp: the tap device tap0 in its network namespace. */
#pragma once
#include "errors.h"

/* Open /dev/net/tun, non-blocking; clear errors when it is missing or not accessible. The fd
 * makes its device in the network namespace of the caller of open(), so this runs inside. */
int tap_open(struct herr *e);
/* The same check in the monitor, before anything starts: the device can be opened. */
int tap_check(struct herr *e);
/* Attach fd to a new tap0 in the caller's network namespace and configure it: up, MTU, the
 * addresses and default routes of slirp's virtual network. Needs CAP_NET_ADMIN there. */
int tap_setup(int fd, struct herr *e);
/* Close the monitor's tap fd at the end without waiting for the device's teardown. */
void tap_close(int fd);
