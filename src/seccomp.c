#include "seccomp.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "plan.h"
#include "util.h"

/* Built-in profiles whose name starts with '_' are hutch's own (the init's), not choosable. */
static const struct sc_builtin *builtin(const char *name)
{
	for (size_t i = 0; i < sc_n_builtins; i++)
		if (strcmp(sc_builtins[i].name, name) == 0)
			return &sc_builtins[i];
	return NULL;
}

static void copy_builtin(const struct sc_builtin *b, struct sc_filters *out)
{
	*out = (struct sc_filters){.n = b->n};
	for (size_t i = 0; i < b->n; i++) {
		out->insns[i] = xcalloc(b->len[i], sizeof(struct sock_filter));
		memcpy(out->insns[i], b->insns[i], b->len[i] * sizeof(struct sock_filter));
		out->len[i] = b->len[i];
	}
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

bool sc_is_json(const char *arg)
{
	return ends_with(arg, ".json");
}

int sc_load(const char *arg, uint64_t caps, struct sc_filters *out, bool *none, struct herr *e)
{
	const struct sc_builtin *b = arg[0] != '_' ? builtin(arg) : NULL;
	struct sc_profile prof = {0};
	_cleanup_free_ char *text = NULL;
	int r;

	*none = strcmp(arg, "none") == 0;
	*out = (struct sc_filters){0};
	if (*none)
		return 0;
	if (b && !strchr(arg, '/')) {
		copy_builtin(b, out);
		return 0;
	}
	/* a bare word that is neither built in nor a file here was meant as a profile name */
	if (!strchr(arg, '/') && access(arg, F_OK) < 0)
		r = herr_set(e, 0, "--seccomp %s: no such profile or file", arg);
	else
		r = sc_read_file(arg, &text, e);
	if (r < 0)
		return herr_hint(e, "give default, strict, none or a profile file "
				    "(see hutch-seccomp(5))");
	r = ends_with(arg, ".json") ? sc_profile_parse_json(arg, text, caps, &prof, e)
				    : sc_profile_parse_text(arg, text, &prof, e);
	if (r == 0)
		r = sc_compile(&prof, arg, out, e);
	sc_profile_free(&prof);
	return r;
}

static int install(const struct sock_filter *const *insns, const unsigned short *len, size_t n,
		   struct herr *e)
{
	for (size_t i = 0; i < n; i++) {
		struct sock_fprog prog = {.len = len[i], .filter = (struct sock_filter *)insns[i]};

		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
			return herr_set(e, errno, "cannot install the seccomp filter");
	}
	return 0;
}

int sc_apply(const struct plan *p, struct herr *e)
{
	const struct sc_builtin *def = builtin("default");

	if (p->seccomp_none) {
		hutch_notice("--seccomp none: no seccomp filter; the command may use every system "
			     "call the kernel offers");
		return 0;
	}
	if (p->seccomp)
		return install((const struct sock_filter *const *)p->seccomp->insns,
			       p->seccomp->len, p->seccomp->n, e);
	return install(def->insns, def->len, def->n, e);
}

int sc_install_init(struct herr *e)
{
	const struct sc_builtin *b = builtin("_init");

	return install(b->insns, b->len, b->n, e);
}
