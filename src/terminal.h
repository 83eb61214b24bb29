/* The terminal: when any of fds 0-2 is the caller's terminal the command gets a pty of its own,
 * from the sandbox's devpts, on those fds, and the monitor relays bytes; the caller's terminal
 * never reaches the command, so nothing inside can push keystrokes into it (TIOCSTI), change its
 * settings or its line discipline (stdfds.h decides, per fd). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <termios.h>

#include "errors.h"

struct tty_plan {
	bool use_pty;  /* some of fds 0-2 is the caller's terminal */
	bool slave[3]; /* fd i is that terminal: the command's fd i is the pty */
	/* fd 0 is that terminal (or OCI's process.terminal): the pty becomes the command's
	 * controlling terminal, the caller's keys are relayed to it, the caller's terminal is
	 * raw meanwhile. Else the pty only carries output: no controlling terminal (as without
	 * a pty), and the caller's terminal is left as it is. */
	bool ctty;
	int term; /* the monitor's fd of the caller's terminal (the lowest of 0-2), -1 */
	bool have_size;
	struct winsize size; /* the caller's window size at start */
	bool have_mode;
	struct termios mode; /* output only: the caller's settings, the pty starts with them */
};

/* Which of fds 0-2 is the caller's terminal, its size and settings (stdfds_probe calls it). */
void terminal_probe(struct tty_plan *t, int fd);
/* Inside, after the new /dev/pts exists: open a pty master (returned) sized like the caller's. */
int terminal_open_pty(const struct tty_plan *t, struct herr *e);
/* In the command, before exec: a new session; with a pty, put it on the fds that were the
 * terminal outside, and make it the controlling terminal where fd 0 was. */
int terminal_attach(const struct tty_plan *t, int master, struct herr *e);

/* The monitor's side. */
struct relay {
	int in;	    /* the caller's stdin, -1 after EOF (or when it is no terminal) */
	int master; /* -1 once the sandbox side has closed */
	int out;    /* where the command's terminal output goes */
	int term;   /* the caller's terminal: its window size */
	bool ctty;  /* the pty is the command's controlling terminal (tty_plan.ctty) */
	bool raw;
	struct termios saved;
	char buf[4096]; /* stdin bytes the pty has not taken yet */
	size_t len;
};

int relay_start(struct relay *r, const struct tty_plan *t, int master, struct herr *e);
/* Move what can be moved; `revents` are poll results for in, master. */
void relay_step(struct relay *r, short in_revents, short master_revents);
/* After the sandbox ended: copy what is left in the pty, restore the caller's terminal. */
void relay_finish(struct relay *r);
void relay_resize(const struct relay *r);
