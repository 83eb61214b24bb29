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
#include <time.h>
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

int keeper_connect(uid_t uid, int spare[2], int *conn, char maps[KEEPER_MAPS_SIZE])
{
	_cleanup_close_ int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa;
	socklen_t len = keeper_address(uid, &sa);
	struct msg m;
	int fds[3] = {-1, -1, -1};

	spare[0] = spare[1] = -1;
	*conn = -1;
	if (s < 0 || connect(s, (struct sockaddr *)&sa, len) < 0 || !peer_is(s, uid))
		return -1;
	if (channel_recv_fds(s, &m, fds, 3) != 0 || m.type != MSG_READY || fds[0] < 0) {
		for (int i = 0; i < 3; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		return -1;
	}
	memcpy(maps, m.text, KEEPER_MAPS_SIZE);
	maps[KEEPER_MAPS_SIZE - 1] = 0;
	spare[0] = fds[1];
	spare[1] = fds[2];
	*conn = take_fd(&s);
	return fds[0];
}

static void close_pair(int sp[2])
{
	for (int i = 0; i < 2; i++)
		if (sp[i] >= 0)
			close(sp[i]);
	sp[0] = sp[1] = -1;
}

/* Move the calling process into a new network namespace with loopback up and a new IPC
 * namespace: 0 with their fds in sp, or -1 (sp both -1). */
static int spare_make(int sp[2])
{
	struct herr ignored = {0};

	sp[0] = sp[1] = -1;
	if (unshare(CLONE_NEWNET | CLONE_NEWIPC) < 0 || net_loopback_up(&ignored) < 0)
		return -1;
	sp[0] = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	sp[1] = open("/proc/self/ns/ipc", O_RDONLY | O_CLOEXEC);
	if (sp[0] >= 0 && sp[1] >= 0)
		return 0;
	close_pair(sp);
	return -1;
}

/*
 * The spare maker: a child of the keeper that makes one network namespace, hands it over and
 * waits to be asked for the next. A namespace costs about a millisecond of CPU (loopback,
 * sysctl tables, IPv6), and the keeper needs the next one right after a client took the last.
 * Made by the keeper itself, that millisecond sat between the client and its CPU (measured with
 * `perf sched timehist`: the client, woken, waited for the keeper to block). SCHED_IDLE runs the
 * maker only on a CPU with nothing else to do, and any woken task preempts it at once. The
 * keeper keeps normal priority, so it still answers quickly on a busy host; a client that
 * comes when no spare is ready gets one the keeper makes on the spot (see serve).
 */
__attribute__((noreturn)) static void spare_maker(int sock)
{
	struct sched_param idle = {0};
	char c;

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	prctl(PR_SET_NAME, "hutch-keeper-ns", 0, 0, 0);
	sched_setscheduler(0, SCHED_IDLE, &idle);
	do {
		int sp[2];

		if (spare_make(sp) < 0 || channel_send_fds(sock, MSG_READY, NULL, sp, 2) < 0)
			_exit(0);
		close_pair(sp);
	} while (read(sock, &c, 1) == 1); /* EOF: the keeper is gone */
	_exit(0);
}

static int spare_maker_start(void)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		/* The maker keeps its socket alone, as fd 0. Above all not the keeper's listening
		 * socket: a maker still alive once its keeper is gone (SCHED_IDLE: on a busy host
		 * it may wait long for a CPU even to die on) would keep the keeper's address bound,
		 * so the next keeper could not bind it, and each client would wait on it for an
		 * answer that never comes. */
		if (sv[1] != 0 && dup3(sv[1], 0, O_CLOEXEC) < 0)
			_exit(0);
		syscall(SYS_close_range, 1U, ~0U, 0U);
		spare_maker(0);
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return -1;
	}
	return sv[0];
}

/* The spare network namespaces, their maker (see spare_maker), and the clients whose start
 * they wait for. */
#define KEEPER_CLIENTS 8
/* Two ready: one start whose maker was held up (both CPUs busy) must not leave the next start
 * without one (it would wait about a millisecond for the keeper to make one on the spot). */
#define KEEPER_SPARES 2

/* How long a served client may hold the next spare back: a sandbox that runs longer than this
 * lets the maker work beside it (its command, not its start, shares the CPUs then). */
#define KEEPER_CLIENT_WAIT_MS 50

struct spares {
	int fd[KEEPER_SPARES][2];	  /* network and IPC namespace, ready to hand out, or -1 */
	int maker;			  /* socket to the maker, or -1 when it failed */
	bool pending;			  /* the maker is making one */
	int client[KEEPER_CLIENTS];	  /* served, its sandbox still running, or -1 */
	long long until[KEEPER_CLIENTS]; /* when we stop waiting for that client (ms) */
};

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int *free_slot(struct spares *s)
{
	for (int i = 0; i < KEEPER_SPARES; i++)
		if (s->fd[i][0] < 0)
			return s->fd[i];
	return NULL;
}

/* Ask for the next spare once no client's sandbox is running any more (or each has run for
 * KEEPER_CLIENT_WAIT_MS): making one takes about a millisecond of CPU inside the kernel, where
 * this kernel (PREEMPT_NONE) does not preempt even a SCHED_IDLE task for a woken one. Asked for
 * at READY, it ran while the command set itself up and delayed it by up to that millisecond
 * (seen in ftrace: the command runnable, the maker on its CPU); asked for when a short sandbox
 * has ended, it runs while the next launcher is still being loaded. */
static void spare_request(struct spares *s)
{
	for (int i = 0; i < KEEPER_CLIENTS; i++)
		if (s->client[i] >= 0)
			return;
	if (free_slot(s) && s->maker >= 0 && !s->pending)
		s->pending = write(s->maker, "n", 1) == 1;
}

