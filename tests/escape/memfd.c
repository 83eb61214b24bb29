/* 28: memfd_create + execveat, running a binary that exists on no filesystem: it runs, but with
 * exactly the restrictions of its parent (seccomp, no_new_privs, no capabilities). */
#include "escape.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int child(void)
{
	char line[256];
	int seccomp = -1, nnp = -1;
	unsigned long long capeff = ~0ULL;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "Seccomp: %d", &seccomp);
		sscanf(line, "NoNewPrivs: %d", &nnp);
		sscanf(line, "CapEff: %llx", &capeff);
	}
	CHECK(seccomp == 2, "the memfd program is under the seccomp filter");
	CHECK(nnp == 1, "the memfd program has no_new_privs");
	CHECK(capeff == 0, "the memfd program has no capabilities");
	EXPECT(unshare(0x10000000 /* CLONE_NEWUSER */), EPERM);
	return escape_done();
}

int main(int argc, char **argv)
{
	struct stat st;
	int self, mfd, status;
	pid_t pid;

	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child();
	self = open("/proc/self/exe", O_RDONLY);
	mfd = memfd_create("escape", MFD_CLOEXEC);
	if (self < 0 || mfd < 0 || fstat(self, &st) < 0 ||
	    sendfile(mfd, self, NULL, (size_t)st.st_size) != st.st_size)
		escape_cannot("copy /proc/self/exe into a memfd");
	pid = fork();
	if (pid == 0) {
		char *args[] = {"memfd", "--child", NULL};
		syscall(SYS_execveat, mfd, "", args, (char *[]){NULL}, AT_EMPTY_PATH);
		printf("ok execveat of the memfd refused: %s\n", strerror(errno));
		_exit(0);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the memfd program stayed confined");
	return escape_done();
}
