/* Text files built into the binary at build time (src/embed.py). */
#pragma once
#include <stddef.h>

struct builtin_text {
	const char *name; /* file name without extension; NULL ends the table */
	const char *text;
};

extern const struct builtin_text builtin_policies[];
