#include "channel.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int channel_pair(int sv[2], struct herr *e)
{
	/* SEQPACKET keeps message boundaries, and EOF tells either side the other has died. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return herr_set(e, errno, "socketpair");
	return 0;
}

int channel_send_fds(int sock, enum msg_type type, const struct herr *err, const int *fds,
		     size_t nfds)
{
	struct msg m = {.type = type};
	char cbuf[CMSG_SPACE(sizeof(int) * CHANNEL_MAX_FDS)] = {0};
	struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (err) {
		m.exit_code = err->exit_code;
		memcpy(m.text, err->msg, sizeof(m.text));
	}
	if (nfds > CHANNEL_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	if (nfds > 0) {
		struct cmsghdr *c;

		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

int channel_send(int sock, enum msg_type type, const struct herr *err, int fd)
{
	return channel_send_fds(sock, type, err, &fd, fd >= 0 ? 1 : 0);
}

int channel_recv_fds(int sock, struct msg *m, int *fds, size_t nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * CHANNEL_MAX_FDS)];
	struct iovec iov = {.iov_base = m, .iov_len = sizeof(*m)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	size_t got = 0;
	ssize_t n;

	for (size_t i = 0; i < nfds; i++)
		fds[i] = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if (n == 0)
		return 1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (got < nfds)
				fds[got++] = fd;
			else
				close(fd); /* more than asked for: never leak it */
		}
	}
	if ((size_t)n != sizeof(*m)) {
		errno = EPROTO;
		return -1;
	}
	m->text[sizeof(m->text) - 1] = 0;
	return 0;
}

int channel_recv(int sock, struct msg *m, int *fd)
{
	int dummy;

	return channel_recv_fds(sock, m, fd ? fd : &dummy, fd ? 1 : 0);
}
