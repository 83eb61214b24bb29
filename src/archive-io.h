/* (Not archive.h: that name is libarchive's own header.) */
/* Tar archives (plain, gzip, zstd...) through libarchive: digests and safe unpacking. */
#pragma once
#include <stdbool.h>

#include "errors.h"
#include "user.h"

#define SHA256_HEX 65 /* 64 hex digits and the NUL */

/* sha256 of the file's bytes (a blob's digest). */
int archive_sha256_file(const char *path, char hex[SHA256_HEX], struct herr *e);
/* sha256 of the decompressed stream (a layer's diff_id), whatever the compression. */
int archive_sha256_stream(const char *path, char hex[SHA256_HEX], struct herr *e);

/*
 * Unpack the tar `path` into the empty directory `dir`. With `own`, each entry's uid and gid are
 * mapped to the host ids the sandbox will see them as (the caller must be able to chown to
 * them: inside the keeper's namespace); without, everything belongs to the caller. Hostile entries
 * are refused with an error naming them, before anything of theirs is written: absolute paths,
 * "..", device nodes, hard links outside the archive, relative symlinks that climb out of the root,
 * and writing through a symlink. With `layer`, OCI whiteouts become overlayfs whiteouts: ".wh.NAME"
 * a 0/0 character device NAME and
 * ".wh..wh..opq" the xattr user.overlay.opaque=y on its directory.
 */
struct owners {
	const struct idmap *uids, *gids; /* inside id -> host id; NULL: everything the caller's */
};
int archive_unpack(const char *path, const char *dir, bool layer, const struct owners *own,
		   struct herr *e);
