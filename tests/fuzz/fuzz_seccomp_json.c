/* OCI runtime-spec / Docker JSON seccomp profiles (src/seccomp-json.c): `--seccomp FILE.json`
 * and an OCI bundle's linux.seccomp come from whoever wrote the file. The first byte chooses
 * the capabilities the command keeps (none, CAP_SYS_ADMIN and CAP_SYS_PTRACE, or all), for the
 * rules' includes and excludes; the rest is the profile. One that parses is also compiled
 * (libseccomp, in memory; tests/fuzz/compile.h says how): nothing is installed. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "compile.h"
#include "libseccomp-leak.h"
#include "seccomp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t caps[] = {0, 1ULL << 21 | 1ULL << 19, ~0ULL};
	struct sc_profile prof = {0};
	struct sc_filters out = {0};
	struct herr e = {0};
	char *text;

	if (size == 0 || size >= 1 << 20 || memchr(data + 1, 0, size - 1))
		return -1;
	text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = 0;
	if (sc_profile_parse_json("fuzz.json", text, caps[data[0] % 3], &prof, &e) == 0 &&
	    fuzz_compile(&prof, "fuzz.json", &out, &e) == 0)
		sc_filters_free(&out);
	sc_profile_free(&prof);
	free(text);
	return 0;
}
