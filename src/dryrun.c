#include "dryrun.h"

#include <string.h>
#include <sys/capability.h>

#include "env.h"
#include "mounts.h"
#include "user.h"

static void print_map(FILE *out, const char *what, const struct idmap *m)
{
	fprintf(out, "%s:", what);
	for (size_t i = 0; i < m->n; i++)
		fprintf(out, "%s %lu -> %lu (%lu)", i ? "," : "", m->ext[i].inside, m->ext[i].outside,
			m->ext[i].count);
	fputc('\n', out);
}

static void print_caps(FILE *out, uint64_t keep)
{
	fputs("capabilities: ", out);
	if (!keep)
		fputs("none", out);
	for (int cap = 0; cap < 64; cap++) {
		if (!((keep >> cap) & 1))
			continue;
		char *name = cap_to_name((cap_value_t)cap);
		fprintf(out, "%s ", name ? name : "?");
		cap_free(name);
	}
	fputs(" (inside the user namespace only; no_new_privs)\n", out);
}

int dryrun_print(const struct plan *p, FILE *out)
{
	struct ids ids = {0};
	char **env;

	user_preview(p, &ids);
	fputs("command:", out);
	for (char **a = p->argv; *a; a++)
		fprintf(out, " %s", *a);
	fprintf(out, "\nnamespaces: user pid mount ipc uts cgroup time%s\n",
		p->share_net ? " (network: the host's)" : " net");
	fprintf(out, "identity: uid %u gid %u home %s%s\n", (unsigned)ids.uid, (unsigned)ids.gid,
		ids.home, ids.subids ? "" : " (own ids only: no subordinate range or no uidmap)");
	print_map(out, "uid map", &ids.uidmap);
	print_map(out, "gid map", &ids.gidmap);
	fprintf(out, "hostname: %s\n", p->hostname);
	fprintf(out, "network: %s\n", p->share_net ? "host" : "none (loopback only, up)");
	fputs("mounts:\n", out);
	mounts_describe(p, &ids, out);
	print_caps(out, p->caps_keep);
	fputs("environment:", out);
	env = env_build(p, &ids);
	for (char **v = env; *v; v++)
		fprintf(out, " %.*s", (int)strcspn(*v, "="), *v);
	fputc('\n', out);
	if (p->chdir)
		fprintf(out, "working directory: %s\n", p->chdir);
	for (size_t i = 0; i < p->n_pass_fds; i++)
		fprintf(out, "passed fd: %d\n", p->pass_fds[i]);
	env_free(env);
	user_free(&ids);
	return 0;
}
