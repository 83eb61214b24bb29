#include "lazy.h"

#include <archive.h>
#include <archive_entry.h>
#include <arpa/nameser.h>
#include <dlfcn.h>
#include <openssl/evp.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <stdlib.h>

const struct lazy_lib lazy_slirp = {"libslirp.so.0", "libslirp0"};
const struct lazy_lib lazy_archive = {"libarchive.so.13", "libarchive13"};
const struct lazy_lib lazy_crypto = {"libcrypto.so.3", "libssl3"};
const struct lazy_lib lazy_resolv = {"libresolv.so.2", "libc6"};

static void *lazy_open(const struct lazy_lib *lib, struct herr *e)
{
	void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		herr_set(e, 0, "cannot load %s (%s)", lib->soname, dlerror());
		herr_hint(e, "install the package %s", lib->package);
	}
	return h;
}

int lazy_require(const struct lazy_lib *lib, struct herr *e)
{
	return lazy_open(lib, e) ? 0 : -1;
}

/* A forwarder cannot return an error of its own: a library that vanished between
 * lazy_require() and here is a broken installation, reported and fatal. */
static void *lazy_symbol(const struct lazy_lib *lib, const char *name)
{
	struct herr e = {0};
	void *h = lazy_open(lib, &e), *sym = h ? dlsym(h, name) : NULL;

	if (!sym) {
		if (h)
			herr_set(&e, 0, "%s has no %s", lib->soname, name);
		herr_report(&e);
		exit(EXIT_SETUP);
	}
	return sym;
}

/* Each forwarder keeps the address it looked up: written once, on first use, and the same
 * for the life of the process (the only state here). */
