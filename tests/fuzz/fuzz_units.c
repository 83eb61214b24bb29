/* Sizes and durations, as options and policy files give them (--memory 64M, --tmpfs DST:SIZE,
 * --rlimit fsize=1G, --timeout 30s): parse_size (src/options.c) and --timeout's reader
 * (src/limits.c). Beyond memory errors: a size that parses is the number times its unit, and
 * a duration that parses is at least a millisecond and below 1e12. */
#include <assert.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "limits.h"
#include "options.h"
#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned long long v;
	struct herr e = {0};
	struct plan p;
	char *s;

	if (size > 256)
		return -1;
	/* exactly the string on the heap: a read past its NUL is caught */
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = 0;
	if (parse_size(s, &v) == 0) {
		unsigned long long n = strtoull(s, NULL, 10);

		assert(isdigit((unsigned char)s[0]));
		assert(v == n || v == n << 10 || v == n << 20 || v == n << 30 || v == n << 40);
	}
	plan_init(&p);
	if (limits_set_timeout(&p, "timeout", s, &e) == 0)
		assert(p.timeout_ms >= 1 && p.timeout_ms <= 1000000000000ULL);
	plan_free(&p);
	free(s);
	return 0;
}
