/*
 * The life of one sandbox, in the order the kernel needs it.
 *
 *   monitor (outside)                     init (pid 1 inside)              command (pid 2)
 *   -----------------                     -------------------              ---------------
 *   id maps (keeper), cgroup (limits), env, tty and relays of fds 0-2
 *   clone3(every namespace) ------------> wait for the id maps
 *   id maps, then GO ------------------> private root, pivot_root
 *   v1 cgroups, then GO again ----------> cgroup namespace, /sys/fs/cgroup
 *                                         hostname, loopback up
 *                                         time namespace for the command
 *                                         pty (if fds 0-2 hold a terminal), rlimits
 *   relay, forward signals <------ READY  fork ------------------------->  session/pty, fds, cwd,
 *                                         reap, forward signals            caps, no_new_privs, exec
 *   (timeout: SIGTERM, grace, kill all)
 *   exit with the init's status <-------- exit with the command's status
 *   kill what is left in the cgroup, report, remove the cgroup
 */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "caps.h"
#include "cgroup.h"
#include "channel.h"
#include "command.h"
#include "env.h"
#include "init.h"
#include "lazy.h"
#include "limits.h"
#include "monitor.h"
#include "mounts.h"
#include "net.h"
#include "oci.h"
#include "report.h"
#include "slirp.h"
#include "tap.h"
#include "util.h"

/* ---- inside: the init ---- */

static int await_maps(const struct sandbox *sb, struct herr *e)
{
	struct msg m;

	/* EOF here means the monitor died before our parent-death signal was armed. */
	if (channel_recv(sb->sock[1], &m, NULL) != 0 || m.type != MSG_GO)
		_exit(EXIT_SETUP);
	return 0;
}

static int set_hostname(const struct plan *p, struct herr *e)
{
	if (p->oci_join[OCI_NS_UTS])
		return 0; /* OCI: a joined uts namespace keeps its name (issue 8) */
	if (sethostname(p->hostname, strlen(p->hostname)) < 0)
		return herr_set(e, errno, "--hostname %s", p->hostname);
	hutch_say(p->verbose, "uts namespace: hostname %s", p->hostname);
	return 0;
}

/* --net slirp in a network namespace of our own (no keeper, or --cap-add NET_ADMIN): the init
 * makes tap0 itself. A tun fd creates its device in the network namespace it was opened in, so
 * it is opened here, inside, while the host's /dev is still visible; the READY message carries
 * it to the monitor. */
static int open_tap(const struct sandbox *sb, int *tap, struct herr *e)
{
	*tap = sb->plan->slirp && !sb->net_ready ? tap_open(e) : -1;
	return sb->plan->slirp && !sb->net_ready && *tap < 0 ? -1 : 0;
}

static int network(const struct sandbox *sb, int tap, struct herr *e)
{
	hutch_say(sb->plan->verbose, "network: %s%s",
		  sb->plan->share_net ? "the host's"
		  : sb->net_ready     ? "a fresh namespace from the keeper, loopback up"
				      : "a new namespace, loopback up",
		  sb->plan->slirp ? ", tap0 to slirp in the monitor" : "");
	if (sb->plan->share_net || sb->net_ready)
		return 0;
	if (net_loopback_up(e) < 0)
		return -1;
	return tap >= 0 ? tap_setup(tap, e) : 0;
}

/* A time namespace can only be entered by children (unshare affects what we fork next), and
 * clone's flags have no room for it: so the init unshares it for the command. */
static int time_namespace(int verbose, struct herr *e)
{
	if (unshare(CLONE_NEWTIME) < 0) {
		if (errno != EINVAL)
			return herr_set(e, errno, "cannot create a time namespace");
		hutch_say(verbose, "time namespace: this kernel has none");
		return 0;
	}
	hutch_say(verbose, "time namespace: new, for the command");
	return 0;
}

static int open_terminal(const struct sandbox *sb, int *master, struct herr *e)
{
	*master = sb->tty.use_pty ? terminal_open_pty(&sb->tty, e) : -1;
	return sb->tty.use_pty && *master < 0 ? -1 : 0;
}