#define LAZY(lib, ret, name, params, args)                                                         \
	ret name params                                                                            \
	{                                                                                          \
		static __typeof__(&name) fn;                                                       \
		if (!fn)                                                                           \
			fn = (__typeof__(&name))lazy_symbol(&lib, #name);                          \
		return fn args;                                                                    \
	}
#define LAZY_VOID(lib, name, params, args)                                                         \
	void name params                                                                           \
	{                                                                                          \
		static __typeof__(&name) fn;                                                       \
		if (!fn)                                                                           \
			fn = (__typeof__(&name))lazy_symbol(&lib, #name);                          \
		fn args;                                                                           \
	}

/* libslirp: --net slirp (src/slirp.c, src/publish.c) */
LAZY(lazy_slirp, Slirp *, slirp_new, (const SlirpConfig *cfg, const SlirpCb *cb, void *opaque),
     (cfg, cb, opaque))
LAZY_VOID(lazy_slirp, slirp_cleanup, (Slirp * s), (s))
LAZY_VOID(lazy_slirp, slirp_pollfds_fill,
	  (Slirp * s, uint32_t *timeout, SlirpAddPollCb add, void *opaque),
	  (s, timeout, add, opaque))
LAZY_VOID(lazy_slirp, slirp_pollfds_poll,
	  (Slirp * s, int select_error, SlirpGetREventsCb get, void *opaque),
	  (s, select_error, get, opaque))
LAZY_VOID(lazy_slirp, slirp_input, (Slirp * s, const uint8_t *pkt, int len), (s, pkt, len))
LAZY(lazy_slirp, int, slirp_add_hostxfwd,
     (Slirp * s, const struct sockaddr *haddr, socklen_t hlen, const struct sockaddr *gaddr,
      socklen_t glen, int flags),
     (s, haddr, hlen, gaddr, glen, flags))
LAZY_VOID(lazy_slirp, slirp_handle_timer, (Slirp * s, SlirpTimerId id, void *opaque),
	  (s, id, opaque))

/* libcrypto: sha256 of image blobs (src/archive.c) */
LAZY(lazy_crypto, EVP_MD_CTX *, EVP_MD_CTX_new, (void), ())
LAZY_VOID(lazy_crypto, EVP_MD_CTX_free, (EVP_MD_CTX * c), (c))
LAZY(lazy_crypto, const EVP_MD *, EVP_sha256, (void), ())
LAZY(lazy_crypto, int, EVP_DigestInit_ex, (EVP_MD_CTX * c, const EVP_MD *t, ENGINE *impl),
     (c, t, impl))
LAZY(lazy_crypto, int, EVP_DigestUpdate, (EVP_MD_CTX * c, const void *d, size_t n), (c, d, n))
LAZY(lazy_crypto, int, EVP_DigestFinal_ex, (EVP_MD_CTX * c, unsigned char *md, unsigned int *s),
     (c, md, s))

/* libarchive: image import (src/archive.c, src/image-import.c) */
LAZY(lazy_archive, struct archive *, archive_read_new, (void), ())
LAZY(lazy_archive, struct archive *, archive_write_disk_new, (void), ())
LAZY(lazy_archive, int, archive_read_free, (struct archive * a), (a))
LAZY(lazy_archive, int, archive_write_free, (struct archive * a), (a))
LAZY(lazy_archive, int, archive_write_close, (struct archive * a), (a))
LAZY(lazy_archive, int, archive_write_finish_entry, (struct archive * a), (a))
LAZY(lazy_archive, int, archive_read_support_filter_all, (struct archive * a), (a))
LAZY(lazy_archive, int, archive_read_support_format_gnutar, (struct archive * a), (a))
LAZY(lazy_archive, int, archive_read_support_format_raw, (struct archive * a), (a))
LAZY(lazy_archive, int, archive_read_support_format_tar, (struct archive * a), (a))
LAZY(lazy_archive, const char *, archive_error_string, (struct archive * a), (a))
LAZY(lazy_archive, int, archive_read_open_fd, (struct archive * a, int fd, size_t b), (a, fd, b))
LAZY(lazy_archive, int, archive_read_open_memory, (struct archive * a, const void *buf, size_t n),
     (a, buf, n))
LAZY(lazy_archive, int, archive_read_next_header, (struct archive * a, struct archive_entry **en),
     (a, en))
LAZY(lazy_archive, la_ssize_t, archive_read_data, (struct archive * a, void *buf, size_t n),
     (a, buf, n))
LAZY(lazy_archive, int, archive_read_data_block,
     (struct archive * a, const void **buf, size_t *n, la_int64_t *off), (a, buf, n, off))
LAZY(lazy_archive, int, archive_write_disk_set_options, (struct archive * a, int flags), (a, flags))
LAZY(lazy_archive, int, archive_write_header, (struct archive * a, struct archive_entry *en),
     (a, en))
LAZY(lazy_archive, la_ssize_t, archive_write_data_block,
     (struct archive * a, const void *buf, size_t n, la_int64_t off), (a, buf, n, off))
LAZY(lazy_archive, mode_t, archive_entry_filetype, (struct archive_entry * en), (en))
LAZY(lazy_archive, la_int64_t, archive_entry_uid, (struct archive_entry * en), (en))
LAZY(lazy_archive, la_int64_t, archive_entry_gid, (struct archive_entry * en), (en))
LAZY(lazy_archive, la_int64_t, archive_entry_size, (struct archive_entry * en), (en))
LAZY(lazy_archive, const char *, archive_entry_pathname, (struct archive_entry * en), (en))
LAZY(lazy_archive, const char *, archive_entry_hardlink, (struct archive_entry * en), (en))
LAZY(lazy_archive, const char *, archive_entry_symlink, (struct archive_entry * en), (en))
LAZY_VOID(lazy_archive, archive_entry_set_uid, (struct archive_entry * en, la_int64_t v), (en, v))
LAZY_VOID(lazy_archive, archive_entry_set_gid, (struct archive_entry * en, la_int64_t v), (en, v))
LAZY_VOID(lazy_archive, archive_entry_set_pathname, (struct archive_entry * en, const char *s),
	  (en, s))
LAZY_VOID(lazy_archive, archive_entry_set_hardlink, (struct archive_entry * en, const char *s),
	  (en, s))

/* libresolv: reading DNS answers for --allow-net hostname rules (src/allow.c) */
LAZY(lazy_resolv, int, ns_initparse, (const unsigned char *msg, int len, ns_msg *handle),
     (msg, len, handle))
LAZY(lazy_resolv, int, ns_parserr, (ns_msg * handle, ns_sect section, int n, ns_rr *rr),
     (handle, section, n, rr))
LAZY(lazy_resolv, int, ns_name_uncompress,
     (const unsigned char *msg, const unsigned char *eom, const unsigned char *src, char *dst,
      size_t size),
     (msg, eom, src, dst, size))
