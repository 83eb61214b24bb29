#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "overlay.h"
#include "path.h"
#include "util.h"

/* Where the new root is assembled before pivot_root. Covering /tmp is harmless: this is our own
 * mount namespace, and every bind source was opened before the cover went on. */
#define STAGING "/tmp"

struct root {
	int fd;		     /* the new root, an O_PATH fd */
	int empty;	     /* an empty read-only directory, detached (see mask), or -1 */
	int masked_dir;	     /* a directory masked with it (O_PATH), or -1 */
	const char *staging; /* where it is assembled */
	struct overlays ov;  /* --rootfs, --image, --overlay */
	const struct plan *p;
	const struct ids *ids;
	char tmpfs[24]; /* the size of every tmpfs without one (bounds.tmpfs), in bytes */
	struct herr *e;
};

/* The default layout's pieces, shared by the builder and mounts_describe (--dry-run). */
static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
static const char *const dev_links[][2] = {
    {"ptmx", "pts/ptmx"},	   {"fd", "/proc/self/fd"},	  {"stdin", "/proc/self/fd/0"},
    {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
};
static const char *const usr_links[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};

static const char *kind_option(enum mount_kind k)
{
	return k == MOUNT_BIND	     ? "--bind"
	       : k == MOUNT_RO_BIND  ? "--ro-bind"
	       : k == MOUNT_DEV_BIND ? "--dev-bind"
				     : "--tmpfs";
}

/* A detached copy of a host subtree; `attrs` (MOUNT_ATTR_*) are added recursively. */
static int clone_tree(int dirfd, const char *path, bool recursive, unsigned long long attrs)
{
	struct mount_attr attr = {.attr_set = attrs};
	unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0) |
			 (path[0] ? 0 : AT_EMPTY_PATH);
	_cleanup_close_ int fd = open_tree(dirfd, path, flags);

	if (fd < 0)
		return -errno;
	/* Adding flags is always allowed; flags locked by the parent namespace (nosuid, nodev,
	 * noexec, ro) stay set whatever we ask. */
	if (attrs && mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr,
				   sizeof(attr)) < 0)
		return -errno;
	return take_fd(&fd);
}

/* A new, detached filesystem instance: options are "key=value" or a bare "flag". */
static int new_fs(const char *type, const char *const *opts, unsigned attrs)
{
	_cleanup_close_ int fs = fsopen(type, FSOPEN_CLOEXEC);
	int mnt;

	if (fs < 0)
		return -errno;
	for (; opts && *opts; opts++) {
		const char *eq = strchr(*opts, '=');
		char key[64];
		int r;

		if (eq) {
			snprintf(key, sizeof(key), "%.*s", (int)(eq - *opts), *opts);
			r = fsconfig(fs, FSCONFIG_SET_STRING, key, eq + 1, 0);
		} else {
			r = fsconfig(fs, FSCONFIG_SET_FLAG, *opts, NULL, 0);
		}
		if (r < 0)
			return -errno;
	}
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
	return mnt < 0 ? -errno : mnt;
}

