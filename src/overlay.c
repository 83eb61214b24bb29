#include "overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "path.h"
#include "util.h"

#define SCRATCH "/tmp"
#define ROOT_AT SCRATCH "/root"

/* One overlay to mount: lower directories (top-most first), upper and work as paths. */
struct ovl {
	char **lower;
	size_t n_lower;
	const char *upper, *work;
	/* the kernel's view of --persist's upper and work: the fds themselves (the kernel refuses
	 * to mount on directories made in an upper layer reached through a bind mount) */
	const char *kupper, *kwork;
	const char *target;
	bool squash; /* fuse: show every file as the caller's own (host dirs under unmapped ids) */
};

/* Every directory the overlays use, bound into the private tmpfs under NAME: /tmp itself is
 * covered by now, and fuse-overlayfs reopens its layers by path, so fds alone would not do. */
static char *scratch_bind(struct overlays *ov, int fd, const char *name, struct herr *e)
{
	_cleanup_close_ int mnt =
	    open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);

	if (mnt < 0 || mkdirat(ov->scratch, name, 0700) < 0 ||
	    move_mount(mnt, "", ov->scratch, name, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		herr_set(e, errno, "cannot bind a layer into the overlays' private tmpfs");
		return NULL;
	}
	return xasprintf(SCRATCH "/%s", name);
}

/* Kernel overlayfs through the new mount API. "lowerdir+" adds one layer per call, so the
 * page-sized limit of the classic comma-separated option string never bites (kernel >= 6.8);
 * older kernels get the classic joined string. */
