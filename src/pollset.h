/* The monitor's event sources, gathered afresh for each poll(): a growable array of pollfds. */
#pragma once
#include <poll.h>
#include <stddef.h>

#include "util.h"

struct pollset {
	struct pollfd *v;
	size_t n, cap;
};

/* Add fd (ignored by poll when < 0); returns its index, to read revents after the poll. */
static inline int pollset_add(struct pollset *ps, int fd, short events)
{
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? ps->cap * 2 : 16;
		ps->v = xreallocarray(ps->v, ps->cap, sizeof(*ps->v));
	}
	ps->v[ps->n] = (struct pollfd){.fd = fd, .events = events};
	return (int)ps->n++;
}

static inline short pollset_revents(const struct pollset *ps, int i)
{
	return i >= 0 && (size_t)i < ps->n ? ps->v[i].revents : 0;
}
