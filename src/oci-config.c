/* config.json -> struct plan. Every value goes through the option table's setters (the rows of
 * `hutch run`), so the OCI front end and the command line cannot drift apart. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

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
	if ((v = get(user, "additionalGids")) && json_object_array_length(v) > 0)
		warn(c, "process.user.additionalGids: only the primary gid is mapped; ignored");
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
		} else if (path && path[0]) {
			herr_set(c->e, 0,
				 "config.json: joining the %s namespace %s is not supported", type,
				 path);
			return herr_hint(c->e, "hutch makes fresh namespaces only");
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
	r = sc_profile_parse_json("config.json linux.seccomp",
				  json_object_to_json_string_ext(seccomp, JSON_C_TO_STRING_PLAIN),
				  &prof, c->e);
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

static int load_linux(struct cfg *c, json_object *lx)
{
	static const char *const known[] = {
	    "namespaces",	 "resources",	"seccomp",     "maskedPaths", "readonlyPaths",
	    "uidMappings",	 "gidMappings", "cgroupsPath", "sysctl",      "devices",
	    "rootfsPropagation", "mountLabel",	NULL};
	json_object *v;

	warn_unknown(c, lx, "linux.", known);
	if (((v = get(lx, "uidMappings")) && json_object_array_length(v) > 0) ||
	    ((v = get(lx, "gidMappings")) && json_object_array_length(v) > 0))
		warn(c, "linux.uidMappings/gidMappings: hutch maps ids itself; ignored");
	if ((v = get(lx, "sysctl")) && json_object_object_length(v) > 0)
		warn(c, "linux.sysctl is not supported; ignored");
	if (((v = get(lx, "maskedPaths")) && json_object_array_length(v) > 0) ||
	    ((v = get(lx, "readonlyPaths")) && json_object_array_length(v) > 0))
		warn(c, "linux.maskedPaths/readonlyPaths: hutch shows no host /proc or /sys "
			"files there to mask; ignored");
	return load_namespaces(c, get(lx, "namespaces")) < 0 ||
		       load_resources(c, get(lx, "resources")) < 0 ||
		       load_seccomp(c, get(lx, "seccomp")) < 0
		   ? -1
		   : 0;
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
	if ((v = get(cfg, "hooks")) && json_object_object_length(v) > 0)
		warn(&c, "hooks are not run");
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
