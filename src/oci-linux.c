/*
 * The sandbox's side of config.json's linux.* beyond the core (issue 8): sysctls written inside
 * the container's namespaces, namespaces joined by path, the engine's id maps. oci-config.c
 * checks and records them in the plan; the steps here run where src/sandbox.c calls them.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "oci.h"
#include "user.h"
#include "util.h"

/* ---- linux.sysctl ---- */

/* The kernel keeps these per namespace, so writing them inside changes nothing outside; any other
 * key (vm.*, kernel.panic...) would change the host, and runc refuses it the same way. */
bool oci_sysctl_allowed(const char *key, bool own_net)
{
	static const char *const ipc_uts[] = {"kernel.msgmax",
					      "kernel.msgmnb",
					      "kernel.msgmni",
					      "kernel.sem",
					      "kernel.shmall",
					      "kernel.shmmax",
					      "kernel.shmmni",
					      "kernel.shm_rmid_forced",
					      "kernel.hostname",
					      "kernel.domainname",
					      NULL};

	/* a key is a path below /proc/sys: nothing that could climb out of it */
	if (!key[0] || strchr(key, '/') || strstr(key, "..") || key[0] == '.')
		return false;
	for (size_t i = 0; ipc_uts[i]; i++)
		if (strcmp(key, ipc_uts[i]) == 0)
			return true;
	if (strncmp(key, "fs.mqueue.", 10) == 0)
		return true;
	return own_net && strncmp(key, "net.", 4) == 0;
}

static bool is_net(const char *kv)
{
	return strncmp(kv, "net.", 4) == 0;
}

/* Write "key=value" under the directory `sys` (a /proc/sys). */
static int write_one(int sys, const char *kv, struct herr *e)
{
	const char *eq = strchr(kv, '=');
	_cleanup_free_ char *rel = xasprintf("%.*s", (int)(eq - kv), kv);
	_cleanup_close_ int fd = -1;
	size_t len = strlen(eq + 1);
	int r = 0;

	/* /proc/sys/kernel/hostname lets only the host's root write (whatever the namespace);
	 * the system calls ask for CAP_SYS_ADMIN in the uts namespace's owner, which we are */
	if (strcmp(rel, "kernel.hostname") == 0 || strcmp(rel, "kernel.domainname") == 0) {
		r = rel[7] == 'h' ? sethostname(eq + 1, len) : setdomainname(eq + 1, len);
		if (r < 0)
			return herr_set(e, errno, "linux.sysctl %s", kv);
		return 0;
	}

	for (char *c = rel; *c; c++)
		if (*c == '.')
			*c = '/';
	fd = openat(sys, rel, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || write(fd, eq + 1, len) != (ssize_t)len) {
		herr_set(e, errno, "linux.sysctl %.*s=%s", (int)(eq - kv), kv, eq + 1);
		return herr_hint(e, errno == ENOENT ? "this kernel has no such key"
						    : "the kernel refused the value");
	}
	return 0;
}

/*
 * In the init, after the mounts: the ipc, uts and mqueue keys, which the init's own user
 * namespace owns (and net.* when the network namespace is the sandbox's own). /proc/sys is
 * read-only inside, so the write goes through a detached copy of the proc mount alone, whose
 * sys directory is writable; nothing of it stays reachable.
 */
