/* The one option table: it drives command-line parsing and --help (and, later, policy files). */
#pragma once
#include <stdio.h>

#include "errors.h"
#include "plan.h"

/* One row of the option table. Policy files use the same rows: a setting is a long option
 * without its dashes. */
struct option_def {
	const char *name; /* long name without dashes */
	char short_name;  /* 0: none */
	const char *arg;  /* argument placeholder for --help; NULL: a flag */
	const char *help;
	int (*set)(struct plan *p, const char *opt, const char *arg, struct herr *e);
	unsigned flags; /* OPT_* */
};

enum {
	OPT_CLI_ONLY = 1, /* not a policy-file setting (help, policy, dry-run) */
	OPT_FIRST = 2,	  /* applied before every other option (policy): those override it */
	OPT_IMPORT = 4,	  /* an option of `hutch image import`, not of `hutch run` */
};

/* Apply one option to the plan: checks that a value is there exactly when one is needed. */
int options_apply(struct plan *p, const struct option_def *o, const char *value, struct herr *e);

/* The table, for --help, policy files, completion and the man-page test. */
const struct option_def *options_table(size_t *n);
/* The row for a long name, or NULL. */
const struct option_def *options_find(const char *name);
/* The closest long name (for "did you mean"), or NULL when none is close. */
const char *options_suggest(const char *name);

enum parse_result {
	PARSE_OK,    /* plan filled; argv[*cmd_index] is the command */
	PARSE_HELP,  /* --help was asked for */
	PARSE_ERROR, /* e says what is wrong */
};

/* Parse the options of `hutch run` from argv[0..argc) (argv[0] is the first option). */
enum parse_result options_parse_run(struct plan *p, int argc, char **argv, int *cmd_index,
				    struct herr *e);
/* The options of `hutch image import` (OPT_IMPORT rows), from argv[0]; *arg_index: SOURCE. */
int options_parse_import(struct plan *p, int argc, char **argv, int *arg_index, struct herr *e);
void options_print_help(FILE *out);
/* "12K", "64M", "1G" -> bytes. Shared with every option that takes a size. */
int parse_size(const char *s, unsigned long long *out);
/* The other way: bytes -> "8G", "1536K", "100" (the largest unit that divides it). */
void format_size(unsigned long long v, char out[32]);
