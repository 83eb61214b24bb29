/* OCI runtime mode: the runtime-spec command line (create, start, state, kill, delete...) that
 * podman, containerd and CRI-O drive. config.json fills the same struct plan that `hutch run`'s
 * options fill: one engine, two front ends. */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "errors.h"
#include "plan.h"

/* Is argv[1] an OCI command or one of the global options engines put before it? */
bool oci_is_command(const char *arg);
/* `hutch [GLOBAL OPTIONS] COMMAND ...`: argv[0] is the program. */
int oci_main(int argc, char **argv);

/* What config.json holds beyond the plan. */
struct oci_config {
	json_object *annotations; /* an object of strings (a reference of its own), or NULL */
	json_object *hooks;	  /* checked (oci_hooks_check); NULL when there are none */
};
/* config.json's text (text, len) into p (rootfs, process, mounts, limits...) and out; p comes
 * from plan_init. Every field is type-checked: bad input is one error in e naming the field's
 * path ("config.json: process.args[1]: not a string"). Nothing on the host changes: it only
 * looks (root.path exists, linux.devices' host nodes, the writable cgroups), so a fuzzer may
 * call it on any bytes; free with oci_config_free and oci_plan_free. Warnings go to `warn`. */
int oci_config_parse(const char *text, size_t len, const char *bundle, struct plan *p, FILE *warn,
		     struct oci_config *out, struct herr *e);
/* The same from BUNDLE/config.json. */
int oci_config_load(const char *bundle, struct plan *p, FILE *warn, struct oci_config *out,
		    struct herr *e);
void oci_config_free(struct oci_config *c);

/* A runtime-spec process object in FILE (exec --process): args, env, cwd, user, capabilities...
 */
int oci_process_load(const char *file, struct plan *p, FILE *warn, struct herr *e);

/* `exec`: run one more process in a running container (src/oci-exec.c). `o_log` receives errors
 * as the other commands' do; returns the exit status. */
struct oci_exec_args {
	const char *process; /* --process FILE */
	const char *pid_file, *console_socket, *cwd;
	bool detach, tty;
	char **argv; /* ARGS after the id, NULL-terminated; or NULL */
};
/* The container's command (the init's child, and dumpable: its /proc/PID/ns can be opened). */
pid_t oci_find_command(pid_t init, struct herr *e);
struct oci_state;
/* Join the running container's namespaces (its mount namespace only with `mount`); the caller
 * forks next to be in its pid namespace. */
int oci_enter(const struct oci_state *s, bool mount, struct herr *e);
int oci_exec(const struct oci_state *s, const struct oci_exec_args *a, FILE *warn, struct herr *e);
/* src/oci-cgroup.c: hutch's cgroups of the container, one in each hierarchy it has one in. */
#define OCI_CG_MAX 17
struct oci_cgroups {
	int procs[OCI_CG_MAX]; /* its cgroup.procs, opened outside the container's namespaces */
	int hier[OCI_CG_MAX];  /* the hierarchy's number in /proc/PID/cgroup (0: v2) */
	char *dir[OCI_CG_MAX]; /* the cgroup's directory, for messages */
	size_t n;
};
/* Open them (from the init's /proc/PID/cgroup), before any namespace of the container is
 * joined. */
int oci_cgroup_open(pid_t init, struct oci_cgroups *cg, struct herr *e);
/* Move `pid` into every one of them, then check, in the host's /proc (`proc`, a directory fd),
 * that it is where the init is in each: a move that did not take is an error, never a process
 * left outside. */
int oci_cgroup_move(const struct oci_cgroups *cg, int proc, pid_t init, pid_t pid, struct herr *e);
void oci_cgroup_close(struct oci_cgroups *cg);
/* `ps`: the container's processes; a table from ps(1) run with `args` (NULL-terminated; none:
 * -ef), or with `json` an array of host pids (src/oci-ps.c). */
int oci_ps(const struct oci_state *s, bool json, char **args, struct herr *e);
/* `kill --all`: `sig` to every process of the container; -1 (errno) when none got it. */
int oci_kill_all(const struct oci_state *s, int sig);

/* The state of one container, kept as STATEDIR/ID/state.json. */
struct oci_state {
	char *id;
	char *bundle;
	pid_t pid;     /* the container's init, as the host sees it */
	pid_t monitor; /* hutch's monitor, its parent */
	unsigned long long
	    start_time; /* the init's start time (/proc/PID/stat), against pid reuse */
	bool started;
	char *created; /* RFC 3339 */
	char *home;    /* $HOME inside, as the monitor chose it (exec's Landlock rules) */
	json_object *annotations;
};

int oci_state_write(const char *dir, const struct oci_state *s, struct herr *e);
int oci_state_read(const char *dir, const char *id, struct oci_state *s, struct herr *e);
void oci_state_free(struct oci_state *s);
/* "created", "running" or "stopped", from whether the init still lives. */
const char *oci_state_status(const struct oci_state *s);
/* The runtime-spec state object, for `state` and `list`. */
json_object *oci_state_json(const struct oci_state *s);
unsigned long long oci_proc_start_time(pid_t pid);
/* Alive and not a zombie (and, with a start time, the same process). */
bool oci_proc_alive(pid_t pid, unsigned long long start_time);

