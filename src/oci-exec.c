/*
 * `exec`: one more process in a running container. It joins the container's namespaces from
 * outside, in the order the kernel's permission checks need:
 *
 *   the monitor's user namespace (the id keeper's, or the engine's): every capability there,
 *     which owns the container's network namespace (the keeper's or the engine's)
 *   the init's network namespace
 *   the init's user namespace (a child of the monitor's): every capability in it
 *   ipc, uts, cgroup, mount (root and cwd become the container's), pid, time
 *
 * then forks (a pid namespace takes children only). The child waits until it has been moved
 * into the container's cgroups (src/oci-cgroup.c), then does what the container's command did
 * before execve: ids, working directory, stray fds closed, rlimits, capabilities and
 * no_new_privs, Landlock, seccomp (the container's profile, from its config.json). Until the
 * process exits, `exec` and the joining process forward the signals `hutch run` forwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caps.h"
#include "image.h"
#include "init.h"
#include "landlock.h"
#include "limits.h"
#include "oci.h"
#include "seccomp.h"
#include "util.h"

/* Join the namespace `fd` refers to, unless we are in it already (the container shares the
 * host's network, say: setns would still ask for capabilities we may not have). */
static int join_fd(int fd, const char *ns, int type, struct herr *e)
{
	_cleanup_free_ char *self = xasprintf("/proc/self/ns/%s", ns);
	struct stat a, b;

	if (stat(self, &a) == 0 && fstat(fd, &b) == 0 && a.st_ino == b.st_ino &&
	    a.st_dev == b.st_dev)
		return 0;
	if (setns(fd, type) < 0)
		return herr_set(e, errno, "exec: cannot join the container's %s namespace", ns);
	return 0;
}

/* The container's command, the init's child: the monitor and the init are not dumpable (their
 * /proc/PID/ns cannot be opened), the command is, and it lives as long as the container. */
pid_t oci_find_command(pid_t init, struct herr *e)
{
	_cleanup_free_ char *path = xasprintf("/proc/%d/task/%d/children", (int)init, (int)init);
	FILE *f = fopen(path, "re");
	int pid = 0;

	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	if (pid <= 0)
		return herr_set(e, f ? 0 : errno, "exec: cannot find the container's process");
	return pid;
}

static const struct {
	const char *name;
	int type;
} order[] = {
    {"net", CLONE_NEWNET}, {"user", CLONE_NEWUSER},	{"ipc", CLONE_NEWIPC},
    {"uts", CLONE_NEWUTS}, {"cgroup", CLONE_NEWCGROUP}, {"mnt", CLONE_NEWNS},
    {"pid", CLONE_NEWPID}, {"time", CLONE_NEWTIME},
};

/* All opened first: once in the container's mount namespace, /proc is the container's. The
 * parent of its user namespace (the monitor's: the keeper's or the engine's) comes first: every
 * capability there, which owns the container's network namespace. Without `mount`, the caller
 * keeps its own filesystem view (createContainer hooks: a host path and the host's libraries). */
int oci_enter(const struct oci_state *s, bool mount, struct herr *e)
{
	pid_t cmd = oci_find_command(s->pid, e);
	int fds[ARRAY_SIZE(order)], parent = -1, r = -1;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(order); i++)
		fds[i] = -1;
	if (cmd < 0)
		return -1;
	for (i = 0; i < ARRAY_SIZE(order); i++) {
		_cleanup_free_ char *path = xasprintf("/proc/%d/ns/%s", (int)cmd, order[i].name);

		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0 && !(errno == ENOENT && order[i].type == CLONE_NEWTIME)) {
			herr_set(e, errno, "exec: %s", path);
			goto out;
		}
	}
	parent = ioctl(fds[1], NS_GET_PARENT);
	if (parent < 0) {
		herr_set(e, errno, "exec: the parent of the container's user namespace");
		goto out;
	}
	if (join_fd(parent, "user", CLONE_NEWUSER, e) < 0)
		goto out;
	for (i = 0; i < ARRAY_SIZE(order); i++)
		if (fds[i] >= 0 && (mount || order[i].type != CLONE_NEWNS) &&
		    join_fd(fds[i], order[i].name, order[i].type, e) < 0)
			goto out;
	r = 0;
