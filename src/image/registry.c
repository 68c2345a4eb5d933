/* Registry images (docker://): references, the top manifest (by tag or digest), and the hooks
 * through which the layout code in oci.c reads manifests, indexes and configs from a registry,
 * so that index walking, platform selection and config checks are the same code for every
 * transport. Manifests and configs are cached by digest. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

/* ---------------------------------------------------------------------------------------------
 * References
 */
void img_reg_ref_free(reg_ref *r)
{
	if (r == NULL)
		return;
	free(r->host);
	free(r->api_host);
	free(r->repo);
	free(r->tag);
	free(r->digest);
	free(r->display);
	memset(r, 0, sizeof(*r));
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)* */
static bool valid_repo(const char *s)
{
	const char *p = s;
	for (;;) {
		/* one component */
		if (!is_lower_alnum(*p))
			return false;
		while (is_lower_alnum(*p))
			p++;
		while (*p == '.' || *p == '_' || *p == '-') {
			if (*p == '.') {
				p++;
			} else if (*p == '_') {
				p++;
				if (*p == '_')
					p++;
			} else {
				while (*p == '-')
					p++;
			}
			if (!is_lower_alnum(*p))
				return false;
			while (is_lower_alnum(*p))
				p++;
		}
		if (*p == '\0')
			return p - s <= 255;
		if (*p != '/')
			return false;
		p++;
	}
}

/* [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} */
static bool valid_tag(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)t[i]) && t[i] != '.' && t[i] != '_' && t[i] != '-')
			return false;
	return true;
}

