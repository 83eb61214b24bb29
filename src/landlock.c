#include "landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

/* Debian 12's kernel headers stop at Landlock ABI 2; the newer bits are part of the kernel's
 * stable ABI, so spell them out. */
#define LL_FS_TRUNCATE (1ULL << 14)	   /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15)	   /* ABI 5 */
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)	   /* ABI 6 */

/* struct landlock_ruleset_attr as of ABI 6; the kernel takes a shorter prefix from older
 * headers and zeroes in the fields it does not know. */
struct ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

#define FS_READ                                                                                    \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
/* /proc and /dev: read and write what is there, make nothing. */
#define FS_USE (FS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

struct ruleset {
	int fd;
	uint64_t handled;
	const struct plan *p;
};

int landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	return v < 0 ? 0 : (int)v;
}

/* Every filesystem right the running kernel knows. */
static uint64_t fs_rights(int abi)
{
	uint64_t all = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1 */

	if (abi >= 2)
		all |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		all |= LL_FS_TRUNCATE;
	if (abi >= 5)
		all |= LL_FS_IOCTL_DEV;
	return all;
}

/* Grant `access` beneath `fd` (a directory, or a single file). */
static int allow_fd(struct ruleset *rs, int fd, uint64_t access, const char *what, struct herr *e)
{
	struct landlock_path_beneath_attr pb = {.parent_fd = fd};
	struct stat st;

	if (fstat(fd, &st) < 0)
		return herr_set(e, errno, "Landlock: %s", what);
	/* Rights that only make sense on directories are refused on a file. */
	if (!S_ISDIR(st.st_mode))
		access &= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE |
			  LANDLOCK_ACCESS_FS_WRITE_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV;
	pb.allowed_access = access & rs->handled;
	if (syscall(SYS_landlock_add_rule, rs->fd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
		return herr_set(e, errno, "Landlock: cannot add a rule for %s", what);
	return 0;
}

static int allow_path(struct ruleset *rs, const char *path, uint64_t access, struct herr *e)
{
	_cleanup_close_ int fd = open(path, O_PATH | O_CLOEXEC);

	/* a path the mount plan did not make (no $HOME when it is /) has nothing to allow */
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR
			   ? 0
			   : herr_set(e, errno, "Landlock: %s", path);
	return allow_fd(rs, fd, access, path, e);
}

/* Files the command inherits (a redirect to a host file, --pass-fd) may be reopened through
 * /proc/self/fd, as `echo > /dev/stderr` does; their paths lie outside the new root, where no
 * other rule reaches. The rule grants what the fd was opened for and nothing more: `< notes`
 * cannot be reopened for writing or truncated, `> out` cannot be read back (stdfds.c says why
 * ABI 3, and what happens to files opened for appending and on older kernels). Truncation comes
 * with writing: the fd itself may ftruncate. */
static int allow_inherited(struct ruleset *rs, int fd, struct herr *e)
{
	uint64_t access = 0;
	struct stat st;
	char what[32];
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || (fl & O_PATH) || fstat(fd, &st) < 0 ||
	    !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
		return 0; /* closed, a pipe or a socket: nothing path-based; O_PATH: no access */
	if ((fl & O_ACCMODE) != O_WRONLY)
		access |= LANDLOCK_ACCESS_FS_READ_FILE;
	if ((fl & O_ACCMODE) != O_RDONLY)
		access |= LANDLOCK_ACCESS_FS_WRITE_FILE | LL_FS_TRUNCATE;
	if (!S_ISREG(st.st_mode))
		access |= LL_FS_IOCTL_DEV; /* the fd itself takes every ioctl */
	snprintf(what, sizeof(what), "fd %d", fd);
	return allow_fd(rs, fd, access, what, e);
}

/* The mount plan, mirrored: the root (unless it is an overlay) and everything read-only may be
 * read and executed; --overlay paths are writable; /proc
 * and /dev used; /tmp, $HOME, /dev/shm, --bind and --tmpfs destinations are the sandbox's own.
 * Rules add up along a path, so a read-only bind below a writable one stays writable to
 * Landlock; its mount still refuses the write. */
static int add_rules(struct ruleset *rs, const struct ids *ids, struct herr *e)
{
	const uint64_t own = rs->handled;
	const struct plan *p = rs->p;

	/* With --rootfs or --image the root is a writable overlay: the sandbox's own to change. */
	if (allow_path(rs, "/", p->n_layers ? own : FS_READ, e) < 0 ||
	    allow_path(rs, "/proc", FS_USE, e) < 0 || allow_path(rs, "/dev", FS_USE, e) < 0 ||
	    allow_path(rs, "/dev/shm", own, e) < 0 || allow_path(rs, "/tmp", own, e) < 0 ||
	    (strcmp(ids->home, "/") != 0 && allow_path(rs, ids->home, own, e) < 0))
		return -1;
	for (size_t i = 0; i < p->n_mounts; i++)
		if (p->mounts[i].kind != MOUNT_RO_BIND &&
		    allow_path(rs, p->mounts[i].dst, own, e) < 0)
			return -1;
	for (size_t i = 0; i < p->n_overlays; i++) /* --overlay PATH: writable, thrown away */
		if (allow_path(rs, p->overlays[i], own, e) < 0)
			return -1;
	for (int fd = 0; fd < 3; fd++)
		if (allow_inherited(rs, fd, e) < 0)
			return -1;
	for (size_t i = 0; i < p->n_pass_fds; i++)
		if (allow_inherited(rs, p->pass_fds[i], e) < 0)
			return -1;
	return 0;
}

int landlock_apply(const struct plan *p, const struct ids *ids, struct herr *e)
{
	return landlock_apply_scoped(p, ids, true, e);
}

int landlock_apply_scoped(const struct plan *p, const struct ids *ids, bool signals, struct herr *e)
{
	int abi = landlock_abi();
	struct ruleset_attr attr = {0};
	struct ruleset rs = {.fd = -1, .p = p};
	_cleanup_close_ int fd = -1;

	if (abi < 1) {
		hutch_say(p->verbose, "Landlock: not available on this kernel; namespaces only");
		return 0;
	}
	rs.handled = attr.handled_access_fs = fs_rights(abi);
	/* Abstract unix sockets (X11's @/tmp/.X11-unix, D-Bus) and signals stop at the sandbox's
	 * edge, even when it shares the host's network or could see a host pid. */
	if (abi >= 6)
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | (signals ? LL_SCOPE_SIGNAL : 0);
	fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (fd < 0)
		return herr_set(e, errno, "Landlock: cannot create a ruleset");
	rs.fd = fd;
	if (add_rules(&rs, ids, e) < 0)
		return -1;
	if (syscall(SYS_landlock_restrict_self, fd, 0) < 0)
		return herr_set(e, errno, "Landlock: cannot restrict the command");
	/* An older kernel's Landlock is a weaker layer, not an error: say what it lacks and what
	 * still holds the line there (issue 15: Debian 12's 6.1 has ABI 2). */
	hutch_say(p->verbose, "Landlock ABI %d: filesystem rules%s%s%s", abi,
		  abi < 3 ? "; weaker here: truncate(2) not ruled (ABI 3), read-only mounts "
			    "still refuse it"
			  : "",
		  abi < 5 ? "; weaker here: device ioctls not ruled (ABI 5), seccomp's ioctl "
			    "rules remain"
			  : "",
		  abi < 6   ? "; weaker here: abstract unix sockets and signals not scoped (ABI 6), "
			      "the network and pid namespaces still keep them apart"
		  : signals ? ", abstract unix sockets and signals scoped"
			    : ", abstract unix sockets scoped");
	return 0;
}
