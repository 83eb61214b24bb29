/* config.json's linux.* -> struct plan, each value read with json-get.h's typed getters (the
 * sandbox's side of these is src/oci-linux.c). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <mntent.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "oci-config.h"
#include "oci.h"
#include "seccomp.h"
#include "util.h"

static int load_namespace(struct cfg *c, const struct jval *n, bool *net)
{
	static const char *const types[] = {"pid",  "network", "ipc",  "uts", "mount",
					    "user", "cgroup",  "time", NULL};
	const char *type, *path;
	size_t t;

	if (jstr(n, "type", &type, c->e) < 0 || jstr(n, "path", &path, c->e) < 0)
		return -1;
	for (t = 0; types[t] && type && strcmp(types[t], type) != 0; t++)
		;
	if (!type || !types[t])
		return jerr(n, "type", c->e, "unknown namespace type '%s'", type ? type : "?");
	if (path && path[0] && strcmp(type, "network") == 0) {
		/* rootless podman's slirp4netns network: a namespace it made and wired */
		free(c->p->oci_netns);
		c->p->oci_netns = xstrdup(path);
	} else if (path && path[0] && oci_ns_index(type) >= 0) {
		free(c->p->oci_join[oci_ns_index(type)]);
		c->p->oci_join[oci_ns_index(type)] = xstrdup(path);
	} else if (path && path[0]) {
		/* a root built inside someone else's mount namespace would change theirs */
		herr_set(c->e, 0, "config.json: joining the %s namespace %s is not supported", type,
			 path);
		return herr_hint(c->e, strcmp(type, "mount") == 0
					   ? "hutch builds each container's root in a mount "
					     "namespace of its own"
					   : "hutch makes a fresh one for the command");
	}
	*net = *net || strcmp(type, "network") == 0;
	return 0;
}

/* hutch makes every namespace but the network one unconditionally; joining one is not done. */
static int load_namespaces(struct cfg *c, const struct jval *lx)
{
	struct jval ns, n;
	bool net = false;

	if (jarr(lx, "namespaces", &ns, c->e) < 0)
		return -1;
	for (size_t i = 0; i < jlen(&ns); i++)
		if (jobj_at(&ns, i, &n, c->e) < 0 || load_namespace(c, &n, &net) < 0)
			return -1;
	/* No network namespace asked for: the container shares the host's (as with runc). */
	return net ? 0 : cfg_opt(c, "net", "host");
}

/* A positive limit `key` of o as option `name`; 0 and -1 (unlimited) leave it unset. */
static int limit(struct cfg *c, const struct jval *o, const char *key, const char *name)
{
	char buf[32];
	int64_t v;
	int r = jint(o, key, INT64_MIN, INT64_MAX, &v, c->e);

	if (r <= 0 || v <= 0)
		return r;
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return cfg_opt(c, name, buf);
}

static int load_cpu(struct cfg *c, const struct jval *cpu)
{
	int64_t quota = 0, period = 0;
	const char *s;
	uint64_t u;
	char buf[64];
	int r;

	if ((r = jint(cpu, "quota", INT64_MIN, INT64_MAX, &quota, c->e)) < 0 ||
	    jint(cpu, "period", 0, INT64_MAX, &period, c->e) < 0 ||
	    ju64(cpu, "shares", &u, c->e) < 0 || jstr(cpu, "cpus", &s, c->e) < 0 ||
	    jstr(cpu, "mems", &s, c->e) < 0)
		return -1;
	if (r == 0 || quota <= 0)
		return 0;
	snprintf(buf, sizeof(buf), "%.3f", (double)quota / (double)(period > 0 ? period : 100000));
	return cfg_opt(c, "cpus", buf);
}

/* linux.resources.devices is a cgroup allowlist: without a device cgroup hutch cannot narrow
 * access to a node the container has; the container has only hutch's /dev and the listed
 * devices (every other mount is nodev), which a "deny all" rule asks for anyway. */
