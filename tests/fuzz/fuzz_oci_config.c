/* OCI config.json (src/oci-config.c): an engine hands hutch a bundle, and its config.json says
 * what to run, mount, limit and join. oci_config_parse reads the text as oci_config_load does
 * once it has read the file, and changes nothing on the host (it only looks: root.path exists,
 * linux.devices' host nodes, the writable cgroups). The bundle is a directory of the harness's
 * own, made at start with an empty rootfs/ (so a root.path of "rootfs" exists) and removed at
 * exit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "libseccomp-leak.h"
#include "oci.h"
#include "plan.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char bundle[] = "/tmp/hutch-fuzz-oci.XXXXXX";
static char rootfs[sizeof(bundle) + 8];
static FILE *warnings;

static void cleanup(void)
{
	rmdir(rootfs);
	rmdir(bundle);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!mkdtemp(bundle))
		abort();
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", bundle);
	if (mkdir(rootfs, 0700) < 0)
		abort();
	atexit(cleanup);
	warnings = fopen("/dev/null", "we");
	if (!warnings)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_config cfg;
	struct herr e = {0};
	struct plan p;
	char *text;

	if (size > 1 << 20)
		return -1;
	/* exactly the bytes, no NUL after them: the parser is given the length */
	text = malloc(size ? size : 1);
	memcpy(text, data, size);
	plan_init(&p);
	if (oci_config_parse(text, size, bundle, &p, warnings, &cfg, &e) == 0)
		oci_config_free(&cfg);
	oci_plan_free(&p);
	free(text);
	return 0;
}
