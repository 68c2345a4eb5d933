/* oras:// push and pull with Apptainer's shapes (oci.md §4.6; Apptainer
 * internal/pkg/client/oras): an OCI image manifest without artifactType whose config is the
 * "{}" blob typed application/vnd.sylabs.sif.config.v1+json (also embedded as "data", as
 * go-containerregistry writes it; the blob is uploaded too, since registries check that a
 * manifest's config exists), and one layer holding the whole SIF file.
 *
 * The manifest is serialised the way Go's encoding/json writes Apptainer's structs (field
 * order, no spaces, sorted annotation keys), so that pushing the same file gives the same
 * manifest digest as Apptainer (except for annotation values holding <, > or &, which Go
 * escapes).
 *
 * Only two fields of the SIF header are read here, the magic and the creation time; the image
 * module does not depend on the SIF library for that. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlib/dlib.h"

#include "image_internal.h"

#define SIF_MAGIC_OFF	32 /* "SIF_MAGIC\0" */
#define SIF_CTIME_OFF	64 /* int64 little endian, Unix seconds */
#define DEFAULT_CHUNK	(64 * 1024 * 1024)
#define MAX_PATCH_TRIES 5

static int check_sif_magic(int fd, const char *name, lt_error **err)
{
	char magic[10];
	if (lt_pread_all(fd, magic, sizeof(magic), SIF_MAGIC_OFF, name, NULL) < 0 ||
	    memcmp(magic, "SIF_MAGIC", 9) != 0)
		return lt_error_set(err, 0, "%s is not a SIF image (no SIF magic)", name);
	return 0;
}

static int64_t sif_ctime(int fd)
{
	unsigned char b[8];
	if (lt_pread_all(fd, b, sizeof(b), SIF_CTIME_OFF, "SIF header", NULL) < 0)
		return 0;
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | b[i];
	return (int64_t)v;
}

