/* Parsing of -B/--bind and --mount values. */
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"

static void add_bind(rt_bind **binds, size_t *n, const char *src, const char *dst, bool ro)
{
	*binds = lt_xreallocarray(*binds, *n + 1, sizeof(**binds));
	(*binds)[*n] = (rt_bind){.src = lt_xstrdup(src), .dst = lt_xstrdup(dst), .ro = ro};
	(*n)++;
}

/* Splits s at the separators sep that are not escaped with a backslash (at most max parts;
 * the last one keeps the rest); "\," and "\:" become "," and ":" in the parts. */
static size_t split_escaped(const char *s, char sep, char **parts, size_t max)
{
	size_t n = 0;
	const char *start = s;
	for (const char *p = s;; p++) {
		if (*p == '\\' && (p[1] == ',' || p[1] == ':')) {
			p++;
			continue;
		}
		if (*p != '\0' && (*p != sep || n + 1 == max))
			continue;
		char *part = lt_xmalloc((size_t)(p - start) + 1), *o = part;
		for (const char *q = start; q < p; q++) {
			if (*q == '\\' && q + 1 < p && (q[1] == ',' || q[1] == ':'))
				q++;
			*o++ = *q;
		}
		*o = '\0';
		parts[n++] = part;
		if (*p == '\0')
			break;
		start = p + 1;
	}
	return n;
}

/* One "src[:dst[:opts]]" item; opts is "ro" or "rw". */
static int parse_one(const char *item, rt_bind **binds, size_t *n, lt_error **err)
{
	char *parts[3] = {NULL, NULL, NULL};
	split_escaped(item, ':', parts, 3);
	const char *src = parts[0], *dst = parts[1] && *parts[1] ? parts[1] : parts[0];
	bool ro = false;
	int rc = 0;
	if (*src == '\0') {
		rc = lt_error_set(err, 0, "bind '%s': empty source path", item);
	} else if (parts[2] != NULL) {
		if (strcmp(parts[2], "ro") == 0)
			ro = true;
		else if (strcmp(parts[2], "rw") != 0)
			rc = lt_error_set(err, 0,
					  "bind '%s': %s is not a valid bind option (ro or rw)",
					  item, parts[2]);
	}
	if (rc == 0 && dst[0] != '/')
		rc = lt_error_set(err, 0,
				  "bind '%s': unable to add %s to mount list: destination must be "
				  "an absolute path",
				  item, src);
	if (rc == 0)
		add_bind(binds, n, src, dst, ro);
	for (size_t i = 0; i < 3; i++)
		free(parts[i]);
	return rc;
}

int rt_parse_binds(const char *spec, rt_bind **binds, size_t *n, lt_error **err)
{
	/* items are separated by unescaped commas; each keeps its escapes for parse_one */
	int rc = 0;
	const char *start = spec;
	for (const char *p = spec; rc == 0; p++) {
		if (*p == '\\' && (p[1] == ',' || p[1] == ':')) {
			p++;
			continue;
		}
		if (*p != ',' && *p != '\0')
			continue;
		char *item = lt_xstrndup(start, (size_t)(p - start));
		char *t = item;
		while (*t == ' ')
			t++;
		size_t len = strlen(t);
		while (len > 0 && t[len - 1] == ' ')
			t[--len] = '\0';
		if (*t)
			rc = parse_one(t, binds, n, err);
		free(item);
		if (*p == '\0')
			break;
		start = p + 1;
	}
	return rc;
}

int rt_parse_mount(const char *spec, rt_bind **binds, size_t *n, lt_error **err)
{
	char *copy = lt_xstrdup(spec);
	const char *src = NULL, *dst = NULL, *type = "bind";
	bool ro = false;
	int rc = 0;
	char *save = NULL;
	for (char *kv = strtok_r(copy, ",", &save); kv && rc == 0;
	     kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		const char *v = eq ? eq + 1 : "";
		if (eq)
			*eq = '\0';
		if (strcmp(kv, "type") == 0)
			type = v;
		else if (strcmp(kv, "source") == 0 || strcmp(kv, "src") == 0)
			src = v;
		else if (strcmp(kv, "destination") == 0 || strcmp(kv, "dst") == 0 ||
			 strcmp(kv, "target") == 0)
			dst = v;
		else if (strcmp(kv, "readonly") == 0 || strcmp(kv, "ro") == 0)
			ro = !eq || strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
		else if (strcmp(kv, "bind-propagation") == 0)
			continue;
		else
			rc = lt_error_set(err, 0, "--mount '%s': unknown field '%s'", spec, kv);
	}
	if (rc == 0 && strcmp(type, "bind") != 0)
		rc = lt_error_set(err, 0, "--mount '%s': only type=bind is supported", spec);
	if (rc == 0 && (src == NULL || *src == '\0'))
		rc = lt_error_set(err, 0, "--mount '%s': source is required", spec);
	if (rc == 0 && (dst == NULL || dst[0] != '/'))
		rc =
		    lt_error_set(err, 0, "--mount '%s': an absolute destination is required", spec);
	if (rc == 0)
		add_bind(binds, n, src, dst, ro);
	free(copy);
	return rc;
}

void rt_binds_free(rt_bind *binds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(binds[i].src);
		free(binds[i].dst);
	}
	free(binds);
}
