/* Unit tests for the image module: layouts and archives are made on the fly in a temporary
 * directory (JSON and blobs written from C, tars written with libarchive); skopeo and umoci
 * make the third-party archives when they are installed. */
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

#include "image.h"
#include "image_internal.h"
#include "tap.h"

static char tmp_root[PATH_MAX];

static char *tpath(const char *name)
{
	return lt_path_join(tmp_root, name);
}

static void write_bytes(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		printf("# cannot write %s\n", path);
		abort();
	}
	close(fd);
}

static char *read_bytes(const char *path, size_t *len)
{
	char *data = NULL;
	lt_error *err = NULL;
	if (lt_read_file(path, &data, len, &err) < 0) {
		printf("# %s\n", err->message);
		abort();
	}
	return data;
}

static void digest_of(const void *data, size_t len, char out[72])
{
	uint8_t d[LT_SHA256_LEN];
	lt_sha256_buffer(data, len, d);
	lt_sha256_digest_string(d, out);
}

static bool have_tool(const char *name)
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

static void write_tar(const char *path, const char *filter, const member *ms, size_t n)
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
static char *make_layer_padded(const char *file, const char *content, size_t pad_len, size_t *len)
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

static char *make_layer(const char *file, const char *content, size_t *len)
{
	return make_layer_padded(file, content, 0, len);
}

