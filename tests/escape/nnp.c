/* 18: setuid and file-capability binaries gain nothing: no_new_privs is set, the bounding set is
 * empty, /usr is mounted nosuid, and a setuid-root binary still runs as us. */
#include "escape.h"

#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

static unsigned long long status_hex(const char *key)
{
	char line[256];
	unsigned long long v = ~0ULL;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0)
			v = strtoull(line + strlen(key) + 1, NULL, 16);
	if (f)
		fclose(f);
	return v;
}

static int fields(const char *s)
{
	int n = 0;

	for (const char *c = s; *c; c++)
		n += *c != ' ' && (c == s || c[-1] == ' ');
	return n;
}

int main(void)
{
	struct statvfs sv;
	int fds[2], status;
	char out[64] = "";

	CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "no_new_privs is set");
	CHECK(status_hex("CapBnd:") == 0, "the bounding set is empty");
	CHECK(status_hex("CapPrm:") == 0 && status_hex("CapAmb:") == 0, "no capabilities");
	CHECK(statvfs("/usr", &sv) == 0 && (sv.f_flag & ST_NOSUID), "/usr is nosuid");
	/* passwd is setuid root: `passwd -S` prints the shadow fields (last change date, ages) only
	 * when it really runs as root, else just the name and a letter */
	if (access("/usr/bin/passwd", X_OK) == 0 && pipe(fds) == 0) {
		pid_t pid = fork();
		ssize_t n;

		if (pid == 0) {
			dup2(fds[1], 1);
			execl("/usr/bin/passwd", "passwd", "-S", (char *)NULL);
			_exit(127);
		}
		close(fds[1]);
		n = read(fds[0], out, sizeof(out) - 1);
		out[n > 0 ? n : 0] = 0;
		waitpid(pid, &status, 0);
		out[strcspn(out, "\n")] = 0;
		CHECK(fields(out) < 4, "setuid passwd did not read /etc/shadow (printed '%s')",
		      out);
	}
	return escape_done();
}