static int start_command(const struct sandbox *sb, int master, pid_t *pid, int *ready,
			 struct herr *e)
{
	int gate[2];

	/* The command waits at this gate until the init has locked itself down (init.c). */
	if (pipe2(gate, O_CLOEXEC) < 0)
		return herr_set(e, errno, "pipe");
	*pid = fork();
	if (*pid < 0)
		return herr_set(e, errno, "fork");
	if (*pid == 0) {
		close(gate[1]);
		command_exec(sb, master, gate[0]);
	}
	close(gate[0]);
	*ready = gate[1];
	return 0;
}

static int send_ready(const struct sandbox *sb, int tap, int master, struct herr *e)
{
	int fds[2], n = 0;

	/* READY once the command exists: OCI's create and its hooks look for it (issue 8). The
	 * tap first: the monitor knows whether to expect one. */
	if (tap >= 0)
		fds[n++] = tap;
	if (master >= 0)
		fds[n++] = master;
	if (channel_send_fds(sb->sock[1], MSG_READY, NULL, fds, (size_t)n) < 0)
		return herr_set(e, errno, "cannot reach the monitor");
	if (tap >= 0)
		close(tap);
	if (master >= 0)
		close(master);
	return 0;
}

/* The root's tmpfs mounts are sized by the limits in force (limits.h). */
static int build_root(const struct sandbox *sb, struct herr *e)
{
	return mounts_build_root(sb->plan, &sb->ids, sb->bounds.tmpfs, e);
}

/* The rlimits that stand in for the limits no cgroup holds, then --rlimit. */
static int rlimits(const struct sandbox *sb, struct herr *e)
{
	return limits_apply_rlimits(sb->plan, &sb->bounds, e);
}

static int cgroup_moved(const struct sandbox *sb, struct herr *e)
{
	return cgroup_await_attach(&sb->cg, sb->sock[1], e);
}

/* OCI linux.sysctl (issue 8); net.* were written outside when the keeper's netns is ours. */
static int sysctls(const struct sandbox *sb, struct herr *e)
{
	return oci_sysctl_apply(sb->plan, sb->net_ready, e);
}

static int sandbox_inside(const struct sandbox *sb, struct herr *e)
{
	const struct plan *p = sb->plan;
	int master = -1, tap = -1, ready = -1;
	pid_t command = -1;

	/* The bounding set while the monitor writes our maps: the command inherits it (caps.h) */
	if (caps_drop_bounding(p->caps_keep | CAPS_BOUNDING_LATE, e) < 0 ||
	    await_maps(sb, e) < 0 ||		      /* user namespace: ids mapped */
	    open_tap(sb, &tap, e) < 0 ||	      /* --net slirp, own net namespace */
	    build_root(sb, e) < 0 ||		      /* mount namespace: private root */
	    cgroup_moved(sb, e) < 0 ||		      /* the monitor moved us (v1 cgroups) */
	    cgroup_enter_namespace(&sb->cg, e) < 0 || /* cgroup namespace, at our own cgroup */
	    cgroup_mount_view(&sb->cg, e) < 0 ||      /* /sys/fs/cgroup: our subtree, read-only */
	    set_hostname(p, e) < 0 ||		      /* uts namespace */
	    network(sb, tap, e) < 0 ||		      /* net namespace */
	    sysctls(sb, e) < 0 ||		      /* OCI: linux.sysctl (issue 8) */
	    time_namespace(p->verbose, e) < 0 ||      /* time namespace */
	    open_terminal(sb, &master, e) < 0 ||      /* our own pty */
	    rlimits(sb, e) < 0 ||		      /* default limits no cgroup holds, --rlimit */
	    start_command(sb, master, &command, &ready, e) < 0 || /* caps, nnp, exec */
	    mounts_finish_root(p, e) < 0 ||	      /* host root detached, root read-only */
	    send_ready(sb, tap, master, e) < 0)	      /* monitor: built (OCI: hooks may look) */
		return -1;
	init_supervise(command, ready, sb->sock[1], p->launcher_args, p->launcher_args_len);
}

