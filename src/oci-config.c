/* config.json -> struct plan. Every value goes through the option table's setters (the rows of
 * `hutch run`), so the OCI front end and the command line cannot drift apart. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <mntent.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "oci.h"
#include "options.h"
#include "seccomp.h"
#include "util.h"

extern char **environ;

struct cfg {
	struct plan *p;
	FILE *warn;
	struct herr *e;
};

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (o && json_object_is_type(o, json_type_object))
		json_object_object_get_ex(o, key, &v);
	return v;
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* Set one option of the run table, as `hutch run --NAME VALUE` would. */
static int opt(struct cfg *c, const char *name, const char *value)
{
	const struct option_def *o = options_find(name);

	if (!o)
		return herr_set(c->e, 0, "config.json: internal: no option '%s'", name);
	return options_apply(c->p, o, value, c->e);
}

__attribute__((format(printf, 2, 3))) static void warn(struct cfg *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->warn)
		return;
	fputs("hutch: warning: config.json: ", c->warn);
	va_start(ap, fmt);
	vfprintf(c->warn, fmt, ap);
	va_end(ap);
	fputc('\n', c->warn);
}

/* Warn about keys this front end does not know; `known` is NULL-terminated. */
static void warn_unknown(struct cfg *c, json_object *o, const char *where, const char *const *known)
{
	if (!o || !json_object_is_type(o, json_type_object))
		return;
	json_object_object_foreach(o, key, val)
	{
		size_t i;

		(void)val;
		for (i = 0; known[i] && strcmp(known[i], key) != 0; i++)
			;
		if (!known[i])
			warn(c, "%s%s is not supported; ignored", where, key);
	}
}

static int load_args(struct cfg *c, json_object *process)
{
	json_object *args = get(process, "args");
	size_t n =
	    args && json_object_is_type(args, json_type_array) ? json_object_array_length(args) : 0;

	if (n == 0)
		return herr_set(c->e, 0, "config.json: process.args is missing or empty");
	c->p->argv = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		c->p->argv[i] = xstrdup(json_object_get_string(json_object_array_get_idx(args, i)));
	return 0;
}

/* The environment is exactly process.env: drop the safe set hutch run keeps from the caller. */
static int load_env(struct cfg *c, json_object *process)
{
	json_object *env = get(process, "env");

	for (char **v = environ; v && *v; v++) {
		_cleanup_free_ char *name = xstrdup(*v);
		char *eq = strchr(name, '=');

		if (eq) {
			*eq = 0;
			if (strcmp(name, "HOME") != 0)
				plan_add_env(c->p, name, NULL);
		}
	}
	for (size_t i = 0; env && i < json_object_array_length(env); i++) {
		const char *kv = json_object_get_string(json_object_array_get_idx(env, i));

		if (kv && strchr(kv, '=') && kv[0] != '=' && opt(c, "setenv", kv) < 0)
			return -1;
	}
	return 0;
}

static int load_user(struct cfg *c, json_object *process)
{
	json_object *user = get(process, "user"), *v;
	char buf[32];

	if ((v = get(user, "uid"))) {
		snprintf(buf, sizeof(buf), "%" PRId64, json_object_get_int64(v));
		if (opt(c, "uid", buf) < 0)
			return -1;
	}
	if ((v = get(user, "gid"))) {
		snprintf(buf, sizeof(buf), "%" PRId64, json_object_get_int64(v));
		if (opt(c, "gid", buf) < 0)
			return -1;
	}
	/* set with setgroups just before exec (image_become_user); each must be mapped */
	for (size_t i = 0; (v = get(user, "additionalGids")) && i < json_object_array_length(v);
	     i++) {
		json_object *g = json_object_array_get_idx(v, i);
		int64_t n = json_object_get_int64(g);

		if (!json_object_is_type(g, json_type_int) || n < 0 || n > UINT32_MAX - 1)
			return herr_set(
			    c->e, 0, "config.json: process.user.additionalGids[%zu]: not a gid", i);
		c->p->oci_groups =
		    xreallocarray(c->p->oci_groups, c->p->n_oci_groups + 1, sizeof(gid_t));
		c->p->oci_groups[c->p->n_oci_groups++] = (gid_t)n;
	}
	return 0;
}

