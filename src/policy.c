#include "policy.h"

#include <ctype.h>
#include <stdbool.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtin.h"
#include "options.h"
#include "util.h"

#define MAX_INCLUDE_DEPTH 8
#define MAX_POLICY_SIZE (1 << 20)

/* One policy's text and where it came from. */
struct source {
	char *label; /* for messages: the file's path, or NAME.policy for a built-in one */
	char *id;    /* identity for include cycles: the real path, or builtin:NAME */
	char *text;
};

/* What to do with each setting: apply it to a plan, or also print it (policy show). */
struct walk {
	struct plan *p;
	FILE *show;
	const char *stack[MAX_INCLUDE_DEPTH]; /* ids being read, for include cycles */
	int depth;
	bool located; /* the error already names the file and line it comes from */
};

static void source_free(struct source *s)
{
	free(s->label);
	free(s->id);
	free(s->text);
}

static char *read_small_file(const char *path, int *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	ssize_t n, len = 0;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0) {
		*err = errno;
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MAX_POLICY_SIZE) {
		*err = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while ((n = read(fd, buf + len, (size_t)(st.st_size - len))) > 0)
		len += n;
	buf[len] = 0;
	return buf;
}

static bool valid_name(const char *name)
{
	if (!name[0] || name[0] == '.')
		return false;
	for (const char *c = name; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("_.-", *c))
			return false;
	return true;
}

/* The directories searched for NAME.policy before the built-in policies. */
static int search_dirs(char dirs[2][PATH_MAX])
{
	const char *cfg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	int n = 0;

	if (cfg && cfg[0] == '/')
		snprintf(dirs[n++], PATH_MAX, "%s/hutch/policy", cfg);
	else if (home && home[0] == '/')
		snprintf(dirs[n++], PATH_MAX, "%s/.config/hutch/policy", home);
	snprintf(dirs[n++], PATH_MAX, "/etc/hutch/policy");
	return n;
}

static int load_file(const char *path, struct source *src, struct herr *e)
{
	char real[PATH_MAX];
	int err = 0;

	src->text = read_small_file(path, &err);
	if (!src->text)
		return herr_set(e, err, "policy %s", path);
	src->label = xstrdup(path);
	src->id = xstrdup(realpath(path, real) ? real : path);
	return 0;
}

/* NAME: the search path, then the built-ins; anything with a '/' is a path. `base` is the
 * including file's directory, for relative includes. */
static int find_policy(const char *name, const char *base, struct source *src, struct herr *e)
{
	char dirs[2][PATH_MAX], path[PATH_MAX * 2];
	int n;

	if (strchr(name, '/')) {
		while (base && strncmp(name, "./", 2) == 0)
			name += 2;
		if (name[0] != '/' && base && strcmp(base, ".") != 0)
			snprintf(path, sizeof(path), "%s/%s", base, name);
		else
			snprintf(path, sizeof(path), "%s", name);
		return load_file(path, src, e);
	}
	if (!valid_name(name))
		return herr_set(e, 0,
				"policy '%s': a name has letters, digits, '_', '.' and '-' "
				"(or give a path with a '/')",
				name);
	n = search_dirs(dirs);
	for (int i = 0; i < n; i++) {
		if (snprintf(path, sizeof(path), "%s/%s.policy", dirs[i], name) >=
		    (int)sizeof(path))
			continue;
		if (access(path, F_OK) == 0)
			return load_file(path, src, e);
	}
	for (const struct builtin_text *b = builtin_policies; b->name; b++) {
		if (strcmp(b->name, name) == 0) {
			src->label = xasprintf("%s.policy", name);
			src->id = xasprintf("builtin:%s", name);
			src->text = xstrdup(b->text);
			return 0;
		}
	}
	herr_set(e, 0,
		 "no policy named '%s' (looked in %s, /etc/hutch/policy and the built-in ones)",
		 name, n > 1 ? dirs[0] : "~/.config/hutch/policy");
	return herr_hint(e, "'hutch policy list' shows them");
}

/* The value of an allowed variable, or NULL with e set. */
static const char *variable(const struct plan *p, const char *name, char *buf, size_t size,
			    struct herr *e)
{
	const char *v;

