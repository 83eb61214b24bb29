/*
 * OCI runtime mode: `hutch [GLOBAL] create|start|state|kill|delete|list|features|spec ...`.
 *
 * create forks a detached monitor that runs the ordinary sandbox_run() path: it builds the whole
 * sandbox (namespaces, root, cgroup, seccomp), and the command (pid 2 inside) then blocks on
 * STATEDIR/ID/exec.fifo just before execve. create returns once the monitor reports the init's
 * pid; start writes one byte to the FIFO and the command execs. The monitor stays the init's
 * parent, forwards signals and cleans up (cgroup) as with `hutch run`, and exits with the
 * container; state reads "stopped" from then on until delete removes the directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "init.h"
#include "oci.h"
#include "sandbox.h"
#include "user.h"
#include "util.h"

struct oci {
	const char *root; /* the state directory */
	const char *log;  /* --log FILE: errors and warnings go there too */
	bool log_json;
	FILE *logf;
	int argc; /* main's, for the plan's launcher_args */
	char **argv;
};

static void log_line(const struct oci *o, const char *level, const char *msg)
{
	char ts[64];
	time_t now = time(NULL);
	json_object *j;

	if (!o->logf)
		return;
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	if (!o->log_json) {
		fprintf(o->logf, "%s %s: %s\n", ts, level, msg);
	} else {
		j = json_object_new_object();
		json_object_object_add(j, "level", json_object_new_string(level));
		json_object_object_add(j, "msg", json_object_new_string(msg));
		json_object_object_add(j, "time", json_object_new_string(ts));
		fprintf(o->logf, "%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
		json_object_put(j);
	}
	fflush(o->logf);
}

/* What a poststart or poststop hook's failure becomes: a warning (runtime-spec config.md). */
static void warn_hook(const struct oci *o, const struct herr *e)
{
	fprintf(stderr, "hutch: warning: %s\n", e->msg);
	log_line(o, "warning", e->msg);
}

/* Errors go to stderr (engines show it) and to --log (engines read it). Returns `code`. */
static int fail(const struct oci *o, const struct herr *e, int code)
{
	herr_report(e);
	log_line(o, "error", e->msg);
	return code;
}

__attribute__((format(printf, 3, 4))) static int failf(const struct oci *o, int code,
						       const char *fmt, ...)
{
	struct herr e = {0};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	return fail(o, &e, code);
}

static const char *const commands[] = {"create",   "start", "state", "kill", "delete", "list",
				       "features", "spec",  "exec",  "ps",   NULL};
static const char *const globals[] = {
    "--root", "--log", "--log-format", "--systemd-cgroup", "--debug", "--rootless", NULL};

static bool in(const char *const *v, const char *s)
{
	for (; *v; v++)
		if (strcmp(*v, s) == 0 || (strncmp(s, *v, strlen(*v)) == 0 && s[strlen(*v)] == '='))
			return true;
	return false;
}

bool oci_is_command(const char *arg)
{
	return in(commands, arg) || in(globals, arg);
}

/* An id names a directory under the state root: nothing that could leave it. */
static int check_id(const struct oci *o, const char *id)
{
	if (!id || !id[0] || strchr(id, '/') || strcmp(id, ".") == 0 || strcmp(id, "..") == 0 ||
	    strlen(id) > 1024)
		return failf(o, 0,
			     "invalid container id '%s': it must be non-empty, without '/' "
			     "and not . or ..",
			     id ? id : ""),
		       -1;
	return 0;
}

static char *container_dir(const struct oci *o, const char *id)
{
	return xasprintf("%s/%s", o->root, id);
}

static void remove_container_dir(const char *dir)
{
	static const char *const files[] = {"state.json", "state.json.tmp", "exec.fifo",
					    "hooks.json"};

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *f = xasprintf("%s/%s", dir, files[i]);
		unlink(f);
	}
	rmdir(dir);
}

/* A directory of an id without state.json whose lock is free is what a create that died left
 * (create holds the lock from the directory's first moment, and the container's monitor after
 * it: make_container_dir): remove it. False: not such a leftover. */
static bool reclaim(const char *dir)
{
	_cleanup_free_ char *state = xasprintf("%s/state.json", dir);
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0 || access(state, F_OK) == 0)
		return false;
	remove_container_dir(dir);
	return true;
}

