#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "limits.h"
#include "util.h"

/* ---- small file helpers ---- */

int cg_write(int dirfd, const char *file, const char *fmt, ...)
{
	_cleanup_close_ int fd = openat(dirfd, file, O_WRONLY | O_CLOEXEC);
	char buf[128];
	va_list ap;
	int n;

	if (fd < 0)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return write(fd, buf, (size_t)n) == n ? 0 : -1;
}

ssize_t cg_read(int dirfd, const char *file, char *buf, size_t size)
{
	_cleanup_close_ int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return n;
}

int64_t cg_keyed(int dirfd, const char *file, const char *key)
{
	char buf[4096];
	size_t klen = strlen(key);

	if (cg_read(dirfd, file, buf, sizeof(buf)) < 0)
		return -1;
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, key, klen) == 0 && l[klen] == ' ')
			return strtoll(l + klen + 1, NULL, 10);
	return -1;
}

int64_t cg_number(int dirfd, const char *file)
{
	char buf[64];

	if (cg_read(dirfd, file, buf, sizeof(buf)) < 0 || buf[0] < '0' || buf[0] > '9')
		return -1;
	return strtoll(buf, NULL, 10);
}

bool cg_has(int dirfd, const char *file)
{
	return faccessat(dirfd, file, F_OK, 0) == 0;
}

unsigned cgroup_needed(const struct plan *p)
{
	return (plan_memory_given(p) || p->memory_swap ? CG_MEMORY : 0) |
	       (plan_pids_given(p) ? CG_PIDS : 0) |
	       (p->cpu_quota_us || p->cpu_weight ? CG_CPU : 0) | (p->io_weight ? CG_IO : 0);
}

/* ---- finding the hierarchies and the delegation ---- */

static const struct {
	const char *name; /* v1 name */
	const char *v2;	  /* v2 name, NULL: core on v2 */
	unsigned bit;
	const char *option; /* which option needs it */
} ctrl_names[] = {
    {"memory", "memory", CG_MEMORY, "--memory"},   {"pids", "pids", CG_PIDS, "--pids"},
    {"cpu", "cpu", CG_CPU, "--cpus/--cpu-weight"}, {"cpuacct", NULL, CG_CPUACCT, NULL},
    {"blkio", "io", CG_IO, "--io-weight"},	   {"freezer", NULL, CG_FREEZER, NULL},
};

static unsigned ctrl_bits(const char *list)
{
	_cleanup_free_ char *copy = xstrdup(list);
	unsigned bits = 0;
	char *save = NULL;

	for (char *t = strtok_r(copy, ", \n", &save); t; t = strtok_r(NULL, ", \n", &save))
		for (size_t i = 0; i < ARRAY_SIZE(ctrl_names); i++)
			if (strcmp(t, ctrl_names[i].name) == 0 ||
			    (ctrl_names[i].v2 && strcmp(t, ctrl_names[i].v2) == 0))
				bits |= ctrl_names[i].bit;
	return bits;
}

/* "memory", "cpu,cpuacct": the controllers of bits, by their v1 or v2 names (blkio, io). */
static char *bits_names(unsigned bits, bool v2)
{
	char buf[128] = "";

	for (size_t i = 0; i < ARRAY_SIZE(ctrl_names); i++)
		if (bits & ctrl_names[i].bit) {
			if (buf[0])
				strcat(buf, ",");
			strcat(buf, v2 && ctrl_names[i].v2 ? ctrl_names[i].v2 : ctrl_names[i].name);
		}
	return xstrdup(buf);
}

/* Our cgroup in the hierarchy with these controllers (0: v2), from /proc/self/cgroup's text. */
static char *own_cgroup(const char *text, unsigned bits)
{
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *a = strchr(l, ':'), *b = a ? strchr(a + 1, ':') : NULL;
		_cleanup_free_ char *ctrls = NULL;

		if (!b)
			continue;
		ctrls = strndup(a + 1, (size_t)(b - a - 1));
		if (ctrls && (bits ? ctrl_bits(ctrls) == bits : ctrls[0] == 0))
			return strndup(b + 1, strcspn(b + 1, "\n"));
	}
	return NULL;
}

