/* 15: io_uring (whose operations bypass seccomp's per-call checks). */
#include "escape.h"

#include <sys/syscall.h>

int main(void)
{
	EXPECT(syscall(SYS_io_uring_setup, 1, NULL), EPERM);
	EXPECT(syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0), EPERM);
	EXPECT(syscall(SYS_io_uring_register, -1, 0, NULL, 0), EPERM);
	return escape_done();
}
