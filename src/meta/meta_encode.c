/* The encoders that reproduce Go's output byte for byte: encoding/json
 * strings and maps, strconv.Quote (fmt's %q), and Apptainer's shell escaping. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meta_internal.h"

void meta_add_json_string(lt_buf *b, const char *s, size_t len)
{
	size_t n;
	char *q = lt_json_go_string(s, len, &n);
	lt_buf_addn(b, q, n);
	free(q);
}

void meta_add_shell_escape(lt_buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' || s[i] == '"' || s[i] == '`' || s[i] == '$')
			lt_buf_addc(b, '\\');
		lt_buf_addc(b, s[i]);
	}
}

void meta_add_escape_single(lt_buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\'')
			lt_buf_add(b, "'\"'\"'");
		else
			lt_buf_addc(b, s[i]);
	}
}

const char *meta_jstr(const json_t *v, size_t *len)
{
	if (!json_is_string(v)) {
		*len = 0;
		return "";
	}
	*len = json_string_length(v);
	return json_string_value(v);
}

void meta_add_json_string_map(lt_buf *b, const json_t *obj, bool indent)
{
	size_t n = json_object_size(obj);
	if (n == 0) {
		lt_buf_add(b, "{}");
		return;
	}
	size_t k;
	const char **keys = lt_json_sorted_keys(obj, &k);
	lt_buf_addc(b, '{');
	for (size_t i = 0; i < k; i++) {
		if (i > 0)
			lt_buf_addc(b, ',');
		if (indent)
			lt_buf_add(b, "\n\t");
		meta_add_json_string(b, keys[i], strlen(keys[i]));
		lt_buf_add(b, indent ? ": " : ":");
		size_t vlen;
		const char *v = meta_jstr(json_object_get(obj, keys[i]), &vlen);
		meta_add_json_string(b, v, vlen);
	}
	if (indent)
		lt_buf_addc(b, '\n');
	lt_buf_addc(b, '}');
	free(keys);
}
