#include "user.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <pwd.h>
#include <shadow/subid.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "keeper.h"
#include "oci.h"
#include "util.h"

/*
 * Build a map in which the caller's own id appears as `inside` (so whatever the sandbox writes
 * into a bound host directory stays owned by the caller on the host) and every other inside id
 * from 0 upwards comes from the subordinate ranges, skipping `inside`.
 */
static void build_map(struct idmap *m, unsigned long inside, unsigned long outside,
		      const struct subid_range *ranges, size_t n_ranges)
{
	unsigned long next = 0;

	m->ext[0] = (struct idmap_extent){inside, outside, 1};
	m->n = 1;
	for (size_t i = 0; i < n_ranges; i++) {
		unsigned long start = ranges[i].start, count = ranges[i].count;

		while (count > 0 && m->n < IDMAP_MAX) {
			unsigned long len = count;

			if (next == inside)
				next++;
			if (next < inside && len > inside - next)
				len = inside - next; /* stop short of the caller's own slot */
			if (next > 0xfffffffeUL - len)
				return; /* ran past the last valid id */
			m->ext[m->n++] = (struct idmap_extent){next, start, len};
			next += len;
			start += len;
			count -= len;
		}
	}
}

/* The keeper's maps: every id it has is the same number as on the host, so the sandbox's maps
 * (and its /proc/self/uid_map) read in host ids. */
static void identity_map(struct idmap *m, unsigned long own, const struct subid_range *ranges,
			 size_t n_ranges)
{
	m->ext[0] = (struct idmap_extent){own, own, 1};
	m->n = 1;
	for (size_t i = 0; i < n_ranges && m->n < IDMAP_MAX; i++)
		m->ext[m->n++] =
		    (struct idmap_extent){ranges[i].start, ranges[i].start, ranges[i].count};
}

static void single_map(struct idmap *m, unsigned long inside, unsigned long outside)
{
	m->ext[0] = (struct idmap_extent){inside, outside, 1};
	m->n = 1;
}

typedef int (*subid_lookup_fn)(const char *owner, struct subid_range **ranges);

/* libsubid is loaded only when a keeper must be made: it pulls in PAM, SELinux and audit
 * libraries whose loading alone would cost a millisecond on every run. */
static int lookup_ranges(const char *user, struct subid_range **ur, int *nu,
			 struct subid_range **gr, int *ng)
{
	void *lib = dlopen("libsubid.so.4", RTLD_NOW | RTLD_LOCAL);
	subid_lookup_fn get_uid, get_gid;

	*nu = *ng = 0;
	if (!lib) {
		hutch_notice("cannot load libsubid (%s); install the package libsubid4", dlerror());
		return -1;
	}
	get_uid = (subid_lookup_fn)dlsym(lib, "subid_get_uid_ranges");
	get_gid = (subid_lookup_fn)dlsym(lib, "subid_get_gid_ranges");
	if (get_uid && get_gid) {
		*nu = get_uid(user, ur);
		*ng = get_gid(user, gr);
	}
	dlclose(lib);
	return 0;
}

/* The keeper's namespace, as seen from inside it: the ids it has, besides the caller's own.
 * `text` is the map as the keeper sent it (keeper_connect), or NULL: read `file`. */
static size_t keeper_ranges(const char *text, const char *file, unsigned long own,
			    struct subid_range *out)
{
	FILE *f = text ? fmemopen((void *)text, strlen(text), "r") : fopen(file, "re");
	unsigned long in, outside, count;
	size_t n = 0;

	if (!f)
		return 0;
	while (n < IDMAP_MAX && fscanf(f, "%lu %lu %lu", &in, &outside, &count) == 3)
		if (!(in == own && count == 1))
			out[n++] = (struct subid_range){in, count};
	fclose(f);
	return n;
}

/* The full path of PROG on $PATH, or NULL. */
static char *find_on_path(const char *prog)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = xstrdup(path && *path ? path : "/usr/bin:/bin");
	char *save = NULL;

	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *full = xasprintf("%s/%s", dir, prog);
		if (access(full, X_OK) == 0)
			return full;
		free(full);
	}
	return NULL;
}

/* The caller's passwd entry, looked up only when needed: an NSS lookup costs a tenth of a
 * millisecond, and most runs need neither the name nor the home directory from it. */
