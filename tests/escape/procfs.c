/* 22: writes to /proc/sys and /proc/sysrq-trigger; reads of /proc/kcore and other kernel
 * memory views. */
#include "escape.h"

#include <fcntl.h>

int main(void)
{
	char buf[16];
	int fd;

	EXPECT(open("/proc/sys/kernel/hostname", O_WRONLY), EROFS, EACCES);
	EXPECT(open("/proc/sys/vm/drop_caches", O_WRONLY), EROFS, EACCES);
	EXPECT(open("/proc/sys/kernel/core_pattern", O_WRONLY), EROFS, EACCES);
	fd = open("/proc/sysrq-trigger", O_WRONLY);
	if (fd >= 0) {
		EXPECT(write(fd, "h", 1), EROFS, EACCES, EPERM);
		close(fd);
	} else {
		CHECK(errno == EROFS || errno == EACCES || errno == ENOENT,
		      "/proc/sysrq-trigger: %s", strerror(errno));
	}
	fd = open("/proc/kcore", O_RDONLY);
	CHECK(fd < 0 || read(fd, buf, sizeof(buf)) <= 0, "/proc/kcore gives nothing");
	if (fd >= 0)
		close(fd);
	fd = open("/proc/keys", O_RDONLY);
	CHECK(fd < 0 || read(fd, buf, sizeof(buf)) <= 0, "/proc/keys gives nothing");
	EXPECT(open("/proc/kmem", O_RDONLY), ENOENT, EACCES);
	return escape_done();
}
