/* The registry HTTP client over libcurl (oci.md §4.2-4.5): the client object and one HTTP
 * transfer. registry_session.c builds requests with authentication and retries on top.
 *
 * One reg_client per registry host, shared by the threads of a source: each request uses its
 * own easy handle; DNS, TLS sessions and connections are shared through a CURLSH. Redirects are
 * followed for GET and HEAD only; libcurl withholds the Authorization header from any other
 * host, port or scheme (CURLOPT_UNRESTRICTED_AUTH stays off). Connections time out after 30 s,
 * transfers after 60 s without progress (LITHO_HTTP_TIMEOUT overrides both, in seconds). */
#include <ctype.h>
#include "dlib/dlib.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image_internal.h"

_Static_assert(CURL_LOCK_DATA_LAST <= REG_SHARE_LOCKS, "too few share locks");

#define DEFAULT_TIMEOUT 30
#define LOW_SPEED_TIME	60
#define ERROR_BODY_MAX	(64 * 1024)
/* ---------------------------------------------------------------------------------------------
 * Process-wide settings
 */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ok;

static void curl_init_once(void)
{
	curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

bool img_reg_curl_ready(void)
{
	pthread_once(&curl_once, curl_init_once);
	return curl_ok;
}

int64_t img_reg_env_int(const char *name, int64_t def, int64_t min, int64_t max)
{
	const char *v = getenv(name);
	if (v == NULL || v[0] == '\0')
		return def;
	int64_t x;
	if (lt_parse_int64(v, min, max, name, &x, NULL) < 0) {
		lt_warn("ignoring %s=%s (not a number in %lld..%lld)", name, v, (long long)min,
			(long long)max);
		return def;
	}
	return x;
}

int64_t img_reg_retry_base_ms(void)
{
	return img_reg_env_int("LITHO_RETRY_BASE_MS", 2000, 0, REG_MAX_BACKOFF_MS);
}

int64_t img_reg_backoff_ms(int attempt)
{
	int64_t ms = img_reg_retry_base_ms();
	for (int i = 1; i < attempt && ms < REG_MAX_BACKOFF_MS; i++)
		ms *= 2;
	return ms < REG_MAX_BACKOFF_MS ? ms : REG_MAX_BACKOFF_MS;
}

bool img_reg_sleep_ms(int64_t ms, const volatile bool *abort)
{
	while (ms > 0) {
		if (abort != NULL && *abort)
			return false;
		int64_t step = ms < 50 ? ms : 50;
		struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step * 1000000L};
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return abort == NULL || !*abort;
}

int64_t img_reg_retry_after_ms(const char *value, time_t now)
{
	if (value == NULL)
		return -1;
	while (isspace((unsigned char)*value))
		value++;
	if (isdigit((unsigned char)*value)) {
		char *end;
		errno = 0;
		long long s = strtoll(value, &end, 10);
		while (isspace((unsigned char)*end))
			end++;
		if (errno != 0 || *end != '\0' || s < 0 || s > 86400 * 365)
			return -1;
		return (int64_t)s * 1000;
	}
	time_t t = curl_getdate(value, NULL);
	if (t == (time_t)-1)
		return -1;
	return t > now ? (int64_t)(t - now) * 1000 : 0;
}

/* ---------------------------------------------------------------------------------------------
 * The client
 */
static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ctx)
{
	(void)h;
	(void)access;
	reg_client *c = ctx;
	pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ctx)
{
	(void)h;
	reg_client *c = ctx;
	pthread_mutex_unlock(&c->share_locks[data]);
}