static const char *user_name(struct ids *ids)
{
	struct passwd *pw;

	if (!ids->user) {
		pw = getpwuid(ids->outside_uid);
		ids->user = pw ? xstrdup(pw->pw_name) : xasprintf("%u", (unsigned)ids->outside_uid);
	}
	return ids->user;
}

static char *inside_home(struct ids *ids)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (ids->uid == 0)
		return xstrdup("/root");
	if (h && h[0] == '/')
		return xstrdup(h);
	pw = getpwuid(ids->outside_uid);
	if (pw && pw->pw_dir && pw->pw_dir[0] == '/')
		return xstrdup(pw->pw_dir);
	return xasprintf("/home/%s", user_name(ids));
}

static int fallback_single(struct ids *ids, const char *why)
{
	ids->subids = false;
	single_map(&ids->uidmap, ids->uid, ids->outside_uid);
	single_map(&ids->gidmap, ids->gid, ids->outside_gid);
	hutch_notice("%s; mapping only your own uid and gid", why);
	return 0;
}

/* Start a keeper whose namespace has the caller's ids and the subordinate ranges, each id under
 * its host number. Returns its namespace fd, -1 on error, -2 when there are no ranges. */
static int start_keeper(struct ids *ids, struct herr *e)
{
	struct subid_range *ur = NULL, *gr = NULL;
	_cleanup_free_ char *why = NULL;
	int nu, ng, fd;

	if (lookup_ranges(user_name(ids), &ur, &nu, &gr, &ng) < 0 || nu <= 0 || ng <= 0) {
		why =
		    xasprintf("user %s has no subordinate id range in /etc/subuid and /etc/subgid "
			      "(get one: sudo usermod --add-subuids 100000-165535 --add-subgids "
			      "100000-165535 %s; the full range also needs the package uidmap)",
			      ids->user, ids->user);
	} else {
		ids->newuidmap = find_on_path("newuidmap");
		ids->newgidmap = find_on_path("newgidmap");
		if (!ids->newuidmap || !ids->newgidmap)
			why =
			    xstrdup("newuidmap/newgidmap not found (install the package uidmap for "
				    "your full subordinate range)");
	}
	if (why) {
		free(ur);
		free(gr);
		return fallback_single(ids, why) - 2;
	}
	identity_map(&ids->uidmap, ids->outside_uid, ur, (size_t)nu);
	identity_map(&ids->gidmap, ids->outside_gid, gr, (size_t)ng);
	free(ur);
	free(gr);
	fd = keeper_spawn(ids, e);
	return fd;
}

/* The caller's ids and who they are inside; no lookup of ranges yet. */
static void who(const struct plan *p, struct ids *ids)
{
	ids->keeper_netns = -1;
	ids->keeper_ipcns = -1;
	ids->keeper_conn = -1;
	ids->outside_uid = getuid();
	ids->outside_gid = getgid();
	ids->uid = p->has_uid ? p->uid : ids->outside_uid;
	ids->gid = p->has_gid ? p->gid : ids->outside_gid;
	ids->home = inside_home(ids);
}

int user_preview(const struct plan *p, struct ids *ids)
{
	struct subid_range *ur = NULL, *gr = NULL;
	_cleanup_free_ char *u = NULL, *g = NULL;
	int nu = 0, ng = 0;

	who(p, ids);
	ids->subids = lookup_ranges(user_name(ids), &ur, &nu, &gr, &ng) == 0 && nu > 0 && ng > 0 &&
		      (u = find_on_path("newuidmap")) && (g = find_on_path("newgidmap"));
	if (ids->subids) {
		build_map(&ids->uidmap, ids->uid, ids->outside_uid, ur, (size_t)nu);
		build_map(&ids->gidmap, ids->gid, ids->outside_gid, gr, (size_t)ng);
	} else {
		single_map(&ids->uidmap, ids->uid, ids->outside_uid);
		single_map(&ids->gidmap, ids->gid, ids->outside_gid);
	}
	free(ur);
	free(gr);
	return 0;
}

