/* The text profile format of hutch-seccomp(5): one statement a line, `#` comments.
 *
 *   default ACTION                     what every other system call gets
 *   newer-than SYSCALL ACTION          calls numbered above SYSCALL (unknown to the profile)
 *   const NAME VALUE                   a named number for conditions
 *   group NAME SYSCALL...              define (or extend) @NAME
 *   ACTION SYSCALL|@GROUP... [if COND [and COND]...]
 *
 * A line that starts with blanks continues the statement of the line above.
 * ACTION is allow, log, trap, kill, kill-thread or errno E (a name such as EPERM or a number);
 * COND is `argN OP VALUE` (OP one of == != < <= > >=) or `argN & MASK == VALUE`; VALUE is a
 * number or const, or several joined with `|`. */
#include "seccomp.h"

#include <ctype.h>
#include <errno.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_TOKENS 1024

struct named {
	char *name;
	uint64_t value;
};

struct group {
	char *name;
	int *nrs;
	size_t n;
};

struct parser {
	const char *file;
	unsigned line;
	struct sc_profile *out;
	struct named *consts;
	size_t n_consts;
	struct group *groups;
	size_t n_groups;
	bool have_default;
	char *tok[MAX_TOKENS]; /* the statement being read, which may span lines */
	unsigned tok_line[MAX_TOKENS];
	struct herr *e;
};

static const struct {
	const char *name;
	int value;
} errnos[] = {
    {"EPERM", EPERM},
    {"ENOENT", ENOENT},
    {"EIO", EIO},
    {"EBADF", EBADF},
    {"EAGAIN", EAGAIN},
    {"ENOMEM", ENOMEM},
    {"EACCES", EACCES},
    {"EFAULT", EFAULT},
    {"EINVAL", EINVAL},
    {"ENOSYS", ENOSYS},
    {"ENOTSUP", ENOTSUP},
    {"EOPNOTSUPP", EOPNOTSUPP},
    {"EAFNOSUPPORT", EAFNOSUPPORT},
    {"ENOTTY", ENOTTY},
};

int sc_errno_from_name(const char *name)
{
	char *end;
	long v;

	for (size_t i = 0; i < ARRAY_SIZE(errnos); i++)
		if (strcmp(errnos[i].name, name) == 0)
			return errnos[i].value;
	v = strtol(name, &end, 0);
	return *name && !*end && v >= 0 && v < 4096 ? (int)v : -1;
}

__attribute__((format(printf, 2, 3))) static int fail(struct parser *ps, const char *fmt, ...)
{
	size_t len;
	va_list ap;

	herr_set(ps->e, 0, "%s:%u: ", ps->file, ps->line);
	len = strlen(ps->e->msg);
	va_start(ap, fmt);
	vsnprintf(ps->e->msg + len, sizeof(ps->e->msg) - len, fmt, ap);
	va_end(ap);
	return herr_hint(ps->e, "see hutch-seccomp(5)");
}

/* ACTION at tok[*i]; advances *i past it. */
static int parse_action(struct parser *ps, char **tok, size_t n, size_t *i, uint32_t *act)
{
	const char *a = tok[*i];
	int err;

	(*i)++;
	if (strcmp(a, "allow") == 0)
		*act = SCMP_ACT_ALLOW;
	else if (strcmp(a, "log") == 0)
		*act = SCMP_ACT_LOG;
	else if (strcmp(a, "trap") == 0)
		*act = SCMP_ACT_TRAP;
	else if (strcmp(a, "kill") == 0)
		*act = SCMP_ACT_KILL_PROCESS;
	else if (strcmp(a, "kill-thread") == 0)
		*act = SCMP_ACT_KILL_THREAD;
	else if (strcmp(a, "errno") == 0) {
		if (*i >= n)
			return fail(ps, "'errno' needs a value such as EPERM");
		err = sc_errno_from_name(tok[*i]);
		if (err < 0)
			return fail(ps, "unknown errno '%s'", tok[*i]);
		(*i)++;
		*act = SCMP_ACT_ERRNO((uint16_t)err);
	} else
		return fail(
		    ps, "unknown action '%s' (allow, log, trap, kill, kill-thread, errno E)", a);
	return 0;
}

static int parse_value(struct parser *ps, const char *s, uint64_t *out)
{
	_cleanup_free_ char *copy = xstrdup(s);
	char *save = NULL;

	*out = 0;
	for (char *part = strtok_r(copy, "|", &save); part; part = strtok_r(NULL, "|", &save)) {
		char *end;
		bool found = false;

		if (isdigit((unsigned char)part[0])) {
			errno = 0;
			*out |= strtoull(part, &end, 0);
			if (errno || *end)
				return fail(ps, "bad number '%s'", part);
			continue;
		}
		for (size_t i = 0; i < ps->n_consts && !found; i++)
			if (strcmp(ps->consts[i].name, part) == 0) {
				*out |= ps->consts[i].value;
				found = true;
			}
		if (!found)
			return fail(ps, "unknown constant '%s' (define it with 'const')", part);
	}
	return 0;
}

