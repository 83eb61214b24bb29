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

#include "options.h"
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

static void free_buf(char **b)
{
	free(*b);
}

static const char *kind_of(mode_t m)
{
	return S_ISFIFO(m)   ? "a FIFO"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISBLK(m)  ? "a block device"
	       : S_ISSOCK(m) ? "a socket"
	       : S_ISDIR(m)  ? "a directory"
	       : S_ISLNK(m)  ? "a symlink"
			     : "not a regular file";
}

int archive_open_source(const char *path, bool *is_dir, struct herr *e)
{
	/* O_NONBLOCK: opening a FIFO for reading would wait for a writer forever */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return herr_set(e, errno, "image import %s", path);
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		herr_set(e, 0, "image import %s: %s, not an image", path, kind_of(st.st_mode));
		return herr_hint(e, "give an archive file (docker save, podman save, a tarball) "
				    "or an OCI layout directory");
	}
	*is_dir = S_ISDIR(st.st_mode);
	return take_fd(&fd);
}

int archive_open_in(int dirfd, const char *rel, const char *label, struct herr *e)
{
	/* RESOLVE_BENEATH: no "..", absolute path or symlink leads out of the image;
	 * O_NONBLOCK: a FIFO planted as a blob cannot hang the open */
	struct open_how how = {.flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
	_cleanup_close_ int fd = -1;
	struct stat st;
	long r = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));

	if (r < 0 && (errno == EXDEV || errno == ELOOP))
		return herr_set(e, 0, "%s: %s: leads out of the image", label, rel);
	if (r < 0)
		return herr_set(e, errno, "%s: %s", label, rel);
	fd = (int)r;
	if (fstat(fd, &st) < 0)
		return herr_set(e, errno, "%s: %s", label, rel);
	if (!S_ISREG(st.st_mode))
		return herr_set(e, 0, "%s: %s: %s, not a regular file; the image may be hostile",
				label, rel, kind_of(st.st_mode));
	return take_fd(&fd);
}

int archive_over_budget(const char *label, const struct budget *b, struct herr *e)
{
	char max[32], def[32];

	format_size(b->max, max);
	format_size(IMPORT_MAX_DEFAULT, def);
	herr_set(e, 0, "%s: unpacks to more than %s, the limit of an import", label, max);
	return herr_hint(e,
			 "if you trust it, raise the limit: hutch image import "
			 "--max-image-size SIZE (default %s)",
			 def);
}

int archive_read_small(int fd, unsigned long long max, const char *label, char **out, size_t *len,
		       struct herr *e)
{
	__attribute__((cleanup(free_buf))) char *buf = NULL;
	size_t n = 0, cap = 0;
	ssize_t got;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return herr_set(e, errno, "%s", label);
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = xreallocarray(buf, cap + 1, 1);
		}
		got = read(fd, buf + n, cap - n);
		if (got > 0)
			n += (size_t)got;
		if (n > max) {
			char m[32];

			format_size(max, m);
			return herr_set(
			    e, 0,
			    "%s: over %s, too large for an image's JSON file (the limit "
			    "is 16M, or --max-image-size if smaller)",
			    label, m);
		}
	} while (got > 0);
	if (got < 0)
		return herr_set(e, errno, "%s: read", label);
	buf[n] = 0;
	*len = n;
	*out = buf;
	buf = NULL;
	return 0;
}

int archive_sha256_fd(int fd, const char *label, char hex[SHA256_HEX], struct herr *e)
{
	__attribute__((cleanup(free_ctx))) EVP_MD_CTX *c = EVP_MD_CTX_new();
	_cleanup_free_ unsigned char *buf = xmalloc(BLOCK);
	unsigned char md[32];
	ssize_t n;

	if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL))
		return herr_set(e, 0, "cannot start a sha256 digest (OpenSSL)");
	if (lseek(fd, 0, SEEK_SET) < 0)
		return herr_set(e, errno, "%s", label);
	while ((n = read(fd, buf, BLOCK)) > 0)
		EVP_DigestUpdate(c, buf, (size_t)n);
	if (n < 0)
		return herr_set(e, errno, "%s: read", label);
	EVP_DigestFinal_ex(c, md, NULL);
	hex_of(md, hex);
	return 0;
}

