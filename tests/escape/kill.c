/* 10: signal a process outside (the host canary) and everything with kill(-1). */
#include "escape.h"

#include <signal.h>

int main(int argc, char **argv)
{
	pid_t canary = argc > 1 ? atoi(argv[1]) : 0;

	if (canary <= 0)
		escape_cannot("usage: kill CANARY_PID");
	EXPECT(kill(canary, SIGKILL), ESRCH);
	EXPECT(kill(-canary, SIGKILL), ESRCH);
	/* every process we may signal: in the sandbox, only ourselves and the init (which kill(-1)
	 * skips), so ESRCH; the host canary must survive it (the test checks) */
	EXPECT(kill(-1, SIGKILL), ESRCH);
	EXPECT(kill(1, SIGKILL), EPERM);
	return escape_done();
}
