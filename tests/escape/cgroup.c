/* 6, 7: mount cgroup v1 to write release_agent; write the host's cgroup files or move out of our
 * own cgroup. */
#include "escape.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

int main(void)
{
	char buf[256] = "";
	int fd;

	mkdir("/tmp/cg", 0700);
	EXPECT(mount("cgroup", "/tmp/cg", "cgroup", 0, "memory"), EPERM);
	EXPECT(mount("cgroup", "/tmp/cg", "cgroup", 0, "none,name=x,release_agent=/tmp/x"), EPERM);
	EXPECT(mount("cgroup2", "/tmp/cg", "cgroup2", 0, NULL), EPERM);
	/* With a cgroup (the default limits, where one is delegated) /sys/fs/cgroup shows the
	 * sandbox's own, read-only; release_agent lives only at a hierarchy's top, which a cgroup
	 * namespace rooted below never shows. */
	EXPECT(open("/sys/fs/cgroup/memory/release_agent", O_WRONLY), ENOENT);
	EXPECT(open("/sys/fs/cgroup/cgroup.procs", O_WRONLY), ENOENT, EROFS);
	EXPECT(open("/sys/fs/cgroup/unified/cgroup.procs", O_WRONLY), ENOENT, EROFS);
	/* the cgroup namespace hides where we are on the host */
	fd = open("/proc/self/cgroup", O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = 0;
		close(fd);
	}
	CHECK(strstr(buf, "hutch") == NULL && strstr(buf, "user") == NULL,
	      "/proc/self/cgroup shows no host path");
	return escape_done();
}
