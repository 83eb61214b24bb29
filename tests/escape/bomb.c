/* 29: a fork bomb and a memory hog. Full limits come with cgroups (issue 5); here the bomb is
 * bounded by the per-user-namespace RLIMIT_NPROC it sets itself, the hog by RLIMIT_AS, and the
 * test checks the host stays responsive. What this shows: nothing in the sandbox stops the
 * kernel's own limits from applying. */
#include "escape.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

int main(void)
{
	struct rlimit procs = {64, 64}, mem = {256 << 20, 256 << 20};
	size_t total = 0;
	int n = 0;

	if (setrlimit(RLIMIT_NPROC, &procs) < 0 || setrlimit(RLIMIT_AS, &mem) < 0)
		escape_cannot("setrlimit");
	for (; n < 10000; n++) {
		pid_t pid = fork();
		if (pid == 0) {
			pause();
			_exit(0);
		}
		if (pid < 0)
			break;
	}
	CHECK(n < 10000, "the fork bomb hit a limit after %d processes (%s)", n, strerror(errno));
	signal(SIGTERM, SIG_IGN);
	kill(0, SIGTERM);
	while (wait(NULL) > 0)
		;
	for (;;) {
		char *p = malloc(16 << 20);
		if (!p)
			break;
		memset(p, 1, 16 << 20);
		total += 16 << 20;
	}
	CHECK(total < (512u << 20), "the memory hog stopped at %zu MiB", total >> 20);
	return escape_done();
}
