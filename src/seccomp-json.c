/* The OCI runtime-spec / Docker seccomp JSON format, read with json-c into the same parsed
 * profile as the text format. Rules that depend on capabilities the sandbox does not hold
 * (includes.caps) or on another architecture are left out, as Docker does; system calls that
 * this libseccomp does not know are skipped (profiles name calls of newer kernels). */
#include "seccomp.h"

#include <json-c/json.h>
#include <seccomp.h>
#include <string.h>

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
	else
		return -1; /* SCMP_ACT_TRACE and SCMP_ACT_NOTIFY need a supervisor hutch lacks */
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

static bool applies(json_object *rule)
{
	json_object *inc, *v;

	if (!json_object_object_get_ex(rule, "includes", &inc))
		return true;
	if (json_object_object_get_ex(inc, "caps", &v) && json_object_array_length(v) > 0)
		return false; /* the sandbox has no capabilities by default */
	if (json_object_object_get_ex(inc, "arches", &v) && json_object_array_length(v) > 0) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			const char *a = json_object_get_string(json_object_array_get_idx(v, i));
			if (a && (strcmp(a, "amd64") == 0 || strcmp(a, "x86_64") == 0 ||
				  strcmp(a, "SCMP_ARCH_X86_64") == 0))
				return true;
		}
		return false;
	}
	return true;
}

static int conditions(json_object *args, struct sc_rule *r, const char *file, size_t idx,
		      struct herr *e)
{
	size_t n = args ? json_object_array_length(args) : 0;

	if (n > ARRAY_SIZE(r->conds))
		return bad(e, file, idx, "more than 6 'args'");
	for (size_t i = 0; i < n; i++) {
		json_object *a = json_object_array_get_idx(args, i), *v;
		struct sc_cond *c = &r->conds[i];

		if (!json_object_object_get_ex(a, "index", &v) || json_object_get_int(v) < 0 ||
		    json_object_get_int(v) > 5)
			return bad(e, file, idx, "an argument needs an 'index' from 0 to 5");
		c->arg = (unsigned)json_object_get_int(v);
		if (!json_object_object_get_ex(a, "op", &v) ||
		    (c->op = compare_op(json_object_get_string(v))) < 0)
			return bad(e, file, idx, "an argument needs an 'op' such as SCMP_CMP_EQ");
		c->a = json_object_object_get_ex(a, "value", &v)
			   ? (uint64_t)json_object_get_uint64(v)
			   : 0;
		c->b = json_object_object_get_ex(a, "valueTwo", &v)
			   ? (uint64_t)json_object_get_uint64(v)
			   : 0;
	}
	r->n_conds = (unsigned)n;
	return 0;
}

static void push(struct sc_profile *p, const struct sc_rule *r)
{
	p->rules = xreallocarray(p->rules, p->n_rules + 1, sizeof(*p->rules));
	p->rules[p->n_rules++] = *r;
}

static int one_rule(json_object *rule, size_t idx, const char *file, struct sc_profile *out,
		    struct herr *e)
{
	json_object *names, *v, *errno_ret = NULL, *args = NULL;
	struct sc_rule r = {.line = (unsigned)idx};

	if (!applies(rule))
		return 0;
	if (!json_object_object_get_ex(rule, "names", &names) &&
	    !json_object_object_get_ex(rule, "name", &names))
		return bad(e, file, idx, "no 'names'");
	json_object_object_get_ex(rule, "errnoRet", &errno_ret);
	json_object_object_get_ex(rule, "args", &args);
	if (!json_object_object_get_ex(rule, "action", &v) ||
	    action(json_object_get_string(v), errno_ret, &r.action) < 0)
		return bad(e, file, idx,
			   "'action' must be SCMP_ACT_ALLOW, _ERRNO, _KILL, "
			   "_KILL_PROCESS, _TRAP or _LOG");
	if (conditions(args, &r, file, idx, e) < 0)
		return -1;
	if (!json_object_is_type(names, json_type_array)) {
		r.nr = seccomp_syscall_resolve_name(json_object_get_string(names));
		if (r.nr != __NR_SCMP_ERROR)
			push(out, &r);
		return 0;
	}
	for (size_t i = 0; i < json_object_array_length(names); i++) {
		r.nr = seccomp_syscall_resolve_name(
		    json_object_get_string(json_object_array_get_idx(names, i)));
		if (r.nr != __NR_SCMP_ERROR)
			push(out, &r);
	}
	return 0;
}

int sc_profile_parse_json(const char *file, const char *text, struct sc_profile *out,
			  struct herr *e)
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
			r = one_rule(json_object_array_get_idx(rules, i), i, file, out, e);
	}
	json_object_put(root);
	return r;
}
