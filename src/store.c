#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive-io.h"
#include "image-meta.h"
#include "util.h"

static char *data_home(void)
{
	const char *x = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	struct passwd *pw;

	if (x && x[0] == '/')
		return xasprintf("%s/hutch", x);
	if (!home || home[0] != '/') {
		pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : "/";
	}
	return xasprintf("%s/.local/share/hutch", home);
}

int store_open(struct store *s, bool exclusive, struct herr *e)
{
	static const char *const subdirs[] = {"layers", "images", "tmp"};
	_cleanup_free_ char *lock = NULL;

	s->root = data_home();
	s->lock = s->work_lock = -1;
	s->work = NULL;
	if (mkdir_p(s->root, 0755, 0700) < 0)
		return herr_set(e, errno, "cannot create the image store %s", s->root);
	for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++) {
		_cleanup_free_ char *d = xasprintf("%s/%s", s->root, subdirs[i]);
		if (mkdir(d, 0700) < 0 && errno != EEXIST)
			return herr_set(e, errno, "cannot create %s", d);
	}
	lock = xasprintf("%s/lock", s->root);
	s->lock = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock < 0)
		return herr_set(e, errno, "cannot open %s", lock);
	if (flock(s->lock, exclusive ? LOCK_EX | LOCK_NB : LOCK_SH) < 0) {
		herr_set(e, errno, "the image store %s is in use", s->root);
		return herr_hint(e, "a sandbox runs from it or an import is under way; try again "
				    "when it ends");
	}
	return 0;
}

void store_close(struct store *s)
{
	if (!s->root)
		return; /* never opened */
	if (s->work) {
		_cleanup_free_ char *lock = xasprintf("%s.lock", s->work);

		/* the directory first: a lock file alone is a dead import's to the next one */
		store_rm_rf(s->work);
		unlink(lock);
		free(s->work);
		s->work = NULL;
	}
	if (s->work_lock >= 0)
		close(s->work_lock);
	if (s->lock >= 0)
		close(s->lock);
	s->lock = s->work_lock = -1;
	free(s->root);
	s->root = NULL;
}

