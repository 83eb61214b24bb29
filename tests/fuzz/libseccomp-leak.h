/* libseccomp 2.5.4 (Debian 12's) leaks rule-tree nodes when a rule on one argument overlaps
 * two earlier rules of the same call (getpriority: a0 == 0 && a1 == 2, then a1 == 0, then
 * a1 == 2): seccomp_release() frees the filter but not those nodes. It is libseccomp's alone
 * (a ten-line program of seccomp_rule_add calls shows it), costs a few hundred bytes once per
 * compiled profile, and hutch can do nothing about it, so LeakSanitizer is told to overlook
 * allocations of libseccomp's allocator; hutch's own leaks are still reported. The input that
 * shows it is corpus/seccomp_json/regress-libseccomp-leak. */
#pragma once

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:zmalloc\n";
}
