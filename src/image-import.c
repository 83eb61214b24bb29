/* hutch image import: an OCI image layout (directory or tarball), a docker-archive (what
 * `docker save` and `podman save` write) or a plain rootfs tarball, into the store. */
#include "image.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "archive-io.h"
#include "image-meta.h"
#include "store.h"
#include "util.h"

struct import {
	struct store *s;
	const struct owners *own; /* NULL: no subordinate range, everything the caller's */
	const char *source;
	int dir; /* the unpacked source, or the source directory */
	struct budget budget;
	struct image_config config;
	json_object *layers; /* diff_id hexes, bottom first */
	char *config_digest;
	char *name; /* the name the archive itself gives, if any */
	const char *format;
	struct herr *e;
};

/* A file named by the archive's own metadata: a regular file inside the unpacked tree. */
static int open_in(struct import *im, const char *rel)
{
	return archive_open_in(im->dir, rel, im->source, im->e);
}

/* "SOURCE: REL", what errors about one of its files say. */
static char *label(const struct import *im, const char *rel)
{
	return xasprintf("%s: %s", im->source, rel);
}

/* The whole JSON file fd into memory, within the limit. */
static int slurp(struct import *im, int fd, const char *what, char **buf, size_t *len)
{
	unsigned long long max =
	    im->budget.max < IMPORT_JSON_MAX ? im->budget.max : IMPORT_JSON_MAX;

	return archive_read_small(fd, max, what, buf, len, im->e);
}

/* The blob named by `digest` (checked: its sha256 is the digest). Returns its fd. */
static int verified_blob(struct import *im, const char *digest)
{
	const char *want = image_digest_hex(digest);
	_cleanup_free_ char *rel = xasprintf("blobs/sha256/%s", want ? want : "?");
	_cleanup_free_ char *what = label(im, rel);
	_cleanup_close_ int fd = open_in(im, rel);
	char got[SHA256_HEX];

	if (!want) /* the readers of image-meta.c let only digests through */
		return herr_set(im->e, 0, "%s: '%s' is not a sha256 digest", im->source, digest);
	if (fd < 0 || archive_sha256_fd(fd, what, got, im->e) < 0)
		return -1;
	if (strcmp(got, want) != 0) {
		herr_set(im->e, 0, "%s: blob %s is corrupted: its sha256 is %s, not %s", im->source,
			 rel, got, want);
		return herr_hint(im->e, "get the image again");
	}
	return take_fd(&fd);
}

/* Unpack one layer (once: a layer already in the store is kept); `diff_id` checks it. */
static int add_layer(struct import *im, int fd, const char *rel, const char *diff_id)
{
	char hex[SHA256_HEX];
	const char *want = diff_id ? image_digest_hex(diff_id) : NULL;
	_cleanup_free_ char *dst = NULL, *tmp = NULL, *what = label(im, rel);
	struct stat st;

	if (archive_sha256_stream(fd, what, &im->budget, hex, im->e) < 0)
		return -1;
	if (diff_id && (!want || strcmp(want, hex) != 0)) {
		herr_set(im->e, 0,
			 "%s: layer %s is corrupted: its content's sha256 is %s, the image "
			 "says %s",
			 im->source, rel, hex, diff_id);
		return herr_hint(im->e, "get the image again");
	}
	json_object_array_add(im->layers, json_object_new_string(hex));
	dst = store_layer(im->s, hex);
	if (stat(dst, &st) == 0)
		return 0;
	tmp = store_tmpdir(im->s, "layer", im->e);
	if (!tmp)
		return -1;
	if (archive_unpack(fd, what, tmp, true, im->own, &im->budget, im->e) < 0) {
		store_rm_rf(tmp);
		return -1;
	}
	return store_commit_layer(im->s, tmp, hex, im->e);
}

/* After a reader of image-meta.c refused a field: what to do. */
static int malformed(struct import *im)
{
	return herr_hint(im->e, "the image is damaged or hostile; nothing was imported");
}

/* The configuration in fd (its label `rel`), read and checked. */
static int read_config(struct import *im, int fd, const char *rel)
{
	_cleanup_free_ char *what = label(im, rel), *buf = NULL;
	size_t len;

	if (slurp(im, fd, what, &buf, &len) < 0)
		return -1;
	if (image_config_read(what, buf, len, &im->config, im->e) < 0)
		return malformed(im);
	return 0;
}

/* A progress bar on a terminal: one step a layer (verifying and unpacking it). */
static void progress(const struct import *im, size_t done, size_t n)
{
	char bar[21];
	size_t fill = n ? done * 20 / n : 20;

	if (!isatty(STDERR_FILENO))
		return;
	memset(bar, '#', fill);
	memset(bar + fill, '-', 20 - fill);
	bar[20] = 0;
	fprintf(stderr, "\rhutch: importing [%s] %zu/%zu layers", bar, done, n);
	if (done == n)
		fputc('\n', stderr);
}

/* The manifest's layers (OCI: blob digests; docker-archive: paths), each checked against the
 * configuration's diff_ids and unpacked. */
