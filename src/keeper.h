/*
 * The id keeper: one long-lived process per user that holds a user namespace with the user's
 * full subordinate mapping (the idea of rootless podman's pause process).
 *
 * Why: newuidmap and newgidmap are setuid programs with a slow start (about 2 ms each here),
 * and libsubid drags in PAM, SELinux and audit libraries (about 1 ms to load). Paying that on
 * every `hutch run` would cost most of the startup budget. With a keeper, each sandbox's user
 * namespace is made as a child of the keeper's, and the monitor, which has every capability in
 * the keeper's namespace, writes the child's maps itself.
 *
 * Security: joining the keeper's namespace needs CAP_SYS_ADMIN over it, which only processes of
 * the same user (its owner) have: the same people who may run newuidmap on these ranges. The
 * keeper hands out its namespace over an abstract unix socket only to peers with its own uid
 * (SO_PEERCRED), and a client checks the keeper's uid the same way, so another user squatting
 * the name gains nothing (hutch then builds its own keeper namespace for that run). Sandboxed
 * processes live in a child namespace with no capability in the keeper's and cannot join it.
 *
 * The keeper also keeps two fresh network namespaces ready (loopback up, never used), made
 * between sandboxes (keeper.c): creating one costs about a millisecond and a half, the largest
 * single step of a sandbox's start. Each is handed out once. It belongs to the keeper's user namespace, so the
 * sandbox cannot reconfigure it (no route, address or interface changes, even as --uid 0);
 * sandboxes that keep a network capability get a network namespace of their own instead.
 * The keeper holds no other resource, and exits after KEEPER_IDLE_S without a client.
 */
#pragma once
#include <sys/types.h>

#include "errors.h"
#include "user.h"

#define KEEPER_IDLE_S 60
/* maps gets the keeper's uid_map and gid_map, "UID_MAP\0GID_MAP", or "" (read them yourself) */
#define KEEPER_MAPS_SIZE 1024

/* An fd of the running keeper's user namespace, or -1 when there is none; spare[] gets a fresh
 * network namespace's fd and a fresh IPC namespace's fd, or -1s. *conn is the connection: close it when the sandbox has ended,
 * which tells the keeper to make the next network namespace (not while this start needs the
 * CPUs; the keeper stops waiting after KEEPER_CLIENT_WAIT_MS, see keeper.c). */
int keeper_connect(uid_t uid, int spare[2], int *conn, char maps[KEEPER_MAPS_SIZE]);
/* Start a keeper whose namespace has the maps in ids->uidmap/gidmap (host ids); returns an fd
 * of its user namespace. */
int keeper_spawn(const struct ids *ids, struct herr *e);
