#include "caps.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "util.h"

int caps_from_name(const char *name)
{
	_cleanup_free_ char *low =
	    strncasecmp(name, "cap_", 4) == 0 ? xstrdup(name) : xasprintf("cap_%s", name);
	cap_value_t cap;

	for (char *c = low; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return cap_from_name(low, &cap) == 0 && cap >= 0 && cap < 64 ? (int)cap : -1;
}

/* Dropping the bounding set is what keeps a setuid-root binary, or --uid 0's execve, from
 * regaining anything. Capabilities above 63 (none yet) are always dropped. */
static int drop_bounding(uint64_t keep, uint64_t which, struct herr *e)
{
	cap_value_t last = (cap_value_t)cap_max_bits();

	for (cap_value_t cap = 0; cap < last; cap++) {
		bool in = cap >= 64 || (which >> cap) & 1, kept = cap < 64 && (keep >> cap) & 1;

		if (in && !kept && cap_drop_bound(cap) < 0 && errno != EINVAL)
			return herr_set(e, errno, "cannot drop capability %d from the bounding set",
					cap);
	}
	return 0;
}

int caps_drop_bounding(uint64_t keep, struct herr *e)
{
	return drop_bounding(keep, ~0ULL, e);
}

int caps_drop(uint64_t keep, uint64_t bounding, struct herr *e)
{
	cap_value_t last = (cap_value_t)cap_max_bits();
	cap_t c;
	int r;

	/* The bounding set first: it needs CAP_SETPCAP, which goes away with the rest. */
	if (drop_bounding(keep, bounding, e) < 0)
		return -1;
	/* One call: libcap's cap_reset_ambient asks about each capability first (~40 calls). */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return herr_set(e, errno, "cannot clear the ambient capabilities");
	c = cap_init();
	if (!c)
		return herr_set(e, errno, "cap_init");
	for (cap_value_t cap = 0; cap < last && cap < 64; cap++) {
		if (!((keep >> cap) & 1))
			continue;
		cap_set_flag(c, CAP_PERMITTED, 1, &cap, CAP_SET);
		cap_set_flag(c, CAP_EFFECTIVE, 1, &cap, CAP_SET);
		cap_set_flag(c, CAP_INHERITABLE, 1, &cap, CAP_SET);
	}
	r = cap_set_proc(c);
	cap_free(c);
	if (r < 0)
		return herr_set(e, errno, "cannot drop capabilities");
	for (cap_value_t cap = 0; cap < last && cap < 64; cap++)
		if ((keep >> cap) & 1 && cap_set_ambient(cap, CAP_SET) < 0)
			return herr_set(e, errno, "cannot keep capability %s", cap_to_name(cap));
	/* No setuid bit or file capability can grant anything after this. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return herr_set(e, errno, "cannot set no_new_privs");
	return 0;
}