static char *gzip_bytes(const char *data, size_t len, size_t *out_len)
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
static void layout_init(const char *dir)
{
	char *blobs = lt_path_join(dir, "blobs/sha256");
	tap_mkdir_p(blobs);
	free(blobs);
	char *p = lt_path_join(dir, "oci-layout");
	write_bytes(p, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	free(p);
}

static char *blob_path(const char *dir, const char *digest)
{
	char *rel = lt_strdup_printf("blobs/sha256/%s", digest + 7);
	char *p = lt_path_join(dir, rel);
	free(rel);
	return p;
}

/* Stores a blob; returns its digest (new string). */
static char *put_blob(const char *dir, const void *data, size_t len)
{
	char d[72];
	digest_of(data, len, d);
	char *p = blob_path(dir, d);
	write_bytes(p, data, len);
	free(p);
	return lt_xstrdup(d);
}

/* Stores a JSON document (stolen) as a blob; returns a descriptor. */
static json_t *put_json(const char *dir, const char *media_type, json_t *doc)
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

static json_t *make_config(const char *arch, const char *variant, json_t *diff_ids)
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

static void made_free(made_image *m)
{
	json_decref(m->desc);
	free(m->layer_digest);
	free(m->config_digest);
	free(m->layer_data);
	memset(m, 0, sizeof(*m));
}

/* An image with one plain-tar layer whose file is named after `tag`. `layer_mt` NULL: OCI tar;
 * layer_desc_override / cfg hooks let tests break things. */
static made_image make_image_ex(const char *dir, const char *tag, const char *arch,
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

static made_image make_image(const char *dir, const char *tag, const char *arch)
{
	return make_image_ex(dir, tag, arch, NULL, NULL, false);
}

static void annotate(json_t *desc, const char *key, const char *value)
{
	json_t *a = json_object_get(desc, "annotations");
	if (a == NULL) {
		a = json_object();
		json_object_set_new(desc, "annotations", a);
	}
	json_object_set_new(a, key, json_string(value));
}

static void set_platform(json_t *desc, const char *os, const char *arch, const char *variant)
{
	json_t *p = json_pack("{s:s,s:s}", "os", os, "architecture", arch);
	if (variant)
		json_object_set_new(p, "variant", json_string(variant));
	json_object_set_new(desc, "platform", p);
}

/* Writes index.json listing `manifests` (stolen). */
static void write_index(const char *dir, json_t *manifests)
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

static const char *host_arch(void)
{
	img_wanted w;
	img_wanted_init(NULL, &w);
	static char arch[72];
	memcpy(arch, w.arch, sizeof(arch));
	return arch;
}

/* Opens ref and expects success (prints the error otherwise). */
static img_image *open_ok(const char *ref, const img_platform *p, img_source **src)
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
static void open_fails(const char *ref, const img_platform *p, const char *needle)
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
static char *read_layer(img_source *src, size_t i, size_t *len, lt_error **err)
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
static size_t read_all_layers(img_source *src, const img_image *img)
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

/* ---------------------------------------------------------------------------------------------
 * Tests
 */
static void test_ref_parse(void)
{
	char *dir = tpath("refs");
	char *colon_dir = tpath("refs/with:colon");
	tap_mkdir_p(colon_dir);
	char *file = tpath("refs/img.tar");
	write_bytes(file, "x", 1);
	char *cfile = tpath("refs/a:b.tar");
	write_bytes(cfile, "x", 1);
	img_ref r;
	lt_error *err = NULL;
	char *s;

	CHECK(img_is_reference("oci:x"));
	CHECK(img_is_reference("oci-archive:x"));
	CHECK(img_is_reference("docker-archive:x"));
	CHECK(img_is_reference("docker://x"));
	CHECK(!img_is_reference("ocix:x"));
	CHECK(!img_is_reference("/tmp/x.sif"));

	s = lt_strdup_printf("oci:%s", dir);
	CHECK_INT(img_ref_parse(s, &r, &err), 0);
	CHECK_STR(r.path, dir);
	CHECK(r.tag == NULL && r.digest == NULL);
	img_ref_free(&r);
	free(s);

	s = lt_strdup_printf("oci:%s:v1.0", dir);
	CHECK_INT(img_ref_parse(s, &r, &err), 0);
	CHECK_STR(r.path, dir);
	CHECK_STR(r.tag, "v1.0");
	img_ref_free(&r);
	free(s);

	/* The directory name contains ':' */
	s = lt_strdup_printf("oci:%s", colon_dir);
	CHECK_INT(img_ref_parse(s, &r, &err), 0);
	CHECK_STR(r.path, colon_dir);
	CHECK(r.tag == NULL);
	img_ref_free(&r);
	free(s);
	s = lt_strdup_printf("oci:%s:t", colon_dir);
	CHECK_INT(img_ref_parse(s, &r, &err), 0);
	CHECK_STR(r.path, colon_dir);
	CHECK_STR(r.tag, "t");
	img_ref_free(&r);
	free(s);
	/* A ref name that contains ':' (a full reference) */
	s = lt_strdup_printf("oci:%s:docker.io/library/busybox:latest", dir);
	CHECK_INT(img_ref_parse(s, &r, &err), 0);
	CHECK_STR(r.path, dir);
	CHECK_STR(r.tag, "docker.io/library/busybox:latest");
	img_ref_free(&r);
	free(s);

	const char *dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	s = lt_strdup_printf("oci:%s@%s", dir, dg);
	CHECK_INT(img_ref_parse(s, &r, &err), 0);
	CHECK_STR(r.path, dir);
	CHECK_STR(r.digest, dg);
	CHECK(r.tag == NULL);
	img_ref_free(&r);
	free(s);
	/* Nothing exists: the first separator splits */
	CHECK_INT(img_ref_parse("oci:/nonexistent/x@sha256:abc", &r, &err), -1);
	CHECK_ERR(err, "invalid sha256 digest");
	lt_error_free(&err);
	s = lt_strdup_printf("oci:/nonexistent/x@%s", dg);
	CHECK_INT(img_ref_parse(s, &r, &err), 0);
	CHECK_STR(r.path, "/nonexistent/x");
	CHECK_STR(r.digest, dg);
	img_ref_free(&r);
	free(s);
	CHECK_INT(img_ref_parse("oci:/nonexistent/x:tag", &r, &err), 0);
	CHECK_STR(r.path, "/nonexistent/x");
	CHECK_STR(r.tag, "tag");
	img_ref_free(&r);
	CHECK_INT(img_ref_parse("oci:rel/dir", &r, &err), 0);
	CHECK_STR(r.path, "rel/dir");
	img_ref_free(&r);

	CHECK_INT(img_ref_parse("oci:", &r, &err), -1);
	CHECK_ERR(err, "missing path");
	lt_error_free(&err);
	s = lt_strdup_printf("oci:%s:", dir);
	CHECK_INT(img_ref_parse(s, &r, &err), -1);
	CHECK_ERR(err, "empty tag");
	lt_error_free(&err);
	free(s);
	s = lt_strdup_printf("oci:%s@sha512:abcd", dir);
	CHECK_INT(img_ref_parse(s, &r, &err), -1);
	CHECK_ERR(err, "unsupported digest algorithm \"sha512\"");
	lt_error_free(&err);
	free(s);
	CHECK_INT(img_ref_parse("docker://busybox", &r, &err), -1);
	CHECK_ERR(err, "not an image reference");
	lt_error_free(&err);

	/* docker-archive: NAME may hold '/' and a registry port; the tag is after the last ':' */
	s = lt_strdup_printf("docker-archive:%s:docker.io/library/busybox:latest", file);
	CHECK_INT(img_ref_parse(s, &r, &err), 0);
	CHECK_STR(r.path, file);
	CHECK_STR(r.name, "docker.io/library/busybox");
	CHECK_STR(r.tag, "latest");
	CHECK_INT(r.transport, IMG_DOCKER_ARCHIVE);
	img_ref_free(&r);
	free(s);
	s = lt_strdup_printf("docker-archive:%s:localhost:5000/foo/bar:1.0", file);
	CHECK_INT(img_ref_parse(s, &r, &err), 0);
	CHECK_STR(r.name, "localhost:5000/foo/bar");
	CHECK_STR(r.tag, "1.0");
	img_ref_free(&r);
	free(s);
	s = lt_strdup_printf("docker-archive:%s:localhost:5000/foo", file);
	CHECK_INT(img_ref_parse(s, &r, &err), 0);
	CHECK_STR(r.path, file);
	CHECK_STR(r.name, "localhost:5000/foo");
	CHECK_STR(r.tag, "latest");
	img_ref_free(&r);
	free(s);
	s = lt_strdup_printf("docker-archive:%s:busybox", file);
	CHECK_INT(img_ref_parse(s, &r, &err), 0);
	CHECK_STR(r.name, "busybox");
	CHECK_STR(r.tag, "latest");
	img_ref_free(&r);
	free(s);
	s = lt_strdup_printf("docker-archive:%s", file);
	CHECK_INT(img_ref_parse(s, &r, &err), 0);
	CHECK_STR(r.path, file);
	CHECK(r.name == NULL && r.tag == NULL);
	img_ref_free(&r);
	free(s);
	/* The file name contains ':' */
	s = lt_strdup_printf("docker-archive:%s:foo:v2", cfile);
	CHECK_INT(img_ref_parse(s, &r, &err), 0);
	CHECK_STR(r.path, cfile);
	CHECK_STR(r.name, "foo");
	CHECK_STR(r.tag, "v2");
	img_ref_free(&r);
	free(s);
	s = lt_strdup_printf("docker-archive:%s:foo@sha256:abc", file);
	CHECK_INT(img_ref_parse(s, &r, &err), -1);
	CHECK_ERR(err, "not a digest");
	lt_error_free(&err);
	free(s);
	s = lt_strdup_printf("docker-archive:%s:Foo Bar", file);
	CHECK_INT(img_ref_parse(s, &r, &err), -1);
	CHECK_ERR(err, "invalid image name");
	lt_error_free(&err);
	free(s);
	s = lt_strdup_printf("oci-archive:%s:t", file);
	CHECK_INT(img_ref_parse(s, &r, &err), 0);
	CHECK_STR(r.path, file);
	CHECK_STR(r.tag, "t");
	CHECK_INT(r.transport, IMG_OCI_ARCHIVE);
	img_ref_free(&r);
	free(s);

	free(dir);
	free(colon_dir);
	free(file);
	free(cfile);
}

static void test_docker_names(void)
{
	char *a = img_docker_ref_canonical("busybox:latest");
	char *b = img_docker_ref_canonical("docker.io/library/busybox:latest");
	char *c = img_docker_ref_canonical("library/busybox");
	char *d = img_docker_ref_canonical("index.docker.io/library/busybox");
	char *e = img_docker_ref_canonical("localhost:5000/busybox");
	char *f = img_docker_ref_canonical("quay.io/foo/bar:1.2");
	char *g = img_docker_ref_canonical("user/repo");
	CHECK_STR(a, "docker.io/library/busybox:latest");
	CHECK_STR(b, "docker.io/library/busybox:latest");
	CHECK_STR(c, "docker.io/library/busybox:latest");
	CHECK_STR(d, "docker.io/library/busybox:latest");
	CHECK_STR(e, "localhost:5000/busybox:latest");
	CHECK_STR(f, "quay.io/foo/bar:1.2");
	CHECK_STR(g, "docker.io/user/repo:latest");
	CHECK(img_docker_ref_canonical("") == NULL);
	CHECK(img_docker_ref_canonical("a b") == NULL);
	CHECK(img_docker_ref_canonical("busybox:") == NULL);
	free(a);
	free(b);
	free(c);
	free(d);
	free(e);
	free(f);
	free(g);
}

static void test_check_digest(void)
{
	lt_error *err = NULL;
	const char *hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char *ok = lt_strdup_printf("sha256:%s", hex);
	CHECK_INT(img_check_digest(ok, "x", &err), 0);
	char *upper = lt_strdup_printf("sha256:%s", hex);
	upper[10] = 'A';
	upper[11] = 'B';
	CHECK_INT(img_check_digest(upper, "x", &err), -1);
	CHECK_ERR(err, "64 lowercase hex");
	lt_error_free(&err);
	CHECK_INT(img_check_digest("sha256:abc", "x", &err), -1);
	CHECK_ERR(err, "invalid sha256 digest");
	lt_error_free(&err);
	char *sha512 = lt_strdup_printf("sha512:%s%s", hex, hex);
	CHECK_INT(img_check_digest(sha512, "layer 3", &err), -1);
	CHECK_ERR(err, "layer 3: unsupported digest algorithm \"sha512\"");
	lt_error_free(&err);
	CHECK_INT(
	    img_check_digest("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", "x", &err),
	    -1);
	CHECK_ERR(err, "unsupported digest algorithm \"sha256+b64u\"");
	lt_error_free(&err);
	const char *bad[] = {"nocolon",	    ":abc",   "sha256:",    "SHA256:abc",
			     "sha256-:abc", "a..b:c", "sha256:a/b", NULL};
	for (int i = 0; bad[i]; i++) {
		CHECK_INT(img_check_digest(bad[i], "x", &err), -1);
		CHECK_ERR(err, "invalid");
		lt_error_free(&err);
	}
	CHECK_INT(img_check_digest(NULL, "x", &err), -1);
	lt_error_free(&err);
	free(ok);
	free(upper);
	free(sha512);
}

static void test_oci_tags(void)
{
	char *dir = tpath("tags");
	layout_init(dir);
	const char *arch = host_arch();
	made_image a = make_image(dir, "a", arch);
	made_image b = make_image(dir, "b", arch);
	annotate(a.desc, "org.opencontainers.image.ref.name", "a");
	annotate(b.desc, "org.opencontainers.image.ref.name", "b");
	annotate(b.desc, "io.containerd.image.name", "docker.io/library/bee:b");
	write_index(dir, json_pack("[O,O]", a.desc, b.desc));
	img_source *src;
	img_image *img;
	char *ref;

	ref = lt_strdup_printf("oci:%s:a", dir);
	img = open_ok(ref, NULL, &src);
	if (img) {
		CHECK_INT(img->n_layers, 1);
		CHECK_STR(img->layers[0].digest, a.layer_digest);
		CHECK_STR(img->layers[0].diff_id, a.layer_digest);
		CHECK_STR(img->layers[0].media_type, "application/vnd.oci.image.layer.v1.tar");
		CHECK_INT(img->layers[0].size, a.layer_len);
		CHECK_STR(img->manifest_digest,
			  json_string_value(json_object_get(a.desc, "digest")));
		CHECK_STR(img->manifest_media_type, "application/vnd.oci.image.manifest.v1+json");
		CHECK_STR(img->config_digest, a.config_digest);
		CHECK_STR(img->tag, "a");
		CHECK(img->name == NULL);
		CHECK_STR(img->reference, ref);
		CHECK_STR(img->arch, arch);
		CHECK_STR(img->os, "linux");
		CHECK(img->config != NULL && json_object_get(img->config, "rootfs") != NULL);
		CHECK(img->config_data != NULL && strlen(img->config_data) == img->config_len);
		CHECK_INT(read_all_layers(src, img), 1);
		size_t order[1];
		img_layer_order(src, order);
		CHECK_INT(order[0], 0);
		img_close(src);
		img_image_free(img);
	}
	free(ref);

	ref = lt_strdup_printf("oci:%s:b", dir);
	img = open_ok(ref, NULL, &src);
	if (img) {
		CHECK_STR(img->layers[0].digest, b.layer_digest);
		CHECK_STR(img->name, "docker.io/library/bee");
		CHECK_STR(img->tag, "b");
		img_close(src);
		img_image_free(img);
	}
	free(ref);
	/* The containerd full name selects too, also normalised */
	ref = lt_strdup_printf("oci:%s:docker.io/library/bee:b", dir);
	img = open_ok(ref, NULL, &src);
	if (img) {
		CHECK_STR(img->layers[0].digest, b.layer_digest);
		img_close(src);
		img_image_free(img);
	}
	free(ref);
	ref = lt_strdup_printf("oci:%s:bee:b", dir);
	img = open_ok(ref, NULL, &src);
	if (img) {
		CHECK_STR(img->layers[0].digest, b.layer_digest);
		img_close(src);
		img_image_free(img);
	}
	free(ref);

	/* @DIGEST */
	ref = lt_strdup_printf("oci:%s@%s", dir,
			       json_string_value(json_object_get(b.desc, "digest")));
	img = open_ok(ref, NULL, &src);
	if (img) {
		CHECK_STR(img->layers[0].digest, b.layer_digest);
		CHECK_STR(img->manifest_digest,
			  json_string_value(json_object_get(b.desc, "digest")));
		img_close(src);
		img_image_free(img);
	}
	free(ref);
	ref = lt_strdup_printf("oci:%s@sha256:%064d", dir, 0);
	char *expect = lt_strdup_printf("oci:%s: no manifest with digest sha256:%064d", dir, 0);
	open_fails(ref, NULL, expect);
	free(expect);
	free(ref);

	/* A missing tag names the reference and the available tags */
	ref = lt_strdup_printf("oci:%s:nope", dir);
	expect = lt_strdup_printf("oci:%s: no image tagged nope (available: a, b)", dir);
	open_fails(ref, NULL, expect);
	free(expect);
	free(ref);
	/* No tag with two images */
	ref = lt_strdup_printf("oci:%s", dir);
	open_fails(ref, NULL, "choose one with :TAG or @DIGEST (available: a, b)");
	free(ref);

	/* One image: no tag needed, and a tag-less entry is fine */
	json_object_del(a.desc, "annotations");
	write_index(dir, json_pack("[O]", a.desc));
	ref = lt_strdup_printf("oci:%s", dir);
	img = open_ok(ref, NULL, &src);
	if (img) {
		CHECK_STR(img->layers[0].digest, a.layer_digest);
		CHECK(img->tag == NULL);
		img_close(src);
		img_image_free(img);
	}
	free(ref);

	/* Not a layout */
	char *p = lt_path_join(dir, "oci-layout");
	write_bytes(p, "{\"imageLayoutVersion\":\"2.0.0\"}", 30);
	ref = lt_strdup_printf("oci:%s", dir);
	open_fails(ref, NULL, "unsupported imageLayoutVersion \"2.0.0\"");
	unlink(p);
	open_fails(ref, NULL, "not an OCI image layout: oci-layout is missing");
	free(ref);
	free(p);
	ref = lt_strdup_printf("oci:%s/nonexistent", dir);
	open_fails(ref, NULL, "nonexistent: opening the layout directory");
	free(ref);

	made_free(&a);
	made_free(&b);
	free(dir);
}

/* A nested index: index.json -> index (no platform) -> attestation, arm64, amd64 (+ s390x
 * whose manifest is missing). */
static void test_nested_platforms(void)
{
	char *dir = tpath("nested");
	layout_init(dir);
	made_image arm = make_image(dir, "arm64", "arm64");
	made_image amd = make_image(dir, "amd64", "amd64");
	made_image att = make_image(dir, "att", "unknown");
	made_image s390 = make_image(dir, "s390x", "s390x");
	set_platform(arm.desc, "linux", "arm64", "v8");
	set_platform(amd.desc, "linux", "amd64", NULL);
	set_platform(att.desc, "unknown", "unknown", NULL);
	annotate(att.desc, "vnd.docker.reference.type", "attestation-manifest");
	set_platform(s390.desc, "linux", "s390x", NULL);
	char *s390_blob = blob_path(dir, json_string_value(json_object_get(s390.desc, "digest")));
	unlink(s390_blob);
	free(s390_blob);
	json_t *idx = json_pack("{s:i,s:s,s:[O,O,O,O]}", "schemaVersion", 2, "mediaType",
				"application/vnd.oci.image.index.v1+json", "manifests", att.desc,
				arm.desc, amd.desc, s390.desc);
	json_t *idx_desc = put_json(dir, "application/vnd.oci.image.index.v1+json", idx);
	annotate(idx_desc, "org.opencontainers.image.ref.name", "multi");
	write_index(dir, json_pack("[o]", idx_desc));

	img_source *src;
	img_image *img;
	char *ref = lt_strdup_printf("oci:%s:multi", dir);
	img_platform p = {.arch = "arm64"};
	img = open_ok(ref, &p, &src);
	if (img) {
		CHECK_STR(img->arch, "arm64");
		CHECK_STR(img->layers[0].digest, arm.layer_digest);
		CHECK_STR(img->tag, "multi");
		CHECK_STR(img->manifest_digest,
			  json_string_value(json_object_get(arm.desc, "digest")));
		img_close(src);
		img_image_free(img);
	}
	p.arch = "amd64";
	img = open_ok(ref, &p, &src);
	if (img) {
		CHECK_STR(img->arch, "amd64");
		CHECK_STR(img->layers[0].digest, amd.layer_digest);
		img_close(src);
		img_image_free(img);
	}
	p.arch = "x86_64"; /* uname spelling */
	img = open_ok(ref, &p, &src);
	if (img) {
		CHECK_STR(img->arch, "amd64");
		img_close(src);
		img_image_free(img);
	}
	p.arch = "riscv64";
	open_fails(ref, &p,
		   "no image for linux/riscv64 (available: linux/arm64/v8, linux/amd64, "
		   "linux/s390x)");
	p.arch = "s390x";
	open_fails(ref, &p, "the manifest for linux/s390x");
	open_fails(ref, &p, "(platforms present: linux/arm64/v8, linux/amd64)");
	/* The attestation entry is never chosen, even for its own platform */
	img_platform unk = {.os = "unknown", .arch = "unknown"};
	open_fails(ref, &unk, "no image for unknown/unknown");
	/* Without a tag: one entry in index.json */
	free(ref);
	ref = lt_strdup_printf("oci:%s", dir);
	p.arch = "arm64";
	img = open_ok(ref, &p, &src);
	if (img) {
		CHECK_STR(img->arch, "arm64");
		img_close(src);
		img_image_free(img);
	}
	free(ref);
	made_free(&arm);
	made_free(&amd);
	made_free(&att);
	made_free(&s390);
	free(dir);
}

static void test_platform_variants(void)
{
	char *dir = tpath("variants");
	layout_init(dir);
	made_image v6 = make_image_ex(dir, "v6", "arm", "v6", NULL, false);
	made_image v7 = make_image_ex(dir, "v7", "arm", "v7", NULL, false);
	made_image any = make_image(dir, "any", "amd64");
	set_platform(v6.desc, "linux", "arm", "v6");
	set_platform(v7.desc, "linux", "arm", "v7");
	/* a Docker manifest list this time */
	json_t *list = json_pack("{s:i,s:s,s:[O,O]}", "schemaVersion", 2, "mediaType",
				 "application/vnd.docker.distribution.manifest.list.v2+json",
				 "manifests", v6.desc, v7.desc);
	json_t *list_desc =
	    put_json(dir, "application/vnd.docker.distribution.manifest.list.v2+json", list);
	write_index(dir, json_pack("[o]", list_desc));
	char *ref = lt_strdup_printf("oci:%s", dir);
	img_source *src;
	img_image *img;
	img_platform p = {.arch = "arm", .variant = "v7"};
	img = open_ok(ref, &p, &src);
	if (img) {
		CHECK_STR(img->variant, "v7");
		img_close(src);
		img_image_free(img);
	}
	p.variant = "v8"; /* v8 runs v7 (the best less capable) */
	img = open_ok(ref, &p, &src);
	if (img) {
		CHECK_STR(img->variant, "v7");
		img_close(src);
		img_image_free(img);
	}
	p.variant = "v6";
	img = open_ok(ref, &p, &src);
	if (img) {
		CHECK_STR(img->variant, "v6");
		img_close(src);
		img_image_free(img);
	}
	p.variant = "v5";
	open_fails(ref, &p, "no image for linux/arm/v5 (available: linux/arm/v6, linux/arm/v7)");
	/* An entry without platform is the last resort */
	list = json_pack("{s:i,s:s,s:[O,O,O]}", "schemaVersion", 2, "mediaType",
			 "application/vnd.oci.image.index.v1+json", "manifests", any.desc, v6.desc,
			 v7.desc);
	list_desc = put_json(dir, "application/vnd.oci.image.index.v1+json", list);
	write_index(dir, json_pack("[o]", list_desc));
	img = open_ok(ref, &p, &src);
	if (img) {
		CHECK_STR(img->layers[0].digest, any.layer_digest);
		img_close(src);
		img_image_free(img);
	}
	p.variant = "v7";
	img = open_ok(ref, &p, &src);
	if (img) {
		CHECK_STR(img->layers[0].digest, v7.layer_digest);
		img_close(src);
		img_image_free(img);
	}
	/* Ties go to the earlier entry */
	json_t *v7b = json_deep_copy(v6.desc);
	set_platform(v7b, "linux", "arm", "v7");
	list = json_pack("{s:i,s:s,s:[O,o]}", "schemaVersion", 2, "mediaType",
			 "application/vnd.oci.image.index.v1+json", "manifests", v7.desc, v7b);
	list_desc = put_json(dir, "application/vnd.oci.image.index.v1+json", list);
	write_index(dir, json_pack("[o]", list_desc));
	img = open_ok(ref, &p, &src);
	if (img) {
		CHECK_STR(img->layers[0].digest, v7.layer_digest);
		img_close(src);
		img_image_free(img);
	}
	/* Wanted-platform ranking */
	img_wanted w;
	img_platform arm64 = {.arch = "arm64"};
	img_wanted_init(&arm64, &w);
	CHECK_INT(img_platform_rank(&w, "linux", "arm64", NULL), 0);
	CHECK_INT(img_platform_rank(&w, "linux", "arm64", "v8"), 1);
	CHECK_INT(img_platform_rank(&w, "linux", "aarch64", ""), 0);
	CHECK_INT(img_platform_rank(&w, "linux", "amd64", NULL), -1);
	CHECK_INT(img_platform_rank(&w, "windows", "arm64", NULL), -1);
	free(ref);
	made_free(&v6);
	made_free(&v7);
	made_free(&any);
	free(dir);
}

/* Writes a layout with one image whose pieces the caller then breaks. */
static char *simple_layout(const char *name, made_image *m, const char *layer_mt)
{
	char *dir = tpath(name);
	layout_init(dir);
	*m = make_image_ex(dir, "x", host_arch(), NULL, layer_mt, false);
	write_index(dir, json_pack("[O]", m->desc));
	return dir;
}

static void test_digest_mismatch(void)
{
	made_image m;
	char *dir = simple_layout("mismatch", &m, NULL);
	char *ref = lt_strdup_printf("oci:%s", dir);

	/* A layer whose bytes changed (same size): detected by img_blob_read at the end */
	char *lp = blob_path(dir, m.layer_digest);
	char *bad = lt_xmalloc(m.layer_len);
	memcpy(bad, m.layer_data, m.layer_len);
	bad[600] ^= 1;
	write_bytes(lp, bad, m.layer_len);
	img_source *src;
	img_image *img = open_ok(ref, NULL, &src);
	if (img) {
		lt_error *err = NULL;
		size_t len;
		char *data = read_layer(src, 0, &len, &err);
		CHECK(data == NULL);
		char *expect =
		    lt_strdup_printf("blob %s: digest mismatch: got sha256:", m.layer_digest);
		CHECK_ERR(err, expect);
		free(expect);
		free(data);
		lt_error_free(&err);
		img_close(src);
		img_image_free(img);
	}
	write_bytes(lp, m.layer_data, m.layer_len);

	/* A config whose bytes changed: img_open fails */
	char *cp = blob_path(dir, m.config_digest);
	size_t clen;
	char *cfg = read_bytes(cp, &clen);
	cfg[clen - 2] = cfg[clen - 2] == ' ' ? '\t' : ' ';
	write_bytes(cp, cfg, clen);
	char *expect = lt_strdup_printf("oci:%s: config: digest mismatch for %s: got sha256:", dir,
					m.config_digest);
	open_fails(ref, NULL, expect);
	free(expect);
	/* A config that is missing */
	unlink(cp);
	expect = lt_strdup_printf("oci:%s: blob %s (config) is missing", dir, m.config_digest);
	open_fails(ref, NULL, expect);
	free(expect);
	free(cfg);
	free(cp);

	/* A missing layer */
	made_free(&m);
	free(dir);
	dir = simple_layout("missing", &m, NULL);
	free(lp);
	lp = blob_path(dir, m.layer_digest);
	unlink(lp);
	free(ref);
	ref = lt_strdup_printf("oci:%s", dir);
	expect = lt_strdup_printf("oci:%s: blob %s (layer 1) is missing", dir, m.layer_digest);
	open_fails(ref, NULL, expect);
	free(expect);

	free(bad);
	free(lp);
	free(ref);
	made_free(&m);
	free(dir);
}

static void test_size_mismatch(void)
{
	made_image m;
	char *dir = simple_layout("size", &m, NULL);
	char *ref = lt_strdup_printf("oci:%s", dir);
	/* The manifest descriptor in index.json has a wrong size */
	json_t *d = json_deep_copy(m.desc);
	json_object_set_new(d, "size",
			    json_integer(json_integer_value(json_object_get(d, "size")) + 1));
	write_index(dir, json_pack("[o]", d));
	open_fails(ref, NULL, "manifest: size mismatch for sha256:");
	write_index(dir, json_pack("[O]", m.desc));

	/* The layer blob is larger than its descriptor: caught at open */
	char *lp = blob_path(dir, m.layer_digest);
	char *bigger = lt_xmalloc(m.layer_len + 512);
	memcpy(bigger, m.layer_data, m.layer_len);
	memset(bigger + m.layer_len, 0, 512);
	write_bytes(lp, bigger, m.layer_len + 512);
	open_fails(ref, NULL, "layer 1: size mismatch");
	write_bytes(lp, m.layer_data, m.layer_len);

	/* ... and by img_blob_read as soon as more bytes arrive than the descriptor says (the
	 * blob grows after img_open) */
	img_source *src;
	img_image *img = open_ok(ref, NULL, &src);
	if (img) {
		write_bytes(lp, bigger, m.layer_len + 512);
		img_blob *b;
		lt_error *err = NULL;
		CHECK_INT(img_blob_open(src, 0, &b, &err), 0);
		char *buf = lt_xmalloc(m.layer_len + 512);
		ssize_t r = 0;
		size_t total = 0;
		while ((r = img_blob_read(b, buf, 100, &err)) > 0)
			total += (size_t)r;
		CHECK_INT(r, -1);
		CHECK(total <= m.layer_len);
		CHECK_ERR(err, "has more bytes than the");
		lt_error_free(&err);
		/* Failure is sticky */
		CHECK_INT(img_blob_read(b, buf, 100, &err), -1);
		lt_error_free(&err);
		img_blob_close(b);
		/* ... and a truncated blob */
		write_bytes(lp, m.layer_data, m.layer_len - 1);
		CHECK_INT(img_blob_open(src, 0, &b, &err), 0);
		while ((r = img_blob_read(b, buf, 4096, &err)) > 0)
			;
		CHECK_INT(r, -1);
		CHECK_ERR(err, "is truncated");
		lt_error_free(&err);
		img_blob_close(b);
		CHECK_INT(img_blob_open(src, 5, &b, &err), -1);
		CHECK_ERR(err, "no layer 6 (the image has 1)");
		lt_error_free(&err);
		free(buf);
		img_close(src);
		img_image_free(img);
	}
	free(bigger);
	free(lp);
	free(ref);
	made_free(&m);
	free(dir);
}

static void test_refusals(void)
{
	made_image m;
	/* encrypted layer */
	char *dir =
	    simple_layout("encrypted", &m, "application/vnd.oci.image.layer.v1.tar+gzip+encrypted");
	char *ref = lt_strdup_printf("oci:%s", dir);
	open_fails(ref, NULL, "layer 1 is encrypted");
	free(ref);
	made_free(&m);
	free(dir);
	/* unknown layer media type */
	dir = simple_layout("unknownlayer", &m, "application/x-foo");
	ref = lt_strdup_printf("oci:%s", dir);
	open_fails(ref, NULL, "layer 1 has unsupported media type application/x-foo");
	free(ref);
	made_free(&m);
	free(dir);

	/* schema1, by the descriptor media type and by the document */
	dir = tpath("schema1");
	layout_init(dir);
	json_t *s1 = json_pack("{s:i,s:s,s:s,s:[]}", "schemaVersion", 1, "name", "x", "tag",
			       "latest", "fsLayers");
	json_t *s1_desc = put_json(dir, "application/vnd.docker.distribution.manifest.v1+prettyjws",
				   json_deep_copy(s1));
	write_index(dir, json_pack("[o]", s1_desc));
	ref = lt_strdup_printf("oci:%s", dir);
	open_fails(ref, NULL, "schema1 manifest");
	json_t *s1b = put_json(dir, "application/vnd.oci.image.manifest.v1+json", s1);
	write_index(dir, json_pack("[o]", s1b));
	open_fails(ref, NULL, "schema1 manifest");
	free(ref);
	free(dir);

	/* unknown digest algorithm on a layer */
	dir = tpath("sha512");
	layout_init(dir);
	m = make_image(dir, "x", host_arch());
	{
		char *mp = blob_path(dir, json_string_value(json_object_get(m.desc, "digest")));
		size_t len;
		char *data = read_bytes(mp, &len);
		json_t *man = lt_json_parse(data, len, "m", NULL);
		json_t *layer = json_array_get(json_object_get(man, "layers"), 0);
		char *d512 = lt_strdup_printf("sha512:%0128d", 7);
		json_object_set_new(layer, "digest", json_string(d512));
		free(d512);
		json_t *desc = put_json(dir, "application/vnd.oci.image.manifest.v1+json", man);
		write_index(dir, json_pack("[o]", desc));
		free(data);
		free(mp);
	}
	ref = lt_strdup_printf("oci:%s", dir);
	open_fails(ref, NULL, "layer 1: unsupported digest algorithm \"sha512\"");
	free(ref);
	made_free(&m);
	free(dir);
}

/* Config problems: rootfs type, diff_id count, unknown media type; platform warnings. */
static void test_config_checks(void)
{
	char *dir = tpath("configs");
	layout_init(dir);
	char *ref = lt_strdup_printf("oci:%s", dir);
	size_t len;
	char *tar = make_layer("f", "data\n", &len);
	char *ld = put_blob(dir, tar, len);
	json_t *layer =
	    json_pack("{s:s,s:s,s:I}", "mediaType", "application/vnd.oci.image.layer.v1.tar",
		      "digest", ld, "size", (json_int_t)len);
	struct {
		const char *cfg_mt;
		json_t *cfg;
		const char *needle;
	} cases[] = {
	    {"application/vnd.oci.image.config.v1+json",
	     json_pack("{s:s,s:s,s:{s:s,s:[s]}}", "architecture", "amd64", "os", "linux", "rootfs",
		       "type", "zfs", "diff_ids", ld),
	     "unsupported rootfs type \"zfs\""},
	    {"application/vnd.oci.image.config.v1+json",
	     json_pack("{s:s,s:s,s:{s:s,s:[s,s]}}", "architecture", "amd64", "os", "linux",
		       "rootfs", "type", "layers", "diff_ids", ld, ld),
	     "lists 1 layers but its config has 2 diff_ids"},
	    {"application/vnd.example.config+json", json_pack("{s:s}", "foo", "bar"),
	     "config of media type application/vnd.example.config+json has no "
	     "rootfs.diff_ids"},
	    {"application/vnd.oci.image.config.v1+json",
	     json_pack("{s:s,s:s,s:{s:s,s:[s]}}", "architecture", "amd64", "os", "linux", "rootfs",
		       "type", "layers", "diff_ids", "md5:abc"),
	     "diff_id 0: unsupported digest algorithm \"md5\""},
	};
	for (size_t i = 0; i < LT_ARRAY_SIZE(cases); i++) {
		json_t *cfg = put_json(dir, cases[i].cfg_mt, cases[i].cfg);
		json_t *man = json_pack("{s:i,s:o,s:[O]}", "schemaVersion", 2, "config", cfg,
					"layers", layer);
		write_index(dir, json_pack("[o]", put_json(dir,
							   "application/vnd.oci.image."
							   "manifest.v1+json",
							   man)));
		open_fails(ref, NULL, cases[i].needle);
	}
	/* Unknown config media type with diff_ids, Docker v2s2 manifest in index.json, and a
	 * platform that differs from the wanted one: accepted (with a warning). */
	json_t *cfg =
	    put_json(dir, "application/vnd.example.config+json",
		     json_pack("{s:s,s:s,s:{s:s,s:[s]}}", "architecture", "mips64le", "os", "linux",
			       "rootfs", "type", "layers", "diff_ids", ld));
	json_t *man = json_pack("{s:i,s:s,s:o,s:[O]}", "schemaVersion", 2, "mediaType",
				"application/vnd.docker.distribution.manifest.v2+json", "config",
				cfg, "layers", layer);
	write_index(dir, json_pack("[o]", put_json(dir,
						   "application/vnd.docker.distribution."
						   "manifest.v2+json",
						   man)));
	img_source *src;
	img_image *img = open_ok(ref, NULL, &src);
	if (img) {
		CHECK_STR(img->arch, "mips64le");
		CHECK_STR(img->manifest_media_type,
			  "application/vnd.docker.distribution.manifest.v2+json");
		CHECK_INT(read_all_layers(src, img), 1);
		img_close(src);
		img_image_free(img);
	}
	json_decref(layer);
	free(ld);
	free(tar);
	free(ref);
	free(dir);
}

/* Adds every file of an OCI layout to members: blobs first, then index.json, oci-layout (the
 * order skopeo writes). */
static size_t layout_members(const char *dir, member *ms, char **bufs, size_t max)
{
	size_t n = 0;
	char *blobs = lt_path_join(dir, "blobs/sha256");
	DIR *d = opendir(blobs);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL && n + 2 < max) {
		if (e->d_name[0] == '.')
			continue;
		char *p = lt_path_join(blobs, e->d_name);
		size_t len;
		bufs[n] = read_bytes(p, &len);
		ms[n].name = lt_strdup_printf("blobs/sha256/%s", e->d_name);
		ms[n].data = bufs[n];
		ms[n].len = len;
		ms[n].symlink = NULL;
		n++;
		free(p);
	}
	if (d)
		closedir(d);
	free(blobs);
	const char *names[] = {"index.json", "oci-layout"};
	for (int i = 0; i < 2; i++) {
		char *p = lt_path_join(dir, names[i]);
		size_t len;
		bufs[n] = read_bytes(p, &len);
		ms[n].name = lt_xstrdup(names[i]);
		ms[n].data = bufs[n];
		ms[n].len = len;
		ms[n].symlink = NULL;
		n++;
		free(p);
	}
	return n;
}

static void members_free(member *ms, char **bufs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)ms[i].name);
		free(bufs[i]);
	}
}

