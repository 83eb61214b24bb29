#include "archive-io.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util.h"

#define BLOCK (64 * 1024)

static void hex_of(const unsigned char *md, char hex[SHA256_HEX])
{
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void free_ctx(EVP_MD_CTX **c)
{
	EVP_MD_CTX_free(*c);
}

static void free_reader(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}

int archive_sha256_file(const char *path, char hex[SHA256_HEX], struct herr *e)
{
	__attribute__((cleanup(free_ctx))) EVP_MD_CTX *c = EVP_MD_CTX_new();
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ unsigned char *buf = xmalloc(BLOCK);
	unsigned char md[32];
	ssize_t n;

	if (fd < 0)
		return herr_set(e, errno, "%s", path);
	if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL))
		return herr_set(e, 0, "cannot start a sha256 digest (OpenSSL)");
	while ((n = read(fd, buf, BLOCK)) > 0)
		EVP_DigestUpdate(c, buf, (size_t)n);
	if (n < 0)
		return herr_set(e, errno, "%s: read", path);
	EVP_DigestFinal_ex(c, md, NULL);
	hex_of(md, hex);
	return 0;
}

int archive_sha256_stream(const char *path, char hex[SHA256_HEX], struct herr *e)
{
	__attribute__((cleanup(free_ctx))) EVP_MD_CTX *c = EVP_MD_CTX_new();
	__attribute__((cleanup(free_reader))) struct archive *a = archive_read_new();
	struct archive_entry *entry;
	_cleanup_free_ unsigned char *buf = xmalloc(BLOCK);
	unsigned char md[32];
	la_ssize_t n;

	if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL))
		return herr_set(e, 0, "cannot start a sha256 digest (OpenSSL)");
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_filename(a, path, BLOCK) != ARCHIVE_OK ||
	    archive_read_next_header(a, &entry) != ARCHIVE_OK)
		return herr_set(e, 0, "%s: %s", path, archive_error_string(a));
	while ((n = archive_read_data(a, buf, BLOCK)) > 0)
		EVP_DigestUpdate(c, buf, (size_t)n);
	if (n < 0)
		return herr_set(e, 0, "%s: %s", path, archive_error_string(a));
	EVP_DigestFinal_ex(c, md, NULL);
	hex_of(md, hex);
	return 0;
}

/* A name without "./" prefixes; NULL when hostile (absolute, "..", too long). */
static const char *clean_name(const char *name, const char **why)
{
	const char *p;

	if (!name || strlen(name) >= PATH_MAX) {
		*why = "a missing or oversized name";
		return NULL;
	}
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	/* after the "./" prefixes: ".//etc/passwd" is as absolute as "/etc/passwd" */
	if (name[0] == '/') {
		*why = "an absolute path";
		return NULL;
	}
	for (p = name; *p;) {
		size_t len = strcspn(p, "/");
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			*why = "a path with '..'";
			return NULL;
		}
		p += len;
		p += *p == '/';
	}
	return name;
}

/* Does the relative symlink target, followed from the entry's directory, stay inside? The
 * directory's depth counts its real components only: "a//b/./l" is two deep, not four, or a
 * target of "../../../x" would pass (and "a/l/" is in "a"). */
static bool link_stays_inside(const char *name, const char *target)
{
	size_t n = strlen(name);
	const char *dir_end, *p, *end;
	long depth = 0;

	while (n && name[n - 1] == '/')
		n--;
	dir_end = memrchr(name, '/', n);

	for (p = name; dir_end && p < dir_end; p = end + 1) {
		end = p + strcspn(p, "/");
		if (end - p == 2 && p[0] == '.' && p[1] == '.')
			depth--;
		else if (end > p && !(end - p == 1 && p[0] == '.'))
			depth++;
	}
	for (p = target; *p;) {
		size_t len = strcspn(p, "/");
		if (len == 2 && p[0] == '.' && p[1] == '.')
			depth--;
		else if (len && !(len == 1 && p[0] == '.'))
			depth++;
		if (depth < 0)
			return false;
		p += len;
		p += *p == '/';
	}
	return true;
}

