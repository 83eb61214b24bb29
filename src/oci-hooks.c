/*
 * The POSIX-platform hooks of config.json (runtime-spec config.md): programs the engine asks the
 * runtime to run at fixed points of a container's life, each with the container's state on its
 * stdin. Where and when hutch runs them:
 *
 *   prestart, createRuntime   `create`, once the sandbox is built and its process waits for
 *                             `start`; in create's own namespaces (the runtime's)
 *   createContainer           `create`, next; in the container's namespaces but the runtime's
 *                             mount namespace, so the path (which the spec resolves in the
 *                             runtime's) and the host libraries it loads are found
 *   startContainer            `start`, before the process execs; in every namespace of the
 *                             container, mount included (the spec resolves its path there)
 *   poststart                 `start`, once the process was told to exec; the runtime's
 *   poststop                  `delete`, once the container is gone; the runtime's
 *
 * The container's own process is never a hook's parent: hooks are the engine's programs and run
 * with `create`'s rights (inside the container's user namespace: as its root), never under the
 * container's seccomp or Landlock. A failure before the process runs (exit status, signal,
 * timeout) fails create or start and stops the container; poststart and poststop failures are
 * warnings, as the spec says.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json-get.h"
#include "oci.h"
#include "util.h"

static const char *const phase_names[] = {
    [OCI_HOOK_PRESTART] = "prestart",
    [OCI_HOOK_CREATE_RUNTIME] = "createRuntime",
    [OCI_HOOK_CREATE_CONTAINER] = "createContainer",
    [OCI_HOOK_START_CONTAINER] = "startContainer",
    [OCI_HOOK_POSTSTART] = "poststart",
    [OCI_HOOK_POSTSTOP] = "poststop",
};

/* The status a hook's state shows (runc's: "creating" until create returns). */
static const char *const phase_status[] = {
    [OCI_HOOK_PRESTART] = "creating",	      [OCI_HOOK_CREATE_RUNTIME] = "creating",
    [OCI_HOOK_CREATE_CONTAINER] = "creating", [OCI_HOOK_START_CONTAINER] = "created",
    [OCI_HOOK_POSTSTART] = "running",	      [OCI_HOOK_POSTSTOP] = "stopped",
};

static int check_hook(const struct jval *h, struct herr *e)
{
	struct jval v;
	const char *path;
	int64_t timeout;

	if (jstr(h, "path", &path, e) < 0 || jstrs(h, "args", &v, e) < 0 ||
	    jstrs(h, "env", &v, e) < 0 || jint(h, "timeout", 1, 86400, &timeout, e) < 0)
		return -1;
	if (!path)
		return jerr(h, NULL, e, "a hook needs a \"path\"");
	if (path[0] != '/')
		return jerr(h, "path", e, "%s is not absolute", path);
	return 0;
}

/* The hooks object: known phases only, each a list of hook objects. */
static int check_hooks(const struct jval *h, struct herr *e)
{
	struct jval list, hook;

	if (!h->v)
		return 0;
	json_object_object_foreach(h->v, phase, val)
	{
		size_t i;

		(void)val;
		for (i = 0; i < ARRAY_SIZE(phase_names) && strcmp(phase_names[i], phase) != 0; i++)
			;
		/* a hook hutch does not know would silently not run: the engine counts on it */
		if (i == ARRAY_SIZE(phase_names))
			return jerr(h, phase, e, "unknown hook type");
		if (jarr(h, phase, &list, e) < 0)
			return -1;
		for (size_t k = 0; k < jlen(&list); k++)
			if (jobj_at(&list, k, &hook, e) < 0 || check_hook(&hook, e) < 0)
				return -1;
	}
	return 0;
}

int oci_hooks_check(const struct jval *doc, json_object **hooks, struct herr *e)
{
	struct jval h;

	*hooks = NULL;
	if (jobj(doc, "hooks", &h, e) < 0 || check_hooks(&h, e) < 0)
		return -1;
	if (h.v && json_object_object_length(h.v) > 0)
		*hooks = json_object_get(h.v);
	return 0;
}

int oci_hooks_save(const char *dir, json_object *hooks, struct herr *e)
{
	_cleanup_free_ char *path = xasprintf("%s/hooks.json", dir);

	if (hooks && json_object_to_file_ext(path, hooks, JSON_C_TO_STRING_PLAIN) < 0)
		return herr_set(e, errno, "cannot write %s", path);
	return 0;
}

int oci_hooks_saved(const char *dir, json_object **hooks, struct herr *e)
{
	_cleanup_free_ char *path = xasprintf("%s/hooks.json", dir);
	struct jval h;

	*hooks = NULL;
	if (access(path, F_OK) < 0)
		return 0;
	/* hutch wrote it, checked; checked again, as the directory is the user's to edit */
	if (!(*hooks = json_object_from_file(path)))
		return herr_set(e, 0, "%s: %s", path, json_util_get_last_err());
	if (jroot(*hooks, path, "hooks", &h, e) < 0 || check_hooks(&h, e) < 0) {
		json_object_put(*hooks);
		*hooks = NULL;
		return -1;
	}
	return 0;
}

/* A NULL-terminated vector of a string array's members, or `dflt` alone when it is absent. */
static char **strv(json_object *h, const char *key, const char *dflt)
{
	json_object *v = NULL;
	size_t n = json_object_object_get_ex(h, key, &v) ? json_object_array_length(v) : 0;
	char **r = xcalloc(n + 2, sizeof(char *));

	for (size_t i = 0; i < n; i++)
		r[i] = (char *)json_object_get_string(json_object_array_get_idx(v, i));
	if (n == 0)
		r[0] = (char *)dflt;
	return r;
}