static bool has_lock(int dfd, const char *name)
{
	_cleanup_free_ char *lock = xasprintf("%s.lock", name);
	struct stat st;

	return fstatat(dfd, lock, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Remove what dead imports left in tmp/ (dfd, flocked by the caller): a work directory whose
 * lock file nobody holds, and entries with no lock file at all (a hutch from before these
 * locks made them; a live import makes its lock first, under the same flock). */
static void clean_dead(int dfd, const char *tmp)
{
	DIR *d = fdopendir(fcntl(dfd, F_DUPFD_CLOEXEC, 3));
	struct dirent *de;

	while (d && (de = readdir(d))) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		bool lockfile = len > 5 && strcmp(n + len - 5, ".lock") == 0;
		_cleanup_close_ int fd = -1;
		_cleanup_free_ char *path = NULL;

		if (n[0] == '.' || (!lockfile && has_lock(dfd, n)))
			continue;
		if (lockfile) {
			fd = openat(dfd, n, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
				continue; /* its import is alive */
		}
		path = xasprintf("%s/%.*s", tmp, (int)(lockfile ? len - 5 : len), n);
		store_rm_rf(path);
		if (lockfile)
			unlinkat(dfd, n, 0);
	}
	if (d)
		closedir(d);
}

int store_begin_import(struct store *s, struct herr *e)
{
	_cleanup_free_ char *tmp = xasprintf("%s/tmp", s->root);
	_cleanup_free_ char *lock = xasprintf("%s/import-XXXXXX.lock", tmp);
	_cleanup_close_ int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	/* tmp/ itself is flocked while imports clean and make their lock files: a lock file made
	 * but not yet locked must not look dead to another import cleaning at that moment */
	if (dfd < 0 || flock(dfd, LOCK_EX) < 0)
		return herr_set(e, errno, "cannot lock %s", tmp);
	clean_dead(dfd, tmp);
	s->work_lock = mkostemps(lock, 5, O_CLOEXEC);
	if (s->work_lock < 0)
		return herr_set(e, errno, "cannot create a file in %s", tmp);
	if (flock(s->work_lock, LOCK_EX | LOCK_NB) < 0) {
		herr_set(e, errno, "cannot lock %s", lock);
		unlink(lock);
		return -1;
	}
	lock[strlen(lock) - 5] = 0;
	if (mkdir(lock, 0700) < 0) {
		herr_set(e, errno, "cannot create %s", lock);
		lock[strlen(lock)] = '.';
		unlink(lock);
		return -1;
	}
	s->work = xstrdup(lock);
	return 0;
}

char *store_tmpdir(struct store *s, const char *what, struct herr *e)
{
	char *d = xasprintf("%s/%s-XXXXXX", s->work, what);

	if (!mkdtemp(d)) {
		herr_set(e, errno, "cannot create a directory in %s", s->work);
		free(d);
		return NULL;
	}
	return d;
}

char *store_layer(const struct store *s, const char *hex)
{
	return xasprintf("%s/layers/%s", s->root, hex);
}

char *store_record(const struct store *s, const char *name)
{
	_cleanup_free_ char *file = xstrdup(name);

	/* "/" may be in a name (library/busybox); file names cannot hold it */
	for (char *c = file; *c; c++)
		if (*c == '/')
			*c = '%';
	return xasprintf("%s/images/%s.json", s->root, file);
}

int store_commit_layer(struct store *s, const char *tmpdir, const char *hex, struct herr *e)
{
	_cleanup_free_ char *dst = store_layer(s, hex);

	if (rename(tmpdir, dst) == 0)
		return 0;
	if (errno == EEXIST || errno == ENOTEMPTY) {
		store_rm_rf(tmpdir);
		return 0;
	}
	return herr_set(e, errno, "cannot move layer %.12s into the store", hex);
}

static int make_writable(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	if (flag == FTW_D && (st->st_mode & 0700) != 0700)
		chmod(path, st->st_mode | 0700);
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	remove(path);
	return 0;
}

void store_rm_rf(const char *path)
{
	/* pre-order: open up read-only directories (an image's 0555 /usr) before going in */
	nftw(path, make_writable, 16, FTW_PHYS);
	nftw(path, remove_one, 16, FTW_PHYS | FTW_DEPTH);
}

int store_read_record(const char *path, char **buf, size_t *len, struct herr *e)
{
	/* the store is the user's own, but a record is read like any file of an image: a FIFO
	 * there must not hang a run, nor a huge file fill its memory */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return herr_set(e, errno, "%s", path);
	if (!S_ISREG(st.st_mode))
		return herr_set(e, 0, "%s: not a regular file", path);
	return archive_read_small(fd, IMPORT_JSON_MAX, path, buf, len, e);
}

/* Collect the layers named by every record; -1 when one cannot be read (its layers unknown). */
static int referenced(struct store *s, json_object *keep)
{
	_cleanup_free_ char *images = xasprintf("%s/images", s->root);
	DIR *d = opendir(images);
	struct dirent *de;
	int r = 0;

	while (r == 0 && d && (de = readdir(d))) {
		_cleanup_free_ char *path = xasprintf("%s/%s", images, de->d_name), *buf = NULL;
		size_t n = strlen(de->d_name), len;
		struct image_record rec;
		struct herr e = {0};

		if (n <= 5 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		if (store_read_record(path, &buf, &len, &e) < 0 ||
		    image_record_read(path, buf, len, &rec, &e) < 0) {
			hutch_notice("%s; no layer is removed", e.msg);
			r = -1;
			break;
		}
		for (size_t i = 0; i < rec.n_layers; i++)
			json_object_object_add(keep, rec.layers[i], NULL);
		image_record_free(&rec);
	}
	if (d)
		closedir(d);
	return r;
}

void store_gc(struct store *s)
{
	_cleanup_free_ char *layers = xasprintf("%s/layers", s->root);
	json_object *keep = json_object_new_object();
	DIR *d = referenced(s, keep) == 0 ? opendir(layers) : NULL;
	struct dirent *de;

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || json_object_object_get_ex(keep, de->d_name, NULL))
			continue;
		_cleanup_free_ char *path = xasprintf("%s/%s", layers, de->d_name);
		store_rm_rf(path);
	}
	if (d)
		closedir(d);
	json_object_put(keep);
}
