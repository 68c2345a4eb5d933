/* Fixtures shared by the image module's unit tests (test_image.c, test_image_verify.c,
 * test_image_archive.c): a temporary directory, tars written with libarchive, OCI layouts
 * and images written from C, and helpers that open them and read their layers. */
#ifndef LITHO_TEST_IMAGE_FIXTURES_H
#define LITHO_TEST_IMAGE_FIXTURES_H

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "image/image.h"
#include "image/image_internal.h"
#include "tap.h"

static char tmp_root[PATH_MAX];

static inline char *tpath(const char *name)
{
	return lt_path_join(tmp_root, name);
}

static inline void write_bytes(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		printf("# cannot write %s\n", path);
		abort();
	}
	close(fd);
}

static inline char *read_bytes(const char *path, size_t *len)
{
	char *data = NULL;
	lt_error *err = NULL;
	if (lt_read_file(path, &data, len, &err) < 0) {
		printf("# %s\n", err->message);
		abort();
	}
	return data;
}

static inline void digest_of(const void *data, size_t len, char out[72])
{
	uint8_t d[LT_SHA256_LEN];
	lt_sha256_buffer(data, len, d);
	lt_sha256_digest_string(d, out);
}

static inline bool have_tool(const char *name)
{
	char *cmd = lt_strdup_printf("command -v %s >/dev/null 2>&1", name);
	int r = system(cmd);
	free(cmd);
	return r == 0;
}

/* ---------------------------------------------------------------------------------------------
 * Tars
 */
typedef struct member {
	const char *name;
	const void *data;
	size_t len;
	const char *symlink; /* non-NULL: a symlink member */
} member;

static inline void write_tar(const char *path, const char *filter, const member *ms, size_t n)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (filter && strcmp(filter, "gzip") == 0)
		archive_write_add_filter_gzip(a);
	else if (filter && strcmp(filter, "zstd") == 0)
		archive_write_add_filter_zstd(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
		printf("# %s\n", archive_error_string(a));
		abort();
	}
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, ms[i].name);
		archive_entry_set_mtime(e, 1000, 0);
		if (ms[i].symlink) {
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_perm(e, 0777);
			archive_entry_set_symlink(e, ms[i].symlink);
		} else {
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_entry_set_size(e, (la_int64_t)ms[i].len);
		}
		archive_write_header(a, e);
		if (!ms[i].symlink && ms[i].len)
			archive_write_data(a, ms[i].data, ms[i].len);
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
}

/* A layer: an uncompressed tar holding one file named `file` with `content`, and a file "pad"
 * of pad_len bytes when pad_len is not 0. */
static inline char *make_layer_padded(const char *file, const char *content, size_t pad_len,
				      size_t *len)
{
	char *p = tpath("layer.tmp");
	char *pad = lt_xmalloc(pad_len + 1);
	for (size_t i = 0; i < pad_len; i++)
		pad[i] = (char)('a' + (i * 7919 + i / 13) % 26);
	member m[2] = {{file, content, strlen(content), NULL}, {"pad", pad, pad_len, NULL}};
	write_tar(p, NULL, m, pad_len ? 2 : 1);
	char *data = read_bytes(p, len);
	unlink(p);
	free(p);
	free(pad);
	return data;
}

static inline char *make_layer(const char *file, const char *content, size_t *len)
{
	return make_layer_padded(file, content, 0, len);
}

static inline char *gzip_bytes(const char *data, size_t len, size_t *out_len)
{
	char *in = tpath("gz.tmp"), *out = tpath("gz.tmp.gz");
	write_bytes(in, data, len);
	char *cmd = lt_strdup_printf("gzip -n -f %s", in);
	if (system(cmd) != 0)
		abort();
	char *r = read_bytes(out, out_len);
	unlink(out);
	free(cmd);
	free(in);
	free(out);
	return r;
}

/* ---------------------------------------------------------------------------------------------
 * OCI layouts
 */
