/* Unit tests for the meta module: the metadata of an image built from an OCI image or from
 * scratch (meta_for_image) -- its entries, labels, inspect JSON, definition file, determinism
 * and errors. The file sizes are those of Apptainer's internal/pkg/build/sources/ scripts. */
#include "meta_fixtures.h"

static const char busybox_config[] =
    "{\"architecture\": \"amd64\", \"os\": \"linux\", \"config\": {\"Env\": "
    "[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"], "
    "\"Cmd\": [\"sh\"], \"Labels\": {\"maintainer\": \"a <b@c>\", "
    "\"org.label-schema.schema-version\": \"0.9\"}}}";

static int busybox_image(meta_image *m, json_t **cfg, meta_source *src)
{
	*cfg = parse(busybox_config);
	meta_source s = {
	    .bootstrap = "docker",
	    .from = "busybox:1.33.1",
	    .config = *cfg,
	    .arch = "amd64",
	    .build_time = 1627931376, /* 2021-08-02 19:09:36 UTC */
	};
	*src = s;
	lt_error *err = NULL;
	int rc = meta_for_image(src, m, &err);
	if (rc < 0) {
		printf("# meta_for_image: %s\n", err->message);
		lt_error_free(&err);
	}
	return rc;
}

static void test_entries(void)
{
	json_t *cfg;
	meta_source src;
	meta_image m;
	CHECK_INT(busybox_image(&m, &cfg, &src), 0);

	static const char *const dirs[] = {".singularity.d",
					   ".singularity.d/libs",
					   ".singularity.d/actions",
					   ".singularity.d/env",
					   "dev",
					   "proc",
					   "root",
					   "var",
					   "var/tmp",
					   "tmp",
					   "etc",
					   "sys",
					   "home"};
	for (size_t i = 0; i < LT_ARRAY_SIZE(dirs); i++)
		check_entry(&m, dirs[i], META_DIR, 0755, false);

	static const char *const links[][2] = {
	    {"singularity", ".singularity.d/runscript"},
	    {".run", ".singularity.d/actions/run"},
	    {".exec", ".singularity.d/actions/exec"},
	    {".shell", ".singularity.d/actions/shell"},
	    {".test", ".singularity.d/actions/test"},
	    {"environment", ".singularity.d/env/90-environment.sh"},
	};
	for (size_t i = 0; i < LT_ARRAY_SIZE(links); i++) {
		check_entry(&m, links[i][0], META_SYMLINK, 0777, false);
		const meta_entry *e = find_entry(&m, links[i][0]);
		CHECK(e != NULL && strcmp(e->target, links[i][1]) == 0);
	}

	/* files with the sizes of Apptainer's internal/pkg/build/sources/ *.sh */
	static const struct {
		const char *path;
		size_t len;
	} fixed[] = {
	    {".singularity.d/actions/exec", 630},
	    {".singularity.d/actions/run", 1223},
	    {".singularity.d/actions/shell", 1112},
	    {".singularity.d/actions/start", 786},
	    {".singularity.d/actions/test", 1188},
	    {".singularity.d/env/01-base.sh", 1337},
	    {".singularity.d/env/90-environment.sh", 555},
	    {".singularity.d/env/95-apps.sh", 3052},
	    {".singularity.d/env/99-base.sh", 1568},
	    {".singularity.d/env/99-runtimevars.sh", 922},
	    {".singularity.d/startscript", 513},
	    {".singularity.d/env/94-appsbase.sh", 0},
	    {"etc/hosts", 0},
	    {"etc/resolv.conf", 0},
	};
	for (size_t i = 0; i < LT_ARRAY_SIZE(fixed); i++) {
		bool conf = strncmp(fixed[i].path, "etc/", 4) == 0;
		check_entry(&m, fixed[i].path, META_FILE, conf ? 0644 : 0755, true);
		const meta_entry *e = find_entry(&m, fixed[i].path);
		if (e == NULL)
			continue;
		CHECK_INT(e->len, fixed[i].len);
		CHECK_INT(strlen(e->data), e->len);
		if (e->len > 0)
			CHECK(strncmp(e->data, "#!/bin/sh\n", 10) == 0);
	}
	const meta_entry *e = find_entry(&m, ".singularity.d/env/99-base.sh");
	CHECK(e != NULL && strstr(e->data, "    PS1=\"Apptainer> \"\n") != NULL);
	e = find_entry(&m, ".singularity.d/actions/exec");
	CHECK(e != NULL && lt_str_has_suffix(e->data, "done\n\nexec \"$@\"\n"));

	check_entry(&m, ".singularity.d/runscript", META_FILE, 0755, true);
	e = find_entry(&m, ".singularity.d/runscript");
	CHECK(e != NULL && strcmp(e->data, rs_cmd_only) == 0);
	check_entry(&m, ".singularity.d/env/10-docker2singularity.sh", META_FILE, 0755, true);
	e = find_entry(&m, ".singularity.d/env/10-docker2singularity.sh");
	CHECK(e != NULL && strcmp(e->data, "#!/bin/sh\nexport PATH=\"/usr/local/sbin:/usr/local/bin"
					   ":/usr/sbin:/usr/bin:/sbin:/bin\"\n") == 0);
	check_entry(&m, ".singularity.d/labels.json", META_FILE, 0644, true);
	check_entry(&m, ".singularity.d/Singularity", META_FILE, 0644, true);
	e = find_entry(&m, ".singularity.d/Singularity");
	CHECK(e != NULL && strcmp(e->data, m.deffile) == 0);

	/* parents before children, no path twice, nothing absolute */
	for (size_t i = 0; i < m.n_entries; i++) {
		const char *p = m.entries[i].path;
		CHECK(p[0] != '/' && p[0] != '\0');
		const char *slash = strrchr(p, '/');
		if (slash != NULL) {
			char *parent = lt_xstrndup(p, (size_t)(slash - p));
			bool seen = false;
			for (size_t j = 0; j < i; j++)
				seen |= strcmp(m.entries[j].path, parent) == 0;
			if (!seen)
				printf("# %s comes before its parent\n", p);
			CHECK(seen);
			free(parent);
		}
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(m.entries[j].path, p) != 0);
	}
	meta_image_free(&m);
	json_decref(cfg);
}

