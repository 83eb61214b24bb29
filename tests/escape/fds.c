/* 3: no leaked host fds (only 0, 1, 2 are open), and the working directory is inside. */
#include "escape.h"

#include <dirent.h>
#include <limits.h>

int main(void)
{
	char cwd[PATH_MAX];
	struct dirent *d;
	DIR *dir = opendir("/proc/self/fd");

	if (!dir)
		escape_cannot("opendir /proc/self/fd");
	while ((d = readdir(dir))) {
		int fd = atoi(d->d_name);
		char link[PATH_MAX] = "";

		if (d->d_name[0] == '.' || fd == dirfd(dir))
			continue;
		if (fd > 2) {
			char p[64];
			snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
			if (readlink(p, link, sizeof(link) - 1) < 0)
				strcpy(link, "?");
		}
		CHECK(fd <= 2, "fd %d is %s", fd, fd <= 2 ? "a standard one" : link);
	}
	closedir(dir);
	CHECK(getcwd(cwd, sizeof(cwd)) && cwd[0] == '/', "getcwd is inside: %s",
	      getcwd(cwd, sizeof(cwd)) ? cwd : strerror(errno));
	return escape_done();
}