static int parse_arg(struct parser *ps, const char *s, unsigned *arg)
{
	if (strncmp(s, "arg", 3) != 0 || s[3] < '0' || s[3] > '5' || s[4])
		return fail(ps, "expected arg0 to arg5, found '%s'", s);
	*arg = (unsigned)(s[3] - '0');
	return 0;
}

/* `if COND [and COND]...` from tok[i] to the end. */
static int parse_conds(struct parser *ps, char **tok, size_t n, size_t i, struct sc_rule *r)
{
	static const struct {
		const char *op;
		int cmp;
	} ops[] = {{"==", SCMP_CMP_EQ}, {"!=", SCMP_CMP_NE}, {"<", SCMP_CMP_LT},
		   {"<=", SCMP_CMP_LE}, {">", SCMP_CMP_GT},  {">=", SCMP_CMP_GE}};

	while (i < n) {
		struct sc_cond *c = &r->conds[r->n_conds];
		bool masked;

		if (r->n_conds == ARRAY_SIZE(r->conds))
			return fail(ps, "too many conditions (at most 6)");
		if (n - i < 3 || parse_arg(ps, tok[i], &c->arg) < 0)
			return n - i < 3 ? fail(ps, "incomplete condition at '%s'", tok[i]) : -1;
		masked = strcmp(tok[i + 1], "&") == 0;
		if (masked) {
			if (n - i < 5 || strcmp(tok[i + 3], "==") != 0)
				return fail(ps, "a masked condition reads 'argN & MASK == VALUE'");
			c->op = SCMP_CMP_MASKED_EQ;
			if (parse_value(ps, tok[i + 2], &c->a) < 0 ||
			    parse_value(ps, tok[i + 4], &c->b) < 0)
				return -1;
			i += 5;
		} else {
			c->op = 0;
			for (size_t k = 0; k < ARRAY_SIZE(ops); k++)
				if (strcmp(ops[k].op, tok[i + 1]) == 0)
					c->op = ops[k].cmp;
			if (!c->op)
				return fail(ps, "unknown comparison '%s'", tok[i + 1]);
			if (parse_value(ps, tok[i + 2], &c->a) < 0)
				return -1;
			i += 3;
		}
		for (unsigned k = 0; k < r->n_conds; k++)
			if (r->conds[k].arg == c->arg)
				return fail(ps, "%s is compared twice in one rule; write two rules",
					    tok[i - 3]);
		r->n_conds++;
		if (i < n && strcmp(tok[i], "and") != 0)
			return fail(ps, "expected 'and' before '%s'", tok[i]);
		i += i < n;
	}
	return 0;
}

static struct group *find_group(struct parser *ps, const char *name)
{
	for (size_t i = 0; i < ps->n_groups; i++)
		if (strcmp(ps->groups[i].name, name) == 0)
			return &ps->groups[i];
	return NULL;
}

/* Point messages at the line of `token` (a word of the current statement). */
static void at(struct parser *ps, const char *token)
{
	for (size_t i = 0; i < MAX_TOKENS && ps->tok[i]; i++)
		if (ps->tok[i] == token)
			ps->line = ps->tok_line[i];
}

static int resolve(struct parser *ps, const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR) {
		at(ps, name);
		return fail(ps, "unknown system call '%s'", name);
	}
	return nr;
}

static void add_rule(struct parser *ps, const struct sc_rule *tmpl, int nr)
{
	struct sc_profile *p = ps->out;

	p->rules = xreallocarray(p->rules, p->n_rules + 1, sizeof(*p->rules));
	p->rules[p->n_rules] = *tmpl;
	p->rules[p->n_rules].nr = nr;
	p->n_rules++;
}

static int statement_rule(struct parser *ps, char **tok, size_t n)
{
	struct sc_rule r = {.line = ps->line};
	size_t i = 0, names, end;

	if (parse_action(ps, tok, n, &i, &r.action) < 0)
		return -1;
	names = i;
	for (end = i; end < n && strcmp(tok[end], "if") != 0; end++)
		;
	if (end == names)
		return fail(ps, "a rule needs at least one system call");
	if (end < n && (end + 1 == n || parse_conds(ps, tok, n, end + 1, &r) < 0))
		return end + 1 == n ? fail(ps, "'if' needs a condition") : -1;
	for (i = names; i < end; i++) {
		const struct group *g;
		int nr;

		if (tok[i][0] != '@') {
			if ((nr = resolve(ps, tok[i])) < 0)
				return -1;
			add_rule(ps, &r, nr);
			continue;
		}
		if (!(g = find_group(ps, tok[i] + 1)))
			return fail(ps, "unknown group '%s' (define it with 'group' first)",
				    tok[i]);
		for (size_t k = 0; k < g->n; k++)
			add_rule(ps, &r, g->nrs[k]);
	}
	return 0;
}

