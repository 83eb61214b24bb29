/* 23: writes to /sys (uevent_helper, kernel knobs): the sandbox has no /sys. */
#include "escape.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

int main(void)
{
	EXPECT(open("/sys/kernel/uevent_helper", O_WRONLY), ENOENT);
	EXPECT(open("/sys/kernel/mm/transparent_hugepage/enabled", O_WRONLY), ENOENT);
	EXPECT(open("/sys/power/state", O_WRONLY), ENOENT);
	mkdir("/tmp/sys", 0700);
	EXPECT(mount("sysfs", "/tmp/sys", "sysfs", 0, NULL), EPERM);
	return escape_done();
}
