#include <stdlib.h>

#include "util/util.h"

static enum lt_log_level current_level = LT_LOG_INFO;

void lt_log_set_level(enum lt_log_level level)
{
	current_level = level;
}

enum lt_log_level lt_log_get_level(void)
{
	return current_level;
}

/* One fprintf per message so that lines from several threads do not interleave. */
LT_PRINTF(3, 0)
static void emit(enum lt_log_level level, const char *prefix, const char *fmt, va_list ap)
{
	if (current_level < level)
		return;
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		return;
	fprintf(stderr, "%s%s\n", prefix, msg);
	free(msg);
}

#define DEFINE_LOG(name, level, prefix)                                                            \
	void name(const char *fmt, ...)                                                            \
	{                                                                                          \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		emit(level, prefix, fmt, ap);                                                      \
		va_end(ap);                                                                        \
	}

DEFINE_LOG(lt_warn, LT_LOG_INFO, "WARNING: ")
DEFINE_LOG(lt_info, LT_LOG_INFO, "INFO:    ")
DEFINE_LOG(lt_verbose, LT_LOG_VERBOSE, "VERBOSE: ")
DEFINE_LOG(lt_debug, LT_LOG_DEBUG, "DEBUG:   ")
