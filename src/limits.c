#include "limits.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>

#include "options.h"
#include "path.h"
#include "util.h"

static const struct {
	const char *name;
	int resource;
	bool size; /* takes K/M/G */
} rlimit_names[] = {
    {"as", RLIMIT_AS, true},
    {"core", RLIMIT_CORE, true},
    {"cpu", RLIMIT_CPU, false},
    {"data", RLIMIT_DATA, true},
    {"fsize", RLIMIT_FSIZE, true},
    {"memlock", RLIMIT_MEMLOCK, true},
    {"nofile", RLIMIT_NOFILE, false},
    {"nproc", RLIMIT_NPROC, false},
    {"stack", RLIMIT_STACK, true},
    {"sigpending", RLIMIT_SIGPENDING, false},
    {"msgqueue", RLIMIT_MSGQUEUE, true},
};

static int size_arg(const char *opt, const char *arg, uint64_t *out, struct herr *e)
{
	unsigned long long v;

	if (parse_size(arg, &v) < 0 || v == 0)
		return herr_set(e, 0, "--%s '%s': not a size; write it like 64M or 1G", opt, arg);
	*out = v;
	return 0;
}

static int count_arg(const char *opt, const char *arg, uint64_t lo, uint64_t hi, uint64_t *out,
		     struct herr *e)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (!isdigit((unsigned char)arg[0]) || errno || *end || v < lo || v > hi)
		return herr_set(e, 0, "--%s '%s': expected a whole number from %llu to %llu", opt,
				arg, (unsigned long long)lo, (unsigned long long)hi);
	*out = v;
	return 0;
}

int limits_set_memory(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	if (strcmp(arg, "max") == 0) {
		p->memory = LIMIT_MAX;
		return 0;
	}
	return size_arg(opt, arg, &p->memory, e);
}

int limits_set_memory_swap(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	return size_arg(opt, arg, &p->memory_swap, e);
}

int limits_set_pids(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	if (strcmp(arg, "max") == 0) {
		p->pids = LIMIT_MAX;
		return 0;
	}
	/* the init and the command are two processes already */
	return count_arg(opt, arg, 2, 4194304, &p->pids, e);
}

int limits_set_cpus(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (!isdigit((unsigned char)arg[0]) || errno || *end || !(v >= 0.01) || v > 4096)
		return herr_set(e, 0, "--%s '%s': expected a number of CPUs such as 0.5 or 2", opt,
				arg);
	p->cpu_quota_us = (uint64_t)(v * CPU_PERIOD_US + 0.5) /* v > 0: rounds */;
	return 0;
}

int limits_set_cpu_weight(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	return count_arg(opt, arg, 1, 10000, &p->cpu_weight, e);
}

int limits_set_io_weight(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	return count_arg(opt, arg, 1, 10000, &p->io_weight, e);
}

/* "90" (seconds), "1.5s", "500ms", "2m", "1h". */
int limits_set_timeout(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	static const struct {
		const char *suffix;
		double ms;
	} units[] = {{"", 1000}, {"s", 1000}, {"ms", 1}, {"m", 60000}, {"h", 3600000}};
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (isdigit((unsigned char)arg[0]) && !errno && v > 0)
		for (size_t i = 0; i < ARRAY_SIZE(units); i++)
			if (strcmp(end, units[i].suffix) == 0 && v * units[i].ms >= 1 &&
			    v * units[i].ms < 1e12) {
				p->timeout_ms = (uint64_t)(v * units[i].ms + 0.5);
				return 0;
			}
	return herr_set(e, 0, "--%s '%s': expected a duration such as 30s, 500ms, 2m or 1h", opt,
			arg);
}

static int rlimit_value(const char *opt, const char *arg, const char *s, bool size, uint64_t *out,
			struct herr *e)
{
	unsigned long long v;
	char *end;

	if (strcmp(s, "unlimited") == 0 || strcmp(s, "infinity") == 0) {
		*out = RLIM_INFINITY;
		return 0;
	}
	errno = 0;
	if (size ? parse_size(s, &v) == 0
		 : (isdigit((unsigned char)s[0]) && (v = strtoull(s, &end, 10), !errno && !*end))) {
		*out = v;
		return 0;
	}
	return herr_set(e, 0, "--%s '%s': '%s' is not a %s or 'unlimited'", opt, arg, s,
			size ? "size (64M)" : "number");
}

int limits_set_rlimit(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	_cleanup_free_ char *name = xstrdup(arg);
	char *eq = strchr(name, '='), *colon;
	struct rlimit_req r;
	size_t i;

	if (!eq)
		return herr_set(e, 0, "--%s '%s': expected NAME=SOFT[:HARD], e.g. nofile=256", opt,
				arg);
	*eq = 0;
	for (i = 0; i < ARRAY_SIZE(rlimit_names); i++)
		if (strcasecmp(name, rlimit_names[i].name) == 0 ||
		    (strncasecmp(name, "RLIMIT_", 7) == 0 &&
		     strcasecmp(name + 7, rlimit_names[i].name) == 0))
			break;
	if (i == ARRAY_SIZE(rlimit_names)) {
		herr_set(e, 0, "--%s '%s': unknown resource '%s'", opt, arg, name);
		return herr_hint(e, "use nofile, nproc, fsize, core, cpu, as, stack, data, "
				    "memlock, sigpending or msgqueue");
	}
	colon = strchr(eq + 1, ':');
	if (colon)
		*colon = 0;
	r.resource = rlimit_names[i].resource;
	if (rlimit_value(opt, arg, eq + 1, rlimit_names[i].size, &r.soft, e) < 0 ||
	    rlimit_value(opt, arg, colon ? colon + 1 : eq + 1, rlimit_names[i].size, &r.hard, e) <
		0)
		return -1;
	if (r.soft > r.hard)
		return herr_set(e, 0, "--%s '%s': the soft limit is above the hard one", opt, arg);
	p->rlimits = xreallocarray(p->rlimits, p->n_rlimits + 1, sizeof(*p->rlimits));
	p->rlimits[p->n_rlimits++] = r;
	return 0;
}

