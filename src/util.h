/* Small helpers shared by every file: cleanup attributes and allocation that cannot fail. */
#pragma once
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_close_ __attribute__((cleanup(closep)))
#define _cleanup_free_ __attribute__((cleanup(freep)))

/* Hand an fd out of a cleanup-guarded variable. */
static inline int take_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Write all n bytes to fd, blocking, across short writes and EINTR; false when the fd failed. */
bool write_all(int fd, const void *p, size_t n);

/* mkdir -p: missing parents with parent_mode, the last one with mode. 0, or -1 and errno. */
int mkdir_p(const char *path, unsigned parent_mode, unsigned mode);

/* Out of memory is not an error hutch can report usefully; abort. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
/* Is the running kernel at least "X.Y"? 1 yes (or cannot tell), 0 older, -1 not a version,
 * -2 none given. */
int kernel_at_least(const char *min);
__attribute__((format(printf, 1, 2))) char *xasprintf(const char *fmt, ...);
