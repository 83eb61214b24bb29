/* Inside the config.json reader (src/oci-config.c, src/oci-config-linux.c): what its parts
 * share. Every value of the document is read with the typed getters of json-get.h. */
#pragma once
#include <stdio.h>

#include "json-get.h"
#include "plan.h"

struct cfg {
	struct plan *p;
	FILE *warn;
	struct herr *e;
};

/* Set one option of the run table, as `hutch run --NAME VALUE` would. */
int cfg_opt(struct cfg *c, const char *name, const char *value);
__attribute__((format(printf, 2, 3))) void cfg_warn(struct cfg *c, const char *fmt, ...);
/* Warn about the keys of o this front end does not know; `known` is NULL-terminated. */
void cfg_warn_unknown(struct cfg *c, const struct jval *o, const char *const *known);

/* linux.* (src/oci-config-linux.c); process is read before it (the capabilities). */
int cfg_load_linux(struct cfg *c, const struct jval *lx);
