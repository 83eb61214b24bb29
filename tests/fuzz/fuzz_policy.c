/* Policy files (hutch-policy(5), src/policy.c): one setting a line, each a long option of
 * `hutch run`, so the input goes through every option's own parser too (binds, sizes, rlimits,
 * --allow-net rules, --publish, --dns, capabilities...). Includes of built-in policies are
 * followed; the harness points $HOME and $XDG_CONFIG_HOME at directories that do not exist, so
 * no policy of the user's is read. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "libseccomp-leak.h"
#include "plan.h"
#include "policy.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	setenv("HOME", "/nonexistent/hutch-fuzz", 1);
	setenv("XDG_CONFIG_HOME", "/nonexistent/hutch-fuzz/config", 1);
	setenv("XDG_RUNTIME_DIR", "/nonexistent/hutch-fuzz/run", 1);
	unsetenv("XDG_CACHE_HOME");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct herr e = {0};
	struct plan p;
	char *text;

	/* read_small_file's limit */
	if (size > 1 << 20)
		return -1;
	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = 0;
	plan_init(&p);
	p.app = xstrdup("fuzzapp");
	policy_apply_text(&p, "fuzz.policy", text, &e);
	plan_free(&p);
	free(text);
	return 0;
}
