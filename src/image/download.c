/* Plain downloads (the busybox agent's MirrorURL): one GET, no registry protocol. */
#include "dlib/dlib.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

typedef struct sink {
	int fd;
	const char *url;
	lt_error *err;
} sink;

static size_t on_data(char *data, size_t size, size_t n, void *ctx)
{
	sink *s = ctx;
	if (lt_write_all(s->fd, data, size * n, s->url, &s->err) < 0)
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	return size * n;
}

int img_http_download(const char *url, const img_registry_opts *opts, const char *path, mode_t mode,
		      lt_error **err)
{
	if (!lt_str_has_prefix(url, "http://") && !lt_str_has_prefix(url, "https://"))
		return lt_error_set(err, 0, "%s: only http:// and https:// URLs can be downloaded",
				    url);
	if (!img_reg_curl_ready())
		return lt_error_set(err, 0, "%s: libcurl could not be initialised", url);
	lt_atomic_file af;
	if (lt_atomic_open(&af, path, mode, err) < 0)
		return -1;
	CURL *h = curl_easy_init();
	if (h == NULL) {
		lt_atomic_abort(&af);
		return lt_error_set(err, ENOMEM, "%s", url);
	}
	sink s = {.fd = af.fd, .url = url};
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a stalled server fails after a minute instead of hanging the build */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "litho/" LITHO_VERSION);
	if (opts != NULL && opts->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (opts != NULL && opts->ca_file != NULL) {
		curl_easy_setopt(h, CURLOPT_CAINFO, opts->ca_file);
	}
	CURLcode rc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	int ret = 0;
	if (s.err != NULL) {
		ret = lt_error_move(err, &s.err);
	} else if (rc != CURLE_OK) {
		ret = lt_error_set(err, 0, "%s: %s", url,
				   errbuf[0] ? errbuf : curl_easy_strerror(rc));
	} else if (status >= 400) {
		ret = lt_error_set(err, 0, "%s: HTTP %ld", url, status);
	}
	if (ret < 0) {
		lt_atomic_abort(&af);
		return -1;
	}
	return lt_atomic_commit(&af, err);
}
