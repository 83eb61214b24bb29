/*
 * bench/layout's recorder, linked into an instrumented hutch (-finstrument-functions): every
 * function entered for the first time by the process that ran main(), or by a task sharing
 * its memory (the CLONE_VM helpers: their pages are the monitor's), is appended to
 * $HUTCH_LAYOUT_OUT.<pid> as an offset from the start of the executable. Processes with a
 * memory of their own (the sandbox's init, the keeper) are left out: their pages are not the
 * monitor's resident set. Never part of hutch itself.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SLOTS 8192

/* The recorder's own state: one instrumented run, one process tree; written only here. */
static void *seen[SLOTS];
static pid_t first_pid, last_pid;
static int last_shared;
extern char __executable_start[];

#define NOINSTR __attribute__((no_instrument_function))

NOINSTR static int shares_memory(pid_t p)
{
	if (p != last_pid) {
		last_pid = p;
		last_shared = syscall(SYS_kcmp, p, first_pid, KCMP_VM, 0, 0) == 0;
	}
	return last_shared;
}

NOINSTR void __cyg_profile_func_enter(void *fn, void *site);
NOINSTR void __cyg_profile_func_exit(void *fn, void *site);

NOINSTR void __cyg_profile_func_enter(void *fn, void *site)
{
	const char *out = getenv("HUTCH_LAYOUT_OUT");
	pid_t p = getpid();
	unsigned long h = ((unsigned long)fn >> 4) % SLOTS;
	char path[4096], line[32];
	int fd, n;

	(void)site;
	if (!out)
		return;
	if (!first_pid)
		first_pid = p;
	if (p != first_pid && !shares_memory(p))
		return;
	while (seen[h]) {
		if (seen[h] == fn)
			return;
		h = (h + 1) % SLOTS;
	}
	seen[h] = fn;
	snprintf(path, sizeof(path), "%s.%d", out, (int)first_pid);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%lx\n", (unsigned long)((char *)fn - __executable_start));
	if (write(fd, line, (size_t)n) != n) {
		/* a lost line only costs the layout one function */
	}
	close(fd);
}

NOINSTR void __cyg_profile_func_exit(void *fn, void *site)
{
	(void)fn;
	(void)site;
}
