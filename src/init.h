/* pid 1 of the sandbox's pid namespace: reaps every orphan, forwards the usual signals to the
 * command, and exits with the command's status (which ends the namespace and all in it). */
#pragma once
#include <signal.h>
#include <sys/types.h>

/* The signals the monitor passes on and the init forwards. */
void init_forwarded_signals(sigset_t *set);
/* In the init, before anything else: a pid-namespace init only receives signals it has a
 * handler for, so give each forwarded signal (and SIGCHLD) a handler and keep them blocked, to
 * be taken with sigwaitinfo. */
void init_prepare_signals(void);
/* In the command, before exec: default dispositions and an empty mask, as a fresh process has. */
void init_reset_signals(void);
/* Never returns: lock the init down, open the command's gate (`ready`, a pipe's write end),
 * then supervise `command` until it exits, and exit with its status. */
__attribute__((noreturn)) void init_supervise(pid_t command, int ready);