__attribute__((noreturn)) static void init_main(struct sandbox *sb)
{
	struct herr e = {0};

	close(sb->sock[0]);
	stdfds_close_outer(&sb->fds);
	cgroup_close_fds(&sb->cg);
	if (sb->ids.keeper_netns >= 0)
		close(sb->ids.keeper_netns);
	if (sb->ids.keeper_ipcns >= 0)
		close(sb->ids.keeper_ipcns);
	/* the monitor's to close at the end: a copy here would keep the keeper from hearing it */
	if (sb->ids.keeper_conn >= 0)
		close(sb->ids.keeper_conn);
	if (sb->tap >= 0)
		close(sb->tap); /* the monitor's (made by clone_in_netns's helper) */
	/* If the monitor dies, even by SIGKILL, the init dies, and with it the whole pid
	 * namespace. A monitor that died before this line is caught by await_maps's EOF. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	prctl(PR_SET_NAME, "hutch-init", 0, 0, 0);
	init_prepare_signals();
	sandbox_inside(sb, &e);
	channel_send(sb->sock[1], MSG_ERROR, &e, -1);
	_exit(e.exit_code ? e.exit_code : EXIT_SETUP);
}

/* ---- outside: the monitor ---- */

static int check_pass_fds(const struct plan *p, struct herr *e)
{
	for (size_t i = 0; i < p->n_pass_fds; i++)
		if (fcntl(p->pass_fds[i], F_GETFD) < 0)
			return herr_set(e, errno, "--pass-fd %d", p->pass_fds[i]);
	return 0;
}

/* --net slirp: libslirp with its forwards, first of all, so that a port in use or an unusable
 * /dev/net/tun stops us before anything runs or starts (not even an id keeper). */
static int prepare_network(struct sandbox *sb, struct herr *e)
{
	const struct plan *p = sb->plan;

	if (!p->slirp) {
		if (p->n_publish || p->n_allow || p->allow_host_loopback || p->dns.ss_family) {
			herr_set(e, 0,
				 "--publish, --allow-net, --allow-host-loopback and --dns "
				 "need the user-mode network");
			return herr_hint(e, "add --net slirp");
		}
		return 0;
	}
	if (lazy_require(&lazy_slirp, e) < 0 || tap_check(e) < 0)
		return -1;
	sb->net = netstack_new(p, e);
	return sb->net ? 0 : -1;
}

/* Network capabilities only work in a network namespace of the sandbox's own user namespace. */
static bool use_keeper_netns(const struct sandbox *sb)
{
	const uint64_t net_caps = 1ULL << CAP_NET_ADMIN | 1ULL << CAP_NET_RAW |
				  1ULL << CAP_NET_BIND_SERVICE | 1ULL << CAP_NET_BROADCAST;

	if (sb->plan->oci_netns) /* the engine's, whatever the capabilities (issue 8) */
		return true;
	return !sb->plan->share_net && sb->ids.keeper_netns >= 0 &&
	       !(sb->plan->caps_keep & net_caps);
}

/*
 * The keeper's fresh IPC namespace too (made with the network one, keeper.c): creating one
 * costs its mqueue superblock, about 0.06 ms of a start (perf). Like the network namespace it
 * belongs to the keeper's user namespace, so the sandbox has no capability over it: it cannot
 * change the IPC limits (kernel.shmmax, msgmax...; /proc/sys is read-only anyway), mount an
 * mqueue filesystem or override IPC permissions. SysV and POSIX IPC work as usual. A sandbox
 * that keeps a capability for those gets its own, and so does any OCI container (its sysctls,
 * an IPC namespace to join).
 */
static bool use_keeper_ipcns(const struct sandbox *sb)
{
	const struct plan *p = sb->plan;
	const uint64_t ipc_caps =
	    1ULL << CAP_IPC_OWNER | 1ULL << CAP_SYS_RESOURCE | 1ULL << CAP_SYS_ADMIN;

	return sb->ids.keeper_ipcns >= 0 && !(p->caps_keep & ipc_caps) && p->oci_created_fd <= 0 &&
	       !(oci_joined_flags(p) & CLONE_NEWIPC) && p->n_oci_sysctl == 0;
}

static int enter_keeper_ipcns(const struct sandbox *sb, struct herr *e)
{
	if (sb->ipc_ready && setns(sb->ids.keeper_ipcns, CLONE_NEWIPC) < 0)
		return herr_set(e, errno, "cannot enter the IPC namespace of the keeper");
	return 0;
}

/*
 * clone3 failed. Born into a cgroup (CLONE_INTO_CGROUP), the cause may be the cgroup and not
 * the namespaces: v2 refuses a domain cgroup below a thread root with EOPNOTSUPP, a full
 * pids.max gives EAGAIN, an ancestor not delegated EACCES; and the kernel's errno says nothing
 * of which. So clone the same namespaces once more without the cgroup, a child that exits at
 * once (only on this failure path): if that works, the cgroup is to blame, and the message
 * says so instead of pointing at user namespaces.
 */
static int explain_clone_failure(const struct sandbox *sb, unsigned long long flags, int err,
				 struct herr *e)
{
	struct clone_args probe = {
	    .flags = flags & ~(unsigned long long)(CLONE_PIDFD | CLONE_PARENT | CLONE_INTO_CGROUP),
	    .exit_signal = SIGCHLD};
	long pid;

	if (cgroup_clone_fd(&sb->cg) < 0)
		return user_explain_clone_failure(err, e);
	pid = syscall(SYS_clone3, &probe, sizeof(probe));
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return user_explain_clone_failure(err, e);
	while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
		;
	return cgroup_explain_clone_failure(&sb->cg, err, e);
}

struct born {
	struct sandbox *sb;
	unsigned long long flags;
	long pid;
	int pidfd;
	int err;
	int tap;	 /* --net slirp: tap0, in the shared fd table */
	struct herr why; /* why the helper failed (err -1): netns, OCI steps, tap0 */
};

/* The helper (see clone_in_netns): it shares the monitor's fd table, and the monitor sleeps
 * until it exits; it writes its results into `b`, a shared page. */
static int netns_helper(void *arg)
{
	struct born *b = arg;
	struct sandbox *sb = b->sb;
	/* with CLONE_PARENT the exit signal is the helper's own (SIGCHLD), and clone3 insists
	 * on exit_signal 0 */
	struct clone_args args = {.flags = b->flags | CLONE_PARENT, .pidfd = (uintptr_t)&b->pidfd};
	int cgfd = cgroup_clone_fd(&sb->cg);
	long pid;

	if (cgfd >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cgfd;
	}
	if (setns(sb->ids.keeper_netns, CLONE_NEWNET) < 0) {
		herr_set(&b->why, errno, "cannot enter the network namespace %s",
			 sb->plan->oci_netns ? sb->plan->oci_netns : "of the keeper");
		b->err = -1;
		return 0;
	}
	if (enter_keeper_ipcns(sb, &b->why) < 0) {
		b->err = -1;
		return 0;
	}
	if (oci_sysctl_net(sb->plan, &sb->ids, &b->why) < 0 || /* OCI (issue 8) */
	    oci_join_namespaces(sb->plan, &b->why) < 0) {
		b->err = -1;
		return 0;
	}
	if (sb->plan->slirp &&
	    ((b->tap = tap_open(&b->why)) < 0 || tap_setup(b->tap, &b->why) < 0)) {
		b->err = -1;
		return 0;
	}
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0) /* (the init shares `b`'s page: it writes nothing there) */
		init_main(sb);
	b->pid = pid;
	b->err = pid < 0 ? errno : 0;
	return 0;
}

