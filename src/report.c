#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "limits.h"
#include "util.h"

/* Microseconds are all the precision these numbers have. */
static json_object *seconds(double v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.6f", v);
	return json_object_new_double_s(v, buf);
}

static json_object *num_or_null(int64_t v)
{
	return v < 0 ? NULL : json_object_new_int64(v);
}

/* What enforces a limit: the cgroup, or the rlimit that stands in for it (limits.h). */
static json_object *by(bool cgroup, const char *rlimit)
{
	return json_object_new_string(cgroup ? "cgroup" : rlimit);
}

static json_object *limits_json(const struct plan *p, const struct bounds *b)
{
	json_object *o = json_object_new_object(), *rl = json_object_new_object();

	if (b->memory) {
		json_object_object_add(o, "memory_bytes",
				       json_object_new_int64((int64_t)b->memory));
		json_object_object_add(o, "memory_by", by(b->memory_cgroup, "rlimit data"));
	}
	if (p->memory_swap)
		json_object_object_add(o, "memory_swap_bytes",
				       json_object_new_int64((int64_t)p->memory_swap));
	if (b->pids) {
		json_object_object_add(o, "pids", json_object_new_int64((int64_t)b->pids));
		json_object_object_add(o, "pids_by", by(b->pids_cgroup, "rlimit nproc"));
	}
	json_object_object_add(o, "tmpfs_bytes", json_object_new_int64((int64_t)b->tmpfs));
	if (p->cpu_quota_us)
		json_object_object_add(
		    o, "cpus", json_object_new_double((double)p->cpu_quota_us / CPU_PERIOD_US));
	if (p->cpu_weight)
		json_object_object_add(o, "cpu_weight",
				       json_object_new_int64((int64_t)p->cpu_weight));
	if (p->io_weight)
		json_object_object_add(o, "io_weight",
				       json_object_new_int64((int64_t)p->io_weight));
	if (p->timeout_ms)
		json_object_object_add(o, "timeout_s",
				       json_object_new_double((double)p->timeout_ms / 1000));
	for (size_t i = 0; i < p->n_rlimits; i++) {
		json_object *pair = json_object_new_array();
		const struct rlimit_req *r = &p->rlimits[i];
		json_object_array_add(pair, r->soft == RLIM_INFINITY
						? json_object_new_string("unlimited")
						: json_object_new_int64((int64_t)r->soft));
		json_object_array_add(pair, r->hard == RLIM_INFINITY
						? json_object_new_string("unlimited")
						: json_object_new_int64((int64_t)r->hard));
		json_object_object_add(rl, limits_rlimit_name(r->resource), pair);
	}
	json_object_object_add(o, "rlimits", rl);
	return o;
}

static json_object *cgroups_json(const struct cgroup *cg)
{
	json_object *o = json_object_new_object();

	for (size_t i = 0; cg->active && i <= cg->n_v1; i++) {
		const struct cg_hier *h = i < cg->n_v1 ? &cg->v1[i] : &cg->v2;
		if (h->dir)
			json_object_object_add(o, h->name, json_object_new_string(h->dir));
	}
	return o;
}

static json_object *build(const struct plan *p, const struct cgroup *cg, const struct run_result *r)
{
	json_object *o = json_object_new_object();
	struct cg_stats s = r->stats;
	int sig = r->status > 128 && r->status < 128 + NSIG ? r->status - 128 : 0;
	struct rusage ru;

	/* Without a cgroup (none delegated, only --report asked), the kernel's account of
	 * the reaped children is the next best thing. */
	if (getrusage(RUSAGE_CHILDREN, &ru) == 0 && s.user_us < 0) {
		s.user_us = ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec;
		s.system_us = ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec;
	}
	json_object_object_add(o, "exit_code", json_object_new_int(r->status));
	json_object_object_add(o, "signal", sig ? json_object_new_int(sig) : NULL);
	json_object_object_add(o, "signal_name",
			       sig && sigabbrev_np(sig) ? json_object_new_string(sigabbrev_np(sig))
							: NULL);
	json_object_object_add(o, "timed_out", json_object_new_boolean(r->timed_out));
	json_object_object_add(o, "wall_time_s", seconds(r->wall_s));
	json_object_object_add(o, "user_cpu_s",
			       s.user_us < 0 ? NULL : seconds((double)s.user_us / 1e6));
	json_object_object_add(o, "system_cpu_s",
			       s.system_us < 0 ? NULL : seconds((double)s.system_us / 1e6));
	json_object_object_add(o, "peak_memory_bytes", num_or_null(s.memory_peak));
	json_object_object_add(o, "oom_kills", num_or_null(s.oom_kills));
	json_object_object_add(o, "peak_pids", num_or_null(s.pids_peak));
	json_object_object_add(o, "pids_limit_hits", num_or_null(s.pids_max_hits));
	if (r->error)
		json_object_object_add(o, "error", json_object_new_string(r->error));
	json_object_object_add(o, "limits", limits_json(p, r->bounds));
	json_object_object_add(o, "cgroups", cgroups_json(cg));
	return o;
}

int report_write(const struct plan *p, const struct cgroup *cg, const struct run_result *r,
		 struct herr *e)
{
	json_object *o;
	const char *text;
	_cleanup_close_ int fd = -1;
	int out = STDERR_FILENO;
	size_t len;

	if (!p->report)
		return 0;
	if (strcmp(p->report, "-") != 0) {
		fd = open(p->report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd < 0)
			return herr_set(e, errno, "--report %s", p->report);
		out = fd;
	}
	o = build(p, cg, r);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(text);
	if (write(out, text, len) != (ssize_t)len || write(out, "\n", 1) != 1) {
		json_object_put(o);
		return herr_set(e, errno, "--report %s: cannot write", p->report);
	}
	json_object_put(o);
	return 0;
}
