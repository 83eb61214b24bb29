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
	char *user;  /* the caller's user name */
	char *home;  /* $HOME inside the sandbox */
	bool subids; /* full subordinate ranges (newuidmap/newgidmap), else one id each */
	struct idmap uidmap, gidmap;
};

/* Decide the maps (from libsubid) before the sandbox is cloned. */
int user_prepare(const struct plan *p, struct ids *ids, struct herr *e);
/* Write the maps of the just-cloned child `pid`: newuidmap and newgidmap run at the same time. */
int user_write_maps(pid_t pid, const struct ids *ids, struct herr *e);
/* Explain a failed clone(CLONE_NEWUSER) and what to do about it. */
int user_explain_clone_failure(int err, struct herr *e);
void user_free(struct ids *ids);
