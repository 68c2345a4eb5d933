#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define DLIB_REAL_NAMES
#include "dlib/dlib.h"

_Noreturn static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "litho: error: cannot load %s (%s); is the package installed?\n", what,
		detail ? detail : "unknown error");
	abort();
}

/* Opens the first of the sonames that loads. */
static void *open_library(const char *const *names)
{
	const char *last = NULL;
	for (size_t i = 0; names[i] != NULL; i++) {
		void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
		if (h != NULL)
			return h;
		last = dlerror();
	}
	fail(names[0], last);
}

static void *symbol(void *lib, const char *lib_name, const char *name)
{
	void *p = dlsym(lib, name);
	if (p == NULL)
		fail(lib_name, name);
	return p;
}

#define DLIB_LOAD(f) t->f = (__typeof__(f) *)symbol(lib, lib_name, #f);

static struct dlib_archive archive_table;
static pthread_once_t archive_once = PTHREAD_ONCE_INIT;

static void load_archive(void)
{
	static const char *const names[] = {"libarchive.so.13", "libarchive.so", NULL};
	const char *lib_name = names[0];
	void *lib = open_library(names);
	struct dlib_archive *t = &archive_table;
	DLIB_ARCHIVE_FUNCTIONS(DLIB_LOAD)
}

const struct dlib_archive *dlib_archive(void)
{
	pthread_once(&archive_once, load_archive);
	return &archive_table;
}

static struct dlib_crypto crypto_table;
static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;

static void load_crypto(void)
{
	static const char *const names[] = {"libcrypto.so.3", "libcrypto.so", NULL};
	const char *lib_name = names[0];
	void *lib = open_library(names);
	struct dlib_crypto *t = &crypto_table;
	DLIB_CRYPTO_FUNCTIONS(DLIB_LOAD)
}

const struct dlib_crypto *dlib_crypto(void)
{
	pthread_once(&crypto_once, load_crypto);
	return &crypto_table;
}

static struct dlib_curl curl_table;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void load_curl(void)
{
	static const char *const names[] = {"libcurl.so.4", "libcurl-gnutls.so.4", "libcurl.so",
					    NULL};
	const char *lib_name = names[0];
	void *lib = open_library(names);
	struct dlib_curl *t = &curl_table;
	DLIB_CURL_FUNCTIONS(DLIB_LOAD)
}

const struct dlib_curl *dlib_curl(void)
{
	pthread_once(&curl_once, load_curl);
	return &curl_table;
}

static struct dlib_seccomp seccomp_table;
static pthread_once_t seccomp_once = PTHREAD_ONCE_INIT;
static const char *seccomp_problem; /* set when libseccomp did not load */

/* Unlike the others, a failure is remembered rather than fatal (see dlib_seccomp_try). */
static void load_seccomp(void)
{
	static const char *const names[] = {"libseccomp.so.2", "libseccomp.so", NULL};
	void *lib = NULL;
	for (size_t i = 0; names[i] != NULL && lib == NULL; i++)
		lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		seccomp_problem = "libseccomp.so.2 cannot be loaded (package libseccomp2)";
		return;
	}
	struct dlib_seccomp *t = &seccomp_table;
#define DLIB_LOAD_SOFT(f)                                                                          \
	if ((t->f = (__typeof__(f) *)dlsym(lib, #f)) == NULL)                                      \
		seccomp_problem = "libseccomp.so.2 lacks " #f " (too old?)";
	DLIB_SECCOMP_FUNCTIONS(DLIB_LOAD_SOFT)
#undef DLIB_LOAD_SOFT
}

const struct dlib_seccomp *dlib_seccomp_try(const char **why)
{
	pthread_once(&seccomp_once, load_seccomp);
	if (seccomp_problem != NULL) {
		if (why != NULL)
			*why = seccomp_problem;
		return NULL;
	}
	return &seccomp_table;
}

const struct dlib_seccomp *dlib_seccomp(void)
{
	const char *why = NULL;
	const struct dlib_seccomp *t = dlib_seccomp_try(&why);
	if (t == NULL)
		fail("libseccomp.so.2", why);
	return t;
}

static struct dlib_gpgme gpgme_table;
static pthread_once_t gpgme_once = PTHREAD_ONCE_INIT;
static const char *gpgme_problem;

/* Like libseccomp: only signing with or verifying OpenPGP signatures needs it. */
static void load_gpgme(void)
{
	static const char *const names[] = {"libgpgme.so.11", "libgpgme.so", NULL};
	void *lib = NULL;
	for (size_t i = 0; names[i] != NULL && lib == NULL; i++)
		lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		gpgme_problem = "libgpgme.so.11 cannot be loaded (package libgpgme11)";
		return;
	}
	struct dlib_gpgme *t = &gpgme_table;
#define DLIB_LOAD_SOFT(f)                                                                          \
	if ((t->f = (__typeof__(f) *)dlsym(lib, #f)) == NULL)                                      \
		gpgme_problem = "libgpgme.so.11 lacks " #f " (too old?)";
	DLIB_GPGME_FUNCTIONS(DLIB_LOAD_SOFT)
#undef DLIB_LOAD_SOFT
}

const struct dlib_gpgme *dlib_gpgme_try(const char **why)
{
	pthread_once(&gpgme_once, load_gpgme);
	if (gpgme_problem != NULL) {
		if (why != NULL)
			*why = gpgme_problem;
		return NULL;
	}
	return &gpgme_table;
}

const struct dlib_gpgme *dlib_gpgme(void)
{
	const char *why = NULL;
	const struct dlib_gpgme *t = dlib_gpgme_try(&why);
	if (t == NULL)
		fail("libgpgme.so.11", why);
	return t;
}
