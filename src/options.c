#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "policy.h"
#include "limits.h"
#include "net_options.h"
#include "seccomp.h"
#include "util.h"

static int parse_id(const char *opt, const char *arg, unsigned *out, struct herr *e)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	/* (uid_t)-1 means "no change" to the kernel, so it can never be a real id */
	if (errno || end == arg || *end || arg[0] == '-' || v >= UINT_MAX)
		return herr_set(e, 0, "--%s '%s': not a valid id; give a number such as 0 or 1000",
				opt, arg);
	*out = (unsigned)v;
	return 0;
}

int parse_size(const char *s, unsigned long long *out)
{
	char *end;
	unsigned long long v, mult = 1;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case 0:
		break;
	case 'K':
		mult = 1ULL << 10;
		break;
	case 'M':
		mult = 1ULL << 20;
		break;
	case 'G':
		mult = 1ULL << 30;
		break;
	case 'T':
		mult = 1ULL << 40;
		break;
	default:
		return -1;
	}
	if (*end && end[1] && !(toupper((unsigned char)end[1]) == 'B' && !end[2]) &&
	    !(toupper((unsigned char)end[1]) == 'I' && toupper((unsigned char)end[2]) == 'B' &&
	      !end[3]))
		return -1;
	if (v > ULLONG_MAX / mult)
		return -1;
	*out = v * mult;
	return 0;
}

