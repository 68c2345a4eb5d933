/* Unit tests for the image module: what it verifies and refuses in an OCI layout -- blobs whose
 * digest or size do not match, refused layouts and media types, config checks. Layouts are made
 * on the fly in a temporary directory (see image_fixtures.h). */
#include "image_fixtures.h"

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

int main(void)
{
	if (fixtures_begin("image-verify") < 0)
		return 1;
	RUN(test_digest_mismatch);
	RUN(test_size_mismatch);
	RUN(test_refusals);
	RUN(test_config_checks);
	return fixtures_end();
}