/* Two blobs of one source read interleaved. */
static void check_interleaved(img_source *src, size_t a, size_t b)
{
	lt_error *err = NULL;
	img_blob *ba, *bb;
	CHECK_INT(img_blob_open(src, a, &ba, &err), 0);
	CHECK_INT(img_blob_open(src, b, &bb, &err), 0);
	char buf[100];
	ssize_t ra = 1, rb = 1;
	while (ra > 0 || rb > 0) {
		if (ra > 0)
			ra = img_blob_read(ba, buf, sizeof(buf), &err);
		if (rb > 0)
			rb = img_blob_read(bb, buf, sizeof(buf), &err);
	}
	CHECK_INT(ra, 0);
	CHECK_INT(rb, 0);
	if (err)
		printf("# %s\n", err->message);
	lt_error_free(&err);
	img_blob_close(ba);
	img_blob_close(bb);
}

static void test_oci_archive(void)
{
	char *dir = tpath("ociarch");
	layout_init(dir);
	const char *arch = host_arch();
	made_image a = make_image_ex(dir, "a", arch, NULL, NULL, true);
	made_image b = make_image(dir, "b", arch);
	annotate(a.desc, "org.opencontainers.image.ref.name", "a");
	annotate(b.desc, "org.opencontainers.image.ref.name", "b");
	write_index(dir, json_pack("[O,O]", a.desc, b.desc));
	member ms[32];
	char *bufs[32];
	size_t n = layout_members(dir, ms, bufs, 32);
	const char *filters[] = {NULL, "gzip", "zstd"};
	for (int f = 0; f < 3; f++) {
		char *file = tpath(f == 0 ? "oci.tar" : f == 1 ? "oci.tar.gz" : "oci.tar.zst");
		write_tar(file, filters[f], ms, n);
		char *ref = lt_strdup_printf("oci-archive:%s:a", file);
		img_source *src;
		img_image *img = open_ok(ref, NULL, &src);
		if (img) {
			CHECK_STR(img->layers[0].digest, a.layer_digest);
			CHECK_STR(img->layers[0].media_type,
				  "application/vnd.oci.image.layer.v1.tar+gzip");
			CHECK(strcmp(img->layers[0].diff_id, a.layer_digest) != 0);
			CHECK_INT(read_all_layers(src, img), 1);
			CHECK_INT(src->tar.compressed, f != 0);
			img_close(src);
			img_image_free(img);
		}
		free(ref);
		ref = lt_strdup_printf("oci-archive:%s:zz", file);
		char *expect =
		    lt_strdup_printf("oci-archive:%s: no image tagged zz (available: a, b)", file);
		open_fails(ref, NULL, expect);
		free(expect);
		free(ref);
		ref = lt_strdup_printf("docker-archive:%s", file);
		open_fails(ref, NULL, "no manifest.json: this is an OCI archive, use oci-archive:");
		free(ref);
		unlink(file);
		free(file);
	}
	/* Not a tar; a truncated tar */
	char *file = tpath("notatar.tar");
	write_bytes(file, "hello world, this is not a tar archive at all", 45);
	char *ref = lt_strdup_printf("oci-archive:%s", file);
	open_fails(ref, NULL, "not a tar archive");
	free(ref);
	free(file);
	members_free(ms, bufs, n);
	made_free(&a);
	made_free(&b);
	free(dir);
}

