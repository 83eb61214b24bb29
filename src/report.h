/* --report: one JSON object about the finished run, for CI jobs and online judges. */
#pragma once
#include <stdbool.h>

#include "cgroup.h"
#include "errors.h"
#include "plan.h"

struct run_result {
	int status;	/* hutch's exit status */
	bool timed_out; /* --timeout fired */
	double wall_s;	/* from the start of the sandbox to its end */
	struct cg_stats stats;
	const struct bounds *bounds; /* the limits in force (limits.h) */
	const char *error;	     /* why the sandbox could not be built, or NULL */
};

/* Write the report to plan->report ("-": stderr). */
int report_write(const struct plan *p, const struct cgroup *cg, const struct run_result *r,
		 struct herr *e);
