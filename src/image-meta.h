/*
 * The JSON an image carries, read from a byte buffer into plain structures: docker-archive's
 * manifest.json, an OCI layout's index.json and manifest, the image configuration, and the
 * store's own records. Every field goes through the typed getters of json-get.h, so a value of
 * the wrong type is one error naming the file and the JSON path ("manifest.json: [0].Layers:
 * not an array"), never a json-c assertion. Pure: no file, no host state, no global; each
 * reader can be called by a fuzzer on any bytes (and must then be followed by its _free).
 * `file` names the document in errors; strings in the structures are owned copies.
 */
#pragma once
#include <json-c/json.h>
#include <stddef.h>

#include "errors.h"
#include "json-get.h"

/* The 64 hex digits of "sha256:HEX", or NULL when `digest` is not that. */
const char *image_digest_hex(const char *digest);
/* A name an image may be stored under (the archive's own tag, or NAME): 1 to 255 of
 * [A-Za-z0-9._-/:@], not starting with '.' or '-' (it becomes a file name and is printed). */
int image_name_ok(const char *name);

/* The parsed document: an object, or with `array` an array. The caller puts it. */
int image_json_parse(const char *file, const char *buf, size_t len, int array, json_object **doc,
		     struct herr *e);

/* docker save / podman save: manifest.json's first image. */
struct docker_manifest {
	char *config; /* its path in the archive */
	char *tag;    /* RepoTags[0]; NULL when untagged (null, absent or []) */
	char **layers;
	size_t n_layers;
};
int docker_manifest_read(const char *file, const char *buf, size_t len, struct docker_manifest *m,
			 struct herr *e);
void docker_manifest_free(struct docker_manifest *m);

/* An OCI layout's index.json: its first manifest's digest and ref.name annotation. */
struct oci_index {
	char *manifest;
	char *ref; /* NULL when none */
};
int oci_index_read(const char *file, const char *buf, size_t len, struct oci_index *x,
		   struct herr *e);
void oci_index_free(struct oci_index *x);

/* An OCI image manifest: the configuration's digest and the layers' digests, bottom first. */
struct oci_manifest {
	char *config;
	char **layers;
	size_t n_layers;
};
int oci_manifest_read(const char *file, const char *buf, size_t len, struct oci_manifest *m,
		      struct herr *e);
void oci_manifest_free(struct oci_manifest *m);

/* What `hutch run --image` takes from an image's "config" object. */
struct image_run {
	char **entrypoint, **cmd, **env;
	size_t n_entrypoint, n_cmd, n_env;
	int has_cmd;	      /* Cmd given (even empty) */
	char *workdir, *user; /* NULL when absent */
};
/* Read (and check) the "config" object at o (absent: everything empty). */
int image_run_read(const struct jval *o, struct image_run *r, struct herr *e);
void image_run_free(struct image_run *r);

/* An image configuration: rootfs.diff_ids, and "config" checked by image_run_read and kept
 * whole for the record (*config: a new reference, or NULL when the image has none). */
struct image_config {
	char **diff_ids;
	size_t n_diff_ids;
	json_object *config;
};
int image_config_read(const char *file, const char *buf, size_t len, struct image_config *c,
		      struct herr *e);
void image_config_free(struct image_config *c);

/* A record of the store (images/NAME.json): the layers' hex digests, bottom first. */
struct image_record {
	char *name, *id; /* NULL when absent */
	char **layers;
	size_t n_layers;
	struct image_run run;
};
int image_record_read(const char *file, const char *buf, size_t len, struct image_record *r,
		      struct herr *e);
void image_record_free(struct image_record *r);
