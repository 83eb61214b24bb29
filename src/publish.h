/* -p/--publish: listeners on the host that forward into the sandbox, made by libslirp. */
#pragma once
#include <slirp/libslirp.h>

#include "errors.h"
#include "plan.h"

/* Open every forward of the plan; a port already in use is an error (before the command). */
int publish_all(Slirp *slirp, const struct plan *p, struct herr *e);