static int layers_from_config(struct import *im, char **layers, size_t n, bool oci)
{
	if (im->config.n_diff_ids != n)
		return herr_set(im->e, 0,
				"%s: the configuration's rootfs.diff_ids name %zu layers, the "
				"manifest %zu",
				im->source, im->config.n_diff_ids, n);
	for (size_t i = 0; i < n; i++) {
		const char *h = oci ? image_digest_hex(layers[i]) : NULL;
		_cleanup_free_ char *rel =
		    oci ? xasprintf("blobs/sha256/%s", h) : xstrdup(layers[i]);
		_cleanup_close_ int fd = oci ? verified_blob(im, layers[i]) : open_in(im, rel);

		progress(im, i, n);
		if (fd < 0 || add_layer(im, fd, rel, im->config.diff_ids[i]) < 0) {
			if (isatty(STDERR_FILENO))
				fputc('\n', stderr);
			return -1;
		}
	}
	progress(im, n, n);
	return 0;
}

/* An OCI image layout: index.json -> manifest -> config and layers, each checked. */
static int import_oci(struct import *im)
{
	_cleanup_free_ char *what = label(im, "index.json"), *buf = NULL, *mwhat = NULL;
	_cleanup_close_ int fd = open_in(im, "index.json"), mfd = -1, cfd = -1;
	struct oci_index x = {0};
	struct oci_manifest m = {0};
	size_t len;
	int r = -1;

	im->format = "oci";
	if (fd < 0 || slurp(im, fd, what, &buf, &len) < 0)
		return -1;
	if (oci_index_read(what, buf, len, &x, im->e) < 0)
		return malformed(im);
	im->name = x.ref ? xstrdup(x.ref) : NULL;
	mwhat = xasprintf("%s: blobs/sha256/%s", im->source, image_digest_hex(x.manifest));
	free(buf);
	buf = NULL;
	if ((mfd = verified_blob(im, x.manifest)) < 0 || slurp(im, mfd, mwhat, &buf, &len) < 0)
		goto out;
	if (oci_manifest_read(mwhat, buf, len, &m, im->e) < 0) {
		malformed(im);
		goto out;
	}
	if ((cfd = verified_blob(im, m.config)) < 0)
		goto out;
	{
		_cleanup_free_ char *rel = xasprintf("blobs/sha256/%s", image_digest_hex(m.config));
		if (read_config(im, cfd, rel) < 0)
			goto out;
	}
	im->config_digest = xstrdup(m.config);
	r = layers_from_config(im, m.layers, m.n_layers, true);
out:
	oci_manifest_free(&m);
	oci_index_free(&x);
	return r;
}

/* The configuration's digest, when its file name says it (docker save writes HEX.json,
 * newer Docker blobs/sha256/HEX). */
static const char *named_digest(const char *cfg)
{
	size_t n = strlen(cfg);

	if (n == 64 + 5 && strcmp(cfg + 64, ".json") == 0)
		return cfg;
	if (n == 13 + 64 && strncmp(cfg, "blobs/sha256/", 13) == 0)
		return cfg + 13;
	return NULL;
}

/* docker save / podman save: manifest.json -> Config and Layers; layers checked against the
 * configuration's diff_ids, the configuration against its file name. */
static int import_docker(struct import *im)
{
	_cleanup_free_ char *what = label(im, "manifest.json"), *buf = NULL;
	_cleanup_close_ int fd = open_in(im, "manifest.json"), cfd = -1;
	struct docker_manifest m = {0};
	char got[SHA256_HEX];
	const char *named;
	size_t len;
	int r = -1;

	im->format = "docker-archive";
	if (fd < 0 || slurp(im, fd, what, &buf, &len) < 0)
		return -1;
	if (docker_manifest_read(what, buf, len, &m, im->e) < 0)
		return malformed(im);
	if ((cfd = open_in(im, m.config)) < 0 || archive_sha256_fd(cfd, m.config, got, im->e) < 0)
		goto out;
	named = named_digest(m.config);
	if (named && strncmp(named, got, 64) != 0) {
		herr_set(im->e, 0, "%s: configuration %s is corrupted (its sha256 is %s)",
			 im->source, m.config, got);
		goto out;
	}
	im->config_digest = xasprintf("sha256:%s", got);
	im->name = m.tag ? xstrdup(m.tag) : NULL; /* untagged (docker save IMAGE_ID): NAME */
	if (read_config(im, cfd, m.config) < 0)
		goto out;
	r = layers_from_config(im, m.layers, m.n_layers, false);
out:
	docker_manifest_free(&m);
	return r;
}

