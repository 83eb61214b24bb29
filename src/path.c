#include "path.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

bool path_has_dot_component(const char *path)
{
	for (const char *p = path; *p;) {
		size_t len = strcspn(p, "/");

		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return true;
		p += len;
		p += *p == '/';
	}
	return false;
}

int path_open(int rootfd, const char *path, int flags)
{
	/* RESOLVE_IN_ROOT treats rootfd as "/" for absolute symlinks and clamps "..";
	 * RESOLVE_NO_MAGICLINKS refuses /proc/self/fd-style jumps to anywhere. */
	struct open_how how = {
	    .flags = (unsigned)(flags | O_CLOEXEC),
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	const char *rel = path;
	long fd;

	while (*rel == '/')
		rel++;
	if (*rel == 0)
		rel = ".";
	fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

int path_make(int rootfd, const char *path, enum path_kind kind)
{
	_cleanup_free_ char *copy = NULL;
	_cleanup_close_ int parent = -1;
	char *slash, *base;
	int fd = path_open(rootfd, path, O_PATH);

	if (fd != -ENOENT)
		return fd;
	copy = xstrdup(path);
	for (size_t n = strlen(copy); n > 1 && copy[n - 1] == '/'; n--)
		copy[n - 1] = 0;
	slash = strrchr(copy, '/');
	if (!slash)
		return -EINVAL;
	base = slash + 1;
	*slash = 0;
	parent = path_make(rootfd, copy[0] ? copy : "/", PATH_DIR);
	if (parent < 0)
		return parent;
	if (kind == PATH_DIR) {
		if (mkdirat(parent, base, 0755) < 0 && errno != EEXIST)
			return -errno;
	} else {
		int f = openat(parent, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
			       0644);
		if (f < 0 && errno != EEXIST)
			return -errno;
		if (f >= 0)
			close(f);
	}
	/* Open again from the root: whatever now sits there is resolved inside it. */
	return path_open(rootfd, path, O_PATH);
}