/* The container's directory: made under a temporary name, locked, renamed into place (so it is
 * never seen unlocked). The lock (*lock) is create's, then the monitor's, which inherits it and
 * lives as long as the container. */
static int make_container_dir(const struct oci *o, const char *id, int *lock, struct herr *e)
{
	_cleanup_free_ char *tmp = xasprintf("%s/.new-XXXXXX", o->root),
			    *dir = container_dir(o, id);
	int err = 0;

	if (!mkdtemp(tmp))
		return herr_set(e, errno, "cannot make a directory in %s", o->root);
	*lock = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*lock < 0 || flock(*lock, LOCK_EX) < 0)
		err = errno;
	for (int tries = 0; !err && tries < 2; tries++) {
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_NOREPLACE) == 0)
			return 0;
		err = errno;
		if (err == EEXIST && tries == 0 && reclaim(dir))
			err = 0; /* a dead create's: the id is free again */
	}
	rmdir(tmp);
	if (*lock >= 0)
		close(*lock);
	*lock = -1;
	if (err == EEXIST)
		return herr_set(e, 0, "container with id exists: %s", id);
	return herr_set(e, err, "cannot make %s", dir);
}

struct create_args {
	const char *id, *bundle, *pid_file, *console_socket;
	int preserve_fds;
};

static int parse_create(const struct oci *o, int argc, char **argv, struct create_args *a)
{
	static const struct option opts[] = {
	    {"bundle", required_argument, NULL, 'b'},
	    {"pid-file", required_argument, NULL, 'p'},
	    {"console-socket", required_argument, NULL, 'c'},
	    {"preserve-fds", required_argument, NULL, 'f'},
	    {"no-pivot", no_argument, NULL, 'n'},
	    {"no-new-keyring", no_argument, NULL, 'n'},
	    {0},
	};
	int c;

	a->bundle = ".";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+b:", opts, NULL)) != -1 || optind < argc - 1) {
		if (c == -1) { /* the id before more options: take it, go on after it */
			a->id = argv[optind++];
			continue;
		}
		switch (c) {
		case 'b':
			a->bundle = optarg;
			break;
		case 'p':
			a->pid_file = optarg;
			break;
		case 'c':
			a->console_socket = optarg;
			break;
		case 'f':
			a->preserve_fds = atoi(optarg);
			break;
		case 'n':
			break;
		default:
			return failf(o, 0, "create: unknown option '%s'", argv[optind - 1]), -1;
		}
	}
	if (optind < argc)
		a->id = argv[optind];
	if (!a->id)
		return failf(o, 0, "create: usage: create --bundle DIR [--pid-file F] ID"), -1;
	return check_id(o, a->id);
}

/* create's hooks, once the sandbox waits for start. A failure stops the container (the monitor
 * is our child: waiting for it waits for its cleanup, the cgroup's removal) and runs poststop,
 * as the spec's lifecycle goes on at delete. */
static int create_hooks(const struct oci *o, json_object *hooks, const struct oci_state *s,
			struct herr *e)
{
	struct herr pe = {0};

	if (oci_hooks_run(hooks, OCI_HOOK_PRESTART, s, e) == 0 &&
	    oci_hooks_run(hooks, OCI_HOOK_CREATE_RUNTIME, s, e) == 0 &&
	    oci_hooks_run(hooks, OCI_HOOK_CREATE_CONTAINER, s, e) == 0)
		return 0;
	kill(s->pid, SIGKILL);
	waitpid(s->monitor, NULL, 0);
	if (oci_hooks_run(hooks, OCI_HOOK_POSTSTOP, s, &pe) < 0)
		warn_hook(o, &pe);
	return -1;
}

/* config.json into p and cfg, checked whole before anything is made on the host. */
static int create_plan(const struct oci *o, const struct create_args *a, const char *bundle,
		       struct plan *p, struct oci_config *cfg, struct herr *e)
{
	/* root (or podman's root) needs no keeper: its own ids, one to one (oci_host_ids) */
	p->oci_host_ids = oci_may_map_ids();
	if (oci_config_load(bundle, p, o->logf ? o->logf : stderr, cfg, e) < 0)
		return -1;
	oci_host_user(p);
	if (p->oci_terminal && !a->console_socket)
		return herr_set(e, 0,
				"config.json: process.terminal is true but no "
				"--console-socket was given");
	if (p->oci_terminal)
		p->oci_console_socket = xstrdup(a->console_socket);
	for (int fd = 3; fd < 3 + a->preserve_fds; fd++)
		plan_add_pass_fd(p, fd);
	return 0;
}