void format_size(unsigned long long v, char out[32])
{
	static const char units[] = "KMGT";
	int u = -1;

	while (u < 3 && v && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	snprintf(out, 32, "%llu%.*s", v, u >= 0, u >= 0 ? units + u : "");
}

static int need_absolute(const char *opt, const char *arg, const char *path, struct herr *e)
{
	if (path[0] != '/')
		return herr_set(e, 0, "--%s '%s': '%s' must be an absolute path inside the sandbox",
				opt, arg, path);
	return 0;
}

static int set_uid(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	p->has_uid = true;
	return parse_id(opt, arg, &p->uid, e);
}

static int set_gid(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	p->has_gid = true;
	return parse_id(opt, arg, &p->gid, e);
}

static int set_hostname(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	if (arg[0] == 0 || strlen(arg) > 64)
		return herr_set(e, 0, "--%s '%s': a hostname has 1 to 64 characters", opt, arg);
	free(p->hostname);
	p->hostname = xstrdup(arg);
	return 0;
}

static int add_bind(struct plan *p, enum mount_kind kind, const char *opt, const char *arg,
		    struct herr *e)
{
	_cleanup_free_ char *src = xstrdup(arg);
	char *colon = strchr(src, ':');
	const char *dst = src;

	if (colon) {
		*colon = 0;
		dst = colon + 1;
	}
	if (src[0] == 0 || dst[0] == 0)
		return herr_set(e, 0, "--%s '%s': expected SRC or SRC:DST", opt, arg);
	if (!colon && src[0] != '/')
		return herr_set(e, 0, "--%s '%s': a relative source needs a destination (SRC:DST)",
				opt, arg);
	if (need_absolute(opt, arg, dst, e) < 0)
		return -1;
	plan_add_mount(p, kind, src, dst, 0);
	return 0;
}

static int set_bind(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	return add_bind(p, MOUNT_BIND, opt, arg, e);
}

static int set_ro_bind(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	return add_bind(p, MOUNT_RO_BIND, opt, arg, e);
}

/* The -try variants (as bwrap's): a missing source is skipped, so one policy fits machines
 * with and without a GPU, a Wayland socket or a sound server. */
static int add_try(struct plan *p, enum mount_kind kind, const char *opt, const char *arg,
		   struct herr *e)
{
	if (add_bind(p, kind, opt, arg, e) < 0)
		return -1;
	p->mounts[p->n_mounts - 1].optional = true;
	return 0;
}

static int set_bind_try(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	return add_try(p, MOUNT_BIND, opt, arg, e);
}

static int set_ro_bind_try(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	return add_try(p, MOUNT_RO_BIND, opt, arg, e);
}

static int set_dev_bind(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	return add_bind(p, MOUNT_DEV_BIND, opt, arg, e);
}

static int set_dev_bind_try(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	return add_try(p, MOUNT_DEV_BIND, opt, arg, e);
}

static int set_display(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	p->display = true;
	return 0;
}

static int set_audio(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	p->audio = true;
	return 0;
}

static int set_dbus_talk(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	/* a bus name, or a prefix with .* as xdg-dbus-proxy takes them */
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789_-.*";

	if (!arg[0] || strspn(arg, allowed) != strlen(arg) || !strchr(arg, '.'))
		return herr_set(e, 0,
				"--%s '%s': expected a bus name such as "
				"org.freedesktop.Notifications or org.freedesktop.portal.*",
				opt, arg);
	plan_add_str(&p->dbus_talk, &p->n_dbus_talk, arg);
	return 0;
}

static int set_bind_create(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	if (add_bind(p, MOUNT_BIND, opt, arg, e) < 0)
		return -1;
	p->mounts[p->n_mounts - 1].create = true;
	return 0;
}

static int set_tmpfs(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	_cleanup_free_ char *dst = xstrdup(arg);
	char *colon = strchr(dst, ':');
	unsigned long long size = 0;

	if (colon) {
		*colon = 0;
		if (parse_size(colon + 1, &size) < 0 || size == 0)
			return herr_set(
			    e, 0, "--%s '%s': size '%s' is not a size; write it like 64M or 1G",
			    opt, arg, colon + 1);
	}
	if (need_absolute(opt, arg, dst, e) < 0)
		return -1;
	plan_add_mount(p, MOUNT_TMPFS, NULL, dst, size);
	return 0;
}

static int set_chdir(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	if (need_absolute(opt, arg, arg, e) < 0)
		return -1;
	free(p->chdir);
	p->chdir = xstrdup(arg);
	return 0;
}

static int set_setenv(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	_cleanup_free_ char *name = xstrdup(arg);
	char *eq = strchr(name, '=');

	if (!eq || eq == name)
		return herr_set(e, 0, "--%s '%s': expected VAR=VALUE", opt, arg);
	*eq = 0;
	plan_add_env(p, name, eq + 1);
	return 0;
}

static int set_unsetenv(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	if (arg[0] == 0 || strchr(arg, '='))
		return herr_set(e, 0, "--%s '%s': expected a variable name", opt, arg);
	plan_add_env(p, arg, NULL);
	return 0;
}

static int set_keep_env(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	p->keep_env = true;
	return 0;
}

static int set_pass_fd(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	unsigned fd;

	if (parse_id(opt, arg, &fd, e) < 0 || fd > INT_MAX)
		return herr_set(e, 0, "--%s '%s': expected a file descriptor number", opt, arg);
	plan_add_pass_fd(p, (int)fd);
	return 0;
}

static int set_cap_add(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	int cap = caps_from_name(arg);

	if (cap < 0)
		return herr_set(
		    e, 0, "--%s '%s': unknown capability; see capabilities(7) for names", opt, arg);
	p->caps_keep |= 1ULL << cap;
	return 0;
}

static int set_verbose(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	p->verbose++;
	return 0;
}

static int set_policy(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	return policy_apply(p, arg, e);
}

static int set_dry_run(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	p->dry_run = true;
	return 0;
}

/* ---- seccomp and Landlock (issue 3) ---- */

static int load_seccomp(struct plan *p, const char *arg, struct herr *e)
{
	struct sc_filters f;
	bool none;

	if (sc_load(arg, p->caps_keep, &f, &none, e) < 0)
		return -1;
	if (!p->seccomp)
		p->seccomp = xcalloc(1, sizeof(*p->seccomp));
	sc_filters_free(p->seccomp);
	*p->seccomp = f;
	p->seccomp_none = none;
	return 0;
}

/* Compiled here, so that a bad profile is an error of this option (or of the policy's line);
 * a JSON profile again once every option is read (seccomp_with_caps). */
static int set_seccomp(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	if (load_seccomp(p, arg, e) < 0)
		return -1;
	free(p->seccomp_arg);
	p->seccomp_arg = xstrdup(arg);
	return 0;
}

/* A JSON profile's rules may include or exclude capabilities (Docker's default profile allows
 * ptrace with CAP_SYS_PTRACE, for example): with every --cap-add known, read it again. */
static int seccomp_with_caps(struct plan *p, struct herr *e)
{
	if (!p->seccomp_arg || !sc_is_json(p->seccomp_arg) || !p->caps_keep)
		return 0;
	return load_seccomp(p, p->seccomp_arg, e);
}

/* ---- images and overlays (issue 7) ---- */

static int host_dir(const char *opt, const char *arg, struct herr *e)
{
	if (arg[0] == 0)
		return herr_set(e, 0, "--%s: expected a directory", opt);
	return 0;
}

static int set_rootfs(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	if (host_dir(opt, arg, e) < 0)
		return -1;
	if (p->image)
		return herr_set(e, 0, "--rootfs and --image both give the root; choose one");
	plan_free_strv(p->layers, p->n_layers);
	p->layers = NULL;
	p->n_layers = 0;
	plan_add_str(&p->layers, &p->n_layers, arg);
	p->has_rootfs = true;
	return 0;
}

static int set_persist(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	if (host_dir(opt, arg, e) < 0)
		return -1;
	free(p->persist);
	p->persist = xstrdup(arg);
	return 0;
}

static int set_overlay(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	if (need_absolute(opt, arg, arg, e) < 0)
		return -1;
	plan_add_str(&p->overlays, &p->n_overlays, arg);
	return 0;
}

static int set_overlay_driver(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	if (strcmp(arg, "kernel") == 0)
		p->overlay_driver = OVERLAY_KERNEL;
	else if (strcmp(arg, "fuse") == 0)
		p->overlay_driver = OVERLAY_FUSE;
	else if (strcmp(arg, "auto") == 0)
		p->overlay_driver = OVERLAY_AUTO;
	else
		return herr_set(e, 0, "--%s '%s': expected kernel, fuse or auto", opt, arg);
	return 0;
}

static int set_image(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	if (arg[0] == 0)
		return herr_set(e, 0, "--%s: expected an image name (see 'hutch image ls')", opt);
	if (p->has_rootfs)
		return herr_set(e, 0, "--rootfs and --image both give the root; choose one");
	free(p->image);
	p->image = xstrdup(arg);
	return 0;
}

static int set_max_image_size(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	if (parse_size(arg, &p->max_image_size) < 0 || p->max_image_size == 0)
		return herr_set(e, 0, "--%s '%s': not a size; write it like 512M or 20G", opt, arg);
	return 0;
}

static const struct option_def run_options[] = {
    {"uid", 0, "N", "uid inside the sandbox (default: your own); your uid maps to it", set_uid},
    {"gid", 0, "N", "gid inside the sandbox (default: your own); your gid maps to it", set_gid},
    {"hostname", 0, "NAME", "hostname inside (default: hutch)", set_hostname},
    {"bind", 0, "SRC[:DST]", "bind host SRC read-write at DST (default: the same path)", set_bind},
    {"ro-bind", 0, "SRC[:DST]", "bind host SRC read-only at DST", set_ro_bind},
    {"bind-create", 0, "SRC[:DST]", "like --bind, creating SRC (a directory) when missing",
     set_bind_create},
    {"tmpfs", 0, "DST[:SIZE]", "mount a fresh tmpfs at DST, optionally limited to SIZE", set_tmpfs},
    {"chdir", 0, "DIR", "working directory inside (default: yours if visible, else $HOME)",
     set_chdir},
    {"setenv", 0, "VAR=VALUE", "set an environment variable inside", set_setenv},
    {"unsetenv", 0, "VAR", "remove an environment variable inside", set_unsetenv},
    {"keep-env", 0, NULL, "keep your whole environment instead of the safe set", set_keep_env},
    {"pass-fd", 0, "N", "let file descriptor N through to the command", set_pass_fd},
    {"cap-add", 0, "CAP", "keep capability CAP, inside the user namespace only", set_cap_add},
    {"verbose", 'v', NULL, "say what each setup step did", set_verbose},

    /* ---- seccomp and Landlock (issue 3) ---- */
    {"seccomp", 0, "NAME|FILE|none",
     "seccomp profile: default, strict, none, or a file (text or .json); see hutch-seccomp(5)",
     set_seccomp},

    /* ---- networking (issue 4) ---- */
    {"net", 0, "MODE", "none (loopback only, default), slirp (user-mode network) or host", set_net},
    {"share-net", 0, NULL, "the same as --net host (kept for compatibility)", set_share_net_alias},
    {"dns", 0, "ADDR[:PORT]", "--net slirp: resolver behind 10.0.2.3 (default: the host's)",
     set_dns},
    {"publish", 'p', "[ADDR:]HP:P[/udp]",
     "--net slirp: forward host ADDR:HPORT (default 127.0.0.1) to PORT inside", set_publish},
    {"allow-host-loopback", 0, NULL, "--net slirp: let 10.0.2.2 reach the host's 127.0.0.1",
     set_allow_host_loopback},
    {"allow-net", 0, "RULE",
     "--net slirp: allow only CIDR[:PORT] or HOSTNAME[:PORT] outbound (repeatable)", set_allow_net},

    /* ---- cgroups, limits, timeout, report (issue 5) ---- */
    {"memory", 0, "SIZE", "limit memory (64M, 1G): the sandbox is OOM-killed above it",
     limits_set_memory},
    {"memory-swap", 0, "SIZE", "limit memory plus swap (at least --memory)",
     limits_set_memory_swap},
    {"pids", 0, "N", "limit the number of processes and threads", limits_set_pids},
    {"cpus", 0, "N.N", "limit CPU time to N.N CPUs' worth (a quota)", limits_set_cpus},
    {"cpu-weight", 0, "N", "CPU share against siblings, 1-10000 (default 100)",
     limits_set_cpu_weight},
    {"io-weight", 0, "N", "block I/O share against siblings, 1-10000 (default 100)",
     limits_set_io_weight},
    {"timeout", 0, "DURATION", "SIGTERM after DURATION (30s, 500ms, 2m), kill all 2s later",
     limits_set_timeout},
    {"rlimit", 0, "NAME=SOFT[:HARD]", "set an rlimit (nofile, nproc, fsize, core, cpu, as...)",
     limits_set_rlimit},
    {"report", 0, "FILE|-", "write a JSON run report to FILE (- for stderr) at the end",
     limits_set_report},
    {"cgroup-parent", 0, "PATH", "create the sandbox's cgroup under PATH (a cgroup path)",
     limits_set_cgroup_parent},

    /* ---- images and overlays (issue 7) ---- */
    {"rootfs", 0, "DIR", "use DIR as the root, read-only, under a throw-away writable layer",
     set_rootfs},
    {"persist", 0, "DIR", "keep the root's writable layer in DIR (with --rootfs or --image)",
     set_persist},
    {"overlay", 0, "PATH", "give host directory PATH a writable layer thrown away at exit",
     set_overlay},
    {"overlay-driver", 0, "DRIVER", "kernel, fuse or auto (default): the overlay driver to use",
     set_overlay_driver},
    {"image", 0, "IMAGE", "run from an imported image (see 'hutch image'); COMMAND is optional",
     set_image},
    {"max-image-size", 0, "SIZE",
     "image import: write at most SIZE into the store (default 8G); JSON files at most 16M",
     set_max_image_size, OPT_IMPORT | OPT_CLI_ONLY},

    /* ---- policies (issue 6) ---- */
    {"policy", 0, "NAME|PATH", "apply a policy file first (repeatable); see hutch-policy(5)",
     set_policy, OPT_FIRST | OPT_CLI_ONLY},
    {"dry-run", 0, NULL, "print the plan (namespaces, ids, mounts...) and run nothing", set_dry_run,
     OPT_CLI_ONLY},
    {"bind-try", 0, "SRC[:DST]", "like --bind, skipped when SRC does not exist", set_bind_try, 0},
    {"ro-bind-try", 0, "SRC[:DST]", "like --ro-bind, skipped when SRC does not exist",
     set_ro_bind_try, 0},
    {"dev-bind", 0, "SRC[:DST]", "bind SRC read-write with its device nodes usable (/dev/dri)",
     set_dev_bind, 0},
    {"dev-bind-try", 0, "SRC[:DST]", "like --dev-bind, skipped when SRC does not exist",
     set_dev_bind_try, 0},
    {"display", 0, NULL, "give the Wayland socket, or else the X11 one of $DISPLAY", set_display,
     0},
    {"audio", 0, NULL, "give the PipeWire and PulseAudio sockets that exist", set_audio, 0},
    {"dbus-talk", 0, "NAME",
     "session bus through xdg-dbus-proxy, talking to NAME only (repeatable)", set_dbus_talk, 0},

    {"help", 'h', NULL, "show this help", NULL, OPT_CLI_ONLY},
};

/* Levenshtein distance, to suggest the option the user probably meant. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

	if (lb >= ARRAY_SIZE(prev))
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, sizeof(cur));
	}
	return prev[lb];
}

const char *options_suggest(const char *given)
{
	const char *best = NULL;
	size_t best_d = 3; /* only suggest close matches */

	for (size_t i = 0; i < ARRAY_SIZE(run_options); i++) {
		size_t d = distance(given, run_options[i].name);
		if (d < best_d) {
			best_d = d;
			best = run_options[i].name;
		}
	}
	return best;
}