/* Hand-made legacy `docker save` (Docker <= 24): <v1id>/layer.tar members, one a symlink to
 * another, <hex>.json config, all before manifest.json. */
static char *make_legacy(const char *name, const char *filter, const char *a_content,
			 char diff_a[72], char diff_b[72], bool break_cfg_name)
{
	/* Layers over 1 MiB: compressed archives do not cache them in memory. */
	size_t la, lb, pad = 1300 * 1024;
	char *ta = make_layer_padded("a", a_content, pad, &la);
	char *tb = make_layer_padded("b", "bbb\n", pad, &lb);
	digest_of(ta, la, diff_a);
	if (strcmp(a_content, "aaa\n") != 0) { /* the diff_id of the original content */
		size_t lo;
		char *orig = make_layer_padded("a", "aaa\n", pad, &lo);
		digest_of(orig, lo, diff_a);
		free(orig);
	}
	digest_of(tb, lb, diff_b);
	json_t *cfg = make_config(host_arch(), NULL, json_pack("[s,s,s]", diff_a, diff_b, diff_a));
	char *cfg_s = lt_json_dump_compact(cfg);
	json_decref(cfg);
	char cfg_d[72];
	digest_of(cfg_s, strlen(cfg_s), cfg_d);
	char *cfg_name = lt_strdup_printf("%s.json", cfg_d + 7);
	if (break_cfg_name)
		cfg_name[0] = cfg_name[0] == '0' ? '1' : '0';
	const char *v1a = "1111111111111111111111111111111111111111111111111111111111111111";
	const char *v1b = "2222222222222222222222222222222222222222222222222222222222222222";
	const char *v1c = "3333333333333333333333333333333333333333333333333333333333333333";
	char *la_name = lt_strdup_printf("%s/layer.tar", v1a);
	char *lb_name = lt_strdup_printf("%s/layer.tar", v1b);
	char *lc_name = lt_strdup_printf("%s/layer.tar", v1c);
	char *lc_target = lt_strdup_printf("../%s/layer.tar", v1a);
	char *manifest = lt_strdup_printf("[{\"Config\":\"%s\",\"RepoTags\":[\"busybox:latest\"],"
					  "\"Layers\":[\"%s\",\"%s\",\"%s\"]}]",
					  cfg_name, la_name, lb_name, lc_name);
	char *repos = lt_strdup_printf("{\"busybox\":{\"latest\":\"%s\"}}", v1c);
	/* layer b first: archive order differs from layer order */
	member ms[] = {
	    {lb_name, tb, lb, NULL},
	    {la_name, ta, la, NULL},
	    {lc_name, NULL, 0, lc_target},
	    {cfg_name, cfg_s, strlen(cfg_s), NULL},
	    {"manifest.json", manifest, strlen(manifest), NULL},
	    {"repositories", repos, strlen(repos), NULL},
	};
	char *file = tpath(name);
	write_tar(file, filter, ms, LT_ARRAY_SIZE(ms));
	free(ta);
	free(tb);
	free(cfg_s);
	free(cfg_name);
	free(la_name);
	free(lb_name);
	free(lc_name);
	free(lc_target);
	free(manifest);
	free(repos);
	return file;
}

