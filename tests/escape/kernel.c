/* 25: the calls that change the whole machine: modules, kexec, acct, swap, reboot, the clock,
 * port I/O, the kernel log. Bad pointers: an allowed call would fail with EFAULT or EINVAL. */
#include "escape.h"

#include <linux/reboot.h>
#include <sys/syscall.h>

int main(void)
{
	EXPECT(syscall(SYS_init_module, NULL, 0, ""), EPERM);
	EXPECT(syscall(SYS_finit_module, -1, "", 0), EPERM);
	EXPECT(syscall(SYS_delete_module, "ext4", 0), EPERM);
	EXPECT(syscall(SYS_kexec_load, 0, 0, NULL, 0), EPERM);
	EXPECT(syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0), EPERM);
	EXPECT(syscall(SYS_acct, "/tmp/acct"), EPERM);
	EXPECT(syscall(SYS_swapon, "/tmp/swap", 0), EPERM);
	EXPECT(syscall(SYS_swapoff, "/tmp/swap"), EPERM);
	EXPECT(syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
		       LINUX_REBOOT_CMD_CAD_OFF, NULL),
	       EPERM);
	EXPECT(syscall(SYS_settimeofday, NULL, NULL), EPERM);
	EXPECT(syscall(SYS_iopl, 3), EPERM);
	EXPECT(syscall(SYS_ioperm, 0x80, 1, 1), EPERM);
	EXPECT(syscall(SYS_syslog, 3 /* SYSLOG_ACTION_READ_ALL */, NULL, 0), EPERM);
	EXPECT(syscall(SYS_quotactl, 0, NULL, 0, NULL), EPERM);
	EXPECT(syscall(SYS_lookup_dcookie, 0, NULL, 0), EPERM);
	EXPECT(syscall(SYS_mbind, NULL, 0, 0, NULL, 0, 0), EPERM);
	EXPECT(syscall(SYS_migrate_pages, 0, 0, NULL, NULL), EPERM);
	EXPECT(syscall(SYS_move_pages, 0, 0, NULL, NULL, NULL, 0), EPERM);
	EXPECT(syscall(SYS_set_mempolicy, 0, NULL, 0), EPERM);
	EXPECT(syscall(SYS_process_madvise, -1, NULL, 0, 0, 0), EPERM);
	return escape_done();
}
