#include "init.h"

#include <errno.h>
#include <linux/close_range.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caps.h"
#include "channel.h"
#include "seccomp.h"

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

void init_forwarded_signals(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(set, forwarded[i]);
}

static void ignore_signal(int sig)
{
	(void)sig; /* only here so that the kernel delivers the signal to pid 1 */
}

static void default_dispositions(const sigset_t *which)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};

	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && (!which || sigismember(which, sig)))
			sigaction(sig, &dfl, NULL);
}

void init_prepare_signals(void)
{
	struct sigaction sa = {.sa_handler = ignore_signal};
	sigset_t set;

	init_forwarded_signals(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* Whatever the caller ignored (SIG_IGN survives execve) is reset here, once, for the
	 * command too; it only has to undo the handlers below (init_command_signals). */
	default_dispositions(NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&set, sig))
			sigaction(sig, &sa, NULL);
}

void init_command_signals(void)
{
	sigset_t set, none;

	/* Default before unblocking: a signal forwarded meanwhile acts as on the command. */
	init_forwarded_signals(&set);
	sigaddset(&set, SIGCHLD);
	default_dispositions(&set);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

void init_reset_signals(void)
{
	sigset_t none;

	default_dispositions(NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static int exit_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 125;
}

/* Close every fd but a and b (both above 2): fds 0-2 too, which are the caller's (a pipe, a
 * file: the init has no use for them, and holds none of the caller's terminal then). */
static void close_all_but(int a, int b)
{
	unsigned lo = (unsigned)(a < b ? a : b), hi = (unsigned)(a < b ? b : a);

	if (lo > 0)
		syscall(SYS_close_range, 0U, lo - 1, 0U);
	if (hi > lo + 1)
		syscall(SYS_close_range, lo + 1, hi - 1, 0U);
	syscall(SYS_close_range, hi + 1, ~0U, 0U);
}

/*
 * The command is gone: end every other process of the sandbox and reap them all (the kernel
 * would kill them when we exit, and wait for them inside our exit), then tell the monitor the
 * status. From then on nothing of the sandbox runs, so the monitor may return at once, as
 * bubblewrap's does, rather than wait for the rest of our exit: the namespaces' teardown
 * (mounts, network), about half a millisecond of the kernel's time here (see monitor_wait).
 * write, not sendmsg: the filter allows only write.
 */
__attribute__((noreturn)) static void finish(int code, int sock)
{
	struct msg m = {.type = MSG_EXIT, .exit_code = code};
	ssize_t told;

	kill(-1, SIGKILL); /* every process of the namespace but us */
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
	told = write(sock, &m, sizeof(m)); /* fails only when the monitor is gone: nobody to tell */
	(void)told;
	_exit(code);
}

/*
 * /proc/1/cmdline needs no access right: anything in the sandbox reads it, and the init is a
 * copy of the launcher, so it showed the whole `hutch run ...` line, host paths and all (a
 * --bind source, the bundle of an OCI container). Renaming the process the proper way
 * (PR_SET_MM_ARG_START) takes CAP_SYS_RESOURCE of the host. So the strings themselves are
 * overwritten: our name, then NULs, then a last byte that is not NUL; the kernel takes that
 * byte as the mark of a rewritten title (fs/proc/base.c, get_mm_cmdline) and shows the area up
 * to its first NUL only: "hutch-init". Our copy of the memory only: the monitor keeps its own.
 * In the init after the command's fork (in `hutch run` its argv lives in these strings) and the
 * last use of the plan.
 */
void init_hide_launcher(char *args, size_t len)
{
	static const char name[] = "hutch-init";
	size_t n = sizeof(name) - 1;

	if (!args || len < 3)
		return;
	if (n > len - 2)
		n = len - 2;
	memset(args, 0, len);
	memcpy(args, name, n);
	args[len - 1] = '-';
}

void init_supervise(pid_t command, int ready, int sock, char *args, size_t len)
{
	struct herr ignored = {0};
	siginfo_t si;
	sigset_t set;

	/* From here on the init only waits and forwards: it keeps no capability and no fd but the
	 * gate and the channel to the monitor (not even fds 0-2), and it cannot be ptraced by the
	 * command. */
	init_hide_launcher(args, len);
	close_all_but(ready, sock);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	caps_drop(0, CAPS_BOUNDING_LATE, &ignored);
	/* No capability, nothing to do but wait: a filter for what is left of the kernel. */
	sc_install_init(&ignored);
	/* Only now may the command go on: before this it could have reached an init that still
	 * had its capabilities and no filter. (The gate's fd stays: close is not in the filter.) */
	if (write(ready, "g", 1) != 1)
		_exit(EXIT_SETUP);

	init_forwarded_signals(&set);
	sigaddset(&set, SIGCHLD);
	for (;;) {
		if (sigwaitinfo(&set, &si) < 0)
			continue;
		if (si.si_signo != SIGCHLD) {
			kill(command, si.si_signo);
			continue;
		}
		for (;;) {
			int status;
			pid_t pid = waitpid(-1, &status, WNOHANG);

			if (pid <= 0)
				break;
			if (pid == command)
				finish(exit_status(status), sock);
		}
	}
}