int user_prepare(const struct plan *p, struct ids *ids, struct herr *e)
{
	struct subid_range ranges[IDMAP_MAX];
	char maps[KEEPER_MAPS_SIZE] = "";
	const char *uid_map = NULL, *gid_map = NULL;
	size_t n;
	int nsfd, spare[2];

	who(p, ids);
	if (oci_host_ids(p, ids)) /* OCI mode as root (issue 8) */
		return 0;
	nsfd = keeper_connect(ids->outside_uid, spare, &ids->keeper_conn, maps);
	ids->keeper_netns = spare[0];
	ids->keeper_ipcns = spare[1];
	if (nsfd < 0)
		nsfd = start_keeper(ids, e);
	if (nsfd == -2)
		return 0; /* own ids only */
	if (nsfd < 0)
		return -1;
	/* From here the monitor lives in the keeper's namespace, with every capability there, so
	 * it may write any map for the sandbox's namespace, a child of this one. */
	if (setns(nsfd, CLONE_NEWUSER) < 0) {
		close(nsfd);
		return herr_set(e, errno, "cannot join the keeper's user namespace");
	}
	close(nsfd);
	ids->subids = true;
	if (maps[0]) { /* a keeper that was running sent them; one we just started did not */
		uid_map = maps;
		gid_map = maps + strlen(maps) + 1;
	}
	n = keeper_ranges(uid_map, "/proc/self/uid_map", ids->outside_uid, ranges);
	build_map(&ids->uidmap, ids->uid, ids->outside_uid, ranges, n);
	n = keeper_ranges(gid_map, "/proc/self/gid_map", ids->outside_gid, ranges);
	build_map(&ids->gidmap, ids->gid, ids->outside_gid, ranges, n);
	return 0;
}

void user_free(struct ids *ids)
{
	free(ids->user);
	free(ids->home);
	free(ids->newuidmap);
	free(ids->newgidmap);
	if (ids->keeper_netns >= 0)
		close(ids->keeper_netns);
	if (ids->keeper_ipcns >= 0)
		close(ids->keeper_ipcns);
	user_release_keeper(ids);
}

int user_set_groups(const struct plan *p, struct herr *e)
{
	/* Nothing asked: the caller's own groups stay, as on the host (dropping one could grant
	 * what a group-denying permission refuses). */
	if (!p->n_oci_groups || setgroups(p->n_oci_groups, p->oci_groups) == 0)
		return 0;
	herr_set(e, errno, "process.user.additionalGids: cannot set %zu supplementary groups",
		 p->n_oci_groups);
	return herr_hint(e, "each gid must be mapped in the container (a subordinate gid range, "
			    "or the config's gidMappings)");
}

void user_release_keeper(struct ids *ids)
{
	if (ids->keeper_conn >= 0)
		close(ids->keeper_conn);
	ids->keeper_conn = -1;
}

/* argv for newuidmap/newgidmap: PROG PID (INSIDE OUTSIDE COUNT)... */
static char **helper_argv(const char *prog, pid_t pid, const struct idmap *m)
{
	char **argv = xcalloc(3 + 3 * m->n, sizeof(char *));
	size_t k = 0;

	argv[k++] = xstrdup(prog);
	argv[k++] = xasprintf("%d", (int)pid);
	for (size_t i = 0; i < m->n; i++) {
		argv[k++] = xasprintf("%lu", m->ext[i].inside);
		argv[k++] = xasprintf("%lu", m->ext[i].outside);
		argv[k++] = xasprintf("%lu", m->ext[i].count);
	}
	return argv;
}

