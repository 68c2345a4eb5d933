#include <stdlib.h>
#include <string.h>

#include "util/util.h"

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

char *lt_json_go_string(const char *str, size_t len, size_t *out_len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	/* no input byte takes more than 6 output bytes ("\u00XX", "\ufffd") */
	char *out = lt_xmalloc(6 * len + 3), *o = out;
	*o++ = '"';
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		if (c >= 0x80) {
			size_t w;
			int32_t r = lt_utf8_decode(s + i, len - i, &w);
			if (r < 0)
				o = stpcpy(o, "\\ufffd");
			else if (r == 0x2028 || r == 0x2029)
				o += sprintf(o, "\\u%04x", (unsigned)r);
			else
				o = mempcpy(o, s + i, w);
			i += w;
			continue;
		}
		i++;
		switch (c) {
		case '"':
		case '\\':
			*o++ = '\\';
			*o++ = (char)c;
			break;
		case '\b':
			o = stpcpy(o, "\\b");
			break;
		case '\f':
			o = stpcpy(o, "\\f");
			break;
		case '\n':
			o = stpcpy(o, "\\n");
			break;
		case '\r':
			o = stpcpy(o, "\\r");
			break;
		case '\t':
			o = stpcpy(o, "\\t");
			break;
		default:
			if (c < 0x20 || c == '<' || c == '>' || c == '&')
				o += sprintf(o, "\\u00%c%c", hex[c >> 4], hex[c & 0xF]);
			else
				*o++ = (char)c;
		}
	}
	*o++ = '"';
	*o = '\0';
	*out_len = (size_t)(o - out);
	return out;
}

char *lt_json_dump_compact(const json_t *value)
{
	char *s = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (s == NULL)
		lt_oom();
	return s;
}

char *lt_json_dump_indent(const json_t *value, int indent)
{
	char *s = json_dumps(value, JSON_INDENT(indent) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	if (s == NULL)
		lt_oom();
	return s;
}