/*
 * Entering the keeper's network namespace is for the init only: the monitor must stay in the
 * host's (and, having left the initial user namespace, could never come back). So a short-lived
 * helper enters it and clones the init from there. CLONE_PARENT makes the init the monitor's
 * child (for waitid and the parent-death signal); the helper shares the monitor's fd table, so
 * the init's pidfd lands in it.
 *
 * The helper is vfork-like (CLONE_VM | CLONE_VFORK): no copy of the monitor's page tables to
 * make and tear down again, and the monitor resumes the moment it exits. It runs on a stack of
 * its own (see below), which the init keeps using. Only an OCI config that joins a user
 * namespace by path gets a helper with memory of its own: the kernel lets no process that shares
 * its memory enter another user namespace.
 *
 * --net slirp: the helper also makes and configures tap0, because it is the one process with
 * CAP_NET_ADMIN over that namespace (the sandbox's init has none: the namespace belongs to the
 * keeper's user namespace, which is also why the sandbox cannot reconfigure its network). A tun
 * fd makes its device in the namespace it was opened in, so the helper opens /dev/net/tun there;
 * the fd table is shared, so the fd is the monitor's at once: no fd passing, no extra namespace,
 * and startup stays close to --net none's (see BENCHMARKS.md).
 */
static long clone_in_netns(struct sandbox *sb, unsigned long long flags, struct herr *e)
{
	/* The helper's stack is part of this frame: the stack the sanitizers know (a mapping
	 * of its own made ASan warn at each noreturn call in the init). The helper needs little
	 * of it, while we sleep; the init, a copy of the memory, may grow past it freely. */
	char stack[256 * 1024] __attribute__((aligned(16)));
	int vm = sb->plan->oci_join[OCI_NS_USER] ? 0 : CLONE_VM;
	struct born *b =
	    mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int status;
	long pid;
	pid_t hp;

	if (b == MAP_FAILED)
		return herr_set(e, errno, "mmap");
	*b = (struct born){sb, flags, -1, -1, 0, -1, {0}};
	hp =
	    clone(netns_helper, stack + sizeof(stack), vm | CLONE_VFORK | CLONE_FILES | SIGCHLD, b);
	if (hp < 0)
		b->err = errno;
	else
		while (waitpid(hp, &status, 0) < 0 && errno == EINTR)
			;
	sb->tap = b->tap;
	sb->pidfd = b->pidfd;
	pid = b->err == -1 ? -1 : b->pid;
	if (b->err == -1)
		*e = b->why;
	else if (pid < 0)
		explain_clone_failure(sb, flags, b->err, e);
	munmap(b, sizeof(*b));
	return pid;
}

