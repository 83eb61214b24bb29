/* (Not archive.h: that name is libarchive's own header.) */
/* Tar archives (plain, gzip, zstd...) through libarchive: digests and safe unpacking. */
#pragma once
#include <stdbool.h>

#include "errors.h"

#define SHA256_HEX 65 /* 64 hex digits and the NUL */

/* sha256 of the file's bytes (a blob's digest). */
int archive_sha256_file(const char *path, char hex[SHA256_HEX], struct herr *e);
/* sha256 of the decompressed stream (a layer's diff_id), whatever the compression. */
int archive_sha256_stream(const char *path, char hex[SHA256_HEX], struct herr *e);

/*
 * Unpack the tar `path` into the empty directory `dir`, as the caller (ownership in the archive
 * is not applied). Hostile entries are refused with an error naming them, before anything of
 * theirs is written: absolute paths, "..", device nodes, hard links outside the archive,
 * relative symlinks that climb out of the root, and writing through a symlink. With `layer`,
 * OCI whiteouts become overlayfs whiteouts: ".wh.NAME" a 0/0 character device NAME and
 * ".wh..wh..opq" the xattr user.overlay.opaque=y on its directory.
 */
int archive_unpack(const char *path, const char *dir, bool layer, struct herr *e);