static const char busybox_labels[] =
    "{\n"
    "\t\"maintainer\": \"a \\u003cb@c\\u003e\",\n"
    "\t\"org.label-schema.build-arch\": \"amd64\",\n"
    "\t\"org.label-schema.build-date\": \"Monday_2_August_2021_19:9:36_UTC\",\n"
    "\t\"org.label-schema.schema-version\": \"1.0\",\n"
    "\t\"org.label-schema.usage.apptainer.version\": \"" LITHO_VERSION "\",\n"
    "\t\"org.label-schema.usage.singularity.deffile.bootstrap\": \"docker\",\n"
    "\t\"org.label-schema.usage.singularity.deffile.from\": \"busybox:1.33.1\"\n"
    "}";

static void test_labels_merge(void)
{
	json_t *cfg;
	meta_source src;
	meta_image m;
	CHECK_INT(busybox_image(&m, &cfg, &src), 0);
	const meta_entry *e = find_entry(&m, ".singularity.d/labels.json");
	/* the image's labels kept, build labels added and winning on a clash */
	CHECK_STR(e != NULL ? e->data : NULL, busybox_labels);
	meta_image_free(&m);

	/* opt-in OCI labels */
	src.oci_labels = true;
	src.base_name = "docker.io/library/busybox:1.33.1";
	src.base_digest = "sha256:0123";
	src.variant = "v8";
	lt_error *err = NULL;
	CHECK_INT(meta_for_image(&src, &m, &err), 0);
	e = find_entry(&m, ".singularity.d/labels.json");
	json_t *l = e != NULL ? parse(e->data) : NULL;
	CHECK_STR(lt_json_string(l, "org.opencontainers.image.created"), "2021-08-02T19:09:36Z");
	CHECK_STR(lt_json_string(l, "org.opencontainers.image.base.name"), src.base_name);
	CHECK_STR(lt_json_string(l, "org.opencontainers.image.base.digest"), src.base_digest);
	CHECK_STR(lt_json_string(l, "org.opencontainers.image.architecture"), "amd64");
	CHECK_STR(lt_json_string(l, "org.opencontainers.image.variant"), "v8");
	json_decref(l);
	meta_image_free(&m);

	/* build date: nothing zero padded, UTC */
	src.oci_labels = false;
	src.build_time = 1704423845; /* 2024-01-05 03:04:05 UTC */
	CHECK_INT(meta_for_image(&src, &m, &err), 0);
	e = find_entry(&m, ".singularity.d/labels.json");
	CHECK(e != NULL && strstr(e->data, "\"Friday_5_January_2024_3:4:5_UTC\"") != NULL);
	CHECK(e != NULL && strstr(e->data, "org.opencontainers") == NULL);
	meta_image_free(&m);
	json_decref(cfg);
}