/* Fork the monitor, record the state: nothing is left behind on failure. */
static int create_in(const struct oci *o, const struct create_args *a, const char *bundle,
		     struct plan *p, const struct oci_config *cfg, const char *dir, struct herr *e)
{
	struct oci_state s = {.annotations = cfg->annotations};
	pid_t monitor = -1;
	int r;

	if (oci_hooks_save(dir, cfg->hooks, e) < 0)
		return -1;
	s.pid = oci_spawn(p, dir, &monitor, &s.home, e);
	if (s.pid < 0)
		return -1;
	s.id = (char *)a->id;
	s.bundle = (char *)bundle;
	s.monitor = monitor;
	s.start_time = oci_proc_start_time(s.pid);
	s.created = oci_now_rfc3339();
	r = oci_state_write(dir, &s, e);
	if (r == 0 && a->pid_file)
		/* The monitor, not the init: an engine's subreaper (conmon) waits for the pid it
		 * reads here, and only the monitor is its child and exits with the container's
		 * status (the init is the monitor's child). state's pid stays the init's. */
		r = oci_write_pid_file(a->pid_file, monitor, e);
	if (r < 0) {
		kill(s.pid, SIGKILL);
		waitpid(monitor, NULL, 0);
	} else {
		r = create_hooks(o, cfg->hooks, &s, e);
	}
	if (r < 0 && a->pid_file)
		unlink(a->pid_file);
	free(s.created);
	free(s.home);
	return r;
}

/* Every failure exits 125 and leaves nothing: no state directory (the id stays free), no
 * process, no cgroup. The config is read whole before the directory is made. */
static int create(const struct oci *o, const struct create_args *a, struct herr *e)
{
	_cleanup_free_ char *bundle = realpath(a->bundle, NULL), *dir = NULL;
	_cleanup_close_ int lock = -1;
	struct oci_config cfg = {0};
	struct plan p;
	int r = -1;

	if (!bundle)
		return herr_set(e, errno, "bundle %s", a->bundle);
	plan_init(&p);
	plan_set_launcher(&p, o->argc, o->argv);
	if (create_plan(o, a, bundle, &p, &cfg, e) < 0)
		goto out;
	if (mkdir_p(o->root, 0700, 0700) < 0) {
		herr_set(e, errno, "cannot make the state directory %s", o->root);
		goto out;
	}
	if (make_container_dir(o, a->id, &lock, e) < 0)
		goto out;
	dir = container_dir(o, a->id);
	r = create_in(o, a, bundle, &p, &cfg, dir, e);
	if (r < 0)
		remove_container_dir(dir);
out:
	oci_config_free(&cfg);
	oci_plan_free(&p);
	return r;
}

static int cmd_create(const struct oci *o, int argc, char **argv)
{
	struct create_args a = {0};
	struct herr e = {0};

	if (parse_create(o, argc, argv, &a) < 0)
		return EXIT_SETUP;
	if (create(o, &a, &e) < 0)
		return fail(o, &e, EXIT_SETUP);
	return 0;
}

/* The one positional argument of start, state, kill, delete (options around it). */
static const char *the_id(const struct oci *o, int argc, char **argv, bool *force, bool *all,
			  const char **sig)
{
	const char *id = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0) {
			if (force)
				*force = true;
		} else if (strcmp(argv[i], "--all") == 0 || strcmp(argv[i], "-a") == 0) {
			if (all)
				*all = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			failf(o, 0, "%s: unknown option '%s'", argv[0], argv[i]);
			return NULL;
		} else if (!id) {
			id = argv[i];
		} else if (sig && !*sig) {
			*sig = argv[i];
		} else {
			failf(o, 0, "%s: unexpected argument '%s'", argv[0], argv[i]);
			return NULL;
		}
	}
	if (!id) {
		failf(o, 0, "%s: which container? (give its id)", argv[0]);
		return NULL;
	}
	return check_id(o, id) < 0 ? NULL : id;
}