int oci_sysctl_apply(const struct plan *p, bool net_outside, struct herr *e)
{
	_cleanup_close_ int proc = -1, sys = -1;

	if (!p->n_oci_sysctl)
		return 0;
	proc = open_tree(AT_FDCWD, "/proc", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (proc < 0 || (sys = openat(proc, "sys", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return herr_set(e, errno, "linux.sysctl: cannot open /proc/sys");
	for (size_t i = 0; i < p->n_oci_sysctl; i++)
		if (!(net_outside && is_net(p->oci_sysctl[i])) &&
		    write_one(sys, p->oci_sysctl[i], e) < 0)
			return -1;
	return 0;
}

/* The container's gid g as the writer's user namespace numbers it, and how many ids from g on
 * map in one piece; -1 when g is not mapped. */
static long long outside_gid(const struct ids *ids, unsigned long g, unsigned long *run)
{
	for (size_t i = 0; i < ids->gidmap.n; i++) {
		const struct idmap_extent *x = &ids->gidmap.ext[i];

		if (g >= x->inside && g - x->inside < x->count) {
			*run = x->count - (g - x->inside);
			return (long long)(x->outside + (g - x->inside));
		}
	}
	return -1;
}

/* net.ipv4.ping_group_range holds gids, read in the writer's user namespace: the container's
 * range is written as the ids it maps to, cut to the first extent (fewer groups, never more). */
static char *ping_range(const char *kv, const struct ids *ids, struct herr *e)
{
	unsigned long lo, hi, run = 0;
	long long out;

	if (strncmp(kv, "net.ipv4.ping_group_range=", 26) != 0)
		return xstrdup(kv);
	if (sscanf(kv + 26, "%lu %lu", &lo, &hi) != 2 || hi < lo)
		return herr_set(e, 0, "linux.sysctl %s: expected two gids", kv), NULL;
	out = outside_gid(ids, lo, &run);
	if (out < 0)
		return herr_set(e, 0, "linux.sysctl %s: gid %lu is not mapped", kv, lo), NULL;
	if (hi - lo >= run)
		hi = lo + run - 1;
	return xasprintf("net.ipv4.ping_group_range=%lld %lld", out, out + (long long)(hi - lo));
}

/* In the helper that has just entered the keeper's (or the engine's) network namespace with
 * CAP_NET_ADMIN over it: the net.* keys. The sandbox's init has no such capability there. */
int oci_sysctl_net(const struct plan *p, const struct ids *ids, struct herr *e)
{
	_cleanup_close_ int sys = -1;

	for (size_t i = 0; i < p->n_oci_sysctl; i++) {
		_cleanup_free_ char *kv = NULL;

		if (!is_net(p->oci_sysctl[i]))
			continue;
		/* /proc/sys/net shows the network namespace of the process that looks */
		if (sys < 0 && (sys = open("/proc/sys", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			return herr_set(e, errno, "linux.sysctl: cannot open /proc/sys");
		if (!(kv = ping_range(p->oci_sysctl[i], ids, e)) || write_one(sys, kv, e) < 0)
			return -1;
	}
	return 0;
}

/* ---- linux.namespaces with a path ---- */

static const struct {
	const char *name;
	int type;
} ns_types[OCI_NS_COUNT] = {
    [OCI_NS_USER] = {"user", CLONE_NEWUSER}, [OCI_NS_IPC] = {"ipc", CLONE_NEWIPC},
    [OCI_NS_UTS] = {"uts", CLONE_NEWUTS},    [OCI_NS_CGROUP] = {"cgroup", CLONE_NEWCGROUP},
    [OCI_NS_PID] = {"pid", CLONE_NEWPID},
};

int oci_ns_index(const char *type)
{
	for (int i = 0; i < OCI_NS_COUNT; i++)
		if (strcmp(type, ns_types[i].name) == 0)
			return i;
	return -1;
}

unsigned long long oci_joined_flags(const struct plan *p)
{
	unsigned long long f = 0;

	for (int i = 0; i < OCI_NS_COUNT; i++)
		if (p->oci_join[i])
			f |= (unsigned long long)ns_types[i].type;
	return f;
}

/*
 * In the monitor, after it joined the keeper's user namespace (which owns every hutch
 * container's namespaces, so it may enter theirs) and before the clone, which then leaves these
 * namespaces out of its flags: the init is born in them. The user namespace goes first, so the
 * others are entered with the capabilities it gives. (A pid namespace is "for children": the
 * monitor itself stays where it is.)
 */
int oci_join_namespaces(const struct plan *p, struct herr *e)
{
	for (int i = 0; i < OCI_NS_COUNT; i++) {
		const char *path = p->oci_join[i];
		_cleanup_close_ int fd = -1;
		int type;

		if (!path)
			continue;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return herr_set(e, errno, "linux.namespaces: %s namespace %s",
					ns_types[i].name, path);
		type = ioctl(fd, NS_GET_NSTYPE);
		if (type != ns_types[i].type)
			return herr_set(e, 0, "linux.namespaces: %s is not a %s namespace", path,
					ns_types[i].name);
		if (setns(fd, ns_types[i].type) < 0) {
			herr_set(e, errno, "linux.namespaces: cannot join the %s namespace %s",
				 ns_types[i].name, path);
			return herr_hint(e, "hutch may join only namespaces of your own containers "
					    "(their user namespace's owner is yours)");
		}
	}
	return 0;
}

/*
 * Engines read a container's namespaces from /proc/PID/ns of the pid in --pid-file, which is
 * hutch's monitor (oci.c says why): podman's pod members join their infra container's ipc, uts
 * and network namespaces that way. So once the container is built, its monitor moves into
 * those three of the container's: it needs none of the host's any more (no socket, no
 * hostname, no SysV IPC of its own; the keeper was reached before), and a namespace gives
 * nothing over the monitor, which stays in the parent user namespace and undumpable. A
 * namespace it cannot enter is left as it is: only such engines' joins would miss it.
 */
void oci_monitor_follow(pid_t init)
{
	static const struct {
		const char *name;
		int type;
	} follow[] = {{"net", CLONE_NEWNET}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}};

	for (size_t i = 0; i < ARRAY_SIZE(follow); i++) {
		_cleanup_free_ char *path = xasprintf("/proc/%d/ns/%s", (int)init, follow[i].name);
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

		/* one it cannot enter stays the host's: joining that by path fails clearly */
		if (fd >= 0)
			setns(fd, follow[i].type);
	}
}

/* ---- linux.uidMappings / gidMappings ---- */

/* Is [start, start+count) inside the ids this process may map (its user namespace's map)? */
static bool may_map(const char *file, unsigned long start, unsigned long count)
{
	FILE *f = fopen(file, "re");
	unsigned long in, out, n;
	bool ok = false;

	if (!f)
		return false;
	while (!ok && fscanf(f, "%lu %lu %lu", &in, &out, &n) == 3)
		ok = start >= in && count <= n && start - in <= n - count;
	fclose(f);
	return ok;
}

static int take_map(const char *what, const struct idmap_extent_req *req, size_t n,
		    const char *file, unsigned long own, struct idmap *m, unsigned long *own_inside,
		    struct herr *e)
{
	bool found = false;

	m->n = 0;
	for (size_t i = 0; i < n && i < IDMAP_MAX; i++) {
		if (!may_map(file, req[i].outside, req[i].count)) {
			herr_set(
			    e, 0,
			    "linux.%s: host ids %lu-%lu are not yours to map (neither your own "
			    "id nor in your subordinate range)",
			    what, req[i].outside, req[i].outside + req[i].count - 1);
			return herr_hint(e, "see /etc/subuid and /etc/subgid");
		}
		m->ext[m->n++] = (struct idmap_extent){req[i].inside, req[i].outside, req[i].count};
		if (own >= req[i].outside && own - req[i].outside < req[i].count) {
			*own_inside = req[i].inside + (own - req[i].outside);
			found = true;
		}
	}
	if (!found) {
		herr_set(e, 0, "linux.%s must map your own id %lu", what, own);
		return herr_hint(e, "hutch's setup runs as it inside until the command starts");
	}
	return 0;
}

/*
 * In the monitor, after user_prepare: the engine's maps replace hutch's own choice. Every host
 * id must be one the monitor's user namespace holds (the keeper's: the caller's ids and the
 * subordinate ranges; without a keeper only the caller's own), so the kernel would refuse
 * nothing the caller could not map with newuidmap anyway; we check first for a clear message.
 */
int oci_user_maps(const struct plan *p, struct ids *ids, struct herr *e)
{
	unsigned long uid = ids->uid, gid = ids->gid;

	if (!p->n_oci_uidmap && !p->n_oci_gidmap)
		return 0;
	if (!p->n_oci_uidmap || !p->n_oci_gidmap)
		return herr_set(e, 0, "linux.uidMappings and gidMappings go together");
	if (take_map("uidMappings", p->oci_uidmap, p->n_oci_uidmap, "/proc/self/uid_map",
		     ids->outside_uid, &ids->uidmap, &uid, e) < 0 ||
	    take_map("gidMappings", p->oci_gidmap, p->n_oci_gidmap, "/proc/self/gid_map",
		     ids->outside_gid, &ids->gidmap, &gid, e) < 0)
		return -1;
	/* without the keeper (and not root) the kernel lets us map our own ids only */
	if (!ids->subids && geteuid() != 0 &&
	    (ids->uidmap.n > 1 || ids->uidmap.ext[0].count > 1 || ids->gidmap.n > 1 ||
	     ids->gidmap.ext[0].count > 1))
		return herr_set(e, 0,
				"linux.uidMappings: without a subordinate range only your own "
				"uid and gid can be mapped");
	ids->uid = (uid_t)uid;
	ids->gid = (gid_t)gid;
	return 0;
}
