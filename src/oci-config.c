/* config.json -> struct plan. Every value goes through the option table's setters (the rows of
 * `hutch run`), so the OCI front end and the command line cannot drift apart; every read of the
 * document goes through json-get.h's typed getters, so a value of the wrong type anywhere is a
 * one-line error naming its path, never a crash (linux.* is in src/oci-config-linux.c). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "oci-config.h"
#include "oci.h"
#include "options.h"
#include "util.h"

extern char **environ;

int cfg_opt(struct cfg *c, const char *name, const char *value)
{
	const struct option_def *o = options_find(name);

	if (!o)
		return herr_set(c->e, 0, "config.json: internal: no option '%s'", name);
	return options_apply(c->p, o, value, c->e);
}

void cfg_warn(struct cfg *c, const char *fmt, ...)
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

void cfg_warn_unknown(struct cfg *c, const struct jval *o, const char *const *known)
{
	if (!o->v)
		return;
	json_object_object_foreach(o->v, key, val)
	{
		size_t i;

		(void)val;
		for (i = 0; known[i] && strcmp(known[i], key) != 0; i++)
			;
		if (!known[i])
			cfg_warn(c, "%s%s%s is not supported; ignored", o->path,
				 o->path[0] ? "." : "", key);
	}
}

/* process.args: one string each, at least one. */
static int load_args(struct cfg *c, const struct jval *process)
{
	struct jval args;
	const char *s;
	size_t n;

	if (jarr(process, "args", &args, c->e) < 0)
		return -1;
	if ((n = jlen(&args)) == 0)
		return jerr(process, "args", c->e, "missing or empty; give the command to run");
	c->p->argv = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		if (jstr_at(&args, i, &s, c->e) < 0)
			return -1;
		c->p->argv[i] = xstrdup(s);
	}
	return 0;
}

/* The environment is exactly process.env: drop the safe set hutch run keeps from the caller. */
static int load_env(struct cfg *c, const struct jval *process)
{
	struct jval env;
	const char *kv;

	if (jarr(process, "env", &env, c->e) < 0)
		return -1;
	for (char **v = environ; v && *v; v++) {
		_cleanup_free_ char *name = xstrdup(*v);
		char *eq = strchr(name, '=');

		if (eq) {
			*eq = 0;
			if (strcmp(name, "HOME") != 0)
				plan_add_env(c->p, name, NULL);
		}
	}
	for (size_t i = 0; i < jlen(&env); i++) {
		if (jstr_at(&env, i, &kv, c->e) < 0)
			return -1;
		if (!strchr(kv, '=') || kv[0] == '=') {
			herr_set(c->e, 0, "config.json: process.env[%zu]: '%s' is not NAME=VALUE",
				 i, kv);
			return herr_hint(c->e, "each entry sets one variable");
		}
		if (cfg_opt(c, "setenv", kv) < 0)
			return -1;
	}
	return 0;
}

static int load_user(struct cfg *c, const struct jval *process)
{
	struct jval user, gids;
	const char *name;
	int64_t v;
	char buf[32];
	int r;

	if (jobj(process, "user", &user, c->e) < 0 || jstr(&user, "username", &name, c->e) < 0 ||
	    jint(&user, "umask", 0, 0777, &v, c->e) < 0)
		return -1;
	for (int k = 0; k < 2; k++) {
		if ((r = jint(&user, k ? "gid" : "uid", 0, UINT32_MAX - 1, &v, c->e)) < 0)
			return -1;
		if (r == 0)
			continue;
		snprintf(buf, sizeof(buf), "%" PRId64, v);
		if (cfg_opt(c, k ? "gid" : "uid", buf) < 0)
			return -1;
	}
	/* set with setgroups just before exec (user_set_groups); each must be mapped */
	if (jarr(&user, "additionalGids", &gids, c->e) < 0)
		return -1;
	for (size_t i = 0; i < jlen(&gids); i++) {
		if (jint_at(&gids, i, 0, UINT32_MAX - 1, &v, c->e) < 0)
			return -1;
		c->p->oci_groups =
		    xreallocarray(c->p->oci_groups, c->p->n_oci_groups + 1, sizeof(gid_t));
		c->p->oci_groups[c->p->n_oci_groups++] = (gid_t)v;
	}
	return 0;
}

