/*
 * The egress policy of --net slirp. One judge, allow_host_socket(), sees every host socket that
 * libslirp connects or sends on (src/hostsock.c), with the destination the host really gets
 * after libslirp's translation: the host's loopback only with --allow-host-loopback, with
 * --allow-net rules only the listed networks, ports and resolved hostnames, never multicast,
 * broadcast or an untranslated address of slirp's virtual networks. On the frames, before
 * libslirp sees them, only the DNS: with --allow-net, only questions about names a hostname
 * rule lists reach a resolver, and only the answers' records for those names are learnt.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "frame.h"
#include "plan.h"

struct allow;

struct allow *allow_new(const struct plan *p);
void allow_free(struct allow *a);

/* May libslirp's host socket fd connect or send to sa? */
bool allow_host_socket(struct allow *a, int fd, const struct sockaddr *sa, socklen_t len);
/* libslirp bound fd (a --publish listener): a UDP one may answer whoever writes to it. */
void allow_note_listener(struct allow *a, int fd);
/* libslirp received on fd from sa. */
void allow_note_peer(struct allow *a, int fd, const struct sockaddr *sa, socklen_t len);

/* May f (from the sandbox) go into libslirp? Only a question to slirp's DNS can be refused
 * here. Until allow_frame_end(), after libslirp has taken f, the judge knows the sockets it
 * opens are f's: a DNS question's socket to the resolver is the DNS's, not the sandbox's
 * choice. allow_frame_end() is true when the judge refused a socket of f's: the caller answers
 * f with allow_refusal(), because libslirp answers a refused datagram only with an ICMP "net
 * unreachable", which Linux does not report to a UDP socket (a soft error), so the program
 * would wait for its timeout. */
bool allow_frame(struct allow *a, const struct frame *f);
bool allow_frame_end(struct allow *a);
/* The answer to a refused f into out: REFUSED from the DNS for a UDP question, else a TCP
 * reset or an ICMP unreachable. Its length, 0 for none. */
size_t allow_refusal(const struct allow *a, const struct frame *f, uint8_t *out, size_t cap);
/* After allow_frame() refused f: true when f's connection is open on libslirp's side (a DNS
 * stream cut short in mid-message), with the sequence number that resets it there. */
bool allow_cut(const struct allow *a, uint32_t *seq);
/* f is a DNS answer (UDP, or a TCP segment of one) on its way into the sandbox: learn the
 * addresses of the names that hostname rules allow. */
void allow_snoop_dns(struct allow *a, const struct frame *f);