static void free_argv(char **argv)
{
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

struct helper {
	const char *prog;
	const char *path;
	pid_t pid;
	int err_fd; /* read end of the helper's stderr, for the error message */
};

static int helper_start(struct helper *h, pid_t target, const struct idmap *m, struct herr *e)
{
	char **argv = helper_argv(h->prog, target, m);
	posix_spawn_file_actions_t fa;
	int pipefd[2], r;

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		free_argv(argv);
		return herr_set(e, errno, "pipe");
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	r = posix_spawn(&h->pid, h->path, &fa, NULL, argv, (char *[]){NULL});
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	free_argv(argv);
	if (r != 0) {
		close(pipefd[0]);
		herr_set(e, r, "cannot run %s", h->prog);
		if (r == ENOENT)
			herr_hint(e, "install the package uidmap (apt-get install uidmap)");
		return -1;
	}
	h->err_fd = pipefd[0];
	return 0;
}

static int helper_finish(struct helper *h, struct herr *e)
{
	char out[512] = "";
	ssize_t n = 0, r;
	int status;

	while (n < (ssize_t)sizeof(out) - 1 &&
	       (r = read(h->err_fd, out + n, sizeof(out) - 1 - (size_t)n)) > 0)
		n += r;
	out[n] = 0;
	close(h->err_fd);
	while (waitpid(h->pid, &status, 0) < 0)
		if (errno != EINTR)
			return herr_set(e, errno, "waiting for %s", h->prog);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	out[strcspn(out, "\n")] = 0;
	herr_set(e, 0, "%s refused the id map: %s", h->prog, out[0] ? out : "no reason given");
	return herr_hint(e,
			 "check your ranges in /etc/subuid and /etc/subgid, and that %s is "
			 "installed setuid root (package uidmap)",
			 h->prog);
}

static int write_file(const char *path, const char *text, struct herr *e)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		return herr_set(e, errno, "writing %s", path);
	return 0;
}

int user_run_helpers(pid_t pid, const struct ids *ids, struct herr *e)
{
	struct helper uh = {"newuidmap", ids->newuidmap, 0, -1};
	struct helper gh = {"newgidmap", ids->newgidmap, 0, -1};
	struct herr ge = {0};
	int ru, rg;

	/* Both helpers are setuid programs with a slow start; side by side saves a millisecond. */
	if (helper_start(&uh, pid, &ids->uidmap, e) < 0)
		return -1;
	if (helper_start(&gh, pid, &ids->gidmap, &ge) < 0) {
		helper_finish(&uh, &(struct herr){0});
		*e = ge;
		return -1;
	}
	ru = helper_finish(&uh, e);
	rg = helper_finish(&gh, &ge);
	if (ru == 0 && rg < 0)
		*e = ge;
	return ru < 0 || rg < 0 ? -1 : 0;
}

static char *map_text(const struct idmap *m)
{
	size_t cap = m->n * 40 + 1, len = 0;
	char *text = xmalloc(cap);

	text[0] = 0;
	for (size_t i = 0; i < m->n; i++)
		len += (size_t)snprintf(text + len, cap - len, "%lu %lu %lu\n", m->ext[i].inside,
					m->ext[i].outside, m->ext[i].count);
	return text;
}

int user_write_maps(pid_t pid, const struct ids *ids, struct herr *e)
{
	_cleanup_free_ char *uids = map_text(&ids->uidmap), *gids = map_text(&ids->gidmap);
	char path[64];

	/* The whole map must go in one write. */
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	if (write_file(path, uids, e) < 0)
		return -1;
	/* Without subordinate ids the kernel lets us map only our own gid, and only once setgroups
	 * is denied (otherwise dropping a group could grant what a negative group ACL forbids). */
	if (!ids->subids) {
		snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
		if (write_file(path, "deny", e) < 0)
			return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
	return write_file(path, gids, e);
}

static long read_sysctl(const char *path)
{
	char buf[32] = "";
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
		return -1;
	return strtol(buf, NULL, 10);
}

int user_explain_clone_failure(int err, struct herr *e)
{
	herr_set(e, err, "cannot create the sandbox's user namespace");
	if (read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1)
		return herr_hint(e,
				 "AppArmor restricts unprivileged user namespaces (Ubuntu 24.04): "
				 "sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0, or "
				 "give hutch an AppArmor profile with 'userns,'");
	if (read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == 0)
		return herr_hint(e, "unprivileged user namespaces are disabled: sudo sysctl "
				    "kernel.unprivileged_userns_clone=1");
	if (read_sysctl("/proc/sys/user/max_user_namespaces") == 0)
		return herr_hint(e, "user namespaces are disabled: sudo sysctl "
				    "user.max_user_namespaces=15000");
	if (err == ENOSPC || err == EUSERS)
		return herr_hint(e, "the limit user.max_user_namespaces is reached; raise it with "
				    "sysctl or end other sandboxes");
	return herr_hint(e,
			 "check that unprivileged user namespaces are allowed (unshare -Ur true)");
}
