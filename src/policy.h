/* Policy files: plain text, one setting a line, each setting a long option of `hutch run` without
 * its dashes, so the command line and policy files share one grammar and one option table.
 * See hutch-policy(5). */
#pragma once
#include <stdio.h>

#include "errors.h"
#include "plan.h"

/* --policy NAME|PATH: apply every setting of the policy to the plan, in order. */
int policy_apply(struct plan *p, const char *name, struct herr *e);
/* The same for a policy's text (LABEL: its name in messages, and the base of its relative
 * includes): the parser without the file it was read from (tests/fuzz/fuzz_policy.c). */
int policy_apply_text(struct plan *p, const char *label, const char *text, struct herr *e);
/* hutch policy show NAME: print the fully resolved settings (includes and variables done). */
int policy_show(const char *name, FILE *out, struct herr *e);
/* hutch policy list: the names that --policy finds, with where each comes from. */
void policy_list(FILE *out);
