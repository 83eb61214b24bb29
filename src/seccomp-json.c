/* The OCI runtime-spec / Docker seccomp JSON format, read with json-c into the same parsed
 * profile as the text format, and given the meaning that Docker, podman (containers-common),
 * runc and crun give it: rules whose `includes` the sandbox does not meet (capabilities the
 * command does not keep, another architecture, a newer kernel) or whose `excludes` it meets are
 * left out;
 * several comparisons of one argument in a rule mean "any of them" (one rule each), of
 * different arguments "all of them"; system calls that this libseccomp does not know are
 * skipped (profiles name calls of newer kernels). sc_compile then adds the rules in file order
 * to one libseccomp context, as runc and crun do. */
#include "seccomp.h"

#include <json-c/json.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>

#include "caps.h"
#include "json-get.h"
#include "util.h"

static int bad(const struct jval *at, struct herr *e, const char *what)
{
	jerr(at, NULL, e, "%s", what);
	return herr_hint(e, "see the OCI runtime spec's seccomp section");
}

/* errnoRet / defaultErrnoRet: absent is Docker's default, EPERM. */
static int errno_ret(const struct jval *o, const char *key, int64_t *err, struct herr *e)
{
	*err = 1;
	return jint(o, key, 0, UINT16_MAX, err, e);
}

static int action(const char *s, int64_t err, bool given, uint32_t *out)
{
	if (!s)
		return -1;
	if (strcmp(s, "SCMP_ACT_ALLOW") == 0)
		*out = SCMP_ACT_ALLOW;
	else if (strcmp(s, "SCMP_ACT_ERRNO") == 0)
		*out = SCMP_ACT_ERRNO((uint16_t)err);
	else if (strcmp(s, "SCMP_ACT_KILL") == 0 || strcmp(s, "SCMP_ACT_KILL_THREAD") == 0)
		*out = SCMP_ACT_KILL_THREAD;
	else if (strcmp(s, "SCMP_ACT_KILL_PROCESS") == 0)
		*out = SCMP_ACT_KILL_PROCESS;
	else if (strcmp(s, "SCMP_ACT_TRAP") == 0)
		*out = SCMP_ACT_TRAP;
	else if (strcmp(s, "SCMP_ACT_LOG") == 0)
		*out = SCMP_ACT_LOG;
	else if (strcmp(s, "SCMP_ACT_TRACE") == 0)
		/* with no tracer attached (hutch attaches none) the call fails with ENOSYS */
		*out = SCMP_ACT_TRACE((uint16_t)(given ? err : 0));
	else
		return -1; /* SCMP_ACT_NOTIFY: needs a listener, which hutch does not offer */
	return 0;
}

