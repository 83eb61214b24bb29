#include "dryrun.h"

#include "limits.h"

#include <string.h>
#include <sys/capability.h>

#include "env.h"
#include "mounts.h"
#include "user.h"

static void print_map(FILE *out, const char *what, const struct idmap *m)
{
	fprintf(out, "%s:", what);
	for (size_t i = 0; i < m->n; i++)
		fprintf(out, "%s %lu -> %lu (%lu)", i ? "," : "", m->ext[i].inside,
			m->ext[i].outside, m->ext[i].count);
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

static void print_network(FILE *out, const struct plan *p)
{
	if (p->share_net) {
		fputs("network: host\n", out);
		return;
	}
	if (!p->slirp) {
		fputs("network: none (loopback only, up)\n", out);
		return;
	}
	fprintf(out,
		"network: slirp (tap0 10.0.2.100/24, gateway 10.0.2.2, DNS 10.0.2.3); "
		"%zu published port(s); host loopback %s; egress %s\n",
		p->n_publish, p->allow_host_loopback ? "reachable" : "closed",
		p->n_allow ? "only the --allow-net rules" : "open");
}

static void print_limits(FILE *out, const struct plan *p)
{
	fputs("limits:", out);
	if (p->memory == LIMIT_MAX)
		fputs(" memory=max", out);
	else if (p->memory)
		fprintf(out, " memory=%llu", (unsigned long long)p->memory);
	else
		fputs(" memory=default (half of RAM or of the delegated cgroup's limit)", out);
	if (p->memory_swap)
		fprintf(out, " memory+swap=%llu", (unsigned long long)p->memory_swap);
	if (p->pids == LIMIT_MAX)
		fputs(" pids=max", out);
	else
		fprintf(out, " pids=%llu%s", (unsigned long long)(p->pids ? p->pids : PIDS_DEFAULT),
			p->pids ? "" : " (default)");
	if (p->cpu_quota_us)
		fprintf(out, " cpus=%.2f", (double)p->cpu_quota_us / CPU_PERIOD_US);
	if (p->cpu_weight)
		fprintf(out, " cpu-weight=%llu", (unsigned long long)p->cpu_weight);
	if (p->io_weight)
		fprintf(out, " io-weight=%llu", (unsigned long long)p->io_weight);
	if (p->timeout_ms)
		fprintf(out, " timeout=%llums", (unsigned long long)p->timeout_ms);
	if (p->n_rlimits)
		fprintf(out, " rlimits=%zu", p->n_rlimits);
	fprintf(out, "%s%s\n", p->report ? " report=" : "", p->report ? p->report : "");
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
	print_network(out, p);
	fputs("mounts:\n", out);
	mounts_describe(p, &ids, out);
	print_caps(out, p->caps_keep);
	fprintf(out, "seccomp: %s\n",
		p->seccomp_none ? "none"
		: p->seccomp	? "the profile given with --seccomp"
				: "default");
	print_limits(out, p);
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
