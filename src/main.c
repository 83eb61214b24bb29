#include <stdio.h>
#include <string.h>

#include "completion.h"
#include "desktop.h"
#include "dryrun.h"
#include "errors.h"
#include "image.h"
#include "oci.h"
#include "options.h"
#include "plan.h"
#include "policy.h"
#include "sandbox.h"

static void usage(FILE *out)
{
	fputs("Usage: hutch run [OPTIONS] [--] COMMAND [ARG...]\n"
	      "       hutch image import [--max-image-size SIZE] SOURCE [NAME[:TAG]]\n"
	      "       hutch image ls | rm NAME | inspect NAME\n"
	      "       hutch policy show NAME | check FILE | list\n"
	      "       hutch [--root DIR] create|start|state|kill|delete|list|features|spec ...\n"
	      "       hutch --help | --version\n\n"
	      "hutch runs COMMAND in a rootless sandbox. 'hutch run --help' lists the options;\n"
	      "hutch(1) explains them, hutch-policy(5) the policy files.\n",
	      out);
}

/* hutch run ...: main's whole argv, "hutch" and "run" included (the init hides all of it) */
static int cmd_run(int all, char **all_argv)
{
	int argc = all - 2, cmd = 0, status;
	char **argv = all_argv + 2;
	struct herr e = {0};
	struct plan p;

	plan_init(&p);
	plan_set_launcher(&p, all, all_argv);
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
	if (image_apply(&p, argc - cmd, argv + cmd, &e) < 0 || desktop_apply(&p, &e) < 0) {
		herr_report(&e);
		plan_free(&p);
		return EXIT_SETUP;
	}
	if (p.dry_run) {
		status = dryrun_print(&p, stdout);
		plan_free(&p);
		return status;
	}
	status = sandbox_run(&p, &e);
	if (status < 0) {
		herr_report(&e);
		status = e.exit_code ? e.exit_code : EXIT_SETUP;
	}
	plan_free(&p);
	return status;
}

/* hutch policy show NAME | check FILE | list */
static int cmd_policy(int argc, char **argv)
{
	struct herr e = {0};
	const char *verb = argc > 0 ? argv[0] : "";

	if (strcmp(verb, "list") == 0 && argc == 1) {
		policy_list(stdout);
		return 0;
	}
	if ((strcmp(verb, "show") == 0 || strcmp(verb, "check") == 0) && argc == 2) {
		/* check validates everything show does, and prints only problems */
		FILE *out = verb[0] == 's' ? stdout : fopen("/dev/null", "we");
		int r = policy_show(argv[1], out, &e);

		if (out && out != stdout)
			fclose(out);
		if (r < 0) {
			herr_report(&e);
			return EXIT_SETUP;
		}
		if (verb[0] == 'c')
			printf("%s: ok\n", argv[1]);
		return 0;
	}
	fputs("hutch: usage: hutch policy show NAME | check FILE | list\n", stderr);
	return EXIT_SETUP;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_SETUP;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc, argv);
	if (strcmp(argv[1], "image") == 0)
		return image_main(argc - 2, argv + 2);
	if (strcmp(argv[1], "policy") == 0)
		return cmd_policy(argc - 2, argv + 2);
	if (strcmp(argv[1], "completion") == 0 && argc == 3 && strcmp(argv[2], "bash") == 0) {
		completion_bash(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("hutch %s\n", HUTCH_VERSION);
		return 0;
	}
	if (oci_is_command(argv[1])) /* OCI runtime mode (issue 8) */
		return oci_main(argc, argv);
	fprintf(stderr, "hutch: unknown command '%s'; see 'hutch --help'\n", argv[1]);
	return EXIT_SETUP;
}