/*
 * May the monitor itself enter the keeper's network namespace and clone the init from there,
 * with no helper (clone_in_netns)? Only when it needs no network of the host's afterwards: no
 * --net slirp (libslirp's sockets are the host's), and not in OCI mode (a namespace by path,
 * the engine's hooks). A sandbox with --net none is the common case, and the helper costs a
 * task of its own and two wakeups, which on these VMs often land on the other, idle CPU
 * (~0.15 ms each, ftrace). Abstract unix sockets are per network namespace: the keeper's
 * connection is made before, and the monitor opens no other afterwards.
 */
static bool monitor_may_enter_netns(const struct sandbox *sb)
{
	const struct plan *p = sb->plan;

	return !p->slirp && !p->oci_netns && !oci_joined_flags(p) && p->oci_created_fd <= 0;
}

static int clone_sandbox(struct sandbox *sb, struct herr *e)
{
	unsigned long long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC |
				   CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_PIDFD;
	struct clone_args args = {.pidfd = (uintptr_t)&sb->pidfd, .exit_signal = SIGCHLD};
	long pid;

	/* With a cgroup of its own, the init makes its cgroup namespace once it is inside it (a
	 * namespace made here would be rooted at the monitor's cgroup). On v2 it is born inside:
	 * no moment outside its limits. */
	if (sb->cg.active)
		flags &= ~(unsigned long long)CLONE_NEWCGROUP;
	flags &= ~oci_joined_flags(sb->plan); /* OCI: namespaces joined by path (issue 8) */
	if (cgroup_clone_fd(&sb->cg) >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cgroup_clone_fd(&sb->cg);
	}
	if (use_keeper_netns(sb) && use_keeper_ipcns(sb)) {
		sb->ipc_ready = true;
		flags &= ~(unsigned long long)CLONE_NEWIPC;
	}
	/* One clone with every namespace: the child is pid 1 of the new pid namespace. */
	if (use_keeper_netns(sb) && monitor_may_enter_netns(sb)) {
		sb->net_ready = true;
		if (setns(sb->ids.keeper_netns, CLONE_NEWNET) < 0)
			return herr_set(e, errno, "cannot enter the network namespace of the keeper");
		if (enter_keeper_ipcns(sb, e) < 0)
			return -1;
		args.flags |= flags;
		pid = syscall(SYS_clone3, &args, sizeof(args));
		if (pid == 0)
			init_main(sb);
		if (pid < 0)
			return explain_clone_failure(sb, args.flags, errno, e);
	} else if (use_keeper_netns(sb)) {
		sb->net_ready = true;
		pid = clone_in_netns(sb, flags, e);
	} else {
		args.flags |= flags | (sb->plan->share_net ? 0 : CLONE_NEWNET);
		if (oci_join_namespaces(sb->plan, e) < 0) /* OCI (issue 8) */
			return -1;
		pid = syscall(SYS_clone3, &args, sizeof(args));
		if (pid == 0)
			init_main(sb);
		if (pid < 0)
			return explain_clone_failure(sb, args.flags, errno, e);
	}
	if (pid < 0)
		return -1;
	sb->pid = (pid_t)pid;
	close(sb->sock[1]);
	sb->sock[1] = -1;
	return 0;
}