static int load(const struct oci *o, const char *id, struct oci_state *s, char **dir)
{
	struct herr e = {0};

	*dir = container_dir(o, id);
	if (oci_state_read(*dir, id, s, &e) < 0)
		return fail(o, &e, -1);
	return 0;
}

static int cmd_state(const struct oci *o, int argc, char **argv)
{
	_cleanup_free_ char *dir = NULL;
	const char *id = the_id(o, argc, argv, NULL, NULL, NULL);
	struct oci_state s;
	json_object *j;

	if (!id || load(o, id, &s, &dir) < 0)
		return 1;
	j = oci_state_json(&s);
	printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
	oci_state_free(&s);
	return 0;
}

static int deliver(const struct oci_state *s, int sig);

static int cmd_start(const struct oci *o, int argc, char **argv)
{
	_cleanup_free_ char *dir = NULL, *fifo = NULL;
	_cleanup_close_ int fd = -1;
	const char *id = the_id(o, argc, argv, NULL, NULL, NULL);
	json_object *hooks = NULL;
	struct herr e = {0};
	struct oci_state s;
	int r = 1;

	if (!id || load(o, id, &s, &dir) < 0)
		return 1;
	if (strcmp(oci_state_status(&s), "created") != 0) {
		failf(o, 1, "cannot start a container that is %s", oci_state_status(&s));
		goto out;
	}
	fifo = xasprintf("%s/exec.fifo", dir);
	if (oci_hooks_saved(dir, &hooks, &e) < 0) {
		r = fail(o, &e, EXIT_SETUP);
		goto out;
	}
	/* startContainer fails the start and stops the container (runtime-spec config.md) */
	if (oci_hooks_run(hooks, OCI_HOOK_START_CONTAINER, &s, &e) < 0) {
		deliver(&s, SIGKILL);
		r = fail(o, &e, EXIT_SETUP);
		goto out;
	}
	/* Non-blocking: the monitor and the command hold it open for reading, so this succeeds
	 * exactly while they live. */
	fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	s.started = true;
	if (fd < 0 || oci_state_write(dir, &s, &e) < 0 || write(fd, "s", 1) != 1) {
		if (!e.msg[0])
			herr_set(&e, errno, "cannot start container %s", id);
		fail(o, &e, 1);
		goto out;
	}
	if (oci_hooks_run(hooks, OCI_HOOK_POSTSTART, &s, &e) < 0)
		warn_hook(o, &e);
	r = 0;
out:
	json_object_put(hooks);
	oci_state_free(&s);
	return r;
}

static int parse_signal(const char *s)
{
	char *end;
	long n;
	int sig;

	if (!s)
		return SIGTERM;
	n = strtol(s, &end, 10);
	if (!*end && n > 0 && n < NSIG)
		return (int)n;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (sig = 1; sig < NSIG; sig++)
		if (sigabbrev_np(sig) && strcasecmp(sigabbrev_np(sig), s) == 0)
			return sig;
	return -1;
}

/* The signals the init forwards (TERM, INT, HUP...) go to the container's command itself, as
 * the init would pass them: the init keeps no capability, so it cannot signal a command that
 * became another user (process.user as root: oci_host_user), and we can, from outside its user
 * namespace. Failing that, through the monitor and the init, as with `hutch run`. Others (KILL,
 * STOP...) go to the init itself: as pid 1 of its namespace it dies of SIGKILL from outside,
 * and takes everything inside with it. */
static int deliver(const struct oci_state *s, int sig)
{
	struct herr ignored = {0};
	sigset_t fwd;
	pid_t cmd;

	init_forwarded_signals(&fwd);
	if (sigismember(&fwd, sig)) {
		cmd = oci_find_command(s->pid, &ignored);
		if ((cmd > 0 && kill(cmd, sig) == 0) ||
		    (s->monitor > 0 && kill(s->monitor, sig) == 0))
			return 0;
	}
	if (kill(s->pid, sig) == 0)
		return 0;
	if (errno == EPERM && sig == SIGKILL && s->monitor > 0) /* the init dies with it */
		return kill(s->monitor, SIGKILL);
	return -1;
}

