/* pid 1 of the sandbox's pid namespace: reaps every orphan, forwards the usual signals to the
 * command, and exits with the command's status (which ends the namespace and all in it). */
#pragma once
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

/* The signals the monitor passes on and the init forwards. */
void init_forwarded_signals(sigset_t *set);
/* In the init, before anything else: every disposition the caller left reset to the default;
 * a pid-namespace init only receives signals it has a handler for, so give each forwarded
 * signal (and SIGCHLD) a handler and keep them blocked, to be taken with sigwaitinfo. */
void init_prepare_signals(void);
/* In the command the init forked, before exec: the init's handlers back to the default and an
 * empty mask, as a fresh process has (the rest are the default since init_prepare_signals). */
void init_command_signals(void);
/* In any other process before exec (`hutch exec`): every disposition the default, an empty
 * mask. */
void init_reset_signals(void);
/* Overwrite the launcher's command line in our memory: /proc/PID/cmdline shows "hutch-init". */
void init_hide_launcher(char *args, size_t len);
/* Never returns: lock the init down, open the command's gate (`ready`, a pipe's write end),
 * then supervise `command` until it exits; then kill and reap the rest, send MSG_EXIT on
 * `sock` (the channel to the monitor), and exit with the command's status. `args`, `len`: the
 * launcher's command line in our memory (plan.h's launcher_args), overwritten first. */
__attribute__((noreturn)) void init_supervise(pid_t command, int ready, int sock, char *args,
					      size_t len);
