/* 13: perf_event_open (a long line of kernel bugs, and a side channel). */
#include "escape.h"

#include <sys/syscall.h>

int main(void)
{
	EXPECT(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0), EPERM);
	EXPECT(syscall(SYS_perf_event_open, (void *)1, -1, 0, -1, 0), EPERM);
	return escape_done();
}