static int hash_fd(int fd, int64_t size, const char *name, char out[72], lt_error **err)
{
	lt_sha256 *h = lt_sha256_new();
	size_t cap = 1 << 20;
	char *buf = lt_xmalloc(cap);
	int64_t off = 0;
	int rc = 0;
	while (off < size) {
		size_t n = size - off < (int64_t)cap ? (size_t)(size - off) : cap;
		if (lt_pread_all(fd, buf, n, (off_t)off, name, err) < 0) {
			rc = -1;
			break;
		}
		lt_sha256_update(h, buf, n);
		off += (int64_t)n;
	}
	free(buf);
	if (rc < 0) {
		lt_sha256_free(h);
		return -1;
	}
	uint8_t d[LT_SHA256_LEN];
	lt_sha256_final(h, d);
	lt_sha256_digest_string(d, out);
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Push
 */
typedef struct upload {
	reg_client *c;
	const char *repo;
	const char *scope;
	const char *digest;
	int64_t size;
	const char *mem; /* the bytes, or ... */
	int fd;		 /* ... a file */
	int64_t threshold, chunk;
} upload;

static char *with_digest(const char *location, const char *digest)
{
	char *esc = curl_easy_escape(NULL, digest, 0);
	char *u = lt_strdup_printf("%s%sdigest=%s", location, strchr(location, '?') ? "&" : "?",
				   esc ? esc : digest);
	curl_free(esc);
	return u;
}

static void set_body(reg_req *q, const upload *u, int64_t off, int64_t len)
{
	q->has_body = true;
	if (u->mem != NULL) {
		q->body = u->mem + off;
		q->body_len = (size_t)len;
	} else {
		q->body_fd = u->fd;
		q->body_off = off;
		q->body_size = len;
	}
}

/* The upload's current end (GET on the session: 204 with Range 0-N) or -1. */
static int64_t upload_status(const upload *u, const char *loc, char **new_loc)
{
	reg_req q = {.url = loc, .scope = u->scope, .what = "upload status"};
	reg_resp r = {0};
	int64_t end = -1;
	if (img_reg_do(u->c, &q, &r, NULL) == 0 && (r.status == 204 || r.status == 202) &&
	    r.range != NULL) {
		const char *dash = strchr(r.range, '-');
		end = dash ? strtoll(dash + 1, NULL, 10) + 1 : -1;
		if (r.location != NULL) {
			free(*new_loc);
			*new_loc = img_reg_abs_url(u->c, r.location);
		}
	}
	img_reg_resp_clear(&r);
	return end;
}

static int upload_blob(const upload *u, lt_error **err)
{
	reg_client *c = u->c;
	char *what = lt_strdup_printf("blob %s", u->digest);
	char *url = lt_strdup_printf("/v2/%s/blobs/%s", u->repo, u->digest);
	reg_req q = {.method = "HEAD", .url = url, .scope = u->scope, .what = what};
	reg_resp r = {0};
	char *loc = NULL;
	int rc = img_reg_do(c, &q, &r, err);
	free(url);
	if (rc < 0)
		goto out;
	if (r.status == 200 && (r.content_length < 0 || r.content_length == u->size)) {
		lt_verbose("%s: %s: already in %s", img_reg_client_name(c), what, u->repo);
		goto out;
	}
	/* Open an upload session. */
	url = lt_strdup_printf("/v2/%s/blobs/uploads/", u->repo);
	q = (reg_req){.method = "POST", .url = url, .scope = u->scope, .what = what};
	rc = img_reg_do(c, &q, &r, err);
	free(url);
	if (rc == 0 && (r.status != 202 || r.location == NULL))
		rc = img_reg_http_error(c, "starting the upload", &r, err);
	if (rc < 0)
		goto out;
	loc = img_reg_abs_url(c, r.location);
	int64_t chunk = u->chunk;
	if (r.chunk_min != NULL && strtoll(r.chunk_min, NULL, 10) > chunk)
		chunk = strtoll(r.chunk_min, NULL, 10);
	int64_t off = 0;
	if (u->size > u->threshold) {
		/* Chunked: PATCH each chunk in order, then PUT ?digest= without a body. */
		int tries = 0;
		while (off < u->size) {
			int64_t n = u->size - off < chunk ? u->size - off : chunk;
			char cr[64];
			snprintf(cr, sizeof(cr), "%" PRId64 "-%" PRId64, off, off + n - 1);
			q = (reg_req){.method = "PATCH",
				      .url = loc,
				      .scope = u->scope,
				      .what = what,
				      .content_type = "application/octet-stream",
				      .content_range = cr,
				      .no_retry = true};
			set_body(&q, u, off, n);
			lt_error *e = NULL;
			rc = img_reg_do(c, &q, &r, &e);
			if (rc == 0 && r.status == 202 && r.location != NULL) {
				free(loc);
				loc = img_reg_abs_url(c, r.location);
				off += n;
				tries = 0;
				lt_error_free(&e);
				continue;
			}
			if (rc == 0)
				img_reg_http_error(c, "uploading a chunk", &r, &e);
			/* Ask the session where it is and go on from there. */
			int64_t end = ++tries < MAX_PATCH_TRIES ? upload_status(u, loc, &loc) : -1;
			if (end < 0 || end > u->size) {
				lt_error_move(err, &e);
				rc = lt_error_wrap(err, "chunk %s", cr);
				goto out;
			}
			lt_warn("%s; resuming the upload at byte %" PRId64, e->message, end);
			lt_error_free(&e);
			off = end;
			if (!img_reg_sleep_ms(img_reg_backoff_ms(tries), NULL))
				break;
		}
		char *put = with_digest(loc, u->digest);
		q = (reg_req){.method = "PUT",
			      .url = put,
			      .scope = u->scope,
			      .what = what,
			      .content_type = "application/octet-stream",
			      .has_body = true};
		rc = img_reg_do(c, &q, &r, err);
		free(put);
	} else {
		/* Monolithic: one PUT ?digest= with the whole body. */
		char *put = with_digest(loc, u->digest);
		q = (reg_req){.method = "PUT",
			      .url = put,
			      .scope = u->scope,
			      .what = what,
			      .content_type = "application/octet-stream"};
		set_body(&q, u, 0, u->size);
		rc = img_reg_do(c, &q, &r, err);
		free(put);
	}
	if (rc == 0 && r.status != 201)
		rc = img_reg_http_error(c, "finishing the upload", &r, err);
	if (rc == 0 && r.digest != NULL && strcmp(r.digest, u->digest) != 0)
		rc = lt_error_set(err, 0, "%s: %s: the registry stored it as %s",
				  img_reg_client_name(c), what, r.digest);
	if (rc == 0)
		lt_verbose("%s: %s: uploaded (%" PRId64 " bytes)", img_reg_client_name(c), what,
			   u->size);
out:
	if (rc < 0 && loc != NULL) {
		/* Cancel the session (best effort). */
		reg_req d = {.method = "DELETE", .url = loc, .scope = u->scope, .no_retry = true};
		reg_resp dr = {0};
		lt_error *e = NULL;
		img_reg_do(c, &d, &dr, &e);
		lt_error_free(&e);
		img_reg_resp_clear(&dr);
	}
	img_reg_resp_clear(&r);
	free(loc);
	free(what);
	return rc;
}

typedef struct kv {
	const char *k;
	char *v;
} kv;

static int cmp_kv(const void *a, const void *b)
{
	return strcmp(((const kv *)a)->k, ((const kv *)b)->k);
}

/* The manifest, in Go's field order. */
static char *build_manifest(const char *title, const char *digest, int64_t size, int64_t ctime,
			    const img_oras_opts *o, lt_error **err)
{
	size_t n_ann = o ? o->n_annotations : 0;
	kv *ann = lt_xcalloc(n_ann + 2, sizeof(*ann));
	char **keys = lt_xcalloc(n_ann + 1, sizeof(char *));
	size_t n = 0;
	char *out = NULL;
	for (size_t i = 0; i < n_ann; i++) {
		const char *a = o->annotations[i];
		const char *eq = a ? strchr(a, '=') : NULL;
		if (eq == NULL || eq == a) {
			lt_error_set(err, 0, "invalid annotation \"%s\" (expected KEY=VALUE)",
				     a ? a : "");
			goto out;
		}
		keys[i] = lt_xstrndup(a, (size_t)(eq - a));
		size_t k;
		for (k = 0; k < n && strcmp(ann[k].k, keys[i]) != 0; k++)
			;
		if (k == n)
			n++;
		else
			free(ann[k].v);
		ann[k] = (kv){keys[i], lt_xstrdup(eq + 1)};
	}
	if (ctime != 0) {
		time_t t = (time_t)ctime;
		struct tm tm;
		char buf[64];
		gmtime_r(&t, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
		size_t k;
		for (k = 0; k < n && strcmp(ann[k].k, ANNOT_CREATED) != 0; k++)
			;
		if (k == n)
			n++;
		else
			free(ann[k].v);
		ann[k] = (kv){ANNOT_CREATED, lt_xstrdup(buf)};
	}
	qsort(ann, n, sizeof(*ann), cmp_kv);
	json_t *m = json_object();
	json_object_set_new(m, "schemaVersion", json_integer(2));
	json_object_set_new(m, "mediaType", json_string(MT_OCI_MANIFEST));
	json_object_set_new(m, "config",
			    json_pack("{s:s, s:I, s:s, s:s}", "mediaType", MT_SIF_CONFIG, "size",
				      (json_int_t)2, "digest", EMPTY_JSON_DIGEST, "data", "e30="));
	json_t *layer =
	    json_pack("{s:s, s:I, s:s, s:{s:s}}", "mediaType", MT_SIF_LAYER, "size",
		      (json_int_t)size, "digest", digest, "annotations", ANNOT_TITLE, title);
	json_object_set_new(m, "layers", json_pack("[o]", layer));
	if (n > 0) {
		json_t *a = json_object();
		for (size_t i = 0; i < n; i++)
			json_object_set_new(a, ann[i].k, json_string(ann[i].v));
		json_object_set_new(m, "annotations", a);
	}
	out = json_dumps(m, JSON_COMPACT);
	json_decref(m);
out:
	for (size_t i = 0; i < n; i++)
		free(ann[i].v);
	for (size_t i = 0; i < n_ann; i++)
		free(keys[i]);
	free(keys);
	free(ann);
	return out;
}

static int64_t env_chunk(void)
{
	const char *v = getenv("LITHO_UPLOAD_CHUNK_SIZE");
	int64_t x;
	if (v != NULL && v[0] != '\0' &&
	    lt_parse_int64(v, 1, INT64_MAX, "LITHO_UPLOAD_CHUNK_SIZE", &x, NULL) == 0)
		return x;
	return DEFAULT_CHUNK;
}

int img_oras_push(const char *sif_path, const char *ref, const img_oras_opts *opts,
		  char **manifest_digest, lt_error **err)
{
	if (manifest_digest)
		*manifest_digest = NULL;
	reg_ref rr;
	if (img_reg_ref_parse(ref, "oras", &rr, err) < 0)
		return -1;
	if (rr.digest != NULL) {
		lt_error_set(err, 0, "%s: cannot push to a digest; give a tag", ref);
		img_reg_ref_free(&rr);
		return -1;
	}
	reg_client *c = NULL;
	char *scope = NULL, *manifest = NULL;
	int rc = -1;
	int fd = open(sif_path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		lt_error_set(err, errno, "opening %s", sif_path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		lt_error_set(err, 0, "%s is not a regular file", sif_path);
		goto out;
	}
	if (check_sif_magic(fd, sif_path, err) < 0)
		goto out;
	char digest[72];
	if (hash_fd(fd, st.st_size, sif_path, digest, err) < 0)
		goto out;
	char *base = lt_path_clean(sif_path);
	manifest =
	    build_manifest(lt_path_basename(base), digest, st.st_size, sif_ctime(fd), opts, err);
	free(base);
	if (manifest == NULL)
		goto out;
	c = img_reg_client_new(rr.host, rr.api_host, opts ? &opts->registry : NULL);
	scope = lt_strdup_printf("repository:%s:pull,push", rr.repo);
	int64_t threshold = opts && opts->chunk_threshold > 0 ? opts->chunk_threshold : env_chunk();
	int64_t chunk = opts && opts->chunk_size > 0 ? opts->chunk_size : threshold;
	upload cfg = {.c = c,
		      .repo = rr.repo,
		      .scope = scope,
		      .digest = EMPTY_JSON_DIGEST,
		      .size = 2,
		      .mem = "{}",
		      .fd = -1,
		      .threshold = threshold,
		      .chunk = chunk};
	upload sif = cfg;
	sif.digest = digest;
	sif.size = st.st_size;
	sif.mem = NULL;
	sif.fd = fd;
	if (upload_blob(&cfg, err) < 0 || upload_blob(&sif, err) < 0)
		goto out;
	char *url = lt_strdup_printf("/v2/%s/manifests/%s", rr.repo, rr.tag);
	reg_req q = {.method = "PUT",
		     .url = url,
		     .scope = scope,
		     .what = "manifest",
		     .content_type = MT_OCI_MANIFEST,
		     .body = manifest,
		     .body_len = strlen(manifest),
		     .has_body = true};
	reg_resp r = {0};
	rc = img_reg_do(c, &q, &r, err);
	free(url);
	char md[72];
	uint8_t d[LT_SHA256_LEN];
	lt_sha256_buffer(manifest, strlen(manifest), d);
	lt_sha256_digest_string(d, md);
	if (rc == 0 && r.status != 201)
		rc = img_reg_http_error(c, "uploading the manifest", &r, err);
	if (rc == 0 && r.digest != NULL && strcmp(r.digest, md) != 0)
		rc = lt_error_set(err, 0, "%s: the registry stored the manifest as %s, not %s",
				  img_reg_client_name(c), r.digest, md);
	img_reg_resp_clear(&r);
	if (rc == 0 && manifest_digest)
		*manifest_digest = lt_xstrdup(md);
out:
	if (rc < 0)
		lt_error_wrap(err, "pushing %s to %s", sif_path, rr.display ? rr.display : ref);
	if (fd >= 0)
		close(fd);
	free(manifest);
	free(scope);
	img_reg_client_free(c);
	img_reg_ref_free(&rr);
	return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Pull
 */
/* The SIF layer of an ORAS manifest. */
static int sif_layer(const char *data, size_t len, char *digest, int64_t *size, lt_error **err)
{
	json_t *m = lt_json_parse(data, len, "manifest", err);
	if (m == NULL)
		return -1;
	int rc = -1;
	const char *mt = lt_json_string(m, "mediaType");
	json_t *layers = json_object_get(m, "layers");
	img_desc d;
	if (img_doc_kind_of(mt) == DOC_INDEX || json_is_array(json_object_get(m, "manifests"))) {
		lt_error_set(err, 0, "not a SIF artifact: this is an image index");
	} else if (!json_is_array(layers) || json_array_size(layers) != 1) {
		lt_error_set(
		    err, 0,
		    "not a SIF artifact: the manifest has %zu layers (expected exactly one "
		    "SIF layer)",
		    json_array_size(layers));
	} else if (img_desc_parse(json_array_get(layers, 0), "layer", &d, err) == 0) {
		if (d.media_type == NULL || (strcmp(d.media_type, MT_SIF_LAYER) != 0 &&
					     strcmp(d.media_type, MT_SIF_LAYER_LEGACY) != 0)) {
			lt_error_set(err, 0,
				     "not a SIF artifact: the layer's media type is %s (expected "
				     "%s)",
				     d.media_type ? d.media_type : "missing", MT_SIF_LAYER);
		} else {
			snprintf(digest, 72, "%s", d.digest);
			*size = d.size;
			rc = 0;
		}
	}
	json_decref(m);
	return rc;
}

/* Copies a cached SIF into fd, checking its digest: 1 done, 0 (corrupt: removed), -1. */
static int copy_cached(int cfd, const char *cpath, int fd, const char *digest, int64_t size,
		       lt_error **err)
{
	if (lseek(fd, 0, SEEK_SET) < 0 || ftruncate(fd, 0) < 0 ||
	    lt_copy_range_to_fd(cfd, 0, size, fd, cpath, err) < 0)
		return -1;
	char got[72];
	if (hash_fd(fd, size, "the pulled file", got, err) < 0)
		return -1;
	if (strcmp(got, digest) == 0)
		return 1;
	lt_warn("cache: removing the corrupt entry %s", cpath);
	unlink(cpath);
	if (ftruncate(fd, 0) < 0)
		return lt_error_set(err, errno, "truncating the output");
	return 0;
}

/* Keeps a copy of the verified file in the cache (best effort). */
static void cache_keep(int fd, int64_t size, const char *cpath)
{
	lt_atomic_file af;
	lt_error *err = NULL;
	if (img_cache_atomic_open(cpath, &af, &err) < 0 ||
	    lt_copy_range_to_fd(fd, 0, size, af.fd, cpath, &err) < 0 ||
	    lt_atomic_commit(&af, &err) < 0) {
		lt_atomic_abort(&af);
		lt_debug("cache: %s", err->message);
		lt_error_free(&err);
	}
}

int img_oras_pull(const char *ref, const char *out_path, const img_registry_opts *opts,
		  char **layer_digest, lt_error **err)
{
	if (layer_digest)
		*layer_digest = NULL;
	reg_ref rr;
	if (img_reg_ref_parse(ref, "oras", &rr, err) < 0)
		return -1;
	reg_client *c = img_reg_client_new(rr.host, rr.api_host, opts);
	char *scope = lt_strdup_printf("repository:%s:pull", rr.repo);
	char *cache = img_cache_dir_for(opts);
	char *cpath = NULL, *data = NULL, *mt = NULL;
	size_t len;
	char mdigest[72], digest[72];
	int64_t size = 0;
	lt_atomic_file af = {.fd = -1};
	bool af_open = false, cached = false;
	int rc = img_reg_fetch_manifest(c, rr.repo, scope, rr.digest ? rr.digest : rr.tag,
					rr.digest, -1, NULL, &data, &len, &mt, mdigest, err);
	if (rc == 0)
		rc = sif_layer(data, len, digest, &size, err);
	if (rc < 0)
		goto out;
	if ((rc = lt_atomic_open(&af, out_path, 0755, err)) < 0)
		goto out;
	af_open = true;
	if (cache != NULL) {
		cpath = img_cache_blob_path(cache, "oras", digest);
		int cfd;
		if (img_cache_open_blob(cpath, size, &cfd, NULL) > 0) {
			rc = copy_cached(cfd, cpath, af.fd, digest, size, err);
			close(cfd);
			if (rc < 0)
				goto out;
			cached = rc == 1;
			rc = 0;
		}
	}
	if (cached)
		lt_verbose("%s: %s from the cache", rr.display, digest);
	else
		rc = img_reg_fetch_blob(c, rr.repo, scope, digest, size, af.fd, NULL, NULL, NULL,
					err);
	if (rc == 0)
		rc = check_sif_magic(af.fd, "the pulled file", err);
	if (rc < 0)
		goto out;
	if (cpath != NULL && !cached)
		cache_keep(af.fd, size, cpath);
	rc = lt_atomic_commit(&af, err);
	af_open = false;
	if (rc == 0 && layer_digest)
		*layer_digest = lt_xstrdup(digest);
out:
	if (af_open)
		lt_atomic_abort(&af);
	if (rc < 0)
		lt_error_wrap(err, "%s", rr.display);
	free(data);
	free(mt);
	free(cpath);
	free(cache);
	free(scope);
	img_reg_client_free(c);
	img_reg_ref_free(&rr);
	return rc;
}