/* host[:port] or [v6]:port */
static bool valid_host(const char *h)
{
	const char *p = h;
	if (*p == '[') {
		const char *e = strchr(p, ']');
		if (e == NULL || e == p + 1)
			return false;
		for (const char *q = p + 1; q < e; q++)
			if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.')
				return false;
		p = e + 1;
	} else {
		if (!isalnum((unsigned char)*p))
			return false;
		while (isalnum((unsigned char)*p) || *p == '.' || *p == '-')
			p++;
	}
	if (*p == ':') {
		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return *p == '\0';
}

bool img_reg_host_is_loopback(const char *host)
{
	size_t n = strlen(host);
	const char *colon = host[0] == '[' ? strstr(host, "]:") : strrchr(host, ':');
	if (colon != NULL)
		n = (size_t)(colon - host) + (host[0] == '[' ? 1 : 0);
	if ((n == 9 && strncasecmp(host, "localhost", 9) == 0) ||
	    (n == 5 && !strncmp(host, "[::1]", 5)))
		return true;
	return n > 4 && strncmp(host, "127.", 4) == 0;
}

int img_reg_ref_parse(const char *ref, const char *scheme, reg_ref *out, lt_error **err)
{
	memset(out, 0, sizeof(*out));
	size_t sl = strlen(scheme);
	if (strncmp(ref, scheme, sl) != 0 || strncmp(ref + sl, "://", 3) != 0)
		return lt_error_set(err, 0, "%s: not a %s:// reference", ref, scheme);
	const char *rest = ref + sl + 3;
	if (*rest == '\0')
		return lt_error_set(err, 0, "%s: missing image name", ref);
	char *s = lt_xstrdup(rest);
	char *at = strchr(s, '@');
	if (at != NULL) {
		*at = '\0';
		if (img_check_digest(at + 1, "digest", err) < 0) {
			free(s);
			return lt_error_wrap(err, "%s", ref);
		}
		out->digest = lt_xstrdup(at + 1);
	}
	char *slash = strrchr(s, '/');
	char *colon = strrchr(s, ':');
	if (colon != NULL && (slash == NULL || colon > slash)) {
		*colon = '\0';
		if (!valid_tag(colon + 1)) {
			lt_error_set(
			    err, 0,
			    "%s: invalid tag \"%s\" (letters, digits, '_', '.' and '-', at "
			    "most 128)",
			    ref, colon + 1);
			goto fail;
		}
		out->tag = lt_xstrdup(colon + 1);
	}
	const char *name = s;
	char *first = strchr(s, '/');
	if (first != NULL) {
		*first = '\0';
		bool is_host = strchr(s, '.') != NULL || strchr(s, ':') != NULL ||
			       strcmp(s, "localhost") == 0 || s[0] == '[';
		for (const char *p = s; *p && !is_host; p++)
			is_host = isupper((unsigned char)*p);
		if (is_host) {
			if (!valid_host(s)) {
				lt_error_set(err, 0, "%s: invalid registry \"%s\"", ref, s);
				goto fail;
			}
			out->host = lt_xstrdup(s);
			name = first + 1;
		} else {
			*first = '/';
		}
	}
	if (out->host == NULL)
		out->host = lt_xstrdup(DOCKER_HUB);
	for (char *p = out->host; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (strcmp(out->host, "index.docker.io") == 0 || strcmp(out->host, DOCKER_HUB_API) == 0) {
		free(out->host);
		out->host = lt_xstrdup(DOCKER_HUB);
	}
	bool hub = strcmp(out->host, DOCKER_HUB) == 0;
	if (!valid_repo(name)) {
		lt_error_set(err, 0,
			     "%s: invalid repository name \"%s\" (lower-case letters and digits, "
			     "separated by '.', '_', '__', '-' or '/')",
			     ref, name);
		goto fail;
	}
	out->repo = hub && strchr(name, '/') == NULL ? lt_strdup_printf("library/%s", name)
						     : lt_xstrdup(name);
	out->api_host = lt_xstrdup(hub ? DOCKER_HUB_API : out->host);
	if (out->tag == NULL && out->digest == NULL)
		out->tag = lt_xstrdup("latest");
	out->display = lt_strdup_printf("%s://%s/%s%s%s%s%s", scheme, out->host, out->repo,
					out->tag ? ":" : "", out->tag ? out->tag : "",
					out->digest ? "@" : "", out->digest ? out->digest : "");
	free(s);
	return 0;
fail:
	free(s);
	img_reg_ref_free(out);
	return -1;
}

/* ---------------------------------------------------------------------------------------------
 * Manifests
 */
static void digest_of(const void *data, size_t len, char out[72])
{
	uint8_t d[LT_SHA256_LEN];
	lt_sha256_buffer(data, len, d);
	lt_sha256_digest_string(d, out);
}

/* The media type of a Content-Type header, without parameters (new string or NULL). */
static char *media_type_of(const char *content_type)
{
	if (content_type == NULL)
		return NULL;
	size_t n = strcspn(content_type, ";");
	while (n > 0 && content_type[n - 1] == ' ')
		n--;
	return n ? lt_xstrndup(content_type, n) : NULL;
}

static void remember_doc(reg_source *rs, const char *digest, const char *data, size_t len)
{
	for (size_t i = 0; i < rs->n_docs; i++)
		if (strcmp(rs->docs[i].digest, digest) == 0)
			return;
	rs->docs = lt_xreallocarray(rs->docs, rs->n_docs + 1, sizeof(*rs->docs));
	char *copy = lt_xmalloc(len + 1);
	memcpy(copy, data, len);
	copy[len] = '\0';
	rs->docs[rs->n_docs++] = (struct reg_doc){lt_xstrdup(digest), copy, len};
}

/* "manifest unknown" and friends for a failed manifest request. */
static int manifest_error(const reg_client *c, const char *what, const reg_resp *r, lt_error **err)
{
	if (r->status == 404) {
		char *msg;
		char *code = img_reg_error_code(r, &msg);
		bool plain = msg == NULL || strcmp(msg, "manifest unknown") == 0;
		if (code != NULL && strcmp(code, "NAME_UNKNOWN") == 0)
			lt_error_set(err, 0, "manifest unknown (repository not found)");
		else
			lt_error_set(err, 0, "manifest unknown%s%s%s", plain ? "" : " (",
				     plain ? "" : msg, plain ? "" : ")");
		free(code);
		free(msg);
		return -1;
	}
	return img_reg_http_error(c, what, r, err);
}

/* GET /v2/<repo>/manifests/<ref>; checks the digest (expected = @DIGEST, else the registry's
 * Docker-Content-Digest). *digest_out gets the manifest's digest. */
int img_reg_fetch_manifest(reg_client *c, const char *repo, const char *scope, const char *ref,
			   const char *expected, int64_t size, const volatile bool *abort,
			   char **data, size_t *len, char **media_type, char digest_out[72],
			   lt_error **err)
{
	*data = NULL;
	*len = 0;
	*media_type = NULL;
	char *url = lt_strdup_printf("/v2/%s/manifests/%s", repo, ref);
	char *what = lt_strdup_printf("manifest %s", ref);
	reg_req q = {.url = url,
		     .what = what,
		     .scope = scope,
		     .accept = MANIFEST_ACCEPT,
		     .follow = true,
		     .max_body = IMG_MAX_JSON,
		     .abort = abort};
	reg_resp r = {0};
	int rc = img_reg_do(c, &q, &r, err);
	if (rc == 0 && r.status != 200)
		rc = manifest_error(c, what, &r, err);
	if (rc == 0) {
		size_t n = r.body_len;
		digest_of(r.body ? r.body : "", n, digest_out);
		const char *want = expected;
		if (want == NULL && r.digest != NULL && img_is_sha256_digest(r.digest))
			want = r.digest;
		if (want != NULL && strcmp(want, digest_out) != 0) {
			rc = lt_error_set(err, 0,
					  "%s: %s: digest mismatch: expected %s%s, the body has %s",
					  img_reg_client_name(c), what, want,
					  expected ? "" : " (Docker-Content-Digest)", digest_out);
		} else if (size >= 0 && (int64_t)n != size) {
			rc = lt_error_set(err, 0, "%s: %s: %zu bytes instead of %lld",
					  img_reg_client_name(c), what, n, (long long)size);
		} else {
			*data = r.body ? r.body : lt_xstrdup("");
			*len = n;
			r.body = NULL;
			*media_type = media_type_of(r.content_type);
		}
	}
	img_reg_resp_clear(&r);
	free(url);
	free(what);
	return rc;
}

int img_reg_read_manifest(const img_source *src, const char *digest, int64_t size, const char *what,
			  char **data, size_t *len, lt_error **err)
{
	reg_source *rs = src->reg;
	*data = NULL;
	*len = 0;
	for (size_t i = 0; i < rs->n_docs; i++) {
		if (strcmp(rs->docs[i].digest, digest) == 0) {
			if (size >= 0 && (int64_t)rs->docs[i].len != size)
				return lt_error_set(err, 0, "%s %s: %zu bytes instead of %lld",
						    what, digest, rs->docs[i].len, (long long)size);
			*len = rs->docs[i].len;
			*data = lt_xmalloc(*len + 1);
			memcpy(*data, rs->docs[i].data, *len + 1);
			return 0;
		}
	}
	char *path = rs->cache_dir ? img_cache_blob_path(rs->cache_dir, "blobs", digest) : NULL;
	int r = path ? img_cache_read_small(path, digest, size, data, len, NULL) : 0;
	if (r <= 0) {
		char *mt, d[72];
		r = img_reg_fetch_manifest(rs->client, rs->ref.repo, rs->scope, digest, digest,
					   size, &rs->abort, data, len, &mt, d, err);
		free(mt);
		if (r == 0 && path != NULL)
			img_cache_store_small(path, *data, *len);
	} else {
		lt_debug("%s: %s %s from the cache", src->display, what, digest);
	}
	free(path);
	if (r < 0)
		return -1;
	remember_doc(rs, digest, *data, *len);
	return 0;
}

int img_reg_read_small_blob(const img_source *src, const char *digest, int64_t size,
			    const char *what, char **data, size_t *len, lt_error **err)
{
	reg_source *rs = src->reg;
	*data = NULL;
	*len = 0;
	if (size > IMG_MAX_JSON)
		return lt_error_set(err, 0, "%s %s is too large (%lld bytes)", what, digest,
				    (long long)size);
	char *path = rs->cache_dir ? img_cache_blob_path(rs->cache_dir, "blobs", digest) : NULL;
	if (path != NULL && img_cache_read_small(path, digest, size, data, len, NULL) > 0) {
		free(path);
		return 0;
	}
	char *url = lt_strdup_printf("/v2/%s/blobs/%s", rs->ref.repo, digest);
	char *w = lt_strdup_printf("%s blob %s", what, digest);
	reg_req q = {.url = url,
		     .what = w,
		     .scope = rs->scope,
		     .follow = true,
		     .max_body = IMG_MAX_JSON,
		     .abort = &rs->abort};
	reg_resp r = {0};
	int rc = img_reg_do(rs->client, &q, &r, err);
	if (rc == 0 && r.status != 200) {
		rc = img_reg_http_error(rs->client, w, &r, err);
	} else if (rc == 0) {
		char got[72];
		digest_of(r.body ? r.body : "", r.body_len, got);
		if (size >= 0 && (int64_t)r.body_len != size)
			rc = lt_error_set(err, 0, "%s: %s: %zu bytes instead of %lld",
					  img_reg_client_name(rs->client), w, r.body_len,
					  (long long)size);
		else if (strcmp(got, digest) != 0)
			rc = lt_error_set(err, 0, "%s: %s: digest mismatch: got %s",
					  img_reg_client_name(rs->client), w, got);
	}
	if (rc == 0) {
		*data = r.body ? r.body : lt_xstrdup("");
		*len = r.body_len;
		r.body = NULL;
		if (path != NULL)
			img_cache_store_small(path, *data, *len);
	}
	img_reg_resp_clear(&r);
	free(url);
	free(w);
	free(path);
	return rc;
}

/* Resolves a tag with HEAD and returns the cached manifest when there is one (1), 0 when the
 * GET is needed, -1 on errors (manifest unknown). Docker Hub counts GETs, not HEADs. */
static int head_cached(reg_source *rs, char **data, size_t *len, char **media_type,
		       char digest_out[72], lt_error **err)
{
	char *url = lt_strdup_printf("/v2/%s/manifests/%s", rs->ref.repo, rs->ref.tag);
	char *what = lt_strdup_printf("manifest %s", rs->ref.tag);
	reg_req q = {.method = "HEAD",
		     .url = url,
		     .what = what,
		     .scope = rs->scope,
		     .accept = MANIFEST_ACCEPT,
		     .follow = true,
		     .abort = &rs->abort};
	reg_resp r = {0};
	int rc = img_reg_do(rs->client, &q, &r, err);
	if (rc == 0 && r.status == 404)
		rc = manifest_error(rs->client, what, &r, err);
	if (rc == 0 && r.status == 200 && r.digest != NULL && img_is_sha256_digest(r.digest)) {
		char *path = img_cache_blob_path(rs->cache_dir, "blobs", r.digest);
		if (img_cache_read_small(path, r.digest, r.content_length, data, len, NULL) > 0) {
			snprintf(digest_out, 72, "%s", r.digest);
			*media_type = media_type_of(r.content_type);
			lt_debug("%s: manifest %s from the cache", rs->ref.display, r.digest);
			rc = 1;
		}
		free(path);
	}
	img_reg_resp_clear(&r);
	free(url);
	free(what);
	return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Opening a registry source
 */
void img_reg_source_free(reg_source *rs)
{
	if (rs == NULL)
		return;
	img_reg_tasks_free(rs);
	for (size_t i = 0; i < rs->n_docs; i++) {
		free(rs->docs[i].digest);
		free(rs->docs[i].data);
	}
	free(rs->docs);
	img_reg_client_free(rs->client);
	img_reg_ref_free(&rs->ref);
	free(rs->scope);
	free(rs->cache_dir);
	pthread_mutex_destroy(&rs->lock);
	pthread_cond_destroy(&rs->cond);
	free(rs);
}

int img_reg_open(img_source *src, const char *reference, const img_wanted *w,
		 const img_registry_opts *o, img_image *img, lt_error **err)
{
	reg_source *rs = lt_xcalloc(1, sizeof(*rs));
	pthread_mutex_init(&rs->lock, NULL);
	pthread_cond_init(&rs->cond, NULL);
	src->reg = rs;
	if (img_reg_ref_parse(reference, "docker", &rs->ref, err) < 0)
		return -1;
	free(src->display);
	src->display = lt_xstrdup(rs->ref.display);
	rs->client = img_reg_client_new(rs->ref.host, rs->ref.api_host, o);
	rs->scope = lt_strdup_printf("repository:%s:pull", rs->ref.repo);
	rs->cache_dir = img_cache_dir_for(o);
	rs->jobs = o && o->jobs ? o->jobs : 4;

	char *data = NULL, *mt = NULL;
	size_t len = 0;
	char digest[72] = "";
	int r = 0;
	if (rs->ref.digest != NULL) {
		snprintf(digest, sizeof(digest), "%s", rs->ref.digest);
		r = img_reg_read_manifest(src, digest, -1, "manifest", &data, &len, err);
	} else {
		if (rs->cache_dir != NULL)
			r = head_cached(rs, &data, &len, &mt, digest, err);
		if (r == 0)
			r = img_reg_fetch_manifest(rs->client, rs->ref.repo, rs->scope, rs->ref.tag,
						   NULL, -1, &rs->abort, &data, &len, &mt, digest,
						   err);
		if (r == 0 && rs->cache_dir != NULL) {
			char *path = img_cache_blob_path(rs->cache_dir, "blobs", digest);
			img_cache_store_small(path, data, len);
			free(path);
		}
		if (r >= 0) {
			remember_doc(rs, digest, data, len);
			r = 0;
		}
	}
	free(data);
	if (r < 0) {
		free(mt);
		return -1;
	}
	img->name = lt_strdup_printf("%s/%s", rs->ref.host, rs->ref.repo);
	img->tag = rs->ref.tag ? lt_xstrdup(rs->ref.tag) : NULL;
	img_desc d;
	memset(&d, 0, sizeof(d));
	d.digest = digest;
	d.size = (int64_t)len;
	/* A Content-Type we do not know (text/plain from a static server) is ignored: the
	 * document itself says what it is. */
	d.media_type = img_doc_kind_of(mt) != DOC_UNKNOWN ? mt : NULL;
	img_desc_set_path(&d);
	r = img_oci_load(src, &d, w, false, 0, img, err);
	free(mt);
	if (r < 0)
		return -1;
	img_reg_tasks_init(src);
	return 0;
}
