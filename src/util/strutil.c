#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

const char *lt_env_nonempty(const char *name)
{
	const char *v = getenv(name);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

bool lt_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

const char *lt_str_trim(const char *s, size_t len, size_t *out_len)
{
	while (len > 0 && lt_is_blank(*s)) {
		s++;
		len--;
	}
	while (len > 0 && lt_is_blank(s[len - 1]))
		len--;
	*out_len = len;
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

int32_t lt_utf8_decode(const unsigned char *s, size_t len, size_t *width)
{
	unsigned char c = s[0];
	*width = 1;
	if (c < 0x80)
		return c;
	size_t n;
	int32_t r, min;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		r = c & 0x1F;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		r = c & 0x0F;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		r = c & 0x07;
		min = 0x10000;
	} else {
		return -1;
	}
	if (len < n)
		return -1;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return -1;
		r = (r << 6) | (s[i] & 0x3F);
	}
	if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
		return -1;
	*width = n;
	return r;
}

bool lt_env_name_valid(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
		if (!alpha && (i == 0 || c < '0' || c > '9'))
			return false;
	}
	return true;
}

/* GOARCH of this build: the architecture litho runs as, in Go's (and OCI's) names. */
const char *lt_host_goarch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__i386__)
	return "386";
#elif defined(__arm__)
	return "arm";
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
	return "ppc64le";
#elif defined(__powerpc64__)
	return "ppc64";
#elif defined(__s390x__)
	return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64";
#elif defined(__loongarch64)
	return "loong64";
#else
	return "unknown";
#endif
}

char *lt_which(const char *name)
{
	if (strchr(name, '/') != NULL)
		return access(name, X_OK) == 0 ? lt_xstrdup(name) : NULL;
	const char *path = getenv("PATH");
	if (path == NULL || *path == '\0')
		path = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
	char *copy = lt_xstrdup(path), *save = NULL;
	char *found = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		char *candidate = lt_path_join(*dir ? dir : ".", name);
		struct stat st;
		if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(candidate, X_OK) == 0)
			found = candidate;
		else
			free(candidate);
	}
	free(copy);
	return found;
}
