/* The monitor: the process the user started, outside every namespace. It forwards signals to
 * the sandbox, relays the terminal, and waits for the init to exit. */
#pragma once
#include <signal.h>

#include "sandbox.h"

/* Block the forwarded signals before the clone so none is lost while the sandbox starts. */
void monitor_block_signals(sigset_t *old);
/* Wait for the sandbox to end; returns hutch's exit status. */
int monitor_wait(struct sandbox *sb, int master, struct herr *e);
