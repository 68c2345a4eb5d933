#include <stdlib.h>

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