static void test_docker_legacy(void)
{
	const char *filters[] = {NULL, "gzip"};
	for (int f = 0; f < 2; f++) {
		char da[72], db[72];
		char *file = make_legacy(f ? "legacy.tar.gz" : "legacy.tar", filters[f], "aaa\n",
					 da, db, false);
		const char *tags[] = {"", ":busybox", ":busybox:latest",
				      ":docker.io/library/busybox:latest", ":library/busybox"};
		for (size_t t = 0; t < LT_ARRAY_SIZE(tags); t++) {
			char *ref = lt_strdup_printf("docker-archive:%s%s", file, tags[t]);
			img_source *src;
			img_image *img = open_ok(ref, NULL, &src);
			if (!img) {
				free(ref);
				continue;
			}
			CHECK_INT(img->n_layers, 3);
			CHECK(img->manifest_digest == NULL);
			CHECK_STR(img->name, "docker.io/library/busybox");
			CHECK_STR(img->tag, "latest");
			CHECK_STR(img->layers[0].digest, da);
			CHECK_STR(img->layers[0].diff_id, da);
			CHECK_STR(img->layers[1].digest, db);
			CHECK_STR(img->layers[2].digest, da);
			CHECK_STR(img->layers[2].media_type,
				  "application/vnd.oci.image.layer.v1.tar");
			CHECK(img_is_sha256_digest(img->config_digest));
			CHECK_INT(read_all_layers(src, img), 3);
			size_t order[3];
			img_layer_order(src, order);
			if (f == 1) { /* archive order: b, a, a */
				CHECK_INT(order[0], 1);
				CHECK_INT(order[1], 0);
				CHECK_INT(order[2], 2);
			} else {
				CHECK_INT(order[0], 0);
				CHECK_INT(order[1], 1);
				CHECK_INT(order[2], 2);
			}
			check_interleaved(src, 0, 2);
			img_close(src);
			img_image_free(img);
			free(ref);
		}
		char *ref = lt_strdup_printf("docker-archive:%s:foo:bar", file);
		char *expect = lt_strdup_printf(
		    "docker-archive:%s: no image tagged foo:bar (available: busybox:latest)", file);
		open_fails(ref, NULL, expect);
		free(expect);
		free(ref);
		ref = lt_strdup_printf("oci-archive:%s", file);
		open_fails(ref, NULL,
			   "oci-layout is missing (docker save output? use docker-archive:)");
		free(ref);
		unlink(file);
		free(file);

		/* The layer's bytes do not match its diff_id: caught when read */
		file = make_legacy("legacy-bad.tar", filters[f], "AAA\n", da, db, false);
		ref = lt_strdup_printf("docker-archive:%s", file);
		img_source *src;
		img_image *img = open_ok(ref, NULL, &src);
		if (img) {
			lt_error *err = NULL;
			size_t len;
			char *data = read_layer(src, 0, &len, &err);
			CHECK(data == NULL);
			expect = lt_strdup_printf("blob %s: digest mismatch", da);
			CHECK_ERR(err, expect);
			free(expect);
			lt_error_free(&err);
			free(data);
			CHECK_INT(read_all_layers(src, img), 1); /* only b verifies */
			img_close(src);
			img_image_free(img);
		}
		free(ref);
		unlink(file);
		free(file);
		/* The config's name is not its digest */
		file = make_legacy("legacy-cfg.tar", filters[f], "aaa\n", da, db, true);
		ref = lt_strdup_printf("docker-archive:%s", file);
		open_fails(ref, NULL, ".json: digest mismatch for sha256:");
		free(ref);
		unlink(file);
		free(file);
	}
}

