/* Seccomp: profiles (a text format, see hutch-seccomp(5), or OCI/Docker JSON) compiled with
 * libseccomp into classic BPF, and installed as the command's very last step before execve and
 * on the sandbox's own init. The built-in profiles are compiled at build time (seccomp-gen.c),
 * so a default run spends no time in libseccomp. */
#pragma once
#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/* One argument comparison; `op` is libseccomp's enum scmp_compare. */
struct sc_cond {
	unsigned arg;
	int op;
	uint64_t a, b;
};

struct sc_rule {
	int nr;		 /* system call number on the native architecture */
	uint32_t action; /* libseccomp's SCMP_ACT_* encoding */
	struct sc_cond conds[6];
	unsigned n_conds;
	unsigned line; /* where the rule came from, for messages */
};

/* A parsed profile: what the text and JSON front ends both produce. */
struct sc_profile {
	uint32_t def_action;
	int newer_than; /* -1, or: system calls numbered above this get newer_action */
	uint32_t newer_action;
	struct sc_rule *rules;
	size_t n_rules;
	bool json; /* rule `line`s are indexes into "syscalls" */
};

/* Compiled filters, installed in order. sc_compile makes one: the conditional denials (which
 * libseccomp cannot put next to an unconditional allow of the same call) compiled apart and
 * joined in front of the allowlist. Room for two is kept for filters built elsewhere. */
struct sc_filters {
	struct sock_filter *insns[2];
	unsigned short len[2];
	size_t n;
};

/* A built-in profile, compiled at build time (seccomp-builtin.c, generated). */
struct sc_builtin {
	const char *name;
	const struct sock_filter *insns[2];
	unsigned short len[2];
	size_t n;
};
extern const struct sc_builtin sc_builtins[];
extern const size_t sc_n_builtins;

/* Text format: parse `text` (from `file`, for messages "file:line: ..."). */
int sc_profile_parse_text(const char *file, const char *text, struct sc_profile *out,
			  struct herr *e);
/* OCI runtime-spec / Docker JSON; `caps`: the capabilities the command keeps (bit N: capability
 * N), for the rules' includes/excludes. */
int sc_profile_parse_json(const char *file, const char *text, uint64_t caps,
			  struct sc_profile *out, struct herr *e);
/* ...from a document already parsed (config.json's linux.seccomp), every field type-checked,
 * errors naming its JSON path (json-get.h). */
struct jval;
int sc_profile_from_json(const struct jval *doc, uint64_t caps, struct sc_profile *out,
			 struct herr *e);
void sc_profile_free(struct sc_profile *p);
/* "ERRNO NAME" / "kill" ...: the action's name for messages and the generator. */
int sc_errno_from_name(const char *name);

/* Read a profile file (at most 1 MiB) into a NUL-terminated string. */
int sc_read_file(const char *path, char **text, struct herr *e);
/* Compile with libseccomp, in a child given 10 s: libseccomp 2.5.4 loops for ever on some
 * profiles (src/seccomp-compile.c), and a profile is whoever wrote the file's. */
int sc_compile(const struct sc_profile *p, const char *file, struct sc_filters *out,
	       struct herr *e);
/* sc_compile without its child and deadline (libseccomp may loop on some profiles): for the fuzz
 * targets, which must see the compiler's coverage and cannot fork for every input. */
int sc_compile_here(const struct sc_profile *p, const char *file, struct sc_filters *out,
		    struct herr *e);
void sc_filters_free(struct sc_filters *f);

/* --seccomp ARG: a built-in name, `none`, or a file (.json: JSON, else text); fills `out`.
 * `none` leaves it empty and sets *none. `caps`: the capabilities the command keeps (a JSON
 * profile's includes/excludes). */
int sc_load(const char *arg, uint64_t caps, struct sc_filters *out, bool *none, struct herr *e);
/* Does ARG name a JSON profile (whose rules may depend on capabilities)? */
bool sc_is_json(const char *arg);

/* The command's last step before execve: the plan's filters, or the default profile's, or with
 * --seccomp none a notice (no_new_privs must be set). */
struct plan;
int sc_apply(const struct plan *p, struct herr *e);
/* The sandbox's pid-1 init, after it dropped its capabilities: it only waits, reaps, forwards
 * signals and exits; everything else fails with EPERM. */
int sc_install_init(struct herr *e);
