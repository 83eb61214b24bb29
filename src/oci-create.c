/* `create`'s half of OCI mode: the detached monitor that runs sandbox_run(), the FIFO the
 * command waits on until `start`, the console socket, the engine's network namespace. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "oci.h"
#include "sandbox.h"
#include "user.h"
#include "util.h"

/*
 * What `create` waits for, two words on one pipe (each under PIPE_BUF: written whole): the
 * monitor's (the init's pid, or why the sandbox could not be built) and the command's (set up
 * to the last step before execve and waiting for `start`, or why not). Only with both has a
 * container been created: a command that cannot take its supplementary groups, its Landlock
 * rules or its seccomp filter fails create, instead of a "created" container that dies at
 * start.
 */
struct created_msg {
	bool from_command;
	pid_t pid; /* monitor: the init's pid; command: 1; 0: failed, e says why */
	struct herr e;
	char home[512]; /* $HOME inside; "": too long to tell (exec then allows no home) */
};

void oci_terminal(const struct plan *p, struct tty_plan *t)
{
	if (!p->oci_terminal)
		return;
	/* the engine's console: fds 0-2 and the controlling terminal, its settings the engine's */
	t->use_pty = t->ctty = true;
	t->slave[0] = t->slave[1] = t->slave[2] = true;
	t->have_mode = false;
}

/* What conmon (and runc's recvtty) expect: one message on the unix socket, the pty master as
 * SCM_RIGHTS. */
static int send_console(const char *path, int master, struct herr *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char cbuf[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov = {.iov_base = "/dev/ptmx", .iov_len = 9};
	struct msghdr msg = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	if (strlen(path) >= sizeof(sa.sun_path))
		return herr_set(e, 0, "--console-socket %s: the path is too long", path);
	strcpy(sa.sun_path, path);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &master, sizeof(int));
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    sendmsg(s, &msg, MSG_NOSIGNAL) < 0)
		return herr_set(e, errno, "--console-socket %s", path);
	return 0;
}

void oci_sandbox_created(const struct plan *p, const struct ids *ids, pid_t init, int *master)
{
	struct created_msg m = {.pid = init};

	if (p->oci_created_fd <= 0)
		return;
	if (strlen(ids->home) < sizeof(m.home))
		strcpy(m.home, ids->home);
	oci_monitor_follow(init); /* pods: members join what the pid file shows (oci-linux.c) */
	if (p->oci_console_socket && *master >= 0) {
		if (send_console(p->oci_console_socket, *master, &m.e) < 0) {
			m.pid = 0; /* create reports it; the monitor ends with the init */
			kill(init, SIGKILL);
		}
		close(*master);
		*master = -1;
	}
	if (write(p->oci_created_fd, &m, sizeof(m)) != sizeof(m)) {
		/* create is gone: nobody will start or delete us */
	}
	close(p->oci_created_fd);
}

/* The ids of our own user namespace (the inside column of /proc/self/uid_map), each mapped to
 * itself: in the initial namespace every id, in rootless podman's the range podman got. */
static void own_ids(const char *file, struct idmap *m)
{
	FILE *f = fopen(file, "re");
	unsigned long inside, outside, count;

	m->n = 0;
	while (f && m->n < IDMAP_MAX && fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3)
		m->ext[m->n++] = (struct idmap_extent){inside, inside, count};
	if (f)
		fclose(f);
}

bool oci_may_map_ids(void)
{
	cap_flag_value_t setuid = CAP_CLEAR, setgid = CAP_CLEAR;
	cap_t c;

	if (geteuid() != 0 || !(c = cap_get_proc()))
		return false;
	cap_get_flag(c, CAP_SETUID, CAP_EFFECTIVE, &setuid);
	cap_get_flag(c, CAP_SETGID, CAP_EFFECTIVE, &setgid);
	cap_free(c);
	return setuid == CAP_SET && setgid == CAP_SET;
}

bool oci_host_ids(const struct plan *p, struct ids *ids)
{
	/* A root with CAP_SETUID and CAP_SETGID in its namespace may write any map of its ids for
	 * a child namespace itself: no newuidmap, no keeper. As real root the container's root
	 * is the host's root with the capabilities hutch leaves it, in namespaces of its own, as
	 * under runc; in rootless podman's namespace it is podman's root. */
	if (!p->oci_host_ids)
		return false;
	own_ids("/proc/self/uid_map", &ids->uidmap);
	own_ids("/proc/self/gid_map", &ids->gidmap);
	ids->subids = true; /* more than one id: setgroups stays allowed */
	return ids->uidmap.n > 0 && ids->gidmap.n > 0;
}

void oci_host_user(struct plan *p)
{
	/* With every id mapped to itself the caller stays itself inside (root), so process.user
	 * is become with setresuid just before exec, as for an image's User (image.c), instead of
	 * being the inside id the caller's own uid maps to. */
	if (!p->oci_host_ids || (!p->has_uid && !p->has_gid))
		return;
	p->image_user = true;
	p->image_uid = p->has_uid ? p->uid : 0;
	p->image_gid = p->has_gid ? p->gid : 0;
	p->has_uid = p->has_gid = false;
}

