/*
 * The image store, content-addressed under $XDG_DATA_HOME/hutch (default ~/.local/share/hutch):
 *
 *   layers/HEX/    one unpacked layer per diff_id (the sha256 of its uncompressed tar), shared
 *                  by every image that has it and unpacked once
 *   images/NAME.json  one record per image: its layers and configuration
 *   tmp/           imports under way, one work directory each (import-XXXXXX, and beside it
 *                  import-XXXXXX.lock, flock(2)ed by that import while it lives); what it makes
 *                  is moved into place with rename(2), so a reader never sees half a layer or
 *                  half a record. A work directory whose lock nobody holds is a dead import's
 *                  (killed, or its machine reset): the next import removes it.
 *   lock           flock(2): runs and imports hold it shared, `image rm` exclusive (it is the
 *                  only one that deletes), so nothing is removed from under a run or an import
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "errors.h"

struct store {
	char *root;
	int lock;
	char *work;    /* this import's tmp/import-XXXXXX (store_begin_import), or NULL */
	int work_lock; /* held on work's .lock file while the import lives */
};

/* Open (creating) the store and take its lock: shared, or exclusive without waiting. */
int store_open(struct store *s, bool exclusive, struct herr *e);
/* Also removes the work directory, if any: a failed import leaves nothing. */
void store_close(struct store *s);
/* For an import: remove dead imports' work directories, then make this one's. */
int store_begin_import(struct store *s, struct herr *e);
/* A new empty directory in the work directory. */
char *store_tmpdir(struct store *s, const char *what, struct herr *e);
char *store_layer(const struct store *s, const char *hex);
char *store_record(const struct store *s, const char *name);
/* A record's bytes (path: from store_record): a regular file, at most IMPORT_JSON_MAX. */
int store_read_record(const char *path, char **buf, size_t *len, struct herr *e);
/* Move a finished layer into place; when another import got there first, keep theirs. */
int store_commit_layer(struct store *s, const char *tmpdir, const char *hex, struct herr *e);
/* Remove a tree that may hold read-only directories. */
void store_rm_rf(const char *path);
/* Remove every layer that no record names (after `image rm`). */
void store_gc(struct store *s);