	if (strcmp(name, "APP") == 0) {
		/* the command's basename, to name per-app directories (desktop's private home) */
		if (!p->app)
			return herr_set(e, 0, "$APP: no command name to name the app by"), NULL;
		return p->app;
	}

	if (strcmp(name, "UID") == 0 || strcmp(name, "GID") == 0) {
		snprintf(buf, size, "%u", (unsigned)(name[0] == 'U' ? getuid() : getgid()));
		return buf;
	}
	if (strcmp(name, "PWD") == 0 || strcmp(name, "PROJECT") == 0) {
		const char *slash;

		if (!getcwd(buf, size))
			return herr_set(e, errno, "$%s", name), NULL;
		/* PROJECT: the last part of $PWD, to name per-project directories */
		slash = strrchr(buf, '/');
		return name[1] == 'R' && slash && slash[1] ? slash + 1 : buf;
	}
	if (strcmp(name, "XDG_CACHE_HOME") == 0 && !getenv(name) && getenv("HOME")) {
		snprintf(buf, size, "%s/.cache", getenv("HOME"));
		return buf;
	}
	if (strcmp(name, "HOME") && strcmp(name, "XDG_RUNTIME_DIR") &&
	    strcmp(name, "XDG_CACHE_HOME")) {
		herr_set(e, 0, "unknown variable '$%s'", name);
		herr_hint(e, "policies know $HOME $PWD $PROJECT $APP $UID $GID $XDG_RUNTIME_DIR "
			     "$XDG_CACHE_HOME");
		return NULL;
	}
	v = getenv(name);
	if (!v || !v[0])
		return herr_set(e, 0, "variable '$%s' is not set in your environment", name), NULL;
	return v;
}

/* $NAME and ${NAME} replaced; $$ is a literal $. */
static char *expand(const struct plan *p, const char *in, struct herr *e)
{
	size_t cap = strlen(in) + 1, len = 0;
	char *out = xmalloc(cap);

	for (const char *c = in; *c;) {
		char name[64], buf[PATH_MAX];
		const char *v = c, *end;
		size_t n = 1, k;

		if (c[0] == '$' && c[1] == '$') {
			c += 2;
		} else if (c[0] == '$') {
			bool brace = c[1] == '{';
			const char *s = c + 1 + brace;

			for (end = s; isalnum((unsigned char)*end) || *end == '_'; end++)
				;
			k = (size_t)(end - s);
			if (k == 0 || k >= sizeof(name) || (brace && *end != '}')) {
				free(out);
				return herr_set(e, 0, "bad variable reference at '%.20s'", c), NULL;
			}
			memcpy(name, s, k);
			name[k] = 0;
			c = end + brace;
			if (!(v = variable(p, name, buf, sizeof(buf), e))) {
				free(out);
				return NULL;
			}
			n = strlen(v);
		} else {
			c++;
		}
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			out = xreallocarray(out, cap, 1);
		}
		memcpy(out + len, v, n);
		len += n;
	}
	out[len] = 0;
	return out;
}

static int walk_source(struct walk *w, const struct source *src, struct herr *e);

static int include(struct walk *w, const char *name, const char *from, struct herr *e)
{
	struct source inc = {0};
	_cleanup_free_ char *base = NULL;
	int r;

	if (strchr(from, '/'))
		base = xstrdup(from), *strrchr(base, '/') = 0;
	if (find_policy(name, base, &inc, e) < 0)
		return -1;
	for (int i = 0; i < w->depth; i++)
		if (strcmp(w->stack[i], inc.id) == 0) {
			herr_set(e, 0, "include cycle: '%s' includes itself", inc.label);
			source_free(&inc);
			return -1;
		}
	if (w->depth >= MAX_INCLUDE_DEPTH) {
		source_free(&inc);
		return herr_set(e, 0, "includes nested deeper than %d", MAX_INCLUDE_DEPTH);
	}
	r = walk_source(w, &inc, e);
	source_free(&inc);
	return r;
}