/* Attach the detached mount `mnt` at `dst` inside the new root (resolved without leaving it). */
static int attach(struct root *r, int mnt, const char *dst, enum path_kind kind)
{
	_cleanup_close_ int at = path_make(r->fd, dst, kind);

	if (at < 0)
		return at;
	if (move_mount(mnt, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return -errno;
	return 0;
}

/* The default layout's mount points, made in directories that this file has just created: the
 * name is new (O_EXCL semantics), so there is nothing to resolve and nothing to race with. */
static int attach_fresh(int dirfd, const char *name, int mnt, enum path_kind kind)
{
	_cleanup_close_ int at = -1;
	int r =
	    kind == PATH_DIR ? mkdirat(dirfd, name, 0755) : mknodat(dirfd, name, S_IFREG | 0644, 0);

	if (r < 0 && errno != EEXIST)
		return -errno;
	if (r == 0)
		return move_mount(mnt, "", dirfd, name, MOVE_MOUNT_F_EMPTY_PATH) < 0 ? -errno : 0;
	/* An image root has its own /proc, /dev, /tmp: mount on them, but never through a
	 * symlink the image planted there. */
	at = openat(dirfd, name,
		    O_PATH | O_NOFOLLOW | O_CLOEXEC | (kind == PATH_DIR ? O_DIRECTORY : 0));
	if (at < 0)
		return -errno;
	if (move_mount(mnt, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return -errno;
	return 0;
}

static bool is_dir_fd(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Every tmpfs has a size: the kernel's default, half of the RAM, is the host's memory, and a
 * full tmpfs under a memory limit must say ENOSPC, not end in an OOM kill (limits.h). */
static int new_tmpfs(const char *mode, const char *size, unsigned attrs)
{
	char mode_opt[32], size_opt[48];
	const char *opts[3] = {mode_opt, size_opt, NULL};

	snprintf(mode_opt, sizeof(mode_opt), "mode=%s", mode);
	snprintf(size_opt, sizeof(size_opt), "size=%s", size);
	return new_fs("tmpfs", opts, attrs | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
}

static int tmpfs_at(struct root *r, const char *dst, const char *mode, const char *size,
		    unsigned attrs)
{
	_cleanup_close_ int mnt = new_tmpfs(mode, size, attrs);

	if (mnt < 0)
		return mnt;
	return attach(r, mnt, dst, PATH_DIR);
}

/* A tmpfs at dirfd/name, a fresh name (see attach_fresh). */
static int tmpfs_fresh(int dirfd, const char *name, const char *mode, const char *size,
		       unsigned attrs)
{
	_cleanup_close_ int mnt = new_tmpfs(mode, size, attrs);

	if (mnt < 0)
		return mnt;
	return attach_fresh(dirfd, name, mnt, PATH_DIR);
}

/* Host path `host` (absolute) bound at dirfd/name, a fresh name. */
static int bind_fresh(int dirfd, const char *name, const char *host, bool recursive,
		      unsigned long long attrs)
{
	_cleanup_close_ int mnt = clone_tree(AT_FDCWD, host, recursive, attrs);

	if (mnt < 0)
		return mnt;
	return attach_fresh(dirfd, name, mnt, is_dir_fd(mnt) ? PATH_DIR : PATH_FILE);
}

/*
 * The default root's writable places (/dev, /dev/shm, /tmp, the home) are directories of the
 * root's own tmpfs, each bound onto itself: the bind keeps its own flags (writable, noexec) when
 * the root mount goes read-only. One tmpfs instead of five: a tmpfs made and torn down again
 * costs about 40 us of the start here (perf), more than the rest of a mount. They share the
 * root's size limit (bounds.tmpfs). An image root keeps a tmpfs each (its directories are its
 * own), each of that size.
 */
static int self_bind(int at, mode_t mode, unsigned long long attrs)
{
	_cleanup_close_ int dir = openat(at, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int mnt = -1;

	/* the mode exactly, whatever the umask */
	if (dir < 0 || fchmod(dir, mode) < 0)
		return -errno;
	mnt = clone_tree(at, "", false, attrs | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (mnt < 0)
		return mnt;
	return move_mount(mnt, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0
		   ? -errno
		   : 0;
}

/* A scratch directory at dirfd/name (a fresh name), or a tmpfs of its own on an image root. */
static int scratch_fresh(struct root *r, int dirfd, const char *name, mode_t mode, const char *size,
			 unsigned long long attrs)
{
	_cleanup_close_ int at = -1;
	char mode_s[8];

	if (r->p->n_layers) {
		snprintf(mode_s, sizeof(mode_s), "%04o", (unsigned)mode);
		return tmpfs_fresh(dirfd, name, mode_s, size, (unsigned)attrs);
	}
	if (mkdirat(dirfd, name, 0700) < 0)
		return -errno;
	at = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return at < 0 ? -errno : self_bind(at, mode, attrs);
}

/* /bin, /lib... are symlinks into /usr on merged-/usr systems: copy the link; else bind. */
static int usr_link_or_bind(struct root *r, const char *name)
{
	char host[32], target[PATH_MAX];
	struct stat st;
	ssize_t n;

	snprintf(host, sizeof(host), "/%s", name);
	if (lstat(host, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISLNK(st.st_mode)) {
		n = readlink(host, target, sizeof(target) - 1);
		if (n < 0)
			return -errno;
		target[n] = 0;
		return symlinkat(target, r->fd, name) < 0 ? -errno : 0;
	}
	return bind_fresh(r->fd, name, host, true,
			  MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
}

static int system_dirs(struct root *r)
{
	const unsigned long long ro = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
	int err;

	if ((err = bind_fresh(r->fd, "usr", "/usr", true, ro)) < 0)
		return herr_set(r->e, -err, "cannot bind /usr read-only");
	for (size_t i = 0; i < ARRAY_SIZE(usr_links); i++)
		if ((err = usr_link_or_bind(r, usr_links[i])) < 0)
			return herr_set(r->e, -err, "cannot set up /%s", usr_links[i]);
	if ((err = bind_fresh(r->fd, "etc", "/etc", true, ro)) < 0)
		return herr_set(r->e, -err, "cannot bind /etc read-only");
	return 0;
}

/* Kernel interfaces that a sandbox has no business reading or writing (Docker's list). */
static const char *const proc_masked[] = {
    "/proc/kcore",	"/proc/keys",	     "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/acpi",	"/proc/asound",	     "/proc/scsi",
};
static const char *const proc_readonly[] = {
    "/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs",
};

/* What masks a directory: an empty read-only directory. On the default root that is a bind of
 * the root's /proc mount point taken while it was still empty (r->empty, then clones of the
 * first mask), cheaper than a tmpfs of its own; an image's /proc may hold anything: a tmpfs. */
static int empty_dir(struct root *r)
{
	const unsigned long long ro =
	    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;

	if (r->masked_dir >= 0)
		return clone_tree(r->masked_dir, "", false, ro);
	if (r->empty >= 0)
		return take_fd(&r->empty);
	return new_fs("tmpfs", (const char *const[]){"size=0", NULL}, (unsigned)ro);
}

static int mask(struct root *r, const char *path)
{
	_cleanup_close_ int at = path_open(r->fd, path, O_PATH | O_NOFOLLOW);
	_cleanup_close_ int mnt = -1;
	bool dir;

	if (at < 0)
		return at == -ENOENT ? 0 : at;
	dir = is_dir_fd(at);
	mnt = dir ? empty_dir(r)
		  : clone_tree(AT_FDCWD, "/dev/null", false, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
	if (mnt < 0)
		return mnt;
	if (move_mount(mnt, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return -errno;
	/* the next masked directory clones this one (the path now ends on the empty bind) */
	if (dir && r->masked_dir < 0 && !r->p->n_layers)
		r->masked_dir = path_open(r->fd, path, O_PATH | O_NOFOLLOW);
	return 0;
}

static int make_readonly(struct root *r, const char *path)
{
	_cleanup_close_ int at = path_open(r->fd, path, O_PATH | O_NOFOLLOW);
	_cleanup_close_ int mnt = -1;

	if (at < 0)
		return at == -ENOENT ? 0 : at;
	mnt = clone_tree(at, "", true, MOUNT_ATTR_RDONLY);
	if (mnt < 0)
		return mnt;
	return move_mount(mnt, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0
		   ? -errno
		   : 0;
}

/* A fresh /proc for the new pid namespace. The kernel allows it in a user namespace only while a
 * fully visible proc exists in this mount namespace (the host's, not yet detached): mount first,
 * mask after. */
static int proc_fs(struct root *r)
{
	_cleanup_close_ int mnt =
	    new_fs("proc", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	int err;

	/* the default root's /proc mount point, empty: what masks directories (see mask) */
	if (!r->p->n_layers && mkdirat(r->fd, "proc", 0755) == 0)
		r->empty = clone_tree(r->fd, "proc", false,
				      MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
					  MOUNT_ATTR_NOEXEC);
	/* the hint only where fsmount refused: a failed mkdir of the mount point (a full or
	 * broken upper layer) has nothing to do with the host's /proc */
	if (mnt < 0) {
		herr_set(r->e, -mnt, "cannot mount a new /proc");
		return herr_hint(r->e, "the kernel refuses a new proc when the host's /proc is "
				       "partly covered (as inside some containers)");
	}
	if ((err = attach_fresh(r->fd, "proc", mnt, PATH_DIR)) < 0)
		return herr_set(r->e, -err, "cannot mount a new /proc");
	for (size_t i = 0; i < ARRAY_SIZE(proc_masked); i++)
		if ((err = mask(r, proc_masked[i])) < 0)
			return herr_set(r->e, -err, "cannot mask %s", proc_masked[i]);
	for (size_t i = 0; i < ARRAY_SIZE(proc_readonly); i++)
		if ((err = make_readonly(r, proc_readonly[i])) < 0)
			return herr_set(r->e, -err, "cannot make %s read-only", proc_readonly[i]);
	return 0;
}

/* config.json's sysfs mount (OCI, issue 8). A new sysfs shows the network namespace's devices,
 * and the kernel allows it only to a user namespace that owns that network namespace; the
 * keeper's or the engine's belongs to another, so then the host's /sys is bound read-only, as
 * rootless runc and crun do. Its cgroup tree is covered with an empty read-only tmpfs: the
 * sandbox's own cgroup view goes on top later (cgroup_mount_view), never the host's tree. */
static int sys_fs(struct root *r)
{
	const unsigned ro =
	    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
	_cleanup_close_ int mnt = -1, cover = -1, at = -1;
	int err;

	if (!r->p->oci_sysfs)
		return 0;
	mnt = new_fs("sysfs", NULL, ro);
	if (mnt < 0)
		mnt = clone_tree(AT_FDCWD, "/sys", true, ro);
	if (mnt < 0 || (err = attach_fresh(r->fd, "sys", mnt, PATH_DIR)) < 0)
		return herr_set(r->e, mnt < 0 ? -mnt : -err, "cannot mount /sys");
	at = path_open(r->fd, "/sys/fs/cgroup", O_PATH | O_NOFOLLOW | O_DIRECTORY);
	if (at == -ENOENT)
		return 0;
	if (at < 0)
		return herr_set(r->e, -at, "cannot open /sys/fs/cgroup");
	cover = new_fs("tmpfs", (const char *const[]){"size=0", "mode=0755", NULL}, ro);
	if (cover < 0)
		return herr_set(r->e, -cover, "cannot cover /sys/fs/cgroup");
	if (move_mount(cover, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return herr_set(r->e, errno, "cannot cover /sys/fs/cgroup");
	return 0;
}

/* A minimal /dev: the harmless character devices bound from the host, a private devpts (so the
 * host's ptys stay invisible) and a private /dev/shm. */
static int dev_fs(struct root *r)
{
	_cleanup_close_ int pts = -1, dev = -1;
	int err;

	if ((err = scratch_fresh(r, r->fd, "dev", 0755, "64k", MOUNT_ATTR_NOEXEC)) < 0)
		return herr_set(r->e, -err, "cannot mount /dev");
	dev = openat(r->fd, "dev", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dev < 0)
		return herr_set(r->e, errno, "cannot open /dev");
	for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
		char host[32];

		snprintf(host, sizeof(host), "/dev/%s", dev_nodes[i]);
		/* No mount flags: a bind of one device node has nothing to execute or to run
		 * setuid (execve refuses a device), so nosuid/noexec would only cost a call. */
		err = bind_fresh(dev, dev_nodes[i], host, false, 0);
		if (err == -ENOENT && strcmp(dev_nodes[i], "null") != 0)
			continue; /* a host without it (some containers lack /dev/tty) */
		if (err < 0)
			return herr_set(r->e, -err, "cannot bind %s", host);
	}
	pts = new_fs("devpts",
		     (const char *const[]){"newinstance", "ptmxmode=0666", "mode=0620", NULL},
		     MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
	if (pts < 0 || (err = attach_fresh(dev, "pts", pts, PATH_DIR)) < 0)
		return herr_set(r->e, pts < 0 ? -pts : -err,
				"cannot mount a new devpts at /dev/pts");
	for (size_t i = 0; i < ARRAY_SIZE(dev_links); i++)
		if (symlinkat(dev_links[i][1], dev, dev_links[i][0]) < 0)
			return herr_set(r->e, errno, "cannot create /dev/%s", dev_links[i][0]);
	if ((err = scratch_fresh(r, dev, "shm", 01777, r->tmpfs, MOUNT_ATTR_NOEXEC)) < 0)
		return herr_set(r->e, -err, "cannot mount /dev/shm");
	return 0;
}

static int scratch_dirs(struct root *r)
{
	int err;

	_cleanup_close_ int home = -1;

	if ((err = scratch_fresh(r, r->fd, "tmp", 01777, r->tmpfs, 0)) < 0)
		return herr_set(r->e, -err, "cannot mount /tmp");
	/* an image or --rootfs has its own homes, in its writable root */
	if (strcmp(r->ids->home, "/") == 0 || r->p->n_layers)
		return 0;
	home = path_make(r->fd, r->ids->home, PATH_DIR);
	if (home < 0 || (err = self_bind(home, 0700, 0)) < 0)
		return herr_set(r->e, home < 0 ? -home : -err, "cannot make an empty home at %s",
				r->ids->home);
	return 0;
}

/* Open every bind source while the host's tree is still whole (before STAGING is covered). */
static int open_sources(struct root *r, int *fds)
{
	for (size_t i = 0; i < r->p->n_mounts; i++) {
		const struct mount_req *m = &r->p->mounts[i];
		unsigned long long attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;

		fds[i] = -1;
		if (m->kind == MOUNT_TMPFS)
			continue;
		if (m->kind == MOUNT_RO_BIND)
			attrs |= MOUNT_ATTR_RDONLY;
		/* --dev-bind: nodes stay openable (the GPU's); the sandbox still cannot make any
		 * (mknod needs CAP_MKNOD in the initial namespace) */
		if (m->kind == MOUNT_DEV_BIND)
			attrs &= ~(unsigned long long)MOUNT_ATTR_NODEV;
		fds[i] = clone_tree(AT_FDCWD, m->src, true, attrs);
		if (fds[i] < 0) {
			int err = -fds[i];
			fds[i] = -1;
			if (m->optional && (err == ENOENT || err == ENOTDIR)) {
				hutch_say(r->p->verbose, "skipped %s-try %s: it does not exist",
					  kind_option(m->kind), m->src);
				continue;
			}
			herr_set(r->e, err, "%s %s:%s", kind_option(m->kind), m->src, m->dst);
			return herr_hint(r->e, err == ENOENT
						   ? "check the source path"
						   : "check that you may read the source");
		}
	}
	return 0;
}

static int user_mounts(struct root *r, const int *fds)
{
	for (size_t i = 0; i < r->p->n_mounts; i++) {
		const struct mount_req *m = &r->p->mounts[i];
		char size[32];
		int err;

		if (m->kind != MOUNT_TMPFS && fds[i] < 0)
			continue; /* a -try source that is not there */
		if (m->kind == MOUNT_TMPFS) {
			snprintf(size, sizeof(size), "%llu", (unsigned long long)m->size);
			err = tmpfs_at(r, m->dst, "0755", m->size ? size : r->tmpfs, 0);
		} else {
			err = attach(r, fds[i], m->dst, is_dir_fd(fds[i]) ? PATH_DIR : PATH_FILE);
		}
		if (err < 0) {
			herr_set(r->e, -err, "%s %s%s%s: cannot mount at %s", kind_option(m->kind),
				 m->src ? m->src : "", m->src ? ":" : "", m->dst, m->dst);
			return herr_hint(r->e, "the destination's parent must be writable or exist "
					       "(it cannot be created under a read-only bind)");
		}
		hutch_say(r->p->verbose, "mounted %s %s at %s", kind_option(m->kind),
			  m->src ? m->src : "", m->dst);
	}
	return 0;
}

/* config.json's linux.maskedPaths and readonlyPaths (OCI, issue 8), after every other mount so
 * that they also cover what the config's proc and sysfs mounts show. Resolved inside the new root
 * (a symlink cannot aim them at the host); a path that does not exist is skipped, as runc does. */
static int oci_paths(struct root *r)
{
	int err;

	for (size_t i = 0; i < r->p->n_oci_masked; i++)
		if ((err = mask(r, r->p->oci_masked[i])) < 0)
			return herr_set(r->e, -err, "linux.maskedPaths: cannot mask %s",
					r->p->oci_masked[i]);
	for (size_t i = 0; i < r->p->n_oci_readonly; i++)
		if ((err = make_readonly(r, r->p->oci_readonly[i])) < 0)
			return herr_set(r->e, -err, "linux.readonlyPaths: cannot make %s read-only",
					r->p->oci_readonly[i]);
	return 0;
}

/* --net slirp: /etc/resolv.conf names slirp's DNS. The file is written in the new root's own
 * tmpfs and bound over the copy of the host's (which is never touched), then unlinked from
 * there, so the bind is all that is left of it. */
static int resolv_conf(struct root *r)
{
	static const char text[] = "# written by hutch --net slirp\nnameserver 10.0.2.3\n";
	_cleanup_close_ int fd = -1, mnt = -1;
	int err;

	if (!r->p->slirp)
		return 0;
	fd = openat(r->fd, ".resolv.conf", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, sizeof(text) - 1) != (ssize_t)sizeof(text) - 1)
		return herr_set(r->e, errno, "cannot write the sandbox's /etc/resolv.conf");
	mnt = clone_tree(r->fd, ".resolv.conf", false,
			 MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
			     MOUNT_ATTR_NOEXEC);
	if (mnt < 0 || (err = attach(r, mnt, "/etc/resolv.conf", PATH_FILE)) < 0) {
		herr_set(r->e, mnt < 0 ? -mnt : -err, "cannot bind /etc/resolv.conf");
		return herr_hint(r->e, "the host's /etc/resolv.conf must be a file (not a "
				       "dangling symlink) for --net slirp");
	}
	unlinkat(r->fd, ".resolv.conf", 0);
	return 0;
}

static int open_root(struct root *r)
{
	r->fd = open(r->staging, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (r->fd < 0)
		return herr_set(r->e, errno, "cannot open the new root");
	return 0;
}

static int staging_root(struct root *r)
{
	char opts[64];

	r->staging = overlay_prepare(r->p, r->ids, &r->ov, r->tmpfs, r->e);
	if (r->staging == (char *)-1)
		return -1;
	if (!r->staging)
		r->staging = STAGING;
	if (r->p->n_layers)
		return overlay_root(&r->ov, r->staging, r->e) < 0 ? -1 : open_root(r);

	/* The root belongs to root inside when that id is mapped, as on any system. */
	snprintf(opts, sizeof(opts), "mode=0755,size=%s%s%s", r->tmpfs,
		 r->ids->subids || r->ids->uid == 0 ? ",uid=0" : "",
		 r->ids->subids || r->ids->gid == 0 ? ",gid=0" : "");
	if (mount("tmpfs", r->staging, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		return herr_set(r->e, errno, "cannot mount the new root (tmpfs on %s)", r->staging);
	return open_root(r);
}

/* The root's content: an image or --rootfs brings its own; else the host's /usr and /etc. */
static int root_content(struct root *r)
{
	return r->p->n_layers ? 0 : system_dirs(r);
}

/* --overlay PATH, on top of the default mounts (like the binds), under the binds. */
static int host_overlays(struct root *r)
{
	return overlay_host_dirs(&r->ov, r->fd, r->e);
}

/*
 * Enter the new root with pivot_root. A chroot would not do: a process in a chroot may not
 * create user namespaces.
 *
 * An image or --rootfs root: pivot_root(".", ".") stacks the old root on the new one, and
 * detaching it at once leaves only the new (nothing to create in a root that may be
 * read-only). The default root, our own tmpfs: the old root goes to OLD_ROOT, and
 * mounts_finish_root detaches it after the command was forked, while the command sets itself
 * up. Detaching the host's tree waits for an RCU grace period (about 0.15 ms here, ftrace),
 * which then leaves the start's critical path; the command cannot exec before the init has
 * finished (its gate, init.c), and it only ever resolves paths from the new root.
 */
#define OLD_ROOT ".hutch-host-root"

static int enter_root(struct root *r)
{
	bool own = !r->p->n_layers;

	if (own && mkdirat(r->fd, OLD_ROOT, 0) < 0)
		return herr_set(r->e, errno, "cannot make /%s in the new root", OLD_ROOT);
	if (fchdir(r->fd) < 0 || syscall(SYS_pivot_root, ".", own ? OLD_ROOT : ".") < 0)
		return herr_set(r->e, errno, "pivot_root into the new root");
	if ((!own && umount2(".", MNT_DETACH) < 0) || chdir("/") < 0)
		return herr_set(r->e, errno, "cannot detach the host's root");
	return 0; /* the rest: mounts_finish_root */
}

int mounts_finish_root(const struct plan *p, struct herr *e)
{
	struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};

	if (p->n_layers)
		return 0; /* detached in enter_root; an overlay root keeps its writable layer */
	if (umount2("/" OLD_ROOT, MNT_DETACH) < 0 || rmdir("/" OLD_ROOT) < 0)
		return herr_set(e, errno, "cannot detach the host's root");
	/* Only the root tmpfs itself: /tmp, $HOME, /dev/shm and rw binds stay writable. */
	if (mount_setattr(AT_FDCWD, "/", 0, &ro, sizeof(ro)) < 0)
		return herr_set(e, errno, "cannot make the new root read-only");
	return 0;
}

/* Every fd of mounts_build_root, closed on any return. */
struct fds {
	int *v;
	size_t n;
};

static void root_close(struct root *r)
{
	overlay_close(&r->ov);
	if (r->fd >= 0)
		close(r->fd);
	if (r->empty >= 0)
		close(r->empty);
	if (r->masked_dir >= 0)
		close(r->masked_dir);
}

static void fds_close(struct fds *f)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->v[i] >= 0)
			close(f->v[i]);
	free(f->v);
}

int mounts_build_root(const struct plan *p, const struct ids *ids, uint64_t tmpfs_size,
		      struct herr *e)
{
	__attribute__((cleanup(fds_close))) struct fds sources = {xcalloc(p->n_mounts, sizeof(int)),
								  p->n_mounts};
	__attribute__((cleanup(root_close))) struct root r = {
	    .fd = -1, .empty = -1, .masked_dir = -1, .p = p, .ids = ids, .e = e};
	int ret;

	for (size_t i = 0; i < p->n_mounts; i++)
		sources.v[i] = -1;
	snprintf(r.tmpfs, sizeof(r.tmpfs), "%llu", (unsigned long long)tmpfs_size);
	/* Nothing we mount may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return herr_set(e, errno, "cannot make the mount namespace private");
	ret = open_sources(&r, sources.v) < 0 || staging_root(&r) < 0 ? -1 : 0;
	if (ret < 0 || root_content(&r) < 0 || proc_fs(&r) < 0 || dev_fs(&r) < 0 ||
	    sys_fs(&r) < 0 || scratch_dirs(&r) < 0 || resolv_conf(&r) < 0 ||
	    host_overlays(&r) < 0 || user_mounts(&r, sources.v) < 0 || oci_paths(&r) < 0 ||
	    enter_root(&r) < 0)
		return -1;
	hutch_say(p->verbose, "root: %s, new /proc, /dev, /tmp, %s",
		  p->n_layers ? "overlay" : "tmpfs with /usr and /etc read-only", ids->home);
	return 0;
}

static void default_root_describe(FILE *out)
{
	fprintf(out, "  tmpfs      /                 (the default size, read-only once built; its "
		     "scratch\n             directories below stay writable)\n");
	fprintf(out, "  ro-bind    /usr\n");
	for (size_t i = 0; i < ARRAY_SIZE(usr_links); i++) {
		char host[32], target[PATH_MAX];
		ssize_t n;

		snprintf(host, sizeof(host), "/%s", usr_links[i]);
		n = readlink(host, target, sizeof(target) - 1);
		if (n >= 0)
			fprintf(out, "  symlink    %-17s -> %.*s\n", host, (int)n, target);
		else if (access(host, F_OK) == 0)
			fprintf(out, "  ro-bind    %s\n", host);
	}
	fprintf(out, "  ro-bind    /etc\n");
}

void mounts_describe(const struct plan *p, const struct ids *ids, FILE *out)
{
	if (!p->n_layers)
		default_root_describe(out);
	overlay_describe(p, out);
	fprintf(out, "  proc       /proc             (new, for the new pid namespace)\n");
	for (size_t i = 0; i < ARRAY_SIZE(proc_masked); i++)
		if (access(proc_masked[i], F_OK) == 0)
			fprintf(out, "  mask       %s\n", proc_masked[i]);
	for (size_t i = 0; i < ARRAY_SIZE(proc_readonly); i++)
		if (access(proc_readonly[i], F_OK) == 0)
			fprintf(out, "  read-only  %s\n", proc_readonly[i]);
	fprintf(out, p->n_layers ? "  tmpfs      /dev              (size 64k)\n"
				 : "  scratch    /dev              (the root's tmpfs, writable)\n");
	for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++)
		fprintf(out, "  dev-bind   /dev/%s\n", dev_nodes[i]);
	fprintf(out, "  devpts     /dev/pts          (new instance)\n");
	if (p->n_layers)
		fprintf(out, "  tmpfs      /dev/shm          (the default size)\n"
			     "  tmpfs      /tmp              (the default size)\n");
	else
		fprintf(out, "  scratch    /dev/shm\n  scratch    /tmp\n");
	if (strcmp(ids->home, "/") != 0 && !p->n_layers)
		fprintf(out, "  scratch    %-17s (empty home)\n", ids->home);
	for (size_t i = 0; i < p->n_mounts; i++) {
		const struct mount_req *m = &p->mounts[i];

		if (m->kind == MOUNT_TMPFS)
			if (m->size)
				fprintf(out, "  tmpfs      %s  size %llu\n", m->dst,
					(unsigned long long)m->size);
			else
				fprintf(out, "  tmpfs      %s  (the default size)\n", m->dst);
		else
			fprintf(out, "  %-10s %s <- %s%s\n", kind_option(m->kind) + 2, m->dst,
				m->src, m->optional ? "  (if it exists)" : "");
	}
}

int mounts_create_sources(const struct plan *p, struct herr *e)
{
	for (size_t i = 0; i < p->n_mounts; i++) {
		const struct mount_req *m = &p->mounts[i];

		if (!m->create || mkdir_p(m->src, 0700, 0700) == 0)
			continue;
		herr_set(e, errno, "--bind-create %s: cannot create the source directory", m->src);
		return herr_hint(e, "check that you may write its parent directory");
	}
	return 0;
}
