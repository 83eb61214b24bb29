/* One error object travels up from any depth to a single reporter. */
#pragma once
#include <stdarg.h>

/* Exit statuses that hutch itself produces (the command's own status passes through). */
enum {
	EXIT_SETUP = 125, /* hutch could not build the sandbox */
	EXIT_CANNOT_EXEC = 126,
	EXIT_NOT_FOUND = 127,
};

struct herr {
	int exit_code;	/* what the process should exit with */
	char msg[1024]; /* "WHAT: WHY; what to do" without the "hutch: " prefix */
};

/* Fill e with a formatted message; appends ": strerror(errnum)" when errnum != 0.
 * Always returns -1 so callers can write `return herr_set(...)`. */
__attribute__((format(printf, 3, 4))) int herr_set(struct herr *e, int errnum, const char *fmt,
						   ...);
/* Append "; HINT" telling the user what to do. Returns -1. */
__attribute__((format(printf, 2, 3))) int herr_hint(struct herr *e, const char *fmt, ...);
/* The one reporter: prints "hutch: MSG" on stderr. */
void herr_report(const struct herr *e);
/* A one-line notice that is not an error. */
__attribute__((format(printf, 1, 2))) void hutch_notice(const char *fmt, ...);
/* -v: say what a setup step did (only when verbose is set). */
__attribute__((format(printf, 2, 3))) void hutch_say(int verbose, const char *fmt, ...);
