/* Compiling a parsed profile into classic BPF with libseccomp, and reading profile files. */
#include "seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

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

static bool same_cond(const struct sc_cond *a, const struct sc_cond *b)
{
	return a->arg == b->arg && a->op == b->op && a->a == b->a && a->b == b->b;
}

/* The same system call and the same comparisons, in any order. */
static bool same_test(const struct sc_rule *a, const struct sc_rule *b)
{
	if (a->nr != b->nr || a->n_conds != b->n_conds)
		return false;
	for (unsigned i = 0; i < a->n_conds; i++) {
		bool found = false;

		for (unsigned k = 0; k < b->n_conds && !found; k++)
			found = same_cond(&a->conds[i], &b->conds[k]);
		if (!found)
			return false;
	}
	return true;
}

/* The earlier rule that tests what rules[i] tests but with another action, or NULL. */
static const struct sc_rule *clash(const struct sc_profile *p, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (same_test(&p->rules[k], &p->rules[i]) &&
		    p->rules[k].action != p->rules[i].action)
			return &p->rules[k];
	return NULL;
}

/* "FILE:LINE: NAME: " or, for JSON, "FILE: syscalls[N] (NAME): " */
static void where(const struct sc_profile *p, const struct sc_rule *r, const char *file,
		  struct herr *e)
{
	_cleanup_free_ char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, r->nr);

	if (p->json)
		herr_set(e, 0, "%s: syscalls[%u] (%s): ", file, r->line, name ? name : "?");
	else
		herr_set(e, 0, "%s:%u: %s: ", file, r->line, name ? name : "?");
}

static int rule_error(const struct sc_profile *p, const struct sc_rule *r, const char *file,
		      int err, struct herr *e)
{
	const struct sc_rule *earlier = err == -EEXIST ? clash(p, (size_t)(r - p->rules)) : NULL;
	size_t len;

	where(p, r, file, e);
	len = strlen(e->msg);
	if (earlier && p->json)
		snprintf(e->msg + len, sizeof(e->msg) - len,
			 "tests the same arguments as syscalls[%u] with another action",
			 earlier->line);
	else if (earlier)
		snprintf(e->msg + len, sizeof(e->msg) - len,
			 "tests the same arguments as line %u with another action", earlier->line);
	else
		snprintf(e->msg + len, sizeof(e->msg) - len, "%s",
			 err == -EEXIST || err == -EACCES
			     ? "conflicts with an earlier rule for the same system call"
			     : strerror(-err));
	return herr_hint(e, earlier ? "keep one of the two rules; see hutch-seccomp(5)"
				    : "see hutch-seccomp(5)");
}

/* Text format: two unconditional rules for one call with different actions. libseccomp would
 * silently keep the first, which is never what the author meant. */
static const struct sc_rule *conflicting(const struct sc_profile *p, size_t i)
{
	const struct sc_rule *r = &p->rules[i];

	for (size_t k = 0; k < i && r->n_conds == 0; k++)
		if (p->rules[k].nr == r->nr && p->rules[k].n_conds == 0 &&
		    p->rules[k].action != r->action)
			return &p->rules[k];
	return NULL;
}

