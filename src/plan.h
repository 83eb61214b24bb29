/* The plan: everything a front end (command line, later policy files and OCI config.json) decides
 * about one sandbox. Front ends fill it; the code that builds the sandbox only reads it and never
 * parses strings. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

enum mount_kind {
	MOUNT_BIND,	/* --bind SRC[:DST] */
	MOUNT_RO_BIND,	/* --ro-bind SRC[:DST] */
	MOUNT_TMPFS,	/* --tmpfs DST[:SIZE] */
	MOUNT_DEV_BIND, /* --dev-bind SRC[:DST]: device nodes stay usable (no nodev) */
};

struct mount_req {
	enum mount_kind kind;
	char *src;     /* host path (binds only) */
	char *dst;     /* absolute path inside the sandbox */
	uint64_t size; /* tmpfs size in bytes, 0 = hutch's default (limits.h, bounds.tmpfs) */
	bool create;   /* --bind-create: make SRC (a directory) on the host when missing */
	bool optional; /* the -try variants: a missing SRC is skipped */
};

/* -p/--publish [ADDR:]HOSTPORT:PORT[/tcp|/udp] */
struct publish_req {
	struct sockaddr_storage host; /* address and port to listen on, outside */
	uint16_t port;		      /* the port inside */
	bool udp;
};

/* --allow-net CIDR[:PORT] or HOSTNAME[:PORT]; port 0: any port */
struct allow_rule {
	char *host; /* a hostname rule (lowercase, no trailing dot), or NULL for a CIDR */
	int family; /* AF_INET or AF_INET6 (CIDR rules) */
	uint8_t addr[16];
	uint8_t prefix;
	uint16_t port;
};

struct env_req {
	char *name;
	char *value; /* NULL: unset the variable */
};

/* --rlimit NAME=SOFT[:HARD] */
struct rlimit_req {
	int resource;	     /* RLIMIT_* */
	uint64_t soft, hard; /* RLIM_INFINITY for unlimited */
};

#define CPU_PERIOD_US 100000
/* --memory max, --pids max: no limit at all (0 in those fields: hutch's default, limits.h) */
#define LIMIT_MAX UINT64_MAX

/* OCI runtime mode (issue 8): the namespaces config.json may join by path, besides the network's */
enum oci_ns { OCI_NS_USER, OCI_NS_IPC, OCI_NS_UTS, OCI_NS_CGROUP, OCI_NS_PID, OCI_NS_COUNT };
/* ...and one extent of linux.uidMappings/gidMappings: containerID, hostID, size */
struct idmap_extent_req {
	unsigned long inside, outside, count;
};

struct plan {
	char **argv; /* the command and its arguments, NULL-terminated */
	/* The launcher's own command line: main's argv strings, one contiguous area of its
	 * memory, which the init overwrites in its copy (init_hide_launcher). */
	char *launcher_args;
	size_t launcher_args_len;

	bool has_uid, has_gid;
	uid_t uid; /* the id inside that the caller's own uid maps to */
	gid_t gid;

	bool share_net;
	char *hostname;

	struct mount_req *mounts;
	size_t n_mounts;

	char *chdir;

	bool keep_env;
	struct env_req *env; /* applied in order after the base environment */
	size_t n_env;

	int *pass_fds;
	size_t n_pass_fds;

	uint64_t caps_keep; /* bit N set: keep capability N inside the user namespace */

	int verbose;

	/* ---- seccomp and Landlock (issue 3) ---- */
	struct sc_filters *seccomp; /* --seccomp: compiled filters (seccomp.h); NULL: the default */
	bool seccomp_none;	    /* --seccomp none: no filter at all */
	char *seccomp_arg; /* --seccomp's argument: a JSON profile is compiled again once every
			      option is read, for the capabilities of --cap-add (options.c) */

	/* ---- networking (issue 4) ---- */
	/* --net: share_net (above) is --net host; slirp is --net slirp; neither is --net none */
	bool slirp;
	bool allow_host_loopback;
	struct sockaddr_storage dns; /* --dns upstream; ss_family 0: the host's resolvers */
	struct publish_req *publish;
	size_t n_publish;
	struct allow_rule *allow;
	size_t n_allow;

	/* ---- cgroups, limits, timeout, report (issue 5) ---- */
	uint64_t memory;       /* bytes; 0: the default (limits.h); LIMIT_MAX: none */
	uint64_t memory_swap;  /* memory + swap, bytes; 0: no limit */
	uint64_t pids;	       /* 0: the default (limits.h); LIMIT_MAX: none */
	uint64_t cpu_quota_us; /* per CPU_PERIOD_US; 0: no limit */
	uint64_t cpu_weight;   /* 1..10000 (cgroup v2's scale); 0: unset */
	uint64_t io_weight;    /* 1..10000; 0: unset */
	uint64_t timeout_ms;   /* wall clock; 0: none */
	struct rlimit_req *rlimits;
	size_t n_rlimits;
	char *report;	     /* --report FILE, "-" for stderr; NULL: none */
	char *cgroup_parent; /* --cgroup-parent: a cgroup path in every hierarchy */

