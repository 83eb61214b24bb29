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
	s->lock = -1;
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
	if (s->lock >= 0)
		close(s->lock);
	s->lock = -1;
	free(s->root);
	s->root = NULL;
}

char *store_tmpdir(struct store *s, const char *what, struct herr *e)
{
	char *d = xasprintf("%s/tmp/%s-XXXXXX", s->root, what);

	if (!mkdtemp(d)) {
		herr_set(e, errno, "cannot create a directory in %s/tmp", s->root);
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

/* Collect the layers named by every record. */
static void referenced(struct store *s, json_object *keep)
{
	_cleanup_free_ char *images = xasprintf("%s/images", s->root);
	DIR *d = opendir(images);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		_cleanup_free_ char *path = xasprintf("%s/%s", images, de->d_name);
		json_object *rec, *layers;

		if (!strstr(de->d_name, ".json") || !(rec = json_object_from_file(path)))
			continue;
		if (json_object_object_get_ex(rec, "layers", &layers))
			for (size_t i = 0; i < json_object_array_length(layers); i++)
				json_object_object_add(
				    keep,
				    json_object_get_string(json_object_array_get_idx(layers, i)),
				    NULL);
		json_object_put(rec);
	}
	if (d)
		closedir(d);
}

void store_gc(struct store *s)
{
	_cleanup_free_ char *layers = xasprintf("%s/layers", s->root);
	json_object *keep = json_object_new_object();
	DIR *d = opendir(layers);
	struct dirent *de;

	referenced(s, keep);
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
