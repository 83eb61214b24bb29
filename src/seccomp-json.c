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
#include <sys/utsname.h>

#include "caps.h"
#include "util.h"

static int bad(struct herr *e, const char *file, size_t idx, const char *what)
{
	if (idx == (size_t)-1)
		herr_set(e, 0, "%s: %s", file, what);
	else
		herr_set(e, 0, "%s: syscalls[%zu]: %s", file, idx, what);
	return herr_hint(e, "see the OCI runtime spec's seccomp section");
}

static int action(const char *s, json_object *errno_ret, uint32_t *out)
{
	int err = errno_ret ? json_object_get_int(errno_ret) : 1; /* Docker's default: EPERM */

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
		*out = SCMP_ACT_TRACE((uint16_t)(errno_ret ? err : 0));
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

static bool lists_native_arch(json_object *filter)
{
	json_object *v;

	if (!json_object_object_get_ex(filter, "arches", &v) ||
	    !json_object_is_type(v, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(v); i++)
		if (native_arch(json_object_get_string(json_object_array_get_idx(v, i))))
			return true;
	return false;
}

static size_t length(json_object *filter, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(filter, key, &v) && json_object_is_type(v, json_type_array)
		   ? json_object_array_length(v)
		   : 0;
}

/* minKernel "X.Y": 1 when the running kernel is at least that, 0 when older, -1 when the
 * value is not a version. */
static int kernel_at_least(json_object *filter)
{
	json_object *v;
	struct utsname u;
	unsigned want[2] = {0}, have[2] = {0};

	if (!json_object_object_get_ex(filter, "minKernel", &v) || !v)
		return -2; /* not given, or null */
	if (sscanf(json_object_get_string(v) ? json_object_get_string(v) : "", "%u.%u", &want[0],
		   &want[1]) < 1)
		return -1;
	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &have[0], &have[1]) < 1)
		return 1;
	return have[0] > want[0] || (have[0] == want[0] && have[1] >= want[1]);
}

/* The capability named `name` ("CAP_SYS_ADMIN") is in `caps`; an unknown name never is (a
 * capability this libcap does not know cannot have been kept). */
static bool holds(uint64_t caps, const char *name)
{
	int cap = name ? caps_from_name(name) : -1;

	return cap >= 0 && (caps >> cap) & 1;
}

/* `filter`'s "caps": all == true: every one is held; false: at least one is. */
static bool caps_held(json_object *filter, uint64_t caps, bool all)
{
	json_object *v;
	size_t n;

	if (!json_object_object_get_ex(filter, "caps", &v) || !json_object_is_type(v, json_type_array))
		return false;
	n = json_object_array_length(v);
	for (size_t i = 0; i < n; i++)
		if (holds(caps, json_object_get_string(json_object_array_get_idx(v, i))) != all)
			return !all;
	return all && n > 0;
}

/* Whether a rule is for this sandbox: 1 yes, 0 no, -1 a bad minKernel. `caps` are the
 * capabilities the command keeps (--cap-add, process.capabilities): as with Docker, runc and
 * crun, a rule that includes capabilities applies only when every one is kept, and one that
 * excludes some only when none is. */
static int applies(json_object *rule, uint64_t caps)
{
	json_object *inc = NULL, *exc = NULL;
	int k;

	json_object_object_get_ex(rule, "includes", &inc);
	json_object_object_get_ex(rule, "excludes", &exc);
	if (length(inc, "caps") > 0 && !caps_held(inc, caps, true))
		return 0;
	if (caps_held(exc, caps, false))
		return 0;
	if (length(inc, "arches") > 0 && !lists_native_arch(inc))
		return 0;
	if (lists_native_arch(exc))
		return 0;
	if ((k = kernel_at_least(inc)) == -1 || (k == 0))
		return k;
	if ((k = kernel_at_least(exc)) == -1 || k == 1)
		return k == 1 ? 0 : -1;
	return 1;
}

/* A comparison value: the runtime spec's uint64, or a negative number as its two's complement
 * (json-c reads -1 as 0 when asked for a uint64). */
static uint64_t u64(json_object *v)
{
	int64_t i = json_object_get_int64(v);

	return i < 0 ? (uint64_t)i : json_object_get_uint64(v);
}

/* The rule's `args`, into `c` (room for `n`). *any: an argument is compared more than once, so
 * the comparisons are alternatives, one rule each (what runc and crun do; libseccomp itself
 * refuses two comparisons of one argument in a rule). */
