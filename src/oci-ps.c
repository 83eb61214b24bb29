/* `ps ID` and `kill --all ID`: the container's processes, as host pids. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "oci.h"
#include "util.h"

struct proc {
	pid_t pid, ppid;
	bool in; /* in the container */
};

static pid_t parent_of(const char *pid)
{
	_cleanup_free_ char *path = xasprintf("/proc/%s/stat", pid);
	char buf[512], *p;
	FILE *f = fopen(path, "re");
	size_t n;
	int ppid = 0;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the name may hold anything */
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return 0;
	return ppid;
}

/*
 * Three ways in, because no one sees every process: the init (pid 1 inside) and hutch's other
 * undumpable processes hide their /proc/PID/ns from their own user, so a pid namespace compare
 * misses them; and an exec'd process's parent is `exec`'s joining process, outside. So: the
 * init, whatever shares the command's pid namespace, and every descendant of either.
 */
static size_t scan(const struct oci_state *s, const struct stat *ns, struct proc **out)
{
	struct proc *v = NULL;
	size_t n = 0;
	DIR *d = opendir("/proc");
	struct dirent *de;
	bool more = true;

	while (d && (de = readdir(d))) {
		_cleanup_free_ char *path = xasprintf("/proc/%s/ns/pid", de->d_name);
		struct stat st;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n].pid = atoi(de->d_name);
		v[n].ppid = parent_of(de->d_name);
		v[n].in = v[n].pid == s->pid || (stat(path, &st) == 0 && st.st_ino == ns->st_ino &&
						 st.st_dev == ns->st_dev);
		n++;
	}
	if (d)
		closedir(d);
	while (more) { /* until no descendant is left to add */
		more = false;
		for (size_t i = 0; i < n; i++)
			for (size_t k = 0; !v[i].in && k < n; k++)
				if (v[k].in && v[k].pid == v[i].ppid)
					v[i].in = more = true;
	}
	*out = v;
	return n;
}

static bool listed(const struct proc *v, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].in && v[i].pid == pid)
			return true;
	return false;
}

/* runc's table: the host's ps with the caller's arguments (-ef by default), its header and the
 * container's rows, found by the PID column. */
static int table(const struct proc *v, size_t n, char **args, struct herr *e)
{
	_cleanup_free_ char **argv = NULL;
	char *line = NULL;
	size_t cap = 0, argc = 0, col = 0;
	int pfd[2], status;
	bool header = true;
	FILE *f;
	pid_t pid;

	for (; args && args[argc]; argc++)
		;
	argv = xcalloc(argc + 3, sizeof(char *));
	argv[0] = "ps";
	for (size_t i = 0; i < argc; i++)
		argv[i + 1] = args[i];
	if (argc == 0)
		argv[1] = "-ef";
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return herr_set(e, errno, "ps: pipe");
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		execvp("ps", argv);
		fprintf(stderr, "hutch: ps: cannot run ps: %s\n", strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	while (f && getline(&line, &cap, f) > 0) {
		char *copy = xstrdup(line), *save = NULL, *tok = strtok_r(copy, " \t\n", &save);
		size_t i = 0;

		if (header) { /* which column is PID */
			for (; tok && strcmp(tok, "PID") != 0; tok = strtok_r(NULL, " \t\n", &save))
				i++;
			col = tok ? i : SIZE_MAX;
			header = false;
			fputs(line, stdout);
		} else {
			for (; tok && i < col; tok = strtok_r(NULL, " \t\n", &save))
				i++;
			if (tok && listed(v, n, atoi(tok)))
				fputs(line, stdout);
		}
		free(copy);
	}
	free(line);
	if (f)
		fclose(f);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (col == SIZE_MAX)
		return herr_set(e, 0, "ps: the output of ps %s has no PID column", argv[1]);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return herr_set(e, 0, "ps: ps %s failed", argv[1]);
	return 0;
}

/* Every process of the container; the pid namespace is the command's. */
static size_t container(const struct oci_state *s, struct proc **v)
{
	struct herr ignored = {0};
	_cleanup_free_ char *ns = NULL;
	struct stat want = {0};
	pid_t cmd = oci_find_command(s->pid, &ignored);

	ns = cmd > 0 ? xasprintf("/proc/%d/ns/pid", (int)cmd) : NULL;
	if (!ns || stat(ns, &want) < 0)
		want.st_ino = 0; /* the init and its descendants still count */
	return scan(s, &want, v);
}

int oci_kill_all(const struct oci_state *s, int sig)
{
	_cleanup_free_ struct proc *v = NULL;
	size_t n = container(s, &v);
	int sent = 0, err = ESRCH;

	for (size_t i = 0; i < n; i++)
		if (v[i].in) {
			if (kill(v[i].pid, sig) == 0)
				sent++;
			else
				err = errno;
		}
	errno = err;
	return sent > 0 ? 0 : -1;
}

int oci_ps(const struct oci_state *s, bool json, char **args, struct herr *e)
{
	_cleanup_free_ struct proc *v = NULL;
	size_t n, k = 0;

	if (strcmp(oci_state_status(s), "stopped") == 0)
		return herr_set(e, 0, "container %s is not running", s->id);
	n = container(s, &v);
	if (!json)
		return table(v, n, args, e);
	putchar('[');
	for (size_t i = 0; i < n; i++)
		if (v[i].in)
			printf("%s%d", k++ ? "," : "", (int)v[i].pid);
	puts("]");
	return 0;
}