int archive_sha256_stream(int fd, const char *label, const struct budget *b, char hex[SHA256_HEX],
			  struct herr *e)
{
	__attribute__((cleanup(free_ctx))) EVP_MD_CTX *c = EVP_MD_CTX_new();
	__attribute__((cleanup(free_reader))) struct archive *a = archive_read_new();
	struct archive_entry *entry;
	_cleanup_free_ unsigned char *buf = xmalloc(BLOCK);
	unsigned char md[32];
	unsigned long long total = 0;
	la_ssize_t n;

	if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL))
		return herr_set(e, 0, "cannot start a sha256 digest (OpenSSL)");
	if (lseek(fd, 0, SEEK_SET) < 0)
		return herr_set(e, errno, "%s", label);
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_fd(a, fd, BLOCK) != ARCHIVE_OK ||
	    archive_read_next_header(a, &entry) != ARCHIVE_OK)
		return herr_set(e, 0, "%s: %s", label, archive_error_string(a));
	while ((n = archive_read_data(a, buf, BLOCK)) > 0) {
		total += (unsigned long long)n;
		if (total > b->max)
			return archive_over_budget(label, b, e);
		EVP_DigestUpdate(c, buf, (size_t)n);
	}
	if (n < 0)
		return herr_set(e, 0, "%s: %s", label, archive_error_string(a));
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

const char *archive_entry_refusal(const char *name, unsigned type, const char *hardlink,
				  const char *symlink, const char **clean)
{
	const char *why = NULL;

	*clean = clean_name(name, &why);
	if (!*clean)
		return why;
	if (type == AE_IFCHR || type == AE_IFBLK)
		return "a device node";
	if (hardlink && !clean_name(hardlink, &why))
		return "a hard link outside the archive";
	if (type == AE_IFLNK && symlink && symlink[0] != '/' && !link_stays_inside(*clean, symlink))
		return "a symlink pointing outside the root";
	return NULL;
}

