#include "command.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"
#include "image.h"
#include "init.h"
#include "landlock.h"
#include "oci.h"
#include "seccomp.h"
#include "stdfds.h"
#include "terminal.h"

extern char **environ;

/* Only 0, 1, 2 and the --pass-fd ones survive execve; the caller may have leaked anything. */
static int keep_fds(const struct plan *p, struct herr *e)
{
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		return herr_set(e, errno, "close_range");
	for (size_t i = 0; i < p->n_pass_fds; i++)
		if (fcntl(p->pass_fds[i], F_SETFD, 0) < 0)
			return herr_set(e, errno, "--pass-fd %d", p->pass_fds[i]);
	return 0;
}

/* --chdir, else the caller's directory when the sandbox shows it, else $HOME, else /. */
static int enter_workdir(const struct sandbox *sb, struct herr *e)
{
	if (sb->plan->chdir) {
		if (chdir(sb->plan->chdir) < 0) {
			herr_set(e, errno, "--chdir %s", sb->plan->chdir);
			return herr_hint(e,
					 "the directory must exist inside the sandbox (bind it)");
		}
		return 0;
	}
	if ((sb->cwd && chdir(sb->cwd) == 0) || chdir(sb->ids.home) == 0 || chdir("/") == 0)
		return 0;
	return herr_set(e, errno, "cannot enter any working directory");
}

static int prepare(const struct sandbox *sb, int master, struct herr *e)
{
	/* the pipes first: OCI's console takes fds 0-2 whatever they were */
	if (stdfds_attach(&sb->fds, e) < 0 || terminal_attach(&sb->tty, master, e) < 0 ||
	    keep_fds(sb->plan, e) < 0 || enter_workdir(sb, e) < 0)
		return -1;
	init_command_signals();
	if (user_set_groups(sb->plan, e) < 0 || /* OCI additionalGids (issue 8) */
	    image_become_user(sb->plan, e) < 0) /* the image's User (issue 7) */
		return -1;
	/* capabilities, no_new_privs; the init dropped the rest of the bounding set (sandbox.c) */
	if (caps_drop(sb->plan->caps_keep, CAPS_BOUNDING_LATE, e) < 0)
		return -1;
	hutch_say(sb->plan->verbose, "command: %s capabilities, no_new_privs, exec %s",
		  sb->plan->caps_keep ? "kept only --cap-add" : "no", sb->plan->argv[0]);
	/* ---- Landlock (issue 3) ---- */
	if (landlock_apply(sb->plan, &sb->ids, e) < 0)
		return -1;
	/* ---- seccomp: the very last step before execve (issue 3) ---- */
	return sc_apply(sb->plan, e);
}

void command_exec(const struct sandbox *sb, int master, int gate)
{
	struct herr e = {0};
	const char *cmd = sb->plan->argv[0];

	if (prepare(sb, master, &e) < 0) {
		if (!oci_command_failed(sb->plan, &e)) /* OCI create reports it (issue 14) */
			herr_report(&e);
		_exit(EXIT_SETUP);
	}
	/* Nothing of the command's own runs before the init has locked itself down (no
	 * capability, not dumpable, filtered): wait for its word. The two lock down in parallel. */
	if (read(gate, &(char){0}, 1) != 1)
		_exit(EXIT_SETUP); /* the init died */
	/* OCI create: built and locked down, the command waits for `start` (issue 8), as long as
	 * the engine likes, where a pod's other containers may share its pid namespace: it shows
	 * the launcher's command line no more than the init does (its argv is config.json's). */
	if (sb->plan->oci_start_fd > 0)
		init_hide_launcher(sb->plan->launcher_args, sb->plan->launcher_args_len);
	if (oci_await_start(sb->plan, &e) < 0) {
		herr_report(&e);
		_exit(EXIT_SETUP);
	}
	/* execvp searches the PATH of `environ`, so it must be the sandbox's environment. */
	environ = sb->envp;
	execvp(cmd, sb->plan->argv);
	if (errno == ENOENT || errno == ENOTDIR) {
		herr_set(&e, 0, "%s: %s", cmd,
			 strchr(cmd, '/') ? "no such file inside the sandbox"
					  : "command not found");
		herr_hint(&e,
			  "the sandbox shows the host's /usr and /etc; bind what else it needs");
		herr_report(&e);
		_exit(EXIT_NOT_FOUND);
	}
	herr_set(&e, errno, "%s: cannot execute", cmd);
	herr_report(&e);
	_exit(EXIT_CANNOT_EXEC);
}
