/* The JSON of an image, read through typed getters into plain structures (image-meta.h). */
#include "image-meta.h"

#include <string.h>

#include "plan.h"
#include "util.h"

const char *image_digest_hex(const char *digest)
{
	if (!digest || strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 7 + 64)
		return NULL;
	for (const char *c = digest + 7; *c; c++)
		if (!strchr("0123456789abcdef", *c))
			return NULL;
	return digest + 7;
}

int image_name_ok(const char *name)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789._-/:@";
	size_t n = strlen(name);

	return n > 0 && n < 256 && strspn(name, allowed) == n && name[0] != '.' && name[0] != '-';
}

int image_json_parse(const char *file, const char *buf, size_t len, int array, json_object **doc,
		     struct herr *e)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o;
	enum json_tokener_error err;

	/* strict: no trailing garbage, no single quotes; the default depth (32) bounds nesting */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, buf, (int)(len > INT32_MAX ? INT32_MAX : len));
	err = json_tokener_get_error(tok);
	if (!o && err == json_tokener_continue)
		err = json_tokener_error_parse_eof;
	json_tokener_free(tok);
	if (!o || err != json_tokener_success) {
		json_object_put(o);
		return herr_set(e, 0, "%s: not valid JSON (%s)", file,
				json_tokener_error_desc(err));
	}
	if (!json_object_is_type(o, array ? json_type_array : json_type_object)) {
		json_object_put(o);
		return herr_set(e, 0, "%s: not a JSON %s", file, array ? "array" : "object");
	}
	*doc = o;
	return 0;
}

static int missing(const struct jval *o, const char *key, struct herr *e)
{
	return jerr(o, key, e, "missing");
}

/* An array of strings at o.key, copied (r: jstrs's result; absent: none). */
static int strv(const struct jval *o, const char *key, char ***v, size_t *n, struct herr *e)
{
	struct jval a;
	const char *s;
	int r = jstrs(o, key, &a, e);

	for (size_t i = 0; r > 0 && i < jlen(&a); i++) {
		jstr_at(&a, i, &s, e);
		plan_add_str(v, n, s);
	}
	return r;
}

/* A required "sha256:HEX" string at o.key, copied. */
static int digest(const struct jval *o, const char *key, char **out, struct herr *e)
{
	const char *s;
	int r = jstr(o, key, &s, e);

	if (r < 0)
		return -1;
	if (r == 0)
		return missing(o, key, e);
	if (!image_digest_hex(s))
		return jerr(o, key, e, "'%.80s' is not a sha256 digest (sha256: and 64 hex digits)",
			    s);
	*out = xstrdup(s);
	return 0;
}

int docker_manifest_read(const char *file, const char *buf, size_t len, struct docker_manifest *m,
			 struct herr *e)
{
	json_object *doc;
	struct jval top = {.file = file}, img, tags;
	const char *cfg, *tag = NULL;
	int r = -1;

	memset(m, 0, sizeof(*m));
	if (image_json_parse(file, buf, len, 1, &doc, e) < 0)
		return -1;
	top.v = doc;
	if (!jlen(&top)) {
		jerr(&top, NULL, e, "lists no image");
		goto out;
	}
	if (jobj_at(&top, 0, &img, e) < 0 || (r = jstr(&img, "Config", &cfg, e)) < 0)
		goto out;
	r = -1;
	if (!cfg) {
		missing(&img, "Config", e);
		goto out;
	}
	m->config = xstrdup(cfg);
	/* RepoTags null (docker save IMAGE_ID), absent or []: untagged */
	if (jstrs(&img, "RepoTags", &tags, e) < 0 ||
	    (jlen(&tags) && jstr_at(&tags, 0, &tag, e) < 0))
		goto out;
	m->tag = tag ? xstrdup(tag) : NULL;
	if ((r = strv(&img, "Layers", &m->layers, &m->n_layers, e)) == 0)
		missing(&img, "Layers", e);
	r = r > 0 ? 0 : -1;
out:
	json_object_put(doc);
	if (r < 0)
		docker_manifest_free(m);
	return r;
}

