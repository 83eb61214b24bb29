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
#include <fcntl.h>
#include <errno.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

static int resolve(struct parser *ps, const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return fail(ps, "unknown system call '%s'", name);
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
	char *save = NULL, *line = copy, *next, *tok[MAX_TOKENS];
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
			if (n && statement(&ps, tok, n) < 0)
				return -1;
			n = 0;
			ps.line = lineno;
		}
		for (char *t = strtok_r(line, " \t\r", &save); t;
		     t = strtok_r(NULL, " \t\r", &save)) {
			if (n == MAX_TOKENS)
				return fail(&ps, "statement too long (split it)");
			tok[n++] = t;
		}
		if (line[strspn(line, " \t\r")] != 0)
			ps_last = lineno;
	}
	if (n && statement(&ps, tok, n) < 0)
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

/* ---- compiling with libseccomp ---- */

int sc_read_file(const char *path, char **text, struct herr *e)
{
	const size_t max = 1 << 20;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	ssize_t r;

	if (fd < 0)
		return herr_set(e, errno, "%s", path);
	buf = xmalloc(max + 1);
	while ((r = read(fd, buf + len, max - len)) > 0)
		len += (size_t)r;
	if (r < 0)
		return herr_set(e, errno, "%s", path);
	if (len == max)
		return herr_set(e, 0, "%s: larger than 1 MiB, not a seccomp profile", path);
	buf[len] = 0;
	if (strlen(buf) != len)
		return herr_set(e, 0, "%s: a binary file, not a seccomp profile", path);
	*text = buf;
	buf = NULL;
	return 0;
}

static void ctx_release(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}

static scmp_filter_ctx new_ctx(uint32_t def)
{
	scmp_filter_ctx ctx = seccomp_init(def);

	/* Only the native ABI is in the filter; every other one (on x86_64: i386 through int 0x80,
	 * and x32, whose numbers carry __X32_SYSCALL_BIT) kills the process, so no rule can be
	 * bypassed through another ABI's numbering or through socketcall. */
	if (ctx && (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0 ||
		    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) < 0)) {
		seccomp_release(ctx);
		return NULL;
	}
	return ctx;
}

static int rule_error(const struct sc_profile *p, const struct sc_rule *r, const char *file,
		      int err, struct herr *e);

static int add_rule_to(scmp_filter_ctx ctx, const struct sc_profile *p, const struct sc_rule *r,
		       const char *file, struct herr *e)
{
	struct scmp_arg_cmp cmp[6];
	int err;

	for (unsigned i = 0; i < r->n_conds; i++)
		cmp[i] = (struct scmp_arg_cmp){r->conds[i].arg, (enum scmp_compare)r->conds[i].op,
					       r->conds[i].a, r->conds[i].b};
	err = seccomp_rule_add_array(ctx, r->action, r->nr, r->n_conds, cmp);
	return err == 0 ? 0 : rule_error(p, r, file, err, e);
}

static int rule_error(const struct sc_profile *p, const struct sc_rule *r, const char *file,
		      int err, struct herr *e)
{
	{
		_cleanup_free_ char *name =
		    seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, r->nr);

		if (p->json)
			herr_set(e, 0, "%s: syscalls[%u] (%s): ", file, r->line, name ? name : "?");
		else
			herr_set(e, 0, "%s:%u: %s: ", file, r->line, name ? name : "?");
	}
	snprintf(e->msg + strlen(e->msg), sizeof(e->msg) - strlen(e->msg), "%s",
		 err == -EEXIST || err == -EACCES
		     ? "conflicts with an earlier rule for the same system call"
		     : strerror(-err));
	return herr_hint(e, "see hutch-seccomp(5)");
}

static int conflict(const struct sc_profile *p, const struct sc_rule *r, const char *file,
		    struct herr *e)
{
	return rule_error(p, r, file, -EEXIST, e);
}

/* Two unconditional rules for one call with different actions: libseccomp would silently keep
 * the last, which is never what the author meant. */
static bool conflicting(const struct sc_profile *p, size_t i)
{
	const struct sc_rule *r = &p->rules[i];

	for (size_t k = 0; k < i && r->n_conds == 0; k++)
		if (p->rules[k].nr == r->nr && p->rules[k].n_conds == 0 &&
		    p->rules[k].action != r->action)
			return true;
	return false;
}

/* The BPF that libseccomp made for `ctx`, read back through a memfd (libseccomp 2.5 exports
 * only to an fd). */