static int warn_device_rule(struct cfg *c, const struct jval *r)
{
	const char *type, *access;
	int64_t major = -1, minor = -1;
	bool allow = false;
	int kmaj, kmin;

	if (jbool(r, "allow", &allow, c->e) < 0 || jstr(r, "type", &type, c->e) < 0 ||
	    jstr(r, "access", &access, c->e) < 0 ||
	    (kmaj = jint(r, "major", -1, UINT32_MAX, &major, c->e)) < 0 ||
	    (kmin = jint(r, "minor", -1, UINT32_MAX, &minor, c->e)) < 0)
		return -1;
	if (!allow && !((!type || strcmp(type, "a") == 0) && !kmaj && !kmin))
		cfg_warn(c,
			 "linux.resources.devices: a rule denying %s %" PRId64 ":%" PRId64
			 " is not enforced (no device cgroup); only the listed devices exist in "
			 "/dev",
			 type ? type : "a", major, minor);
	return 0;
}

static int load_resources(struct cfg *c, const struct jval *lx)
{
	struct jval res, mem, cpu, pids, rules, r;

	if (jobj(lx, "resources", &res, c->e) < 0 || jobj(&res, "memory", &mem, c->e) < 0 ||
	    jobj(&res, "cpu", &cpu, c->e) < 0 || jobj(&res, "pids", &pids, c->e) < 0 ||
	    jarr(&res, "devices", &rules, c->e) < 0)
		return -1;
	if (limit(c, &mem, "limit", "memory") < 0 || limit(c, &mem, "swap", "memory-swap") < 0 ||
	    limit(c, &pids, "limit", "pids") < 0 || load_cpu(c, &cpu) < 0)
		return -1;
	for (size_t i = 0; i < jlen(&rules); i++)
		if (jobj_at(&rules, i, &r, c->e) < 0 || warn_device_rule(c, &r) < 0)
			return -1;
	return 0;
}

static int load_seccomp(struct cfg *c, const struct jval *lx)
{
	struct sc_profile prof = {0};
	struct sc_filters f = {0};
	struct jval seccomp;
	int r;

	if ((r = jobj(lx, "seccomp", &seccomp, c->e)) <= 0)
		return r; /* absent: hutch's default profile, as with `hutch run` */
	/* process (and with it the capabilities) is read before linux */
	r = sc_profile_from_json(&seccomp, c->p->caps_keep, &prof, c->e);
	if (r == 0)
		r = sc_compile(&prof, "config.json linux.seccomp", &f, c->e);
	sc_profile_free(&prof);
	/* A profile that cannot be compiled fails the create, as with runc and crun: running the
	 * container under another profile than the one asked for would be a surprise either way. */
	if (r < 0)
		return -1;
	if (!c->p->seccomp)
		c->p->seccomp = xcalloc(1, sizeof(*c->p->seccomp));
	sc_filters_free(c->p->seccomp);
	*c->p->seccomp = f;
	return 0;
}

/* linux.maskedPaths, linux.readonlyPaths: absolute paths inside the container. */
static int load_path_list(struct cfg *c, const struct jval *lx, const char *key, char ***v,
			  size_t *n)
{
	struct jval list;
	const char *path;

	if (jarr(lx, key, &list, c->e) < 0)
		return -1;
	for (size_t i = 0; i < jlen(&list); i++) {
		if (jstr_at(&list, i, &path, c->e) < 0)
			return -1;
		if (path[0] != '/')
			return herr_set(c->e, 0,
					"config.json: linux.%s[%zu]: '%s' is not an absolute path",
					key, i, path);
		plan_add_str(v, n, path);
	}
	return 0;
}

/* Only keys the kernel keeps per namespace: any other would change the host. */
static int load_sysctl(struct cfg *c, const struct jval *lx)
{
	struct jval sysctl;
	int r = jstrmap(lx, "sysctl", &sysctl, c->e);

	if (r <= 0)
		return r;
	json_object_object_foreach(sysctl.v, key, val)
	{
		_cleanup_free_ char *kv = NULL;

		if (!oci_sysctl_allowed(key, !c->p->share_net)) {
			herr_set(c->e, 0, "config.json: linux.sysctl %s is not namespaced", key);
			return herr_hint(
			    c->e, strncmp(key, "net.", 4) == 0
				      ? "net.* needs a network namespace in linux.namespaces"
				      : "it would change the host; only kernel.msg*, sem, shm*, "
					"hostname, domainname, fs.mqueue.* and net.* may be set");
		}
		kv = xasprintf("%s=%s", key, json_object_get_string(val)); /* checked a string */
		plan_add_str(&c->p->oci_sysctl, &c->p->n_oci_sysctl, kv);
	}
	return 0;
}