static int compare_op(const char *s)
{
	static const struct {
		const char *name;
		int op;
	} ops[] = {{"SCMP_CMP_NE", SCMP_CMP_NE},
		   {"SCMP_CMP_LT", SCMP_CMP_LT},
		   {"SCMP_CMP_LE", SCMP_CMP_LE},
		   {"SCMP_CMP_EQ", SCMP_CMP_EQ},
		   {"SCMP_CMP_GE", SCMP_CMP_GE},
		   {"SCMP_CMP_GT", SCMP_CMP_GT},
		   {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};

	for (size_t i = 0; s && i < ARRAY_SIZE(ops); i++)
		if (strcmp(ops[i].name, s) == 0)
			return ops[i].op;
	return -1;
}

/* The names Docker (Go's GOARCH), libseccomp and the kernel give the native architecture. */
static bool native_arch(const char *a)
{
	static const struct {
		uint32_t arch;
		const char *names[3];
	} arches[] = {
	    {SCMP_ARCH_X86_64, {"amd64", "x86_64", "SCMP_ARCH_X86_64"}},
	    {SCMP_ARCH_AARCH64, {"arm64", "aarch64", "SCMP_ARCH_AARCH64"}},
	};

	for (size_t i = 0; a && i < ARRAY_SIZE(arches); i++)
		for (size_t k = 0; k < 3 && arches[i].arch == seccomp_arch_native(); k++)
			if (strcmp(arches[i].names[k], a) == 0)
				return true;
	return false;
}

/* Each of these arrays was checked a list of strings (filter_fields). */
static bool lists_native_arch(const struct jval *arches)
{
	struct herr ignored = {0};
	const char *a;

	for (size_t i = 0; i < jlen(arches); i++)
		if (jstr_at(arches, i, &a, &ignored) > 0 && native_arch(a))
			return true;
	return false;
}

/* The capability named `name` ("CAP_SYS_ADMIN") is in `caps`; an unknown name never is (a
 * capability this libcap does not know cannot have been kept). */
static bool holds(uint64_t caps, const char *name)
{
	int cap = name ? caps_from_name(name) : -1;

	return cap >= 0 && (caps >> cap) & 1;
}

/* A filter's "caps": all == true: every one is held; false: at least one is. */
static bool caps_held(const struct jval *list, uint64_t caps, bool all)
{
	struct herr ignored = {0};
	const char *name;
	size_t n = jlen(list);

	for (size_t i = 0; i < n; i++)
		if (jstr_at(list, i, &name, &ignored) > 0 && holds(caps, name) != all)
			return !all;
	return all && n > 0;
}

/* includes / excludes: an object of caps and arches (lists of names) and a minKernel. */
struct filter {
	struct jval caps, arches;
	const char *min_kernel;
};

static int filter_fields(const struct jval *rule, const char *key, struct filter *f, struct herr *e)
{
	struct jval o;

	return jobj(rule, key, &o, e) < 0 || jstrs(&o, "caps", &f->caps, e) < 0 ||
		       jstrs(&o, "arches", &f->arches, e) < 0 ||
		       jstr(&o, "minKernel", &f->min_kernel, e) < 0
		   ? -1
		   : 0;
}

/* Whether a rule is for this sandbox: 1 yes, 0 no, -1 a bad minKernel. `caps` are the
 * capabilities the command keeps (--cap-add, process.capabilities): as with Docker, runc and
 * crun, a rule that includes capabilities applies only when every one is kept, and one that
 * excludes some only when none is. */
static int applies(const struct filter *inc, const struct filter *exc, uint64_t caps)
{
	int k;

	if (jlen(&inc->caps) > 0 && !caps_held(&inc->caps, caps, true))
		return 0;
	if (caps_held(&exc->caps, caps, false))
		return 0;
	if (jlen(&inc->arches) > 0 && !lists_native_arch(&inc->arches))
		return 0;
	if (lists_native_arch(&exc->arches))
		return 0;
	if ((k = kernel_at_least(inc->min_kernel)) == -1 || (k == 0))
		return k;
	if ((k = kernel_at_least(exc->min_kernel)) == -1 || k == 1)
		return k == 1 ? 0 : -1;
	return 1;
}

/* The rule's `args`, into `c` (room for jlen(args)). *any: an argument is compared more than
 * once, so the comparisons are alternatives, one rule each (what runc and crun do; libseccomp
 * itself refuses two comparisons of one argument in a rule). */
static int conditions(const struct jval *args, struct sc_cond *c, bool *any, struct herr *e)
{
	unsigned seen = 0;

	*any = false;
	for (size_t i = 0; i < jlen(args); i++) {
		struct jval a;
		const char *op;
		int64_t index;
		int r;

		if (jobj_at(args, i, &a, e) < 0 || (r = jint(&a, "index", 0, 5, &index, e)) < 0)
			return -1;
		if (r == 0)
			return bad(&a, e, "an argument needs an 'index' from 0 to 5");
		c[i].arg = (unsigned)index;
		*any |= (seen & (1u << c[i].arg)) != 0;
		seen |= 1u << c[i].arg;
		if (jstr(&a, "op", &op, e) < 0)
			return -1;
		if ((c[i].op = compare_op(op)) < 0)
			return bad(&a, e, "an argument needs an 'op' such as SCMP_CMP_EQ");
		/* the runtime spec's uint64; a negative number as its two's complement */
		c[i].a = c[i].b = 0;
		if (jbits64(&a, "value", &c[i].a, e) < 0 || jbits64(&a, "valueTwo", &c[i].b, e) < 0)
			return -1;
	}
	return 0;
}

static void push(struct sc_profile *p, const struct sc_rule *r)
{
	p->rules = xreallocarray(p->rules, p->n_rules + 1, sizeof(*p->rules));
	p->rules[p->n_rules++] = *r;
}

/* The rule for one system call name: all comparisons together, or each alone. */
static void push_name(struct sc_profile *p, struct sc_rule *r, const char *name,
		      const struct sc_cond *c, size_t n, bool any)
{
	r->nr = seccomp_syscall_resolve_name(name ? name : "");
	if (r->nr == __NR_SCMP_ERROR)
		return;
	if (!any) {
		memcpy(r->conds, c, n * sizeof(*c));
		r->n_conds = (unsigned)n;
		push(p, r);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		r->conds[0] = c[i];
		r->n_conds = 1;
		push(p, r);
	}
}

static int one_rule(const struct jval *rule, size_t idx, uint64_t caps, struct sc_profile *out,
		    struct herr *e)
{
	struct sc_rule r = {.line = (unsigned)idx};
	_cleanup_free_ struct sc_cond *c = NULL;
	struct jval names, args;
	struct filter inc, exc;
	const char *name, *act, *comment;
	int64_t err;
	bool any;
	int k, given;

	if (jstrs(rule, "names", &names, e) < 0 || jstr(rule, "name", &name, e) < 0 ||
	    jstr(rule, "action", &act, e) < 0 ||
	    (given = errno_ret(rule, "errnoRet", &err, e)) < 0 ||
	    jarr(rule, "args", &args, e) < 0 || jstr(rule, "comment", &comment, e) < 0 ||
	    filter_fields(rule, "includes", &inc, e) < 0 ||
	    filter_fields(rule, "excludes", &exc, e) < 0)
		return -1;
	if ((k = applies(&inc, &exc, caps)) <= 0)
		return k == 0 ? 0 : bad(rule, e, "'minKernel' must read like \"4.8\"");
	if (!names.v && !name)
		return bad(rule, e, "no 'names'");
	if (action(act, err, given > 0, &r.action) < 0)
		return bad(rule, e,
			   "'action' must be SCMP_ACT_ALLOW, _ERRNO, _KILL, _KILL_PROCESS, "
			   "_KILL_THREAD, _TRAP, _TRACE or _LOG (hutch has no _NOTIFY listener)");
	c = xcalloc(jlen(&args) + 1, sizeof(*c));
	if (conditions(&args, c, &any, e) < 0)
		return -1;
	if (!names.v) {
		push_name(out, &r, name, c, jlen(&args), any);
		return 0;
	}
	for (size_t i = 0; i < jlen(&names); i++)
		if (jstr_at(&names, i, &name, e) > 0) /* each checked a string (jstrs) */
			push_name(out, &r, name, c, jlen(&args), any);
	return 0;
}

int sc_profile_from_json(const struct jval *doc, uint64_t caps, struct sc_profile *out,
			 struct herr *e)
{
	struct jval rules, rule, ignored;
	const char *def, *listener;
	int64_t err;
	int given;

	*out = (struct sc_profile){.newer_than = -1, .json = true};
	if (jstr(doc, "defaultAction", &def, e) < 0 ||
	    (given = errno_ret(doc, "defaultErrnoRet", &err, e)) < 0 ||
	    jarr(doc, "syscalls", &rules, e) < 0 || jstrs(doc, "architectures", &ignored, e) < 0 ||
	    jarr(doc, "archMap", &ignored, e) < 0 || jstrs(doc, "flags", &ignored, e) < 0 ||
	    jstr(doc, "listenerPath", &listener, e) < 0)
		return -1;
	if (action(def, err, given > 0, &out->def_action) < 0)
		return bad(doc, e, "'defaultAction' is missing or unknown");
	for (size_t i = 0; i < jlen(&rules); i++)
		if (jobj_at(&rules, i, &rule, e) < 0 || one_rule(&rule, i, caps, out, e) < 0)
			return -1;
	return 0;
}

int sc_profile_parse_json(const char *file, const char *text, uint64_t caps, struct sc_profile *out,
			  struct herr *e)
{
	enum json_tokener_error jerr = json_tokener_success;
	json_object *root = json_tokener_parse_verbose(text, &jerr);
	struct jval doc;
	int r;

	*out = (struct sc_profile){.newer_than = -1, .json = true};
	if (!root) {
		herr_set(e, 0, "%s: %s", file, json_tokener_error_desc(jerr));
		return herr_hint(e, "see the OCI runtime spec's seccomp section");
	}
	r = jroot(root, file, "", &doc, e) < 0 ? -1 : sc_profile_from_json(&doc, caps, out, e);
	json_object_put(root);
	return r;
}
