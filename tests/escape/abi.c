/* 19: the other system call ABIs of x86_64: x32 (numbers with __X32_SYSCALL_BIT) and i386
 * through int 0x80, whose numbering would let a call slip past rules written for x86_64 (i386
 * has socketcall, and unshare under another number). The filter kills the process. */
#include "escape.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#if defined(__x86_64__)
static void x32_getpid(void)
{
	long r = syscall(0x40000000 | SYS_getpid);
	_exit(r > 0 ? 0 : 3);
}

static void x32_unshare(void)
{
	long r = syscall(0x40000000 | SYS_unshare, 0x10000000 /* CLONE_NEWUSER */);
	_exit(r == 0 ? 0 : 3);
}

static void i386_getpid(void)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(20) : "memory");
	_exit(r > 0 ? 0 : 3);
}

static void i386_unshare(void)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(310), "b"(0x10000000) : "memory");
	_exit(r == 0 ? 0 : 3);
}

static void i386_socketcall(void)
{
	long args[3] = {40 /* AF_VSOCK */, 1, 0}, r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(102), "b"(1), "c"(args) : "memory");
	_exit(r >= 0 ? 0 : 3);
}

/* Run one attempt in a child: it exits 0 only when the call worked. */
static void attempt(const char *what, void (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		fn();
	waitpid(pid, &status, 0);
	if (WIFSIGNALED(status))
		CHECK(WTERMSIG(status) == SIGSYS || WTERMSIG(status) == SIGSEGV,
		      "%s: killed by signal %d", what, WTERMSIG(status));
	else
		CHECK(WEXITSTATUS(status) != 0, "%s: %s", what,
		      WEXITSTATUS(status) ? "failed" : "WORKED");
}

int main(void)
{
	attempt("x32 getpid", x32_getpid);
	attempt("x32 unshare(CLONE_NEWUSER)", x32_unshare);
	attempt("int 0x80 getpid", i386_getpid);
	attempt("int 0x80 unshare(CLONE_NEWUSER)", i386_unshare);
	attempt("int 0x80 socketcall(socket(AF_VSOCK))", i386_socketcall);
	return escape_done();
}
#else
int main(void)
{
	printf("ok not x86_64: no other ABI to try\n");
	return 0;
}
#endif
