/* Unit tests of the policy parser (src/policy.c): every rule of hutch-policy(5), each error.
 * Built by meson as tests/unit/policy-test; tests/test_policy.py runs it. Prints one line per
 * case and exits non-zero if any failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "plan.h"
#include "policy.h"

struct result {
	int failed, passed;
};

static char dir[] = "/tmp/hutch-policy-test.XXXXXX";

static char *write_policy(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
	return path;
}

static void check(struct result *r, const char *what, int ok, const char *detail)
{
	printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what, ok ? "" : ": ", ok ? "" : detail);
	if (ok)
		r->passed++;
	else
		r->failed++;
}

/* Apply TEXT as a policy; expect success, or an error containing every needle. */
static void expect(struct result *r, const char *what, const char *text, const char *needle1,
		   const char *needle2, struct plan *out)
{
	struct herr e = {0};
	struct plan p;
	char *path = write_policy("case.policy", text);
	int rc;

	plan_init(&p);
	rc = policy_apply(&p, path, &e);
	if (!needle1) {
		check(r, what, rc == 0, e.msg);
	} else {
		int ok = rc < 0 && strstr(e.msg, needle1) && (!needle2 || strstr(e.msg, needle2));
		check(r, what, ok, rc < 0 ? e.msg : "no error");
	}
	if (out && rc == 0) {
		*out = p;
		return;
	}
	plan_free(&p);
}

int main(void)
{
	struct result r = {0};
	struct plan p;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	setenv("HOME", "/home/tester", 1);

	expect(&r, "comments, blank lines, CRLF and trailing blanks",
	       "# c\n\n   # indented comment\r\nhostname  one  \r\n", NULL, NULL, &p);
	check(&r, "  ...hostname is 'one'", strcmp(p.hostname, "one") == 0, p.hostname);
	plan_free(&p);

	expect(&r, "a later setting overrides an earlier one", "hostname a\nhostname b\n", NULL,
	       NULL, &p);
	check(&r, "  ...hostname is 'b'", strcmp(p.hostname, "b") == 0, p.hostname);
	plan_free(&p);

	expect(&r, "list settings accumulate", "bind /a:/x\nro-bind /b:/y\n", NULL, NULL, &p);
	check(&r, "  ...two mounts", p.n_mounts == 2, "");
	plan_free(&p);

	expect(&r, "values keep inner spaces", "setenv A=b c  d\n", NULL, NULL, &p);
	check(&r, "  ...value", p.n_env == 1 && strcmp(p.env[0].value, "b c  d") == 0, "");
	plan_free(&p);

	expect(&r, "variables: $HOME ${HOME} $$", "setenv A=$HOME/${HOME}$$x\n", NULL, NULL, &p);
	check(&r, "  ...expanded", strcmp(p.env[0].value, "/home/tester//home/tester$x") == 0,
	      p.env[0].value);
	plan_free(&p);

	write_policy("inc.policy", "hostname included\n");
	expect(&r, "include by relative path", "include ./inc.policy\n", NULL, NULL, &p);
	check(&r, "  ...applied", strcmp(p.hostname, "included") == 0, p.hostname);
	plan_free(&p);

	expect(&r, "include a built-in by name", "include default\n", NULL, NULL, NULL);

	write_policy("loop.policy", "include ./case.policy\n");
	expect(&r, "include cycle", "include ./loop.policy\n", "include cycle", NULL, NULL);
	expect(&r, "include without a name", "include\n", "case.policy:1:", "include needs", NULL);
	expect(&r, "include of a missing file", "include ./none.policy\n",
	       "case.policy:1:", "none.policy", NULL);
	expect(&r, "include of a bad name", "include no$$pe\n", "case.policy:1:", "a name has",
	       NULL);

	expect(&r, "unknown setting, with a suggestion", "\nhostnam x\n",
	       "case.policy:2:", "did you mean 'hostname'", NULL);
	expect(&r, "unknown setting, no close match", "zzzzzz 1\n", "unknown setting 'zzzzzz'",
	       NULL, NULL);
	expect(&r, "command-line-only: help", "help\n", "unknown setting 'help'", NULL, NULL);
	expect(&r, "command-line-only: dry-run", "dry-run\n", "unknown setting 'dry-run'", NULL,
	       NULL);
	expect(&r, "command-line-only: policy", "policy x\n", "include NAME", NULL, NULL);
	expect(&r, "unknown variable", "setenv A=$NOPE\n", "unknown variable '$NOPE'", NULL, NULL);
	expect(&r, "unterminated ${", "setenv A=${HOME\n", "bad variable reference", NULL, NULL);
	expect(&r, "empty variable name", "setenv A=$-\n", "bad variable reference", NULL, NULL);
	unsetenv("XDG_RUNTIME_DIR");
	expect(&r, "unset variable", "setenv A=$XDG_RUNTIME_DIR\n", "is not set", NULL, NULL);
	expect(&r, "flag with a value", "keep-env yes\n", "takes no argument", NULL, NULL);
	expect(&r, "setting without its value", "hostname\n", "needs an argument", NULL, NULL);
	expect(&r, "a bad value names file and line", "\n\ntmpfs /x:huge\n",
	       "case.policy:3:", "not a size", NULL);
	expect(&r, "a bad value: relative destination", "bind /a:rel\n", "absolute", NULL, NULL);

	expect(&r, "$APP without a command", "setenv A=$APP\n", "$APP: no command", NULL, NULL);
	{
		struct herr e = {0};
		char *path = write_policy("case.policy", "bind-create $HOME/homes/$APP:$HOME\n");

		plan_init(&p);
		p.app = strdup("xlogo");
		check(&r, "$APP is the plan's command name",
		      policy_apply(&p, path, &e) == 0 && p.n_mounts == 1 &&
			  strcmp(p.mounts[0].src, "/home/tester/homes/xlogo") == 0,
		      e.msg);
		plan_free(&p);
	}
	expect(&r, "-try binds are optional, plain binds are not",
	       "ro-bind-try /a\nbind /b\ndev-bind-try /dev/dri\n", NULL, NULL, &p);
	check(&r, "  ...optional flags",
	      p.n_mounts == 3 && p.mounts[0].optional && !p.mounts[1].optional &&
		  p.mounts[2].optional && p.mounts[2].kind == MOUNT_DEV_BIND,
	      "");
	plan_free(&p);
	expect(&r, "dbus-talk takes a bus name", "dbus-talk not a name\n",
	       "case.policy:1:", "expected a bus name", NULL);

	{
		struct herr e = {0};
		plan_init(&p);
		check(&r, "a missing policy name says where it looked",
		      policy_apply(&p, "no-such-policy", &e) < 0 &&
			  strstr(e.msg, "no policy named 'no-such-policy'"),
		      e.msg);
		plan_free(&p);
	}

	unlink(write_policy("case.policy", ""));
	unlink(write_policy("inc.policy", ""));
	unlink(write_policy("loop.policy", ""));
	rmdir(dir);
	printf("%d passed, %d failed\n", r.passed, r.failed);
	return r.failed ? 1 : 0;
}