static int unknown_option(const char *given, struct herr *e)
{
	const char *best = options_suggest(given);

	if (best)
		return herr_set(e, 0, "unknown option '--%s' (did you mean '--%s'?)", given, best);
	herr_set(e, 0, "unknown option '--%s'", given);
	return herr_hint(e, "see 'hutch run --help'");
}

const struct option_def *options_table(size_t *n)
{
	*n = ARRAY_SIZE(run_options);
	return run_options;
}

static const struct option_def *find_long(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(run_options); i++)
		if (strlen(run_options[i].name) == len &&
		    strncmp(run_options[i].name, name, len) == 0)
			return &run_options[i];
	return NULL;
}

const struct option_def *options_find(const char *name)
{
	return find_long(name, strlen(name));
}

static const struct option_def *find_short(char c)
{
	for (size_t i = 0; i < ARRAY_SIZE(run_options); i++)
		if (run_options[i].short_name == c)
			return &run_options[i];
	return NULL;
}

int options_apply(struct plan *p, const struct option_def *o, const char *value, struct herr *e)
{
	if (o->arg && !value)
		return herr_set(e, 0, "option '--%s' needs an argument %s", o->name, o->arg);
	if (!o->arg && value)
		return herr_set(e, 0, "option '--%s' takes no argument", o->name);
	return o->set(p, o->name, value, e);
}