static inline void layout_init(const char *dir)
{
	char *blobs = lt_path_join(dir, "blobs/sha256");
	tap_mkdir_p(blobs);
	free(blobs);
	char *p = lt_path_join(dir, "oci-layout");
	write_bytes(p, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	free(p);
}

static inline char *blob_path(const char *dir, const char *digest)
{
	char *rel = lt_strdup_printf("blobs/sha256/%s", digest + 7);
	char *p = lt_path_join(dir, rel);
	free(rel);
	return p;
}

/* Stores a blob; returns its digest (new string). */
static inline char *put_blob(const char *dir, const void *data, size_t len)
{
	char d[72];
	digest_of(data, len, d);
	char *p = blob_path(dir, d);
	write_bytes(p, data, len);
	free(p);
	return lt_xstrdup(d);
}

/* Stores a JSON document (stolen) as a blob; returns a descriptor. */
static inline json_t *put_json(const char *dir, const char *media_type, json_t *doc)
{
	char *s = lt_json_dump_compact(doc);
	json_decref(doc);
	char *d = put_blob(dir, s, strlen(s));
	json_t *desc = json_pack("{s:s,s:s,s:I}", "mediaType", media_type, "digest", d, "size",
				 (json_int_t)strlen(s));
	free(d);
	free(s);
	return desc;
}

static inline json_t *make_config(const char *arch, const char *variant, json_t *diff_ids)
{
	json_t *c = json_pack("{s:s,s:s,s:{s:s,s:o},s:{s:[s]}}", "architecture", arch, "os",
			      "linux", "rootfs", "type", "layers", "diff_ids", diff_ids, "config",
			      "Env", "PATH=/bin");
	if (variant)
		json_object_set_new(c, "variant", json_string(variant));
	return c;
}

typedef struct made_image {
	json_t *desc; /* manifest descriptor */
	char *layer_digest;
	char *config_digest;
	char *layer_data;
	size_t layer_len;
} made_image;

static inline void made_free(made_image *m)
{
	json_decref(m->desc);
	free(m->layer_digest);
	free(m->config_digest);
	free(m->layer_data);
	memset(m, 0, sizeof(*m));
}

/* An image with one plain-tar layer whose file is named after `tag`. `layer_mt` NULL: OCI tar;
 * layer_desc_override / cfg hooks let tests break things. */
static inline made_image make_image_ex(const char *dir, const char *tag, const char *arch,
				       const char *variant, const char *layer_mt, bool gzip_layer)
{
	made_image m = {0};
	char content[64];
	snprintf(content, sizeof(content), "content of %s\n", tag);
	size_t len;
	char *tar = make_layer(tag, content, &len);
	char diff_id[72];
	digest_of(tar, len, diff_id);
	if (gzip_layer) {
		size_t glen;
		char *gz = gzip_bytes(tar, len, &glen);
		free(tar);
		tar = gz;
		len = glen;
	}
	m.layer_digest = put_blob(dir, tar, len);
	m.layer_data = tar;
	m.layer_len = len;
	json_t *cfg = put_json(dir, "application/vnd.oci.image.config.v1+json",
			       make_config(arch, variant, json_pack("[s]", diff_id)));
	m.config_digest = lt_xstrdup(json_string_value(json_object_get(cfg, "digest")));
	json_t *layer =
	    json_pack("{s:s,s:s,s:I}", "mediaType",
		      layer_mt ? layer_mt
			       : (gzip_layer ? "application/vnd.oci.image.layer.v1.tar+gzip"
					     : "application/vnd.oci.image.layer.v1.tar"),
		      "digest", m.layer_digest, "size", (json_int_t)len);
	json_t *man =
	    json_pack("{s:i,s:s,s:o,s:[o]}", "schemaVersion", 2, "mediaType",
		      "application/vnd.oci.image.manifest.v1+json", "config", cfg, "layers", layer);
	m.desc = put_json(dir, "application/vnd.oci.image.manifest.v1+json", man);
	return m;
}

static inline made_image make_image(const char *dir, const char *tag, const char *arch)
{
	return make_image_ex(dir, tag, arch, NULL, NULL, false);
}

static inline void annotate(json_t *desc, const char *key, const char *value)
{
	json_t *a = json_object_get(desc, "annotations");
	if (a == NULL) {
		a = json_object();
		json_object_set_new(desc, "annotations", a);
	}
	json_object_set_new(a, key, json_string(value));
}

static inline void set_platform(json_t *desc, const char *os, const char *arch, const char *variant)
{
	json_t *p = json_pack("{s:s,s:s}", "os", os, "architecture", arch);
	if (variant)
		json_object_set_new(p, "variant", json_string(variant));
	json_object_set_new(desc, "platform", p);
}

/* Writes index.json listing `manifests` (stolen). */
static inline void write_index(const char *dir, json_t *manifests)
{
	json_t *idx = json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType",
				"application/vnd.oci.image.index.v1+json", "manifests", manifests);
	char *s = lt_json_dump_compact(idx);
	char *p = lt_path_join(dir, "index.json");
	write_bytes(p, s, strlen(s));
	free(p);
	free(s);
	json_decref(idx);
}

