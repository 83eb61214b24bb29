/* cgroup v2: one unified tree; every controller's files in the sandbox's one cgroup. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"

int cgroup_v2_limits(const struct plan *p, const struct bounds *b, const struct cg_hier *h,
		     struct herr *e)
{
	const char *file = NULL;
	int r = 0;

	if ((h->ctrls & CG_MEMORY) && b->memory) {
		r = cg_write(h->fd, file = "memory.max", "%llu", (unsigned long long)b->memory);
		/* v2 counts swap apart from memory; --memory-swap is the sum, as in Docker */
		if (!r && p->memory_swap)
			r = cg_write(h->fd, file = "memory.swap.max", "%llu",
				     (unsigned long long)(p->memory_swap - p->memory));
	}
	if (!r && (h->ctrls & CG_PIDS) && b->pids)
		r = cg_write(h->fd, file = "pids.max", "%llu", (unsigned long long)b->pids);
	if (!r && (h->ctrls & CG_CPU) && p->cpu_quota_us)
		r = cg_write(h->fd, file = "cpu.max", "%llu %d",
			     (unsigned long long)p->cpu_quota_us, CPU_PERIOD_US);
	if (!r && (h->ctrls & CG_CPU) && p->cpu_weight)
		r = cg_write(h->fd, file = "cpu.weight", "%llu", (unsigned long long)p->cpu_weight);
	if (!r && (h->ctrls & CG_IO) && p->io_weight)
		r = cg_write(h->fd, file = "io.weight", "default %llu",
			     (unsigned long long)p->io_weight);
	if (r < 0)
		return herr_set(e, errno, "cannot write %s in %s", file, h->dir);
	return 0;
}

static bool populated(const struct cg_hier *h)
{
	return cg_keyed(h->fd, "cgroup.events", "populated") != 0;
}

void cgroup_v2_kill(const struct cg_hier *h)
{
	/* cgroup.kill (5.14) kills the whole subtree at once, new forks included */
	if (cg_write(h->fd, "cgroup.kill", "1") < 0)
		return;
	for (int i = 0; i < 200 && populated(h); i++)
		nanosleep(&(struct timespec){0, 2000000}, NULL);
}

void cgroup_v2_stats(const struct cg_hier *h, struct cg_stats *s)
{
	s->user_us = cg_keyed(h->fd, "cpu.stat", "user_usec");
	s->system_us = cg_keyed(h->fd, "cpu.stat", "system_usec");
	if (h->ctrls & CG_MEMORY) {
		s->memory_peak = cg_number(h->fd, "memory.peak");
		s->oom_kills = cg_keyed(h->fd, "memory.events", "oom_kill");
	}
	if (h->ctrls & CG_PIDS) {
		int64_t leaf = cg_keyed(h->leaf, "pids.events", "max");

		s->pids_peak = cg_number(h->fd, "pids.peak");
		s->pids_max_hits = cg_keyed(h->fd, "pids.events", "max");
		if (leaf > s->pids_max_hits)
			s->pids_max_hits = leaf; /* see cgroup_v1_stats */
	}
}
