/* 9: ptrace, process_vm_readv, pidfd_getfd and kcmp on a process outside (a host canary whose pid
 * the test passes in) and on the sandbox's own init. */
#include "escape.h"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>

int main(int argc, char **argv)
{
	pid_t canary = argc > 1 ? atoi(argv[1]) : 0;
	char buf[8];
	struct iovec local = {buf, sizeof(buf)}, remote = {(void *)0x400000, sizeof(buf)};

	if (canary <= 0)
		escape_cannot("usage: ptrace CANARY_PID");
	EXPECT(ptrace(PTRACE_ATTACH, canary, 0, 0), ESRCH);
	EXPECT(ptrace(PTRACE_SEIZE, canary, 0, 0), ESRCH);
	EXPECT(process_vm_readv(canary, &local, 1, &remote, 1, 0), ESRCH);
	EXPECT(syscall(SYS_pidfd_open, canary, 0), ESRCH);
	EXPECT(syscall(SYS_pidfd_getfd, 0, 0, 0), EPERM);
	EXPECT(syscall(SYS_kcmp, 1, canary, 0, 0, 0), EPERM);
	/* the init is ours to see but not to touch: not dumpable, and Landlock's domain */
	EXPECT(ptrace(PTRACE_ATTACH, 1, 0, 0), EPERM);
	EXPECT(process_vm_readv(1, &local, 1, &remote, 1, 0), EPERM);
	return escape_done();
}