static void test_inspect_json(void)
{
	json_t *cfg;
	meta_source src;
	meta_image m;
	CHECK_INT(busybox_image(&m, &cfg, &src), 0);
	const char *s = m.inspect_json;
	/* compact json.Marshal of pkg/inspect Metadata, no trailing newline */
	CHECK(lt_str_has_prefix(s,
				"{\"data\":{\"attributes\":{\"environment\":{\"/.singularity.d/"
				"env/10-docker2singularity.sh\":\"#!/bin/sh\\nexport PATH=\\\"/usr/"
				"local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\\\"\",\"/."
				"singularity.d/env/90-environment.sh\":\"#!/bin/sh\\n# Copyright"));
	CHECK(lt_str_has_suffix(s, "# rights to use or distribute this software.\"}},\"type\":"
				   "\"container\"}"));
	CHECK(strstr(s, "\"maintainer\":\"a \\u003cb@c\\u003e\"") != NULL);
	/* field order of the Go struct: environment, labels, runscript, deffile, startscript */
	const char *env = strstr(s, "\"environment\":"), *labels = strstr(s, "},\"labels\":{");
	const char *rs = strstr(s, "},\"runscript\":\"#!/bin/sh\\nOCI_ENTRYPOINT=''\\nOCI_CMD=");
	const char *def = strstr(s, "\",\"deffile\":\"bootstrap: docker\\nfrom: busybox:1.33.1\",");
	const char *start = strstr(s, ",\"startscript\":\"#!/bin/sh\\n# Copyright");
	CHECK(env != NULL && labels != NULL && rs != NULL && def != NULL && start != NULL);
	CHECK(env < labels && labels < rs && rs < def && def < start);
	CHECK(strstr(s, "\"apps\"") == NULL && strstr(s, "\"test\"") == NULL &&
	      strstr(s, "\"helpfile\"") == NULL);

	json_t *j = parse(s);
	json_t *attr = json_object_get(json_object_get(j, "data"), "attributes");
	CHECK_STR(lt_json_string(j, "type"), "container");
	CHECK_INT(json_object_size(json_object_get(attr, "environment")), 2);
	const meta_entry *e = find_entry(&m, ".singularity.d/labels.json");
	json_t *l = e != NULL ? parse(e->data) : NULL;
	CHECK(json_equal(json_object_get(attr, "labels"), l));
	json_decref(l);
	/* values are the files with trailing newlines removed */
	e = find_entry(&m, ".singularity.d/runscript");
	const char *r = lt_json_string(attr, "runscript");
	CHECK(e != NULL && r != NULL && strlen(r) + 1 == e->len &&
	      strncmp(r, e->data, e->len - 1) == 0);
	e = find_entry(&m, ".singularity.d/startscript");
	r = lt_json_string(attr, "startscript");
	CHECK(e != NULL && r != NULL && strlen(r) + 1 == e->len);
	json_decref(j);
	meta_image_free(&m);
	json_decref(cfg);
}

