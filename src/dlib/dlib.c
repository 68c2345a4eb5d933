#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define DLIB_REAL_NAMES
#include "dlib.h"

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
