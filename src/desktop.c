#include "desktop.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* Where the X authority file is bound inside: /tmp is the sandbox's own tmpfs, so the mount
 * point never lands in the (host-backed) private home. */
#define XAUTH_INSIDE "/tmp/.Xauthority"

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && v[0] ? v : NULL;
}

/* A --setenv on the command line or in a policy wins over what --display finds. */
static void set_env_default(struct plan *p, const char *name, const char *value)
{
	for (size_t i = 0; i < p->n_env; i++)
		if (strcmp(p->env[i].name, name) == 0)
			return;
	plan_add_env(p, name, value);
}

static void bind_same(struct plan *p, const char *path, bool optional)
{
	plan_add_mount(p, MOUNT_BIND, path, path, 0);
	p->mounts[p->n_mounts - 1].optional = optional;
}

/* $XDG_RUNTIME_DIR inside: an empty tmpfs of the sandbox's own (the host's holds the session's
 * other sockets: the bus, the keyring, gpg-agent), the chosen sockets bound into it. */
static void runtime_dir(struct plan *p, const char *rt, bool *made)
{
	if (*made)
		return;
	plan_add_mount(p, MOUNT_TMPFS, NULL, rt, 0);
	set_env_default(p, "XDG_RUNTIME_DIR", rt);
	*made = true;
}

static int wayland(struct plan *p, const char *wl, bool *made, struct herr *e)
{
	const char *rt = env("XDG_RUNTIME_DIR");
	_cleanup_free_ char *path = NULL;

	if (wl[0] == '/')
		path = xstrdup(wl);
	else if (rt)
		path = xasprintf("%s/%s", rt, wl);
	else
		return herr_set(e, 0,
				"--display: WAYLAND_DISPLAY is '%s' but XDG_RUNTIME_DIR is not "
				"set; set it to the directory that holds the socket",
				wl);
	if (rt && wl[0] != '/')
		runtime_dir(p, rt, made);
	bind_same(p, path, false);
	set_env_default(p, "WAYLAND_DISPLAY", wl);
	hutch_say(p->verbose, "display: Wayland socket %s", path);
	return 0;
}

/* Is @/tmp/.X11-unix/XN, X11's abstract socket for display N, in our network namespace? */
static bool abstract_display(unsigned n)
{
	_cleanup_free_ char *line = NULL;
	char name[48];
	size_t cap = 0, len;
	FILE *f = fopen("/proc/net/unix", "re");
	bool found = false;

	len = (size_t)snprintf(name, sizeof(name), " @/tmp/.X11-unix/X%u", n);
	while (f && !found && getline(&line, &cap, f) > 0) {
		size_t l = strcspn(line, "\n");
		found = l >= len && memcmp(line + l - len, name, len) == 0;
	}
	if (f)
		fclose(f);
	return found;
}

/* With --share-net the host's abstract sockets are in sight but Landlock refuses them (EPERM),
 * and libxcb gives up on that error instead of trying the socket file. Inside, the display
 * gets a number whose abstract name does not exist, so libxcb's first try fails with
 * ECONNREFUSED and it goes on to the bound file. */
static unsigned inside_display(const struct plan *p, unsigned n)
{
	if (!p->share_net)
		return n;
	for (unsigned m = 100; m < 1000; m++)
		if (!abstract_display(m))
			return m;
	return n;
}

/* Only a local display: the sandbox has its own network namespace, so neither TCP displays
 * nor X11's abstract socket (@/tmp/.X11-unix/XN) are reachable; the path socket is bound. */
