#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sif/sif.h"

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

int64_t cli_convert_time(const build_opts *o)
{
	return o->deterministic && !cli_reproducible() ? -1 : cli_build_time();
}

bool cli_env_flag(const char *apptainer_name, const char *litho_name)
{
	const char *singularity = NULL;
	char buf[128];
	if (lt_str_has_prefix(apptainer_name, "APPTAINER_")) {
		snprintf(buf, sizeof(buf), "SINGULARITY_%s", apptainer_name + strlen("APPTAINER_"));
		singularity = buf;
	}
	const char *names[] = {litho_name, apptainer_name, singularity};
	for (size_t i = 0; i < LT_ARRAY_SIZE(names); i++) {
		const char *v = names[i] ? getenv(names[i]) : NULL;
		if (v != NULL && *v && strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0)
			return true;
	}
	return false;
}

void cli_registry_defaults(img_registry_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->no_https = cli_env_flag("APPTAINER_NOHTTPS", "LITHO_NOHTTPS");
	o->disable_cache = cli_env_flag("APPTAINER_DISABLE_CACHE", "LITHO_DISABLE_CACHE");
}

static int parse_block_size(const char *s, uint32_t *out, lt_error **err)
{
	char *end = NULL;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s)
		return lt_error_set(err, 0, "--block-size: '%s' is not a size", s);
	if (*end == 'K' || *end == 'k')
		v *= 1024, end++;
	else if (*end == 'M' || *end == 'm')
		v *= 1024 * 1024, end++;
	if (*end != '\0' || v > UINT32_MAX)
		return lt_error_set(err, 0, "--block-size: '%s' is not a size", s);
	*out = (uint32_t)v;
	return 0;
}

/* "linux/arm64/v8" -> os, arch, variant (the string is split in place). */
static int parse_platform(char *s, img_platform *p, lt_error **err)
{
	char *arch = strchr(s, '/');
	if (arch == NULL || arch == s || arch[1] == '\0')
		return lt_error_set(err, 0, "--platform: '%s' is not OS/ARCH[/VARIANT]", s);
	*arch++ = '\0';
	char *variant = strchr(arch, '/');
	if (variant)
		*variant++ = '\0';
	p->os = s;
	p->arch = arch;
	p->variant = variant;
	return 0;
}

static int convert_option(int c, char *arg, build_opts *b, lt_error **err)
{
	int64_t v = 0;
	switch (c) {
	case CLI_OPT_COMPRESSION:
		return sq_parse_compressor(arg, &b->squash.compressor, err) < 0 ? -1 : 1;
	case CLI_OPT_COMPRESSION_LEVEL:
		if (lt_parse_int64(arg, 0, 22, "--compression-level", &v, err) < 0)
			return -1;
		b->squash.level = (int)v;
		return 1;
	case CLI_OPT_BLOCK_SIZE:
		return parse_block_size(arg, &b->squash.block_size, err) < 0 ? -1 : 1;
	case 'j':
	case CLI_OPT_JOBS:
		if (lt_parse_int64(arg, 1, 1024, "--jobs", &v, err) < 0)
			return -1;
		b->squash.jobs = (unsigned)v;
		return 1;
	case CLI_OPT_ARCH:
		b->platform.arch = arg;
		return 1;
	case CLI_OPT_PLATFORM:
		return parse_platform(arg, &b->platform, err) < 0 ? -1 : 1;
	case CLI_OPT_REPRODUCIBLE:
		b->deterministic = true;
		return 1;
	default:
		return 0;
	}
}

int cli_common_option(int c, char *arg, build_opts *b, img_registry_opts *r, lt_error **err)
{
	switch (c) {
	case CLI_OPT_USERNAME:
		r->username = arg;
		return 1;
	case CLI_OPT_PASSWORD:
		r->password = arg;
		return 1;
	case CLI_OPT_NO_HTTPS:
		r->no_https = true;
		return 1;
	case CLI_OPT_INSECURE:
		r->insecure = true;
		return 1;
	case CLI_OPT_CA_FILE:
		r->ca_file = arg;
		return 1;
	case CLI_OPT_DISABLE_CACHE:
		r->disable_cache = true;
		return 1;
	default:
		return b != NULL ? convert_option(c, arg, b, err) : 0;
	}
}

void cli_push_arg(const char ***list, size_t *n, const char *arg)
{
	*list = lt_xreallocarray(*list, *n + 1, sizeof(**list));
	(*list)[(*n)++] = arg;
}

/* One line from stdin; without echo when it is a terminal. */
char *cli_read_line(const char *prompt, bool secret, lt_error **err)
{
	bool tty = isatty(STDIN_FILENO);
	struct termios old, quiet;
	bool restore = false;
	if (tty) {
		fputs(prompt, stderr);
		fflush(stderr);
		if (secret && tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
		}
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, stdin);
	if (restore) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (n < 0) {
		free(line);
		lt_error_set(err, 0, "no %s given on standard input", secret ? "password" : "user");
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}
