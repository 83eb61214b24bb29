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
#include <unistd.h>

#include "archive-io.h"
#include "store.h"
#include "util.h"

struct import {
	struct store *s;
	const struct owners *own; /* NULL: no subordinate range, everything the caller's */
	const char *source;
	char *dir;	     /* the unpacked source (or the source directory) */
	json_object *config; /* the image configuration (owned) */
	json_object *layers; /* diff_id hexes, bottom first */
	char *config_digest;
	char *name; /* the name the archive itself gives, if any */
	const char *format;
	struct herr *e;
};

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

/* A path named by the archive's own metadata, which must stay inside the unpacked tree. */
static char *inside(struct import *im, const char *rel)
{
	_cleanup_free_ char *joined = NULL;
	char real[PATH_MAX];
	size_t n = strlen(im->dir);

	if (!rel || rel[0] == '/' || strstr(rel, ".."))
		return NULL;
	joined = xasprintf("%s/%s", im->dir, rel);
	if (!realpath(joined, real) || strncmp(real, im->dir, n) != 0 || real[n] != '/')
		return NULL;
	return xstrdup(real);
}

static const char *hex_of_digest(const char *digest)
{
	if (!digest || strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 7 + 64)
		return NULL;
	for (const char *c = digest + 7; *c; c++)
		if (!strchr("0123456789abcdef", *c))
			return NULL;
	return digest + 7;
}

/* The blob at `rel` must have the digest `digest`. Returns its path. */
static char *verified_blob(struct import *im, const char *rel, const char *digest)
{
	const char *want = hex_of_digest(digest);
	char got[SHA256_HEX];
	char *path = inside(im, rel);

	if (!want || !path) {
		herr_set(im->e, 0, "%s: blob %s is missing or has a bad digest", im->source,
			 rel ? rel : "?");
		free(path);
		return NULL;
	}
	if (archive_sha256_file(path, got, im->e) < 0) {
		free(path);
		return NULL;
	}
	if (strcmp(got, want) != 0) {
		herr_set(im->e, 0, "%s: blob %s is corrupted: its sha256 is %s, not %s", im->source,
			 rel, got, want);
		herr_hint(im->e, "get the image again");
		free(path);
		return NULL;
	}
	return path;
}

/* Unpack one layer (once: a layer already in the store is kept); `diff_id` checks it. */
static int add_layer(struct import *im, const char *path, const char *diff_id)
{
	char hex[SHA256_HEX];
	const char *want = diff_id ? hex_of_digest(diff_id) : NULL;
	_cleanup_free_ char *dst = NULL, *tmp = NULL;
	struct stat st;

	if (archive_sha256_stream(path, hex, im->e) < 0)
		return -1;
	if (diff_id && (!want || strcmp(want, hex) != 0)) {
		herr_set(im->e, 0,
			 "%s: layer %s is corrupted: its content's sha256 is %s, the image "
			 "says %s",
			 im->source, path + strlen(im->dir) + 1, hex, diff_id);
		return herr_hint(im->e, "get the image again");
	}
	json_object_array_add(im->layers, json_object_new_string(hex));
	dst = store_layer(im->s, hex);
	if (stat(dst, &st) == 0)
		return 0;
	tmp = store_tmpdir(im->s, "layer", im->e);
	if (!tmp)
		return -1;
	if (archive_unpack(path, tmp, true, im->own, im->e) < 0) {
		store_rm_rf(tmp);
		return -1;
	}
	return store_commit_layer(im->s, tmp, hex, im->e);
}