static int x11(struct plan *p, const char *d, struct herr *e)
{
	const char *colon = strrchr(d, ':'), *n, *xa = env("XAUTHORITY"), *home = env("HOME");
	char sock[64], disp[32], inside[64];
	unsigned num, num_in;
	_cleanup_free_ char *home_xa = NULL;
	struct stat st;
	size_t len;

	if (!colon || !(colon == d || (colon - d == 4 && strncmp(d, "unix", 4) == 0)))
		return herr_set(e, 0,
				"--display: DISPLAY '%s' is not a local display; hutch can "
				"only bind a local X server's socket",
				d);
	n = colon + 1;
	len = strspn(n, "0123456789");
	if (len == 0 || len > 8 || (n[len] && n[len] != '.'))
		return herr_set(e, 0, "--display: DISPLAY '%s' is not a display number", d);
	num = (unsigned)strtoul(n, NULL, 10);
	snprintf(sock, sizeof(sock), "/tmp/.X11-unix/X%u", num);
	if (stat(sock, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		herr_set(e, 0, "--display: DISPLAY is '%s' but %s is not a socket", d, sock);
		return herr_hint(e, "hutch reaches the X server only through its socket file");
	}
	num_in = inside_display(p, num);
	snprintf(inside, sizeof(inside), "/tmp/.X11-unix/X%u", num_in);
	snprintf(disp, sizeof(disp), ":%u%s", num_in, n + len); /* keeps a .SCREEN */
	plan_add_mount(p, MOUNT_BIND, sock, inside, 0);
	set_env_default(p, "DISPLAY", disp);
	/* X clients look for $HOME/.Xauthority, and the sandbox's home is not the caller's */
	if (!xa && home)
		xa = home_xa = xasprintf("%s/.Xauthority", home);
	if (xa && stat(xa, &st) == 0 && S_ISREG(st.st_mode)) {
		plan_add_mount(p, MOUNT_RO_BIND, xa, XAUTH_INSIDE, 0);
		set_env_default(p, "XAUTHORITY", XAUTH_INSIDE);
	}
	hutch_say(p->verbose, "display: X11 socket %s%s", sock,
		  xa && access(xa, R_OK) == 0 ? ", authority " XAUTH_INSIDE : "");
	return 0;
}

/* PipeWire and PulseAudio (or pipewire-pulse) sockets, whichever the session has. */
static void audio(struct plan *p, bool *made)
{
	static const char *const sockets[] = {"pipewire-0", "pulse/native"};
	const char *rt = env("XDG_RUNTIME_DIR");

	if (!rt) {
		hutch_say(p->verbose, "audio: XDG_RUNTIME_DIR is not set; no audio socket");
		return;
	}
	runtime_dir(p, rt, made);
	for (size_t i = 0; i < ARRAY_SIZE(sockets); i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", rt, sockets[i]);

		bind_same(p, path, true);
	}
}

/* --dbus-talk: the proxy's socket, made by the monitor (src/dbus.c), bound at
 * $XDG_RUNTIME_DIR/bus; the session bus itself is never in the sandbox. */
static void dbus(struct plan *p, bool *made)
{
	const char *rt = env("XDG_RUNTIME_DIR"), *bus = env("DBUS_SESSION_BUS_ADDRESS");
	_cleanup_free_ char *src = NULL, *dst = NULL, *addr = NULL;

	if (!p->n_dbus_talk)
		return;
	if (!rt || !bus) {
		hutch_say(p->verbose, "D-Bus: no session bus (DBUS_SESSION_BUS_ADDRESS and "
				      "XDG_RUNTIME_DIR); none inside either");
		return;
	}
	runtime_dir(p, rt, made);
	free(p->dbus_upstream);
	free(p->dbus_dir);
	p->dbus_upstream = xstrdup(bus);
	p->dbus_dir = xasprintf("%s/hutch/dbus-%d", rt, (int)getpid());
	src = xasprintf("%s/bus", p->dbus_dir);
	dst = xasprintf("%s/bus", rt);
	addr = xasprintf("unix:path=%s", dst);
	plan_add_mount(p, MOUNT_BIND, src, dst, 0);
	set_env_default(p, "DBUS_SESSION_BUS_ADDRESS", addr);
}

int desktop_apply(struct plan *p, struct herr *e)
{
	const char *wl = env("WAYLAND_DISPLAY"), *d = env("DISPLAY");
	bool made = false;

	if (p->display) {
		/* Wayland when there is one: an X11 socket would give the app the whole X server
		 * (every other window's input and pixels) for nothing. */
		if (wl && wayland(p, wl, &made, e) < 0)
			return -1;
		if (!wl && d && x11(p, d, e) < 0)
			return -1;
		if (!wl && !d) {
			herr_set(e, 0, "--display: neither WAYLAND_DISPLAY nor DISPLAY is set");
			return herr_hint(e, "run it from a graphical session, or set DISPLAY");
		}
	}
	if (p->audio)
		audio(p, &made);
	dbus(p, &made);
	return 0;
}
