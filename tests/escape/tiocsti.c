/* 1, 2: fake input into the controlling terminal with TIOCSTI, plainly and with high bits set in
 * the request (the kernel ignores them: an ioctl request is 32 bits), and TIOCLINUX. */
#include "escape.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

int main(void)
{
	char c = 'x', sub = 2;
	int master, slave;

	/* a pty of our own, made our controlling terminal: TIOCSTI's kernel-side check (the
	 * caller's own terminal) then passes, so only seccomp can stop it */
	if (setsid() < 0 && errno != EPERM)
		escape_cannot("setsid");
	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
		escape_cannot("posix_openpt");
	slave = open(ptsname(master), O_RDWR);
	if (slave < 0)
		escape_cannot("open the pty");
	ioctl(slave, TIOCSCTTY, 0);
	EXPECT(syscall(SYS_ioctl, slave, TIOCSTI, &c), EPERM);
	EXPECT(syscall(SYS_ioctl, slave, (uint64_t)TIOCSTI | (uint64_t)0x123 << 32, &c), EPERM);
	EXPECT(syscall(SYS_ioctl, slave, (uint64_t)TIOCSTI | 0xffffffff00000000ULL, &c), EPERM);
	EXPECT(syscall(SYS_ioctl, slave, TIOCLINUX, &sub), EPERM);
	EXPECT(syscall(SYS_ioctl, slave, (uint64_t)TIOCLINUX | (uint64_t)1 << 40, &sub), EPERM);
	return escape_done();
}
