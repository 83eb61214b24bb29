/* Paths inside the sandbox's new root, resolved so that nothing (no symlink, no "..") can lead
 * out of it: a hostile symlink in a bound directory cannot aim a mount at the host. */
#pragma once
#include <stdbool.h>

enum path_kind { PATH_DIR, PATH_FILE };

/* Has path a "." or ".." component ("/a/../b", "/a/..", "./x")? Joined to a directory (a cgroup
 * hierarchy's mount), such a path names a place other than the one it seems to; the check is
 * lexical and touches nothing. */
bool path_has_dot_component(const char *path);

/* openat2(rootfd, path, RESOLVE_IN_ROOT): an fd, or -errno. */
int path_open(int rootfd, const char *path, int flags);
/* Like path_open(O_PATH), creating missing parents as directories and the last component as
 * `kind`. Returns an O_PATH fd, or -errno. */
int path_make(int rootfd, const char *path, enum path_kind kind);
