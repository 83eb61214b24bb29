/* Capabilities: the command runs with none (or only those asked for with --cap-add, and those
 * only count inside the sandbox's user namespace), and can never gain more. */
#pragma once
#include <stdint.h>

#include "errors.h"

/* Drop every capability not in `keep` from the bounding, inheritable, permitted, effective and
 * ambient sets, raise `keep` as ambient so it survives execve as a non-root uid, and set
 * PR_SET_NO_NEW_PRIVS. */
int caps_drop(uint64_t keep, struct herr *e);
