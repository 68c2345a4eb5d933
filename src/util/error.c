#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util/util.h"

int lt_error_setv(lt_error **err, int errnum, const char *fmt, va_list ap)
{
	if (err == NULL)
		return -1;
	char *msg = lt_strdup_vprintf(fmt, ap);
	if (errnum != 0) {
		char *full = lt_strdup_printf("%s: %s", msg, strerror(errnum));
		free(msg);
		msg = full;
	}
	lt_error_free(err);
	lt_error *e = lt_xcalloc(1, sizeof(*e));
	e->errnum = errnum;
	e->message = msg;
	*err = e;
	return -1;
}

int lt_error_set(lt_error **err, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lt_error_setv(err, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

int lt_error_wrap(lt_error **err, const char *fmt, ...)
{
	if (err == NULL || *err == NULL)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	char *ctx = lt_strdup_vprintf(fmt, ap);
	va_end(ap);
	char *full = lt_strdup_printf("%s: %s", ctx, (*err)->message);
	free(ctx);
	free((*err)->message);
	(*err)->message = full;
	return -1;
}

void lt_error_free(lt_error **err)
{
	if (err == NULL || *err == NULL)
		return;
	free((*err)->message);
	free(*err);
	*err = NULL;
}

int lt_error_move(lt_error **err, lt_error **from)
{
	if (err == NULL) {
		lt_error_free(from);
		return -1;
	}
	if (err != from) {
		lt_error_free(err);
		*err = *from;
		*from = NULL;
	}
	return -1;
}

void lt_error_report(const lt_error *err)
{
	if (err == NULL)
		return;
	fprintf(stderr, "litho: error: %s\n", err->message);
}

static void oom(void)
{
	fputs("litho: out of memory\n", stderr);
	abort();
}

void *lt_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		oom();
	return p;
}

void *lt_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		oom();
	return p;
}

void *lt_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		oom();
	return q;
}

/* Transparent huge pages are only used where asked for (the default "madvise" setting). */
#define HUGE_PAGE ((size_t)2 << 20)

static size_t huge_round(size_t n)
{
	return (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
}

void *lt_xhuge_alloc(size_t n)
{
	size_t len = huge_round(n ? n : 1);
	/* map a huge page more than needed, then trim, so that the buffer starts on a huge page */
	uint8_t *raw =
	    mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		oom();
	uintptr_t start = ((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
	size_t head = start - (uintptr_t)raw;
	if (head > 0)
		munmap(raw, head);
	if (HUGE_PAGE - head > 0)
		munmap((uint8_t *)start + len, HUGE_PAGE - head);
	/* advice only: without it the kernel uses small pages, as malloc would */
	madvise((void *)start, len, MADV_HUGEPAGE);
	return (void *)start;
}

void lt_huge_free(void *p, size_t n)
{
	if (p != NULL)
		munmap(p, huge_round(n ? n : 1));
}

const char *lt_env_nonempty(const char *name)
{
	const char *v = getenv(name);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

void lt_strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p != NULL; p++)
		free(*p);
	free(v);
}

char *lt_xstrdup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		oom();
	return p;
}

char *lt_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (p == NULL)
		oom();
	return p;
}
