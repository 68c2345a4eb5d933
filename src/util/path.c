#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* Splits `path` into elements and rebuilds it, dropping empty and "." elements. ".." removes
 * the previous element; with nothing left to remove it is kept for relative paths (like Go's
 * path.Clean) or dropped when `confine` is set or the path is absolute. */
static char *clean_elements(const char *path, bool absolute, bool confine, bool *clamped)
{
	size_t n = strlen(path);
	char *out = lt_xmalloc(n + 2);
	size_t len = 0;
	/* Length of the prefix made of ".." elements that cannot be removed (relative paths). */
	size_t fixed = 0;
	if (absolute)
		out[len++] = '/';
	size_t base = len;

	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = p;
		while (*e && *e != '/')
			e++;
		size_t el = (size_t)(e - p);
		if (el == 1 && p[0] == '.') {
			/* skip */
		} else if (el == 2 && p[0] == '.' && p[1] == '.') {
			if (len > base + fixed) {
				/* remove the last element */
				while (len > base + fixed && out[len - 1] != '/')
					len--;
				if (len > base + fixed)
					len--; /* the separator */
				else if (len > base && out[len - 1] == '/')
					len--;
			} else if (absolute || confine) {
				if (clamped)
					*clamped = true;
			} else {
				if (len > base)
					out[len++] = '/';
				out[len++] = '.';
				out[len++] = '.';
				fixed = len - base;
			}
		} else {
			if (len > base)
				out[len++] = '/';
			memcpy(out + len, p, el);
			len += el;
		}
		p = e;
	}
	out[len] = '\0';
	return out;
}

char *lt_path_clean(const char *path)
{
	bool absolute = path[0] == '/';
	char *out = clean_elements(path, absolute, false, NULL);
	if (out[0] == '\0') {
		free(out);
		return lt_xstrdup(".");
	}
	return out;
}

char *lt_path_confine(const char *name, bool *clamped)
{
	bool dummy = false;
	if (clamped == NULL)
		clamped = &dummy;
	if (name[0] == '/')
		*clamped = true;
	return clean_elements(name, false, true, clamped);
}

char *lt_path_join(const char *a, const char *b)
{
	size_t la = strlen(a);
	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	if (la == 1 && a[0] == '/')
		return lt_strdup_printf("/%s", b);
	if (*b == '\0')
		return lt_xstrndup(a, la);
	return lt_strdup_printf("%.*s/%s", (int)la, a, b);
}

char *lt_path_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		return lt_xstrdup(".");
	if (slash == path)
		return lt_xstrdup("/");
	return lt_xstrndup(path, (size_t)(slash - path));
}

const char *lt_path_basename(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}
