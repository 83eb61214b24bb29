/*
 * The host sockets of --net slirp, judged where they are used. libslirp translates the
 * sandbox's addresses (the gateway to 127.0.0.1, 255.255.255.255 and any fd00::/64 address to
 * the loopback, the DNS address to the host's resolver, a published port's guest port to its
 * listener) and has no hook on the sockets it then opens. So hutch defines connect(), sendto(),
 * sendmsg(), bind() and recvfrom() itself and exports them (meson.build): libslirp, loaded with
 * dlopen(), binds to these, and every socket it connects or sends on is judged by allow.c on
 * the destination the host socket really gets, whatever the frame said. Outside the calls into
 * libslirp (hostsock_enter ... hostsock_leave) they are the plain system calls.
 */
#pragma once
#include <stdbool.h>

struct allow;

/* Calls into libslirp from here on are judged by a. */
void hostsock_enter(struct allow *a);
void hostsock_leave(void);
/* These functions are the ones the process's global symbols resolve to (the export worked):
 * without them, --net slirp would run unjudged, so it refuses to start. */
bool hostsock_in_effect(void);
