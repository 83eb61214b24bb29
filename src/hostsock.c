#include "hostsock.h"

#include <dlfcn.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "allow.h"

/*
 * The judge of the calls libslirp is making now. The one piece of mutable state at file scope
 * in hutch, because libslirp calls connect() with no context of ours: it is set only for the
 * length of a call into libslirp (one thread: the monitor's), and NULL everywhere else, so
 * every other caller (the keeper's socket, sd-bus) gets the plain system call.
 */
static _Thread_local struct allow *judge;

void hostsock_enter(struct allow *a)
{
	judge = a;
}

void hostsock_leave(void)
{
	judge = NULL;
}

int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	if (judge && !allow_host_socket(judge, fd, addr.__sockaddr__, len)) {
		/* Refused, and the socket left unconnected: "in progress" sends libslirp down the
		 * path of a connection the far side refused (its next poll finds the socket
		 * writable, its test send fails with EPIPE, and it answers the sandbox's SYN with a
		 * reset). A synchronous ECONNREFUSED takes libslirp 4.7's other path, which frees
		 * the SYN's buffer while its reset may still be queued (it crashed the monitor for
		 * an IPv6 SYN whose sender libslirp had no neighbour entry for). */
		errno = EINPROGRESS;
		return -1;
	}
	return (int)syscall(SYS_connect, fd, addr.__sockaddr__, len);
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags, __CONST_SOCKADDR_ARG addr,
	       socklen_t len)
{
	/* no address: a connected socket, judged when it connected */
	if (judge && addr.__sockaddr__ && !allow_host_socket(judge, fd, addr.__sockaddr__, len)) {
		/* libslirp answers the datagram with an ICMP unreachable */
		errno = EACCES;
		return -1;
	}
	return syscall(SYS_sendto, fd, buf, n, flags, addr.__sockaddr__, len);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (judge && msg->msg_name &&
	    !allow_host_socket(judge, fd, msg->msg_name, msg->msg_namelen)) {
		errno = EACCES;
		return -1;
	}
	return syscall(SYS_sendmsg, fd, msg, flags);
}

int bind(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	int r = (int)syscall(SYS_bind, fd, addr.__sockaddr__, len);

	/* libslirp binds only its listeners for --publish */
	if (judge && r == 0)
		allow_note_listener(judge, fd);
	return r;
}

ssize_t recvfrom(int fd, void *buf, size_t n, int flags, __SOCKADDR_ARG addr, socklen_t *len)
{
	ssize_t r = syscall(SYS_recvfrom, fd, buf, n, flags, addr.__sockaddr__, len);

	/* who wrote to a published UDP port may be answered from it */
	if (judge && r >= 0 && addr.__sockaddr__ && len)
		allow_note_peer(judge, fd, addr.__sockaddr__, *len);
	return r;
}

bool hostsock_in_effect(void)
{
	return dlsym(RTLD_DEFAULT, "connect") == (void *)connect &&
	       dlsym(RTLD_DEFAULT, "sendto") == (void *)sendto &&
	       dlsym(RTLD_DEFAULT, "sendmsg") == (void *)sendmsg &&
	       dlsym(RTLD_DEFAULT, "bind") == (void *)bind &&
	       dlsym(RTLD_DEFAULT, "recvfrom") == (void *)recvfrom;
}
