/* Resource limits: parsing the limit options into the plan, and the rlimits applied inside. */
#pragma once
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

/* In the init, before it forks the command: setrlimit for each --rlimit. */
int limits_apply_rlimits(const struct plan *p, struct herr *e);
/* The rlimit's name for messages and the report ("nofile"). */
const char *limits_rlimit_name(int resource);
