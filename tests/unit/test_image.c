/* Unit tests for the image module: references (parsing, docker names, digests) and OCI layouts
 * (tags, nested indexes, platforms and variants). Layouts are made on the fly in a temporary
 * directory (see image_fixtures.h). */
#include "image_fixtures.h"

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

int main(void)
{
	if (fixtures_begin("image") < 0)
		return 1;
	RUN(test_ref_parse);
	RUN(test_docker_names);
	RUN(test_check_digest);
	RUN(test_oci_tags);
	RUN(test_nested_platforms);
	RUN(test_platform_variants);
	return fixtures_end();
}
