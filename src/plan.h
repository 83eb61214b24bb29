/* The plan: everything a front end (command line, later policy files and OCI config.json) decides
 * about one sandbox. Front ends fill it; the code that builds the sandbox only reads it and never
 * parses strings. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum mount_kind {
	MOUNT_BIND,    /* --bind SRC[:DST] */
	MOUNT_RO_BIND, /* --ro-bind SRC[:DST] */
	MOUNT_TMPFS,   /* --tmpfs DST[:SIZE] */
};

struct mount_req {
	enum mount_kind kind;
	char *src;     /* host path (binds only) */
	char *dst;     /* absolute path inside the sandbox */
	uint64_t size; /* tmpfs size in bytes, 0 = the kernel's default */
};

struct env_req {
	char *name;
	char *value; /* NULL: unset the variable */
};

struct plan {
	char **argv; /* the command and its arguments, NULL-terminated */

	bool has_uid, has_gid;
	uid_t uid; /* the id inside that the caller's own uid maps to */
	gid_t gid;

	bool share_net;
	char *hostname;

	struct mount_req *mounts;
	size_t n_mounts;

	char *chdir;

	bool keep_env;
	struct env_req *env; /* applied in order after the base environment */
	size_t n_env;

	int *pass_fds;
	size_t n_pass_fds;

	uint64_t caps_keep; /* bit N set: keep capability N inside the user namespace */

	int verbose;

	/* ---- seccomp and Landlock (issue 3) ---- */
	struct sc_filters *seccomp; /* --seccomp: compiled filters (seccomp.h); NULL: the default */
	bool seccomp_none;	    /* --seccomp none: no filter at all */

	/* ---- networking (issue 4) ---- */

	/* ---- cgroups, limits, timeout, report (issue 5) ---- */

	/* ---- policies (issue 6) ---- */
};

void plan_init(struct plan *p);
void plan_free(struct plan *p);
void plan_add_mount(struct plan *p, enum mount_kind kind, const char *src, const char *dst,
		    uint64_t size);
void plan_add_env(struct plan *p, const char *name, const char *value);
void plan_add_pass_fd(struct plan *p, int fd);