int oci_join_netns(const struct plan *p, struct ids *ids, struct herr *e)
{
	int fd;

	if (!p->oci_netns)
		return 0;
	fd = open(p->oci_netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return herr_set(e, errno, "network namespace %s", p->oci_netns);
	if (ids->keeper_netns >= 0)
		close(ids->keeper_netns);
	ids->keeper_netns = fd;
	return 0;
}

bool oci_command_failed(const struct plan *p, const struct herr *e)
{
	struct created_msg m = {.from_command = true, .e = *e};

	return p->oci_created_fd > 0 && write(p->oci_created_fd, &m, sizeof(m)) == sizeof(m);
}

int oci_await_start(const struct plan *p, struct herr *e)
{
	struct created_msg m = {.from_command = true, .pid = 1};
	char c;

	if (p->oci_start_fd <= 0)
		return 0;
	/* under the container's seccomp filter already: a profile that refuses write fails here,
	 * as it would at the command's first write (create then reads EOF) */
	if (write(p->oci_created_fd, &m, sizeof(m)) != sizeof(m))
		return herr_set(e, errno, "cannot tell create that the container is ready");
	/* The FIFO is open read-write here, so this blocks until `start` writes (no EOF). */
	while (read(p->oci_start_fd, &c, 1) < 0)
		if (errno != EINTR)
			return herr_set(e, errno, "waiting for start");
	return 0;
}

__attribute__((noreturn)) static void run_monitor(struct plan *p)
{
	struct created_msg m = {0};
	int status;

	/* Detached from create's session and terminal: the engine's subreaper (conmon) adopts us.
	 */
	setsid();
	status = sandbox_run(p, &m.e);
	if (status < 0) {
		if (write(p->oci_created_fd, &m, sizeof(m)) != sizeof(m))
			herr_report(&m.e);
		status = m.e.exit_code ? m.e.exit_code : EXIT_SETUP;
	}
	_exit(status);
}

int oci_write_pid_file(const char *path, pid_t pid, struct herr *e)
{
	_cleanup_free_ char *tmp = xasprintf("%s.hutch-tmp", path);
	FILE *f = fopen(tmp, "we");

	if (!f)
		return herr_set(e, errno, "--pid-file %s", path);
	fprintf(f, "%d", (int)pid);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return herr_set(e, errno, "--pid-file %s", path);
	}
	return 0;
}

char *oci_now_rfc3339(void)
{
	struct timespec ts;
	struct tm tm;
	char buf[64];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	return xasprintf("%s.%09ldZ", buf, ts.tv_nsec);
}

/* Both words (created_msg): the init's pid, or -1 with e filled. */
static pid_t await_created(int rd, char **home, struct herr *e)
{
	struct created_msg m;
	bool armed = false;
	pid_t pid = 0;
	ssize_t n;

	while (pid == 0 || !armed) {
		while ((n = read(rd, &m, sizeof(m))) < 0 && errno == EINTR)
			;
		if (n != sizeof(m)) /* EOF: every writer died (the command too: before start) */
			break;
		if (m.pid <= 0) {
			*e = m.e;
			break;
		}
		if (m.from_command) {
			armed = true;
		} else {
			pid = m.pid;
			*home = xstrdup(m.home);
		}
	}
	if (pid > 0 && armed)
		return pid;
	free(*home);
	*home = NULL;
	if (n == sizeof(m) && m.pid <= 0)
		return -1; /* e says why */
	return herr_set(e, 0, "the container's %s died during setup", pid ? "process" : "monitor");
}

/* Fork the monitor and wait for the words of the monitor and the command. */
pid_t oci_spawn(struct plan *p, const char *dir, pid_t *monitor, char **home, struct herr *e)
{
	_cleanup_free_ char *fifo = xasprintf("%s/exec.fifo", dir);
	_cleanup_close_ int start_fd = -1, rd = -1, wr = -1;
	int pfd[2];
	pid_t pid;

	if (mkfifo(fifo, 0600) < 0 || (start_fd = open(fifo, O_RDWR | O_CLOEXEC)) < 0)
		return herr_set(e, errno, "cannot make %s", fifo);
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return herr_set(e, errno, "pipe");
	rd = pfd[0];
	wr = pfd[1];
	p->oci_start_fd = start_fd;
	p->oci_created_fd = wr;
	*monitor = fork();
	if (*monitor < 0)
		return herr_set(e, errno, "fork");
	if (*monitor == 0) {
		close(rd);
		run_monitor(p);
	}
	close(take_fd(&wr));
	pid = await_created(rd, home, e);
	if (pid < 0) {
		/* the container ends on its own once its command or monitor failed; the monitor
		 * (our child) exits after removing the cgroup: wait for that */
		waitpid(*monitor, NULL, 0);
	}
	return pid;
}
