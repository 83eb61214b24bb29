#include "plan.h"

#include <string.h>

#include "seccomp.h"
#include "util.h"

void plan_init(struct plan *p)
{
	memset(p, 0, sizeof(*p));
	p->hostname = xstrdup("hutch");
}

void plan_set_launcher(struct plan *p, int argc, char **argv)
{
	/* The kernel lays the strings out one after the other, argv[0] first: the area
	 * /proc/PID/cmdline reads (arg_start to arg_end). */
	if (argc < 1)
		return;
	p->launcher_args = argv[0];
	p->launcher_args_len = (size_t)(argv[argc - 1] - argv[0]) + strlen(argv[argc - 1]) + 1;
}

void plan_free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void plan_add_str(char ***v, size_t *n, const char *s)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
}

void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n_mounts; i++) {
		free(p->mounts[i].src);
		free(p->mounts[i].dst);
	}
	for (size_t i = 0; i < p->n_env; i++) {
		free(p->env[i].name);
		free(p->env[i].value);
	}
	for (size_t i = 0; i < p->n_allow; i++)
		free(p->allow[i].host);
	free(p->allow);
	free(p->publish);
	free(p->mounts);
	free(p->env);
	free(p->pass_fds);
	free(p->hostname);
	free(p->chdir);
	free(p->app);
	plan_free_strv(p->dbus_talk, p->n_dbus_talk);
	free(p->dbus_upstream);
	free(p->dbus_dir);
	free(p->rlimits);
	free(p->report);
	free(p->cgroup_parent);
	if (p->seccomp)
		sc_filters_free(p->seccomp);
	free(p->seccomp);
	free(p->seccomp_arg);
	plan_free_strv(p->layers, p->n_layers);
	plan_free_strv(p->overlays, p->n_overlays);
	free(p->persist);
	free(p->image);
	plan_free_strv(p->image_argv, p->n_image_argv);
	free(p->oci_netns); /* issue 8 */
	free(p->oci_console_socket);
	plan_free_strv(p->oci_masked, p->n_oci_masked);
	plan_free_strv(p->oci_readonly, p->n_oci_readonly);
	plan_free_strv(p->oci_sysctl, p->n_oci_sysctl);
	for (size_t i = 0; i < OCI_NS_COUNT; i++)
		free(p->oci_join[i]);
	free(p->oci_cgroup);
	free(p->oci_groups);
	free(p->oci_uidmap);
	free(p->oci_gidmap);
	memset(p, 0, sizeof(*p));
}

void plan_add_mount(struct plan *p, enum mount_kind kind, const char *src, const char *dst,
		    uint64_t size)
{
	struct mount_req *m;

	p->mounts = xreallocarray(p->mounts, p->n_mounts + 1, sizeof(*p->mounts));
	m = &p->mounts[p->n_mounts++];
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->src = src ? xstrdup(src) : NULL;
	m->dst = xstrdup(dst);
	m->size = size;
}

void plan_add_env(struct plan *p, const char *name, const char *value)
{
	struct env_req *r;

	p->env = xreallocarray(p->env, p->n_env + 1, sizeof(*p->env));
	r = &p->env[p->n_env++];
	r->name = xstrdup(name);
	r->value = value ? xstrdup(value) : NULL;
}

void plan_add_pass_fd(struct plan *p, int fd)
{
	p->pass_fds = xreallocarray(p->pass_fds, p->n_pass_fds + 1, sizeof(*p->pass_fds));
	p->pass_fds[p->n_pass_fds++] = fd;
}

bool plan_memory_given(const struct plan *p)
{
	return p->memory && p->memory != LIMIT_MAX;
}

bool plan_pids_given(const struct plan *p)
{
	return p->pids && p->pids != LIMIT_MAX;
}

bool plan_has_cgroup_limit(const struct plan *p)
{
	return plan_memory_given(p) || p->memory_swap || plan_pids_given(p) || p->cpu_quota_us ||
	       p->cpu_weight || p->io_weight;
}

/* The default memory and pids limits (limits.h) go to a cgroup where one is delegated. */
bool plan_wants_cgroup(const struct plan *p)
{
	return plan_has_cgroup_limit(p) || !p->memory || !p->pids || p->timeout_ms || p->report ||
	       p->oci_cgroup;
}