static inline const char *host_arch(void)
{
	img_wanted w;
	img_wanted_init(NULL, &w);
	static char arch[72];
	memcpy(arch, w.arch, sizeof(arch));
	return arch;
}

/* Opens ref and expects success (prints the error otherwise). */
static inline img_image *open_ok(const char *ref, const img_platform *p, img_source **src)
{
	img_image *img = NULL;
	lt_error *err = NULL;
	*src = NULL;
	if (img_open(ref, p, src, &img, &err) < 0) {
		printf("# img_open(%s): %s\n", ref, err->message);
		lt_error_free(&err);
		tap_current_failed = true;
		return NULL;
	}
	return img;
}

/* Opens ref and expects an error containing needle. */
static inline void open_fails(const char *ref, const img_platform *p, const char *needle)
{
	img_image *img = NULL;
	img_source *src = NULL;
	lt_error *err = NULL;
	int r = img_open(ref, p, &src, &img, &err);
	CHECK_INT(r, -1);
	CHECK(src == NULL && img == NULL);
	CHECK_ERR(err, needle);
	if (r == 0) {
		img_close(src);
		img_image_free(img);
	}
	lt_error_free(&err);
}

/* Reads layer i fully; NULL with *err on error. */
static inline char *read_layer(img_source *src, size_t i, size_t *len, lt_error **err)
{
	img_blob *b;
	if (img_blob_open(src, i, &b, err) < 0)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (n == cap)
			buf = realloc(buf, cap *= 2);
		ssize_t r = img_blob_read(b, buf + n, cap - n, err);
		if (r < 0) {
			free(buf);
			img_blob_close(b);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	img_blob_close(b);
	*len = n;
	return buf;
}

/* Reads every layer and checks that it verifies; returns the number that did. */
static inline size_t read_all_layers(img_source *src, const img_image *img)
{
	size_t ok = 0;
	for (size_t i = 0; i < img->n_layers; i++) {
		lt_error *err = NULL;
		size_t len;
		char *data = read_layer(src, i, &len, &err);
		if (data == NULL) {
			printf("# layer %zu: %s\n", i, err->message);
			lt_error_free(&err);
			continue;
		}
		char d[72];
		digest_of(data, len, d);
		if (strcmp(d, img->layers[i].digest) == 0 && (int64_t)len == img->layers[i].size)
			ok++;
		free(data);
	}
	return ok;
}

/* Makes the temporary directory (TMPDIR or /tmp, litho-test-NAME-XXXXXX); -1 on failure. */
static inline int fixtures_begin(const char *name)
{
	lt_log_set_level(LT_LOG_ERROR);
	snprintf(tmp_root, sizeof(tmp_root), "%s/litho-test-%s-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name);
	if (mkdtemp(tmp_root) == NULL) {
		perror("mkdtemp");
		return -1;
	}
	return 0;
}

/* Removes the temporary directory and prints the TAP plan; the exit status. */
static inline int fixtures_end(void)
{
	char *cmd = lt_strdup_printf("rm -rf '%s'", tmp_root);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmp_root);
	free(cmd);
	return tap_done();
}

#endif
