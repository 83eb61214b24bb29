/* The terminal: when stdin is a terminal the command gets a pty of its own, from the sandbox's
 * devpts, and the monitor relays bytes; the user's real terminal never reaches the command, so
 * nothing inside can push keystrokes into it (TIOCSTI) or change its settings. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <termios.h>

#include "errors.h"

struct tty_plan {
	bool use_pty;	/* stdin is a terminal */
	bool slave_out; /* stdout is a terminal: the command's fd 1 is the pty too */
	bool slave_err; /* likewise fd 2 */
	bool have_size;
	struct winsize size; /* the caller's window size at start */
};

void terminal_probe(struct tty_plan *t);
/* Inside, after the new /dev/pts exists: open a pty master (returned) sized like the caller's. */
int terminal_open_pty(const struct tty_plan *t, struct herr *e);
/* In the command, before exec: a new session; with a pty, make it the controlling terminal and
 * put it on fds 0 (and 1, 2 where those were terminals outside). */
int terminal_attach(const struct tty_plan *t, int master, struct herr *e);

/* The monitor's side. */
struct relay {
	int in;	    /* the caller's stdin, -1 after EOF */
	int master; /* -1 once the sandbox side has closed */
	int out;    /* where the command's terminal output goes */
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
