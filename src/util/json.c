#include <stdlib.h>
#include <string.h>

#include "util.h"

json_t *lt_json_parse(const char *data, size_t len, const char *what, lt_error **err)
{
	json_error_t jerr;
	json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (v == NULL) {
		lt_error_set(err, 0, "%s: invalid JSON at line %d column %d: %s", what, jerr.line,
			     jerr.column, jerr.text);
		return NULL;
	}
	return v;
}

json_t *lt_json_load_file(const char *path, lt_error **err)
{
	char *data = NULL;
	size_t len = 0;
	if (lt_read_file(path, &data, &len, err) < 0)
		return NULL;
	json_t *v = lt_json_parse(data, len, path, err);
	free(data);
	return v;
}

const char *lt_json_string(const json_t *obj, const char *key)
{
	if (!json_is_object(obj))
		return NULL;
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **lt_json_sorted_keys(const json_t *obj, size_t *n)
{
	size_t k = 0;
	const char **keys = lt_xcalloc(json_object_size(obj) + 1, sizeof(*keys));
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v)
	{
		keys[k++] = key;
	}
	if (k > 0)
		qsort(keys, k, sizeof(*keys), cmp_keys);
	*n = k;
	return keys;
}

char *lt_json_dump_compact(const json_t *value)
{
	char *s = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (s == NULL) {
		fputs("litho: out of memory\n", stderr);
		abort();
	}
	return s;
}

char *lt_json_dump_indent(const json_t *value, int indent)
{
	char *s = json_dumps(value, JSON_INDENT(indent) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	if (s == NULL) {
		fputs("litho: out of memory\n", stderr);
		abort();
	}
	return s;
}