static int cmd_kill(const struct oci *o, int argc, char **argv)
{
	_cleanup_free_ char *dir = NULL;
	bool all = false;
	const char *sigs = NULL, *id = the_id(o, argc, argv, NULL, &all, &sigs);
	struct oci_state s;
	int sig = parse_signal(sigs), r = 0;

	if (!id || load(o, id, &s, &dir) < 0)
		return 1;
	if (sig < 0)
		r = failf(o, 1, "kill: unknown signal '%s'", sigs);
	else if (strcmp(oci_state_status(&s), "stopped") == 0)
		r = failf(o, 1, "container not running");
	else if (all ? oci_kill_all(&s, sig) < 0 : deliver(&s, sig) < 0)
		r = failf(o, 1, "kill %s: %s", id, strerror(errno));
	oci_state_free(&s);
	return r;
}

/* Wait (up to 5 s) for the init and then the monitor to be gone: the monitor removes the
 * sandbox's cgroup after the init, and delete must not return before that. */
static void await_gone(const struct oci_state *s)
{
	for (int i = 0; i < 500; i++) {
		bool init_alive = strcmp(oci_state_status(s), "stopped") != 0;
		bool mon_alive = oci_proc_alive(s->monitor, 0);

		if (!init_alive && !mon_alive)
			return;
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	}
}

static int cmd_delete(const struct oci *o, int argc, char **argv)
{
	_cleanup_free_ char *dir = NULL;
	bool force = false;
	const char *id = the_id(o, argc, argv, &force, NULL, NULL);
	json_object *hooks;
	struct herr e = {0};
	struct oci_state s;
	const char *status;

	if (id) {
		_cleanup_free_ char *d = container_dir(o, id);

		if (reclaim(d))
			return 0; /* a create that died left it */
	}
	if (!id || load(o, id, &s, &dir) < 0)
		return 1;
	status = oci_state_status(&s);
	if (strcmp(status, "running") == 0 && !force) {
		oci_state_free(&s);
		return failf(o, 1, "cannot delete container %s that is not stopped; use --force",
			     id);
	}
	if (strcmp(status, "stopped") != 0)
		deliver(&s, SIGKILL);
	await_gone(&s);
	/* a hooks.json edited out of shape: delete goes on, without the poststop hooks */
	if (oci_hooks_saved(dir, &hooks, &e) < 0)
		warn_hook(o, &e);
	remove_container_dir(dir);
	if (oci_hooks_run(hooks, OCI_HOOK_POSTSTOP, &s, &e) < 0)
		warn_hook(o, &e);
	json_object_put(hooks);
	oci_state_free(&s);
	return 0;
}

