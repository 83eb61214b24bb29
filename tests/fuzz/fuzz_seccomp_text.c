/* Text seccomp profiles (hutch-seccomp(5), src/seccomp-profile.c): `--seccomp FILE` and a
 * policy's `seccomp FILE` read whatever file they are given. A profile that parses is also
 * compiled (libseccomp, in memory; tests/fuzz/compile.h says how): nothing is installed. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "compile.h"
#include "libseccomp-leak.h"
#include "seccomp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sc_profile prof = {0};
	struct sc_filters out = {0};
	struct herr e = {0};
	char *text;

	/* sc_read_file's limit and its refusal of binary files */
	if (size >= 1 << 20 || memchr(data, 0, size))
		return -1;
	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = 0;
	if (sc_profile_parse_text("fuzz", text, &prof, &e) == 0 &&
	    fuzz_compile(&prof, "fuzz", &out, &e) == 0)
		sc_filters_free(&out);
	sc_profile_free(&prof);
	free(text);
	return 0;
}
