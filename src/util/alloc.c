/* Allocation. Running out of memory is not recoverable anywhere in litho: every allocator here
 * ends the process through lt_oom(), the one place that says so. Growth of arrays is
 * overflow-checked here too, so that no caller multiplies sizes itself. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util/util.h"

void lt_oom(void)
{
	fputs("litho: out of memory\n", stderr);
	abort();
}

void *lt_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		lt_oom();
	return p;
}

void *lt_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		lt_oom();
	return p;
}

void *lt_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		lt_oom();
	return q;
}

void *lt_xreallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		lt_oom(); /* no allocation of that size could succeed either */
	return lt_xrealloc(p, n * size);
}

void *lt_array_grow(void *v, size_t elem_size, size_t need, size_t *cap)
{
	if (need <= *cap)
		return v;
	size_t n = *cap ? *cap : 8;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			lt_oom();
		n *= 2;
	}
	v = lt_xreallocarray(v, n, elem_size);
	*cap = n;
	return v;
}

char *lt_xstrdup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		lt_oom();
	return p;
}

char *lt_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (p == NULL)
		lt_oom();
	return p;
}

char *lt_strdup_vprintf(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		lt_oom();
	return s;
}

char *lt_strdup_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = lt_strdup_vprintf(fmt, ap);
	va_end(ap);
	return s;
}

/* Transparent huge pages are only used where asked for (the default "madvise" setting). */
#define HUGE_PAGE ((size_t)2 << 20)

static size_t huge_round(size_t n)
{
	if (n > SIZE_MAX - 2 * HUGE_PAGE)
		lt_oom();
	return (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
}

void *lt_xhuge_alloc(size_t n)
{
	size_t len = huge_round(n ? n : 1);
	/* map a huge page more than needed, then trim, so that the buffer starts on a huge page */
	uint8_t *raw =
	    mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		lt_oom();
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
