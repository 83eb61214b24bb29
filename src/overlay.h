/* Overlay mounts: the root from read-only layers (--rootfs, --image) under a writable layer, and
 * throw-away writable views of host directories (--overlay). Kernel overlayfs inside the user
 * namespace, or fuse-overlayfs when the kernel refuses or when asked.
 *
 * The upper and work directories live in a private tmpfs mounted over the init's old /tmp (or,
 * with --persist, in a host directory): both sit outside the new root and go away with the old
 * root at pivot_root, so the sandbox can never see or reach them. */
#pragma once
#include <stdbool.h>
#include <stdio.h>

#include "errors.h"
#include "plan.h"
#include "user.h"

struct overlays {
	int scratch;	 /* the private tmpfs, or -1 when no overlay is asked for */
	int *lower;	 /* p->layers, opened while the host's tree is whole */
	int *host;	 /* p->overlays, likewise */
	int persist;	 /* --persist DIR, or -1 */
	int upper, work; /* --persist DIR/upper and DIR/work, or -1 */
	const struct plan *p;
	const struct ids *ids;
};

/* Open every layer and host directory, then cover /tmp with the private tmpfs (of SIZE bytes,
 * a decimal string: the throw-away upper layers live in it). Returns the path where the new
 * root must be assembled ("/tmp/root"), NULL when no overlay is asked for, or (char *)-1 on
 * error. */
const char *overlay_prepare(const struct plan *p, const struct ids *ids, struct overlays *ov,
			    const char *size, struct herr *e);
/* Mount the root's overlay at `target` (the path overlay_prepare returned). */
int overlay_root(struct overlays *ov, const char *target, struct herr *e);
/* Each --overlay PATH, at PATH inside the new root `rootfd`. */
int overlay_host_dirs(struct overlays *ov, int rootfd, struct herr *e);
void overlay_close(struct overlays *ov);
/* --dry-run */
void overlay_describe(const struct plan *p, FILE *out);