static int conflict(const struct sc_profile *p, const struct sc_rule *r,
		    const struct sc_rule *earlier, const char *file, struct herr *e)
{
	size_t len;

	where(p, r, file, e);
	len = strlen(e->msg);
	snprintf(e->msg + len, sizeof(e->msg) - len,
		 "conflicts with line %u (another action for the same system call)", earlier->line);
	return herr_hint(e, "keep one of the two rules; see hutch-seccomp(5)");
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

/* A rule that repeats an earlier one (the same test and action) adds nothing. */
static bool repeated(const struct sc_profile *p, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (same_test(&p->rules[k], &p->rules[i]) &&
		    p->rules[k].action == p->rules[i].action)
			return true;
	return false;
}

/* OCI/Docker JSON: the rules go into one libseccomp context in file order, as runc and crun put
 * them, so that a profile means under hutch what it means under podman and Docker. That is
 * libseccomp's reading, where hutch's text format has its own (sc_compile below): the first
 * unconditional rule for a system call decides it, and any other rule for that call (a later
 * unconditional one with another action, a conditional one before or after) has no effect;
 * rules with argument tests combine, whatever their actions, unless two test the same
 * arguments with different actions, which is refused naming both. */
static int compile_ordered(const struct sc_profile *p, const char *file, struct sc_filters *out,
			   struct herr *e)
{
	__attribute__((cleanup(ctx_release))) scmp_filter_ctx ctx = new_ctx(p->def_action);

	*out = (struct sc_filters){0};
	if (!ctx)
		return herr_set(e, ENOMEM, "seccomp_init");
	for (size_t i = 0; i < p->n_rules; i++) {
		/* the default action already applies (runc and crun skip these too) */
		if (p->rules[i].action == p->def_action || repeated(p, i))
			continue;
		if (add_rule_to(ctx, p, &p->rules[i], file, e) < 0)
			return -1;
	}
	if (export(ctx, &out->insns[0], &out->len[0], 0, e) < 0)
		return -1;
	out->n = 1;
	return 0;
}

int sc_compile_here(const struct sc_profile *p, const char *file, struct sc_filters *out,
		    struct herr *e)
{
	if (p->json)
		return compile_ordered(p, file, out, e);

	__attribute__((cleanup(ctx_release))) scmp_filter_ctx allow = new_ctx(p->def_action);
	__attribute__((cleanup(ctx_release))) scmp_filter_ctx deny = new_ctx(SCMP_ACT_ALLOW);
	bool any_deny = p->newer_than >= 0;

	*out = (struct sc_filters){0};
	if (!allow || !deny)
		return herr_set(e, ENOMEM, "seccomp_init");
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct sc_rule *r = &p->rules[i];
		bool to_deny = r->action != SCMP_ACT_ALLOW && r->n_conds > 0;
		const struct sc_rule *earlier = conflicting(p, i);

		if (earlier)
			return conflict(p, r, earlier, file, e);
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

/*
 * libseccomp 2.5.4 can loop for ever on a short profile: two rules for one call, each with a
 * range test and a test of another argument ("errno EAFNOSUPPORT socket if arg2 == 47 and
 * arg0 > 3", then the same with arg5; tests/fuzz/corpus/seccomp_text/regress-libseccomp-hang).
 * A profile is whoever wrote the file's (a config.json's linux.seccomp is the engine's), so it
 * is compiled in a child given SC_COMPILE_MS: what takes longer is an error, not a hang. The
 * child sends its result, then the program(s), on a pipe.
 */
#define SC_COMPILE_MS 10000

struct compiled {
	int r;
	size_t n;
	unsigned short len[2];
	struct herr e;
};

static _Noreturn void compile_child(const struct sc_profile *p, const char *file, int fd)
{
	struct compiled c = {0};
	struct sc_filters f = {0};
	bool ok;

	c.r = sc_compile_here(p, file, &f, &c.e);
	c.n = c.r == 0 ? f.n : 0;
	memcpy(c.len, f.len, sizeof(c.len));
	ok = write(fd, &c, sizeof(c)) == (ssize_t)sizeof(c);
	for (size_t i = 0; ok && i < c.n; i++)
		ok = write(fd, f.insns[i], f.len[i] * sizeof(struct sock_filter)) ==
		     (ssize_t)(f.len[i] * sizeof(struct sock_filter));
	_exit(ok ? 0 : 1);
}

/* Everything the child writes until it closes the pipe, or NULL when it is late. */
static char *gather(int fd, size_t *len)
{
	struct timespec start, now;
	size_t cap = 1 << 16;
	char *buf = xmalloc(cap);
	ssize_t n;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (*len = 0;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long ms;
		int ready;

		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = SC_COMPILE_MS -
		     ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
		ready = ms > 0 ? poll(&pfd, 1, (int)ms) : 0;
		if (ready == 0 || (ready < 0 && errno != EINTR))
			break; /* late */
		if (ready < 0)
			continue;
		if (*len == cap)
			buf = xreallocarray(buf, cap *= 2, 1);
		n = read(fd, buf + *len, cap - *len);
		if (n == 0)
			return buf;
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			break;
		*len += n > 0 ? (size_t)n : 0;
	}
	free(buf);
	return NULL;
}

/* The child's result into out and e. */
static int unpack(const char *buf, size_t len, const char *file, struct sc_filters *out,
		  struct herr *e)
{
	struct compiled c;
	size_t off = sizeof(c);

	if (len < sizeof(c))
		return herr_set(e, 0, "%s: the seccomp compiler stopped early", file);
	memcpy(&c, buf, sizeof(c));
	if (c.r < 0) {
		*e = c.e;
		return -1;
	}
	for (size_t i = 0; i < c.n && i < 2; i++) {
		size_t bytes = c.len[i] * sizeof(struct sock_filter);

		if (len - off < bytes) {
			sc_filters_free(out);
			return herr_set(e, 0, "%s: the seccomp compiler stopped early", file);
		}
		out->insns[i] = xmalloc(bytes ? bytes : 1);
		memcpy(out->insns[i], buf + off, bytes);
		out->len[i] = c.len[i];
		out->n = i + 1;
		off += bytes;
	}
	return 0;
}

int sc_compile(const struct sc_profile *p, const char *file, struct sc_filters *out, struct herr *e)
{
	_cleanup_free_ char *buf = NULL;
	int fds[2], status;
	size_t len = 0;
	pid_t pid;

	*out = (struct sc_filters){0};
	if (pipe2(fds, O_CLOEXEC) < 0)
		return herr_set(e, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return herr_set(e, errno, "fork");
	}
	if (pid == 0) {
		close(fds[0]);
		compile_child(p, file, fds[1]);
	}
	close(fds[1]);
	buf = gather(fds[0], &len);
	close(fds[0]);
	if (!buf)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!buf) {
		herr_set(e, 0, "%s: libseccomp did not finish compiling this profile in %d s", file,
			 SC_COMPILE_MS / 1000);
		return herr_hint(e, "libseccomp 2.5 can loop on several rules for one system call "
				    "that each test a range (>, >=, <, <=) and another argument; "
				    "write those rules another way");
	}
	return unpack(buf, len, file, out, e);
}

void sc_filters_free(struct sc_filters *f)
{
	for (size_t i = 0; i < 2; i++)
		free(f->insns[i]);
	*f = (struct sc_filters){0};
}