static int cmd_list(const struct oci *o, int argc, char **argv)
{
	bool json = argc > 1 && (strcmp(argv[argc - 1], "json") == 0 ||
				 strcmp(argv[argc - 1], "--format=json") == 0);
	json_object *arr = json_object_new_array();
	DIR *d = opendir(o->root);
	struct dirent *de;

	if (!json)
		printf("%-20s %-8s %-8s %s\n", "ID", "PID", "STATUS", "BUNDLE");
	while (d && (de = readdir(d))) {
		_cleanup_free_ char *dir = container_dir(o, de->d_name);
		struct herr e = {0};
		struct oci_state s;

		if (de->d_name[0] == '.' || oci_state_read(dir, de->d_name, &s, &e) < 0)
			continue;
		if (json)
			json_object_array_add(arr, oci_state_json(&s));
		else
			printf("%-20s %-8d %-8s %s\n", s.id, (int)s.pid, oci_state_status(&s),
			       s.bundle);
		oci_state_free(&s);
	}
	if (d)
		closedir(d);
	if (json)
		printf("%s\n", json_object_to_json_string_ext(
				   arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(arr);
	return 0;
}

static int cmd_features(const struct oci *o, int argc, char **argv)
{
	fputs("{\n"
	      "  \"ociVersionMin\": \"1.0.0\",\n"
	      "  \"ociVersionMax\": \"1.0.2\",\n"
	      "  \"hooks\": [\"prestart\", \"createRuntime\", \"createContainer\", "
	      "\"startContainer\", \"poststart\", \"poststop\"],\n"
	      "  \"mountOptions\": [\"bind\", \"rbind\", \"ro\", \"rw\", \"size\"],\n"
	      "  \"linux\": {\n"
	      "    \"namespaces\": [\"cgroup\", \"ipc\", \"mount\", \"network\", \"pid\", "
	      "\"user\", \"uts\"],\n"
	      "    \"cgroup\": {\"v1\": true, \"v2\": true},\n"
	      "    \"seccomp\": {\"enabled\": true}\n"
	      "  },\n"
	      "  \"annotations\": {\"org.opencontainers.runtime-spec.features.hutch\": \"1\"}\n"
	      "}\n",
	      stdout);
	return 0;
}

static int exec_option(struct oci_exec_args *a, int argc, char **argv, int *i)
{
	const char *o = argv[*i];
	const char **val = NULL;

	if (!strcmp(o, "--detach") || !strcmp(o, "-d"))
		a->detach = true;
	else if (!strcmp(o, "--tty") || !strcmp(o, "-t"))
		a->tty = true;
	else if (!strcmp(o, "--process") || !strcmp(o, "-p"))
		val = &a->process;
	else if (!strcmp(o, "--pid-file"))
		val = &a->pid_file;
	else if (!strcmp(o, "--console-socket"))
		val = &a->console_socket;
	else if (!strcmp(o, "--cwd"))
		val = &a->cwd;
	else if (!strcmp(o, "--no-new-privs"))
		; /* always */
	else
		return -1;
	if (val) {
		if (*i + 1 >= argc)
			return -1;
		*val = argv[++*i];
	}
	return 0;
}

/* exec [OPTIONS] ID [ARGS...] */
static int cmd_exec(const struct oci *o, int argc, char **argv)
{
	_cleanup_free_ char *dir = NULL;
	struct oci_exec_args a = {0};
	struct herr e = {0};
	struct oci_state s;
	const char *id = NULL;
	int i, r;

	for (i = 1; i < argc && argv[i][0] == '-'; i++)
		if (exec_option(&a, argc, argv, &i) < 0)
			return failf(o, 1, "exec: unknown or incomplete option '%s'", argv[i]);
	if (i < argc)
		id = argv[i++];
	if (check_id(o, id) < 0 || load(o, id, &s, &dir) < 0)
		return 1;
	a.argv = i < argc ? argv + i : NULL;
	if (strcmp(oci_state_status(&s), "running") != 0)
		r = failf(o, 1, "cannot exec in a container that is %s", oci_state_status(&s));
	else if ((r = oci_exec(&s, &a, o->logf, &e)) < 0)
		r = fail(o, &e, e.exit_code ? e.exit_code : 1);
	oci_state_free(&s);
	return r;
}

/* ps [--format table|json] ID [PS ARGS...]: as runc, a table from the host's ps (ps -ef
 * unless ARGS say otherwise) or a JSON array of host pids (src/oci-ps.c). */
static int cmd_ps(const struct oci *o, int argc, char **argv)
{
	_cleanup_free_ char *dir = NULL;
	struct herr e = {0};
	struct oci_state s;
	bool json = false;
	int i, r = 0;

	for (i = 1; i < argc && argv[i][0] == '-'; i++)
		if (!strcmp(argv[i], "--format") || !strcmp(argv[i], "-f")) {
			if (++i >= argc || (strcmp(argv[i], "json") && strcmp(argv[i], "table")))
				return failf(o, 1, "ps: --format takes table or json");
			json = !strcmp(argv[i], "json");
		} else if (!strcmp(argv[i], "--format=json") ||
			   !strcmp(argv[i], "--format=table")) {
			json = !strcmp(argv[i], "--format=json");
		} else {
			return failf(o, 1, "ps: unknown option '%s'", argv[i]);
		}
	if (check_id(o, i < argc ? argv[i] : NULL) < 0 || load(o, argv[i], &s, &dir) < 0)
		return 1;
	if (i + 1 < argc && !strcmp(argv[i + 1], "--"))
		i++;
	if (json && i + 1 < argc)
		r = failf(o, 1, "ps: --format json takes no ps arguments");
	else if (oci_ps(&s, json, argv + i + 1, &e) < 0)
		r = fail(o, &e, 1);
	oci_state_free(&s);
	return r;
}

/* `spec`: a default config.json, like runc's: sh in ./rootfs, every namespace. */
static const char default_spec[] =
    "{\n"
    "  \"ociVersion\": \"1.0.2\",\n"
    "  \"process\": {\n"
    "    \"terminal\": false,\n"
    "    \"user\": {\"uid\": 0, \"gid\": 0},\n"
    "    \"args\": [\"sh\"],\n"
    "    \"env\": [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", "
    "\"TERM=xterm\"],\n"
    "    \"cwd\": \"/\",\n"
    "    \"noNewPrivileges\": true\n"
    "  },\n"
    "  \"root\": {\"path\": \"rootfs\", \"readonly\": true},\n"
    "  \"hostname\": \"hutch\",\n"
    "  \"mounts\": [\n"
    "    {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},\n"
    "    {\"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\"}\n"
    "  ],\n"
    "  \"linux\": {\n"
    "    \"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\"}, {\"type\": \"ipc\"}, "
    "{\"type\": \"uts\"}, {\"type\": \"mount\"}, {\"type\": \"user\"}, {\"type\": \"cgroup\"}]\n"
    "  }\n"
    "}\n";

static int cmd_spec(const struct oci *o, int argc, char **argv)
{
	const char *bundle = ".";
	_cleanup_free_ char *path = NULL;
	FILE *f;
	int fd;

	for (int i = 1; i < argc; i++)
		if ((strcmp(argv[i], "--bundle") == 0 || strcmp(argv[i], "-b") == 0) &&
		    i + 1 < argc)
			bundle = argv[++i];
		else if (strcmp(argv[i], "--rootless") != 0)
			return failf(o, 1, "spec: unknown argument '%s'", argv[i]);
	path = xasprintf("%s/config.json", bundle);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return failf(o, 1, "spec: %s: %s", path, strerror(errno));
	f = fdopen(fd, "w");
	fputs(default_spec, f);
	return fclose(f) == 0 ? 0 : failf(o, 1, "spec: %s: %s", path, strerror(errno));
}

static const char *default_root(char *buf, size_t size)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");

	if (rt && rt[0] == '/') {
		snprintf(buf, size, "%s/hutch", rt);
		return buf;
	}
	return "/run/hutch";
}

/* Global options, before the command: --root DIR, --log FILE, --log-format F, flags. */
static int parse_globals(struct oci *o, int argc, char **argv, struct herr *e)
{
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		_cleanup_free_ char *name = xstrdup(argv[i]);
		char *eq = strchr(name, '='), *val = NULL;

		if (eq) {
			*eq = 0;
			val = eq + 1;
		}
		if (!in(globals, name))
			return herr_set(e, 0, "unknown global option '%s'", name);
		if (strcmp(name, "--systemd-cgroup") == 0 || strcmp(name, "--debug") == 0)
			continue;
		if (!val) {
			if (i + 1 >= argc)
				return herr_set(e, 0, "%s needs a value", name);
			val = argv[++i];
		}
		/* val points into argv or into name: keep argv's own copy */
		val = argv[i] + (eq ? (eq - name) + 1 : 0);
		if (strcmp(name, "--root") == 0)
			o->root = val;
		else if (strcmp(name, "--log") == 0)
			o->log = val;
		else if (strcmp(name, "--log-format") == 0)
			o->log_json = strcmp(val, "json") == 0;
	}
	return i;
}