void docker_manifest_free(struct docker_manifest *m)
{
	free(m->config);
	free(m->tag);
	plan_free_strv(m->layers, m->n_layers);
	memset(m, 0, sizeof(*m));
}

int oci_index_read(const char *file, const char *buf, size_t len, struct oci_index *x,
		   struct herr *e)
{
	json_object *doc;
	struct jval top, list, desc, ann;
	const char *ref = NULL;
	int r = -1;

	memset(x, 0, sizeof(*x));
	if (image_json_parse(file, buf, len, 0, &doc, e) < 0)
		return -1;
	if (jroot(doc, file, "", &top, e) < 0 || (r = jarr(&top, "manifests", &list, e)) < 0)
		goto out;
	r = -1;
	if (!jlen(&list)) {
		jerr(&top, "manifests", e, "lists no manifest");
		goto out;
	}
	if (jobj_at(&list, 0, &desc, e) < 0 || digest(&desc, "digest", &x->manifest, e) < 0 ||
	    jobj(&desc, "annotations", &ann, e) < 0 ||
	    jstr(&ann, "org.opencontainers.image.ref.name", &ref, e) < 0)
		goto out;
	x->ref = ref ? xstrdup(ref) : NULL;
	r = 0;
out:
	json_object_put(doc);
	if (r < 0)
		oci_index_free(x);
	return r;
}

void oci_index_free(struct oci_index *x)
{
	free(x->manifest);
	free(x->ref);
	memset(x, 0, sizeof(*x));
}

int oci_manifest_read(const char *file, const char *buf, size_t len, struct oci_manifest *m,
		      struct herr *e)
{
	json_object *doc;
	struct jval top, cfg, list;
	int r = -1;

	memset(m, 0, sizeof(*m));
	if (image_json_parse(file, buf, len, 0, &doc, e) < 0)
		return -1;
	if (jroot(doc, file, "", &top, e) < 0)
		goto out;
	if ((r = jobj(&top, "config", &cfg, e)) <= 0 || digest(&cfg, "digest", &m->config, e) < 0 ||
	    (r = jarr(&top, "layers", &list, e)) <= 0) {
		if (r == 0)
			missing(&top, cfg.v ? "layers" : "config", e);
		r = -1;
		goto out;
	}
	r = -1;
	for (size_t i = 0; i < jlen(&list); i++) {
		struct jval desc;
		char *d = NULL;

		if (jobj_at(&list, i, &desc, e) < 0 || digest(&desc, "digest", &d, e) < 0)
			goto out;
		plan_add_str(&m->layers, &m->n_layers, d);
		free(d);
	}
	r = 0;
out:
	json_object_put(doc);
	if (r < 0)
		oci_manifest_free(m);
	return r;
}

void oci_manifest_free(struct oci_manifest *m)
{
	free(m->config);
	plan_free_strv(m->layers, m->n_layers);
	memset(m, 0, sizeof(*m));
}

int image_run_read(const struct jval *o, struct image_run *r, struct herr *e)
{
	const char *wd, *user;
	int c;

	memset(r, 0, sizeof(*r));
	if (strv(o, "Entrypoint", &r->entrypoint, &r->n_entrypoint, e) < 0 ||
	    (c = strv(o, "Cmd", &r->cmd, &r->n_cmd, e)) < 0 ||
	    strv(o, "Env", &r->env, &r->n_env, e) < 0 || jstr(o, "WorkingDir", &wd, e) < 0 ||
	    jstr(o, "User", &user, e) < 0) {
		image_run_free(r);
		return -1;
	}
	r->has_cmd = c > 0;
	r->workdir = wd ? xstrdup(wd) : NULL;
	r->user = user ? xstrdup(user) : NULL;
	return 0;
}

