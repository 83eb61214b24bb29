/* Unit tests of the image readers (src/image-meta.c) and the tar entry checks (src/archive.c)
 * on byte buffers, as a fuzz target calls them: no file, no store. Built by meson as
 * image-meta-test; tests/test_image_hostile.py runs it. One line per case; non-zero exit if
 * any failed. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "archive-io.h"
#include "errors.h"
#include "image-meta.h"

static int failed, passed;

static void check(const char *what, int ok, const char *detail)
{
	printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what, ok ? "" : ": ", ok ? "" : detail);
	if (ok)
		passed++;
	else
		failed++;
}

/* The reader's result: 0, or the message it gave (which must contain `want`). */
static void expect(const char *what, int r, const struct herr *e, const char *want)
{
	if (!want)
		check(what, r == 0, e->msg);
	else
		check(what, r < 0 && strstr(e->msg, want), r < 0 ? e->msg : "accepted");
}

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void docker(const char *what, const char *json, const char *want)
{
	struct docker_manifest m;
	struct herr e = {0};
	int r = docker_manifest_read("manifest.json", json, strlen(json), &m, &e);

	expect(what, r, &e, want);
	if (r == 0)
		docker_manifest_free(&m);
}

static void config(const char *what, const char *json, const char *want)
{
	struct image_config c;
	struct herr e = {0};
	int r = image_config_read("config", json, strlen(json), &c, &e);

	expect(what, r, &e, want);
	if (r == 0)
		image_config_free(&c);
}

static void index_(const char *what, const char *json, const char *want)
{
	struct oci_index x;
	struct herr e = {0};
	int r = oci_index_read("index.json", json, strlen(json), &x, &e);

	expect(what, r, &e, want);
	if (r == 0)
		oci_index_free(&x);
}

static void entry(const char *name, unsigned type, const char *hl, const char *sl, const char *want)
{
	const char *clean, *why = archive_entry_refusal(name, type, hl, sl, &clean);

	check(name, want ? why && strstr(why, want) : !why, why ? why : "accepted");
}

int main(void)
{
	docker("docker: good",
	       "[{\"Config\":\"c.json\",\"RepoTags\":[\"a:1\"],\"Layers\":[\"l\"]}]", NULL);
	docker("docker: untagged", "[{\"Config\":\"c.json\",\"RepoTags\":null,\"Layers\":[]}]",
	       NULL);
	docker("docker: RepoTags string", "[{\"Config\":\"c\",\"RepoTags\":\"a\",\"Layers\":[]}]",
	       "manifest.json: [0].RepoTags: not an array");
	docker("docker: Layers string", "[{\"Config\":\"c\",\"Layers\":\"l\"}]",
	       "manifest.json: [0].Layers: not an array");
	docker("docker: object", "{\"Config\":\"c\"}", "manifest.json: not a JSON array");
	docker("docker: element not an object", "[1]", "manifest.json: [0]: not an object");
	docker("docker: NUL in a path", "[{\"Config\":\"c\\u0000x\",\"Layers\":[]}]",
	       "[0].Config: contains a NUL byte");
	docker("docker: trailing newline", "[{\"Config\":\"c\",\"Layers\":[]}]\n", NULL);
	docker("docker: trailing garbage", "[] x", "not valid JSON");
	docker("docker: too deep",
	       "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	       "not valid JSON");
	docker("docker: empty", "", "not valid JSON");
	config("config: good",
	       "{\"rootfs\":{\"diff_ids\":[\"" D64 "\"]},\"config\":{\"Env\":[\"A=1\"],"
	       "\"Cmd\":null,\"User\":\"u\"}}",
	       NULL);
	config("config: diff_ids string", "{\"rootfs\":{\"diff_ids\":\"x\"}}",
	       "config: rootfs.diff_ids: not an array");
	config("config: diff_id not a digest", "{\"rootfs\":{\"diff_ids\":[\"md5:1\"]}}",
	       "is not a sha256 digest");
	config("config: no rootfs", "{}", "config: rootfs: missing");
	config("config: Env string", "{\"rootfs\":{\"diff_ids\":[]},\"config\":{\"Env\":\"A=1\"}}",
	       "config: config.Env: not an array");
	config("config: Entrypoint element",
	       "{\"rootfs\":{\"diff_ids\":[]},\"config\":"
	       "{\"Entrypoint\":[\"sh\",null]}}",
	       "config.Entrypoint[1]: not a string");
	index_("index: good",
	       "{\"manifests\":[{\"digest\":\"" D64 "\",\"annotations\":"
	       "{\"org.opencontainers.image.ref.name\":\"v1\"}}]}",
	       NULL);
	index_("index: manifests object", "{\"manifests\":{}}",
	       "index.json: manifests: not an array");
	index_("index: digest bad", "{\"manifests\":[{\"digest\":\"sha256:../../x\"}]}",
	       "manifests[0].digest: 'sha256:../../x' is not a sha256 digest");
	entry("./usr/bin/x", S_IFREG, NULL, NULL, NULL);
	entry("../x", S_IFREG, NULL, NULL, "'..'");
	entry("/etc/passwd", S_IFREG, NULL, NULL, "absolute");
	entry("dev/mem", S_IFCHR, NULL, NULL, "device node");
	entry("hl", S_IFREG, "../../etc/shadow", NULL, "hard link outside");
	entry("a/up", S_IFLNK, NULL, "../../etc", "symlink pointing outside");
	entry("a/in", S_IFLNK, NULL, "../etc", NULL);
	{
		struct herr e = {0};
		char zeros[1024] = {0};

		/* two zero blocks: an empty tar */
		expect("memory: empty tar", archive_check_memory(zeros, sizeof(zeros), &e), &e,
		       NULL);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
