#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

static void *check(void *p)
{
	if (p == NULL) {
		fputs("hutch: out of memory\n", stderr);
		abort();
	}
	return p;
}

void *xmalloc(size_t n)
{
	return check(malloc(n ? n : 1));
}

void *xcalloc(size_t n, size_t size)
{
	return check(calloc(n ? n : 1, size ? size : 1));
}

void *xreallocarray(void *p, size_t n, size_t size)
{
	return check(reallocarray(p, n ? n : 1, size ? size : 1));
}

char *xstrdup(const char *s)
{
	return check(strdup(s));
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return check(r < 0 ? NULL : s);
}

int mkdir_p(const char *path, unsigned parent_mode, unsigned mode)
{
	char *copy = xstrdup(path);
	int r = 0;

	for (char *p = copy + 1; *p && r == 0; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(copy, parent_mode) < 0 && errno != EEXIST)
			r = -1;
		*p = '/';
	}
	if (r == 0 && mkdir(copy, mode) < 0 && errno != EEXIST)
		r = -1;
	free(copy);
	return r;
}

bool write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		c += w;
		n -= (size_t)w;
	}
	return true;
}

/* "X.Y" (OCI minKernel, a feature's first kernel): 1 when the running kernel is at least that, 0 when older, -1 when the
 * value is not a version, -2 when not given. */
int kernel_at_least(const char *min)
{
	struct utsname u;
	unsigned want[2] = {0}, have[2] = {0};

	if (!min)
		return -2;
	if (sscanf(min, "%u.%u", &want[0], &want[1]) < 1)
		return -1;
	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &have[0], &have[1]) < 1)
		return 1;
	return have[0] > want[0] || (have[0] == want[0] && have[1] >= want[1]);
}
