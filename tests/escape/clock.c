/* 26: sethostname and setdomainname (the test checks the host's name is unchanged) and setting
 * the clocks. */
#include "escape.h"

#include <sys/syscall.h>
#include <sys/timex.h>
#include <time.h>

int main(void)
{
	struct timespec ts = {0, 0};
	struct timex tx = {.modes = ADJ_OFFSET};

	EXPECT(sethostname("hutch-escaped", 13), EPERM);
	EXPECT(setdomainname("hutch-escaped", 13), EPERM);
	EXPECT(clock_settime(CLOCK_REALTIME, &ts), EPERM);
	EXPECT(syscall(SYS_clock_settime, CLOCK_REALTIME, NULL), EPERM);
	EXPECT(syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx), EPERM);
	EXPECT(syscall(SYS_adjtimex, &tx), EPERM);
	return escape_done();
}