int limits_set_report(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	if (arg[0] == 0)
		return herr_set(e, 0, "--%s: give a file name, or - for stderr", opt);
	free(p->report);
	p->report = xstrdup(arg);
	return 0;
}

int limits_set_cgroup_parent(struct plan *p, const char *opt, const char *arg, struct herr *e)
{
	/* "/user/.." too: joined to a hierarchy's mount it would climb out of it */
	if (arg[0] != '/' || path_has_dot_component(arg))
		return herr_set(e, 0,
				"--%s '%s': expected an absolute cgroup path as /proc/self/cgroup "
				"shows it, such as /user/jobs",
				opt, arg);
	free(p->cgroup_parent);
	p->cgroup_parent = xstrdup(arg);
	return 0;
}

int limits_check(const struct plan *p, struct herr *e)
{
	if (p->memory_swap && !plan_memory_given(p))
		return herr_set(e, 0, "--memory-swap needs --memory (it is memory plus swap)");
	if (p->memory_swap && p->memory_swap < p->memory)
		return herr_set(e, 0,
				"--memory-swap must be at least --memory (it is memory plus "
				"swap)");
	/* tmpfs pages are charged to the sandbox's memory: a tmpfs as large as the limit would
	 * end in an OOM kill of the whole job where a full disk should say ENOSPC */
	for (size_t i = 0; i < p->n_mounts && plan_memory_given(p); i++)
		if (p->mounts[i].kind == MOUNT_TMPFS && p->mounts[i].size >= p->memory) {
			herr_set(e, 0, "--tmpfs %s: its size is not below --memory %llu bytes",
				 p->mounts[i].dst, (unsigned long long)p->memory);
			return herr_hint(e,
					 "give the tmpfs a size below the memory limit (files in "
					 "it count as the sandbox's memory)");
		}
	return 0;
}

static uint64_t ram_bytes(void)
{
	struct sysinfo si;

	return sysinfo(&si) == 0 ? (uint64_t)si.totalram * si.mem_unit : 0;
}

void limits_resolve(const struct plan *p, bool memory_cg, bool pids_cg, uint64_t parent_memory,
		    struct bounds *b)
{
	uint64_t base = ram_bytes();

	if (memory_cg && parent_memory && (!base || parent_memory < base))
		base = parent_memory;
	*b = (struct bounds){0};
	b->memory = p->memory ? p->memory : base / MEMORY_DEFAULT_SHARE;
	if (p->memory == LIMIT_MAX)
		b->memory = 0;
	b->pids = p->pids ? p->pids : PIDS_DEFAULT;
	if (p->pids == LIMIT_MAX)
		b->pids = 0;
	b->memory_cgroup = memory_cg && b->memory;
	b->pids_cgroup = pids_cg && b->pids;
	b->tmpfs = TMPFS_DEFAULT_MAX;
	if (b->memory && b->memory / 2 < b->tmpfs)
		b->tmpfs = b->memory / 2 & ~(uint64_t)4095; /* whole pages: kernels round the rest
							     * differently (6.1 up, 6.18 not) */
	/* never 0: to the kernel, a tmpfs of size 0 has no limit at all */
	if (b->tmpfs < TMPFS_DEFAULT_MIN)
		b->tmpfs = TMPFS_DEFAULT_MIN;
}

const char *limits_rlimit_name(int resource)
{
	for (size_t i = 0; i < ARRAY_SIZE(rlimit_names); i++)
		if (rlimit_names[i].resource == resource)
			return rlimit_names[i].name;
	return "?";
}

static bool rlimit_given(const struct plan *p, int resource)
{
	for (size_t i = 0; i < p->n_rlimits; i++)
		if (p->rlimits[i].resource == resource)
			return true;
	return false;
}

/* Soft and hard alike: a soft limit alone the sandbox could raise again itself. Never above the
 * hard limit hutch itself runs under (that one only root may raise). */
static int stand_in(const struct plan *p, int resource, uint64_t v, struct herr *e)
{
	struct rlimit rl;

	if (!v || rlimit_given(p, resource) || getrlimit(resource, &rl) < 0)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < v)
		v = rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = v;
	if (setrlimit(resource, &rl) < 0)
		return herr_set(e, errno, "cannot set the sandbox's default RLIMIT_%s",
				resource == RLIMIT_NPROC ? "NPROC" : "DATA");
	return 0;
}

int limits_apply_rlimits(const struct plan *p, const struct bounds *b, struct herr *e)
{
	/* no cgroup holds the default limits: the kernel's per-user-namespace counters do */
	if (b && ((!b->pids_cgroup && stand_in(p, RLIMIT_NPROC, b->pids, e) < 0) ||
		  (!b->memory_cgroup && stand_in(p, RLIMIT_DATA, b->memory, e) < 0)))
		return -1;
	for (size_t i = 0; i < p->n_rlimits; i++) {
		const struct rlimit_req *r = &p->rlimits[i];
		struct rlimit rl = {.rlim_cur = r->soft, .rlim_max = r->hard};

		if (setrlimit(r->resource, &rl) < 0) {
			herr_set(e, errno, "--rlimit %s", limits_rlimit_name(r->resource));
			/* CAP_SYS_RESOURCE in the sandbox's user namespace does not count */
			return herr_hint(e, errno == EPERM
						? "a hard limit can only be lowered; check "
						  "'ulimit -H' in your shell"
						: "check the value");
		}
	}
	return 0;
}
