/* Images: `hutch image import|ls|rm|inspect`, and `hutch run --image NAME`. */
#pragma once
#include "archive-io.h"
#include "errors.h"
#include "plan.h"

/* hutch image VERB ARGS... (argv starts at the verb); returns the exit status. */
int image_main(int argc, char **argv);
/* image-import.c: import SOURCE as NAME (NULL: the name the archive gives, or its file name),
 * writing at most `max` bytes into the store (0: IMPORT_MAX_DEFAULT, archive-io.h). */
int image_import(const char *source, const char *name, unsigned long long max, struct herr *e);
/* After parsing: --persist needs an overlay root; --image NAME fills the plan's layers,
 * command, environment, working directory and ids from the image's record. Holds the store's
 * lock (shared) until the process exits, so `image rm` cannot remove layers from under the
 * sandbox. */
int image_apply(struct plan *p, int argc, char **argv, struct herr *e);
/* In the command, just before capabilities are dropped: become the image's User. */
int image_become_user(const struct plan *p, struct herr *e);
/* Join the keeper's namespace (when there is a subordinate range) and give the map that image
 * files are owned through: the caller is root, the range the other ids. */
int image_owners(struct ids *ids, struct owners *own, struct herr *e);
