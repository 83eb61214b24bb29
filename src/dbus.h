/* --dbus-talk: the session bus through xdg-dbus-proxy with a filter (issue 6). */
#pragma once
#include <sys/types.h>

#include "errors.h"
#include "plan.h"

struct dbus_proxy {
	pid_t pid;   /* xdg-dbus-proxy, or 0 */
	int sync;    /* our end of its --fd: it exits when this closes (and we with it) */
	bool hidden; /* its socket is unlinked from the host */
};

#define DBUS_PROXY_INIT                                                                            \
	{                                                                                          \
		.pid = 0, .sync = -1, .hidden = true                                               \
	}

/* Before the monitor joins the keeper's user namespace (the bus checks our uid): start the
 * proxy on the plan's dbus_dir/bus and wait until it listens. Nothing to do without one. */
int dbus_proxy_start(const struct plan *p, struct dbus_proxy *d, struct herr *e);
/* Once the sandbox's mounts hold the socket: unlink it and its directory from the host, so
 * nothing is left there whatever happens to us later. */
void dbus_proxy_hide(const struct plan *p, struct dbus_proxy *d);
/* Stop the proxy (it also dies with us: PR_SET_PDEATHSIG and its --fd) and clean up. */
void dbus_proxy_stop(const struct plan *p, struct dbus_proxy *d);
