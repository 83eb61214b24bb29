/* `exec`'s process joins the container's cgroup: its memory, pids and cpu limits count it too,
 * and the monitor's final kill of the cgroup reaches it (src/cgroup.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

int oci_cgroup_open(pid_t init, int *fds, size_t max, struct herr *e)
{
	_cleanup_free_ char *file = xasprintf("/proc/%d/cgroup", (int)init);
	FILE *f = fopen(file, "re");
	char *line = NULL;
	size_t cap = 0, n = 0;
	bool failed = false;

	if (!f)
		return herr_set(e, errno, "exec: %s", file);
	while (!failed && n < max && getline(&line, &cap, f) > 0) {
		char *ctrls = strchr(line, ':'), *path = ctrls ? strchr(ctrls + 1, ':') : NULL;
		_cleanup_free_ char *dir = NULL, *procs = NULL;

		if (!path)
			continue;
		*path++ = 0;
		path[strcspn(path, "\n")] = 0;
		if (!hutch_leaf(path))
			continue;
		dir = mount_of(ctrls + 1, path);
		if (!dir)
			continue; /* a hierarchy not mounted here: nothing can join it */
		procs = xasprintf("%s/cgroup.procs", dir);
		fds[n] = open(procs, O_WRONLY | O_CLOEXEC);
		if (fds[n] < 0)
			failed = herr_set(e, errno, "exec: cannot join the container's cgroup %s",
					  dir) < 0;
		else
			n++;
	}
	free(line);
	fclose(f);
	if (failed) {
		while (n > 0)
			close(fds[--n]);
		return -1;
	}
	return (int)n;
}

int oci_cgroup_join(const int *fds, size_t n, struct herr *e)
{
	for (size_t i = 0; i < n; i++)
		if (write(fds[i], "0", 1) != 1) /* "0": the writer itself */
			return herr_set(e, errno, "exec: cannot join the container's cgroup");
	return 0;
}
