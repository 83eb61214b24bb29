/* Images: `hutch image import|ls|rm|inspect`, and `hutch run --image NAME`. */
#pragma once
#include "errors.h"
#include "plan.h"

/* hutch image VERB ARGS... (argv starts at the verb); returns the exit status. */
int image_main(int argc, char **argv);
/* image-import.c: import SOURCE as NAME (NULL: the name the archive gives, or its file name). */
int image_import(const char *source, const char *name, struct herr *e);
/* --image NAME: fill the plan's layers, command, environment, working directory and ids from
 * the image's record. Holds the store's lock (shared) until the process exits, so `image rm`
 * cannot remove layers from under the sandbox. */
int image_apply(struct plan *p, int argc, char **argv, struct herr *e);
