#include "monitor.h"

#include <errno.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel.h"
#include "init.h"
#include "pollset.h"
#include "slirp.h"
#include "util.h"

void monitor_block_signals(sigset_t *old)
{
	sigset_t set;

	init_forwarded_signals(&set);
	sigprocmask(SIG_BLOCK, &set, old);
}

static int status_of(const siginfo_t *si)
{
	if (si->si_code == CLD_EXITED)
		return si->si_status;
	return 128 + si->si_status; /* the init itself was killed (e.g. SIGKILL from outside) */
}

static void forward(struct sandbox *sb, const struct relay *r, int sig)
{
	/* With a pty the window size goes to the pty, and the kernel tells the foreground job;
	 * the command has no controlling terminal when the pty only carries output: tell it. */
	if (sig == SIGWINCH && r && r->master >= 0) {
		relay_resize(r);
		if (r->ctty)
			return;
	}
	syscall(SYS_pidfd_send_signal, sb->pidfd, sig, NULL, 0);
}

/* After --timeout's SIGTERM, the command has this long to end before everything is killed. */
#define TIMEOUT_GRACE_MS 2000

static int arm(int tfd, uint64_t ms)
{
	struct itimerspec its = {.it_value = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000}};

	return timerfd_settime(tfd, 0, &its, NULL);
}

static int timer_start(const struct sandbox *sb, struct herr *e)
{
	_cleanup_close_ int tfd = -1;

	if (!sb->plan->timeout_ms)
		return -1;
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (tfd < 0 || arm(tfd, sb->plan->timeout_ms) < 0)
		return herr_set(e, errno, "--timeout: timerfd");
	return take_fd(&tfd);
}

/* First expiry: SIGTERM, which the init passes to the command. Second: kill everything. */
static void timer_fired(struct sandbox *sb, int tfd)
{
	uint64_t n;

	if (read(tfd, &n, sizeof(n)) != sizeof(n))
		return;
	if (!sb->timed_out) {
		sb->timed_out = true;
		syscall(SYS_pidfd_send_signal, sb->pidfd, SIGTERM, NULL, 0);
		arm(tfd, TIMEOUT_GRACE_MS);
		return;
	}
	cgroup_kill(&sb->cg);
	syscall(SYS_pidfd_send_signal, sb->pidfd, SIGKILL, NULL, 0);
}

/*
 * May the monitor return once the init said the command exited (MSG_EXIT), before the init's
 * own exit? By then the init has killed and reaped every other process of the sandbox; what
 * its exit still does is the kernel's teardown of the namespaces (the mounts, the network),
 * about half a millisecond here (ftrace: from the init's exit_group to our waitid), which a
 * user waiting for `hutch run` gains nothing from. bubblewrap returns at the same point. Not
 * when anything of ours must wait for the init to be gone: a cgroup to remove (limits,
 * --timeout, --report's figures), an image's overlay to take down, an OCI container's state.
 */
static bool may_return_early(const struct sandbox *sb)
{
	const struct plan *p = sb->plan;

	return !sb->cg.active && !p->report && p->n_layers == 0 && p->oci_created_fd <= 0;
}

/* The forwarded signals, as a signalfd. */
static int signals_start(const struct sandbox *sb, bool relays, struct herr *e)
{
	sigset_t set;
	int sfd;

	/* libslirp writes to sockets whose peer may have gone (a server that closed while data
	 * was still queued), a relay into a pipe the command closed: that must be an EPIPE, not
	 * the monitor's death. After the clone, so no process of the sandbox inherits the
	 * ignored SIGPIPE. */
	if (relays || sb->net)
		signal(SIGPIPE, SIG_IGN);
	init_forwarded_signals(&set);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return sfd < 0 ? herr_set(e, errno, "signalfd") : sfd;
}

int monitor_wait(struct sandbox *sb, int master, struct herr *e)
{
	int chan = sb->sock[0], early = -1;
	_cleanup_close_ int tfd = timer_start(sb, e);
	struct relay relay, *r = NULL;
	struct stdfd_relays fr;
	_cleanup_close_ int sfd = -1;
	siginfo_t si = {0};
	struct pollset ps = {0};

	if (sb->plan->timeout_ms && tfd < 0)
		return -1;
	sfd = signals_start(sb, stdfds_relay_start(&fr, &sb->fds), e);
	if (sfd < 0)
		return -1;
	if (master >= 0) {
		if (relay_start(&relay, &sb->tty, master, e) < 0) {
			close(master);
			return -1;
		}
		r = &relay;
	}
	/* The event sources: the init's exit, forwarded signals, the --timeout timer, the terminal
	 * relay, the relays of fds 0-2 and, with --net slirp, the tap and libslirp's sockets and
	 * timers. Gathered afresh each round. */
	for (;;) {
		struct signalfd_siginfo ssi;
		int timeout = -1, n, in = -1, out = -1, timer, ci;

		ps.n = 0;
		pollset_add(&ps, sb->pidfd, POLLIN);
		pollset_add(&ps, sfd, POLLIN);
		timer = pollset_add(&ps, tfd, POLLIN);
		ci = pollset_add(&ps, chan, POLLIN);
		if (r) {
			in = pollset_add(&ps, r->len == 0 ? r->in : -1, POLLIN);
			out = pollset_add(&ps, r->master, POLLIN | (r->len ? POLLOUT : 0));
		}
		stdfds_relay_fill(&fr, &ps);
		if (sb->net)
			netstack_fill(sb->net, &ps, &timeout);
		n = poll(ps.v, ps.n, timeout);
		if (n < 0 && errno != EINTR)
			break;
		if (pollset_revents(&ps, 0))
			break;
		if (pollset_revents(&ps, ci)) {
			struct msg m;

			if (channel_recv(chan, &m, NULL) == 0 && m.type == MSG_EXIT &&
			    may_return_early(sb)) {
				early = m.exit_code;
				break;
			}
			chan = -1; /* the rest comes from waitid */
		}
		if (pollset_revents(&ps, timer))
			timer_fired(sb, tfd);
		while (pollset_revents(&ps, 1) && read(sfd, &ssi, sizeof(ssi)) == sizeof(ssi))
			forward(sb, r, (int)ssi.ssi_signo);
		if (r)
			relay_step(r, pollset_revents(&ps, in), pollset_revents(&ps, out));
		stdfds_relay_step(&fr, &ps);
		if (sb->net)
			netstack_dispatch(sb->net, &ps, n < 0);
	}
	free(ps.v);
	if (r)
		relay_finish(r);
	stdfds_relay_finish(&fr);
	if (early >= 0)
		return early;
	while (waitid(P_PIDFD, (id_t)sb->pidfd, &si, WEXITED) < 0)
		if (errno != EINTR)
			return herr_set(e, errno, "waiting for the sandbox");
	return status_of(&si);
}
