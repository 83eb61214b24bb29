/* What an imported image says about itself (src/image-meta.c): docker-archive's manifest.json,
 * an OCI layout's index.json, its manifest and configuration, and the store's records; and the
 * checks on its tar entries (src/archive.c). `hutch image import` takes archives from anywhere,
 * so every byte is the archive author's. The first byte chooses what the rest is:
 *
 *   0 manifest.json   1 index.json   2 an OCI manifest   3 an image configuration
 *   4 a store record  5 a tar (any compression), every entry checked in memory
 *   6 one tar entry's fields: its type byte, then name, hard link and symlink targets
 *     separated by NUL bytes (a missing one: none)
 *
 * Beyond memory errors: an entry the checks let through has a relative name without a ".."
 * component, and a relative symlink of it does not climb above the root. Readers and checks
 * touch no file. */
#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "archive-io.h"
#include "errors.h"
#include "image-meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_json(unsigned kind, const char *buf, size_t len)
{
	struct docker_manifest dm;
	struct oci_index x;
	struct oci_manifest om;
	struct image_config c;
	struct image_record r;
	struct herr e = {0};

	if (kind == 0 && docker_manifest_read("manifest.json", buf, len, &dm, &e) == 0)
		docker_manifest_free(&dm);
	if (kind == 1 && oci_index_read("index.json", buf, len, &x, &e) == 0)
		oci_index_free(&x);
	if (kind == 2 && oci_manifest_read("manifest", buf, len, &om, &e) == 0)
		oci_manifest_free(&om);
	if (kind == 3 && image_config_read("config", buf, len, &c, &e) == 0)
		image_config_free(&c);
	if (kind == 4 && image_record_read("record", buf, len, &r, &e) == 0)
		image_record_free(&r);
}

/* Does target, followed from the directory name is in, climb above the root? A plain walk over
 * the components of both, "" and "." counting nothing. */
static bool climbs_out(const char *name, const char *target)
{
	long depth = 0;
	char *dir = strdup(name), *slash, *path, *save = NULL;

	/* "a/link/" is the entry a/link, in a */
	for (size_t n = strlen(dir); n && dir[n - 1] == '/'; n--)
		dir[n - 1] = 0;
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		dir[0] = 0;
	path = malloc(strlen(dir) + strlen(target) + 2);
	strcpy(path, dir);
	strcat(path, "/");
	strcat(path, target);
	for (char *c = strtok_r(path, "/", &save); c && depth >= 0; c = strtok_r(NULL, "/", &save))
		if (strcmp(c, "..") == 0)
			depth--;
		else if (strcmp(c, ".") != 0)
			depth++;
	free(path);
	free(dir);
	return depth < 0;
}

static bool has_dotdot(const char *name)
{
	char *copy = strdup(name), *save = NULL;
	bool found = false;

	for (char *c = strtok_r(copy, "/", &save); c && !found; c = strtok_r(NULL, "/", &save))
		found = strcmp(c, "..") == 0;
	free(copy);
	return found;
}

static void one_entry(const char *buf, size_t len)
{
	static const unsigned types[] = {S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO};
	const char *name = buf + 1, *end = buf + len, *hard = NULL, *sym = NULL, *clean = NULL;
	unsigned type = types[(unsigned char)buf[0] % 6];

	/* buf has a NUL at buf[len]: each field ends at its NUL */
	if (name + strlen(name) < end)
		hard = name + strlen(name) + 1;
	if (hard && hard + strlen(hard) < end)
		sym = hard + strlen(hard) + 1;
	if (hard && !hard[0])
		hard = NULL;
	if (archive_entry_refusal(name, type, hard, type == S_IFLNK ? sym : NULL, &clean))
		return;
	assert(clean && clean[0] != '/' && !has_dotdot(clean));
	assert(type != S_IFCHR && type != S_IFBLK);
	assert(!hard || (hard[0] != '/' && !has_dotdot(hard)));
	if (type == S_IFLNK && sym && sym[0] != '/')
		assert(!climbs_out(clean, sym));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct herr e = {0};
	char *buf;

	if (size < 1 || size > 1 << 20 || data[0] > 6)
		return -1;
	/* exactly the bytes, and a NUL after them that the readers are not told of */
	buf = malloc(size);
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = 0;
	if (data[0] <= 4)
		read_json(data[0], buf, size - 1);
	else if (data[0] == 5)
		archive_check_memory(buf, size - 1, &e);
	else if (size > 1)
		one_entry(buf, size - 1);
	free(buf);
	return 0;
}