reg_client *img_reg_client_new(const char *host, const char *api_host, const img_registry_opts *o)
{
	pthread_once(&curl_once, curl_init_once);
	reg_client *c = lt_xcalloc(1, sizeof(*c));
	c->host = lt_xstrdup(host);
	c->api_host = lt_xstrdup(api_host ? api_host : host);
	c->name = lt_strdup_printf("registry %s", host);
	c->no_https = o != NULL && o->no_https;
	c->insecure = o != NULL && o->insecure;
	c->ca_file = o && o->ca_file ? lt_xstrdup(o->ca_file) : NULL;
	c->base = lt_strdup_printf("%s://%s", c->no_https ? "http" : "https", c->api_host);
	if (o != NULL && o->username != NULL) {
		c->opts.username = lt_xstrdup(o->username);
		c->opts.password = lt_xstrdup(o->password ? o->password : "");
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->auth_lock, NULL);
	for (size_t i = 0; i < LT_ARRAY_SIZE(c->share_locks); i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	/* Sharing only saves reconnections: without it (an old libcurl) each request connects. */
	c->share = curl_ok ? curl_share_init() : NULL;
	if (c->share != NULL &&
	    (curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
	     curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
	     curl_share_setopt(c->share, CURLSHOPT_USERDATA, c) != CURLSHE_OK ||
	     curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK)) {
		curl_share_cleanup(c->share);
		c->share = NULL;
	}
	if (c->share != NULL) {
		/* Optional extras. */
		(void)curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
		(void)curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	}
	return c;
}

void img_reg_client_free(reg_client *c)
{
	if (c == NULL)
		return;
	if (c->share != NULL)
		curl_share_cleanup(c->share);
	for (size_t i = 0; i < LT_ARRAY_SIZE(c->share_locks); i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->auth_lock);
	for (size_t i = 0; i < c->n_tokens; i++) {
		free(c->tokens[i].scope);
		free(c->tokens[i].token);
	}
	for (size_t i = 0; i < c->n_warnings; i++)
		free(c->warnings[i]);
	free(c->warnings);
	img_reg_creds_clear(&c->creds);
	free((char *)c->opts.username);
	free((char *)c->opts.password);
	free(c->realm);
	free(c->service);
	free(c->host);
	free(c->api_host);
	free(c->name);
	free(c->base);
	free(c->ca_file);
	free(c);
}

const char *img_reg_client_name(const reg_client *c)
{
	return c->name;
}

const char *img_reg_client_host(const reg_client *c)
{
	return c->host;
}

const reg_creds *img_reg_creds_locked(reg_client *c)
{
	if (!c->creds_loaded) {
		c->creds_loaded = true;
		if (img_reg_creds_lookup(c->host, &c->opts, &c->creds) > 0)
			lt_debug("%s: credentials of %s from %s", c->name, c->creds.user,
				 c->creds.source);
	}
	return c->creds.user ? &c->creds : NULL;
}

const char *img_reg_client_user(reg_client *c)
{
	pthread_mutex_lock(&c->lock);
	const reg_creds *cr = img_reg_creds_locked(c);
	const char *u = cr ? cr->user : NULL;
	pthread_mutex_unlock(&c->lock);
	return u;
}

char *img_reg_abs_url(const reg_client *c, const char *location)
{
	if (lt_str_has_prefix(location, "http://") || lt_str_has_prefix(location, "https://"))
		return lt_xstrdup(location);
	if (location[0] == '/')
		return lt_strdup_printf("%s%s", c->base, location);
	return lt_strdup_printf("%s/%s", c->base, location);
}

void img_reg_resp_clear(reg_resp *r)
{
	free(r->content_type);
	free(r->digest);
	free(r->location);
	free(r->www_auth);
	free(r->retry_after);
	free(r->content_range);
	free(r->range);
	free(r->chunk_min);
	free(r->body);
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
}

/* ---------------------------------------------------------------------------------------------
 * One transfer
 */
typedef struct xfer {
	reg_client *c;
	const reg_req *req;
	reg_resp *resp;
	size_t max_body;
	lt_error *sink_err;
	bool too_large;
	int64_t up_pos;
} xfer;

static void set_header(char **field, const char *value, size_t len)
{
	free(*field);
	*field = lt_xstrndup(value, len);
}

static void note_warning(reg_client *c, const char *value)
{
	/* Warning: 299 - "text" */
	const char *q = strchr(value, '"');
	const char *e = q ? strrchr(q + 1, '"') : NULL;
	if (strncmp(value, "299", 3) != 0 || q == NULL || e == NULL || e == q + 1)
		return;
	char *text = lt_xstrndup(q + 1, (size_t)(e - q - 1));
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_warnings; i++) {
		if (strcmp(c->warnings[i], text) == 0) {
			pthread_mutex_unlock(&c->lock);
			free(text);
			return;
		}
	}
	c->warnings = lt_xreallocarray(c->warnings, c->n_warnings + 1, sizeof(char *));
	c->warnings[c->n_warnings++] = text;
	pthread_mutex_unlock(&c->lock);
	lt_warn("%s: %s", c->name, text);
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	xfer *x = ctx;
	reg_resp *r = x->resp;
	size_t len = size * n;
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* A new response (after a redirect or a 100 Continue): forget the last one's. */
		long status = 0;
		const char *sp = memchr(data, ' ', len);
		if (sp != NULL)
			status = strtol(sp + 1, NULL, 10);
		int64_t sunk = r->sunk;
		char *body = r->body;
		size_t body_len = r->body_len;
		r->body = NULL;
		img_reg_resp_clear(r);
		r->body = body;
		r->body_len = body_len;
		r->sunk = sunk;
		r->status = status;
		return len;
	}
	const char *colon = memchr(data, ':', len);
	if (colon == NULL)
		return len;
	size_t nlen = (size_t)(colon - data);
	const char *v = colon + 1;
	const char *end = data + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	size_t vlen = (size_t)(end - v);
