/* Desktop apps (issue 6): --display and --audio, resolved from the caller's environment. */
#pragma once
#include "errors.h"
#include "plan.h"

/* After parsing: turn --display and --audio into binds of the display and audio sockets and
 * the variables that name them inside. Reads the environment (DISPLAY, WAYLAND_DISPLAY,
 * XAUTHORITY, XDG_RUNTIME_DIR), so `hutch policy show` stays the same on any terminal. */
int desktop_apply(struct plan *p, struct herr *e);