/* The bounding set is what the process may ever hold: keep exactly those (inside the user
 * namespace only). A name this libcap does not know cannot be kept: warn. */
static int load_caps(struct cfg *c, json_object *process)
{
	json_object *bounding = get(get(process, "capabilities"), "bounding");
	struct herr ignored = {0};

	for (size_t i = 0; bounding && i < json_object_array_length(bounding); i++) {
		const char *name = json_object_get_string(json_object_array_get_idx(bounding, i));

		if (!name || options_apply(c->p, options_find("cap-add"), name, &ignored) < 0)
			warn(c, "process.capabilities: unknown capability %s; not kept",
			     name ? name : "?");
	}
	return 0;
}

static int load_rlimits(struct cfg *c, json_object *process)
{
	json_object *rl = get(process, "rlimits");

	for (size_t i = 0; rl && i < json_object_array_length(rl); i++) {
		json_object *r = json_object_array_get_idx(rl, i);
		const char *type = get_str(r, "type");
		_cleanup_free_ char *arg = NULL;

		if (!type)
			return herr_set(c->e, 0, "config.json: process.rlimits[%zu]: no type", i);
		arg = xasprintf("%s=%" PRIu64 ":%" PRIu64, type,
				(uint64_t)json_object_get_uint64(get(r, "soft")),
				(uint64_t)json_object_get_uint64(get(r, "hard")));
		if (opt(c, "rlimit", arg) < 0)
			return -1;
	}
	return 0;
}

static int load_process(struct cfg *c, json_object *process)
{
	static const char *const known[] = {"args",
					    "env",
					    "cwd",
					    "user",
					    "capabilities",
					    "rlimits",
					    "noNewPrivileges",
					    "terminal",
					    "consoleSize",
					    "apparmorProfile",
					    "selinuxLabel",
					    "oomScoreAdj",
					    NULL};
	const char *cwd = get_str(process, "cwd");

	if (!process)
		return herr_set(c->e, 0, "config.json: no process object");
	warn_unknown(c, process, "process.", known);
	c->p->oci_terminal = json_object_get_boolean(get(process, "terminal"));
	if (load_args(c, process) < 0 || load_env(c, process) < 0 ||
	    (cwd && opt(c, "chdir", cwd) < 0) || load_user(c, process) < 0 ||
	    load_caps(c, process) < 0 || load_rlimits(c, process) < 0)
		return -1;
	return 0;
}

static int load_root(struct cfg *c, const char *bundle, json_object *root)
{
	const char *path = get_str(root, "path");
	_cleanup_free_ char *abs = NULL;

	if (!path)
		return herr_set(c->e, 0, "config.json: root.path is missing");
	abs = path[0] == '/' ? xstrdup(path) : xasprintf("%s/%s", bundle, path);
	if (access(abs, F_OK) < 0)
		return herr_set(c->e, errno, "config.json: root.path %s", abs);
	if (json_object_get_boolean(get(root, "readonly")))
		warn(c, "root.readonly: the root is an overlay whose writes are thrown away");
	return opt(c, "rootfs", abs);
}

static bool has_option(json_object *m, const char *name)
{
	json_object *o = get(m, "options");

	for (size_t i = 0; o && i < json_object_array_length(o); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(o, i)), name) == 0)
			return true;
	return false;
}

/* What hutch builds in every sandbox already: the engines' standard mounts of these. */
static bool provided(const char *type, const char *dst)
{
	static const char *const std[][2] = {
	    {"proc", "/proc"},
	    {"sysfs", "/sys"},
	    {"tmpfs", "/dev"},
	    {"devpts", "/dev/pts"},
	    {"tmpfs", "/dev/shm"},
	    {"mqueue", "/dev/mqueue"},
	    {"cgroup", "/sys/fs/cgroup"},
	    {"cgroup2", "/sys/fs/cgroup"},
	    {"bind", "/dev/shm"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(std); i++)
		if (strcmp(type, std[i][0]) == 0 && strcmp(dst, std[i][1]) == 0)
			return true;
	return false;
}

static int load_tmpfs(struct cfg *c, json_object *m, const char *dst)
{
	json_object *o = get(m, "options");
	_cleanup_free_ char *arg = NULL;

	for (size_t i = 0; o && i < json_object_array_length(o); i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(o, i));

		if (strncmp(s, "size=", 5) == 0)
			arg = xasprintf("%s:%s", dst, s + 5);
	}
	return opt(c, "tmpfs", arg ? arg : dst);
}

