/*
 * Libraries that only some commands need, loaded when first used.
 *
 * libslirp (--net slirp) drags in glib; libarchive (image import) drags in libxml2, ICU and
 * libstdc++; libcrypto (blob digests) is large. Linked normally, the dynamic loader maps and
 * relocates all of them at every exec: that alone took `hutch run -- /bin/true` from about
 * 0.65x to 1.5x bubblewrap's start (BENCHMARKS.md). libresolv is small but only --allow-net
 * hostname rules need it. So hutch links only their headers, and
 * src/lazy.c defines each function it calls as a small forwarder that dlopen()s the library
 * on first use.
 */
#pragma once
#include "errors.h"

struct lazy_lib {
	const char *soname;  /* what dlopen() loads */
	const char *package; /* the Debian package that ships it, for the error */
};

extern const struct lazy_lib lazy_slirp, lazy_archive, lazy_crypto, lazy_resolv;

/* Load `lib` now, so a missing library is a clean error (exit 125) before any work starts.
 * The forwarders load it too, but can only exit if that fails. */
int lazy_require(const struct lazy_lib *lib, struct herr *e);
