#include "init.h"

#include <errno.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caps.h"
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

void init_prepare_signals(void)
{
	struct sigaction sa = {.sa_handler = ignore_signal};
	sigset_t set;

	init_forwarded_signals(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&set, sig))
			sigaction(sig, &sa, NULL);
}

void init_reset_signals(void)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL);
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

void init_supervise(pid_t command, int ready)
{
	struct herr ignored = {0};
	siginfo_t si;
	sigset_t set;

	/* From here on the init only waits and forwards: it keeps no capability and no fd that the
	 * command could reach through it, and it cannot be ptraced by the command. */
	if (ready > 3)
		syscall(SYS_close_range, 3U, (unsigned)ready - 1, 0U);
	syscall(SYS_close_range, (unsigned)ready + 1, ~0U, 0U);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	caps_drop(0, &ignored);
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
				_exit(exit_status(status)); /* the namespace and all in it go too */
		}
	}
}
