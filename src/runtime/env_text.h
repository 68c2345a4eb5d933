/* Growable strings and string vectors for the environment code (env.c, env_sh.c,
 * env_emulate.c). Internal to the runtime module. */
#ifndef LITHO_RUNTIME_ENV_TEXT_H
#define LITHO_RUNTIME_ENV_TEXT_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

typedef struct sbuf {
	char *d;
	size_t len, cap;
} sbuf;

static inline void sb_addn(sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->d = lt_xrealloc(b->d, b->cap);
	}
	memcpy(b->d + b->len, s, n);
	b->len += n;
	b->d[b->len] = '\0';
}

static inline void sb_add(sbuf *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

static inline void sb_addc(sbuf *b, char c)
{
	sb_addn(b, &c, 1);
}

/* The string (never NULL); b is left empty. */
static inline char *sb_steal(sbuf *b)
{
	char *s = b->d != NULL ? b->d : lt_xstrdup("");
	b->d = NULL;
	b->len = b->cap = 0;
	return s;
}

typedef struct strv {
	char **v;
	size_t n, cap;
} strv;

static inline void sv_push(strv *s, char *str)
{
	if (s->n + 1 >= s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->v = lt_xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
}

static inline void sv_free(strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static inline int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether s[0..len) is one of the n names in list. */
static inline bool in_list(const char *s, size_t len, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0)
			return true;
	return false;
}

#endif