static json_object *read_json(struct import *im, const char *path, const char *what)
{
	json_object *o = path ? json_object_from_file(path) : NULL;

	if (!o)
		herr_set(im->e, 0, "%s: cannot read its %s (%s)", im->source, what,
			 path ? json_util_get_last_err() : "missing");
	return o;
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

static int layers_from_config(struct import *im, json_object *layer_paths, bool oci)
{
	json_object *rootfs, *diff_ids = NULL;
	size_t n = json_object_array_length(layer_paths);

	if (json_object_object_get_ex(im->config, "rootfs", &rootfs))
		json_object_object_get_ex(rootfs, "diff_ids", &diff_ids);
	if (!diff_ids || json_object_array_length(diff_ids) != n)
		return herr_set(im->e, 0,
				"%s: the configuration's rootfs.diff_ids do not match the "
				"layers",
				im->source);
	for (size_t i = 0; i < n; i++) {
		json_object *l = json_object_array_get_idx(layer_paths, i);
		const char *diff = json_object_get_string(json_object_array_get_idx(diff_ids, i));
		_cleanup_free_ char *rel = NULL, *path = NULL;

		if (oci) {
			const char *h = hex_of_digest(jstr(l, "digest"));
			rel = h ? xasprintf("blobs/sha256/%s", h) : NULL;
			path = verified_blob(im, rel, jstr(l, "digest"));
		} else {
			path = inside(im, json_object_get_string(l));
			if (!path)
				herr_set(im->e, 0, "%s: layer %s is missing", im->source,
					 json_object_get_string(l));
		}
		progress(im, i, n);
		if (!path || add_layer(im, path, diff) < 0) {
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
	_cleanup_free_ char *index_path = inside(im, "index.json"), *mpath = NULL, *cpath = NULL;
	json_object *index = read_json(im, index_path, "index.json"), *manifests, *m, *cfg, *layers;
	json_object *manifest = NULL, *ann;
	int r = -1;

	im->format = "oci";
	if (!index)
		return -1;
	if (!json_object_object_get_ex(index, "manifests", &manifests) ||
	    !(m = json_object_array_get_idx(manifests, 0))) {
		herr_set(im->e, 0, "%s: index.json lists no manifest", im->source);
		goto out;
	}
	if (json_object_object_get_ex(m, "annotations", &ann) &&
	    jstr(ann, "org.opencontainers.image.ref.name"))
		im->name = xstrdup(jstr(ann, "org.opencontainers.image.ref.name"));
	{
		const char *h = hex_of_digest(jstr(m, "digest"));
		_cleanup_free_ char *rel = h ? xasprintf("blobs/sha256/%s", h) : NULL;
		mpath = verified_blob(im, rel, jstr(m, "digest"));
	}
	if (!mpath || !(manifest = read_json(im, mpath, "manifest")))
		goto out;
	if (!json_object_object_get_ex(manifest, "config", &cfg) ||
	    !json_object_object_get_ex(manifest, "layers", &layers)) {
		herr_set(im->e, 0, "%s: the manifest has no config or no layers", im->source);
		goto out;
	}
	{
		const char *h = hex_of_digest(jstr(cfg, "digest"));
		_cleanup_free_ char *rel = h ? xasprintf("blobs/sha256/%s", h) : NULL;
		cpath = verified_blob(im, rel, jstr(cfg, "digest"));
	}
	if (!cpath || !(im->config = read_json(im, cpath, "configuration")))
		goto out;
	im->config_digest = xstrdup(jstr(cfg, "digest"));
	r = layers_from_config(im, layers, true);
out:
	json_object_put(manifest);
	json_object_put(index);
	return r;
}

/* docker save / podman save: manifest.json -> Config and Layers; layers checked against the
 * configuration's diff_ids, the configuration against its file name. */
static int import_docker(struct import *im)
{
	_cleanup_free_ char *mpath = inside(im, "manifest.json"), *cpath = NULL;
	json_object *manifest = read_json(im, mpath, "manifest.json"), *m, *layers, *tags;
	const char *cfg;
	char got[SHA256_HEX];
	int r = -1;

	im->format = "docker-archive";
	if (!manifest)
		return -1;
	m = json_object_array_get_idx(manifest, 0);
	cfg = m ? jstr(m, "Config") : NULL;
	if (!cfg || !json_object_object_get_ex(m, "Layers", &layers) ||
	    !(cpath = inside(im, cfg))) {
		herr_set(im->e, 0, "%s: manifest.json names no configuration or no layers",
			 im->source);
		goto out;
	}
	if (archive_sha256_file(cpath, got, im->e) < 0)
		goto out;
	if (strlen(cfg) == 64 + 5 && strncmp(cfg, got, 64) != 0) {
		herr_set(im->e, 0, "%s: configuration %s is corrupted (its sha256 is %s)",
			 im->source, cfg, got);
		goto out;
	}
	im->config_digest = xasprintf("sha256:%s", got);
	if (json_object_object_get_ex(m, "RepoTags", &tags) && json_object_array_length(tags))
		im->name = xstrdup(json_object_get_string(json_object_array_get_idx(tags, 0)));
	if (!(im->config = read_json(im, cpath, "configuration")))
		goto out;
	r = layers_from_config(im, layers, false);
out:
	json_object_put(manifest);
	return r;
}

/* A plain rootfs tarball: unpacked already (im->dir); it is the one layer. */
static int import_rootfs(struct import *im, char **tmp)
{
	char hex[SHA256_HEX];
	_cleanup_free_ char *dst = NULL;
	struct stat st;

	im->format = "rootfs";
	if (archive_sha256_stream(im->source, hex, im->e) < 0)
		return -1;
	im->config = json_object_new_object();
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

static bool exists_in(const char *dir, const char *name)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, name);

	return access(p, F_OK) == 0;
}

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
	slash = strrchr(base, '/');
	return strchr(slash ? slash : base, ':') ? xstrdup(base) : xasprintf("%s:latest", base);
}

static int write_record(struct import *im, const char *given)
{
	_cleanup_free_ char *name = default_name(im, given), *path = store_record(im->s, name);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp-%d", path, (int)getpid());
	json_object *rec = json_object_new_object(), *cfg;

	json_object_object_add(rec, "name", json_object_new_string(name));
	json_object_object_add(rec, "id", json_object_new_string(im->config_digest));
	json_object_object_add(rec, "format", json_object_new_string(im->format));
	json_object_object_add(rec, "layers", json_object_get(im->layers));
	json_object_object_add(rec, "config",
			       json_object_object_get_ex(im->config, "config", &cfg)
				   ? json_object_get(cfg)
				   : json_object_new_object());
	if (json_object_to_file_ext(tmp, rec, JSON_C_TO_STRING_PRETTY) < 0 ||
	    rename(tmp, path) < 0) {
		json_object_put(rec);
		unlink(tmp);
		return herr_set(im->e, errno, "cannot write %s", path);
	}
	json_object_put(rec);
	printf("%s %.19s\n", name, im->config_digest);
	return 0;
}

int image_import(const char *source, const char *name, struct herr *e)
{
	struct store s = {0};
	struct import im = {.s = &s, .source = source, .e = e, .layers = json_object_new_array()};
	struct ids ids = {.keeper_netns = -1, .keeper_ipcns = -1, .keeper_conn = -1};
	struct owners own;
	_cleanup_free_ char *tmp = NULL;
	struct stat st;
	int r = -1;

	if (stat(source, &st) < 0) {
		herr_set(e, errno, "image import %s", source);
		goto out;
	}
	if (image_owners(&ids, &own, e) < 0 || store_open(&s, false, e) < 0)
		goto out;
	im.own = ids.subids ? &own : NULL;
	if (S_ISDIR(st.st_mode)) {
		im.dir = realpath(source, NULL);
	} else {
		if (!(tmp = store_tmpdir(&s, "import", e)) ||
		    archive_unpack(source, tmp, false, im.own, e) < 0)
			goto out;
		im.dir = xstrdup(tmp);
	}
	if (exists_in(im.dir, "oci-layout") && exists_in(im.dir, "index.json"))
		r = import_oci(&im);
	else if (exists_in(im.dir, "manifest.json"))
		r = import_docker(&im);
	else if (tmp)
		r = import_rootfs(&im, &tmp);
	else
		herr_set(e, 0, "%s: neither an OCI layout nor a docker-archive", source);
	if (r == 0)
		r = write_record(&im, name);
out:
	if (tmp)
		store_rm_rf(tmp);
	json_object_put(im.layers);
	json_object_put(im.config);
	free(im.config_digest);
	free(im.name);
	free(im.dir);
	user_free(&ids);
	store_close(&s);
	return r;
}