/* src/oci-create.c: fork the detached monitor (which runs sandbox_run with p) and wait for the
 * init's pid, or the error that stopped the sandbox. `dir` gets the start FIFO; *home gets $HOME
 * inside. */
pid_t oci_spawn(struct plan *p, const char *dir, pid_t *monitor, char **home, struct herr *e);
int oci_write_pid_file(const char *path, pid_t pid, struct herr *e);
char *oci_now_rfc3339(void); /* RFC 3339 with nanoseconds, UTC */

struct ids;
/* Called by sandbox_run once the sandbox is built: tells `create` the init's pid. */
/* With a console socket the pty master goes there (*master becomes -1: no relay). */
void oci_sandbox_created(const struct plan *p, const struct ids *ids, pid_t init, int *master);
/* process.terminal: the command gets a pty whatever the monitor's stdin is. */
struct tty_plan;
void oci_terminal(const struct plan *p, struct tty_plan *t);
/* OCI: a network namespace given by path replaces the keeper's fresh one (src/sandbox.c clones
 * the init into it). */
int oci_join_netns(const struct plan *p, struct ids *ids, struct herr *e);
/* The command's last step before execve: tell create it is ready, wait for `start`. */
int oci_await_start(const struct plan *p, struct herr *e);
/* The command's setup failed: tell create, which reports it (true), or not an OCI create. */
bool oci_command_failed(const struct plan *p, const struct herr *e);
/* OCI as root, real or in an engine's user namespace (plan.oci_host_ids): no keeper and no
 * subordinate ids; every id of the caller's namespace is mapped to itself, so as real root the
 * container's ids are the host's, as under runc. False: not this case. */
bool oci_host_ids(const struct plan *p, struct ids *ids);
/* ...and there process.user is become with setresuid before exec. */
void oci_host_user(struct plan *p);
/* Root with CAP_SETUID and CAP_SETGID: may write a child namespace's maps itself. */
bool oci_may_map_ids(void);
/* src/oci-hooks.c: the POSIX-platform hooks of config.json (runtime-spec config.md). */
enum oci_hook {
	OCI_HOOK_PRESTART,
	OCI_HOOK_CREATE_RUNTIME,
	OCI_HOOK_CREATE_CONTAINER,
	OCI_HOOK_START_CONTAINER,
	OCI_HOOK_POSTSTART,
	OCI_HOOK_POSTSTOP,
};
/* config.json's hooks (doc: the document), checked: known phases, absolute paths, string
 * arrays, timeouts of 1 to 86400 s; *hooks is NULL when there are none. */
struct jval;
int oci_hooks_check(const struct jval *doc, json_object **hooks, struct herr *e);
/* Kept in the state directory for start and delete (the bundle may change meanwhile). */
int oci_hooks_save(const char *dir, json_object *hooks, struct herr *e);
/* ...and read back, checked again; *hooks is NULL when there are none. */
int oci_hooks_saved(const char *dir, json_object **hooks, struct herr *e);
/* Run one phase's hooks in order, each with the state on its stdin; the first failure stops. */
int oci_hooks_run(json_object *hooks, enum oci_hook phase, const struct oci_state *s,
		  struct herr *e);
/* Free a plan that oci-config.c filled, argv included. */
void oci_plan_free(struct plan *p);

/* src/oci-linux.c: config.json's linux.* beyond the core, on the sandbox's side. */
/* Is sysctl KEY one the kernel keeps per namespace (net.* only with a network namespace)? */
bool oci_sysctl_allowed(const char *key, bool own_net);
/* Init, after the mounts: linux.sysctl (not net.* when net_outside: oci_sysctl_net did them). */
int oci_sysctl_apply(const struct plan *p, bool net_outside, struct herr *e);
/* The helper inside the keeper's or the engine's network namespace: the net.* keys. */
int oci_sysctl_net(const struct plan *p, const struct ids *ids, struct herr *e);
/* "ipc", "uts"...: the index in plan.oci_join, or -1. */
int oci_ns_index(const char *type);
/* The CLONE_NEW* flags of the namespaces the plan joins (the clone leaves them out). */
unsigned long long oci_joined_flags(const struct plan *p);
/* Monitor, before the clone: setns into each namespace given by path. */
int oci_join_namespaces(const struct plan *p, struct herr *e);
/* Monitor, after user_prepare: linux.uidMappings/gidMappings replace hutch's maps. */
int oci_user_maps(const struct plan *p, struct ids *ids, struct herr *e);
/* Monitor, once the container is built: enter its net, ipc and uts namespaces, which engines
 * find through the --pid-file's pid. */
void oci_monitor_follow(pid_t init);