void image_run_free(struct image_run *r)
{
	plan_free_strv(r->entrypoint, r->n_entrypoint);
	plan_free_strv(r->cmd, r->n_cmd);
	plan_free_strv(r->env, r->n_env);
	free(r->workdir);
	free(r->user);
	memset(r, 0, sizeof(*r));
}

int image_config_read(const char *file, const char *buf, size_t len, struct image_config *c,
		      struct herr *e)
{
	json_object *doc;
	struct jval top, rootfs, ids, cfg;
	struct image_run run;
	int r = -1;

	memset(c, 0, sizeof(*c));
	if (image_json_parse(file, buf, len, 0, &doc, e) < 0)
		return -1;
	if (jroot(doc, file, "", &top, e) < 0 || (r = jobj(&top, "rootfs", &rootfs, e)) < 0 ||
	    (r > 0 && (r = jstrs(&rootfs, "diff_ids", &ids, e)) < 0))
		goto out;
	if (r == 0) {
		r = missing(rootfs.v ? &rootfs : &top, rootfs.v ? "diff_ids" : "rootfs", e);
		goto out;
	}
	r = -1;
	for (size_t i = 0; i < jlen(&ids); i++) {
		const char *s;

		jstr_at(&ids, i, &s, e);
		if (!image_digest_hex(s)) {
			jerr(&ids, NULL, e, "element %zu, '%.80s', is not a sha256 digest", i, s);
			goto out;
		}
		plan_add_str(&c->diff_ids, &c->n_diff_ids, s);
	}
	if (jobj(&top, "config", &cfg, e) < 0 || image_run_read(&cfg, &run, e) < 0)
		goto out;
	image_run_free(&run);
	c->config = cfg.v ? json_object_get(cfg.v) : NULL;
	r = 0;
out:
	json_object_put(doc);
	if (r < 0)
		image_config_free(c);
	return r;
}

void image_config_free(struct image_config *c)
{
	plan_free_strv(c->diff_ids, c->n_diff_ids);
	json_object_put(c->config);
	memset(c, 0, sizeof(*c));
}

int image_record_read(const char *file, const char *buf, size_t len, struct image_record *rec,
		      struct herr *e)
{
	json_object *doc;
	struct jval top, cfg;
	const char *name, *id;
	int r = -1;

	memset(rec, 0, sizeof(*rec));
	if (image_json_parse(file, buf, len, 0, &doc, e) < 0)
		return -1;
	if (jroot(doc, file, "", &top, e) < 0 ||
	    (r = strv(&top, "layers", &rec->layers, &rec->n_layers, e)) < 0)
		goto out;
	r = -1;
	if (!rec->n_layers) {
		jerr(&top, "layers", e, "names no layer");
		goto out;
	}
	for (size_t i = 0; i < rec->n_layers; i++) {
		/* each becomes a path under layers/: a digest's 64 hex digits and nothing else */
		_cleanup_free_ char *d = xasprintf("sha256:%s", rec->layers[i]);
		if (!image_digest_hex(d)) {
			jerr(&top, "layers", e, "'%.80s' is not a layer's hex digest",
			     rec->layers[i]);
			goto out;
		}
	}
	if (jobj(&top, "config", &cfg, e) < 0 || image_run_read(&cfg, &rec->run, e) < 0 ||
	    jstr(&top, "name", &name, e) < 0 || jstr(&top, "id", &id, e) < 0)
		goto out;
	rec->name = name ? xstrdup(name) : NULL;
	rec->id = id ? xstrdup(id) : NULL;
	r = 0;
out:
	json_object_put(doc);
	if (r < 0)
		image_record_free(rec);
	return r;
}

void image_record_free(struct image_record *rec)
{
	free(rec->name);
	free(rec->id);
	plan_free_strv(rec->layers, rec->n_layers);
	image_run_free(&rec->run);
	memset(rec, 0, sizeof(*rec));
}
