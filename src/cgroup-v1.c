/* cgroup v1: one hierarchy per controller (or per group of controllers). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"

static int put(const struct cg_hier *h, const char *file, unsigned long long v, struct herr *e)
{
	if (cg_write(h->fd, file, "%llu", v) < 0)
		return herr_set(e, errno, "cannot write %llu to %s/%s", v, h->dir, file);
	return 0;
}

int cgroup_v1_limits(const struct plan *p, const struct bounds *b, const struct cg_hier *h,
		     struct herr *e)
{
	if ((h->ctrls & CG_MEMORY) && b->memory) {
		if (put(h, "memory.limit_in_bytes", b->memory, e) < 0)
			return -1;
		/* memsw only exists with swap accounting; without it swap is not limited here, so
		 * say so rather than pretend */
		if (p->memory_swap && put(h, "memory.memsw.limit_in_bytes", p->memory_swap, e) < 0)
			return herr_hint(e, "the kernel needs swap accounting (swapaccount=1)");
	}
	if ((h->ctrls & CG_PIDS) && b->pids && put(h, "pids.max", b->pids, e) < 0)
		return -1;
	if ((h->ctrls & CG_CPU) && p->cpu_quota_us &&
	    (put(h, "cpu.cfs_period_us", CPU_PERIOD_US, e) < 0 ||
	     put(h, "cpu.cfs_quota_us", p->cpu_quota_us, e) < 0))
		return -1;
	/* v2's weight 1..10000 (default 100) onto v1's shares (default 1024), linearly so
	 * that the defaults meet */
	if ((h->ctrls & CG_CPU) && p->cpu_weight &&
	    put(h, "cpu.shares", p->cpu_weight * 1024 / 100 < 2 ? 2 : p->cpu_weight * 1024 / 100,
		e) < 0)
		return -1;
	if ((h->ctrls & CG_IO) && p->io_weight) {
		/* blkio weights run 10..1000 (bfq: 1..1000), default 100 */
		unsigned long long w = p->io_weight / 10 < 10 ? 10 : p->io_weight / 10;
		const char *f = cg_has(h->fd, "blkio.weight") ? "blkio.weight" : "blkio.bfq.weight";
		if (w > 1000)
			w = 1000;
		if (put(h, f, w, e) < 0)
			return -1;
	}
	return 0;
}

static bool frozen(const struct cg_hier *h)
{
	char buf[32];

	return cg_read(h->fd, "freezer.state", buf, sizeof(buf)) > 0 &&
	       strncmp(buf, "FROZEN", 6) == 0;
}

/* Kill every pid in cgroup.procs; true when there were none. */
static bool kill_listed(const struct cg_hier *h)
{
	char buf[8192];
	bool empty = true;

	if (cg_read(h->leaf, "cgroup.procs", buf, sizeof(buf)) < 0)
		return true;
	for (char *s = buf; *s;) {
		char *end;
		long pid = strtol(s, &end, 10);
		if (end == s)
			break;
		kill((pid_t)pid, SIGKILL);
		empty = false;
		s = end;
	}
	return empty;
}

/* Freeze first, so that nothing can fork between reading cgroup.procs and the kills; then
 * kill each process and thaw, letting the SIGKILLs be taken. */
void cgroup_v1_kill(const struct cg_hier *h)
{
	bool freezer = h->ctrls & CG_FREEZER;

	for (int round = 0; round < 50; round++) {
		if (freezer) {
			cg_write(h->fd, "freezer.state", "FROZEN");
			for (int i = 0; i < 100 && !frozen(h); i++)
				nanosleep(&(struct timespec){0, 1000000}, NULL);
		}
		bool empty = kill_listed(h);
		if (freezer)
			cg_write(h->fd, "freezer.state", "THAWED");
		if (empty)
			return;
		nanosleep(&(struct timespec){0, 2000000}, NULL);
	}
}

void cgroup_v1_stats(const struct cg_hier *h, struct cg_stats *s)
{
	int64_t v;

	if (h->ctrls & CG_MEMORY) {
		s->memory_peak = cg_number(h->fd, "memory.max_usage_in_bytes");
		/* v1 counts a kill in the victim's own memcg (the leaf), not where the limit is */
		s->oom_kills = cg_keyed(h->leaf, "memory.oom_control", "oom_kill");
	}
	if ((h->ctrls & CG_PIDS) && s->pids_peak < 0) {
		int64_t leaf = cg_keyed(h->leaf, "pids.events", "max");

		s->pids_peak = cg_number(h->fd, "pids.peak");
		/* where the kernel counts a refused fork (the limit's cgroup or the forker's)
		 * changed over the versions: the larger count is the one */
		s->pids_max_hits = cg_keyed(h->fd, "pids.events", "max");
		if (leaf > s->pids_max_hits)
			s->pids_max_hits = leaf;
	}
	if ((h->ctrls & CG_CPUACCT) && s->user_us < 0 &&
	    (v = cg_number(h->fd, "cpuacct.usage_user")) >= 0) {
		s->user_us = v / 1000;
		s->system_us = cg_number(h->fd, "cpuacct.usage_sys") / 1000;
	}
}