#define IS(h) (nlen == strlen(h) && strncasecmp(data, h, nlen) == 0)
	if (IS("content-type"))
		set_header(&r->content_type, v, vlen);
	else if (IS("docker-content-digest"))
		set_header(&r->digest, v, vlen);
	else if (IS("location"))
		set_header(&r->location, v, vlen);
	else if (IS("retry-after"))
		set_header(&r->retry_after, v, vlen);
	else if (IS("content-range"))
		set_header(&r->content_range, v, vlen);
	else if (IS("range"))
		set_header(&r->range, v, vlen);
	else if (IS("oci-chunk-min-length"))
		set_header(&r->chunk_min, v, vlen);
	else if (IS("content-length"))
		r->content_length = strtoll(v, NULL, 10);
	else if (IS("www-authenticate")) {
		/* Keep the first Bearer or Basic challenge. */
		if (r->www_auth == NULL &&
		    (strncasecmp(v, "bearer", 6) == 0 || strncasecmp(v, "basic", 5) == 0))
			set_header(&r->www_auth, v, vlen);
	} else if (IS("warning")) {
		char *w = lt_xstrndup(v, vlen);
		note_warning(x->c, w);
		free(w);
	}
#undef IS
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	xfer *x = ctx;
	reg_resp *r = x->resp;
	size_t len = size * n;
	if (r->status >= 300 && r->status < 400)
		return len; /* the body of a redirect that is followed */
	if (r->status >= 200 && r->status < 300 && x->req->sink != NULL) {
		if (x->req->sink(x->req->sink_ctx, r, data, len, &x->sink_err) < 0)
			return 0;
		r->sunk += (int64_t)len;
		return len;
	}
	size_t limit = r->status >= 200 && r->status < 300 ? x->max_body : ERROR_BODY_MAX;
	if (r->body_len + len > limit) {
		if (r->status >= 200 && r->status < 300) {
			x->too_large = true;
			return 0;
		}
		len = limit - r->body_len; /* keep the start of a long error body */
		if (len == 0)
			return size * n;
	}
	r->body = lt_xrealloc(r->body, r->body_len + len + 1);
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return size * n;
}

static size_t on_upload(char *buf, size_t size, size_t n, void *ctx)
{
	xfer *x = ctx;
	const reg_req *q = x->req;
	size_t want = size * n;
	int64_t total = q->body_fd > 0 ? q->body_size : (int64_t)q->body_len;
	int64_t left = total - x->up_pos;
	if (left <= 0)
		return 0;
	if ((int64_t)want > left)
		want = (size_t)left;
	if (q->body_fd > 0) {
		ssize_t r;
		do {
			r = pread(q->body_fd, buf, want, (off_t)(q->body_off + x->up_pos));
		} while (r < 0 && errno == EINTR);
		if (r <= 0)
			return CURL_READFUNC_ABORT;
		want = (size_t)r;
	} else {
		memcpy(buf, (const char *)q->body + x->up_pos, want);
	}
	x->up_pos += (int64_t)want;
	return want;
}

static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	xfer *x = ctx;
	return x->req->abort != NULL && *x->req->abort ? 1 : 0;
}

static char *full_url(const reg_client *c, const char *url)
{
	return img_reg_abs_url(c, url);
}

