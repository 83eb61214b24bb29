#include "errors.h"

#include <stdio.h>
#include <string.h>

int herr_set(struct herr *e, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	len = strlen(e->msg);
	if (errnum != 0 && len < sizeof(e->msg))
		snprintf(e->msg + len, sizeof(e->msg) - len, ": %s", strerror(errnum));
	if (e->exit_code == 0)
		e->exit_code = EXIT_SETUP;
	return -1;
}

int herr_hint(struct herr *e, const char *fmt, ...)
{
	size_t len = strlen(e->msg);
	va_list ap;

	if (len + 2 >= sizeof(e->msg))
		return -1;
	memcpy(e->msg + len, "; ", 2);
	len += 2;
	va_start(ap, fmt);
	vsnprintf(e->msg + len, sizeof(e->msg) - len, fmt, ap);
	va_end(ap);
	return -1;
}

void herr_report(const struct herr *e)
{
	fprintf(stderr, "hutch: %s\n", e->msg);
	fflush(stderr);
}

void hutch_notice(const char *fmt, ...)
{
	va_list ap;

	fputs("hutch: notice: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

void hutch_say(int verbose, const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	fputs("hutch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
