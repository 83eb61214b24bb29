#include "terminal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

void terminal_probe(struct tty_plan *t, int fd)
{
	t->use_pty = true;
	t->term = fd;
	t->ctty = fd == STDIN_FILENO;
	t->have_size = ioctl(fd, TIOCGWINSZ, &t->size) == 0;
	/* Output only: the pty passes the command's bytes on as they are (no output processing of
	 * its own), and the caller's terminal, cooked as it is, processes them as it would have
	 * processed the command's own writes. */
	if (!t->ctty && tcgetattr(fd, &t->mode) == 0) {
		t->mode.c_oflag &= ~(tcflag_t)OPOST;
		t->have_mode = true;
	}
}

int terminal_open_pty(const struct tty_plan *t, struct herr *e)
{
	/* /dev/ptmx is the link into our own devpts instance, made by mounts.c */
	_cleanup_close_ int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (master < 0)
		return herr_set(e, errno, "cannot open a pseudo-terminal (/dev/ptmx)");
	if (unlockpt(master) < 0)
		return herr_set(e, errno, "cannot unlock the pseudo-terminal");
	if (t->have_size && ioctl(master, TIOCSWINSZ, &t->size) < 0)
		return herr_set(e, errno, "cannot set the terminal size");
	return take_fd(&master);
}

int terminal_attach(const struct tty_plan *t, int master, struct herr *e)
{
	_cleanup_close_ int slave = -1;

	if (setsid() < 0)
		return herr_set(e, errno, "setsid");
	if (!t->use_pty)
		return 0; /* no controlling terminal at all: TIOCSTI has nothing to push into */
	/* TIOCGPTPEER opens the peer of this very master, with no path to race on. O_NOCTTY: a
	 * session leader would take it as its controlling terminal by opening it. */
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (slave < 0)
		return herr_set(e, errno, "cannot open the pseudo-terminal's slave");
	if (t->ctty && ioctl(slave, TIOCSCTTY, 0) < 0)
		return herr_set(e, errno,
				"cannot make the pseudo-terminal the controlling terminal");
	if (t->have_mode && tcsetattr(slave, TCSANOW, &t->mode) < 0)
		return herr_set(e, errno, "cannot set the pseudo-terminal's settings");
	for (int fd = 0; fd < 3; fd++)
		if (t->slave[fd] && dup2(slave, fd) < 0)
			return herr_set(e, errno, "dup2");
	close(master);
	return 0;
}

/* Where the pty's output goes: the caller's terminal on stdout or stderr; with a terminal on
 * stdin only, that terminal when it is open for writing (the keys' echo shows where they are
 * typed), else stderr. */
static int output_fd(const struct tty_plan *t)
{
	if (t->slave[STDOUT_FILENO] || t->slave[STDERR_FILENO])
		return t->slave[STDOUT_FILENO] ? STDOUT_FILENO : STDERR_FILENO;
	return (fcntl(STDIN_FILENO, F_GETFL) & O_ACCMODE) != O_RDONLY ? STDIN_FILENO
								      : STDERR_FILENO;
}

int relay_start(struct relay *r, const struct tty_plan *t, int master, struct herr *e)
{
	struct termios raw;

	memset(r, 0, sizeof(*r));
	r->ctty = t->ctty;
	r->in = t->ctty ? STDIN_FILENO : -1;
	r->master = master;
	r->term = t->term;
	r->out = output_fd(t);
	/* Non-blocking master: a sandbox that stops reading cannot wedge the monitor. */
	if (fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK) < 0)
		return herr_set(e, errno, "fcntl on the pty");
	if (!t->ctty)
		return 0; /* output only: we read no keys, the caller's terminal stays as it is */
	if (tcgetattr(STDIN_FILENO, &r->saved) < 0)
		return herr_set(e, errno, "cannot read the terminal's settings");
	raw = r->saved;
	cfmakeraw(&raw);
	if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) < 0)
		return herr_set(e, errno, "cannot put the terminal in raw mode");
	r->raw = true;
	return 0;
}

/* Copy everything the pty has for us right now; false once the sandbox side closed it. */
static bool drain_master(struct relay *r)
{
	char buf[16384];

	for (;;) {
		ssize_t n = read(r->master, buf, sizeof(buf));
		if (n > 0) {
			/* false: the caller's terminal is gone; nothing to do with the bytes */
			write_all(r->out, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* EIO: every slave fd is closed; EAGAIN: nothing more for now */
		return n < 0 && errno == EAGAIN;
	}
}

void relay_step(struct relay *r, short in_revents, short master_revents)
{
	if (r->master >= 0 && (master_revents & (POLLIN | POLLHUP | POLLERR)) && !drain_master(r)) {
		close(r->master);
		r->master = -1;
	}
	if (r->in >= 0 && r->len == 0 && (in_revents & (POLLIN | POLLHUP | POLLERR))) {
		ssize_t n = read(r->in, r->buf, sizeof(r->buf));
		if (n > 0)
			r->len = (size_t)n;
		else if (n == 0 || errno != EINTR)
			r->in = -1;
	}
	if (r->master >= 0 && r->len > 0) {
		ssize_t w = write(r->master, r->buf, r->len);
		if (w > 0) {
			memmove(r->buf, r->buf + w, r->len - (size_t)w);
			r->len -= (size_t)w;
		} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
			r->len = 0;
		}
	}
}

void relay_finish(struct relay *r)
{
	if (r->master >= 0) {
		drain_master(r);
		close(r->master);
		r->master = -1;
	}
	if (r->raw)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &r->saved);
	r->raw = false;
}

void relay_resize(const struct relay *r)
{
	struct winsize ws;

	if (r->master >= 0 && ioctl(r->term, TIOCGWINSZ, &ws) == 0)
		ioctl(r->master, TIOCSWINSZ, &ws);
}
