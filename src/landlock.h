/* Landlock: a second, kernel-enforced fence around the command that mirrors the mount plan
 * (what is mounted read-only is read-only to Landlock too), and that scopes abstract unix
 * sockets and signals to the sandbox, so neither reaches the host even where a namespace is
 * shared (--share-net). Best effort: on kernels without it (or an older ABI) hutch says so with
 * -v and goes on with the namespaces alone. */
#pragma once
#include <stdbool.h>

#include "errors.h"
#include "plan.h"
#include "user.h"

/* The running kernel's Landlock ABI, 0 without Landlock. */
int landlock_abi(void);
/* In the command, after pivot_root and no_new_privs, before seccomp. */
int landlock_apply(const struct plan *p, const struct ids *ids, struct herr *e);
/* The same, with signals scoped or not (OCI exec: the container's pid namespace already stops
 * its signals, and its own domain would keep it from signalling the container's processes). */
int landlock_apply_scoped(const struct plan *p, const struct ids *ids, bool signals,
			  struct herr *e);