/* hutch's own /dev has these already (mounts.c). */
static bool default_device(const char *path, unsigned type, unsigned major, unsigned minor)
{
	static const struct {
		const char *path;
		unsigned major, minor;
	} std[] = {{"/dev/null", 1, 3},	  {"/dev/zero", 1, 5},	  {"/dev/full", 1, 7},
		   {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
		   {"/dev/ptmx", 5, 2}};

	for (size_t i = 0; i < ARRAY_SIZE(std); i++)
		if (type == S_IFCHR && strcmp(path, std[i].path) == 0 && major == std[i].major &&
		    minor == std[i].minor)
			return true;
	return false;
}

static bool same_node(const struct stat *st, unsigned type, dev_t rdev)
{
	return (st->st_mode & S_IFMT) == type && st->st_rdev == rdev;
}

/* The host's node with these numbers: at `path` itself, else the first one in /dev or one
 * directory below it (/dev/net/tun, /dev/dri/...). NULL when the host has none. */
static char *host_node(const char *path, unsigned type, dev_t rdev)
{
	struct stat st;

	if (stat(path, &st) == 0 && same_node(&st, type, rdev))
		return xstrdup(path);
	for (int depth = 0; depth < 2; depth++) {
		DIR *d = opendir("/dev");
		struct dirent *de;
		char *found = NULL;

		while (d && !found && (de = readdir(d))) {
			_cleanup_free_ char *top = xasprintf("/dev/%s", de->d_name);
			DIR *sub = de->d_name[0] == '.' || depth == 0 ? NULL : opendir(top);
			struct dirent *se;

			if (depth == 0 && lstat(top, &st) == 0 && same_node(&st, type, rdev))
				found = xstrdup(top);
			while (sub && !found && (se = readdir(sub))) {
				_cleanup_free_ char *f = xasprintf("%s/%s", top, se->d_name);
				if (lstat(f, &st) == 0 && same_node(&st, type, rdev))
					found = xstrdup(f);
			}
			if (sub)
				closedir(sub);
		}
		if (d)
			closedir(d);
		if (found)
			return found;
	}
	return NULL;
}

/* A device's fields, all checked; the ones hutch does not use (its own /dev decides the
 * mode and owner) too. */
static int device_fields(struct cfg *c, const struct jval *d, const char **path, const char **t,
			 int64_t *major, int64_t *minor)
{
	int64_t ignored;

	if (jstr(d, "path", path, c->e) < 0 || jstr(d, "type", t, c->e) < 0 ||
	    jint(d, "major", 0, UINT32_MAX, major, c->e) < 0 ||
	    jint(d, "minor", 0, UINT32_MAX, minor, c->e) < 0 ||
	    jint(d, "fileMode", 0, 07777, &ignored, c->e) < 0 ||
	    jint(d, "uid", 0, UINT32_MAX, &ignored, c->e) < 0 ||
	    jint(d, "gid", 0, UINT32_MAX, &ignored, c->e) < 0)
		return -1;
	if (!*path || (*path)[0] != '/' || !*t ||
	    (strcmp(*t, "c") && strcmp(*t, "u") && strcmp(*t, "b")))
		return jerr(d, NULL, c->e, "'%s' needs an absolute path and type c, u or b",
			    *path ? *path : "");
	return 0;
}

/*
 * linux.devices: rootless, nothing can mknod (it needs CAP_MKNOD in the initial user
 * namespace), so a device can only be the host's own node with the same numbers, bound in. Only
 * one the caller may already open on the host: binding it grants nothing new.
 */
static int load_device(struct cfg *c, const struct jval *d)
{
	const char *path, *t;
	int64_t major = 0, minor = 0;
	unsigned type;
	_cleanup_free_ char *arg = NULL, *host = NULL;

	if (device_fields(c, d, &path, &t, &major, &minor) < 0)
		return -1;
	type = strcmp(t, "b") == 0 ? S_IFBLK : S_IFCHR;
	if (default_device(path, type, (unsigned)major, (unsigned)minor))
		return 0;
	host = host_node(path, type, makedev((unsigned)major, (unsigned)minor));
	if (!host) {
		herr_set(c->e, 0,
			 "config.json: linux.devices: %s (%s %" PRId64 ":%" PRId64
			 "): the host has no such device node",
			 path, t, major, minor);
		return herr_hint(c->e, "hutch cannot create device nodes (no mknod without "
				       "root); it binds the host's own");
	}
	if (access(host, R_OK) < 0 && access(host, W_OK) < 0)
		return herr_set(c->e, errno, "config.json: linux.devices: %s (the host's %s)", path,
				host);
	arg = xasprintf("%s:%s", host, path);
	return cfg_opt(c, "dev-bind", arg);
}

static int load_devices(struct cfg *c, const struct jval *lx)
{
	struct jval devs, d;

	if (jarr(lx, "devices", &devs, c->e) < 0)
		return -1;
	for (size_t i = 0; i < jlen(&devs); i++)
		if (jobj_at(&devs, i, &d, c->e) < 0 || load_device(c, &d) < 0)
			return -1;
	return 0;
}

/* Can the user make cgroups below DIR in some mounted hierarchy? (One that a limit needs and
 * that lacks it is the cgroup code's error: it names the hierarchy.) */
static bool cgroup_dir_writable(const char *dir)
{
	FILE *f = setmntent("/proc/self/mounts", "re");
	struct mntent *m;
	bool ok = false;

	while (f && !ok && (m = getmntent(f)))
		if (strcmp(m->mnt_type, "cgroup") == 0 || strcmp(m->mnt_type, "cgroup2") == 0) {
			_cleanup_free_ char *d = xasprintf("%s%s", m->mnt_dir, dir);
			ok = access(d, W_OK) == 0;
		}
	if (f)
		endmntent(f);
	return ok;
}

/*
 * linux.cgroupsPath: the container's cgroup. Relative: below the cgroup delegated to the user
 * (where hutch makes its own); absolute: below that path, in the hierarchies the container uses,
 * where the user may write it. Otherwise (and for systemd's "slice:prefix:name") hutch's own place,
 * with a warning: the container still gets a cgroup of its own when it has limits.
 */
static int load_cgroups_path(struct cfg *c, const struct jval *lx)
{
	_cleanup_free_ char *dir = NULL;
	const char *base, *path;

	if (jstr(lx, "cgroupsPath", &path, c->e) < 0)
		return -1;
	if (!path || !path[0])
		return 0;
	if (strstr(path, "..") || strchr(path, ':')) {
		cfg_warn(c, "linux.cgroupsPath %s: %s; hutch's own cgroup placement applies", path,
			 strchr(path, ':') ? "systemd's slice:prefix:name form needs "
					     "--systemd-cgroup support hutch does not have"
					   : "'..' is not allowed");
		return 0;
	}
	if (path[0] != '/') {
		c->p->oci_cgroup = xstrdup(path);
		return 0;
	}
	base = strrchr(path, '/');
	dir = xasprintf("%.*s", (int)(base - path), path);
	if (!dir[0] || !base[1] || !cgroup_dir_writable(dir)) {
		cfg_warn(c,
			 "linux.cgroupsPath %s: %s is not a cgroup you may write; hutch's own "
			 "cgroup placement applies",
			 path, dir[0] ? dir : "/");
		return 0;
	}
	c->p->oci_cgroup = xstrdup(base + 1);
	return cfg_opt(c, "cgroup-parent", dir);
}

static int load_one_map(struct cfg *c, const struct jval *lx, const char *key,
			struct idmap_extent_req **v, size_t *n)
{
	static const char *const fields[] = {"containerID", "hostID", "size"};
	struct jval list, m;
	int64_t f[3];

	if (jarr(lx, key, &list, c->e) < 0)
		return -1;
	for (size_t i = 0; i < jlen(&list); i++) {
		if (jobj_at(&list, i, &m, c->e) < 0)
			return -1;
		for (size_t k = 0; k < 3; k++) {
			int r = jint(&m, fields[k], k == 2, UINT32_MAX, &f[k], c->e);

			if (r <= 0)
				return r < 0 ? -1 : jerr(&m, fields[k], c->e, "missing");
		}
		if (f[0] > UINT32_MAX - f[2] || f[1] > UINT32_MAX - f[2])
			return jerr(&m, NULL, c->e, "the range goes past id 4294967295");
		*v = xreallocarray(*v, *n + 1, sizeof(**v));
		(*v)[(*n)++] = (struct idmap_extent_req){(unsigned long)f[0], (unsigned long)f[1],
							 (unsigned long)f[2]};
	}
	return 0;
}

/* The id that the caller's own maps to inside, or -1. */
static int64_t inside_of(const struct idmap_extent_req *m, size_t n, unsigned long own)
{
	for (size_t i = 0; i < n; i++)
		if (own >= m[i].outside && own - m[i].outside < m[i].count)
			return (int64_t)(m[i].inside + (own - m[i].outside));
	return -1;
}

/* With the engine's maps the setup runs as whatever the caller's ids map to; process.user is
 * then taken just before exec, as an image's User is (image_become_user, which switches away
 * from root inside only). */
static int become_process_user(struct cfg *c)
{
	struct plan *p = c->p;
	int64_t uid = inside_of(p->oci_uidmap, p->n_oci_uidmap, getuid());
	int64_t gid = inside_of(p->oci_gidmap, p->n_oci_gidmap, getgid());
	uid_t want_uid = p->has_uid ? p->uid : 0;
	gid_t want_gid = p->has_gid ? p->gid : 0;

	if (uid < 0 || gid < 0 || (want_uid == uid && want_gid == gid))
		return 0; /* unmapped: oci_user_maps says so with the monitor's view */
	if (uid != 0 || gid != 0)
		return herr_set(c->e, 0,
				"config.json: process.user %u:%u: with these maps your own ids are "
				"%" PRId64 ":%" PRId64 " inside, and hutch switches from 0:0 only",
				(unsigned)want_uid, (unsigned)want_gid, uid, gid);
	p->image_user = true;
	p->image_uid = want_uid;
	p->image_gid = want_gid;
	return 0;
}

/* The engine's id maps replace hutch's own choice (checked against what the caller owns
 * when the monitor knows it: oci_user_maps). A joined user namespace has its maps already. */
static int load_id_maps(struct cfg *c, const struct jval *lx)
{
	struct jval u, g;

	if (jarr(lx, "uidMappings", &u, c->e) < 0 || jarr(lx, "gidMappings", &g, c->e) < 0)
		return -1;
	if (!u.v && !g.v)
		return 0;
	if (c->p->oci_join[OCI_NS_USER]) {
		cfg_warn(c, "linux.uidMappings/gidMappings: the joined user namespace has its own; "
			    "ignored");
		return 0;
	}
	if (load_one_map(c, lx, "uidMappings", &c->p->oci_uidmap, &c->p->n_oci_uidmap) < 0 ||
	    load_one_map(c, lx, "gidMappings", &c->p->oci_gidmap, &c->p->n_oci_gidmap) < 0)
		return -1;
	return become_process_user(c);
}

int cfg_load_linux(struct cfg *c, const struct jval *lx)
{
	static const char *const known[] = {
	    "namespaces",	 "resources",	"seccomp",     "maskedPaths", "readonlyPaths",
	    "uidMappings",	 "gidMappings", "cgroupsPath", "sysctl",      "devices",
	    "rootfsPropagation", "mountLabel",	NULL};
	const char *s;

	cfg_warn_unknown(c, lx, known);
	if (jstr(lx, "rootfsPropagation", &s, c->e) < 0 || jstr(lx, "mountLabel", &s, c->e) < 0 ||
	    load_namespaces(c, lx) < 0 || load_resources(c, lx) < 0 || load_seccomp(c, lx) < 0 ||
	    load_path_list(c, lx, "maskedPaths", &c->p->oci_masked, &c->p->n_oci_masked) < 0 ||
	    load_path_list(c, lx, "readonlyPaths", &c->p->oci_readonly, &c->p->n_oci_readonly) <
		0 ||
	    load_sysctl(c, lx) < 0 || load_devices(c, lx) < 0 || load_cgroups_path(c, lx) < 0 ||
	    load_id_maps(c, lx) < 0)
		return -1;
	/* the init makes a cgroup namespace of its own cgroup (cgroup_enter_namespace) */
	if (c->p->oci_join[OCI_NS_CGROUP] && plan_wants_cgroup(c->p))
		return herr_set(c->e, 0,
				"config.json: joining a cgroup namespace and a cgroup of "
				"the container's own (resources, cgroupsPath) do not go "
				"together");
	return 0;
}
