/*
 * The sandbox's own cgroup, on cgroup v2, v1 and hybrid hosts.
 *
 * The monitor finds the subtree delegated to the user (its current cgroup in each hierarchy, or
 * --cgroup-parent), creates hutch-<pid>-<random> there before the clone, and the init is born
 * in it (v2: clone3 with CLONE_INTO_CGROUP) or moved there before it gets GO (v1). Each limit
 * goes to the hierarchy that has its controller (on hybrid hosts memory and pids are v1, while
 * v2 still gives cgroup.kill and cpu.stat). The processes live in a leaf below the cgroup that
 * holds the limits, and the cgroup namespace is rooted at the leaf: even a sandbox that kept
 * CAP_SYS_ADMIN and mounted its own cgroupfs could not reach the files of its limits. At the end
 * everything in it is killed, its numbers read for the report, and the directories removed; a later
 * run removes what a launcher that died left behind. Without a limit, a timeout or a report, none
 * of this runs.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "errors.h"
#include "limits.h"
#include "plan.h"

enum {
	CG_MEMORY = 1 << 0,
	CG_PIDS = 1 << 1,
	CG_CPU = 1 << 2,
	CG_CPUACCT = 1 << 3,
	CG_IO = 1 << 4, /* blkio on v1 */
	CG_FREEZER = 1 << 5,
};

#define CG_V1_MAX 16

/* One mounted hierarchy, and the sandbox's cgroup in it once made. */
struct cg_hier {
	unsigned ctrls; /* CG_* bits (v1); on v2 the controllers available for the sandbox */
	char *mount;	/* where it is mounted */
	char *name;	/* v1: the mount's controller list ("cpu,cpuacct"); v2: "unified" */
	char *parent;	/* the directory the sandbox's cgroup is made in */
	char *dir;	/* the sandbox's cgroup; NULL: not used */
	int fd;		/* dir, opened: its limits, numbers and kill switch */
	int leaf;	/* dir/sandbox, opened: where the processes live */
};

struct cgroup {
	bool active;
	bool scope;    /* in a transient systemd scope: the delegation hutch may use */
	char name[64]; /* hutch-<pid>-<random> */
	bool has_v2;
	struct cg_hier v2;
	struct cg_hier v1[CG_V1_MAX];
	size_t n_v1;
};

struct cg_stats {
	int64_t user_us, system_us; /* -1: unknown */
	int64_t memory_peak;
	int64_t oom_kills;
	int64_t pids_peak;
	int64_t pids_max_hits; /* forks refused at the pids limit */
};

/* Monitor, before the clone: find the delegation, create the cgroups, write the limits, and
 * resolve the limits in force into b (those no cgroup holds are left to rlimits). Makes no
 * cgroup when the plan wants none, or when only default limits want one and none is
 * delegated. */
int cgroup_setup(const struct plan *p, struct cgroup *cg, struct bounds *b, struct herr *e);
/* The fd for clone3's CLONE_INTO_CGROUP, or -1 (no v2 cgroup). */
int cgroup_clone_fd(const struct cgroup *cg);
/* The init could not be cloned into the sandbox's v2 cgroup, though it could be without it:
 * the error, naming the cgroup and what to do for this errno. Returns -1. */
int cgroup_explain_clone_failure(const struct cgroup *cg, int err, struct herr *e);
/* Monitor, after GO: move the init into the v1 cgroups, then tell it (a second MSG_GO). */
int cgroup_attach(const struct cgroup *cg, pid_t pid, int sock, struct herr *e);
/* Init: wait until the monitor has moved it (no-op without v1 cgroups). */
int cgroup_await_attach(const struct cgroup *cg, int sock, struct herr *e);
/* Init, after GO: a cgroup namespace rooted at the sandbox's cgroup, and /sys/fs/cgroup showing
 * only that subtree, read-only. */
int cgroup_enter_namespace(const struct cgroup *cg, struct herr *e);
int cgroup_mount_view(const struct cgroup *cg, struct herr *e);
/* Kill every process in the sandbox's cgroup (v2 cgroup.kill; v1 freeze, kill, thaw). */
void cgroup_kill(const struct cgroup *cg);
void cgroup_read_stats(const struct cgroup *cg, struct cg_stats *s);
/* Kill what is left, remove the directories, free. Safe to call on an inactive cgroup. */
void cgroup_destroy(struct cgroup *cg);
/* In the init: it has no business holding the monitor's cgroup fds. */
void cgroup_close_fds(struct cgroup *cg);

/* ---- shared by cgroup.c, cgroup-v1.c and cgroup-v2.c ---- */
int cg_write(int dirfd, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Read a small file; returns its length or -1. */
ssize_t cg_read(int dirfd, const char *file, char *buf, size_t size);
/* "key value" lines (memory.events, cpu.stat): the value of key, or -1. */
int64_t cg_keyed(int dirfd, const char *file, const char *key);
/* A file holding one number, or -1. */
int64_t cg_number(int dirfd, const char *file);
/* Does the file exist in the directory? */
bool cg_has(int dirfd, const char *file);

int cgroup_v1_limits(const struct plan *p, const struct bounds *b, const struct cg_hier *h,
		     struct herr *e);
void cgroup_v1_kill(const struct cg_hier *h);
void cgroup_v1_stats(const struct cg_hier *h, struct cg_stats *s);
int cgroup_v2_limits(const struct plan *p, const struct bounds *b, const struct cg_hier *h,
		     struct herr *e);
void cgroup_v2_kill(const struct cg_hier *h);
void cgroup_v2_stats(const struct cg_hier *h, struct cg_stats *s);
/* Ask the user's systemd (session bus) for a transient scope NAME.scope with Delegate=yes
 * holding the calling process; 0 once we are in it, -1 where there is no such manager. */
int cgroup_systemd_scope(const char *name, bool verbose);
/* Which CG_* controllers the plan's limits need (the explicit ones; defaults only want). */
unsigned cgroup_needed(const struct plan *p);
