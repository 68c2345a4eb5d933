/* The growable byte buffer and the string vector, both grown through lt_array_grow. */
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

void lt_buf_init(lt_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
	lt_buf_reserve(b, 0);
}

void lt_buf_reserve(lt_buf *b, size_t extra)
{
	if (extra > SIZE_MAX - b->len - 1)
		lt_oom();
	bool fresh = b->data == NULL;
	b->data = lt_array_grow(b->data, 1, b->len + extra + 1, &b->cap);
	if (fresh)
		b->data[0] = '\0';
}

void lt_buf_addn(lt_buf *b, const void *s, size_t n)
{
	lt_buf_reserve(b, n);
	if (n > 0)
		memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void lt_buf_add(lt_buf *b, const char *s)
{
	lt_buf_addn(b, s, strlen(s));
}

void lt_buf_addc(lt_buf *b, char c)
{
	lt_buf_addn(b, &c, 1);
}

void lt_buf_vprintf(lt_buf *b, const char *fmt, va_list ap)
{
	va_list copy;
	va_copy(copy, ap);
	int n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		lt_oom(); /* only an encoding error or ENOMEM, and our formats have no wide strings
			   */
	lt_buf_reserve(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void lt_buf_printf(lt_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lt_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void lt_buf_truncate(lt_buf *b, size_t len)
{
	if (b->data != NULL && len < b->len) {
		b->len = len;
		b->data[len] = '\0';
	}
}

char *lt_buf_steal(lt_buf *b, size_t *len)
{
	lt_buf_reserve(b, 0);
	char *s = b->data;
	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}

void lt_buf_free(lt_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void lt_strv_push(lt_strv *s, char *str)
{
	lt_array_reserve(s, s->n + 2);
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
}

void lt_strv_add(lt_strv *s, const char *str)
{
	lt_strv_push(s, lt_xstrdup(str));
}

char **lt_strv_steal(lt_strv *s)
{
	if (s->v == NULL)
		lt_array_reserve(s, 1);
	s->v[s->n] = NULL;
	char **v = s->v;
	s->v = NULL;
	s->n = s->cap = 0;
	return v;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void lt_strv_sort(lt_strv *s)
{
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), cmp_str);
}

void lt_strv_clear(lt_strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

void lt_strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p != NULL; p++)
		free(*p);
	free(v);
}
