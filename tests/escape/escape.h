/* The escape battery's common part: each program tries one attack from inside a sandbox and
 * checks that it fails the safe way. Every check prints one line, "ok ..." or "ESCAPE ...";
 * the program exits 0 when every attack was stopped, 1 when one got through (or failed in an
 * unexpected way, which would mean the layer meant to stop it did not), 2 when it could not
 * even try. The usual trick: give a bad fd or pointer, so that a call the filter lets through
 * fails harmlessly with EBADF or EFAULT, while a blocked one fails with EPERM or ENOSYS. */
#pragma once
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int escape_failures;

static inline void escape_expect(const char *what, long r, int err, const int *allowed)
{
	if (r >= 0) {
		printf("ESCAPE %s succeeded (returned %ld)\n", what, r);
		escape_failures++;
		return;
	}
	for (const int *a = allowed; *a; a++)
		if (err == *a) {
			printf("ok %s: %s\n", what, strerror(err));
			return;
		}
	printf("ESCAPE %s failed with %s, not the expected error: the layer meant to stop it "
	       "did not\n",
	       what, strerror(err));
	escape_failures++;
}

/* EXPECT(call, E1, E2...): the call must fail with one of the errnos. */
#define EXPECT(call, ...)                                                                          \
	do {                                                                                       \
		errno = 0;                                                                         \
		long r_ = (long)(call);                                                            \
		int e_ = errno;                                                                    \
		escape_expect(#call, r_, e_, (const int[]){__VA_ARGS__, 0});                       \
	} while (0)

/* CHECK(cond, what): a condition that must hold. */
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (cond) {                                                                        \
			printf("ok ");                                                             \
		} else {                                                                           \
			printf("ESCAPE ");                                                         \
			escape_failures++;                                                         \
		}                                                                                  \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
	} while (0)

static inline int escape_done(void)
{
	fflush(stdout);
	return escape_failures ? 1 : 0;
}

static inline void escape_cannot(const char *why)
{
	printf("cannot test: %s: %s\n", why, strerror(errno));
	exit(2);
}
