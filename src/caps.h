/* Capabilities: the command runs with none (or only those asked for with --cap-add, and those
 * only count inside the sandbox's user namespace), and can never gain more. */
#pragma once
#include <stdint.h>
#include <sys/capability.h>

#include "errors.h"

/* A capability's number (0-63) from its name, "CAP_NET_ADMIN", "cap_net_admin" or "net_admin";
 * -1 for a name this libcap does not know. */
int caps_from_name(const char *name);
/* Drop every capability not in `keep` from the bounding set (one prctl each; needs
 * CAP_SETPCAP). The bounding set is inherited across fork, so the sandbox's init drops it once,
 * for itself and the command, while it waits for its id maps (off the start's critical path). */
int caps_drop_bounding(uint64_t keep, struct herr *e);
/* What the init leaves in the bounding set for the command's caps_drop to take: fuse-overlayfs,
 * which the init starts with an ambient CAP_SYS_ADMIN (overlay.c), needs it there (capset
 * refuses an inheritable capability outside the bounding set). */
#define CAPS_BOUNDING_LATE (1ULL << CAP_SYS_ADMIN)
/* Drop every capability not in `keep` from the inheritable, permitted, effective and ambient
 * sets, and those in `bounding` but not in `keep` from the bounding set (~0 when nothing was
 * dropped before: see caps_drop_bounding), raise `keep` as ambient so it survives execve as a
 * non-root uid, and set PR_SET_NO_NEW_PRIVS. */
int caps_drop(uint64_t keep, uint64_t bounding, struct herr *e);
