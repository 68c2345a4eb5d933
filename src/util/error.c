#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