static const char *hostile(struct archive_entry *en, const char **clean)
{
	return archive_entry_refusal(archive_entry_pathname(en), archive_entry_filetype(en),
				     archive_entry_hardlink(en), archive_entry_symlink(en), clean);
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

static int refuse(const char *raw, const char *why, struct herr *e)
{
	herr_set(e, 0, "refusing archive entry '%s': %s", raw ? raw : "", why);
	return herr_hint(e, "the archive may be hostile; nothing was kept");
}

/* Charge one entry to the budget before anything of it is written. */
static int charge(struct archive_entry *en, const char *label, struct budget *b, struct herr *e)
{
	la_int64_t size = archive_entry_size(en);

	b->used += 512 + (size > 0 ? (unsigned long long)size : 0);
	return b->used > b->max ? archive_over_budget(label, b, e) : 0;
}

static int copy_data(struct archive *in, struct archive *out, const char *raw, struct herr *e)
{
	const void *buf;
	size_t size;
	la_int64_t off;
	int r;

	while ((r = archive_read_data_block(in, &buf, &size, &off)) == ARCHIVE_OK)
		if (archive_write_data_block(out, buf, size, off) < ARCHIVE_OK)
			return herr_set(e, 0, "archive entry '%s': %s", raw,
					archive_error_string(out));
	if (r != ARCHIVE_EOF)
		return herr_set(e, 0, "archive entry '%s': %s", raw, archive_error_string(in));
	return 0;
}

/* Write one checked entry (its name cleaned) and set its owner. */
static int write_entry(struct archive *in, struct archive *out, struct archive_entry *en,
		       const char *name, const struct owners *own, struct herr *e)
{
	const char *raw, *why;

	{
		_cleanup_free_ char *copy = xstrdup(name);
		archive_entry_set_pathname(en, copy);
	}
	raw = archive_entry_pathname(en);
	if (archive_entry_hardlink(en)) {
		_cleanup_free_ char *hl = xstrdup(clean_name(archive_entry_hardlink(en), &why));
		archive_entry_set_hardlink(en, hl);
	}
	if (archive_write_header(out, en) != ARCHIVE_OK) {
		herr_set(e, 0, "archive entry '%s': %s", raw, archive_error_string(out));
		return herr_hint(e, "the archive may be hostile; nothing was kept");
	}
	if (archive_entry_size(en) > 0 && copy_data(in, out, raw, e) < 0)
		return -1;
	archive_write_finish_entry(out);
	/* libarchive restores owners only when running as uid 0; in the keeper's namespace
	 * we are the caller with CAP_CHOWN, so chown here */
	if (own && fchownat(AT_FDCWD, raw, (uid_t)archive_entry_uid(en),
			    (gid_t)archive_entry_gid(en), AT_SYMLINK_NOFOLLOW) < 0)
		return herr_set(e, errno, "archive entry '%s': cannot set its owner", raw);
	return 0;
}

static int unpack_entries(struct archive *in, struct archive *out, bool layer,
			  const struct owners *own, const char *label, struct budget *b,
			  struct herr *e)
{
	struct archive_entry *en;
	int r;

	while ((r = archive_read_next_header(in, &en)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *raw = archive_entry_pathname(en), *name, *base;
		const char *why = hostile(en, &name);

		if (!why && !name[0])
			continue; /* "./" itself */
		if (!why && through_symlink(name))
			why = "a path through a symlink";
		if (!why)
			why = map_owner(en, own);
		if (why)
			return refuse(raw, why, e);
		if (charge(en, label, b, e) < 0)
			return -1;
		base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
		if (layer && strncmp(base, ".wh.", 4) == 0) {
			if (whiteout(name, e) < 0)
				return -1;
			continue;
		}
		if (write_entry(in, out, en, name, own, e) < 0)
			return -1;
	}
	if (r != ARCHIVE_EOF)
		return herr_set(e, 0, "%s: corrupt archive: %s", label, archive_error_string(in));
	return 0;
}

static struct archive *tar_reader(void)
{
	struct archive *in = archive_read_new();

	archive_read_support_filter_all(in);
	archive_read_support_format_tar(in);
	archive_read_support_format_gnutar(in);
	return in;
}

int archive_unpack(int fd, const char *label, const char *dir, bool layer, const struct owners *own,
		   struct budget *b, struct herr *e)
{
	__attribute__((cleanup(free_reader))) struct archive *in = tar_reader();
	__attribute__((cleanup(free_writer))) struct archive *out = archive_write_disk_new();
	_cleanup_close_ int back = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int r;

	/* The SECURE flags are a second wall behind our own checks: libarchive also refuses to
	 * write through a symlink that an earlier entry planted. */
	archive_write_disk_set_options(
	    out, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
		     ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
		     ARCHIVE_EXTRACT_UNLINK);
	if (lseek(fd, 0, SEEK_SET) < 0)
		return herr_set(e, errno, "%s", label);
	if (archive_read_open_fd(in, fd, BLOCK) != ARCHIVE_OK)
		return herr_set(e, 0, "%s: %s", label, archive_error_string(in));
	if (back < 0 || chdir(dir) < 0)
		return herr_set(e, errno, "cannot enter %s", dir);
	r = unpack_entries(in, out, layer, own, label, b, e);
	if (r == 0 && archive_write_close(out) != ARCHIVE_OK)
		r = herr_set(e, 0, "%s: %s", label, archive_error_string(out));
	if (fchdir(back) < 0 && r == 0)
		r = herr_set(e, errno, "fchdir");
	return r;
}

int archive_check_memory(const void *buf, size_t len, struct herr *e)
{
	__attribute__((cleanup(free_reader))) struct archive *in = tar_reader();
	struct archive_entry *en;
	const char *name, *why;
	int r;

	if (archive_read_open_memory(in, buf, len) != ARCHIVE_OK)
		return herr_set(e, 0, "not an archive: %s", archive_error_string(in));
	while ((r = archive_read_next_header(in, &en)) == ARCHIVE_OK || r == ARCHIVE_WARN)
		if ((why = hostile(en, &name)))
			return refuse(archive_entry_pathname(en), why, e);
	if (r != ARCHIVE_EOF)
		return herr_set(e, 0, "corrupt archive: %s", archive_error_string(in));
	return 0;
}