/* Remember a served client until it hangs up or its time is up (when full, forget it: never
 * wait on it). */
static void client_running(struct spares *s, int client)
{
	for (int i = 0; i < KEEPER_CLIENTS; i++)
		if (s->client[i] < 0) {
			s->client[i] = client;
			s->until[i] = now_ms() + KEEPER_CLIENT_WAIT_MS;
			return;
		}
	close(client);
}

/* Forget the clients that hung up (p: their poll results, or NULL) or ran past their time;
 * returns the poll timeout until the next one's time is up (-1: none to wait for). */
static int clients_expire(struct spares *s, const struct pollfd *p)
{
	long long now = now_ms(), next = -1;

	for (int i = 0; i < KEEPER_CLIENTS; i++) {
		if (s->client[i] < 0)
			continue;
		if ((p && p[i].revents) || now >= s->until[i]) {
			close(s->client[i]);
			s->client[i] = -1;
		} else if (next < 0 || s->until[i] - now < next) {
			next = s->until[i] - now;
		}
	}
	return (int)next;
}

static void spare_delivered(struct spares *s)
{
	struct msg m;
	int sp[2] = {-1, -1}, *slot = free_slot(s);

	s->pending = false;
	if (channel_recv_fds(s->maker, &m, sp, 2) != 0 || sp[0] < 0 || sp[1] < 0) {
		close_pair(sp);
		close(s->maker); /* it failed: the keeper makes them itself */
		s->maker = -1;
	} else if (slot) {
		slot[0] = sp[0];
		slot[1] = sp[1];
	} else {
		close_pair(sp);
	}
}

/* Our uid_map and gid_map, as the client would read them once it joined our namespace (the same
 * ones: a reader in the namespace sees the same text), "UID_MAP\0GID_MAP"; empty when they do
 * not fit (the client then reads them itself). Sent with each answer, it saves the client six
 * system calls on /proc of its start. */
static void read_maps(struct herr *maps)
{
	size_t n = 0;

	maps->msg[0] = 0;
	for (int i = 0; i < 2; i++) {
		_cleanup_close_ int fd =
		    open(i ? "/proc/self/gid_map" : "/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
		ssize_t r = fd < 0 ? -1 : read(fd, maps->msg + n, KEEPER_MAPS_SIZE - 1 - n);

		/* all of it in one read (the kernel fills the buffer), with room for the '\0' */
		if (r <= 0 || n + (size_t)r >= KEEPER_MAPS_SIZE - 1) {
			maps->msg[0] = 0;
			return;
		}
		n += (size_t)r;
		maps->msg[n++] = 0;
	}
}

/* One client of the same user: hand it the namespace and a spare network namespace. */
static void serve(int client, int nsfd, const struct herr *maps, struct spares *s)
{
	int fds[3] = {nsfd, -1, -1};

	if (!peer_is(client, getuid())) {
		close(client);
		return;
	}
	for (int i = KEEPER_SPARES - 1; i >= 0 && fds[1] < 0; i--) {
		fds[1] = take_fd(&s->fd[i][0]);
		fds[2] = take_fd(&s->fd[i][1]);
	}
	/* The maker has not caught up (clients in quick succession, a busy host): make them
	 * here, as a client would otherwise make its own in the sandbox's user namespace. (The
	 * keeper leaves its own namespaces for those; it needs none of them.) */
	if (fds[1] < 0)
		spare_make(fds + 1);
	channel_send_fds(client, MSG_READY, maps, fds, fds[1] >= 0 ? 3 : 1);
	/* handed out (or not taken): never give the same ones twice */
	close_pair(fds + 1);
	client_running(s, client);
}

/* The keeper's life: hand its namespace to each client of the same user until idle. */
__attribute__((noreturn)) static void keeper_serve(int go_fd)
{
	struct sockaddr_un sa;
	socklen_t len;
	sigset_t none;
	struct spares spare = {{{-1, -1}, {-1, -1}}, -1, false, {-1, -1, -1, -1, -1, -1, -1, -1}, {0}};
	long long idle_since, idle_ms;
	struct herr maps;
	int nsfd, lsock, wait_ms = -1;
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
	signal(SIGCHLD, SIG_IGN); /* the spare maker is reaped by the kernel */
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
	read_maps(&maps); /* written by our creator before GO, fixed from now on */
	spare.maker = spare_maker_start();
	spare.pending = spare.maker >= 0;
	idle_since = now_ms();
	for (;;) {
		struct pollfd p[2 + KEEPER_CLIENTS] = {{.fd = lsock, .events = POLLIN},
						       {.fd = spare.maker, .events = POLLIN}};
		int r, c2;

		for (int i = 0; i < KEEPER_CLIENTS; i++)
			p[2 + i] = (struct pollfd){.fd = spare.client[i], .events = POLLIN};
		idle_ms = KEEPER_IDLE_S * 1000LL - (now_ms() - idle_since);
		if (idle_ms <= 0)
			_exit(0);
		r = poll(p, 2 + KEEPER_CLIENTS, wait_ms >= 0 ? wait_ms : (int)idle_ms);
		if (r < 0)
			continue;
		if (spare.maker >= 0 && p[1].revents)
			spare_delivered(&spare);
		wait_ms = clients_expire(&spare, p + 2); /* hung up: its sandbox ended (or it died) */
		if (p[0].revents && (c2 = accept4(lsock, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
			serve(c2, nsfd, &maps, &spare);
			idle_since = now_ms();
			wait_ms = clients_expire(&spare, NULL);
		}
		spare_request(&spare);
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