static int kernel_mount(const struct ovl *o)
{
	_cleanup_close_ int fs = fsopen("overlay", FSOPEN_CLOEXEC), mnt = -1;

	if (fs < 0)
		return -errno;
	for (size_t i = 0; i < o->n_lower; i++) {
		if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", o->lower[i], 0) == 0)
			continue;
		if (errno != EINVAL || i > 0)
			return -errno;
		size_t len = 1;
		for (size_t j = 0; j < o->n_lower; j++)
			len += strlen(o->lower[j]) + 1;
		_cleanup_free_ char *joined = xcalloc(1, len);
		for (size_t j = 0; j < o->n_lower; j++)
			strcat(strcat(joined, j ? ":" : ""), o->lower[j]);
		if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir", joined, 0) < 0)
			return -errno;
		break;
	}
	/* userxattr: inside a user namespace the trusted.* xattrs are out of reach; whiteouts and
	 * opaque directories are then read from user.overlay.* (what image unpacking writes). */
	if (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", o->kupper ? o->kupper : o->upper, 0) <
		0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "workdir", o->kwork ? o->kwork : o->work, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (mnt < 0)
		return -errno;
	if (move_mount(mnt, "", AT_FDCWD, o->target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return -errno;
	return 0;
}

/* fuse-overlayfs must mount as a process with CAP_SYS_ADMIN in this user namespace; execve
 * drops every capability of a non-root uid unless it is ambient. */
static void keep_sys_admin(void)
{
	cap_value_t admin = CAP_SYS_ADMIN;
	cap_t c = cap_get_proc();

	if (c) {
		cap_set_flag(c, CAP_INHERITABLE, 1, &admin, CAP_SET);
		cap_set_proc(c);
		cap_free(c);
	}
	cap_set_ambient(CAP_SYS_ADMIN, CAP_SET);
}

static int fuse_mount(const struct overlays *ov, const struct ovl *o)
{
	uid_t uid = ov->ids->uid;
	gid_t gid = ov->ids->gid;
	_cleanup_free_ char *lower = NULL, *opts = NULL;
	size_t len = 1;
	int status;
	pid_t pid;

	if (access("/dev/fuse", R_OK | W_OK) < 0)
		return -ENODEV;
	for (size_t i = 0; i < o->n_lower; i++)
		len += strlen(o->lower[i]) + 1;
	lower = xcalloc(1, len);
	for (size_t i = 0; i < o->n_lower; i++)
		strcat(strcat(lower, i ? ":" : ""), o->lower[i]);
	opts = o->squash ? xasprintf("lowerdir=%s,upperdir=%s,workdir=%s,allow_other,squash_to_uid="
				     "%u,squash_to_gid=%u",
				     lower, o->upper, o->work, (unsigned)uid, (unsigned)gid)
			 : xasprintf("lowerdir=%s,upperdir=%s,workdir=%s,allow_other", lower,
				     o->upper, o->work);
	/*
	 * The daemon serves its own mount: were it in our mount namespace, pivot_root would move
	 * its root into that mount and its first path lookup would wait on itself. So it gets a
	 * mount namespace of its own, and its mount reaches ours by propagation through the
	 * private tmpfs, made shared for the moment.
	 */
	if (mount(NULL, SCRATCH, NULL, MS_SHARED, NULL) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (unshare(CLONE_NEWNS) < 0)
			_exit(126);

		syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
		if (null >= 0 && !ov->p->verbose) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		keep_sys_admin();
		execlp("fuse-overlayfs", "fuse-overlayfs", "-o", opts, o->target, (char *)NULL);
		_exit(127);
	}
	/* It daemonizes once the mount is up; the daemon becomes our (pid 1's) child and dies
	 * with the pid namespace. */
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	/* pivot_root refuses shared mounts, and nothing more may propagate either way */
	if (mount(NULL, SCRATCH, NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return -ENOENT;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static int fuse_failed(int err, struct herr *e, const char *what)
{
	herr_set(e, err == -EIO ? 0 : -err, "%s: fuse-overlayfs failed", what);
	if (err == -ENODEV)
		return herr_hint(e, "/dev/fuse must be readable and writable (mode 0666)");
	if (err == -ENOENT)
		return herr_hint(e, "install the package fuse-overlayfs");
	return herr_hint(e, "run with -v to see its messages");
}

/* Overlay in a user namespace keeps its whiteouts in user.* xattrs of the upper layer, which
 * hutch puts on a tmpfs, and tmpfs has user.* xattrs only since Linux 6.6: before, the kernel
 * refuses the mount with EINVAL (Debian 12's 6.1 does; issue 15). */
static const char *old_tmpfs_why(int err)
{
	if (err != -EINVAL || kernel_at_least("6.6") != 0)
		return "";
	return ": before Linux 6.6 a tmpfs upper layer has no user.* xattrs, which overlay in a "
	       "user namespace needs";
}

/* The driver the plan asks for, kernel first in auto mode. */
static int mount_one(struct overlays *ov, const struct ovl *o, const char *what, bool prefer_fuse,
		     struct herr *e)
{
	const struct plan *p = ov->p;
	int err = 0;

	if (p->overlay_driver == OVERLAY_KERNEL ||
	    (p->overlay_driver == OVERLAY_AUTO && !prefer_fuse)) {
		err = kernel_mount(o);
		if (err == 0) {
			hutch_say(p->verbose, "%s: kernel overlayfs", what);
			return 0;
		}
		if (p->overlay_driver == OVERLAY_KERNEL) {
			herr_set(e, -err, "%s: the kernel refuses an overlay mount%s", what,
				 old_tmpfs_why(err));
			return herr_hint(e, "try --overlay-driver fuse (needs fuse-overlayfs)");
		}
		hutch_say(p->verbose, "%s: kernel overlayfs refused (%s%s), trying fuse-overlayfs",
			  what, strerror(-err), old_tmpfs_why(err));
	}
	err = fuse_mount(ov, o);
	if (err < 0 && prefer_fuse && p->overlay_driver == OVERLAY_AUTO && kernel_mount(o) == 0) {
		hutch_say(p->verbose,
			  "%s: kernel overlayfs (fuse-overlayfs unavailable: writes "
			  "need ids mapped inside)",
			  what);
		return 0;
	}
	if (err < 0)
		return fuse_failed(err, e, what);
	hutch_say(p->verbose, "%s: fuse-overlayfs", what);
	return 0;
}

static int open_dir(const char *path, const char *opt, struct herr *e)
{
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		herr_set(e, errno, "--%s %s", opt, path);
		herr_hint(e, "give an existing directory");
	}
	return fd;
}

static int persist_dirs(struct overlays *ov, struct herr *e)
{
	const char *dir = ov->p->persist;
	int fd;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return herr_set(e, errno, "--persist %s: cannot create it", dir);
	fd = ov->persist = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return herr_set(e, errno, "--persist %s", dir);
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "work" : "upper";
		int sub;

		if (mkdirat(fd, name, 0700) < 0 && errno != EEXIST)
			return herr_set(e, errno, "--persist %s: cannot create %s", dir, name);
		sub = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			return herr_set(e, errno, "--persist %s/%s", dir, name);
		*(i ? &ov->work : &ov->upper) = sub;
	}
	return 0;
}

const char *overlay_prepare(const struct plan *p, const struct ids *ids, struct overlays *ov,
			    const char *size, struct herr *e)
{
	char *const fail = (char *)-1;
	char opts[48];

	*ov = (struct overlays){
	    .scratch = -1, .persist = -1, .upper = -1, .work = -1, .p = p, .ids = ids};
	if (!p->n_layers && !p->n_overlays)
		return NULL;
	ov->lower = xcalloc(p->n_layers + 1, sizeof(int));
	ov->host = xcalloc(p->n_overlays + 1, sizeof(int));
	for (size_t i = 0; i < p->n_layers; i++)
		ov->lower[i] = -1;
	for (size_t i = 0; i < p->n_overlays; i++)
		ov->host[i] = -1;
	for (size_t i = 0; i < p->n_layers; i++)
		if ((ov->lower[i] = open_dir(p->layers[i], p->image ? "image" : "rootfs", e)) < 0)
			return fail;
	for (size_t i = 0; i < p->n_overlays; i++)
		if ((ov->host[i] = open_dir(p->overlays[i], "overlay", e)) < 0)
			return fail;
	if (p->persist && p->n_layers && persist_dirs(ov, e) < 0)
		return fail;
	/* Our own mount namespace: covering /tmp hides nothing from anyone else. The upper
	 * layers are memory: sized like every tmpfs of the sandbox (limits.h). */
	snprintf(opts, sizeof(opts), "mode=0700,size=%s", size);
	if (mount("tmpfs", SCRATCH, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
		herr_set(e, errno, "cannot mount a private tmpfs for the overlays' upper layers");
		return fail;
	}
	ov->scratch = open(SCRATCH, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ov->scratch < 0 || mkdirat(ov->scratch, "root", 0755) < 0) {
		herr_set(e, errno, "cannot prepare the overlays' private tmpfs");
		return fail;
	}
	return ROOT_AT;
}

/* upper-N and work-N in the private tmpfs. */
static int scratch_pair(struct overlays *ov, size_t n, char **upper, char **work, struct herr *e)
{
	*upper = xasprintf(SCRATCH "/upper-%zu", n);
	*work = xasprintf(SCRATCH "/work-%zu", n);
	if (mkdir(*upper, 0755) < 0 || mkdir(*work, 0700) < 0)
		return herr_set(e, errno, "cannot create the overlay's upper layer");
	return 0;
}

int overlay_root(struct overlays *ov, const char *target, struct herr *e)
{
	const struct plan *p = ov->p;
	_cleanup_free_ char *upper = NULL, *work = NULL, *kupper = NULL, *kwork = NULL;
	struct ovl o = {.n_lower = p->n_layers, .target = target};
	int r;

	if (ov->upper >= 0) {
		o.kupper = kupper = xasprintf("/proc/self/fd/%d", ov->upper);
		o.kwork = kwork = xasprintf("/proc/self/fd/%d", ov->work);
		/* One bind of DIR, not one each of upper and work: fuse-overlayfs makes every new
		 * entry in work and renames it into upper, and rename(2) between two mounts is
		 * EXDEV even on one filesystem (the first mkdir, /proc's mount point, failed). */
		_cleanup_free_ char *dir = scratch_bind(ov, ov->persist, "persist", e);
		if (!dir)
			return -1;
		upper = xasprintf("%s/upper", dir);
		work = xasprintf("%s/work", dir);
	} else if (scratch_pair(ov, 0, &upper, &work, e) < 0) {
		return -1;
	}
	o.lower = xcalloc(p->n_layers, sizeof(char *));
	r = 0;
	for (size_t i = 0; i < p->n_layers && r == 0; i++) {
		_cleanup_free_ char *name = xasprintf("layer-%zu", i);
		o.lower[i] = scratch_bind(ov, ov->lower[i], name, e);
		r = o.lower[i] ? 0 : -1;
	}
	o.upper = upper;
	o.work = work;
	if (r == 0)
		r = mount_one(ov, &o, "root", false, e);
	plan_free_strv(o.lower, o.n_lower);
	if (r == 0)
		hutch_say(p->verbose, "root: %zu read-only layer%s under a %s writable layer%s%s",
			  p->n_layers, p->n_layers == 1 ? "" : "s",
			  ov->upper >= 0 ? "kept" : "throw-away", ov->upper >= 0 ? " in " : "",
			  ov->upper >= 0 ? p->persist : "");
	return r;
}

/* The kernel overlay gives no write where the lower's owner is unmapped inside (a root-owned
 * host /usr): its permission checks see "nobody". fuse-overlayfs can show the files as ours. */
static bool owner_unmapped(int fd, const struct ids *ids)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_uid != ids->outside_uid;
}

int overlay_host_dirs(struct overlays *ov, int rootfd, struct herr *e)
{
	const struct plan *p = ov->p;

	for (size_t i = 0; i < p->n_overlays; i++) {
		_cleanup_free_ char *upper = NULL, *work = NULL, *lower = NULL,
				    *at = xasprintf(SCRATCH "/mnt-%zu", i + 1),
				    *what = xasprintf("--overlay %s", p->overlays[i]),
				    *name = xasprintf("host-%zu", i + 1);
		struct ovl o = {.n_lower = 1, .target = at};
		_cleanup_close_ int dst = -1;

		lower = scratch_bind(ov, ov->host[i], name, e);
		if (!lower)
			return -1;
		o.lower = &lower;
		if (scratch_pair(ov, i + 1, &upper, &work, e) < 0)
			return -1;
		if (mkdir(at, 0755) < 0)
			return herr_set(e, errno, "%s: cannot prepare", what);
		o.upper = upper;
		o.work = work;
		o.squash = owner_unmapped(ov->host[i], ov->ids);
		if (mount_one(ov, &o, what, o.squash, e) < 0)
			return -1;
		dst = path_make(rootfd, p->overlays[i], PATH_DIR);
		if (dst < 0)
			return herr_set(e, -dst, "%s: cannot make its mount point", what);
		if (move_mount(AT_FDCWD, at, dst, "", MOVE_MOUNT_T_EMPTY_PATH) < 0)
			return herr_set(e, errno, "%s: cannot mount it", what);
	}
	return 0;
}

void overlay_close(struct overlays *ov)
{
	for (size_t i = 0; ov->lower && i < ov->p->n_layers; i++)
		if (ov->lower[i] >= 0)
			close(ov->lower[i]);
	for (size_t i = 0; ov->host && i < ov->p->n_overlays; i++)
		if (ov->host[i] >= 0)
			close(ov->host[i]);
	free(ov->lower);
	free(ov->host);
	if (ov->scratch >= 0)
		close(ov->scratch);
	if (ov->persist >= 0)
		close(ov->persist);
	if (ov->upper >= 0)
		close(ov->upper);
	if (ov->work >= 0)
		close(ov->work);
}

void overlay_describe(const struct plan *p, FILE *out)
{
	if (p->n_layers) {
		fprintf(
		    out,
		    "  overlay    /                 (%zu read-only layer%s, writable layer %s)\n",
		    p->n_layers, p->n_layers == 1 ? "" : "s",
		    p->persist ? p->persist : "thrown away");
		for (size_t i = 0; i < p->n_layers; i++)
			fprintf(out, "  layer      %s\n", p->layers[i]);
	}
	for (size_t i = 0; i < p->n_overlays; i++)
		fprintf(out, "  overlay    %-17s (writable layer thrown away)\n", p->overlays[i]);
}