static void test_deffile(void)
{
	json_t *cfg;
	meta_source src;
	meta_image m;
	CHECK_INT(busybox_image(&m, &cfg, &src), 0);
	CHECK_STR(m.deffile, "bootstrap: docker\nfrom: busybox:1.33.1\n\n");
	CHECK(m.oci_config_json != NULL &&
	      strcmp(m.oci_config_json,
		     "{\"Cmd\":[\"sh\"],\"Env\":[\"PATH=/usr/local/sbin:/usr/local/"
		     "bin:/usr/sbin:/usr/bin:/sbin:/bin\"],\"Labels\":{\"maintainer\":"
		     "\"a \\u003cb@c\\u003e\",\"org.label-schema.schema-version\":"
		     "\"0.9\"}}") == 0);
	meta_image_free(&m);

	lt_error *err = NULL;
	src.def_text = "Bootstrap: docker\nFrom: busybox:1.33.1\n\n%post\n    true\n";
	src.config_style = META_CONFIG_IMAGE_SPEC;
	CHECK_INT(meta_for_image(&src, &m, &err), 0);
	CHECK_STR(m.deffile, src.def_text);
	const meta_entry *e = find_entry(&m, ".singularity.d/Singularity");
	CHECK_STR(e != NULL ? e->data : NULL, src.def_text);
	CHECK(strstr(m.inspect_json, "\"deffile\":\"Bootstrap: docker\\nFrom: busybox:1.33.1\\n\\n"
				     "%post\\n    true\",") != NULL);
	CHECK(m.oci_config_json != NULL && lt_str_has_prefix(m.oci_config_json, "{\"Env\":"));
	meta_image_free(&m);
	json_decref(cfg);
}

static void test_scratch(void)
{
	meta_source src = {.bootstrap = "scratch", .arch = "arm64", .build_time = 0};
	meta_image m;
	lt_error *err = NULL;
	CHECK_INT(meta_for_image(&src, &m, &err), 0);
	CHECK_STR(m.deffile, "bootstrap: scratch\n\n");
	CHECK(m.oci_config_json == NULL);
	CHECK(find_entry(&m, ".singularity.d/env/10-docker2singularity.sh") == NULL);
	const meta_entry *e = find_entry(&m, ".singularity.d/runscript");
	CHECK(e != NULL && e->len == 573 &&
	      lt_str_has_suffix(e->data, "\necho \"There is no runscript defined for this "
					 "container\\n\";\n"));
	CHECK(lt_str_has_prefix(m.inspect_json, "{\"data\":{\"attributes\":{\"environment\":{\"/."
						"singularity.d/env/90-environment.sh\":"));
	CHECK(strstr(m.inspect_json, "\"org.label-schema.build-date\":\"Thursday_1_January_1970_"
				     "0:0:0_UTC\"") != NULL);
	CHECK(strstr(m.inspect_json, "deffile.from") == NULL);
	meta_image_free(&m);
}

static void test_deterministic(void)
{
	json_t *cfg1, *cfg2;
	meta_source src;
	meta_image a, b;
	CHECK_INT(busybox_image(&a, &cfg1, &src), 0);
	CHECK_INT(busybox_image(&b, &cfg2, &src), 0);
	CHECK_INT(a.n_entries, b.n_entries);
	for (size_t i = 0; i < a.n_entries && i < b.n_entries; i++) {
		CHECK_STR(a.entries[i].path, b.entries[i].path);
		CHECK(a.entries[i].len == b.entries[i].len &&
		      (a.entries[i].data == NULL ||
		       memcmp(a.entries[i].data, b.entries[i].data, a.entries[i].len) == 0));
	}
	CHECK_STR(a.inspect_json, b.inspect_json);
	CHECK_STR(a.oci_config_json, b.oci_config_json);
	CHECK_STR(a.deffile, b.deffile);
	meta_image_free(&a);
	meta_image_free(&b);
	json_decref(cfg1);
	json_decref(cfg2);
}

static void test_errors(void)
{
	meta_image m;
	lt_error *err = NULL;
	meta_source src = {.from = "x"};
	CHECK_INT(meta_for_image(&src, &m, &err), -1);
	CHECK_ERR(err, "bootstrap");
	lt_error_free(&err);

	json_t *cfg = parse("{\"config\": {\"Env\": \"A=1\"}}");
	src.bootstrap = "docker";
	src.config = cfg;
	CHECK_INT(meta_for_image(&src, &m, &err), -1);
	CHECK_ERR(err, "config.Env");
	CHECK(m.entries == NULL && m.inspect_json == NULL);
	lt_error_free(&err);
	meta_image_free(&m);
	json_decref(cfg);
}

int main(void)
{
	RUN(test_entries);
	RUN(test_labels_merge);
	RUN(test_inspect_json);
	RUN(test_deffile);
	RUN(test_scratch);
	RUN(test_deterministic);
	RUN(test_errors);
	return tap_done();
}
