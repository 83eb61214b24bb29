/* 21: host sockets. An abstract unix socket the test listens on outside (its name is argv[1]),
 * pathname sockets it listens on outside (argv[2]...: a session bus, a wayland socket, an ssh
 * agent, at their host paths), the usual system ones, and secrets in the environment. */
#include "escape.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

extern char **environ;

static long connect_unix(const char *name, bool abstract)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	socklen_t len;
	long r;

	if (fd < 0)
		escape_cannot("socket");
	strncpy(sa.sun_path + abstract, name, sizeof(sa.sun_path) - 2);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + abstract + strlen(name));
	r = connect(fd, (struct sockaddr *)&sa, len);
	if (r < 0) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return r;
}

int main(int argc, char **argv)
{
	static const char *const paths[] = {"/run/user/1000/bus", "/run/user/1000/wayland-0",
					    "/tmp/.X11-unix/X0", "/run/dbus/system_bus_socket",
					    "/var/run/docker.sock"};
	static const char *const secrets[] = {"SSH_AUTH_SOCK",	 "DBUS_SESSION_BUS_ADDRESS",
					      "XDG_RUNTIME_DIR", "WAYLAND_DISPLAY",
					      "DISPLAY",	 "HUTCH_TEST_SECRET"};

	if (argc > 1)
		/* ECONNREFUSED: the sandbox's own network namespace has no such name; EPERM:
		 * Landlock's scope (when the network namespace is shared) */
		EXPECT(connect_unix(argv[1], true), ECONNREFUSED, EPERM);
	for (int i = 2; i < argc; i++)
		EXPECT(connect_unix(argv[i], false), ENOENT);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		EXPECT(connect_unix(paths[i], false), ENOENT);
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		CHECK(getenv(secrets[i]) == NULL, "%s is not in the environment", secrets[i]);
	return escape_done();
}
