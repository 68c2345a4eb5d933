#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

char *lt_strdup_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0) {
		fputs("litho: out of memory\n", stderr);
		abort();
	}
	return s;
}

bool lt_str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool lt_str_has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);
	return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

int lt_parse_int64(const char *s, int64_t min, int64_t max, const char *what, int64_t *out,
		   lt_error **err)
{
	if (s == NULL || *s == '\0')
		return lt_error_set(err, 0, "%s: empty value", what);
	errno = 0;
	char *end = NULL;
	long long v = strtoll(s, &end, 0);
	if (errno == ERANGE || end == s || *end != '\0')
		return lt_error_set(err, 0, "%s: '%s' is not a valid number", what, s);
	if (v < min || v > max)
		return lt_error_set(err, 0, "%s: %s is out of range [%" PRId64 ", %" PRId64 "]",
				    what, s, min, max);
	*out = v;
	return 0;
}

void lt_format_size(int64_t size, char *buf, size_t len)
{
	if (-1024 < size && size < 1024) {
		snprintf(buf, len, "%" PRId64 " B", size);
		return;
	}
	static const char units[] = "KMGTPE";
	uint64_t div = 1024;
	int exp = 0;
	for (int64_t n = size / 1024; n <= -1024 || n >= 1024; n /= 1024) {
		div *= 1024;
		exp++;
	}
	snprintf(buf, len, "%.0f %ciB", round((double)size / (double)div), units[exp]);
}
