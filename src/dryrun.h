/* --dry-run: print the plan (namespaces, id maps, every mount, network, capabilities, the
 * environment's names) and run nothing. */
#pragma once
#include <stdio.h>

#include "plan.h"

int dryrun_print(const struct plan *p, FILE *out);