int img_reg_perform(reg_client *c, const reg_req *q, const char *authorization, reg_resp *r,
		    char *errbuf, lt_error **sink_err)
{
	img_reg_resp_clear(r);
	xfer x = {.c = c, .req = q, .resp = r, .max_body = q->max_body ? q->max_body : 65536};
	CURL *h = curl_ok ? curl_easy_init() : NULL;
	if (h == NULL) {
		snprintf(errbuf, CURL_ERROR_SIZE, "cannot initialise libcurl");
		return CURLE_FAILED_INIT;
	}
	char *url = full_url(c, q->url);
	struct curl_slist *hdrs = NULL;
	bool hdrs_failed = false;
	char *line;
#define ADD_HEADER(...)                                                                            \
	do {                                                                                       \
		line = lt_strdup_printf(__VA_ARGS__);                                              \
		struct curl_slist *more = curl_slist_append(hdrs, line);                           \
		if (more == NULL)                                                                  \
			hdrs_failed = true;                                                        \
		else                                                                               \
			hdrs = more;                                                               \
		free(line);                                                                        \
	} while (0)
	if (q->accept)
		ADD_HEADER("Accept: %s", q->accept);
	if (q->content_type)
		ADD_HEADER("Content-Type: %s", q->content_type);
	if (q->content_range)
		ADD_HEADER("Content-Range: %s", q->content_range);
	if (authorization)
		ADD_HEADER("Authorization: %s", authorization);
#undef ADD_HEADER
	int64_t timeout = img_reg_env_int("LITHO_HTTP_TIMEOUT", 0, 0, 86400);
	errbuf[0] = '\0';
	/* The first option libcurl refuses (out of memory, an option this libcurl lacks) fails the
	 * request. */
	CURLcode set_rc = CURLE_OK;
#define SET(opt, value)                                                                            \
	do {                                                                                       \
		if (set_rc == CURLE_OK)                                                            \
			set_rc = curl_easy_setopt(h, opt, value);                                  \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_USERAGENT, "litho/" LITHO_VERSION);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_CONNECTTIMEOUT, (long)(timeout ? timeout : DEFAULT_TIMEOUT));
	SET(CURLOPT_LOW_SPEED_LIMIT, 10L);
	SET(CURLOPT_LOW_SPEED_TIME, (long)(timeout ? timeout : LOW_SPEED_TIME));
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, &x);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, &x);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, &x);
	if (c->share != NULL)
		SET(CURLOPT_SHARE, c->share);
	if (q->follow) {
		SET(CURLOPT_FOLLOWLOCATION, 1L);
		SET(CURLOPT_MAXREDIRS, 10L);
		/* Never send Authorization to the host a redirect leads to. */
		SET(CURLOPT_UNRESTRICTED_AUTH, 0L);
	}
	if (c->insecure) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (c->ca_file != NULL) {
		SET(CURLOPT_CAINFO, c->ca_file);
	}
	if (q->range)
		SET(CURLOPT_RANGE, q->range);
	const char *method = q->method ? q->method : "GET";
	if (strcmp(method, "HEAD") == 0) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "POST") == 0 && !q->has_body) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDSIZE, 0L);
		SET(CURLOPT_POSTFIELDS, "");
	} else if (strcmp(method, "GET") != 0) {
		int64_t size = q->body_fd > 0 ? q->body_size : (int64_t)q->body_len;
		SET(CURLOPT_UPLOAD, 1L);
		SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
		SET(CURLOPT_READFUNCTION, on_upload);
		SET(CURLOPT_READDATA, &x);
		if (strcmp(method, "PUT") != 0)
			SET(CURLOPT_CUSTOMREQUEST, method);
	}
	SET(CURLOPT_HTTPHEADER, hdrs);
#undef SET
	CURLcode rc = set_rc != CURLE_OK || hdrs_failed ? CURLE_FAILED_INIT : curl_easy_perform(h);
	if (rc == CURLE_FAILED_INIT)
		snprintf(errbuf, CURL_ERROR_SIZE, "cannot set up the request: %s",
			 hdrs_failed ? "out of memory" : curl_easy_strerror(set_rc));
	long status = 0;
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status != 0)
		r->status = status;
	if (rc == CURLE_WRITE_ERROR && x.sink_err != NULL) {
		*sink_err = x.sink_err;
		x.sink_err = NULL;
	} else if (rc == CURLE_WRITE_ERROR && x.too_large) {
		snprintf(errbuf, CURL_ERROR_SIZE, "the response is larger than %zu bytes",
			 x.max_body);
	} else if (rc == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(errbuf, CURL_ERROR_SIZE, "interrupted");
	} else if (rc != CURLE_OK && errbuf[0] == '\0') {
		snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
	}
	lt_error_free(&x.sink_err);
	r->curl_code = (int)rc;
	lt_debug("%s %s -> %ld%s%s", method, url, r->status, rc ? " " : "", rc ? errbuf : "");
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	free(url);
	return (int)rc;
}

/* ---------------------------------------------------------------------------------------------
 * Errors
 */
char *img_reg_error_code(const reg_resp *r, char **message)
{
	if (message)
		*message = NULL;
	if (r->body == NULL || r->body_len == 0)
		return NULL;
	json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
	json_t *e = json_array_get(json_object_get(j, "errors"), 0);
	const char *code = lt_json_string(e, "code");
	const char *msg = lt_json_string(e, "message");
	char *out = code ? lt_xstrdup(code) : NULL;
	if (message && msg)
		*message = lt_xstrdup(msg);
	json_decref(j);
	return out;
}

int img_reg_http_error(const reg_client *c, const char *what, const reg_resp *r, lt_error **err)
{
	char *msg;
	char *code = img_reg_error_code(r, &msg);
	if (code != NULL)
		lt_error_set(err, 0, "%s: %s: HTTP %ld (%s%s%s)", c->name, what, r->status, code,
			     msg ? ": " : "", msg ? msg : "");
	else
		lt_error_set(err, 0, "%s: %s: HTTP %ld", c->name, what, r->status);
	free(code);
	free(msg);
	return -1;
}