static int statement_group(struct parser *ps, char **tok, size_t n)
{
	struct group *g;

	if (n < 2)
		return fail(ps, "'group' needs a name");
	if (!(g = find_group(ps, tok[1]))) {
		ps->groups = xreallocarray(ps->groups, ps->n_groups + 1, sizeof(*ps->groups));
		g = &ps->groups[ps->n_groups++];
		*g = (struct group){.name = xstrdup(tok[1])};
	}
	for (size_t i = 2; i < n; i++) {
		int nr = resolve(ps, tok[i]);

		if (nr < 0)
			return -1;
		g->nrs = xreallocarray(g->nrs, g->n + 1, sizeof(*g->nrs));
		g->nrs[g->n++] = nr;
	}
	return 0;
}

static int statement(struct parser *ps, char **tok, size_t n)
{
	size_t i = 1;
	uint64_t v;
	int nr;

	if (strcmp(tok[0], "default") == 0) {
		if (n < 2 || parse_action(ps, tok, n, &i, &ps->out->def_action) < 0)
			return n < 2 ? fail(ps, "'default' needs an action") : -1;
		ps->have_default = true;
	} else if (strcmp(tok[0], "newer-than") == 0) {
		if (n < 3)
			return fail(ps, "'newer-than' needs a system call and an action");
		if ((nr = resolve(ps, tok[1])) < 0)
			return -1;
		i = 2;
		if (parse_action(ps, tok, n, &i, &ps->out->newer_action) < 0)
			return -1;
		ps->out->newer_than = nr;
	} else if (strcmp(tok[0], "const") == 0) {
		if (n != 3 || parse_value(ps, tok[2], &v) < 0)
			return n != 3 ? fail(ps, "'const' reads 'const NAME VALUE'") : -1;
		ps->consts = xreallocarray(ps->consts, ps->n_consts + 1, sizeof(*ps->consts));
		ps->consts[ps->n_consts++] = (struct named){xstrdup(tok[1]), v};
		i = n;
	} else if (strcmp(tok[0], "group") == 0) {
		return statement_group(ps, tok, n);
	} else {
		return statement_rule(ps, tok, n);
	}
	if (i < n)
		return fail(ps, "unexpected '%s' at the end of the line", tok[i]);
	return 0;
}

static void parser_free(struct parser *ps)
{
	for (size_t i = 0; i < ps->n_consts; i++)
		free(ps->consts[i].name);
	for (size_t i = 0; i < ps->n_groups; i++) {
		free(ps->groups[i].name);
		free(ps->groups[i].nrs);
	}
	free(ps->consts);
	free(ps->groups);
}

int sc_profile_parse_text(const char *file, const char *text, struct sc_profile *out,
			  struct herr *e)
{
	__attribute__((cleanup(parser_free))) struct parser ps = {.file = file, .out = out, .e = e};
	_cleanup_free_ char *copy = xstrdup(text);
	char *save = NULL, *line = copy, *next;
	unsigned ps_last = 0;
	size_t n = 0;

	*out = (struct sc_profile){.newer_than = -1};
	for (unsigned lineno = 1; line; line = next, lineno++) {
		char *hash;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if ((hash = strchr(line, '#')))
			*hash = 0;
		/* a line that starts with blanks continues the statement above */
		if (line[0] != ' ' && line[0] != '\t' && line[strspn(line, " \t\r")] != 0) {
			if (n && statement(&ps, ps.tok, n) < 0)
				return -1;
			memset(ps.tok, 0, n * sizeof(ps.tok[0]));
			n = 0;
			ps.line = lineno;
		}
		for (char *t = strtok_r(line, " \t\r", &save); t;
		     t = strtok_r(NULL, " \t\r", &save)) {
			if (n == MAX_TOKENS)
				return fail(&ps, "statement too long (split it)");
			ps.tok_line[n] = lineno;
			ps.tok[n++] = t;
		}
		if (line[strspn(line, " \t\r")] != 0)
			ps_last = lineno;
	}
	if (n && statement(&ps, ps.tok, n) < 0)
		return -1;
	if (!ps.have_default) {
		herr_set(e, 0, "%s:%u: no 'default' action", file, ps_last);
		return herr_hint(e,
				 "add a line such as 'default errno EPERM'; see hutch-seccomp(5)");
	}
	return 0;
}

void sc_profile_free(struct sc_profile *p)
{
	free(p->rules);
	p->rules = NULL;
	p->n_rules = 0;
}
