/* 27: SCM_CREDENTIALS claiming to be pid 1 or uid 0 to a peer that trusts them. */
#include "escape.h"

#include <sys/socket.h>

static long send_creds(int fd, pid_t pid, uid_t uid, gid_t gid)
{
	struct ucred cred = {.pid = pid, .uid = uid, .gid = gid};
	char cbuf[CMSG_SPACE(sizeof(cred))] = {0}, byte = 'x';
	struct iovec iov = {&byte, 1};
	struct msghdr msg = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_CREDENTIALS;
	c->cmsg_len = CMSG_LEN(sizeof(cred));
	memcpy(CMSG_DATA(c), &cred, sizeof(cred));
	return sendmsg(fd, &msg, 0);
}

int main(void)
{
	int sv[2], on = 1;

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0 ||
	    setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0)
		escape_cannot("socketpair");
	EXPECT(send_creds(sv[0], 1, getuid(), getgid()), EPERM);
	EXPECT(send_creds(sv[0], getpid(), 0, getgid()), EPERM);
	EXPECT(send_creds(sv[0], getpid(), getuid(), 0), EPERM);
	CHECK(send_creds(sv[0], getpid(), getuid(), getgid()) == 1, "true credentials still pass");
	return escape_done();
}