static int load_mount(struct cfg *c, const char *bundle, json_object *m)
{
	const char *dst = get_str(m, "destination"), *src = get_str(m, "source");
	const char *type = get_str(m, "type");
	bool bind =
	    (type && strcmp(type, "bind") == 0) || has_option(m, "bind") || has_option(m, "rbind");
	_cleanup_free_ char *arg = NULL, *abs = NULL;

	if (!dst || dst[0] != '/')
		return herr_set(c->e, 0, "config.json: a mount without an absolute destination");
	if (!type)
		type = bind ? "bind" : "";
	if (strcmp(type, "sysfs") == 0 && strcmp(dst, "/sys") == 0)
		c->p->oci_sysfs = true; /* hutch run has no /sys; a container asks for one */
	if (provided(type, dst))
		return 0; /* hutch's own /proc, /dev, /sys...: the engine asked for the same */
	if (bind) {
		if (!src)
			return herr_set(c->e, 0, "config.json: bind mount at %s: no source", dst);
		abs = src[0] == '/' ? xstrdup(src) : xasprintf("%s/%s", bundle, src);
		arg = xasprintf("%s:%s", abs, dst);
		return opt(c, has_option(m, "ro") ? "ro-bind" : "bind", arg);
	}
	if (strcmp(type, "tmpfs") == 0)
		return load_tmpfs(c, m, dst);
	warn(c, "mount of type '%s' at %s is not supported; skipped", type, dst);
	return 0;
}

static int load_mounts(struct cfg *c, const char *bundle, json_object *mounts)
{
	for (size_t i = 0; mounts && i < json_object_array_length(mounts); i++)
		if (load_mount(c, bundle, json_object_array_get_idx(mounts, i)) < 0)
			return -1;
	return 0;
}

/* hutch makes every namespace but the network one unconditionally; joining one is not done. */
static int load_namespaces(struct cfg *c, json_object *ns)
{
	static const char *const types[] = {"pid",  "network", "ipc",  "uts", "mount",
					    "user", "cgroup",  "time", NULL};
	bool net = false;

	for (size_t i = 0; ns && i < json_object_array_length(ns); i++) {
		json_object *n = json_object_array_get_idx(ns, i);
		const char *type = get_str(n, "type"), *path = get_str(n, "path");
		size_t t;

		for (t = 0; types[t] && type && strcmp(types[t], type) != 0; t++)
			;
		if (!type || !types[t])
			return herr_set(c->e, 0, "config.json: unknown namespace type '%s'",
					type ? type : "?");
		if (path && path[0] && strcmp(type, "network") == 0) {
			/* rootless podman's slirp4netns network: a namespace it made and wired */
			free(c->p->oci_netns);
			c->p->oci_netns = xstrdup(path);
		} else if (path && path[0] && oci_ns_index(type) >= 0) {
			free(c->p->oci_join[oci_ns_index(type)]);
			c->p->oci_join[oci_ns_index(type)] = xstrdup(path);
		} else if (path && path[0]) {
			/* a root built inside someone else's mount namespace would change theirs */
			herr_set(c->e, 0,
				 "config.json: joining the %s namespace %s is not supported", type,
				 path);
			return herr_hint(c->e, strcmp(type, "mount") == 0
						   ? "hutch builds each container's root in a "
						     "mount namespace of its own"
						   : "hutch makes a fresh one for the command");
		}
		net = net || strcmp(type, "network") == 0;
	}
	/* No network namespace asked for: the container shares the host's (as with runc). */
	return net ? 0 : opt(c, "net", "host");
}