	/* ---- images and overlays (issue 7) ---- */
	/* read-only root layers, top-most first (--rootfs, --image); none: the default tmpfs
	 * root with the host's /usr and /etc */
	char **layers;
	size_t n_layers;
	bool has_rootfs; /* --rootfs given (a layer that the image does not replace) */
	char *persist;	 /* --persist DIR: keep the root's writable layer here */
	char **overlays; /* --overlay PATH: host directories with a throw-away writable layer */
	size_t n_overlays;
	enum overlay_driver {
		OVERLAY_AUTO,	/* kernel overlayfs, fuse-overlayfs when the kernel refuses */
		OVERLAY_KERNEL, /* --overlay-driver kernel */
		OVERLAY_FUSE,	/* --overlay-driver fuse */
	} overlay_driver;
	char *image;	 /* --image NAME; image_apply() turns it into layers, argv, env, ids */
	bool image_user; /* become image_uid/gid inside before exec (the image's User) */
	uid_t image_uid;
	gid_t image_gid;
	char **image_argv; /* the command built from the image's Entrypoint and Cmd (owned) */
	size_t n_image_argv;
	unsigned long long max_image_size; /* image import --max-image-size; 0: the default */

	/* ---- policies (issue 6) ---- */
	bool dry_run;	  /* print the plan, run nothing */
	char *app;	  /* $APP in policies: the command's basename; NULL when there is none */
	bool display;	  /* --display: the Wayland or X11 socket (desktop_apply() resolves it) */
	bool audio;	  /* --audio: the PipeWire and PulseAudio sockets, those that exist */
	char **dbus_talk; /* --dbus-talk NAME: the names the proxy lets the sandbox talk to */
	size_t n_dbus_talk;
	char *dbus_upstream; /* set by desktop_apply(): the session bus the proxy serves */
	char *dbus_dir;	     /* ...and the host directory of its socket; NULL: no proxy */

	/* ---- OCI runtime mode (issue 8) ---- */
	/* `create`: the command blocks reading oci_start_fd (a FIFO) until `start` writes to it;
	 * the monitor writes the init's pid to oci_created_fd once the sandbox is built. 0: none
	 * (these are never stdin). */
	int oci_start_fd;
	int oci_created_fd;
	char *oci_netns;	  /* linux.namespaces network path: join it (engines made it) */
	bool oci_terminal;	  /* process.terminal: a pty for the command, always */
	char *oci_console_socket; /* --console-socket: the pty master goes there, not relayed */
	bool oci_host_ids;	  /* run by root: host ids one to one, no keeper (oci_host_ids()) */
	gid_t *oci_groups; /* process.user.additionalGids: the command's supplementary groups */
	size_t n_oci_groups;
	/* config.json's linux.* that the engine sends beyond the core (src/oci-linux.c) */
	bool oci_sysfs;	   /* a sysfs mount at /sys: new, or the host's read-only */
	char **oci_masked; /* linux.maskedPaths: /dev/null or an empty tmpfs over each */
	size_t n_oci_masked;
	char **oci_readonly; /* linux.readonlyPaths: a recursive read-only bind over itself */
	size_t n_oci_readonly;
	char **oci_sysctl; /* linux.sysctl: "key=value", keys checked to be namespaced */
	size_t n_oci_sysctl;
	/* linux.namespaces paths to join (network is oci_netns) */
	char *oci_join[OCI_NS_COUNT];
	char *oci_cgroup; /* linux.cgroupsPath: the cgroup, relative to the parent */
	struct idmap_extent_req *oci_uidmap, *oci_gidmap; /* linux.uid/gidMappings (host ids) */
	size_t n_oci_uidmap, n_oci_gidmap;
};

void plan_init(struct plan *p);
/* Record main's argv area (from argv[0] to the end of its last string) as launcher_args. */
void plan_set_launcher(struct plan *p, int argc, char **argv);
void plan_free(struct plan *p);
void plan_add_mount(struct plan *p, enum mount_kind kind, const char *src, const char *dst,
		    uint64_t size);
void plan_add_env(struct plan *p, const char *name, const char *value);
void plan_add_pass_fd(struct plan *p, int fd);
/* Does the plan need a cgroup of the sandbox's own (a limit, a timeout or a report)? */
bool plan_wants_cgroup(const struct plan *p);
/* Does it ask for a limit that only a cgroup can enforce (given explicitly, not a default)? */
bool plan_has_cgroup_limit(const struct plan *p);
/* Was --memory / --pids given as a number (not left to the default, not max)? */
bool plan_memory_given(const struct plan *p);
bool plan_pids_given(const struct plan *p);
/* String vectors (layers, overlays): append a copy; free n entries and the vector. */
void plan_add_str(char ***v, size_t *n, const char *s);
void plan_free_strv(char **v, size_t n);