static int export(scmp_filter_ctx ctx, struct sock_filter **insns, unsigned short *len,
		  size_t prefix, struct herr *e)
{
	_cleanup_close_ int fd = memfd_create("hutch-seccomp", MFD_CLOEXEC);
	struct stat st;
	int err;

	if (fd < 0)
		return herr_set(e, errno, "memfd_create");
	if ((err = seccomp_export_bpf(ctx, fd)) < 0)
		return herr_set(e, -err, "cannot compile the seccomp filter");
	if (fstat(fd, &st) < 0)
		return herr_set(e, errno, "fstat");
	if (st.st_size % sizeof(struct sock_filter) ||
	    (size_t)st.st_size / sizeof(struct sock_filter) + prefix > BPF_MAXINSNS)
		return herr_set(e, 0, "the seccomp filter is too large (%lld bytes)",
				(long long)st.st_size);
	*len = (unsigned short)(prefix + (size_t)st.st_size / sizeof(struct sock_filter));
	*insns = xcalloc(*len, sizeof(struct sock_filter));
	if (pread(fd, *insns + prefix, (size_t)st.st_size, 0) != st.st_size)
		return herr_set(e, errno, "cannot read the seccomp filter back");
	return 0;
}

/* System calls numbered above the profile's newest get `action` (ENOSYS, so that libc falls
 * back as on an older kernel); numbers with the x32 bit fall through to the main filter, which
 * kills. Relative jumps: the prefix ends where libseccomp's program begins. */
static void newer_prefix(const struct sc_profile *p, struct sock_filter *f)
{
	const uint32_t arch = seccomp_arch_native();
	const struct sock_filter prefix[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4), /* seccomp_data.arch */
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 0, 4),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0), /* seccomp_data.nr */
	    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 2, 0),
	    BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)p->newer_than, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, p->newer_action),
	};

	memcpy(f, prefix, sizeof(prefix));
}
#define NEWER_PREFIX_LEN 6

/* One filter instead of two: the denials' program runs first and each of its "allow" verdicts
 * becomes a jump to the allowlist's start (classic BPF jumps only forward, and the allowlist
 * follows). The kernel then attaches, JITs and runs one program: a shorter start, and no second
 * filter for calls whose verdict is not cached. */
static int merge(struct sc_filters *f, struct herr *e)
{
	size_t deny = f->len[1], total = (size_t)f->len[0] + f->len[1];
	struct sock_filter *m;

	if (total > BPF_MAXINSNS) {
		sc_filters_free(f);
		return herr_set(e, 0, "the seccomp filter is too large (%zu instructions)", total);
	}
	m = xcalloc(total, sizeof(*m));
	memcpy(m, f->insns[1], deny * sizeof(*m));
	memcpy(m + deny, f->insns[0], f->len[0] * sizeof(*m));
	for (size_t i = 0; i < deny; i++)
		if (m[i].code == (BPF_RET | BPF_K) && m[i].k == SCMP_ACT_ALLOW)
			m[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA,
							    (uint32_t)(deny - i - 1), 0, 0);
	sc_filters_free(f);
	*f = (struct sc_filters){.insns = {m}, .len = {(unsigned short)total}, .n = 1};
	return 0;
}

int sc_compile(const struct sc_profile *p, const char *file, struct sc_filters *out, struct herr *e)
{
	__attribute__((cleanup(ctx_release))) scmp_filter_ctx allow = new_ctx(p->def_action);
	__attribute__((cleanup(ctx_release))) scmp_filter_ctx deny = new_ctx(SCMP_ACT_ALLOW);
	bool any_deny = p->newer_than >= 0;

	*out = (struct sc_filters){0};
	if (!allow || !deny)
		return herr_set(e, ENOMEM, "seccomp_init");
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct sc_rule *r = &p->rules[i];
		bool to_deny = r->action != SCMP_ACT_ALLOW && r->n_conds > 0;

		if (conflicting(p, i))
			return conflict(p, r, file, e);
		/* libseccomp refuses a rule that repeats the default action; it adds nothing */
		if (r->action == (to_deny ? SCMP_ACT_ALLOW : p->def_action))
			continue;
		if (add_rule_to(to_deny ? deny : allow, p, r, file, e) < 0)
			return -1;
		any_deny |= to_deny;
	}
	if (export(allow, &out->insns[0], &out->len[0], 0, e) < 0)
		return -1;
	out->n = 1;
	if (!any_deny)
		return 0;
	if (export(deny, &out->insns[1], &out->len[1], p->newer_than >= 0 ? NEWER_PREFIX_LEN : 0,
		   e) < 0) {
		sc_filters_free(out);
		return -1;
	}
	if (p->newer_than >= 0)
		newer_prefix(p, out->insns[1]);
	out->n = 2;
	return merge(out, e);
}

void sc_filters_free(struct sc_filters *f)
{
	for (size_t i = 0; i < 2; i++)
		free(f->insns[i]);
	*f = (struct sc_filters){0};
}
