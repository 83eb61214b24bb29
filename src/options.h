/* The one option table: it drives command-line parsing and --help (and, later, policy files). */
#pragma once
#include <stdio.h>

#include "errors.h"
#include "plan.h"

enum parse_result {
	PARSE_OK,    /* plan filled; argv[*cmd_index] is the command */
	PARSE_HELP,  /* --help was asked for */
	PARSE_ERROR, /* e says what is wrong */
};

/* Parse the options of `hutch run` from argv[0..argc) (argv[0] is the first option). */
enum parse_result options_parse_run(struct plan *p, int argc, char **argv, int *cmd_index,
				    struct herr *e);
void options_print_help(FILE *out);
/* "12K", "64M", "1G" -> bytes. Shared with every option that takes a size. */
int parse_size(const char *s, unsigned long long *out);
