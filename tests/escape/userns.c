/* 16: a nested user namespace (whose capabilities open the kernel's namespaced-root attack
 * surface), through unshare, clone with namespace flags, and clone3. */
#include "escape.h"

#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static long raw_clone(unsigned long flags)
{
	long pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return pid;
}

int main(void)
{
	struct clone_args args = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};

	EXPECT(unshare(CLONE_NEWUSER), EPERM);
	EXPECT(unshare(CLONE_NEWNS), EPERM);
	EXPECT(unshare(CLONE_NEWNET), EPERM);
	EXPECT(raw_clone(CLONE_NEWUSER), EPERM);
	EXPECT(raw_clone(CLONE_NEWPID), EPERM);
	EXPECT(raw_clone(CLONE_NEWNS | CLONE_NEWUSER), EPERM);
	EXPECT(raw_clone((uint64_t)CLONE_NEWUSER | 0x100000000ULL), EPERM);
	/* clone3's flags are in memory the filter cannot read: refused as a whole, ENOSYS */
	EXPECT(syscall(SYS_clone3, &args, sizeof(args)), ENOSYS);
	EXPECT(syscall(SYS_setns, 0, 0), EPERM);
	return escape_done();
}