/* A plain rootfs tarball: unpacked already (in *tmp); it is the one layer. */
static int import_rootfs(struct import *im, int src, char **tmp)
{
	char hex[SHA256_HEX];
	_cleanup_free_ char *dst = NULL;
	struct stat st;

	im->format = "rootfs";
	if (archive_sha256_stream(src, im->source, &im->budget, hex, im->e) < 0)
		return -1;
	im->config_digest = xasprintf("sha256:%s", hex);
	json_object_array_add(im->layers, json_object_new_string(hex));
	dst = store_layer(im->s, hex);
	if (stat(dst, &st) == 0)
		return 0;
	if (store_commit_layer(im->s, *tmp, hex, im->e) < 0)
		return -1;
	free(*tmp);
	*tmp = NULL; /* it is the layer now */
	return 0;
}

static bool exists_in(int dir, const char *name)
{
	struct stat st;

	return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* NAME, else the archive's own tag, else the file's name up to its first dot (so an untagged
 * docker-archive, busybox.tar, is busybox:latest); ":latest" when no tag is given. */
static char *default_name(struct import *im, const char *given)
{
	const char *base = given ? given : im->name;
	_cleanup_free_ char *fallback = NULL;
	const char *slash;

	if (!base) {
		slash = strrchr(im->source, '/');
		fallback = xstrdup(slash ? slash + 1 : im->source);
		fallback[strcspn(fallback, ".")] = 0;
		base = fallback;
	}
	if (!image_name_ok(base)) {
		herr_set(im->e, 0, "%s: '%.80s' (%s) is not a name an image can have", im->source,
			 base, im->name ? "the archive's tag" : "from the file's name");
		herr_hint(im->e, "give one: hutch image import %s NAME[:TAG]", im->source);
		return NULL;
	}
	slash = strrchr(base, '/');
	return strchr(slash ? slash : base, ':') ? xstrdup(base) : xasprintf("%s:latest", base);
}

static int write_record(struct import *im, const char *given)
{
	_cleanup_free_ char *name = default_name(im, given), *path = NULL, *tmp = NULL;
	json_object *rec;

	if (!name)
		return -1;
	path = store_record(im->s, name);
	tmp = xasprintf("%s/record.json", im->s->work); /* removed with the work directory */
	rec = json_object_new_object();
	json_object_object_add(rec, "name", json_object_new_string(name));
	json_object_object_add(rec, "id", json_object_new_string(im->config_digest));
	json_object_object_add(rec, "format", json_object_new_string(im->format));
	json_object_object_add(rec, "layers", json_object_get(im->layers));
	json_object_object_add(rec, "config",
			       im->config.config ? json_object_get(im->config.config)
						 : json_object_new_object());
	if (json_object_to_file_ext(tmp, rec, JSON_C_TO_STRING_PRETTY) < 0 ||
	    rename(tmp, path) < 0) {
		json_object_put(rec);
		return herr_set(im->e, errno, "cannot write %s", path);
	}
	json_object_put(rec);
	printf("%s %.19s\n", name, im->config_digest);
	return 0;
}

/* Which kind of image the tree at im->dir is, and its import. */
static int import_tree(struct import *im, int src, char **tmp)
{
	if (exists_in(im->dir, "oci-layout") && exists_in(im->dir, "index.json"))
		return import_oci(im);
	if (exists_in(im->dir, "manifest.json"))
		return import_docker(im);
	if (*tmp)
		return import_rootfs(im, src, tmp);
	return herr_set(im->e, 0, "%s: neither an OCI layout nor a docker-archive", im->source);
}

int image_import(const char *source, const char *name, unsigned long long max, struct herr *e)
{
	struct store s = {0};
	struct import im = {.s = &s,
			    .source = source,
			    .e = e,
			    .layers = json_object_new_array(),
			    .dir = -1,
			    .budget = {.max = max ? max : IMPORT_MAX_DEFAULT}};
	struct ids ids = {.keeper_netns = -1, .keeper_ipcns = -1, .keeper_conn = -1};
	struct owners own;
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int src = -1;
	bool is_dir = false;
	int r = -1;

	if (name && !image_name_ok(name)) {
		herr_set(e, 0, "image import: NAME '%.80s' is not a name an image can have", name);
		herr_hint(e, "use letters, digits and ._-/:@, as in busybox:1.36");
		goto out;
	}
	if ((src = archive_open_source(source, &is_dir, e)) < 0 ||
	    image_owners(&ids, &own, e) < 0 || store_open(&s, false, e) < 0 ||
	    store_begin_import(&s, e) < 0)
		goto out;
	im.own = ids.subids ? &own : NULL;
	if (is_dir) {
		im.dir = take_fd(&src);
	} else {
		if (!(tmp = store_tmpdir(&s, "import", e)) ||
		    archive_unpack(src, source, tmp, false, im.own, &im.budget, e) < 0)
			goto out;
		im.dir = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (im.dir < 0) {
			herr_set(e, errno, "%s", tmp);
			goto out;
		}
	}
	r = import_tree(&im, src, &tmp);
	if (r == 0)
		r = write_record(&im, name);
out:
	json_object_put(im.layers);
	image_config_free(&im.config);
	free(im.config_digest);
	free(im.name);
	if (im.dir >= 0)
		close(im.dir);
	user_free(&ids);
	store_close(&s); /* and with it the work directory, whatever is left in it */
	return r;
}
