/* The command's environment: a small safe set from outside, HOME inside, then --setenv/--unsetenv.
 * Secrets in the caller's environment (tokens, SSH_AUTH_SOCK, DBUS addresses) stay outside. */
#pragma once
#include "plan.h"
#include "user.h"

char **env_build(const struct plan *p, const struct ids *ids);
void env_free(char **env);
