/* (Not archive.h: that name is libarchive's own header.) */
/* Tar archives (plain, gzip, zstd...) through libarchive: digests and safe unpacking. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "errors.h"
#include "user.h"

#define SHA256_HEX 65 /* 64 hex digits and the NUL */

/*
 * What one import may write into the store (hutch image import --max-image-size): 8 GiB by
 * default, above what common distribution and language images unpack to, and small enough
 * that a compression bomb (2 MiB of gzip is 2 GiB of zeros) cannot fill the disk of a home
 * directory unnoticed. A JSON file (manifest, index, configuration) is read into memory whole:
 * it may have 16 MiB at most, or the limit if that is smaller.
 */
#define IMPORT_MAX_DEFAULT (8ULL << 30)
#define IMPORT_JSON_MAX (16ULL << 20)

/* The bytes an import may still write: each file unpacked counts its size, and every entry
 * 512 bytes more (its tar header: so a million empty files count too). */
struct budget {
	unsigned long long max, used;
};

/* The file or directory the user named (a symlink to one is followed: the user chose it):
 * anything else (a FIFO, /dev/zero, a socket) is refused at once, without blocking in open. */
int archive_open_source(const char *path, bool *is_dir, struct herr *e);
/* `rel`, named by an image's own metadata, opened for reading beneath the directory dirfd:
 * resolved without leaving it (a symlink within it is followed: docker save links a layer it
 * saves twice to the first copy), and only a regular file. `label` names the source. */
int archive_open_in(int dirfd, const char *rel, const char *label, struct herr *e);
/* The whole file fd (at most `max` bytes, else an error naming `label` and the limit). */
int archive_read_small(int fd, unsigned long long max, const char *label, char **buf, size_t *len,
		       struct herr *e);

/* sha256 of the file's bytes (a blob's digest), from its start. */
int archive_sha256_fd(int fd, const char *label, char hex[SHA256_HEX], struct herr *e);
/* sha256 of the decompressed stream (a layer's diff_id), whatever the compression; a stream
 * longer than the budget's max is refused (a compression bomb never finishes otherwise). */
int archive_sha256_stream(int fd, const char *label, const struct budget *b, char hex[SHA256_HEX],
			  struct herr *e);

/* An error for a budget spent: names the limit and how to raise it. Returns -1. */
int archive_over_budget(const char *label, const struct budget *b, struct herr *e);

/*
 * Unpack the tar in fd (from its start) into the empty directory `dir`. With `own`, each
 * entry's uid and gid are mapped to the host ids the sandbox will see them as (the caller must
 * be able to chown to them: inside the keeper's namespace); without, everything belongs to the
 * caller. Hostile entries are refused with an error naming them, before anything of theirs is
 * written: absolute paths, "..", device nodes, hard links outside the archive, relative
 * symlinks that climb out of the root, and writing through a symlink. With `layer`, OCI
 * whiteouts become overlayfs whiteouts: ".wh.NAME" a 0/0 character device NAME and
 * ".wh..wh..opq" the xattr user.overlay.opaque=y on its directory. What is written is charged
 * to the budget b, and the unpacking stops with an error when it is spent.
 */
struct owners {
	const struct idmap *uids, *gids; /* inside id -> host id; NULL: everything the caller's */
};
int archive_unpack(int fd, const char *label, const char *dir, bool layer, const struct owners *own,
		   struct budget *b, struct herr *e);

/*
 * The checks on one tar entry, pure (no file system, no libarchive): why an entry named `name`
 * of type `type` (S_IFREG, S_IFLNK, S_IFCHR...), with hard link or symlink target `hardlink`
 * and `symlink` (NULL: none), is refused, or NULL; *clean gets the name without its "./"
 * prefixes. For fuzzing: archive_check_memory() runs them over every entry of a tar held in
 * memory (all but "writing through a symlink", which needs the unpacked tree), writing nothing.
 */
const char *archive_entry_refusal(const char *name, unsigned type, const char *hardlink,
				  const char *symlink, const char **clean);
int archive_check_memory(const void *buf, size_t len, struct herr *e);