static int load_resources(struct cfg *c, json_object *res)
{
	json_object *mem = get(res, "memory"), *cpu = get(res, "cpu"), *v;
	char buf[64];

	if ((v = get(mem, "limit")) && json_object_get_int64(v) > 0) {
		snprintf(buf, sizeof(buf), "%" PRId64, json_object_get_int64(v));
		if (opt(c, "memory", buf) < 0)
			return -1;
	}
	if ((v = get(mem, "swap")) && json_object_get_int64(v) > 0) {
		snprintf(buf, sizeof(buf), "%" PRId64, json_object_get_int64(v));
		if (opt(c, "memory-swap", buf) < 0)
			return -1;
	}
	if ((v = get(get(res, "pids"), "limit")) && json_object_get_int64(v) > 0) {
		snprintf(buf, sizeof(buf), "%" PRId64, json_object_get_int64(v));
		if (opt(c, "pids", buf) < 0)
			return -1;
	}
	if ((v = get(cpu, "quota")) && json_object_get_int64(v) > 0) {
		int64_t period = get(cpu, "period") ? json_object_get_int64(get(cpu, "period")) : 0;

		snprintf(buf, sizeof(buf), "%.3f",
			 (double)json_object_get_int64(v) / (double)(period > 0 ? period : 100000));
		if (opt(c, "cpus", buf) < 0)
			return -1;
	}
	return 0;
}

