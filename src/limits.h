/* Resource limits: parsing the limit options into the plan, and the rlimits applied inside. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "errors.h"
#include "plan.h"

/* Option setters for the table in options.c (they parse; nothing here touches the OS). */
int limits_set_memory(struct plan *p, const char *opt, const char *arg, struct herr *e);
int limits_set_memory_swap(struct plan *p, const char *opt, const char *arg, struct herr *e);
int limits_set_pids(struct plan *p, const char *opt, const char *arg, struct herr *e);
int limits_set_cpus(struct plan *p, const char *opt, const char *arg, struct herr *e);
int limits_set_cpu_weight(struct plan *p, const char *opt, const char *arg, struct herr *e);
int limits_set_io_weight(struct plan *p, const char *opt, const char *arg, struct herr *e);
int limits_set_timeout(struct plan *p, const char *opt, const char *arg, struct herr *e);
int limits_set_rlimit(struct plan *p, const char *opt, const char *arg, struct herr *e);
int limits_set_report(struct plan *p, const char *opt, const char *arg, struct herr *e);
int limits_set_cgroup_parent(struct plan *p, const char *opt, const char *arg, struct herr *e);
/* Checks across options, once all are parsed. */
int limits_check(const struct plan *p, struct herr *e);

/*
 * The defaults every sandbox runs under unless --memory/--pids (or a policy) say otherwise, or
 * say max. Where the sandbox's cgroup has the controller, the cgroup enforces them (pids.max,
 * memory.max or memory.limit_in_bytes). Without one, the kernel's per-user-namespace counters
 * stand in: RLIMIT_NPROC counts the tasks of the sandbox's uid in its own user namespace
 * (ucounts, kernel >= 5.14), so the host's processes of the same user never use it up, and
 * RLIMIT_DATA bounds the private writable memory of each process (see SECURITY.md for what that
 * leaves out).
 */
#define PIDS_DEFAULT 4096
/* memory: half of the RAM, or half of the delegated parent cgroup's limit where that is lower */
#define MEMORY_DEFAULT_SHARE 2
/* A tmpfs without a size: half the memory limit, at most this (ENOSPC before an OOM kill). */
#define TMPFS_DEFAULT_MAX (1ULL << 30)
#define TMPFS_DEFAULT_MIN (64ULL << 10)

/* The limits in force for one sandbox, resolved once in the monitor before the clone. */
struct bounds {
	uint64_t memory;		 /* bytes; 0: none */
	uint64_t pids;			 /* tasks; 0: none */
	uint64_t tmpfs;			 /* the size of a tmpfs hutch mounts without a size */
	bool memory_cgroup, pids_cgroup; /* enforced by the cgroup; else by RLIMIT_DATA/NPROC */
};

/* memory_cg, pids_cg: the sandbox's cgroup holds that controller; parent_memory: the lowest
 * memory limit above the sandbox's cgroup (0: none known). */
void limits_resolve(const struct plan *p, bool memory_cg, bool pids_cg, uint64_t parent_memory,
		    struct bounds *b);

/* In the init, before it forks the command: the rlimits that stand in for a missing cgroup,
 * then setrlimit for each --rlimit. b may be NULL (OCI exec: the container's limits hold). */
int limits_apply_rlimits(const struct plan *p, const struct bounds *b, struct herr *e);
/* The rlimit's name for messages and the report ("nofile"). */
const char *limits_rlimit_name(int resource);