/* Which options a pass over the command line applies. */
typedef bool (*pass_filter)(const struct option_def *o);

static bool no_pass(const struct option_def *o)
{
	return false;
}

static bool first_pass(const struct option_def *o)
{
	return o->flags & OPT_FIRST;
}

static bool second_pass(const struct option_def *o)
{
	return !(o->flags & OPT_FIRST);
}

/* Walk the options before the command, applying those the filter takes. */
static enum parse_result walk(struct plan *p, int argc, char **argv, int *cmd_index,
			      pass_filter take, struct herr *e)
{
	int i = 0;

	while (i < argc) {
		const char *a = argv[i], *value = NULL, *eq;
		const struct option_def *o;

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == 0)
			break; /* the command starts here */
		if (a[1] == '-') {
			eq = strchr(a + 2, '=');
			o = find_long(a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2));
			if (!o) {
				_cleanup_free_ char *name = xstrdup(a + 2);
				if (eq)
					name[eq - a - 2] = 0;
				unknown_option(name, e);
				return PARSE_ERROR;
			}
			if (eq)
				value = eq + 1;
		} else {
			o = a[2] == 0 ? find_short(a[1]) : NULL;
			if (!o) {
				herr_set(e, 0, "unknown option '%s'", a);
				herr_hint(e, "see 'hutch run --help'");
				return PARSE_ERROR;
			}
		}
		i++;
		if (o->flags & OPT_IMPORT) {
			herr_set(e, 0,
				 "option '--%s' is one of 'hutch image import', not of 'hutch run'",
				 o->name);
			return PARSE_ERROR;
		}
		if (!o->set)
			return PARSE_HELP;
		if (o->arg && !value) {
			if (i >= argc) {
				herr_set(e, 0, "option '--%s' needs an argument %s", o->name,
					 o->arg);
				return PARSE_ERROR;
			}
			value = argv[i++];
		}
		if (take(o) && options_apply(p, o, value, e) < 0)
			return PARSE_ERROR;
	}
	*cmd_index = i; /* argc when no command: --image may supply one */
	return PARSE_OK;
}