static int load_seccomp(struct cfg *c, json_object *seccomp)
{
	struct sc_profile prof = {0};
	struct sc_filters f = {0};
	int r;

	if (!seccomp)
		return 0; /* hutch's default profile, as with `hutch run` */
	/* process (and with it the capabilities) is read before linux */
	r = sc_profile_parse_json("config.json linux.seccomp",
				  json_object_to_json_string_ext(seccomp, JSON_C_TO_STRING_PLAIN),
				  c->p->caps_keep, &prof, c->e);
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
static int load_path_list(struct cfg *c, json_object *list, const char *what, char ***v, size_t *n)
{
	for (size_t i = 0; list && i < json_object_array_length(list); i++) {
		const char *path = json_object_get_string(json_object_array_get_idx(list, i));

		if (!path || path[0] != '/')
			return herr_set(c->e, 0,
					"config.json: linux.%s: '%s' is not an absolute path", what,
					path ? path : "");
		plan_add_str(v, n, path);
	}
	return 0;
}

static int load_paths(struct cfg *c, json_object *lx)
{
	return load_path_list(c, get(lx, "maskedPaths"), "maskedPaths", &c->p->oci_masked,
			      &c->p->n_oci_masked) < 0 ||
		       load_path_list(c, get(lx, "readonlyPaths"), "readonlyPaths",
				      &c->p->oci_readonly, &c->p->n_oci_readonly) < 0
		   ? -1
		   : 0;
}

/* Only keys the kernel keeps per namespace: any other would change the host. */
static int load_sysctl(struct cfg *c, json_object *sysctl)
{
	if (!sysctl || !json_object_is_type(sysctl, json_type_object))
		return 0;
	json_object_object_foreach(sysctl, key, val)
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
		kv = xasprintf("%s=%s", key, json_object_get_string(val));
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

/*
 * linux.devices: rootless, nothing can mknod (it needs CAP_MKNOD in the initial user
 * namespace), so a device can only be the host's own node with the same numbers, bound in. Only
 * one the caller may already open on the host: binding it grants nothing new.
 */
static int load_device(struct cfg *c, json_object *d)
{
	const char *path = get_str(d, "path"), *t = get_str(d, "type");
	unsigned major = (unsigned)json_object_get_int64(get(d, "major"));
	unsigned minor = (unsigned)json_object_get_int64(get(d, "minor"));
	unsigned type = t && strcmp(t, "b") == 0 ? S_IFBLK : S_IFCHR;
	_cleanup_free_ char *arg = NULL, *host = NULL;

	if (!path || path[0] != '/' || !t || (strcmp(t, "c") && strcmp(t, "u") && strcmp(t, "b")))
		return herr_set(c->e, 0,
				"config.json: linux.devices: '%s' needs an absolute path and type "
				"c, u or b",
				path ? path : "");
	if (default_device(path, type, major, minor))
		return 0;
	host = host_node(path, type, makedev(major, minor));
	if (!host) {
		herr_set(c->e, 0,
			 "config.json: linux.devices: %s (%s %u:%u): the host has no such "
			 "device node",
			 path, t, major, minor);
		return herr_hint(c->e, "hutch cannot create device nodes (no mknod without "
				       "root); it binds the host's own");
	}
	if (access(host, R_OK) < 0 && access(host, W_OK) < 0)
		return herr_set(c->e, errno, "config.json: linux.devices: %s (the host's %s)", path,
				host);
	arg = xasprintf("%s:%s", host, path);
	return opt(c, "dev-bind", arg);
}

/* linux.resources.devices is a cgroup allowlist: without a device cgroup hutch cannot narrow
 * access to a node the container has; the container has only hutch's /dev and the listed
 * devices (every other mount is nodev), which a "deny all" rule asks for anyway. */
static void warn_device_rules(struct cfg *c, json_object *rules)
{
	for (size_t i = 0; rules && i < json_object_array_length(rules); i++) {
		json_object *r = json_object_array_get_idx(rules, i);
		const char *type = get_str(r, "type");
		bool all =
		    (!type || strcmp(type, "a") == 0) && !get(r, "major") && !get(r, "minor");

		if (!json_object_get_boolean(get(r, "allow")) && !all)
			warn(c,
			     "linux.resources.devices: a rule denying %s %" PRId64 ":%" PRId64
			     " is not enforced (no device cgroup); only the listed devices "
			     "exist in /dev",
			     type ? type : "a", json_object_get_int64(get(r, "major")),
			     json_object_get_int64(get(r, "minor")));
	}
}

static int load_devices(struct cfg *c, json_object *lx)
{
	json_object *devs = get(lx, "devices");

	for (size_t i = 0; devs && i < json_object_array_length(devs); i++)
		if (load_device(c, json_object_array_get_idx(devs, i)) < 0)
			return -1;
	warn_device_rules(c, get(get(lx, "resources"), "devices"));
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
static int load_cgroups_path(struct cfg *c, const char *path)
{
	_cleanup_free_ char *dir = NULL;
	const char *base;

	if (!path || !path[0])
		return 0;
	if (strstr(path, "..") || strchr(path, ':')) {
		warn(c, "linux.cgroupsPath %s: %s; hutch's own cgroup placement applies", path,
		     strchr(path, ':') ? "systemd's slice:prefix:name form needs --systemd-cgroup "
					 "support hutch does not have"
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
		warn(c,
		     "linux.cgroupsPath %s: %s is not a cgroup you may write; hutch's own cgroup "
		     "placement applies",
		     path, dir[0] ? dir : "/");
		return 0;
	}
	c->p->oci_cgroup = xstrdup(base + 1);
	return opt(c, "cgroup-parent", dir);
}

static int load_one_map(struct cfg *c, json_object *list, const char *what,
			struct idmap_extent_req **v, size_t *n)
{
	for (size_t i = 0; list && i < json_object_array_length(list); i++) {
		json_object *m = json_object_array_get_idx(list, i);
		int64_t in = json_object_get_int64(get(m, "containerID")),
			out = json_object_get_int64(get(m, "hostID")),
			size = json_object_get_int64(get(m, "size"));

		if (in < 0 || out < 0 || size <= 0 || in > UINT32_MAX - size ||
		    out > UINT32_MAX - size)
			return herr_set(c->e, 0, "config.json: linux.%s[%zu]: bad ids", what, i);
		*v = xreallocarray(*v, *n + 1, sizeof(**v));
		(*v)[(*n)++] = (struct idmap_extent_req){(unsigned long)in, (unsigned long)out,
							 (unsigned long)size};
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
static int load_id_maps(struct cfg *c, json_object *lx)
{
	json_object *u = get(lx, "uidMappings"), *g = get(lx, "gidMappings");

	if (!u && !g)
		return 0;
	if (c->p->oci_join[OCI_NS_USER]) {
		warn(c, "linux.uidMappings/gidMappings: the joined user namespace has its own; "
			"ignored");
		return 0;
	}
	if (load_one_map(c, u, "uidMappings", &c->p->oci_uidmap, &c->p->n_oci_uidmap) < 0 ||
	    load_one_map(c, g, "gidMappings", &c->p->oci_gidmap, &c->p->n_oci_gidmap) < 0)
		return -1;
	return become_process_user(c);
}

static int load_linux(struct cfg *c, json_object *lx)
{
	static const char *const known[] = {
	    "namespaces",	 "resources",	"seccomp",     "maskedPaths", "readonlyPaths",
	    "uidMappings",	 "gidMappings", "cgroupsPath", "sysctl",      "devices",
	    "rootfsPropagation", "mountLabel",	NULL};
	warn_unknown(c, lx, "linux.", known);
	if (load_namespaces(c, get(lx, "namespaces")) < 0 ||
	    load_resources(c, get(lx, "resources")) < 0 ||
	    load_seccomp(c, get(lx, "seccomp")) < 0 || load_paths(c, lx) < 0 ||
	    load_sysctl(c, get(lx, "sysctl")) < 0 || load_devices(c, lx) < 0 ||
	    load_cgroups_path(c, get_str(lx, "cgroupsPath")) < 0 || load_id_maps(c, lx) < 0)
		return -1;
	/* the init makes a cgroup namespace of its own cgroup (cgroup_enter_namespace) */
	if (c->p->oci_join[OCI_NS_CGROUP] && plan_wants_cgroup(c->p))
		return herr_set(c->e, 0,
				"config.json: joining a cgroup namespace and a cgroup of "
				"the container's own (resources, cgroupsPath) do not go "
				"together");
	return 0;
}

int oci_config_load(const char *bundle, struct plan *p, FILE *warnf, json_object **annotations,
		    struct herr *e)
{
	static const char *const known[] = {"ociVersion", "process", "root",  "hostname",
					    "domainname", "mounts",  "linux", "annotations",
					    "hooks",	  NULL};
	_cleanup_free_ char *path = xasprintf("%s/config.json", bundle);
	struct cfg c = {p, warnf, e};
	json_object *cfg = json_object_from_file(path), *v;
	const char *hostname;
	int r = -1;

	*annotations = NULL;
	/* A container has the limits config.json gives it, and no others (runtime-spec): none of
	 * hutch run's defaults */
	p->memory = p->pids = LIMIT_MAX;
	if (!cfg) {
		if (access(path, R_OK) < 0)
			return herr_set(e, errno, "%s", path);
		return herr_set(e, 0, "%s: not valid JSON: %s", path, json_util_get_last_err());
	}
	if (!json_object_is_type(cfg, json_type_object)) {
		herr_set(e, 0, "%s: not a JSON object", path);
		goto out;
	}
	warn_unknown(&c, cfg, "", known);
	hostname = get_str(cfg, "hostname");
	if (load_process(&c, get(cfg, "process")) < 0 ||
	    load_root(&c, bundle, get(cfg, "root")) < 0 ||
	    (hostname && hostname[0] && opt(&c, "hostname", hostname) < 0) ||
	    load_mounts(&c, bundle, get(cfg, "mounts")) < 0 ||
	    load_linux(&c, get(cfg, "linux")) < 0)
		goto out;
	if ((v = get(cfg, "annotations")))
		*annotations = json_object_get(v);
	r = 0;
out:
	json_object_put(cfg);
	return r;
}

int oci_process_load(json_object *process, struct plan *p, FILE *warnf, struct herr *e)
{
	struct cfg c = {p, warnf, e};

	return load_process(&c, process);
}

void oci_plan_free(struct plan *p)
{
	/* a plan from config.json owns its argv (the command line's points into main's argv) */
	for (char **v = p->argv; v && *v; v++)
		free(*v);
	free(p->argv);
	p->argv = NULL;
	plan_free(p);
}