/* Why the entry is refused, or NULL. */
static const char *hostile(struct archive_entry *en, const char *name)
{
	mode_t type = archive_entry_filetype(en);
	const char *hl = archive_entry_hardlink(en), *sl = archive_entry_symlink(en), *why = NULL;

	if (type == AE_IFCHR || type == AE_IFBLK)
		return "a device node";
	if (hl && !clean_name(hl, &why))
		return "a hard link outside the archive";
	if (type == AE_IFLNK && sl && sl[0] != '/' && !link_stays_inside(name, sl))
		return "a symlink pointing outside the root";
	return NULL;
}

/* Would writing `name` go through a symlink (planted by an earlier entry)? Its parent is
 * resolved beneath the unpack directory (the cwd) without following any symlink. */
static bool through_symlink(const char *name)
{
	struct open_how how = {.flags = O_PATH | O_CLOEXEC,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
	_cleanup_free_ char *parent = xstrdup(name);
	char *slash = strrchr(parent, '/');
	long fd;

	if (!slash)
		return false;
	*slash = 0;
	fd = syscall(SYS_openat2, AT_FDCWD, parent, &how, sizeof(how));
	if (fd >= 0)
		close((int)fd);
	return fd < 0 && (errno == ELOOP || errno == EXDEV || errno == ENOTDIR);
}

/* ".wh.NAME" -> an overlayfs whiteout; ".wh..wh..opq" -> its directory is opaque. */
static int whiteout(const char *name, struct herr *e)
{
	_cleanup_free_ char *copy = xstrdup(name);
	char *slash = strrchr(copy, '/'), *base = slash ? slash + 1 : copy;
	const char *dir = slash ? (*slash = 0, copy) : ".";
	_cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_free_ char *procpath = NULL;

	if (dfd < 0)
		return herr_set(e, errno, "layer entry %s: its directory is missing or a symlink",
				name);
	if (strcmp(base, ".wh..wh..opq") == 0) {
		procpath = xasprintf("/proc/self/fd/%d", dfd);
		if (setxattr(procpath, "user.overlay.opaque", "y", 1, 0) < 0)
			return herr_set(e, errno,
					"layer entry %s: cannot mark the directory opaque", name);
		return 0;
	}
	/* an unprivileged mknod may make exactly this device: the kernel's whiteout */
	if (mknodat(dfd, base + 4, S_IFCHR | 0600, makedev(0, 0)) < 0 && errno != EEXIST)
		return herr_set(e, errno, "layer entry %s: cannot make a whiteout", name);
	return 0;
}

/* The host id that `id` inside maps to, or -1. */
static long map_id(const struct idmap *m, unsigned long id)
{
	for (size_t i = 0; i < m->n; i++)
		if (id >= m->ext[i].inside && id - m->ext[i].inside < m->ext[i].count)
			return (long)(m->ext[i].outside + (id - m->ext[i].inside));
	return -1;
}

static const char *map_owner(struct archive_entry *en, const struct owners *own)
{
	long u, g;

	if (!own)
		return NULL;
	u = map_id(own->uids, (unsigned long)archive_entry_uid(en));
	g = map_id(own->gids, (unsigned long)archive_entry_gid(en));
	if (u < 0 || g < 0)
		return "an owner beyond your subordinate id range";
	archive_entry_set_uid(en, u);
	archive_entry_set_gid(en, g);
	return NULL;
}

static void free_writer(struct archive **a)
{
	if (*a)
		archive_write_free(*a);
}

static int unpack_entries(struct archive *in, struct archive *out, bool layer,
			  const struct owners *own, struct herr *e)
{
	struct archive_entry *en;
	int r;

	while ((r = archive_read_next_header(in, &en)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *why = NULL, *raw = archive_entry_pathname(en);
		const char *name = clean_name(raw, &why), *base;

		if (name && !(why = hostile(en, name)) && !name[0])
			continue; /* "./" itself */
		if (!why && through_symlink(name))
			why = "a path through a symlink";
		if (!why)
			why = map_owner(en, own);
		if (why) {
			herr_set(e, 0, "refusing archive entry '%s': %s", raw ? raw : "", why);
			return herr_hint(e, "the archive may be hostile; nothing was kept");
		}
		base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
		if (layer && strncmp(base, ".wh.", 4) == 0) {
			if (whiteout(name, e) < 0)
				return -1;
			continue;
		}
		{
			_cleanup_free_ char *copy = xstrdup(name);
			archive_entry_set_pathname(en, copy);
		}
		raw = archive_entry_pathname(en);
		if (archive_entry_hardlink(en)) {
			_cleanup_free_ char *hl =
			    xstrdup(clean_name(archive_entry_hardlink(en), &why));
			archive_entry_set_hardlink(en, hl);
		}
		if (archive_write_header(out, en) != ARCHIVE_OK) {
			herr_set(e, 0, "archive entry '%s': %s", raw, archive_error_string(out));
			return herr_hint(e, "the archive may be hostile; nothing was kept");
		}
		if (archive_entry_size(en) > 0) {
			const void *buf;
			size_t size;
			la_int64_t off;

			while ((r = archive_read_data_block(in, &buf, &size, &off)) == ARCHIVE_OK)
				if (archive_write_data_block(out, buf, size, off) < ARCHIVE_OK)
					return herr_set(e, 0, "archive entry '%s': %s", raw,
							archive_error_string(out));
			if (r != ARCHIVE_EOF)
				return herr_set(e, 0, "archive entry '%s': %s", raw,
						archive_error_string(in));
		}
		archive_write_finish_entry(out);
		/* libarchive restores owners only when running as uid 0; in the keeper's namespace
		 * we are the caller with CAP_CHOWN, so chown here */
		if (own &&
		    fchownat(AT_FDCWD, archive_entry_pathname(en), (uid_t)archive_entry_uid(en),
			     (gid_t)archive_entry_gid(en), AT_SYMLINK_NOFOLLOW) < 0)
			return herr_set(e, errno, "archive entry '%s': cannot set its owner", raw);
	}
	if (r != ARCHIVE_EOF)
		return herr_set(e, 0, "corrupt archive: %s", archive_error_string(in));
	return 0;
}

int archive_unpack(const char *path, const char *dir, bool layer, const struct owners *own,
		   struct herr *e)
{
	__attribute__((cleanup(free_reader))) struct archive *in = archive_read_new();
	__attribute__((cleanup(free_writer))) struct archive *out = archive_write_disk_new();
	_cleanup_close_ int back = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int r;

	archive_read_support_filter_all(in);
	archive_read_support_format_tar(in);
	archive_read_support_format_gnutar(in);
	/* The SECURE flags are a second wall behind our own checks: libarchive also refuses to
	 * write through a symlink that an earlier entry planted. */
	archive_write_disk_set_options(
	    out, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
		     ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
		     ARCHIVE_EXTRACT_UNLINK);
	if (archive_read_open_filename(in, path, BLOCK) != ARCHIVE_OK)
		return herr_set(e, 0, "%s: %s", path, archive_error_string(in));
	if (back < 0 || chdir(dir) < 0)
		return herr_set(e, errno, "cannot enter %s", dir);
	r = unpack_entries(in, out, layer, own, e);
	if (r == 0 && archive_write_close(out) != ARCHIVE_OK)
		r = herr_set(e, 0, "%s: %s", path, archive_error_string(out));
	if (fchdir(back) < 0 && r == 0)
		r = herr_set(e, errno, "fchdir");
	return r;
}