out:
	for (i = 0; i < ARRAY_SIZE(order); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (parent >= 0)
		close(parent);
	return r;
}

/* The plan of the process: the container's config.json (seccomp, capabilities, env...), with
 * --process's object or the command line's ARGS over it. */
static int exec_plan(const struct oci_state *s, const struct oci_exec_args *a, struct plan *p,
		     FILE *warn, struct herr *e)
{
	struct oci_config cfg;

	if (oci_config_load(s->bundle, p, NULL, &cfg, e) < 0)
		return -1;
	oci_config_free(&cfg);
	if (a->process) {
		for (char **v = p->argv; v && *v; v++)
			free(*v);
		free(p->argv);
		p->argv = NULL;
		for (size_t i = 0; i < p->n_env; i++) {
			free(p->env[i].name);
			free(p->env[i].value);
		}
		p->n_env = 0;
		p->caps_keep = 0;
		p->n_rlimits = 0;
		if (oci_process_load(a->process, p, warn, e) < 0)
			return -1;
	} else if (a->argv && a->argv[0]) {
		for (char **v = p->argv; v && *v; v++)
			free(*v);
		free(p->argv);
		p->argv = NULL;
		for (size_t n = 0; a->argv[n]; n++) {
			p->argv = xreallocarray(p->argv, n + 2, sizeof(char *));
			p->argv[n] = xstrdup(a->argv[n]);
			p->argv[n + 1] = NULL;
		}
	} else {
		return herr_set(e, 0, "exec: give --process FILE or a command");
	}
	if (a->cwd) {
		free(p->chdir);
		p->chdir = xstrdup(a->cwd);
	}
	p->oci_host_ids = oci_may_map_ids(); /* as create decided it */
	oci_host_user(p);
	return 0;
}

static char **exec_env(const struct plan *p)
{
	char **v = xcalloc(p->n_env + 2, sizeof(char *));
	size_t n = 0;
	bool path = false;

	for (size_t i = 0; i < p->n_env; i++) {
		if (!p->env[i].value)
			continue;
		path = path || strcmp(p->env[i].name, "PATH") == 0;
		v[n++] = xasprintf("%s=%s", p->env[i].name, p->env[i].value);
	}
	if (!path)
		v[n++] =
		    xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	return v;
}

static int send_fd(int sock, int fd, struct herr *e)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov = {.iov_base = "/dev/ptmx", .iov_len = 9};
	struct msghdr msg = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
		return herr_set(e, errno, "--console-socket");
	return 0;
}

static int connect_console(const char *path, struct herr *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (strlen(path) >= sizeof(sa.sun_path))
		return herr_set(e, 0, "--console-socket %s: the path is too long", path);
	strcpy(sa.sun_path, path);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return herr_set(e, errno, "--console-socket %s", path);
	return take_fd(&s);
}

/* In the container's mount namespace: a pty of its devpts, the master to the engine. */
static int open_pty(int console, char *slave, size_t size, struct herr *e)
{
	_cleanup_close_ int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (master < 0 || unlockpt(master) < 0 || ptsname_r(master, slave, size) != 0)
		return herr_set(e, errno, "exec: cannot open a pseudo-terminal");
	return send_fd(console, master, e);
}

/* Only 0, 1, 2 survive execve, as for the container's command: the engine may leak anything. */
static int keep_fds(struct herr *e)
{
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		return herr_set(e, errno, "exec: close_range");
	return 0;
}

/* The container command's confinement, in its order (src/command.c): capabilities and
 * no_new_privs, Landlock (the same rules from the same plan), seccomp last. Landlock's signal
 * scope is left out: the process is in the container's pid namespace, so it cannot name a host
 * process anyway, and a domain of its own (a sibling of the command's) would stop it from
 * signalling the container's pid 1, as `podman exec C kill -HUP 1` must. */
