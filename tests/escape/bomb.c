/* 29: a fork bomb and a memory hog, written as hostile code writes them: nothing here sets a
 * limit on itself. Only the sandbox's own bounds may stop them (src/limits.h): pids.max or
 * RLIMIT_NPROC for the bomb, the memory cgroup's limit (an OOM kill) or RLIMIT_DATA (ENOMEM)
 * for the hog. test_escape.py reads the two result lines and checks the numbers against the
 * limits in force.
 *
 *   bomb [fork|hog|hog-sparse]...   (no argument: fork hog)
 *
 * fork: the bomb. hog: the hog, touching every page it gets, as a real one does, so that a
 * cgroup's limit bites. hog-sparse: it touches one page per 16 MiB chunk. RLIMIT_DATA counts
 * what a process asks for, not what it touches, so the kernel refuses the same allocation
 * either way; sparse keeps a run without a cgroup from filling half of a shared CI host's
 * memory.
 *
 * Caps far above the default limits keep a sandbox that has none from taking the host down:
 * there the program stops at the cap and reports an escape. */
#include "escape.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>

#define BOMB_CAP 10000
#define CHUNK (16u << 20)

struct shared {
	atomic_int forks;   /* processes the bomb made */
	atomic_int refused; /* forks that failed */
	atomic_int last_errno;
	atomic_ulong hog_mib; /* what the hog got so far */
};

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000}, NULL);
}

/* Every process forks as fast as it can, and so does every child; one that is refused stops
 * (a bomb that kept retrying would only burn the CPUs of the host's other tenants meanwhile). */
static void bomb(struct shared *sh)
{
	for (;;) {
		if (atomic_load(&sh->forks) >= BOMB_CAP)
			break;
		pid_t pid = fork();
		if (pid == 0)
			continue;
		if (pid < 0) {
			atomic_store(&sh->last_errno, errno);
			atomic_fetch_add(&sh->refused, 1);
			break;
		}
		atomic_fetch_add(&sh->forks, 1);
	}
	for (;;)
		pause();
}

/* Until the bomb has stopped growing: refused (or at the cap) and no new process for 300 ms. */
static void await_bomb(struct shared *sh)
{
	int last = -1, still = 0;

	for (int i = 0; i < 600 && still < 6; i++) {
		int now = atomic_load(&sh->forks);
		bool done = atomic_load(&sh->refused) > 0 || now >= BOMB_CAP;

		still = done && now == last ? still + 1 : 0;
		last = now;
		sleep_ms(50);
	}
}

static void hog(struct shared *sh, bool full, unsigned long cap_mib)
{
	for (;;) {
		char *p = malloc(CHUNK);

		if (!p)
			_exit(0); /* refused: ENOMEM */
		if (full)
			for (size_t i = 0; i < CHUNK; i += 4096)
				p[i] = 1;
		else
			p[0] = 1;
		if (atomic_fetch_add(&sh->hog_mib, CHUNK >> 20) + (CHUNK >> 20) >= cap_mib)
			_exit(3);
	}
}

static void run_bomb(struct shared *sh)
{
	pid_t pid = fork();

	if (pid == 0)
		bomb(sh);
	if (pid < 0)
		escape_cannot("fork");
	await_bomb(sh);
	printf("bomb: %d processes, %d forks refused (%s)\n", atomic_load(&sh->forks) + 1,
	       atomic_load(&sh->refused), strerror(atomic_load(&sh->last_errno)));
	CHECK(atomic_load(&sh->refused) > 0 && atomic_load(&sh->forks) < BOMB_CAP,
	      "the fork bomb was refused after %d processes", atomic_load(&sh->forks) + 1);
	kill(-1, SIGKILL); /* every process of the sandbox but the init and us */
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	sleep_ms(200); /* the init reaps the orphans */
}

static void run_hog(struct shared *sh, bool full)
{
	struct sysinfo si;
	unsigned long cap_mib;
	int status;
	pid_t pid;

	if (sysinfo(&si) < 0)
		escape_cannot("sysinfo");
	/* full: 2 GiB (the test gives the hog a smaller limit); sparse: twice the RAM */
	cap_mib = full ? 2048
		       : (unsigned long)(((unsigned long long)si.totalram * si.mem_unit) >> 20) * 2;
	pid = fork();
	if (pid == 0)
		hog(sh, full, cap_mib);
	if (pid < 0)
		escape_cannot("fork (the hog)");
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status))
		printf("hog: killed by signal %d at %lu MiB\n", WTERMSIG(status),
		       atomic_load(&sh->hog_mib));
	else
		printf("hog: %s at %lu MiB\n",
		       WEXITSTATUS(status) == 0 ? "refused (ENOMEM)" : "reached the cap",
		       atomic_load(&sh->hog_mib));
	CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
		  (WIFEXITED(status) && WEXITSTATUS(status) == 0),
	      "the memory hog was stopped at %lu MiB", atomic_load(&sh->hog_mib));
}

int main(int argc, char **argv)
{
	static char *const both[] = {"bomb", "fork", "hog", NULL};
	struct shared *sh =
	    mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	char ns[64] = "";

	if (sh == MAP_FAILED)
		escape_cannot("mmap");
	setvbuf(stdout, NULL, _IONBF, 0);
	/* the test looks for processes left in it afterwards */
	if (readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1) > 0)
		printf("pidns: %s\n", ns);
	if (argc < 2)
		argv = (char **)both;
	for (int i = 1; argv[i]; i++)
		if (strcmp(argv[i], "fork") == 0)
			run_bomb(sh);
		else if (strncmp(argv[i], "hog", 3) == 0)
			run_hog(sh, strcmp(argv[i], "hog-sparse") != 0);
		else
			escape_cannot("usage: bomb [fork|hog|hog-sparse]...");
	return escape_done();
}