static int await_ready(struct sandbox *sb, int *master, struct herr *e)
{
	bool tap_comes = sb->plan->slirp && sb->tap < 0;
	int fds[2], r;
	struct msg m;

	r = channel_recv_fds(sb->sock[0], &m, fds, 2);
	if (tap_comes)
		sb->tap = fds[0];
	*master = fds[tap_comes ? 1 : 0];
	if (!tap_comes && fds[1] >= 0)
		close(fds[1]); /* nothing else may come: never leak it */
	if (r == 0 && m.type == MSG_READY) {
		if (sb->net)
			netstack_set_tap(sb->net, sb->tap);
		return 0;
	}
	if (r == 0 && m.type == MSG_ERROR) {
		memcpy(e->msg, m.text, sizeof(e->msg));
		e->exit_code = m.exit_code ? m.exit_code : EXIT_SETUP;
		return -1;
	}
	return herr_set(e, r < 0 ? errno : 0, "the sandbox's init died during setup");
}

/* The monitor moves the init into its v1 cgroups. An init that already failed (a bind source
 * missing) is gone by then, but said why before it went: that is the error, not the broken
 * pipe or the missing process it leaves. */
static int attach(struct sandbox *sb, struct herr *e)
{
	struct herr init_e = {0};
	int master = -1;

	if (cgroup_attach(&sb->cg, sb->pid, sb->sock[0], e) == 0)
		return 0;
	/* an init still alive waits for our word: then the failure is ours to tell */
	if (sb->pidfd < 0 ||
	    poll(&(struct pollfd){.fd = sb->pidfd, .events = POLLIN}, 1, 1000) != 1)
		return -1;
	if (await_ready(sb, &master, &init_e) < 0 && init_e.msg[0])
		*e = init_e;
	if (master >= 0)
		close(master);
	return -1;
}