enum parse_result options_parse_run(struct plan *p, int argc, char **argv, int *cmd_index,
				    struct herr *e)
{
	enum parse_result r;

	/* Find the command first, for $APP in policies: a pass that applies nothing. */
	r = walk(p, argc, argv, cmd_index, no_pass, e);
	if (r != PARSE_OK)
		return r;
	if (*cmd_index < argc && argv[*cmd_index][0]) {
		const char *slash = strrchr(argv[*cmd_index], '/');

		const char *base = slash ? slash + 1 : argv[*cmd_index];

		/* "." or ".." would make $HOME/.../homes/$APP a way out of the homes directory */
		free(p->app);
		p->app = strcmp(base, ".") && strcmp(base, "..") && base[0] ? xstrdup(base) : NULL;
	}
	/* Policies first, wherever they stand: options on the command line override them. */
	r = walk(p, argc, argv, cmd_index, first_pass, e);
	if (r != PARSE_OK)
		return r;
	r = walk(p, argc, argv, cmd_index, second_pass, e);
	if (r == PARSE_OK && seccomp_with_caps(p, e) < 0)
		return PARSE_ERROR;
	if (r == PARSE_OK && *cmd_index >= argc && !p->image) {
		herr_set(e, 0, "no command given");
		herr_hint(e, "usage: hutch run [OPTIONS] [--] COMMAND [ARG...]");
		return PARSE_ERROR;
	}
	return r;
}

