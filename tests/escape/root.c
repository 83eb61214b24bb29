/* 30: no path out through /proc/self/mountinfo, /proc/1/root, /proc/self/root or "..". */
#include "escape.h"

#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>

static bool same(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

int main(void)
{
	char link[256] = "";
	FILE *f;
	char line[1024];
	int fd;

	CHECK(same("/..", "/"), "/.. is /");
	CHECK(same("/proc/self/root", "/"), "/proc/self/root is /");
	CHECK(same("/proc/self/root/..", "/"), "/proc/self/root/.. is /");
	CHECK(readlink("/proc/self/root", link, sizeof(link) - 1) > 0 && strcmp(link, "/") == 0,
	      "/proc/self/root reads '/'");
	EXPECT(open("/proc/1/root/etc/hostname", O_RDONLY), EACCES, EPERM);
	EXPECT(open("/proc/1/cwd", O_RDONLY), EACCES, EPERM);
	fd = open("/", O_PATH);
	CHECK(fd >= 0 && fchdir(fd) == 0 && chdir("../../..") == 0 && same(".", "/"),
	      "cd ../../.. from / stays at /");
	/* every mount point in mountinfo is reachable from our root, none from outside it */
	f = fopen("/proc/self/mountinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		char mp[512];
		if (sscanf(line, "%*s %*s %*s %*s %511s", mp) == 1)
			CHECK(mp[0] == '/' && strncmp(mp, "/proc/1/", 8) != 0, "mount point %s",
			      mp);
	}
	if (f)
		fclose(f);
	return escape_done();
}