static int start_sandbox(struct sandbox *sb, int *master, struct herr *e)
{
	const struct plan *p = sb->plan;
	char *cwd;

	/* The D-Bus proxy first, before we join the keeper: the bus checks our uid. The keeper
	 * before the cgroup: a systemd scope that step may move us into must not get the
	 * long-lived keeper we would start (the scope would outlive the sandbox). */
	if (dbus_proxy_start(p, &sb->dbus, e) < 0 || mounts_create_sources(p, e) < 0 ||
	    prepare_network(sb, e) < 0 || user_prepare(p, &sb->ids, e) < 0 ||
	    oci_user_maps(p, &sb->ids, e) < 0 || /* OCI: the engine's id maps (issue 8) */
	    cgroup_setup(p, &sb->cg, &sb->bounds, e) < 0 ||
	    oci_join_netns(p, &sb->ids, e) < 0 || /* OCI: the engine's netns (issue 8) */
	    check_pass_fds(p, e) < 0 || channel_pair(sb->sock, e) < 0)
		return -1;
	sb->envp = env_build(p, &sb->ids);
	if (stdfds_probe(&sb->fds, &sb->tty, e) < 0) /* the caller's terminal, files (stdfds.h) */
		return -1;
	oci_terminal(p, &sb->tty); /* OCI: process.terminal (issue 8) */
	cwd = getcwd(NULL, 0);
	sb->cwd = cwd;
	if (clone_sandbox(sb, e) < 0)
		return -1;
	stdfds_close_inner(&sb->fds); /* the init's now: EOF reaches the relay when it ends */
	/* Our memory holds nothing secret, but keep other processes of the user from ptracing
	 * the process that holds the sandbox's pty and pidfd. (After the clone, so the child
	 * stays readable for newuidmap.) */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (!(oci_joined_flags(p) & CLONE_NEWUSER) && /* OCI: a joined one has its maps */
	    user_write_maps(sb->pid, &sb->ids, e) < 0)
		return -1;
	hutch_say(p->verbose, "user namespace: %zu uid extents, %zu gid extents%s",
		  sb->ids.uidmap.n, sb->ids.gidmap.n,
		  sb->ids.subids ? ", nested in the keeper's" : " (own ids only)");
	if (channel_send(sb->sock[0], MSG_GO, NULL, -1) < 0)
		return herr_set(e, errno, "cannot reach the sandbox's init");
	if (attach(sb, e) < 0) /* v1 cgroups, while the init mounts */
		return -1;
	/* The keeper connection stays open until the sandbox ends (sandbox_free): see keeper.h. */
	if (await_ready(sb, master, e) < 0)
		return -1;
	dbus_proxy_hide(p, &sb->dbus); /* the sandbox's bind holds it now */
	return 0;
}

static void sandbox_free(struct sandbox *sb)
{
	dbus_proxy_stop(sb->plan, &sb->dbus);
	netstack_free(sb->net);
	if (sb->tap >= 0)
		tap_close(sb->tap);
	if (sb->pidfd >= 0)
		close(sb->pidfd);
	for (int i = 0; i < 2; i++)
		if (sb->sock[i] >= 0)
			close(sb->sock[i]);
	stdfds_close_inner(&sb->fds);
	stdfds_close_outer(&sb->fds);
	env_free(sb->envp);
	free(sb->cwd);
	user_free(&sb->ids);
	cgroup_destroy(&sb->cg);
}

static double since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Once the init is gone: nothing of the sandbox may outlive it, then the numbers. */
static int finish(struct sandbox *sb, int status, const struct timespec *t0, struct herr *e)
{
	struct run_result r = {.status = status, .timed_out = sb->timed_out, .bounds = &sb->bounds};
	struct herr report_err = {0};

	cgroup_kill(&sb->cg);
	r.wall_s = since(t0);
	cgroup_read_stats(&sb->cg, &r.stats);
	if (status < 0) { /* the sandbox could not be built: the report says so too */
		r.status = e->exit_code ? e->exit_code : EXIT_SETUP;
		r.error = e->msg;
	}
	if (report_write(sb->plan, &sb->cg, &r, &report_err) < 0)
		herr_report(&report_err);
	return status;
}

int sandbox_run(const struct plan *p, struct herr *e)
{
	struct sandbox sb = {
	    .plan = p,
	    .ids = {.keeper_netns = -1, .keeper_ipcns = -1, .keeper_conn = -1},
	    .sock = {-1, -1},
	    .pid = -1,
	    .pidfd = -1,
	    .tap = -1,
	    .fds = STDFDS_INIT,
	    .dbus = DBUS_PROXY_INIT,
	};
	int master = -1, status;
	struct timespec t0;
	sigset_t old;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	monitor_block_signals(&old);
	if (start_sandbox(&sb, &master, e) < 0) {
		/* The init exits on its own (error, or EOF on the channel); reap it. */
		if (sb.pidfd >= 0) {
			siginfo_t si;
			syscall(SYS_pidfd_send_signal, sb.pidfd, SIGKILL, NULL, 0);
			waitid(P_PIDFD, (id_t)sb.pidfd, &si, WEXITED);
		}
		finish(&sb, -1, &t0, e);
		sandbox_free(&sb);
		return -1;
	}
	/* OCI create: the container exists (issue 8) */
	oci_sandbox_created(p, &sb.ids, sb.pid, &master);
	status = finish(&sb, monitor_wait(&sb, master, e), &t0, e);
	sandbox_free(&sb);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return status;
}
