/* How the seccomp targets compile a profile that parsed. libseccomp 2.5.4 can loop for ever on
 * rules that test a range and another argument (src/seccomp-compile.c), so sc_compile runs it
 * in a child with a deadline; forking for every input would slow the fuzzer a hundredfold and
 * hide the compiler's coverage from it. So profiles without such a rule are compiled here, and
 * only those with one go through sc_compile's child. */
#pragma once
#include <seccomp.h>
#include <stdbool.h>

#include "seccomp.h"

static bool may_loop(const struct sc_profile *p)
{
	for (size_t i = 0; i < p->n_rules; i++)
		for (unsigned k = 0; p->rules[i].n_conds > 1 && k < p->rules[i].n_conds; k++)
			switch (p->rules[i].conds[k].op) {
			case SCMP_CMP_LT:
			case SCMP_CMP_LE:
			case SCMP_CMP_GT:
			case SCMP_CMP_GE:
				return true;
			default:
				break;
			}
	return false;
}

static int fuzz_compile(const struct sc_profile *p, const char *file, struct sc_filters *out,
			struct herr *e)
{
	return may_loop(p) ? sc_compile(p, file, out, e) : sc_compile_here(p, file, out, e);
}
