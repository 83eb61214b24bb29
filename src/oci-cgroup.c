/*
 * `exec`'s process joins the container's cgroup: its memory, pids and cpu limits count it too,
 * and the monitor's final kill of the cgroup reaches it (src/cgroup.h). It is moved there by its
 * launcher while it waits, and checked to be there, before it may run anything of the user's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oci.h"
#include "util.h"

/* Is `list` (comma-separated) holding every member of `want` (comma-separated)? */
static bool has_all(const char *list, const char *want)
{
	_cleanup_free_ char *w = xstrdup(want);
	char *save = NULL;

	for (char *t = strtok_r(w, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		size_t n = strlen(t);
		const char *p = list;
		bool found = false;

		while (!found && (p = strstr(p, t))) {
			found = (p == list || p[-1] == ',') && (p[n] == 0 || p[n] == ',');
			p += n;
		}
		if (!found)
			return false;
	}
	return true;
}

/* Where the hierarchy with `ctrls` ("" for v2) is mounted in our mount namespace, as a directory
 * that `path` (a cgroup path as /proc/PID/cgroup shows it) can be appended to. */
static char *mount_of(const char *ctrls, const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, *found = NULL;
	size_t cap = 0;

	while (f && !found && getline(&line, &cap, f) > 0) {
		char root[4096], mnt[4096], type[64], super[1024];
		char *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 ||
		    sscanf(dash + 3, "%63s %*s %1023s", type, super) != 2)
			continue;
		if (ctrls[0] ? strcmp(type, "cgroup") != 0 || !has_all(super, ctrls)
			     : strcmp(type, "cgroup2") != 0)
			continue;
		/* a mount of a subtree (bind or namespace): the path must lie beneath its root */
		if (strcmp(root, "/") == 0)
			found = xasprintf("%s%s", mnt, path);
		else if (strncmp(path, root, strlen(root)) == 0 &&
			 (path[strlen(root)] == '/' || path[strlen(root)] == 0))
			found = xasprintf("%s%s", mnt, path + strlen(root));
	}
	free(line);
	if (f)
		fclose(f);
	return found;
}

/* hutch's own sandbox cgroup (.../hutch-PID-RANDOM/sandbox), not an engine's or the caller's:
 * only that one is the container's, and only hutch's monitor removes it with the container. */
static bool hutch_leaf(const char *path)
{
	const char *leaf = strrchr(path, '/'), *parent;

	if (!leaf || strcmp(leaf, "/sandbox") != 0)
		return false;
	for (parent = leaf - 1; parent > path && *parent != '/'; parent--)
		;
	return strncmp(parent, "/hutch-", 7) == 0;
}

int oci_cgroup_open(pid_t init, struct oci_cgroups *cg, struct herr *e)
{
	_cleanup_free_ char *file = xasprintf("/proc/%d/cgroup", (int)init);
	FILE *f = fopen(file, "re");
	char *line = NULL;
	size_t cap = 0;
	bool failed = false;

	cg->n = 0;
	if (!f)
		return herr_set(e, errno, "exec: %s", file);
	while (!failed && getline(&line, &cap, f) > 0) {
		char *ctrls = strchr(line, ':'), *path = ctrls ? strchr(ctrls + 1, ':') : NULL;
		_cleanup_free_ char *dir = NULL, *procs = NULL;
		int fd;

		if (!path)
			continue;
		*path++ = 0;
		path[strcspn(path, "\n")] = 0;
		if (!hutch_leaf(path))
			continue;
		dir = mount_of(ctrls + 1, path);
		if (!dir)
			continue; /* a hierarchy not mounted here: nothing can join it */
		if (cg->n == OCI_CG_MAX) {
			failed = herr_set(e, 0, "exec: the container has too many cgroups") < 0;
			break;
		}
		procs = xasprintf("%s/cgroup.procs", dir);
		fd = open(procs, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			failed = herr_set(e, errno, "exec: cannot join the container's cgroup %s",
					  dir) < 0;
			break;
		}
		cg->procs[cg->n] = fd;
		cg->hier[cg->n] = atoi(line);
		cg->dir[cg->n++] = dir;
		dir = NULL;
	}
	free(line);
	fclose(f);
	if (failed) {
		oci_cgroup_close(cg);
		return -1;
	}
	return 0;
}

/* The cgroup of `pid` in hierarchy `hier`, from /proc/PID/cgroup under `proc`; NULL when it
 * cannot be read. */
static char *cgroup_of(int proc, pid_t pid, int hier)
{
	_cleanup_free_ char *file = xasprintf("%d/cgroup", (int)pid);
	int fd = openat(proc, file, O_RDONLY | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "re") : NULL;
	char *line = NULL, *found = NULL;
	size_t cap = 0;

	if (!f && fd >= 0)
		close(fd);
	while (f && !found && getline(&line, &cap, f) > 0) {
		char *end, *path;
		long id = strtol(line, &end, 10);

		if (end == line || *end != ':' || id != hier || !(path = strchr(end + 1, ':')))
			continue;
		path++;
		path[strcspn(path, "\n")] = 0;
		found = xstrdup(path);
	}
	free(line);
	if (f)
		fclose(f);
	return found;
}

/*
 * `pid` waits (on a pipe) until this returns: nothing of the user's has run. The kernel moves it
 * before the write returns, so the check below should never fail; it is there because a move
 * that did not take (a hierarchy the kernel silently skipped, someone moving it back) would
 * otherwise leave a process outside the container's limits and out of reach of its end, with
 * nothing said. Both files are read the same way, so the paths compare whatever cgroup
 * namespace the reader is in.
 */
int oci_cgroup_move(const struct oci_cgroups *cg, int proc, pid_t init, pid_t pid, struct herr *e)
{
	_cleanup_free_ char *num = xasprintf("%d", (int)pid);

	for (size_t i = 0; i < cg->n; i++)
		if (!write_all(cg->procs[i], num, strlen(num)))
			return herr_set(e, errno, "exec: cannot move the process into cgroup %s",
					cg->dir[i]);
	for (size_t i = 0; i < cg->n; i++) {
		_cleanup_free_ char *want = cgroup_of(proc, init, cg->hier[i]);
		_cleanup_free_ char *got = cgroup_of(proc, pid, cg->hier[i]);

		if (!want || !got || strcmp(want, got) != 0)
			return herr_set(e, 0,
					"exec: the process did not move into cgroup %s (its "
					"/proc/PID/cgroup says %s, the init's %s)",
					cg->dir[i], got ? got : "(unknown)",
					want ? want : "(unknown)");
	}
	return 0;
}

void oci_cgroup_close(struct oci_cgroups *cg)
{
	while (cg->n > 0) {
		cg->n--;
		close(cg->procs[cg->n]);
		free(cg->dir[cg->n]);
	}
}
