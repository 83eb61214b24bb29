#include "stdfds.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "landlock.h"
#include "util.h"

/* /dev/null, zero, full, random, urandom: the sandbox's /dev has them anyway, and reopening one
 * gives nothing it could not open there. */
static bool harmless_device(dev_t rdev)
{
	unsigned int m = minor(rdev);

	return major(rdev) == 1 && (m == 3 || m == 5 || m == 7 || m == 8 || m == 9);
}

/*
 * Reopening /proc/self/fd/N opens the file itself again, with whatever access its permissions
 * allow the command (its own uid's files: read and write), whatever the fd was opened for:
 * stdin `< notes` reopened for writing, `> out` for reading, `>> log` with O_TRUNC or without
 * O_APPEND. Pipes and sockets pass: a socket cannot be reopened, and a pipe reopens as the same
 * pipe (SECURITY.md, "the caller's fds", says what that leaves). A file or device is fenced by
 * Landlock, whose rule for an inherited fd mirrors the fd's own access (landlock.c), from ABI 3
 * on (before it, O_RDONLY | O_TRUNC truncates a file Landlock lets the command read). Where no
 * Landlock holds, the command gets a pipe instead and the monitor copies: `< file` is then no
 * longer seekable, the price of a kernel without the fence. A fd open for both reading and
 * writing has no access left to widen.
 *
 * A file open for appending is relayed even under Landlock: whoever holds its fd may clear
 * O_APPEND (fcntl F_SETFL), seek and overwrite, or ftruncate it, and no rule reaches an fd
 * already open. The monitor keeps the fd; the command can only add to the end. Benchmarks and
 * the common cases (pipes, /dev/null, a terminal) cost one fstat per fd here.
 */
static enum stdfd_kind kind_of(int fd, const struct stat *st, int *abi)
{
	int fl, acc;

	if (S_ISFIFO(st->st_mode) || S_ISSOCK(st->st_mode) || S_ISDIR(st->st_mode) ||
	    (S_ISCHR(st->st_mode) && harmless_device(st->st_rdev)))
		return STDFD_PASS;
	fl = fcntl(fd, F_GETFL);
	acc = fl & O_ACCMODE;
	if (fl < 0 || (fl & O_PATH) || acc == O_RDWR)
		return STDFD_PASS;
	if (S_ISREG(st->st_mode) && (fl & O_APPEND) && acc == O_WRONLY)
		return STDFD_RELAY_OUT;
	if (*abi < 0)
		*abi = landlock_abi();
	if (*abi >= 3)
		return STDFD_PASS;
	return acc == O_RDONLY ? STDFD_RELAY_IN : STDFD_RELAY_OUT;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_rdev == b->st_rdev;
}

static int make_pipe(struct stdfds *s, int fd, struct herr *e)
{
	int p[2];
	bool out = s->kind[fd] == STDFD_RELAY_OUT;

	if (pipe2(p, O_CLOEXEC) < 0)
		return herr_set(e, errno, "cannot make a pipe for fd %d", fd);
	s->inner[fd] = p[out ? 1 : 0];
	s->outer[fd] = p[out ? 0 : 1];
	/* ours only: the command's end is a file description of its own, and stays blocking */
	if (fcntl(s->outer[fd], F_SETFL, O_NONBLOCK) < 0)
		return herr_set(e, errno, "fcntl on a pipe");
	return 0;
}

int stdfds_probe(struct stdfds *s, struct tty_plan *t, struct herr *e)
{
	struct stat st[3];
	int abi = -1;

	memset(t, 0, sizeof(*t));
	t->term = -1;
	for (int fd = 0; fd < 3; fd++) {
		s->kind[fd] = STDFD_PASS;
		if (fstat(fd, &st[fd]) < 0)
			continue; /* closed: it stays closed */
		/* (/dev/null is the usual stdin of a job: no TCGETS for it) */
		if (S_ISCHR(st[fd].st_mode) && !harmless_device(st[fd].st_rdev) && isatty(fd)) {
			if (t->term < 0)
				terminal_probe(t, fd);
			/* another terminal than the one the pty stands for: a pipe to it */
			s->kind[fd] =
			    same_file(&st[fd], &st[t->term]) ? STDFD_PTY : STDFD_RELAY_OUT;
			t->slave[fd] = s->kind[fd] == STDFD_PTY;
		} else {
			s->kind[fd] = kind_of(fd, &st[fd], &abi);
		}
		/* `>> log 2>&1`: one pipe for both, so the two keep their order in the file */
		if (fd == 2 && s->kind[2] == STDFD_RELAY_OUT && s->kind[1] == STDFD_RELAY_OUT &&
		    same_file(&st[1], &st[2]) && fcntl(1, F_GETFL) == fcntl(2, F_GETFL)) {
			s->inner[2] = s->inner[1];
			continue;
		}
		if (s->kind[fd] >= STDFD_RELAY_OUT && make_pipe(s, fd, e) < 0)
			return -1;
	}
	return 0;
}