/* The bounding set is what the process may ever hold: keep exactly those (inside the user
 * namespace only). A name this libcap does not know cannot be kept: warn. The other sets are
 * checked (lists of names) and follow from it. */
static int load_caps(struct cfg *c, const struct jval *process)
{
	static const char *const sets[] = {"bounding", "effective", "inheritable", "permitted",
					   "ambient"};
	struct jval caps, set[ARRAY_SIZE(sets)];
	struct herr ignored = {0};
	const char *name;

	if (jobj(process, "capabilities", &caps, c->e) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(sets); i++)
		if (jstrs(&caps, sets[i], &set[i], c->e) < 0)
			return -1;
	for (size_t i = 0; i < jlen(&set[0]); i++)
		if (jstr_at(&set[0], i, &name, c->e) > 0 &&
		    options_apply(c->p, options_find("cap-add"), name, &ignored) < 0)
			cfg_warn(c, "process.capabilities: unknown capability %s; not kept", name);
	return 0;
}

static int load_rlimit(struct cfg *c, const struct jval *r)
{
	_cleanup_free_ char *arg = NULL;
	const char *type;
	uint64_t soft, hard;
	int k;

	if ((k = jstr(r, "type", &type, c->e)) <= 0)
		return k < 0 ? -1 : jerr(r, "type", c->e, "missing (RLIMIT_NOFILE...)");
	if ((k = ju64(r, "soft", &soft, c->e)) <= 0)
		return k < 0 ? -1 : jerr(r, "soft", c->e, "missing");
	if ((k = ju64(r, "hard", &hard, c->e)) <= 0)
		return k < 0 ? -1 : jerr(r, "hard", c->e, "missing");
	arg = xasprintf("%s=%" PRIu64 ":%" PRIu64, type, soft, hard);
	return cfg_opt(c, "rlimit", arg);
}

static int load_rlimits(struct cfg *c, const struct jval *process)
{
	struct jval rl, r;

	if (jarr(process, "rlimits", &rl, c->e) < 0)
		return -1;
	for (size_t i = 0; i < jlen(&rl); i++)
		if (jobj_at(&rl, i, &r, c->e) < 0 || load_rlimit(c, &r) < 0)
			return -1;
	return 0;
}

/* Fields hutch does not act on, checked all the same: a wrong type is a broken config. */
static int check_ignored(struct cfg *c, const struct jval *process)
{
	struct jval size;
	const char *s;
	int64_t n;
	uint64_t u;
	bool b;

	return jbool(process, "noNewPrivileges", &b, c->e) < 0 ||
		       jstr(process, "apparmorProfile", &s, c->e) < 0 ||
		       jstr(process, "selinuxLabel", &s, c->e) < 0 ||
		       jint(process, "oomScoreAdj", -1000, 1000, &n, c->e) < 0 ||
		       jobj(process, "consoleSize", &size, c->e) < 0 ||
		       ju64(&size, "height", &u, c->e) < 0 || ju64(&size, "width", &u, c->e) < 0
		   ? -1
		   : 0;
}

static int load_process(struct cfg *c, const struct jval *process)
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
	const char *cwd;
	bool tty = false;

	if (!process->v)
		return herr_set(c->e, 0, "%s: no process object", process->file);
	cfg_warn_unknown(c, process, known);
	if (jbool(process, "terminal", &tty, c->e) < 0 || jstr(process, "cwd", &cwd, c->e) < 0 ||
	    check_ignored(c, process) < 0)
		return -1;
	c->p->oci_terminal = tty;
	if (load_args(c, process) < 0 || load_env(c, process) < 0 ||
	    (cwd && cfg_opt(c, "chdir", cwd) < 0) || load_user(c, process) < 0 ||
	    load_caps(c, process) < 0 || load_rlimits(c, process) < 0)
		return -1;
	return 0;
}

