#include "env.h"

#include <string.h>

#include "util.h"

extern char **environ;

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct envlist {
	char **v;
	size_t n;
};

static bool safe(const char *entry)
{
	static const char *const keep[] = {"PATH=", "TERM=", "LANG=", "TZ=", "LC_"};

	for (size_t i = 0; i < ARRAY_SIZE(keep); i++)
		if (strncmp(entry, keep[i], strlen(keep[i])) == 0)
			return true;
	return false;
}

static ssize_t find(const struct envlist *l, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < l->n; i++)
		if (strncmp(l->v[i], name, len) == 0 && l->v[i][len] == '=')
			return (ssize_t)i;
	return -1;
}

static void env_set(struct envlist *l, const char *name, const char *value)
{
	ssize_t i = find(l, name);

	if (!value) {
		if (i >= 0) {
			free(l->v[i]);
			l->v[i] = l->v[--l->n];
		}
		return;
	}
	if (i >= 0) {
		free(l->v[i]);
		l->v[i] = xasprintf("%s=%s", name, value);
		return;
	}
	l->v = xreallocarray(l->v, l->n + 2, sizeof(char *));
	l->v[l->n++] = xasprintf("%s=%s", name, value);
}

char **env_build(const struct plan *p, const struct ids *ids)
{
	struct envlist l = {xcalloc(1, sizeof(char *)), 0};

	for (char **e = environ; e && *e; e++) {
		if (!p->keep_env && !safe(*e))
			continue;
		l.v = xreallocarray(l.v, l.n + 2, sizeof(char *));
		l.v[l.n++] = xstrdup(*e);
	}
	if (find(&l, "PATH") < 0)
		env_set(&l, "PATH", DEFAULT_PATH);
	env_set(&l, "HOME", ids->home);
	for (size_t i = 0; i < p->n_env; i++)
		env_set(&l, p->env[i].name, p->env[i].value);
	l.v[l.n] = NULL;
	return l.v;
}

void env_free(char **env)
{
	for (char **e = env; e && *e; e++)
		free(*e);
	free(env);
}