void stdfds_close_inner(struct stdfds *s)
{
	for (int fd = 0; fd < 3; fd++)
		if (s->inner[fd] >= 0 && (fd != 2 || s->inner[2] != s->inner[1]))
			close(s->inner[fd]);
	for (int fd = 0; fd < 3; fd++)
		s->inner[fd] = -1;
}

void stdfds_close_outer(struct stdfds *s)
{
	for (int fd = 0; fd < 3; fd++)
		if (s->outer[fd] >= 0) {
			close(s->outer[fd]);
			s->outer[fd] = -1;
		}
}

int stdfds_attach(const struct stdfds *s, struct herr *e)
{
	for (int fd = 0; fd < 3; fd++)
		if (s->inner[fd] >= 0 && dup2(s->inner[fd], fd) < 0)
			return herr_set(e, errno, "dup2");
	return 0;
}

bool stdfds_relay_start(struct stdfd_relays *rs, struct stdfds *s)
{
	rs->n = 0;
	for (int fd = 0; fd < 3; fd++) {
		struct stdfd_relay *r = &rs->r[rs->n];

		if (s->outer[fd] < 0)
			continue;
		r->fd = fd;
		r->pipe = s->outer[fd];
		r->out = s->kind[fd] == STDFD_RELAY_OUT;
		r->len = 0;
		s->outer[fd] = -1;
		rs->n++;
	}
	return rs->n > 0;
}

void stdfds_relay_fill(struct stdfd_relays *rs, struct pollset *ps)
{
	for (size_t i = 0; i < rs->n; i++) {
		struct stdfd_relay *r = &rs->r[i];

		if (r->pipe < 0)
			r->at = -1;
		else if (r->out)
			r->at = pollset_add(ps, r->pipe, POLLIN);
		else /* a file or a device: readable; the pipe, when it has room */
			r->at =
			    pollset_add(ps, r->len ? r->pipe : r->fd, r->len ? POLLOUT : POLLIN);
	}
}

static void done(struct stdfd_relay *r)
{
	close(r->pipe);
	r->pipe = -1;
}

/* Copy what is there now. false: the relay is done (EOF, or the other side is gone). */
static bool copy(struct stdfd_relay *r)
{
	ssize_t n;

	if (r->out) {
		n = read(r->pipe, r->buf, sizeof(r->buf));
		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		/* the caller's fd refused it: the command's next write gets EPIPE */
		return n > 0 && write_all(r->fd, r->buf, (size_t)n);
	}
	if (r->len == 0) {
		n = read(r->fd, r->buf, sizeof(r->buf));
		if (n <= 0)
			return n < 0 && (errno == EAGAIN || errno == EINTR);
		r->len = (size_t)n;
	}
	n = write(r->pipe, r->buf, r->len); /* EPIPE: the sandbox no longer reads it */
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	memmove(r->buf, r->buf + n, r->len - (size_t)n);
	r->len -= (size_t)n;
	return true;
}

void stdfds_relay_step(struct stdfd_relays *rs, const struct pollset *ps)
{
	for (size_t i = 0; i < rs->n; i++) {
		struct stdfd_relay *r = &rs->r[i];

		if (r->pipe >= 0 && pollset_revents(ps, r->at) && !copy(r))
			done(r);
	}
}

void stdfds_relay_finish(struct stdfd_relays *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		struct stdfd_relay *r = &rs->r[i];

		/* Every process of the sandbox is gone, and its writes are in the pipe: read to
		 * EOF, or to EAGAIN should a copy of the write end have got out (never wait). */
		while (r->pipe >= 0 && r->out && copy(r)) {
			int avail = 0;

			if (ioctl(r->pipe, FIONREAD, &avail) < 0 || avail == 0)
				break;
		}
		if (r->pipe >= 0)
			done(r);
	}
	rs->n = 0;
}
