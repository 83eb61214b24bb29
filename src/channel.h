/* The socketpair between the monitor (outside) and the sandbox's init (inside): a few typed
 * messages, one of which may carry a file descriptor (the pty master). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

enum msg_type {
	MSG_GO = 1, /* monitor -> init: the id maps are written */
	MSG_READY,  /* init -> monitor: the sandbox is built (may carry the pty master) */
	MSG_ERROR,  /* init -> monitor: setup failed; text says why */
	MSG_EXIT,   /* init -> monitor: the command exited (exit_code), nothing else runs */
};

struct msg {
	uint32_t type;
	int32_t exit_code;
	char text[sizeof(((struct herr *)0)->msg)];
};

#define CHANNEL_MAX_FDS 3 /* the keeper: its user namespace and two spares */

int channel_pair(int sv[2], struct herr *e);
/* The general forms: up to CHANNEL_MAX_FDS descriptors travel with the message; fds[] slots
 * without one come back as -1. */
int channel_send_fds(int sock, enum msg_type type, const struct herr *err, const int *fds,
		     size_t nfds);
int channel_recv_fds(int sock, struct msg *m, int *fds, size_t nfds);
/* Send a message; `err` (may be NULL) fills the text, `fd` >= 0 travels with SCM_RIGHTS. */
int channel_send(int sock, enum msg_type type, const struct herr *err, int fd);
/* Receive one message: 0 on success, -1 with errno set, or 1 when the peer has gone (EOF). */
int channel_recv(int sock, struct msg *m, int *fd);
