/* Compiling a parsed profile into classic BPF with libseccomp, and reading profile files. */
#include "seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
