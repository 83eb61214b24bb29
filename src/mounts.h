/* The sandbox's private root: a fresh tmpfs with the host's /usr and /etc read-only, a new /proc,
 * a minimal /dev, a private /tmp and an empty $HOME, plus the user's binds; then pivot_root. */
#pragma once
#include <stdint.h>
#include <stdio.h>

#include "errors.h"
#include "plan.h"
#include "user.h"

/* Runs inside the new user and mount namespaces, as pid 1 of the new pid namespace. */
/* tmpfs_size: the size of every tmpfs it mounts without one (bounds.tmpfs, limits.h). */
int mounts_build_root(const struct plan *p, const struct ids *ids, uint64_t tmpfs_size,
		      struct herr *e);
/* The init, once it forked the command (which does not exec before the init is done): detach
 * the host's old root and make the root read-only (the default root; see enter_root). */
int mounts_finish_root(const struct plan *p, struct herr *e);
/* In the monitor, before anything else: create the --bind-create sources on the host. */
int mounts_create_sources(const struct plan *p, struct herr *e);
/* --dry-run: the mounts mounts_build_root would make, one a line. */
void mounts_describe(const struct plan *p, const struct ids *ids, FILE *out);
