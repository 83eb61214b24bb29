/*
 * A transient systemd scope with Delegate=yes, as crun and podman ask for, where the caller's
 * own cgroup is not delegated but a systemd user manager answers on the session bus.
 *
 * libsystemd is dlopen()ed only here, only then: linking it would make every `hutch run` load it
 * (startup time is a feature; see meson.build). tests/test_systemd_scope.py runs it against a
 * real systemd --user (in tests/pure-v2-env, since the development host boots without systemd).
 */
#include "cgroup.h"

#if HAVE_SD_BUS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

struct sdbus {
	void *lib;
	int (*open_user)(sd_bus **);
	int (*new_call)(sd_bus *, sd_bus_message **, const char *, const char *, const char *,
			const char *);
	int (*append)(sd_bus_message *, const char *, ...);
	int (*open_container)(sd_bus_message *, char, const char *);
	int (*close_container)(sd_bus_message *);
	int (*call)(sd_bus *, sd_bus_message *, uint64_t, sd_bus_error *, sd_bus_message **);
	void (*error_free)(sd_bus_error *);
	sd_bus_message *(*message_unref)(sd_bus_message *);
	sd_bus *(*close_unref)(sd_bus *);
};

static bool session_bus_exists(void)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	_cleanup_free_ char *path = NULL;

	if (getenv("DBUS_SESSION_BUS_ADDRESS"))
		return true;
	if (!rt)
		return false;
	path = xasprintf("%s/bus", rt);
	return access(path, F_OK) == 0;
}

static bool load(struct sdbus *b)
{
	b->lib = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
	if (!b->lib)
		return false;
	*(void **)&b->open_user = dlsym(b->lib, "sd_bus_open_user");
	*(void **)&b->new_call = dlsym(b->lib, "sd_bus_message_new_method_call");
	*(void **)&b->append = dlsym(b->lib, "sd_bus_message_append");
	*(void **)&b->open_container = dlsym(b->lib, "sd_bus_message_open_container");
	*(void **)&b->close_container = dlsym(b->lib, "sd_bus_message_close_container");
	*(void **)&b->call = dlsym(b->lib, "sd_bus_call");
	*(void **)&b->error_free = dlsym(b->lib, "sd_bus_error_free");
	*(void **)&b->message_unref = dlsym(b->lib, "sd_bus_message_unref");
	*(void **)&b->close_unref = dlsym(b->lib, "sd_bus_flush_close_unref");
	return b->open_user && b->new_call && b->append && b->open_container &&
	       b->close_container && b->call && b->error_free && b->message_unref && b->close_unref;
}

/* StartTransientUnit(name, "fail", [PIDs=[us], Delegate=true, Description], []) */
static int start_scope(const struct sdbus *b, sd_bus *bus, const char *unit, sd_bus_error *err)
{
	sd_bus_message *m = NULL, *reply = NULL;
	int r = b->new_call(bus, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
			    "org.freedesktop.systemd1.Manager", "StartTransientUnit");

	if (r >= 0)
		r = b->append(m, "ss", unit, "fail");
	if (r >= 0)
		r = b->open_container(m, 'a', "(sv)");
	if (r >= 0)
		r = b->append(m, "(sv)(sv)(sv)", "PIDs", "au", 1, (uint32_t)getpid(), "Delegate",
			      "b", 1, "Description", "s", "hutch sandbox");
	if (r >= 0)
		r = b->close_container(m);
	if (r >= 0)
		r = b->append(m, "a(sa(sv))", 0);
	if (r >= 0)
		r = b->call(bus, m, 2000000, err, &reply);
	if (reply)
		b->message_unref(reply);
	if (m)
		b->message_unref(m);
	return r;
}

/* systemd moves the PIDs while it starts the job; wait until we are in the scope. */
static bool in_unit(const char *unit)
{
	char buf[4096];
	ssize_t n = cg_read(AT_FDCWD, "/proc/self/cgroup", buf, sizeof(buf));
	size_t ul = strlen(unit);

	for (char *l = n > 0 ? buf : NULL; l && *l;
	     l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, "0::", 3) == 0) {
			size_t len = strcspn(l, "\n");
			return len >= ul + 1 && l[len - ul - 1] == '/' &&
			       strncmp(l + len - ul, unit, ul) == 0;
		}
	return false;
}

static int enter_scope(const struct sdbus *b, const char *unit, bool verbose)
{
	sd_bus *bus = NULL;
	sd_bus_error err = SD_BUS_ERROR_NULL;
	int r = -1;

	if (b->open_user(&bus) < 0)
		return -1;
	if (start_scope(b, bus, unit, &err) < 0)
		hutch_say(verbose, "systemd did not start scope %s: %s", unit,
			  err.message ? err.message : "no answer");
	else
		for (int i = 0; i < 2000 && r < 0; i++) {
			if (in_unit(unit))
				r = 0;
			else
				nanosleep(&(struct timespec){0, 1000000}, NULL);
		}
	b->error_free(&err);
	b->close_unref(bus);
	return r;
}

int cgroup_systemd_scope(const char *name, bool verbose)
{
	struct sdbus b = {0};
	_cleanup_free_ char *unit = xasprintf("%s.scope", name);
	int r = -1;

	if (!session_bus_exists())
		return -1;
	if (load(&b))
		r = enter_scope(&b, unit, verbose);
	if (b.lib)
		dlclose(b.lib);
	hutch_say(verbose, "systemd scope %s: %s", unit, r == 0 ? "entered" : "not available");
	return r;
}
#else
int cgroup_systemd_scope(const char *name, bool verbose)
{
	hutch_say(verbose, "built without libsystemd's headers: no systemd scope for %s", name);
	return -1;
}
#endif