/* The directory of cgroup path cgpath in a hierarchy mounted at mnt showing root. */
static char *cg_dir_of(const char *mnt, const char *root, const char *cgpath)
{
	size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);

	if (rl && (strncmp(cgpath, root, rl) != 0 || (cgpath[rl] && cgpath[rl] != '/')))
		return NULL;
	cgpath += rl;
	return xasprintf("%s%s", mnt, strcmp(cgpath, "/") == 0 ? "" : cgpath);
}

/* A hierarchy mounted twice (a bind mount of it) is one hierarchy. */
static bool mounted_already(const struct cgroup *cg, unsigned bits)
{
	for (size_t i = 0; i < cg->n_v1; i++)
		if (cg->v1[i].ctrls == bits)
			return true;
	return false;
}

/* A mount that another was stacked on (a container's or a test's /sys/fs/cgroup mounted over
 * the host's) is still listed in mountinfo, but its files cannot be reached: skip it. */
static bool hidden(const char *mnt, unsigned major, unsigned minor)
{
	struct stat st;

	return stat(mnt, &st) < 0 || st.st_dev != makedev(major, minor);
}

/* Fill cg->v2 and cg->v1[] from mountinfo, each with our own cgroup's directory as parent. */
static void find_hierarchies(const struct plan *p, struct cgroup *cg)
{
	_cleanup_free_ char *line = NULL;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	size_t cap = 0;
	char self[4096];

	if (!f)
		return;
	if (cg_read(AT_FDCWD, "/proc/self/cgroup", self, sizeof(self)) < 0)
		self[0] = 0;
	while (getline(&line, &cap, f) > 0) {
		char root[PATH_MAX], mnt[PATH_MAX], fstype[32], opts[512];
		const char *dash = strstr(line, " - ");
		_cleanup_free_ char *own = NULL;
		unsigned major, minor;
		struct cg_hier *h;

		if (!dash ||
		    sscanf(line, "%*s %*s %u:%u %4095s %4095s", &major, &minor, root, mnt) != 4 ||
		    sscanf(dash + 3, "%31s %*s %511s", fstype, opts) != 2 ||
		    strncmp(fstype, "cgroup", 6) != 0 || hidden(mnt, major, minor))
			continue;
		if (strcmp(fstype, "cgroup2") == 0 && !cg->has_v2) {
			h = &cg->v2;
			cg->has_v2 = true;
			h->ctrls = 0;
		} else if (strcmp(fstype, "cgroup") == 0 && cg->n_v1 < CG_V1_MAX &&
			   ctrl_bits(opts) && !mounted_already(cg, ctrl_bits(opts))) {
			h = &cg->v1[cg->n_v1++];
			h->ctrls = ctrl_bits(opts);
		} else {
			continue;
		}
		own = p->cgroup_parent ? xstrdup(p->cgroup_parent) : own_cgroup(self, h->ctrls);
		h->fd = h->leaf = -1;
		h->mount = xstrdup(mnt);
		h->name = h == &cg->v2 ? xstrdup("cgroup2") : bits_names(h->ctrls, false);
		h->parent = own ? cg_dir_of(mnt, root, own) : NULL;
	}
	fclose(f);
}

static bool writable(const char *dir)
{
	_cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", dir);

	return access(dir, W_OK) == 0 && access(procs, W_OK) == 0;
}

static unsigned v2_listed(const char *dir, const char *file)
{
	_cleanup_close_ int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	char buf[512];

	return fd >= 0 && cg_read(fd, file, buf, sizeof(buf)) >= 0 ? ctrl_bits(buf) : 0;
}

static int v2_enable(const char *dir, unsigned bits)
{
	_cleanup_close_ int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

	for (size_t i = 0; i < ARRAY_SIZE(ctrl_names); i++)
		if ((bits & ctrl_names[i].bit) && ctrl_names[i].v2 &&
		    cg_write(fd, "cgroup.subtree_control", "+%s", ctrl_names[i].v2) < 0)
			return -1;
	return 0;
}

static int no_delegation(const char *option, const char *what, const char *dir, struct herr *e)
{
	herr_set(e, 0, "%s needs a cgroup delegated to you, but %s cgroup %s is not writable",
		 option, what, dir ? dir : "(none)");
	return herr_hint(
	    e, "an administrator delegates one: cgroup v1, per hierarchy: mkdir DIR/USER "
	       "&& chown -R USER DIR/USER; cgroup v2: systemd's Delegate=yes for the "
	       "user's unit, or chown -R USER of a subtree the user's processes start in; "
	       "then run there or give --cgroup-parent");
}

