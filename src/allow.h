/* The egress policy of --net slirp, applied to every frame the sandbox sends before libslirp
 * sees it: the host's loopback (10.0.2.2, fd00::2) only with --allow-host-loopback, and with
 * --allow-net rules only the listed networks, ports and resolved hostnames. */
#pragma once
#include <stdbool.h>

#include "frame.h"
#include "plan.h"

struct allow;

struct allow *allow_new(const struct plan *p);
void allow_free(struct allow *a);
/* May f (from the sandbox) go out? */
bool allow_frame(struct allow *a, const struct frame *f);
/* After allow_frame() refused f: true when f's connection is open on libslirp's side (a DNS
 * stream cut short in mid-message), with the sequence number that resets it there. */
bool allow_cut(const struct allow *a, uint32_t *seq);
/* f is a DNS answer (UDP, or a TCP segment of one) on its way into the sandbox: learn the
 * addresses of the names that hostname rules allow. */
void allow_snoop_dns(struct allow *a, const struct frame *f);