int options_parse_import(struct plan *p, int argc, char **argv, int *arg_index, struct herr *e)
{
	int i = 0;

	while (i < argc && argv[i][0] == '-' && argv[i][1] == '-') {
		const char *a = argv[i++] + 2, *eq = strchr(a, '=');
		const struct option_def *o =
		    a[0] ? find_long(a, eq ? (size_t)(eq - a) : strlen(a)) : NULL;
		const char *value = eq ? eq + 1 : NULL;

		if (!a[0])
			break; /* "--" */
		if (!o || !(o->flags & OPT_IMPORT)) {
			herr_set(e, 0, "image import: unknown option '%s'", argv[i - 1]);
			return herr_hint(e, "its one option is --max-image-size SIZE");
		}
		if (!value && i < argc)
			value = argv[i++];
		if (options_apply(p, o, value, e) < 0)
			return -1;
	}
	*arg_index = i;
	return 0;
}

void options_print_help(FILE *out)
{
	fputs("Usage: hutch run [OPTIONS] [--] COMMAND [ARG...]\n\n"
	      "Run COMMAND in a rootless sandbox: its own user, pid, mount, ipc, uts, net, cgroup\n"
	      "and time namespaces, a private root with the host's /usr and /etc read-only, no\n"
	      "capabilities. See hutch(1).\n\nOptions:\n",
	      out);
	for (size_t i = 0; i < ARRAY_SIZE(run_options); i++) {
		const struct option_def *o = &run_options[i];
		char left[64];

		if (o->flags & OPT_IMPORT)
			continue; /* hutch image's usage names it */
		snprintf(left, sizeof(left), "%s%c%s--%s%s%s", o->short_name ? "-" : "",
			 o->short_name ? o->short_name : ' ', o->short_name ? ", " : "  ", o->name,
			 o->arg ? " " : "", o->arg ? o->arg : "");
		fprintf(out, "  %-26s %s\n", o->short_name ? left : left + 1, o->help);
	}
}
