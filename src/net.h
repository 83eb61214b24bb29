/* The sandbox's network namespace: with no network chosen, only loopback, and it is up. */
#pragma once
#include "errors.h"

int net_loopback_up(struct herr *e);
