#include <stdlib.h>
#include <time.h>

#include "cli.h"
#include "sif.h"

int cli_usage_error(lt_error **err, const char *usage, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lt_error_setv(err, 0, fmt, ap);
	va_end(ap);
	if (usage != NULL)
		fprintf(stderr, "%s", usage);
	return CLI_USAGE;
}

int cli_parse_u32(const char *s, const char *what, uint32_t *out, lt_error **err)
{
	int64_t v = 0;
	if (lt_parse_int64(s, 0, UINT32_MAX, what, &v, err) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int cli_parse_i32(const char *s, const char *what, int32_t min, int32_t max, int32_t *out,
		  lt_error **err)
{
	int64_t v = 0;
	if (lt_parse_int64(s, min, max, what, &v, err) < 0)
		return -1;
	*out = (int32_t)v;
	return 0;
}

bool cli_reproducible(void)
{
	const char *e = getenv("SOURCE_DATE_EPOCH");
	return e != NULL && *e != '\0';
}

int64_t cli_sif_time(void)
{
	return cli_reproducible() ? SIF_ZERO_TIME : (int64_t)time(NULL);
}

int64_t cli_build_time(void)
{
	const char *e = getenv("SOURCE_DATE_EPOCH");
	if (e != NULL && *e != '\0') {
		int64_t v = 0;
		lt_error *ignored = NULL;
		if (lt_parse_int64(e, 0, INT64_MAX, "SOURCE_DATE_EPOCH", &v, &ignored) == 0)
			return v;
		lt_warn("SOURCE_DATE_EPOCH='%s' is not a number of seconds; using the current time",
			e);
		lt_error_free(&ignored);
	}
	return (int64_t)time(NULL);
}
