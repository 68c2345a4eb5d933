/* Unit tests for the image module: oci-archive and docker-archive (legacy `docker save`, the
 * OCI style of Docker >= 25 and containerd, compressed layer members), parallel readers, and
 * the archives skopeo and umoci make when they are installed. Archives are written on the fly
 * with libarchive in a temporary directory (see image_fixtures.h). */
#include <dirent.h>
#include <pthread.h>

#include "image_fixtures.h"

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
	if (fixtures_begin("image-archive") < 0)
		return 1;
	RUN(test_oci_archive);
	RUN(test_docker_legacy);
	RUN(test_docker_oci_style);
	RUN(test_docker_compressed_layers);
	RUN(test_threads);
	RUN(test_skopeo);
	return fixtures_end();
}