static int not_delegated(const char *names, const char *dir, struct herr *e)
{
	herr_set(e, 0, "the %s controller is not delegated to cgroup %s (v2)", names, dir);
	return herr_hint(e, "with systemd, a drop-in /etc/systemd/system/user@.service.d/"
			    "delegate.conf with [Service] Delegate=cpu cpuset io memory pids "
			    "enables them");
}

/*
 * A cgroup that holds processes must not be the sandbox's parent once it hands a controller
 * down. The kernel does refuse a domain controller there (EBUSY), but it lets a threaded one
 * (pids, cpuset, perf_event) be enabled, which makes the cgroup a thread root: every domain
 * cgroup below it is then invalid, and clone3 into one fails with EOPNOTSUPP (`--pids 32` alone
 * failed that way on Debian's 6.12, blamed on user namespaces). So such a cgroup is never used
 * to enable controllers, nor as a parent once some are enabled; the root is exempt (mixable).
 */
static bool holds_processes(const struct cg_hier *h, const char *dir, unsigned need)
{
	_cleanup_close_ int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	char buf[16];

	if (strcmp(dir, h->mount) == 0 || fd < 0 || cg_read(fd, "cgroup.procs", buf, sizeof(buf)) <= 0)
		return false;
	return need || v2_listed(dir, "cgroup.subtree_control");
}

/*
 * v2: the sandbox's cgroup goes under our own cgroup, or under the nearest writable ancestor
 * that has the needed controllers and can hand them down. A cgroup holding processes (ours
 * does: we are in it) cannot enable controllers for children (the no-internal-processes rule),
 * and a leaf made for the launcher usually has none enabled, so on a pure v2 host the sandbox
 * often becomes a sibling of the launcher's leaf; moving the init there is allowed because we
 * own their common ancestor. A --cgroup-parent or a systemd scope is the delegation itself:
 * never above it (the rest of a user manager's tree is the manager's, writable or not).
 */
static int v2_parent(const struct plan *p, struct cgroup *cg, unsigned need, struct herr *e)
{
	struct cg_hier *h = &cg->v2;
	_cleanup_free_ char *d = h->parent ? xstrdup(h->parent) : NULL;
	_cleanup_free_ char *names = bits_names(need, true);

	if (!d || !writable(d)) {
		if (need)
			return no_delegation(ctrl_names[__builtin_ctz(need)].option, "the v2", d,
					     e);
		free(h->parent);
		h->parent = NULL;
		return 0;
	}
	for (;;) {
		bool listed = (v2_listed(d, "cgroup.controllers") & need) == need;
		bool busy = holds_processes(h, d, need);

		if (listed && !busy &&
		    ((v2_listed(d, "cgroup.subtree_control") & need) == need ||
		     v2_enable(d, need) == 0))
			break;
		int err = !listed ? 0 : busy ? EBUSY : errno;
		char *up = xstrdup(d);
		*strrchr(up, '/') = 0;
		if (p->cgroup_parent || cg->scope || strlen(up) < strlen(h->mount) ||
		    !writable(up)) {
			free(up);
			if (!need) { /* nothing needed from v2 here: go without it, quietly */
				free(h->parent);
				h->parent = NULL;
				return 0;
			}
			if (!listed)
				return not_delegated(names, d, e);
			herr_set(e, err, "cannot enable the %s controller in %s", names, d);
			return herr_hint(e,
					 "it holds processes (cgroup v2 lets only an empty cgroup "
					 "hand controllers down): start hutch from a leaf cgroup");
		}
		free(d);
		d = up;
	}
	free(h->parent);
	h->parent = xstrdup(d);
	return 0;
}

static bool launcher_gone(const char *name)
{
	char *end;
	long pid;

	if (strncmp(name, "hutch-", 6) != 0)
		return false;
	pid = strtol(name + 6, &end, 10);
	return end != name + 6 && *end == '-' && pid > 0 && kill((pid_t)pid, 0) < 0 &&
	       errno == ESRCH;
}

/* Remove a cgroup directory and whatever the sandbox made below it, waiting for dying
 * processes (rmdir says EBUSY until the cgroup is empty). */
