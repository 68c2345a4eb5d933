/* The byte buffer and the encoders that reproduce Go's output byte for byte: encoding/json
 * strings and maps, strconv.Quote (fmt's %q), and Apptainer's shell escaping. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meta_internal.h"

void meta_buf_init(meta_buf *b)
{
	b->cap = 64;
	b->len = 0;
	b->data = lt_xmalloc(b->cap);
	b->data[0] = '\0';
}

static void mb_reserve(meta_buf *b, size_t extra)
{
	if (b->data == NULL)
		meta_buf_init(b);
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap;
	while (b->len + extra + 1 > cap)
		cap *= 2;
	b->data = lt_xrealloc(b->data, cap);
	b->cap = cap;
}

void meta_buf_addn(meta_buf *b, const char *s, size_t n)
{
	mb_reserve(b, n);
	if (n > 0)
		memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void meta_buf_add(meta_buf *b, const char *s)
{
	meta_buf_addn(b, s, strlen(s));
}

void meta_buf_addc(meta_buf *b, char c)
{
	meta_buf_addn(b, &c, 1);
}

void meta_buf_printf(meta_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = lt_strdup_vprintf(fmt, ap);
	va_end(ap);
	meta_buf_add(b, s);
	free(s);
}

char *meta_buf_steal(meta_buf *b, size_t *len)
{
	if (b->data == NULL)
		meta_buf_init(b);
	char *s = b->data;
	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}

void meta_buf_free(meta_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void meta_buf_add_json_string(meta_buf *b, const char *s, size_t len)
{
	size_t n;
	char *q = lt_json_go_string(s, len, &n);
	meta_buf_addn(b, q, n);
	free(q);
}

void meta_buf_add_shell_escape(meta_buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' || s[i] == '"' || s[i] == '`' || s[i] == '$')
			meta_buf_addc(b, '\\');
		meta_buf_addc(b, s[i]);
	}
}

void meta_buf_add_escape_single(meta_buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\'')
			meta_buf_add(b, "'\"'\"'");
		else
			meta_buf_addc(b, s[i]);
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

void meta_buf_add_json_string_map(meta_buf *b, const json_t *obj, bool indent)
{
	size_t n = json_object_size(obj);
	if (n == 0) {
		meta_buf_add(b, "{}");
		return;
	}
	size_t k;
	const char **keys = lt_json_sorted_keys(obj, &k);
	meta_buf_addc(b, '{');
	for (size_t i = 0; i < k; i++) {
		if (i > 0)
			meta_buf_addc(b, ',');
		if (indent)
			meta_buf_add(b, "\n\t");
		meta_buf_add_json_string(b, keys[i], strlen(keys[i]));
		meta_buf_add(b, indent ? ": " : ":");
		size_t vlen;
		const char *v = meta_jstr(json_object_get(obj, keys[i]), &vlen);
		meta_buf_add_json_string(b, v, vlen);
	}
	if (indent)
		meta_buf_addc(b, '\n');
	meta_buf_addc(b, '}');
	free(keys);
}