static int confine(const struct oci_state *s, const struct plan *p, struct herr *e)
{
	struct ids ids = {
	    .home = s->home ? s->home : (char *)"/", .keeper_netns = -1, .keeper_ipcns = -1, .keeper_conn = -1};

	return limits_apply_rlimits(p, NULL, e) < 0 || caps_drop(p->caps_keep, ~0ULL, e) < 0 ||
		       landlock_apply_scoped(p, &ids, false, e) < 0 || sc_apply(p, e) < 0
		   ? -1
		   : 0;
}

/* What the launcher (middle) works with, opened outside the container's namespaces. */
struct outside {
	struct oci_cgroups cg; /* the container's cgroups (src/oci-cgroup.c) */
	int proc;	       /* the host's /proc: the mount namespace joined hides it */
};

__attribute__((noreturn)) static void child(const struct oci_state *s, const struct plan *p,
					    const char *slave, int go)
{
	struct herr e = {0};
	uid_t uid = p->has_uid ? p->uid : 0;
	gid_t gid = p->has_gid ? p->gid : 0;
	char **envp;
	ssize_t n;
	char c;

	/* First of all, before it can fork or run anything of the user's: the launcher moves it
	 * into the container's cgroups and checks it is there, and only then says go. EOF: the
	 * launcher failed (and said why) or died. */
	while ((n = read(go, &c, 1)) < 0 && errno == EINTR)
		;
	if (n != 1)
		_exit(EXIT_SETUP);
	close(go);
	envp = exec_env(p);
	setsid();
	if (slave) {
		int fd = open(slave, O_RDWR);

		if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 ||
		    dup2(fd, 2) < 0) {
			herr_set(&e, errno, "exec: cannot attach the terminal %s", slave);
			goto fail;
		}
		if (fd > 2)
			close(fd);
	}
	/* as root, process.user is become as the command becomes it (oci_host_user) */
	if (user_set_groups(p, &e) < 0)
		goto fail;
	if (p->image_user ? image_become_user(p, &e) < 0
			  : setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
		if (!p->image_user)
			herr_set(&e, errno, "exec: cannot become %u:%u", (unsigned)uid,
				 (unsigned)gid);
		goto fail;
	}
	if (chdir(p->chdir ? p->chdir : "/") < 0) {
		herr_set(&e, errno, "exec: cwd %s", p->chdir ? p->chdir : "/");
		goto fail;
	}
	init_reset_signals();
	if (keep_fds(&e) < 0 || confine(s, p, &e) < 0)
		goto fail;
	execvpe(p->argv[0], p->argv, envp);
	/* the wording engines map to 127 and 126 */
	herr_set(&e, errno, "exec: %s: %s", p->argv[0],
		 errno == ENOENT ? "executable file not found in $PATH" : "cannot execute");
	herr_report(&e);
	_exit(errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC);
fail:
	herr_report(&e);
	_exit(EXIT_SETUP);
}

static int exec_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* Wait for `pid` (our one child) and pass it the signals in `set` (blocked since before it was
 * forked): a SIGTERM to `hutch exec` reaches the exec'd process, as a signal to `hutch run`
 * reaches its command. Returns its exit status. */
static int relay(pid_t pid, const sigset_t *set)
{
	siginfo_t si;
	int status;

	for (;;) {
		if (sigwaitinfo(set, &si) < 0)
			continue;
		if (si.si_signo != SIGCHLD) {
			kill(pid, si.si_signo);
			continue;
		}
		if (waitpid(pid, &status, WNOHANG) == pid)
			return exec_status(status);
	}
}

static void relayed_signals(sigset_t *set)
{
	init_forwarded_signals(set);
	sigaddset(set, SIGCHLD);
}