/* The hook's process: stdin the state, stdout and stderr kept for the error message. In the
 * container's namespaces it forks once more (into its pid namespace) and passes on the status;
 * the grandchild dies with it, so a timeout's kill leaves nothing. */
__attribute__((noreturn)) static void hook_child(json_object *h, enum oci_hook phase,
						 const struct oci_state *s, int in, int out)
{
	const char *path = json_object_get_string(json_object_object_get(h, "path"));
	_cleanup_free_ char **argv = strv(h, "args", path), **envp = strv(h, "env", NULL);
	struct herr e = {0};
	int status;
	pid_t pid;

	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(EXIT_SETUP);
	if (phase == OCI_HOOK_CREATE_CONTAINER || phase == OCI_HOOK_START_CONTAINER) {
		if (oci_enter(s, phase == OCI_HOOK_START_CONTAINER, &e) < 0) {
			dprintf(2, "%s\n", e.msg);
			_exit(EXIT_SETUP);
		}
		pid = fork();
		if (pid > 0) {
			while (waitpid(pid, &status, 0) < 0)
				if (errno != EINTR)
					_exit(EXIT_SETUP);
			if (WIFSIGNALED(status))
				_exit(128 + WTERMSIG(status));
			_exit(WEXITSTATUS(status));
		}
		if (pid < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() == 1)
			_exit(EXIT_SETUP);
	}
	execve(path, argv, envp);
	dprintf(2, "cannot execute %s: %s\n", path, strerror(errno));
	_exit(errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC);
}

/* The last line the hook printed, for the error (one line, no control characters). */
static void last_words(int fd, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size - 1, 0);
	char *p;

	buf[n > 0 ? n : 0] = 0;
	while ((p = strrchr(buf, '\n')) && p[1] == 0)
		*p = 0;
	if ((p = strrchr(buf, '\n')))
		memmove(buf, p + 1, strlen(p + 1) + 1);
	for (p = buf; *p; p++)
		if ((unsigned char)*p < ' ')
			*p = ' ';
}

/* Wait for the hook, at most its timeout (seconds; 0: none). Returns its wait status, or -1. */
static int await_hook(pid_t pid, int timeout, bool *timed_out)
{
	_cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
	int status, r;

	*timed_out = false;
	if (pidfd >= 0) {
		while ((r = poll(&pfd, 1, timeout > 0 ? timeout * 1000 : -1)) < 0 && errno == EINTR)
			;
		if (r == 0) {
			*timed_out = true;
			kill(pid, SIGKILL);
		}
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

static int run_hook(json_object *h, enum oci_hook phase, size_t idx, const char *state,
		    const struct oci_state *s, struct herr *e)
{
	const char *path = json_object_get_string(json_object_object_get(h, "path"));
	json_object *t = json_object_object_get(h, "timeout");
	_cleanup_close_ int in = -1, out = memfd_create("hutch-hook", MFD_CLOEXEC);
	int pfd[2], status;
	char words[512];
	bool timed_out;
	pid_t pid;

	if (out < 0 || pipe2(pfd, O_CLOEXEC) < 0)
		return herr_set(e, errno, "hook %s[%zu] %s", phase_names[phase], idx, path);
	in = pfd[0];
	/* the state is small: it fits the pipe whole, and the hook may read it or not */
	if (write(pfd[1], state, strlen(state)) != (ssize_t)strlen(state)) {
		close(pfd[1]);
		return herr_set(e, errno, "hook %s[%zu]: writing the state", phase_names[phase],
				idx);
	}
	close(pfd[1]);
	pid = fork();
	if (pid < 0)
		return herr_set(e, errno, "fork");
	if (pid == 0)
		hook_child(h, phase, s, in, out);
	status = await_hook(pid, t ? json_object_get_int(t) : 0, &timed_out);
	if (status >= 0 && !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	last_words(out, words, sizeof(words));
	if (timed_out)
		return herr_set(e, 0, "hook %s[%zu] %s timed out after %d s", phase_names[phase],
				idx, path, json_object_get_int(t));
	if (status >= 0 && WIFSIGNALED(status))
		return herr_set(e, 0, "hook %s[%zu] %s was killed by signal %d%s%s",
				phase_names[phase], idx, path, WTERMSIG(status),
				words[0] ? ": " : "", words);
	return herr_set(e, 0, "hook %s[%zu] %s failed (exit status %d)%s%s", phase_names[phase],
			idx, path, status >= 0 ? WEXITSTATUS(status) : -1, words[0] ? ": " : "",
			words);
}

int oci_hooks_run(json_object *hooks, enum oci_hook phase, const struct oci_state *s,
		  struct herr *e)
{
	json_object *list = NULL, *st;
	int r = 0;

	if (!hooks || !json_object_object_get_ex(hooks, phase_names[phase], &list))
		return 0;
	st = oci_state_json(s);
	json_object_object_add(st, "status", json_object_new_string(phase_status[phase]));
	if (phase == OCI_HOOK_POSTSTOP)
		json_object_object_add(st, "pid", json_object_new_int(0));
	for (size_t i = 0; r == 0 && i < json_object_array_length(list); i++)
		r = run_hook(json_object_array_get_idx(list, i), phase, i,
			     json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN |
								    JSON_C_TO_STRING_NOSLASHESCAPE),
			     s, e);
	json_object_put(st);
	if (r < 0)
		e->exit_code = EXIT_SETUP;
	return r;
}
