/* `hutch completion bash`: the bash completion script, made from the option table, so it can
 * never miss an option. meson runs it at build time and installs the result. */
#pragma once
#include <stdio.h>

void completion_bash(FILE *out);