/* Our child, not yet told to go, in the container's cgroups: moved by us (it waits on `go`), and
 * checked. Then go; its pid goes to the engine (--pid-file, and --detach returns) only after
 * that: an engine that reads its cgroup, or counts on the container's end to kill it, must not
 * find it still in ours. */
static int release(const struct oci_state *s, const struct outside *out, pid_t pid, int go,
		   struct herr *e)
{
	if (oci_cgroup_move(&out->cg, out->proc, s->pid, pid, e) < 0)
		return -1;
	if (write(go, "g", 1) != 1)
		return herr_set(e, errno, "exec: cannot start the process");
	return 0;
}

/* The process that joins the namespaces: a child of `exec`, so that `exec` itself never lives
 * in the container's mount and pid namespaces (where /proc/self is not its own, which trips
 * sanitizers and anything else that reads it at exit). Returns the exit status. */
static int middle(const struct oci_state *s, const struct oci_exec_args *a, const struct plan *p,
		  const struct outside *out, int console, int pidfd)
{
	struct herr e = {0};
	bool tty = console >= 0;
	char slave[128];
	int go[2], status;
	sigset_t set;
	pid_t pid;

	if (oci_enter(s, true, &e) < 0 || (tty && open_pty(console, slave, sizeof(slave), &e) < 0))
		goto fail;
	if (pipe2(go, O_CLOEXEC) < 0) {
		herr_set(&e, errno, "pipe");
		goto fail;
	}
	pid = fork(); /* into the container's pid namespace */
	if (pid < 0) {
		herr_set(&e, errno, "fork");
		goto fail;
	}
	if (pid == 0) {
		close(go[1]);
		child(s, p, tty ? slave : NULL, go[0]);
	}
	close(go[0]);
	if (release(s, out, pid, go[1], &e) < 0) {
		kill(pid, SIGKILL);
		close(go[1]);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		goto fail;
	}
	close(go[1]);
	if (pidfd >= 0 && dprintf(pidfd, "%d", (int)pid) < 0) {
		herr_set(&e, errno, "--pid-file %s", a->pid_file);
		kill(pid, SIGKILL);
		goto fail;
	}
	if (a->detach)
		return 0; /* the engine's subreaper adopts it */
	relayed_signals(&set);
	return relay(pid, &set);
fail:
	herr_report(&e);
	return EXIT_SETUP;
}

int oci_exec(const struct oci_state *s, const struct oci_exec_args *a, FILE *warn, struct herr *e)
{
	_cleanup_close_ int console = -1, pidfd = -1;
	struct outside out = {.cg = {.n = 0}, .proc = -1};
	struct plan p;
	sigset_t set, old;
	int r = -1;
	pid_t mid;

	plan_init(&p);
	if (exec_plan(s, a, &p, warn, e) < 0)
		goto out;
	/* host paths: opened before the container's mount namespace hides them */
	if ((a->tty || p.oci_terminal) &&
	    (!a->console_socket || (console = connect_console(a->console_socket, e)) < 0)) {
		if (!a->console_socket)
			herr_set(e, 0, "exec: a terminal needs --console-socket");
		goto out;
	}
	if (a->pid_file &&
	    (pidfd = open(a->pid_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		herr_set(e, errno, "--pid-file %s", a->pid_file);
		goto out;
	}
	if (oci_cgroup_open(s->pid, &out.cg, e) < 0)
		goto out;
	if ((out.proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		herr_set(e, errno, "exec: /proc");
		goto out;
	}
	/* blocked before the fork: none may slip past between fork and relay */
	relayed_signals(&set);
	sigprocmask(SIG_BLOCK, &set, &old);
	mid = fork();
	if (mid < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		herr_set(e, errno, "fork");
		goto out;
	}
	if (mid == 0)
		_exit(middle(s, a, &p, &out, console, pidfd));
	r = relay(mid, &set);
	sigprocmask(SIG_SETMASK, &old, NULL);
out:
	oci_cgroup_close(&out.cg);
	if (out.proc >= 0)
		close(out.proc);
	oci_plan_free(&p);
	return r;
}