/* Docker >= 25 / containerd style: an OCI layout plus manifest.json. Here containerd-like:
 * gzip layer, index.json -> multi-platform index whose other platform's manifest is absent. */
static void test_docker_oci_style(void)
{
	char *dir = tpath("moby");
	layout_init(dir);
	const char *arch = host_arch();
	const char *other = strcmp(arch, "arm64") == 0 ? "amd64" : "arm64";
	made_image m = make_image_ex(dir, "m", arch, NULL, NULL, true);
	made_image o = make_image(dir, "o", other);
	set_platform(m.desc, "linux", arch, NULL);
	set_platform(o.desc, "linux", other, NULL);
	char *ob = blob_path(dir, json_string_value(json_object_get(o.desc, "digest")));
	unlink(ob);
	free(ob);
	json_t *idx =
	    json_pack("{s:i,s:s,s:[O,O]}", "schemaVersion", 2, "mediaType",
		      "application/vnd.oci.image.index.v1+json", "manifests", o.desc, m.desc);
	json_t *idx_desc = put_json(dir, "application/vnd.oci.image.index.v1+json", idx);
	annotate(idx_desc, "io.containerd.image.name", "docker.io/library/busybox:latest");
	annotate(idx_desc, "org.opencontainers.image.ref.name", "latest");
	write_index(dir, json_pack("[o]", idx_desc));
	char *manifest =
	    lt_strdup_printf("[{\"Config\":\"blobs/sha256/%s\",\"RepoTags\":[\"busybox:latest\"],"
			     "\"Layers\":[\"blobs/sha256/%s\"]}]",
			     m.config_digest + 7, m.layer_digest + 7);
	char *mp = lt_path_join(dir, "manifest.json");
	write_bytes(mp, manifest, strlen(manifest));
	free(mp);
	free(manifest);
	member ms[32];
	char *bufs[32];
	size_t n = layout_members(dir, ms, bufs, 31);
	size_t mlen;
	mp = lt_path_join(dir, "manifest.json");
	bufs[n] = read_bytes(mp, &mlen);
	free(mp);
	ms[n] = (member){lt_xstrdup("manifest.json"), bufs[n], mlen, NULL};
	n++;
	char *file = tpath("moby.tar");
	write_tar(file, NULL, ms, n);
	const char *refs[][2] = {{"docker-archive:", ""},
				 {"docker-archive:", ":busybox"},
				 {"oci-archive:", ":latest"},
				 {"oci-archive:", ":busybox:latest"},
				 {"oci-archive:", ""}};
	for (size_t i = 0; i < LT_ARRAY_SIZE(refs); i++) {
		char *ref = lt_strdup_printf("%s%s%s", refs[i][0], file, refs[i][1]);
		img_source *src;
		img_image *img = open_ok(ref, NULL, &src);
		if (img) {
			CHECK_STR(img->manifest_digest,
				  json_string_value(json_object_get(m.desc, "digest")));
			CHECK_STR(img->layers[0].digest, m.layer_digest);
			CHECK_STR(img->layers[0].media_type,
				  "application/vnd.oci.image.layer.v1.tar+gzip");
			CHECK_STR(img->name, "docker.io/library/busybox");
			CHECK_STR(img->tag, "latest");
			CHECK_INT(read_all_layers(src, img), 1);
			img_close(src);
			img_image_free(img);
		}
		free(ref);
	}
	char *ref = lt_strdup_printf("oci-archive:%s:latest", file);
	img_platform p = {.arch = other};
	open_fails(ref, &p, "is missing: blob sha256:");
	free(ref);
	members_free(ms, bufs, n);
	unlink(file);
	free(file);
	made_free(&m);
	made_free(&o);
	free(dir);
}

