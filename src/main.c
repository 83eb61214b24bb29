#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "options.h"
#include "plan.h"
#include "sandbox.h"

static void usage(FILE *out)
{
	fputs("Usage: hutch run [OPTIONS] [--] COMMAND [ARG...]\n"
	      "       hutch --help | --version\n\n"
	      "hutch runs COMMAND in a rootless sandbox. 'hutch run --help' lists the options;\n"
	      "hutch(1) explains them.\n",
	      out);
}

static int cmd_run(int argc, char **argv)
{
	struct herr e = {0};
	struct plan p;
	int cmd = 0, status;

	plan_init(&p);
	switch (options_parse_run(&p, argc, argv, &cmd, &e)) {
	case PARSE_HELP:
		options_print_help(stdout);
		plan_free(&p);
		return 0;
	case PARSE_ERROR:
		herr_report(&e);
		plan_free(&p);
		return EXIT_SETUP;
	case PARSE_OK:
		break;
	}
	p.argv = argv + cmd;
	status = sandbox_run(&p, &e);
	if (status < 0) {
		herr_report(&e);
		status = e.exit_code ? e.exit_code : EXIT_SETUP;
	}
	plan_free(&p);
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_SETUP;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 2, argv + 2);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("hutch %s\n", HUTCH_VERSION);
		return 0;
	}
	fprintf(stderr, "hutch: unknown command '%s'; see 'hutch --help'\n", argv[1]);
	return EXIT_SETUP;
}
