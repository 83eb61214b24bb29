/* 17: unmount or remount read-write the read-only binds, and the new mount API. */
#include "escape.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/syscall.h>

int main(void)
{
	struct mount_attr attr = {.attr_clr = MOUNT_ATTR_RDONLY};

	EXPECT(umount2("/usr", MNT_DETACH), EPERM);
	EXPECT(umount2("/etc", 0), EPERM);
	EXPECT(mount(NULL, "/usr", NULL, MS_REMOUNT | MS_BIND, NULL), EPERM);
	EXPECT(mount("/tmp", "/usr", NULL, MS_BIND, NULL), EPERM);
	EXPECT(syscall(SYS_pivot_root, "/tmp", "/tmp"), EPERM);
	EXPECT(syscall(SYS_fsopen, "tmpfs", 0), EPERM);
	EXPECT(syscall(SYS_fspick, AT_FDCWD, "/usr", 0), EPERM);
	EXPECT(syscall(SYS_open_tree, AT_FDCWD, "/usr", OPEN_TREE_CLONE), EPERM);
	EXPECT(syscall(SYS_mount_setattr, AT_FDCWD, "/usr", 0, &attr, sizeof(attr)), EPERM);
	EXPECT(syscall(SYS_move_mount, -1, "", -1, "", 0), EPERM);
	EXPECT(syscall(SYS_fsconfig, -1, 0, NULL, NULL, 0), EPERM);
	EXPECT(syscall(SYS_fsmount, -1, 0, 0), EPERM);
	EXPECT(open("/usr/hutch-escape", O_WRONLY | O_CREAT, 0644), EROFS, EACCES);
	EXPECT(open("/etc/passwd", O_WRONLY), EROFS, EACCES);
	return escape_done();
}
