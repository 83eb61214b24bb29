/* bench/seccomp's workload: N getppid() system calls (default 1000000), the cheapest call the
 * default profile allows, so the seccomp filter's share of each call shows. Prints ns per call
 * measured inside, which leaves the sandbox's start out of the figure.
 *
 *   getppid-loop [N] [ioctl]
 *
 * With `ioctl`, the loop makes ioctl(-1, FIONREAD) calls instead: a call with an argument rule
 * in the default profile, so the kernel cannot answer it from its action cache and runs the
 * filter program each time (the control for bench/seccomp's profile of where the time goes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	int ioctl_loop = argc > 2 && strcmp(argv[2], "ioctl") == 0;
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		if (ioctl_loop)
			syscall(SYS_ioctl, -1, FIONREAD, NULL);
		else
			syscall(SYS_getppid);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / (double)n);
	return 0;
}