int oci_main(int argc, char **argv)
{
	static int (*const run[])(const struct oci *, int, char **) = {
	    cmd_create, cmd_start,    cmd_state, cmd_kill, cmd_delete,
	    cmd_list,	cmd_features, cmd_spec,	 cmd_exec, cmd_ps,
	};
	char root[PATH_MAX];
	struct oci o = {.argc = argc, .argv = argv};
	struct herr e = {0};
	int i = parse_globals(&o, argc, argv, &e), r = 1;

	if (i < 0)
		return fail(&o, &e, 1);
	if (!o.root)
		o.root = default_root(root, sizeof(root));
	if (o.log)
		o.logf = fopen(o.log, "ae");
	if (i >= argc) {
		failf(&o, 1,
		      "which command? (create, start, state, kill, delete, exec, ps, list, "
		      "features, spec)");
	} else {
		size_t c;

		for (c = 0; commands[c] && strcmp(commands[c], argv[i]) != 0; c++)
			;
		if (commands[c])
			r = run[c](&o, argc - i, argv + i);
		else if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-v") == 0)
			r = printf("hutch version %s\nspec: 1.0.2\n", HUTCH_VERSION) < 0;
		else
			failf(&o, 1, "unknown command '%s'", argv[i]);
	}
	if (o.logf)
		fclose(o.logf);
	return r;
}
