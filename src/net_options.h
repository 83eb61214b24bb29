/* The option setters of networking (issue 4): they parse --net, --dns, --publish and
 * --allow-net into the plan, so nothing after the command line parses these strings. */
#pragma once
#include "errors.h"
#include "plan.h"

int set_net(struct plan *p, const char *opt, const char *arg, struct herr *e);
int set_share_net_alias(struct plan *p, const char *opt, const char *arg, struct herr *e);
int set_dns(struct plan *p, const char *opt, const char *arg, struct herr *e);
int set_publish(struct plan *p, const char *opt, const char *arg, struct herr *e);
int set_allow_host_loopback(struct plan *p, const char *opt, const char *arg, struct herr *e);
int set_allow_net(struct plan *p, const char *opt, const char *arg, struct herr *e);
