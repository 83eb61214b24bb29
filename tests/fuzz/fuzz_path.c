/* Lexical path checks (src/path.c) and the option that relies on one: --cgroup-parent (also a
 * policy setting), whose path is joined to each cgroup hierarchy's mount. Beyond memory errors:
 * path_has_dot_component agrees with a plain split on '/', and an accepted --cgroup-parent is
 * absolute with no "." or ".." component, so it stays below the mount it is joined to. */
#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "limits.h"
#include "path.h"
#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The same question answered the obvious way: strtok_r over a copy. */
static bool dot_component(const char *path)
{
	char *copy = strdup(path), *save = NULL;
	bool found = false;

	for (char *c = strtok_r(copy, "/", &save); c && !found; c = strtok_r(NULL, "/", &save))
		found = strcmp(c, ".") == 0 || strcmp(c, "..") == 0;
	free(copy);
	return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct herr e = {0};
	struct plan p;
	char *s;

	if (size > 4096)
		return -1;
	/* exactly the string on the heap: a read past its NUL is caught */
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = 0;
	assert(path_has_dot_component(s) == dot_component(s));
	plan_init(&p);
	if (limits_set_cgroup_parent(&p, "cgroup-parent", s, &e) == 0)
		assert(p.cgroup_parent[0] == '/' && !dot_component(p.cgroup_parent));
	plan_free(&p);
	free(s);
	return 0;
}