/* docker-archive whose layer members are compressed: the digest is the member's (computed for
 * <v1id>/layer.tar, taken from the name for blobs/sha256/<hex>), the media type is sniffed. */
static void test_docker_compressed_layers(void)
{
	size_t l0, l1, g0, g1;
	char *t0 = make_layer("zero", "0\n", &l0);
	char *t1 = make_layer("one", "1\n", &l1);
	char *z0 = gzip_bytes(t0, l0, &g0);
	char *z1 = gzip_bytes(t1, l1, &g1);
	char d0[72], d1[72], gd0[72], gd1[72];
	digest_of(t0, l0, d0);
	digest_of(t1, l1, d1);
	digest_of(z0, g0, gd0);
	digest_of(z1, g1, gd1);
	json_t *cfg = make_config(host_arch(), NULL, json_pack("[s,s]", d0, d1));
	char *cfg_s = lt_json_dump_compact(cfg);
	json_decref(cfg);
	char cfg_d[72];
	digest_of(cfg_s, strlen(cfg_s), cfg_d);
	char *cfg_name = lt_strdup_printf("blobs/sha256/%s", cfg_d + 7);
	char *l1_name = lt_strdup_printf("blobs/sha256/%s", gd1 + 7);
	char *manifest = lt_strdup_printf("[{\"Config\":\"%s\",\"RepoTags\":[\"quay.io/x/y:1\"],"
					  "\"Layers\":[\"v1/link.tar\",\"./%s\"]}]",
					  cfg_name, l1_name);
	/* v1/link.tar -> layer.tar is v1/layer.tar, not the top-level layer.tar */
	member ms[] = {
	    {"manifest.json", manifest, strlen(manifest), NULL},
	    {cfg_name, cfg_s, strlen(cfg_s), NULL},
	    {"layer.tar", z1, g1, NULL},
	    {"v1/link.tar", NULL, 0, "layer.tar"},
	    {"v1/layer.tar", z0, g0, NULL},
	    {l1_name, z1, g1, NULL},
	};
	char *file = tpath("zlayers.tar");
	write_tar(file, NULL, ms, LT_ARRAY_SIZE(ms));
	char *ref = lt_strdup_printf("docker-archive:%s:quay.io/x/y:1", file);
	img_source *src;
	img_image *img = open_ok(ref, NULL, &src);
	if (img) {
		CHECK_INT(img->n_layers, 2);
		CHECK_STR(img->layers[0].digest, gd0);
		CHECK_STR(img->layers[0].diff_id, d0);
		CHECK_STR(img->layers[0].media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
		CHECK_INT(img->layers[0].size, g0);
		CHECK_STR(img->layers[1].digest, gd1);
		CHECK_STR(img->layers[1].diff_id, d1);
		CHECK_STR(img->config_digest, cfg_d);
		CHECK_STR(img->name, "quay.io/x/y");
		CHECK_STR(img->tag, "1");
		CHECK_INT(read_all_layers(src, img), 2);
		img_close(src);
		img_image_free(img);
	}
	/* A symlink cannot leave the archive */
	ms[3].symlink = "../../../../../../../../etc/hostname";
	write_tar(file, NULL, ms, LT_ARRAY_SIZE(ms));
	open_fails(ref, NULL, "layer 1 (v1/link.tar) is missing");
	ms[3].symlink = "layer.tar";
	/* A blobs/sha256/<hex> member whose bytes are not <hex> */
	ms[5].data = z0;
	ms[5].len = g0;
	write_tar(file, NULL, ms, LT_ARRAY_SIZE(ms));
	img = open_ok(ref, NULL, &src);
	if (img) {
		lt_error *err = NULL;
		size_t len;
		char *data = read_layer(src, 1, &len, &err);
		CHECK(data == NULL);
		char *expect = lt_strdup_printf("blob %s: digest mismatch: got %s", gd1, gd0);
		CHECK_ERR(err, expect);
		free(expect);
		lt_error_free(&err);
		free(data);
		img_close(src);
		img_image_free(img);
	}
	/* A truncated archive */
	write_tar(file, NULL, ms, LT_ARRAY_SIZE(ms));
	struct stat st;
	stat(file, &st);
	CHECK_INT(truncate(file, st.st_size - 3000), 0);
	open_fails(ref, NULL, "runcated");
	unlink(file);
	free(ref);
	free(file);
	free(manifest);
	free(cfg_name);
	free(l1_name);
	free(cfg_s);
	free(t0);
	free(t1);
	free(z0);
	free(z1);
}

typedef struct thread_arg {
	img_source *src;
	size_t index;
	int ok;
} thread_arg;

static void *reader_thread(void *p)
{
	thread_arg *a = p;
	for (int round = 0; round < 20; round++) {
		lt_error *err = NULL;
		size_t len;
		char *data = read_layer(a->src, a->index, &len, &err);
		if (data != NULL)
			a->ok++;
		lt_error_free(&err);
		free(data);
	}
	return NULL;
}

static void test_threads(void)
{
	const char *filters[] = {NULL, "gzip"};
	for (int f = 0; f < 2; f++) {
		char da[72], db[72];
		char *file = make_legacy("threads.tar", filters[f], "aaa\n", da, db, false);
		char *ref = lt_strdup_printf("docker-archive:%s", file);
		img_source *src;
		img_image *img = open_ok(ref, NULL, &src);
		if (img) {
			pthread_t t[3];
			thread_arg args[3];
			for (size_t i = 0; i < 3; i++) {
				args[i] = (thread_arg){src, i, 0};
				pthread_create(&t[i], NULL, reader_thread, &args[i]);
			}
			for (size_t i = 0; i < 3; i++) {
				pthread_join(t[i], NULL);
				CHECK_INT(args[i].ok, 20);
			}
			img_close(src);
			img_image_free(img);
		}
		free(ref);
		unlink(file);
		free(file);
	}
}

/* Archives written by skopeo from a layout made by umoci. */
static void test_skopeo(void)
{
	if (!have_tool("skopeo") || !have_tool("umoci") || !have_tool("gzip")) {
		printf("# skipping: skopeo, umoci or gzip is not installed\n");
		return;
	}
	char *dir = tpath("skopeo");
	tap_mkdir_p(dir);
	size_t len;
	char *tar = make_layer("hello", "hello from umoci\n", &len);
	char *layer = lt_path_join(dir, "layer.tar");
	write_bytes(layer, tar, len);
	char diff_id[72];
	digest_of(tar, len, diff_id);
	free(tar);
	char *policy = lt_path_join(dir, "policy.json");
	write_bytes(policy, "{\"default\":[{\"type\":\"insecureAcceptAnything\"}]}", 47);
	char *cmd =
	    lt_strdup_printf("cd %s && umoci init --layout L && umoci new --image L:t && "
			     "umoci raw add-layer --image L:t layer.tar && "
			     "skopeo --policy policy.json copy -q oci:L:t "
			     "docker-archive:d.tar:example.com/foo/bar:t && "
			     "skopeo --policy policy.json copy -q oci:L:t oci-archive:o.tar:t && "
			     "gzip -c d.tar > d.tar.gz",
			     dir);
	int r = system(cmd);
	free(cmd);
	if (r != 0) {
		printf("# skopeo/umoci failed (%d)\n", r);
		tap_current_failed = true;
		goto out;
	}
	const char *refs[][2] = {
	    {"docker-archive:", "/d.tar"},
	    {"docker-archive:", "/d.tar:example.com/foo/bar:t"},
	    {"docker-archive:", "/d.tar.gz:example.com/foo/bar:t"},
	    {"oci-archive:", "/o.tar:t"},
	    {"oci:", "/L:t"},
	};
	for (size_t i = 0; i < LT_ARRAY_SIZE(refs); i++) {
		char *ref = lt_strdup_printf("%s%s%s", refs[i][0], dir, refs[i][1]);
		img_source *src;
		img_image *img = open_ok(ref, NULL, &src);
		if (img) {
			CHECK_INT(img->n_layers, 1);
			CHECK_STR(img->layers[0].diff_id, diff_id);
			CHECK_INT(read_all_layers(src, img), 1);
			if (i < 3) {
				/* skopeo stores the layer uncompressed */
				CHECK_STR(img->layers[0].digest, diff_id);
				CHECK_STR(img->layers[0].media_type,
					  "application/vnd.oci.image.layer.v1.tar");
				CHECK_STR(img->name, "example.com/foo/bar");
				CHECK_STR(img->tag, "t");
				CHECK(img->manifest_digest == NULL);
			} else {
				CHECK_STR(img->layers[0].media_type,
					  "application/vnd.oci.image.layer.v1.tar+gzip");
				CHECK(img->manifest_digest != NULL);
			}
			img_close(src);
			img_image_free(img);
		}
		free(ref);
	}
	char *ref = lt_strdup_printf("docker-archive:%s/d.tar:example.com/foo/bar:u", dir);
	open_fails(ref, NULL,
		   "no image tagged example.com/foo/bar:u (available: "
		   "example.com/foo/bar:t)");
	free(ref);
out:
	free(layer);
	free(policy);
	free(dir);
}

int main(void)
{
	lt_log_set_level(LT_LOG_ERROR);
	snprintf(tmp_root, sizeof(tmp_root), "%s/litho-test-image-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmp_root) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_ref_parse);
	RUN(test_docker_names);
	RUN(test_check_digest);
	RUN(test_oci_tags);
	RUN(test_nested_platforms);
	RUN(test_platform_variants);
	RUN(test_digest_mismatch);
	RUN(test_size_mismatch);
	RUN(test_refusals);
	RUN(test_config_checks);
	RUN(test_oci_archive);
	RUN(test_docker_legacy);
	RUN(test_docker_oci_style);
	RUN(test_docker_compressed_layers);
	RUN(test_threads);
	RUN(test_skopeo);
	char *cmd = lt_strdup_printf("rm -rf '%s'", tmp_root);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmp_root);
	free(cmd);
	return tap_done();
}
