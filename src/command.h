/* The command (pid 2): the last steps before execve, in this order: session and terminal, file
 * descriptors, working directory, signals, capabilities and no_new_privs, then exec. */
#pragma once
#include "sandbox.h"

/* Never returns: execs the command, or exits 125 (setup), 126 (cannot execute), 127 (not found)
 * after saying why. */
/* `gate`: the read end of a pipe the init writes to once it has locked itself down. */
__attribute__((noreturn)) void command_exec(const struct sandbox *sb, int master, int gate);
