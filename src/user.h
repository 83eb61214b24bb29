/* The user namespace: who the caller is, which ids the sandbox gets, and writing the id maps. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

#include "errors.h"
#include "plan.h"

/* The kernel accepts at most 340 lines in uid_map/gid_map. */
#define IDMAP_MAX 340

struct idmap_extent {
	unsigned long inside, outside, count;
};

struct idmap {
	struct idmap_extent ext[IDMAP_MAX];
	size_t n;
};

struct ids {
	uid_t outside_uid; /* the caller */
	gid_t outside_gid;
	uid_t uid; /* what the caller's ids are inside */
	gid_t gid;
	char *user; /* the caller's user name */
	char *home; /* $HOME inside the sandbox */
	/* true: the full subordinate range, through the keeper's namespace (keeper.h), which the
	 * monitor has joined; false: only the caller's own ids */
	bool subids;
	char *newuidmap, *newgidmap; /* their paths, when a keeper must be made */
	int keeper_netns;	     /* a fresh network namespace from the keeper, or -1 */
	int keeper_ipcns;	     /* a fresh IPC namespace from the keeper, or -1 */
	int keeper_conn;	     /* the keeper's connection until the sandbox is built, or -1 */
	struct idmap uidmap, gidmap; /* the sandbox's maps, in the monitor's namespace's ids */
};

/* Decide the maps before the sandbox is cloned; with subordinate ids, join (or start) the keeper,
 * so the clone that follows nests the sandbox's user namespace in the keeper's. */
int user_prepare(const struct plan *p, struct ids *ids, struct herr *e);
/* --dry-run: the ids and maps the sandbox would get, in host ids, changing nothing. */
int user_preview(const struct plan *p, struct ids *ids);
/* Write the maps of the just-cloned child `pid`. */
int user_write_maps(pid_t pid, const struct ids *ids, struct herr *e);
/* Run newuidmap and newgidmap, side by side, to give `pid` the maps in ids. */
int user_run_helpers(pid_t pid, const struct ids *ids, struct herr *e);
/* Explain a failed clone(CLONE_NEWUSER) and what to do about it. */
int user_explain_clone_failure(int err, struct herr *e);
void user_free(struct ids *ids);
/* In the command, before it drops its capabilities: the supplementary groups the plan asks for
 * (OCI process.user.additionalGids); without any, the caller's own stay. */
int user_set_groups(const struct plan *p, struct herr *e);
/* The sandbox has ended: the keeper may make the next network namespace (keeper_connect). */
void user_release_keeper(struct ids *ids);
