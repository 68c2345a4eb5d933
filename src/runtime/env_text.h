/* Small string helpers of the environment code (env.c, env_sh.c, env_emulate.c). Internal to
 * the runtime module. */
#ifndef LITHO_RUNTIME_ENV_TEXT_H
#define LITHO_RUNTIME_ENV_TEXT_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* Whether s[0..len) is one of the n names in list. */
static inline bool in_list(const char *s, size_t len, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0)
			return true;
	return false;
}

#endif