/* One setting: NAME [VALUE]. */
static int setting(struct walk *w, const struct source *src, char *line, struct herr *e)
{
	char *value = line + strcspn(line, " \t");
	_cleanup_free_ char *expanded = NULL;
	const struct option_def *o;
	const char *hint;

	if (*value) {
		*value++ = 0;
		value += strspn(value, " \t");
	}
	if (*value && !(expanded = expand(w->p, value, e)))
		return -1;
	if (strcmp(line, "include") == 0) {
		if (!expanded)
			return herr_set(e, 0, "include needs a policy name or path");
		return include(w, expanded, src->label, e);
	}
	o = options_find(line);
	if (strcmp(line, "policy") == 0)
		return herr_set(e, 0,
				"a policy includes another with 'include NAME', not 'policy'");
	if (!o || (o->flags & OPT_CLI_ONLY)) {
		hint = options_suggest(line);
		if (hint && !(options_find(hint)->flags & OPT_CLI_ONLY))
			return herr_set(e, 0, "unknown setting '%s' (did you mean '%s'?)", line,
					hint);
		return herr_set(e, 0,
				"unknown setting '%s' (a setting is a long option of 'hutch "
				"run' without its dashes)",
				line);
	}
	if (options_apply(w->p, o, expanded, e) < 0)
		return -1;
	if (w->show)
		fprintf(w->show, "%s%s%s\n", o->name, expanded ? " " : "",
			expanded ? expanded : "");
	return 0;
}

static int walk_source(struct walk *w, const struct source *src, struct herr *e)
{
	_cleanup_free_ char *text = xstrdup(src->text);
	int lineno = 0, r = 0;

	w->stack[w->depth++] = src->id;
	for (char *next = text, *line; next && r == 0;) {
		line = next;
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		lineno++;
		line += strspn(line, " \t\r");
		for (size_t n = strlen(line); n && isspace((unsigned char)line[n - 1]); n--)
			line[n - 1] = 0;
		if (!*line || *line == '#')
			continue;
		r = setting(w, src, line, e);
		/* The innermost file names itself; the files that include it stay quiet. */
		if (r < 0 && !w->located) {
			char inner[sizeof(e->msg)];

			memcpy(inner, e->msg, sizeof(inner));
			/* (a message cut at sizeof(e->msg) still says where and what) */
			if (snprintf(e->msg, sizeof(e->msg), "%s:%d: %s", src->label, lineno,
				     inner) < 0)
				e->msg[0] = 0;
			w->located = true;
		}
	}
	w->depth--;
	return r;
}

static int run_policy(struct walk *w, const char *name, struct herr *e)
{
	struct source src = {0};
	int r;

	if (find_policy(name, NULL, &src, e) < 0)
		return -1;
	r = walk_source(w, &src, e);
	source_free(&src);
	return r;
}

int policy_apply(struct plan *p, const char *name, struct herr *e)
{
	struct walk w = {.p = p};

	return run_policy(&w, name, e);
}

int policy_apply_text(struct plan *p, const char *label, const char *text, struct herr *e)
{
	struct walk w = {.p = p};
	struct source src = {.label = (char *)label, .id = (char *)label, .text = (char *)text};

	return walk_source(&w, &src, e);
}

int policy_show(const char *name, FILE *out, struct herr *e)
{
	struct plan scratch;
	struct walk w = {.p = &scratch, .show = out};
	int r;

	/* Applied to a scratch plan as well, so a bad value is an error here too. There is no
	 * command: $APP stays as it is written. */
	plan_init(&scratch);
	scratch.app = xstrdup("$APP");
	r = run_policy(&w, name, e);
	plan_free(&scratch);
	return r;
}

void policy_list(FILE *out)
{
	char dirs[2][PATH_MAX];
	int n = search_dirs(dirs);

	for (int i = 0; i < n; i++) {
		DIR *d = opendir(dirs[i]);

		for (struct dirent *de; d && (de = readdir(d));) {
			size_t len = strlen(de->d_name);
			if (len > 7 && strcmp(de->d_name + len - 7, ".policy") == 0)
				fprintf(out, "%.*s\t%s\n", (int)(len - 7), de->d_name, dirs[i]);
		}
		if (d)
			closedir(d);
	}
	for (const struct builtin_text *b = builtin_policies; b->name; b++)
		fprintf(out, "%s\tbuilt-in\n", b->name);
}
