#include "keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "channel.h"
#include "net.h"
#include "util.h"

static socklen_t keeper_address(uid_t uid, struct sockaddr_un *sa)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* abstract: no file to leave behind, gone with the keeper */
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "hutch-keeper-%u", (unsigned)uid);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static bool peer_is(int sock, uid_t uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == uid;
}

int keeper_connect(uid_t uid, int *netns)
{
	_cleanup_close_ int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa;
	socklen_t len = keeper_address(uid, &sa);
	struct msg m;
	int fds[2] = {-1, -1};

	*netns = -1;
	if (s < 0 || connect(s, (struct sockaddr *)&sa, len) < 0 || !peer_is(s, uid))
		return -1;
	if (channel_recv_fds(s, &m, fds, 2) != 0 || m.type != MSG_READY || fds[0] < 0) {
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		return -1;
	}
	*netns = fds[1];
	return fds[0];
}

/* Move the keeper into a new network namespace with loopback up, and return an fd of it. The
 * keeper itself needs no network: its listening socket stays in the namespace it was made in. */
static int spare_netns(void)
{
	struct herr ignored = {0};

	if (unshare(CLONE_NEWNET) < 0 || net_loopback_up(&ignored) < 0)
		return -1;
	return open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
}

/* The keeper's life: hand its namespace to each client of the same user until idle. */
__attribute__((noreturn)) static void keeper_serve(int go_fd)
{
	struct sockaddr_un sa;
	socklen_t len;
	sigset_t none;
	int nsfd, lsock, spare;
	char c;

	/* Wait until the creator has written our maps; EOF means it gave up. */
	if (read(go_fd, &c, 1) != 1)
		_exit(0);
	setsid();
	if (chdir("/") < 0)
		_exit(0);
	prctl(PR_SET_NAME, "hutch-keeper", 0, 0, 0);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL); /* the monitor had blocked some; SIGTERM works */
	/* Hold nothing of the caller's: a test harness waiting for its pipes' EOF must not wait
	 * for us. */
	syscall(SYS_close_range, 0U, ~0U, 0U);
	nsfd = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
	lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	len = keeper_address(getuid(), &sa);
	/* EADDRINUSE: another keeper won the race; our creator already has our namespace. */
	if (nsfd < 0 || lsock < 0 || bind(lsock, (struct sockaddr *)&sa, len) < 0 ||
	    listen(lsock, 64) < 0)
		_exit(0);
	spare = spare_netns();
	for (;;) {
		struct pollfd p = {.fd = lsock, .events = POLLIN};
		int r = poll(&p, 1, KEEPER_IDLE_S * 1000), c2;

		if (r == 0)
			_exit(0);
		if (r < 0)
			continue;
		c2 = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
		if (c2 < 0)
			continue;
		if (peer_is(c2, getuid())) {
			int fds[2] = {nsfd, spare};

			channel_send_fds(c2, MSG_READY, NULL, fds, spare >= 0 ? 2 : 1);
			/* handed out (or not taken): never give the same one twice */
			if (spare >= 0)
				close(spare);
			spare = spare_netns();
		}
		close(c2);
	}
}

int keeper_spawn(const struct ids *ids, struct herr *e)
{
	struct clone_args args = {.flags = CLONE_NEWUSER, .exit_signal = 0};
	_cleanup_close_ int go_r = -1, go_w = -1;
	char path[64];
	int pipefd[2], nsfd;
	long pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return herr_set(e, errno, "pipe");
	go_r = pipefd[0];
	go_w = pipefd[1];
	/* exit_signal 0: nobody waits for the keeper; it is reparented when we exit. */
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0)
		return user_explain_clone_failure(errno, e);
	if (pid == 0) {
		close(go_w);
		keeper_serve(go_r);
	}
	if (user_run_helpers((pid_t)pid, ids, e) < 0)
		return -1; /* closing go_w makes the keeper exit */
	snprintf(path, sizeof(path), "/proc/%ld/ns/user", pid);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return herr_set(e, errno, "cannot open the keeper's user namespace");
	if (write(go_w, "g", 1) != 1) {
		close(nsfd);
		return herr_set(e, errno, "cannot start the keeper");
	}
	return nsfd;
}
