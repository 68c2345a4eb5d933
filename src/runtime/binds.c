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

/* One "src[:dst[:opts]]" item; opts is "ro" or "rw" (comma lists are split by the caller). */
static int parse_one(const char *item, rt_bind **binds, size_t *n, lt_error **err)
{
	char *copy = lt_xstrdup(item);
	char *parts[3] = {copy, NULL, NULL};
	int count = 1;
	for (char *p = copy; *p && count < 3; p++) {
		if (*p == ':') {
			*p = '\0';
			parts[count++] = p + 1;
		}
	}
	const char *src = parts[0], *dst = parts[1] && *parts[1] ? parts[1] : parts[0];
	bool ro = false;
	int rc = 0;
	if (*src == '\0') {
		rc = lt_error_set(err, 0, "bind '%s': empty source path", item);
	} else if (parts[2] != NULL) {
		if (strcmp(parts[2], "ro") == 0)
			ro = true;
		else if (strcmp(parts[2], "rw") != 0)
			rc = lt_error_set(err, 0, "bind '%s': unknown option '%s' (ro or rw)", item,
					  parts[2]);
	}
	if (rc == 0 && dst[0] != '/')
		rc = lt_error_set(err, 0, "bind '%s': the destination must be an absolute path",
				  item);
	if (rc == 0)
		add_bind(binds, n, src, dst, ro);
	free(copy);
	return rc;
}

int rt_parse_binds(const char *spec, rt_bind **binds, size_t *n, lt_error **err)
{
	char *copy = lt_xstrdup(spec);
	int rc = 0;
	char *save = NULL;
	for (char *item = strtok_r(copy, ",", &save); item && rc == 0;
	     item = strtok_r(NULL, ",", &save)) {
		/* "ro"/"rw" alone continue the previous item (src:dst,ro is not valid in Apptainer
		 * either, but "a:/a:ro,b" is) */
		while (*item == ' ')
			item++;
		if (*item)
			rc = parse_one(item, binds, n, err);
	}
	free(copy);
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