static int conditions(json_object *args, struct sc_cond *c, size_t n, bool *any, const char *file,
		      size_t idx, struct herr *e)
{
	unsigned seen = 0;

	*any = false;
	for (size_t i = 0; i < n; i++) {
		json_object *a = json_object_array_get_idx(args, i), *v;

		if (!json_object_object_get_ex(a, "index", &v) || json_object_get_int(v) < 0 ||
		    json_object_get_int(v) > 5)
			return bad(e, file, idx, "an argument needs an 'index' from 0 to 5");
		c[i].arg = (unsigned)json_object_get_int(v);
		*any |= (seen & (1u << c[i].arg)) != 0;
		seen |= 1u << c[i].arg;
		if (!json_object_object_get_ex(a, "op", &v) ||
		    (c[i].op = compare_op(json_object_get_string(v))) < 0)
			return bad(e, file, idx, "an argument needs an 'op' such as SCMP_CMP_EQ");
		c[i].a = json_object_object_get_ex(a, "value", &v) ? u64(v) : 0;
		c[i].b = json_object_object_get_ex(a, "valueTwo", &v) ? u64(v) : 0;
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

static int one_rule(json_object *rule, size_t idx, const char *file, uint64_t caps,
		    struct sc_profile *out, struct herr *e)
{
	json_object *names, *v, *errno_ret = NULL, *args = NULL;
	struct sc_rule r = {.line = (unsigned)idx};
	_cleanup_free_ struct sc_cond *c = NULL;
	size_t n;
	bool any;
	int k = applies(rule, caps);

	if (k <= 0)
		return k == 0 ? 0 : bad(e, file, idx, "'minKernel' must read like \"4.8\"");
	if (!json_object_object_get_ex(rule, "names", &names) &&
	    !json_object_object_get_ex(rule, "name", &names))
		return bad(e, file, idx, "no 'names'");
	json_object_object_get_ex(rule, "errnoRet", &errno_ret);
	json_object_object_get_ex(rule, "args", &args);
	if (!json_object_object_get_ex(rule, "action", &v) ||
	    action(json_object_get_string(v), errno_ret, &r.action) < 0)
		return bad(e, file, idx,
			   "'action' must be SCMP_ACT_ALLOW, _ERRNO, _KILL, _KILL_PROCESS, "
			   "_KILL_THREAD, _TRAP, _TRACE or _LOG (hutch has no _NOTIFY listener)");
	n = json_object_is_type(args, json_type_array) ? json_object_array_length(args) : 0;
	c = xcalloc(n + 1, sizeof(*c));
	if (conditions(args, c, n, &any, file, idx, e) < 0)
		return -1;
	if (!json_object_is_type(names, json_type_array)) {
		push_name(out, &r, json_object_get_string(names), c, n, any);
		return 0;
	}
	for (size_t i = 0; i < json_object_array_length(names); i++)
		push_name(out, &r, json_object_get_string(json_object_array_get_idx(names, i)), c,
			  n, any);
	return 0;
}

int sc_profile_parse_json(const char *file, const char *text, uint64_t caps,
			  struct sc_profile *out, struct herr *e)
{
	enum json_tokener_error jerr = json_tokener_success;
	json_object *root = json_tokener_parse_verbose(text, &jerr), *v, *ret = NULL, *rules;
	int r = 0;

	*out = (struct sc_profile){.newer_than = -1, .json = true};
	if (!root)
		return bad(e, file, (size_t)-1, json_tokener_error_desc(jerr));
	json_object_object_get_ex(root, "defaultErrnoRet", &ret);
	if (!json_object_object_get_ex(root, "defaultAction", &v) ||
	    action(json_object_get_string(v), ret, &out->def_action) < 0)
		r = bad(e, file, (size_t)-1, "'defaultAction' is missing or unknown");
	if (r == 0 && json_object_object_get_ex(root, "syscalls", &rules)) {
		if (!json_object_is_type(rules, json_type_array))
			r = bad(e, file, (size_t)-1, "'syscalls' must be an array");
		for (size_t i = 0; r == 0 && i < json_object_array_length(rules); i++)
			r = one_rule(json_object_array_get_idx(rules, i), i, file, caps, out, e);
	}
	json_object_put(root);
	return r;
}
