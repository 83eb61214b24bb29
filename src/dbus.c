#include "dbus.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define READY_MS 5000 /* xdg-dbus-proxy listens in milliseconds; a hung one is an error */

static char *socket_path(const struct plan *p)
{
	return xasprintf("%s/bus", p->dbus_dir);
}

/* $XDG_RUNTIME_DIR/hutch/dbus-PID: in the user's own 0700 runtime directory, so no one else
 * can plant anything there. A directory left by a launcher of the same pid that was killed
 * during setup is removed first. */
static int make_dir(const struct plan *p, struct herr *e)
{
	_cleanup_free_ char *parent = xstrdup(p->dbus_dir), *sock = socket_path(p);

	*strrchr(parent, '/') = 0;
	if (mkdir(parent, 0700) < 0 && errno != EEXIST)
		return herr_set(e, errno, "--dbus-talk: cannot create %s", parent);
	unlink(sock);
	rmdir(p->dbus_dir);
	if (mkdir(p->dbus_dir, 0700) < 0)
		return herr_set(e, errno, "--dbus-talk: cannot create %s", p->dbus_dir);
	return 0;
}

static char **proxy_argv(const struct plan *p)
{
	char **argv = xreallocarray(NULL, p->n_dbus_talk + 6, sizeof(*argv));
	size_t n = 0;

	argv[n++] = xstrdup("xdg-dbus-proxy");
	argv[n++] = xstrdup("--fd=3");
	argv[n++] = xstrdup(p->dbus_upstream);
	argv[n++] = socket_path(p);
	argv[n++] = xstrdup("--filter"); /* everything not allowed below is invisible */
	for (size_t i = 0; i < p->n_dbus_talk; i++)
		argv[n++] = xasprintf("--talk=%s", p->dbus_talk[i]);
	argv[n] = NULL;
	return argv;
}

static void free_argv(char **argv)
{
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

__attribute__((noreturn)) static void exec_proxy(char **argv, int fd, pid_t parent)
{
	sigset_t none;

	/* It must not outlive us, even when we are killed by SIGKILL. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(127);
	if ((fd == 3 ? fcntl(fd, F_SETFD, 0) : dup2(fd, 3)) < 0)
		_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL); /* the monitor's blocked signals */
	execvp(argv[0], argv);
	_exit(127);
}

/* It writes one byte on its --fd once it listens. */
static int await_proxy(struct dbus_proxy *d, struct herr *e)
{
	struct pollfd pfd = {.fd = d->sync, .events = POLLIN};
	char c = 0;
	int status;

	if (poll(&pfd, 1, READY_MS) == 1 && read(d->sync, &c, 1) == 1 && c == 'x')
		return 0;
	if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
		d->pid = 0;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
			herr_set(e, 0, "--dbus-talk: cannot run xdg-dbus-proxy");
			return herr_hint(e, "install it (Debian package xdg-dbus-proxy)");
		}
	}
	return herr_set(e, 0, "--dbus-talk: xdg-dbus-proxy did not start on the session bus");
}

int dbus_proxy_start(const struct plan *p, struct dbus_proxy *d, struct herr *e)
{
	int sv[2];
	pid_t parent = getpid();
	char **argv;

	if (!p->dbus_dir)
		return 0;
	if (make_dir(p, e) < 0)
		return -1;
	d->hidden = false;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return herr_set(e, errno, "--dbus-talk: socketpair");
	argv = proxy_argv(p);
	d->pid = fork();
	if (d->pid == 0)
		exec_proxy(argv, sv[1], parent);
	free_argv(argv);
	close(sv[1]);
	d->sync = sv[0];
	if (d->pid < 0) {
		d->pid = 0;
		return herr_set(e, errno, "--dbus-talk: fork");
	}
	if (await_proxy(d, e) < 0)
		return -1;
	hutch_say(p->verbose, "D-Bus: xdg-dbus-proxy %d on %s, filtered to %zu name(s)",
		  (int)d->pid, p->dbus_upstream, p->n_dbus_talk);
	return 0;
}

void dbus_proxy_hide(const struct plan *p, struct dbus_proxy *d)
{
	_cleanup_free_ char *sock = NULL;

	if (d->hidden || !p->dbus_dir)
		return;
	/* The sandbox's bind pins the socket's inode: connecting through it still works. */
	sock = socket_path(p);
	unlink(sock);
	rmdir(p->dbus_dir);
	*strrchr(sock, '/') = 0;
	*strrchr(sock, '/') = 0;
	rmdir(sock); /* $XDG_RUNTIME_DIR/hutch, unless another sandbox's proxy is in it */
	d->hidden = true;
}

void dbus_proxy_stop(const struct plan *p, struct dbus_proxy *d)
{
	dbus_proxy_hide(p, d);
	if (d->sync >= 0)
		close(d->sync);
	d->sync = -1;
	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
	}
	d->pid = 0;
}