static int load_root(struct cfg *c, const char *bundle, const struct jval *doc)
{
	struct jval root;
	const char *path;
	_cleanup_free_ char *abs = NULL;
	bool ro = false;

	if (jobj(doc, "root", &root, c->e) < 0 || jstr(&root, "path", &path, c->e) < 0 ||
	    jbool(&root, "readonly", &ro, c->e) < 0)
		return -1;
	if (!path)
		return herr_set(c->e, 0, "config.json: root.path is missing");
	abs = path[0] == '/' ? xstrdup(path) : xasprintf("%s/%s", bundle, path);
	if (access(abs, F_OK) < 0)
		return herr_set(c->e, errno, "config.json: root.path %s", abs);
	if (ro)
		cfg_warn(c, "root.readonly: the root is an overlay whose writes are thrown away");
	return cfg_opt(c, "rootfs", abs);
}

static bool has_option(const struct jval *options, const char *name)
{
	const char *s;
	struct herr ignored = {0};

	/* every element was checked a string (load_mount) */
	for (size_t i = 0; i < jlen(options); i++)
		if (jstr_at(options, i, &s, &ignored) > 0 && strcmp(s, name) == 0)
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

static int load_tmpfs(struct cfg *c, const struct jval *options, const char *dst)
{
	_cleanup_free_ char *arg = NULL;
	struct herr ignored = {0};
	const char *s;

	for (size_t i = 0; i < jlen(options); i++)
		if (jstr_at(options, i, &s, &ignored) > 0 && strncmp(s, "size=", 5) == 0) {
			free(arg);
			arg = xasprintf("%s:%s", dst, s + 5);
		}
	return cfg_opt(c, "tmpfs", arg ? arg : dst);
}

static int load_mount(struct cfg *c, const char *bundle, const struct jval *m)
{
	const char *dst, *src, *type;
	struct jval options, maps;
	bool bind;
	_cleanup_free_ char *arg = NULL, *abs = NULL;

	if (jstr(m, "destination", &dst, c->e) < 0 || jstr(m, "source", &src, c->e) < 0 ||
	    jstr(m, "type", &type, c->e) < 0 || jstrs(m, "options", &options, c->e) < 0 ||
	    jarr(m, "uidMappings", &maps, c->e) < 0 || jarr(m, "gidMappings", &maps, c->e) < 0)
		return -1;
	if (!dst || dst[0] != '/')
		return jerr(m, "destination", c->e, "'%s' is not an absolute path", dst ? dst : "");
	bind = (type && strcmp(type, "bind") == 0) || has_option(&options, "bind") ||
	       has_option(&options, "rbind");
	if (!type)
		type = bind ? "bind" : "";
	if (strcmp(type, "sysfs") == 0 && strcmp(dst, "/sys") == 0)
		c->p->oci_sysfs = true; /* hutch run has no /sys; a container asks for one */
	if (provided(type, dst))
		return 0; /* hutch's own /proc, /dev, /sys...: the engine asked for the same */
	if (bind) {
		if (!src)
			return jerr(m, "source", c->e, "missing for the bind mount at %s", dst);
		abs = src[0] == '/' ? xstrdup(src) : xasprintf("%s/%s", bundle, src);
		arg = xasprintf("%s:%s", abs, dst);
		return cfg_opt(c, has_option(&options, "ro") ? "ro-bind" : "bind", arg);
	}
	if (strcmp(type, "tmpfs") == 0)
		return load_tmpfs(c, &options, dst);
	cfg_warn(c, "mount of type '%s' at %s is not supported; skipped", type, dst);
	return 0;
}

static int load_mounts(struct cfg *c, const char *bundle, const struct jval *doc)
{
	struct jval mounts, m;

	if (jarr(doc, "mounts", &mounts, c->e) < 0)
		return -1;
	for (size_t i = 0; i < jlen(&mounts); i++)
		if (jobj_at(&mounts, i, &m, c->e) < 0 || load_mount(c, bundle, &m) < 0)
			return -1;
	return 0;
}

/* The top level: process first (linux.seccomp needs the capabilities it keeps). */
static int load_doc(struct cfg *c, const char *bundle, const struct jval *doc,
		    struct oci_config *out)
{
	static const char *const known[] = {"ociVersion", "process", "root",  "hostname",
					    "domainname", "mounts",  "linux", "annotations",
					    "hooks",	  NULL};
	struct jval process, lx, ann;
	const char *hostname, *s;

	cfg_warn_unknown(c, doc, known);
	if (jstr(doc, "ociVersion", &s, c->e) < 0 || jstr(doc, "hostname", &hostname, c->e) < 0 ||
	    jstr(doc, "domainname", &s, c->e) < 0 || jobj(doc, "process", &process, c->e) < 0 ||
	    jobj(doc, "linux", &lx, c->e) < 0 || jstrmap(doc, "annotations", &ann, c->e) < 0)
		return -1;
	if (load_process(c, &process) < 0 || load_root(c, bundle, doc) < 0 ||
	    (hostname && hostname[0] && cfg_opt(c, "hostname", hostname) < 0) ||
	    load_mounts(c, bundle, doc) < 0 || cfg_load_linux(c, &lx) < 0 ||
	    oci_hooks_check(doc, &out->hooks, c->e) < 0)
		return -1;
	if (ann.v)
		out->annotations = json_object_get(ann.v);
	return 0;
}

/* JSON text to a document: strict JSON, nothing after it. */
static json_object *parse_json(const char *text, size_t len, const char *file, struct herr *e)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *doc;
	size_t end;

	if (!tok || len > INT32_MAX) {
		json_tokener_free(tok);
		herr_set(e, 0, "%s: too large", file);
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	doc = json_tokener_parse_ex(tok, text, (int)len);
	if (!doc && json_tokener_get_error(tok) == json_tokener_continue)
		herr_set(e, 0, "%s: not valid JSON: it ends too soon", file);
	else if (!doc)
		herr_set(e, 0, "%s: not valid JSON: %s", file,
			 json_tokener_error_desc(json_tokener_get_error(tok)));
	for (end = json_tokener_get_parse_end(tok); doc && end < len; end++)
		if (!text[end] || !strchr(" \t\r\n", text[end])) { /* strchr finds the NUL */
			herr_set(e, 0, "%s: not valid JSON: more after the document", file);
			json_object_put(doc);
			doc = NULL;
		}
	json_tokener_free(tok);
	return doc;
}

int oci_config_parse(const char *text, size_t len, const char *bundle, struct plan *p, FILE *warnf,
		     struct oci_config *out, struct herr *e)
{
	struct cfg c = {p, warnf, e};
	json_object *doc = parse_json(text, len, "config.json", e);
	struct jval root;
	int r = -1;

	/* A container has the limits config.json gives it, and no others (runtime-spec): none of
	 * hutch run's defaults */
	p->memory = p->pids = LIMIT_MAX;
	*out = (struct oci_config){0};
	if (doc && jroot(doc, "config.json", "", &root, e) == 0)
		r = load_doc(&c, bundle, &root, out);
	json_object_put(doc);
	if (r < 0)
		oci_config_free(out);
	return r;
}

/* The whole of a file the engine wrote (a regular one: a FIFO or a device would block). */
static char *read_config(const char *path, size_t *len, struct herr *e)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	char *buf;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) < 0) {
		herr_set(e, errno, "%s", path);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (1 << 26)) {
		herr_set(e, 0, "%s: not a regular file of at most 64 MiB", path);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	for (*len = 0; (n = read(fd, buf + *len, (size_t)st.st_size - *len)) > 0;)
		*len += (size_t)n;
	if (n < 0) {
		herr_set(e, errno, "%s", path);
		free(buf);
		return NULL;
	}
	buf[*len] = 0;
	return buf;
}

int oci_config_load(const char *bundle, struct plan *p, FILE *warnf, struct oci_config *out,
		    struct herr *e)
{
	_cleanup_free_ char *path = xasprintf("%s/config.json", bundle), *text = NULL;
	size_t len;

	*out = (struct oci_config){0};
	text = read_config(path, &len, e);
	return text ? oci_config_parse(text, len, bundle, p, warnf, out, e) : -1;
}

void oci_config_free(struct oci_config *c)
{
	json_object_put(c->annotations);
	json_object_put(c->hooks);
	*c = (struct oci_config){0};
}

int oci_process_load(const char *file, struct plan *p, FILE *warnf, struct herr *e)
{
	struct cfg c = {p, warnf, e};
	_cleanup_free_ char *text = NULL;
	json_object *doc;
	struct jval process;
	size_t len;
	int r = -1;

	if (!(text = read_config(file, &len, e)) || !(doc = parse_json(text, len, file, e)))
		return -1;
	if (jroot(doc, file, "process", &process, e) == 0)
		r = load_process(&c, &process);
	json_object_put(doc);
	return r;
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