static void remove_tree(int parentfd, const char *name, int tries)
{
	_cleanup_close_ int fd = -1;
	DIR *d;
	struct dirent *de;

	for (int i = 0; i < 400; i++) {
		if (unlinkat(parentfd, name, AT_REMOVEDIR) == 0 ||
		    (errno != EBUSY && errno != ENOTEMPTY))
			return;
		if (i == 0) {
			/* cgroups the sandbox made inside its own go first */
			fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			d = fd >= 0 ? fdopendir(dup(fd)) : NULL;
			while (d && (de = readdir(d)))
				if (de->d_type == DT_DIR && de->d_name[0] != '.')
					remove_tree(fd, de->d_name, tries);
			if (d)
				closedir(d);
			continue;
		}
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
}

/* Cgroups of launchers that died before they could clean up (SIGKILL): theirs are empty now,
 * since the sandbox's init died with its parent. Only empty ones are removed, never killed: a
 * launcher in another pid namespace would look dead from here. */
static void remove_stale(const char *parent)
{
	_cleanup_close_ int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(dup(fd)) : NULL;
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (de->d_type == DT_DIR && launcher_gone(de->d_name))
			remove_tree(fd, de->d_name, 2);
	if (d)
		closedir(d);
}

/* OCI linux.cgroupsPath "a/b/ctr" (issue 8): a and b are made as runc makes them, and stay;
 * the container's cgroup's parent becomes a/b, so that it alone is removed at the end. */
static int oci_cgroup_parents(struct cg_hier *h)
{
	char *slash = strrchr(h->dir, '/');

	free(h->parent);
	h->parent = xasprintf("%.*s", (int)(slash - h->dir), h->dir);
	return mkdir_p(h->parent, 0755, 0755);
}

static int make_one(const struct plan *p, const struct bounds *b, const struct cgroup *cg,
		    struct cg_hier *h, struct herr *e)
{
	remove_stale(h->parent);
	h->dir = xasprintf("%s/%s", h->parent, p->oci_cgroup ? p->oci_cgroup : cg->name);
	if (p->oci_cgroup && oci_cgroup_parents(h) < 0)
		return herr_set(e, errno, "linux.cgroupsPath: cannot create the parents of %s",
				h->dir);
	if (mkdir(h->dir, 0755) < 0) {
		herr_set(e, errno, "cannot create cgroup %s", h->dir);
		free(h->dir);
		h->dir = NULL;
		return -1;
	}
	h->fd = open(h->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (h->fd < 0)
		return herr_set(e, errno, "cannot open cgroup %s", h->dir);
	if (mkdirat(h->fd, "sandbox", 0755) < 0 ||
	    (h->leaf = openat(h->fd, "sandbox", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return herr_set(e, errno, "cannot create cgroup %s/sandbox", h->dir);
	return h == &cg->v2 ? cgroup_v2_limits(p, b, h, e) : cgroup_v1_limits(p, b, h, e);
}

/* Which controllers the host has on v2 (a controller lives on v1 or v2, never both). */
static unsigned v2_host_ctrls(const struct cgroup *cg)
{
	if (!cg->has_v2)
		return 0;
	return v2_listed(cg->v2.mount, "cgroup.controllers");
}

/*
 * Not delegated, but a systemd user manager may delegate a scope to us (it does for each unit
 * with Delegate=yes). Once we are in it, the launcher moves on into a leaf of its own, so that
 * the scope holds no process and can hand its controllers down to the sandbox's cgroup.
 */
static void try_systemd_scope(const struct plan *p, struct cgroup *cg)
{
	_cleanup_free_ char *own = NULL, *leaf = NULL;
	_cleanup_close_ int fd = -1;
	char self[4096];
	struct cg_hier *h = &cg->v2;

	if (cgroup_systemd_scope(cg->name, p->verbose) < 0 ||
	    cg_read(AT_FDCWD, "/proc/self/cgroup", self, sizeof(self)) < 0 ||
	    !(own = own_cgroup(self, 0)))
		return;
	cg->scope = true;
	free(h->parent);
	h->parent = xasprintf("%s%s", h->mount, own);
	leaf = xasprintf("%s/launcher", h->parent);
	if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
		return;
	fd = open(leaf, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		cg_write(fd, "cgroup.procs", "0"); /* "0": the writer itself */
}

/* A cgroup asked for: a limit, or the kill switch and numbers of --timeout and --report, or
 * OCI's cgroupsPath; without one, only the default limits want one. */
static bool cgroup_asked(const struct plan *p)
{
	return plan_has_cgroup_limit(p) || p->timeout_ms || p->report || p->oci_cgroup;
}

/* The controllers the default limits would like (limits.h): used where delegated, else the
 * rlimits stand in, quietly. */
static unsigned cgroup_wanted(const struct plan *p)
{
	return (p->memory ? 0 : CG_MEMORY) | (p->pids ? 0 : CG_PIDS);
}

/* v2 for the controllers it has: the needed ones, and the wanted ones where they can be had. */
static int choose_v2(const struct plan *p, struct cgroup *cg, unsigned need, unsigned want,
		     struct herr *e)
{
	struct herr quiet = {0};

	cg->v2.ctrls = 0;
	if (!cg->has_v2)
		return 0;
	if (want && v2_parent(p, cg, need | want, &quiet) == 0) {
		cg->v2.ctrls = need | want;
		return 0;
	}
	if (v2_parent(p, cg, need, e) < 0)
		return -1;
	cg->v2.ctrls = need;
	return 0;
}

/*
 * Each needed controller goes to the hierarchy that has it: v1 where a v1 hierarchy is mounted
 * with it (hybrid hosts), else v2. One that no hierarchy offers is v2's too: on a pure v2 host
 * a controller missing from the delegated cgroup is a matter of delegation, and v2_parent says
 * which systemd drop-in hands it down. A wanted one (a default limit) is only taken where it is
 * there to take.
 */
static int choose(const struct plan *p, struct cgroup *cg, struct herr *e)
{
	unsigned need = cgroup_needed(p), want = cgroup_wanted(p), on_v1 = 0, v2_has, v1_want;
	bool asked = cgroup_asked(p);

	for (size_t i = 0; i < cg->n_v1; i++)
		on_v1 |= cg->v1[i].ctrls;
	v2_has = v2_host_ctrls(cg);
	/* a cgroup asked for (a limit, or the kill switch for --timeout): where our own v2
	 * cgroup is not ours to write, a user manager may delegate one; the defaults alone do
	 * not ask it (a D-Bus round trip and a unit for every run) */
	if (asked && cg->has_v2 && !p->cgroup_parent && !(cg->v2.parent && writable(cg->v2.parent)))
		try_systemd_scope(p, cg);
	if (choose_v2(p, cg, need & (v2_has | ~on_v1), want & v2_has & ~on_v1, e) < 0)
		return -1;
	/* v1 also for the report's numbers, and the freezer when there is no v2 to kill with.
	 * The defaults alone go without it: each v1 move of the init costs an RCU grace period
	 * (cgroup_attach), and the end of the pid namespace kills everything anyway. */
	v1_want = ((need | want) & ~cg->v2.ctrls) |
		  (p->report ? CG_MEMORY | CG_PIDS | CG_CPUACCT : 0) |
		  (cg->v2.parent || !asked ? 0 : CG_FREEZER);
	need &= ~cg->v2.ctrls;
	for (size_t i = 0; i < cg->n_v1; i++) {
		struct cg_hier *h = &cg->v1[i];
		bool ok = h->parent && writable(h->parent);

		if ((h->ctrls & need) && !ok)
			return no_delegation(ctrl_names[__builtin_ctz(h->ctrls & need)].option,
					     "the v1 hierarchy's", h->parent, e);
		if (!(h->ctrls & v1_want) || !ok) {
			free(h->parent);
			h->parent = NULL;
		}
		need &= ~h->ctrls;
	}
	if (need) {
		_cleanup_free_ char *names = bits_names(need, false);
		herr_set(e, 0, "the %s controller is not available on this host", names);
		return herr_hint(e, "no cgroup hierarchy has it mounted");
	}
	return 0;
}

/* Does the sandbox's cgroup hold this controller? */
static const struct cg_hier *holding(const struct cgroup *cg, unsigned bit)
{
	if (cg->v2.parent && (cg->v2.ctrls & bit))
		return &cg->v2;
	for (size_t i = 0; i < cg->n_v1; i++)
		if (cg->v1[i].parent && (cg->v1[i].ctrls & bit))
			return &cg->v1[i];
	return NULL;
}

/* The lowest memory limit above the sandbox's cgroup (0: none), so that a default limit is a
 * share of what the delegation may use. v1 says it in one number; v2 is read up the tree. */
static uint64_t parent_memory(const struct cgroup *cg, const struct cg_hier *h)
{
	_cleanup_free_ char *d = xstrdup(h->parent);
	uint64_t low = 0;

	for (;;) {
		_cleanup_close_ int fd = open(d, O_PATH | O_DIRECTORY | O_CLOEXEC);
		int64_t v = h == &cg->v2 ? cg_number(fd, "memory.max")
					 : cg_keyed(fd, "memory.stat", "hierarchical_memory_limit");

		if (v > 0 && (!low || (uint64_t)v < low))
			low = (uint64_t)v;
		if (h != &cg->v2 || strlen(d) <= strlen(h->mount))
			return low;
		*strrchr(d, '/') = 0;
	}
}

/*
 * Only the default limits want a cgroup (no option asks for one). Looking properly (mountinfo,
 * every hierarchy's mount, the v2 controllers, each parent's access) is about 40 system calls
 * at every start, and for nearly every caller finds nothing of theirs to write: it cost a tenth
 * of hutch's startup (BENCHMARKS.md). So first ask, in a few calls, whether any of our own
 * memory, pids or v2 cgroups at the standard mount points (/sys/fs/cgroup/CONTROLLERS for v1,
 * /sys/fs/cgroup or its unified/ for v2) is ours to write; only then look properly. A
 * delegation mounted elsewhere is then not used for the defaults (the rlimits stand in); an
 * explicit limit, a report or a timeout always looks everywhere.
 */
static bool maybe_delegated(void)
{
	char self[4096];

	if (cg_read(AT_FDCWD, "/proc/self/cgroup", self, sizeof(self)) < 0)
		return true; /* cannot tell: look properly */
	/* "ID:CONTROLLERS:PATH" lines, walked as own_cgroup() walks them */
	for (const char *l = self; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *a = strchr(l, ':'), *b = a ? strchr(a + 1, ':') : NULL;
		_cleanup_free_ char *ctrls = NULL, *path = NULL, *v2 = NULL, *hybrid = NULL, *v1 = NULL;

		if (!b)
			continue;
		ctrls = xasprintf("%.*s", (int)(b - a - 1), a + 1);
		path = xasprintf("%.*s", (int)strcspn(b + 1, "\n"), b + 1);
		if (strcmp(path, "/") == 0)
			path[0] = 0;
		if (!ctrls[0]) {
			v2 = xasprintf("/sys/fs/cgroup%s", path);
			hybrid = xasprintf("/sys/fs/cgroup/unified%s", path);
			if (writable(v2) || writable(hybrid))
				return true;
		} else if (ctrl_bits(ctrls) & (CG_MEMORY | CG_PIDS)) {
			v1 = xasprintf("/sys/fs/cgroup/%s%s", ctrls, path);
			if (writable(v1))
				return true;
		}
	}
	return false;
}

int cgroup_setup(const struct plan *p, struct cgroup *cg, struct bounds *b, struct herr *e)
{
	const struct cg_hier *mem;
	uint32_t rnd = 0;

	cg->v2.fd = cg->v2.leaf = -1;
	limits_resolve(p, false, false, 0, b); /* without a cgroup: the rlimits stand in */
	if (limits_check(p, e) < 0)
		return -1;
	if (!plan_wants_cgroup(p))
		return 0;
	if (!cgroup_asked(p) && !p->cgroup_parent && !maybe_delegated())
		return 0;
	find_hierarchies(p, cg);
	if (getrandom(&rnd, sizeof(rnd), 0) < 0)
		rnd = (uint32_t)time(NULL);
	snprintf(cg->name, sizeof(cg->name), "hutch-%d-%08" PRIx32, (int)getpid(), rnd);
	if (choose(p, cg, e) < 0)
		return -1;
	/* only a timeout or a report, and nothing delegated: run without a cgroup, quietly */
	bool any = cg->v2.parent != NULL;
	for (size_t i = 0; i < cg->n_v1; i++)
		any |= cg->v1[i].parent != NULL;
	if (!any) {
		if (p->oci_cgroup) /* OCI linux.cgroupsPath (issue 8): say why it is not used */
			hutch_notice("linux.cgroupsPath %s: no cgroup is delegated to you; the "
				     "container runs without one",
				     p->oci_cgroup);
		return 0;
	}
	cg->active = true;
	mem = holding(cg, CG_MEMORY);
	limits_resolve(p, mem != NULL, holding(cg, CG_PIDS) != NULL,
		       mem ? parent_memory(cg, mem) : 0, b);
	if (cg->v2.parent && make_one(p, b, cg, &cg->v2, e) < 0)
		return -1;
	for (size_t i = 0; i < cg->n_v1; i++)
		if (cg->v1[i].parent && make_one(p, b, cg, &cg->v1[i], e) < 0)
			return -1;
	if (p->verbose)
		for (size_t i = 0; i <= cg->n_v1; i++) {
			const struct cg_hier *h = i < cg->n_v1 ? &cg->v1[i] : &cg->v2;
			if (h->dir)
				hutch_say(p->verbose, "cgroup (%s): %s", h->name, h->dir);
		}
	return 0;
}

int cgroup_clone_fd(const struct cgroup *cg)
{
	return cg->active && cg->v2.dir ? cg->v2.leaf : -1;
}

int cgroup_explain_clone_failure(const struct cgroup *cg, int err, struct herr *e)
{
	herr_set(e, err, "cannot start the sandbox in its cgroup %s/sandbox", cg->v2.dir);
	if (err == EAGAIN)
		return herr_hint(e, "its pids limit leaves no room for the sandbox's init: raise "
				    "--pids");
	if (err == EOPNOTSUPP || err == EBUSY)
		return herr_hint(e, "cgroup v2 refuses it: a cgroup above it holds processes "
				    "while handing controllers down; start hutch from a leaf "
				    "cgroup of the delegated subtree, or give --cgroup-parent");
	return herr_hint(e, "check that its subtree is delegated to you (cgroup.procs writable "
			    "in it and in your own cgroup's common ancestor with it)");
}

static bool has_v1(const struct cgroup *cg)
{
	for (size_t i = 0; cg->active && i < cg->n_v1; i++)
		if (cg->v1[i].dir)
			return true;
	return false;
}

/*
 * Moving a process between v1 cgroups waits for an RCU grace period (the kernel's
 * cgroup_threadgroup_rwsem), several milliseconds on an idle machine. So the monitor does it
 * after GO, while the init builds its root, and tells the init when it is done; the init waits
 * for that before it makes its cgroup namespace, forks, or runs anything of the user's.
 */
int cgroup_attach(const struct cgroup *cg, pid_t pid, int sock, struct herr *e)
{
	if (!has_v1(cg))
		return 0;
	for (size_t i = 0; i < cg->n_v1; i++)
		if (cg->v1[i].dir && cg_write(cg->v1[i].leaf, "cgroup.procs", "%d", (int)pid) < 0)
			return herr_set(e, errno, "cannot move the sandbox into cgroup %s",
					cg->v1[i].dir);
	if (channel_send(sock, MSG_GO, NULL, -1) < 0)
		return herr_set(e, errno, "cannot reach the sandbox's init");
	return 0;
}

int cgroup_await_attach(const struct cgroup *cg, int sock, struct herr *e)
{
	struct msg m;

	if (has_v1(cg) && (channel_recv(sock, &m, NULL) != 0 || m.type != MSG_GO))
		return herr_set(e, 0, "the monitor did not move the sandbox into its cgroups");
	return 0;
}

void cgroup_kill(const struct cgroup *cg)
{
	if (!cg->active)
		return;
	if (cg->v2.dir) {
		cgroup_v2_kill(&cg->v2);
		return;
	}
	for (size_t i = 0; i < cg->n_v1; i++)
		if (cg->v1[i].dir && (cg->v1[i].ctrls & CG_FREEZER))
			return cgroup_v1_kill(&cg->v1[i]);
	for (size_t i = 0; i < cg->n_v1; i++)
		if (cg->v1[i].dir)
			return cgroup_v1_kill(&cg->v1[i]);
}

void cgroup_read_stats(const struct cgroup *cg, struct cg_stats *s)
{
	*s = (struct cg_stats){-1, -1, -1, -1, -1, -1};
	if (!cg->active)
		return;
	if (cg->v2.dir)
		cgroup_v2_stats(&cg->v2, s);
	for (size_t i = 0; i < cg->n_v1; i++)
		if (cg->v1[i].dir)
			cgroup_v1_stats(&cg->v1[i], s);
}

static void cgroup_close_hier(struct cg_hier *h)
{
	if (h->fd >= 0)
		close(h->fd);
	if (h->leaf >= 0)
		close(h->leaf);
	h->fd = h->leaf = -1;
}

void cgroup_close_fds(struct cgroup *cg)
{
	cgroup_close_hier(&cg->v2);
	for (size_t i = 0; i < cg->n_v1; i++)
		cgroup_close_hier(&cg->v1[i]);
}

static void hier_free(struct cg_hier *h)
{
	if (h->dir) {
		_cleanup_close_ int pfd = open(h->parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd >= 0)
			remove_tree(pfd, strrchr(h->dir, '/') + 1, 1000);
	}
	cgroup_close_hier(h);
	free(h->mount);
	free(h->name);
	free(h->parent);
	free(h->dir);
	memset(h, 0, sizeof(*h));
	h->fd = h->leaf = -1;
}

void cgroup_destroy(struct cgroup *cg)
{
	cgroup_kill(cg);
	if (cg->has_v2)
		hier_free(&cg->v2);
	for (size_t i = 0; i < cg->n_v1; i++)
		hier_free(&cg->v1[i]);
	cg->n_v1 = 0;
	cg->active = false;
}

/* The init's cgroup namespace is made after the monitor moved it into its cgroups (v1 has no
 * way to be born in one), so that it is rooted there in every hierarchy: the sandbox sees its
 * own cgroup as "/" and nothing of the host's tree. */
int cgroup_enter_namespace(const struct cgroup *cg, struct herr *e)
{
	if (cg->active && unshare(CLONE_NEWCGROUP) < 0)
		return herr_set(e, errno, "cannot create a cgroup namespace");
	return 0;
}

static int mkdirs(const char *const *dirs, size_t n, struct herr *e)
{
	for (size_t i = 0; i < n; i++)
		if (mkdir(dirs[i], 0755) < 0 && errno != EEXIST)
			return herr_set(e, errno, "cannot create %s", dirs[i]);
	return 0;
}

/* /sys/fs/cgroup inside: the sandbox's own subtree of each hierarchy it has, read-only (the
 * cgroup namespace decides what a new cgroup mount shows). A v2-only sandbox gets cgroup2 right
 * there; a hybrid one a tmpfs with unified/ and one directory per v1 hierarchy, as on the host. */
int cgroup_mount_view(const struct cgroup *cg, struct herr *e)
{
	static const char *const base[] = {"/sys", "/sys/fs", "/sys/fs/cgroup"};
	const unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
	size_t v1 = 0;

	if (!cg->active)
		return 0;
	for (size_t i = 0; i < cg->n_v1; i++)
		v1 += cg->v1[i].dir != NULL;
	/* The root is still writable here: it goes read-only after the command is forked
	 * (mounts_finish_root). */
	if (mkdirs(base, ARRAY_SIZE(base), e) < 0)
		return -1;
	if (!v1) {
		if (cg->v2.dir && mount("cgroup2", "/sys/fs/cgroup", "cgroup2", ro, NULL) < 0)
			return herr_set(e, errno, "cannot mount cgroup2 on /sys/fs/cgroup");
		return 0;
	}
	if (mount("tmpfs", "/sys/fs/cgroup", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=0755,size=64k") < 0)
		return herr_set(e, errno, "cannot mount a tmpfs on /sys/fs/cgroup");
	for (size_t i = 0; i <= cg->n_v1; i++) {
		const struct cg_hier *h = i < cg->n_v1 ? &cg->v1[i] : &cg->v2;
		_cleanup_free_ char *dst = NULL;

		if (!h->dir)
			continue;
		dst = xasprintf("/sys/fs/cgroup/%s", strrchr(h->mount, '/') + 1);
		if (mkdir(dst, 0755) < 0 && errno != EEXIST)
			return herr_set(e, errno, "cannot create %s", dst);
		if (h == &cg->v2 && mount("cgroup2", dst, "cgroup2", ro, NULL) < 0)
			return herr_set(e, errno, "cannot mount the cgroup2 view on %s", dst);
		/* a v1 mount must name the hierarchy's exact controllers; one comounted with a
		 * controller hutch does not know stays out of the view (the limits still apply) */
		if (h != &cg->v2 && mount("cgroup", dst, "cgroup", ro, h->name) < 0)
			rmdir(dst);
	}
	if (mount(NULL, "/sys/fs/cgroup", NULL, MS_REMOUNT | ro, "mode=0755,size=64k") < 0)
		return herr_set(e, errno, "cannot make /sys/fs/cgroup read-only");
	return 0;
}
