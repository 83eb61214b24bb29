/* 24: device nodes: mknod fails, and /dev holds only the minimal set. */
#include "escape.h"

#include <dirent.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

int main(void)
{
	static const char *const allowed[] = {"null",	"zero",	  "full", "random", "urandom",
					      "tty",	"pts",	  "ptmx", "fd",	    "stdin",
					      "stdout", "stderr", "shm",  "console"};
	struct dirent *d;
	DIR *dir = opendir("/dev");

	EXPECT(mknod("/tmp/sda", S_IFBLK | 0600, makedev(8, 0)), EPERM);
	EXPECT(mknod("/tmp/mem", S_IFCHR | 0600, makedev(1, 1)), EPERM);
	EXPECT(mknod("/dev/shm/kmsg", S_IFCHR | 0600, makedev(1, 11)), EPERM);
	EXPECT(open("/dev/mem", O_RDONLY), ENOENT);
	EXPECT(open("/dev/sda", O_RDONLY), ENOENT);
	EXPECT(open("/dev/kmsg", O_RDONLY), ENOENT);
	if (!dir)
		escape_cannot("opendir /dev");
	while ((d = readdir(dir))) {
		bool ok = d->d_name[0] == '.';

		for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
			ok |= strcmp(allowed[i], d->d_name) == 0;
		CHECK(ok, "/dev/%s is in the minimal set", d->d_name);
	}
	closedir(dir);
	return escape_done();
}
