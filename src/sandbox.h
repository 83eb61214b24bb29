/* One sandbox, from the plan to the exit status. sandbox.c tells the whole setup order. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

#include "cgroup.h"
#include "dbus.h"
#include "errors.h"
#include "plan.h"
#include "stdfds.h"
#include "terminal.h"
#include "user.h"

struct sandbox {
	const struct plan *plan;
	struct ids ids;
	char **envp; /* the command's environment */
	struct tty_plan tty;
	struct stdfds fds; /* the command's fds 0-2: passed, the pty, or relayed (stdfds.h) */
	char *cwd;   /* the caller's working directory, tried inside */
	int sock[2]; /* [0] the monitor's end, [1] the init's */
	pid_t pid;   /* the init, as seen from outside */
	int pidfd;
	bool net_ready;	      /* the init was born in the keeper's fresh network namespace */
	bool ipc_ready;	      /* ...and in its fresh IPC namespace */
	struct cgroup cg;     /* the sandbox's own cgroup (issue 5), when the plan wants one */
	struct bounds bounds; /* the limits in force, and which the cgroup holds (limits.h) */
	bool timed_out;	      /* --timeout fired */
	int tap;	      /* --net slirp: the monitor's /dev/net/tun fd (tap0 inside), or -1 */
	struct netstack *net; /* --net slirp: libslirp and the egress policy (src/slirp.h) */
	struct dbus_proxy dbus; /* --dbus-talk: xdg-dbus-proxy (src/dbus.h) */
};

/* Build and run the sandbox. Returns the exit status for hutch (the command's, or 126/127), or
 * -1 with e filled when the sandbox could not be built. */
int sandbox_run(const struct plan *p, struct herr *e);
