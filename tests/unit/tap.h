/* A tiny TAP producer for litho's C unit tests: one "ok"/"not ok" line per test function,
 * with the failing checks as "#" diagnostics. Run a binary directly or through `meson test`. */
#ifndef LITHO_TAP_H
#define LITHO_TAP_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int tap_count;
static int tap_failures;
static bool tap_current_failed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("# %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);          \
			tap_current_failed = true;                                                 \
		}                                                                                  \
	} while (0)

#define CHECK_INT(a, b)                                                                            \
	do {                                                                                       \
		long long tap_a = (long long)(a), tap_b = (long long)(b);                          \
		if (tap_a != tap_b) {                                                              \
			printf("# %s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a,     \
			       tap_a, tap_b);                                                      \
			tap_current_failed = true;                                                 \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *tap_a = (a), *tap_b = (b);                                             \
		if (tap_a == NULL || tap_b == NULL || strcmp(tap_a, tap_b) != 0) {                 \
			printf("# %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, \
			       tap_a ? tap_a : "(null)", tap_b ? tap_b : "(null)");                \
			tap_current_failed = true;                                                 \
		}                                                                                  \
	} while (0)

/* The error message must contain `needle`. */
#define CHECK_ERR(err, needle)                                                                     \
	do {                                                                                       \
		if ((err) == NULL || strstr((err)->message, (needle)) == NULL) {                   \
			printf("# %s:%d: error \"%s\" does not contain \"%s\"\n", __FILE__,        \
			       __LINE__, (err) ? (err)->message : "(none)", (needle));             \
			tap_current_failed = true;                                                 \
		}                                                                                  \
	} while (0)

#define RUN(fn)                                                                                    \
	do {                                                                                       \
		tap_current_failed = false;                                                        \
		fn();                                                                              \
		tap_count++;                                                                       \
		if (tap_current_failed)                                                            \
			tap_failures++;                                                            \
		printf("%s %d - %s\n", tap_current_failed ? "not ok" : "ok", tap_count, #fn);      \
		fflush(stdout);                                                                    \
	} while (0)

/* A test that cannot run here (no root, no user namespaces ...) counts as passed, marked SKIP. */
#define SKIP(fn, why)                                                                              \
	do {                                                                                       \
		tap_count++;                                                                       \
		printf("ok %d - %s # SKIP %s\n", tap_count, #fn, why);                             \
		fflush(stdout);                                                                    \
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failures ? 1 : 0;
}

/* mkdir -p, for fixtures; failures show up in the checks that follow. */
static inline void tap_mkdir_p(const char *path)
{
	char *p = strdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	}
	mkdir(p, 0755);
	free(p);
}

#endif
