/* The command's fds 0-2. What the caller gave hutch reaches the command as it is, but for two
 * kinds of fd, which the command must never hold (SECURITY.md, "the caller's fds"):
 *   - the caller's terminal: the command gets a pty of its own instead (terminal.h), so that
 *     nothing inside can change the terminal's settings or line discipline, or push keys into
 *     it, whichever of fds 0-2 it is on;
 *   - an open file that the command could reopen through /proc/self/fd with more access than it
 *     was given, where nothing else stops that: a file opened for appending (`>> log`), and on
 *     a kernel without Landlock's truncation right (ABI 3) every file and device but the
 *     harmless ones. The command gets a pipe instead, and the monitor copies. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "errors.h"
#include "pollset.h"
#include "terminal.h"

enum stdfd_kind {
	STDFD_PASS,	 /* the caller's fd itself */
	STDFD_PTY,	 /* the caller's terminal: the pty's slave */
	STDFD_RELAY_OUT, /* a pipe the command writes, the monitor copies into the caller's fd */
	STDFD_RELAY_IN,	 /* a pipe the monitor fills from the caller's fd */
};

struct stdfds {
	enum stdfd_kind kind[3];
	int inner[3]; /* the command's end of fd i's pipe, -1 (fd 2 may share fd 1's) */
	int outer[3]; /* the monitor's end, non-blocking, -1 */
};

#define STDFDS_INIT                                                                                \
	{                                                                                          \
		.inner = {-1, -1, -1}, .outer = { -1, -1, -1 }                                     \
	}

/* Outside, before the clone: look at fds 0-2, fill the terminal's plan, make the pipes. */
int stdfds_probe(struct stdfds *s, struct tty_plan *t, struct herr *e);
/* The monitor after the clone: the command's ends are the init's now. */
void stdfds_close_inner(struct stdfds *s);
/* The init, first thing: the monitor's ends are not ours. */
void stdfds_close_outer(struct stdfds *s);
/* In the command, before exec: the pipes onto their fds. */
int stdfds_attach(const struct stdfds *s, struct herr *e);

/* The monitor's copying. */
struct stdfd_relay {
	int fd;	  /* the caller's fd: 0, 1 or 2 */
	int pipe; /* our end; -1 once done */
	bool out; /* from the pipe to fd; else from fd to the pipe */
	int at;	  /* its pollset index this round */
	size_t len;
	char buf[16384];
};

struct stdfd_relays {
	struct stdfd_relay r[3];
	size_t n;
};

/* Take over the monitor's ends; false when there is nothing to copy. */
bool stdfds_relay_start(struct stdfd_relays *rs, struct stdfds *s);
void stdfds_relay_fill(struct stdfd_relays *rs, struct pollset *ps);
void stdfds_relay_step(struct stdfd_relays *rs, const struct pollset *ps);
/* After the sandbox ended: copy what is left in the pipes, without waiting, and close them. */
void stdfds_relay_finish(struct stdfd_relays *rs);
