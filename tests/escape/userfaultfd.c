/* 14: userfaultfd, the race-widening tool of many exploits, also with UFFD_USER_MODE_ONLY. */
#include "escape.h"

#include <fcntl.h>
#include <sys/syscall.h>

int main(void)
{
	EXPECT(syscall(SYS_userfaultfd, O_CLOEXEC), EPERM);
	EXPECT(syscall(SYS_userfaultfd, 1 /* UFFD_USER_MODE_ONLY */), EPERM);
	EXPECT(open("/dev/userfaultfd", O_RDWR), ENOENT);
	return escape_done();
}
