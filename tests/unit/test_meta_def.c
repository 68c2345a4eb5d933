/* Unit tests for the meta module: the metadata of definition-file builds (meta_for_def,
 * meta_def_apps). */
#include "meta_fixtures.h"

/* ---------------------------------------------------------------------------------------------
 * Definition-file builds. The expected texts are written out by hand from the Go sources they
 * come from: internal/pkg/build/metadata.go (insertLabelsJSON, addBuildLabels, insertEnvScript,
 * insertHelpScript, insertDefinition), internal/pkg/build/apps/apps.go (globalEnv94Base and the
 * globalEnv94App* lines, scifEnv01Base, scifRunscriptBase, scifInstallBase, writeLabels) and
 * pkg/build/types/parser/deffile.go (GetLabels, for /.build.labels).
 */

/* The image as files: path, contents pairs, NULL terminated. */
static char *fake_read(void *ctx, const char *path)
{
	const char *const *files = ctx;
	for (size_t i = 0; files != NULL && files[i] != NULL; i += 2) {
		if (strcmp(files[i], path) == 0)
			return strdup(files[i + 1]);
	}
	return NULL;
}

static const char *const def_header_keys[] = {"bootstrap", "from", "stage"};
static const char *const def_header_values[] = {"docker", "alpine:3.19", "final"};

static meta_def def_base(const char *const *files)
{
	meta_def d = {
	    .def_text = "Bootstrap: docker\nFrom: alpine:3.19\nStage: final\n",
	    .header_keys = def_header_keys,
	    .header_values = def_header_values,
	    .n_headers = 3,
	    .build_time = 1704423845, /* 2024-01-05 03:04:05 UTC */
	    .arch = "amd64",
	    .read = fake_read,
	    .read_ctx = (void *)files,
	};
	return d;
}

static const char *entry_data(const meta_image *m, const char *path)
{
	const meta_entry *e = find_entry(m, path);
	return e != NULL ? e->data : NULL;
}

static const char *const labels_image[] = {
    ".singularity.d/labels.json",
    "{\"a\": \"image\", \"b\": \"image\", \"maintainer\": \"x\", \"n\": null}",
    /* parser.GetLabels: trimmed, '#' lines and blank lines skipped, split at the first ' '
     * only (a tab stays in the key), Unicode spaces (U+00A0) trimmed, a later line wins */
    ".build.labels",
    "\n  b post\n# c comment\n\nc  post value  \nd\ne\tf g\nh v\xc2\xa0\nc again\n"
    "org.label-schema.schema-version 2\n",
    NULL,
};

/* image labels < /.build.labels < build labels < %labels (only new keys without --force) */
static const char labels_def_expected[] =
    "{\n"
    "\t\"a\": \"image\",\n"
    "\t\"b\": \"post\",\n"
    "\t\"c\": \"again\",\n"
    "\t\"d\": \"\",\n"
    "\t\"e\\tf\": \"g\",\n"
    "\t\"h\": \"v\",\n"
    "\t\"maintainer\": \"x\",\n"
    "\t\"n\": \"\",\n"
    "\t\"org.label-schema.build-arch\": \"amd64\",\n"
    "\t\"org.label-schema.build-date\": \"Friday_5_January_2024_3:4:5_UTC\",\n"
    "\t\"org.label-schema.schema-version\": \"1.0\",\n"
    "\t\"org.label-schema.usage.apptainer.version\": \"" LITHO_VERSION "\",\n"
    "\t\"org.label-schema.usage.singularity.deffile.bootstrap\": \"docker\",\n"
    "\t\"org.label-schema.usage.singularity.deffile.from\": \"alpine:3.19\",\n"
    "\t\"org.label-schema.usage.singularity.deffile.stage\": \"final\",\n"
    "\t\"z\": \"def\"\n"
    "}";

static void test_def_labels(void)
{
	meta_def d = def_base(labels_image);
	json_t *labels = parse("{\"a\": \"def\", \"z\": \"def\", \"org.label-schema.build-arch\": "
			       "\"def\", \"b\": \"def\"}");
	d.labels = labels;
	meta_image m;
	lt_error *err = NULL;
	CHECK_INT(meta_for_def(&d, &m, &err), 0);
	CHECK_STR(entry_data(&m, ".singularity.d/labels.json"), labels_def_expected);
	check_entry(&m, ".singularity.d/labels.json", META_FILE, 0644, true);
	CHECK(m.inspect_json == NULL && m.oci_config_json == NULL);
	meta_image_free(&m);

	/* --force: %labels replace what is there, build labels included */
	d.force = true;
	CHECK_INT(meta_for_def(&d, &m, &err), 0);
	json_t *l = parse(entry_data(&m, ".singularity.d/labels.json"));
	CHECK_STR(lt_json_string(l, "a"), "def");
	CHECK_STR(lt_json_string(l, "b"), "def");
	CHECK_STR(lt_json_string(l, "org.label-schema.build-arch"), "def");
	CHECK_STR(lt_json_string(l, "maintainer"), "x");
	CHECK_INT(json_object_size(l), 16);
	json_decref(l);
	meta_image_free(&m);

	/* no labels anywhere but the build's; the host's GOARCH without arch */
	static const char *const bare[] = {NULL};
	d = def_base(bare);
	d.n_headers = 1;
	d.arch = NULL;
	CHECK_INT(meta_for_def(&d, &m, &err), 0);
	l = parse(entry_data(&m, ".singularity.d/labels.json"));
	CHECK_INT(json_object_size(l), 5);
	CHECK_STR(lt_json_string(l, "org.label-schema.usage.singularity.deffile.bootstrap"),
		  "docker");
	CHECK(lt_json_string(l, "org.label-schema.build-arch") != NULL);
	json_decref(l);
	meta_image_free(&m);
	json_decref(labels);
}

static void test_def_help(void)
{
	static const char *const bare[] = {NULL};
	meta_def d = def_base(bare);
	json_t *labels = parse("{\"org.label-schema.usage\": \"mine\"}");
	d.labels = labels;
	d.help = "Usage: run it\n  with care";
	meta_image m;
	lt_error *err = NULL;
	CHECK_INT(meta_for_def(&d, &m, &err), 0);
	/* insertHelpScript: the body and a newline */
	CHECK_STR(entry_data(&m, ".singularity.d/runscript.help"), "Usage: run it\n  with care\n");
	check_entry(&m, ".singularity.d/runscript.help", META_FILE, 0644, true);
	json_t *l = parse(entry_data(&m, ".singularity.d/labels.json"));
	/* build labels, which %labels cannot replace without --force */
	CHECK_STR(lt_json_string(l, "org.label-schema.usage"), "/.singularity.d/runscript.help");
	CHECK_STR(lt_json_string(l, "org.label-schema.usage.apptainer.runscript.help"),
		  "/.singularity.d/runscript.help");
	json_decref(l);
	meta_image_free(&m);

	/* a help file in the image is kept unless --force; the labels are set anyway */
	static const char *const with_help[] = {".singularity.d/runscript.help", "old help\n",
						NULL};
	d.read_ctx = (void *)with_help;
	CHECK_INT(meta_for_def(&d, &m, &err), 0);
	CHECK(find_entry(&m, ".singularity.d/runscript.help") == NULL);
	CHECK(strstr(entry_data(&m, ".singularity.d/labels.json"),
		     "\"org.label-schema.usage.apptainer.runscript.help\"") != NULL);
	meta_image_free(&m);
	d.force = true;
	CHECK_INT(meta_for_def(&d, &m, &err), 0);
	CHECK_STR(entry_data(&m, ".singularity.d/runscript.help"), "Usage: run it\n  with care\n");
	l = parse(entry_data(&m, ".singularity.d/labels.json"));
	CHECK_STR(lt_json_string(l, "org.label-schema.usage"), "mine");
	json_decref(l);
	meta_image_free(&m);

	/* an empty %help is no %help */
	d.help = "";
	CHECK_INT(meta_for_def(&d, &m, &err), 0);
	CHECK(find_entry(&m, ".singularity.d/runscript.help") == NULL);
	CHECK(strstr(entry_data(&m, ".singularity.d/labels.json"), "runscript.help") == NULL);
	meta_image_free(&m);
	json_decref(labels);
}

static void test_def_environment_scripts(void)
{
	static const char *const bare[] = {NULL};
	meta_def d = def_base(bare);
	d.environment = "export A=1\nexport B=\"two\"\n";
	d.runscript = "#!/bin/bash\n\nexec ./app \"$@\"\n\n";
	d.startscript = "#!/bin/sh\n\nexec ./daemon\n";
	d.test = "";
	meta_image m;
	lt_error *err = NULL;
	CHECK_INT(meta_for_def(&d, &m, &err), 0);
	/* a new 90-environment.sh gets a shebang line and a blank line */
	CHECK_STR(entry_data(&m, ".singularity.d/env/90-environment.sh"),
		  "#!/bin/sh\n\nexport A=1\nexport B=\"two\"\n\n");
	check_entry(&m, ".singularity.d/env/90-environment.sh", META_FILE, 0755, true);
	CHECK_STR(entry_data(&m, ".singularity.d/runscript"), d.runscript);
	CHECK_STR(entry_data(&m, ".singularity.d/startscript"), d.startscript);
	check_entry(&m, ".singularity.d/runscript", META_FILE, 0755, true);
	check_entry(&m, ".singularity.d/startscript", META_FILE, 0755, true);
	CHECK(find_entry(&m, ".singularity.d/test") == NULL);
	CHECK(find_entry(&m, ".singularity.d/runscript.help") == NULL);
	/* insertMetadata order */
	static const char *const order[] = {
	    ".singularity.d/labels.json",
	    ".singularity.d/Singularity",
	    ".singularity.d/env/90-environment.sh",
	    ".singularity.d/startscript",
	    ".singularity.d/runscript",
	};
	CHECK_INT(m.n_entries, 5);
	for (size_t i = 0; i < m.n_entries && i < 5; i++)
		CHECK_STR(m.entries[i].path, order[i]);
	meta_image_free(&m);

	/* appended to an existing file after a newline, with a newline */
	static const char *const with_env[] = {".singularity.d/env/90-environment.sh",
					       "#!/bin/sh\n# Custom environment shell code should "
					       "follow\n\n",
					       NULL};
	d.read_ctx = (void *)with_env;
	d.environment = "export A=1";
	d.test = "#!/bin/sh\n\ntest -x ./app\n";
	CHECK_INT(meta_for_def(&d, &m, &err), 0);
	CHECK_STR(entry_data(&m, ".singularity.d/env/90-environment.sh"),
		  "#!/bin/sh\n# Custom environment shell code should follow\n\n\nexport A=1\n");
	CHECK_STR(entry_data(&m, ".singularity.d/test"), d.test);
	check_entry(&m, ".singularity.d/test", META_FILE, 0755, true);
	CHECK_STR(m.entries[m.n_entries - 1].path, ".singularity.d/test");
	meta_image_free(&m);

	d.environment = NULL;
	CHECK_INT(meta_for_def(&d, &m, &err), 0);
	CHECK(find_entry(&m, ".singularity.d/env/90-environment.sh") == NULL);
	meta_image_free(&m);
}

static void test_def_singularity_history(void)
{
	static const char *const bare[] = {NULL};
	meta_def d = def_base(bare);
	meta_image m;
	lt_error *err = NULL;
	CHECK_INT(meta_for_def(&d, &m, &err), 0);
	CHECK_STR(entry_data(&m, ".singularity.d/Singularity"), d.def_text);
	check_entry(&m, ".singularity.d/Singularity", META_FILE, 0644, true);
	CHECK_STR(m.deffile, d.def_text);
	for (size_t i = 0; i < m.n_entries; i++)
		CHECK(strstr(m.entries[i].path, "bootstrap_history") == NULL);
	meta_image_free(&m);

	/* the first old definition becomes Apptainer0 (len(ReadDir) of a new directory) */
	static const char *const one[] = {".singularity.d/Singularity", "bootstrap: scratch\n",
					  NULL};
	d.read_ctx = (void *)one;
	CHECK_INT(meta_for_def(&d, &m, &err), 0);
	check_entry(&m, ".singularity.d/bootstrap_history", META_DIR, 0755, false);
	check_entry(&m, ".singularity.d/bootstrap_history/Apptainer0", META_FILE, 0644, true);
	CHECK_STR(entry_data(&m, ".singularity.d/bootstrap_history/Apptainer0"),
		  "bootstrap: scratch\n");
	CHECK_STR(entry_data(&m, ".singularity.d/Singularity"), d.def_text);
	/* the history before the new definition, both after labels.json */
	CHECK_INT(m.n_entries, 4);
	if (m.n_entries == 4) {
		CHECK_STR(m.entries[0].path, ".singularity.d/labels.json");
		CHECK_STR(m.entries[1].path, ".singularity.d/bootstrap_history");
		CHECK_STR(m.entries[2].path, ".singularity.d/bootstrap_history/Apptainer0");
		CHECK_STR(m.entries[3].path, ".singularity.d/Singularity");
	}
	meta_image_free(&m);

	/* two older ones, the first left by Singularity 3.x */
	static const char *const three[] = {".singularity.d/Singularity",
					    "bootstrap: localimage\nfrom: b.sif\n",
					    ".singularity.d/bootstrap_history/Singularity0",
					    "bootstrap: docker\n",
					    ".singularity.d/bootstrap_history/Apptainer1",
					    "bootstrap: localimage\nfrom: a.sif\n",
					    NULL};
	d.read_ctx = (void *)three;
	CHECK_INT(meta_for_def(&d, &m, &err), 0);
	CHECK_STR(entry_data(&m, ".singularity.d/bootstrap_history/Apptainer2"),
		  "bootstrap: localimage\nfrom: b.sif\n");
	CHECK(find_entry(&m, ".singularity.d/bootstrap_history/Apptainer0") == NULL);
	CHECK(find_entry(&m, ".singularity.d/bootstrap_history/Apptainer1") == NULL);
	meta_image_free(&m);
}

static void test_def_errors(void)
{
	meta_image m;
	lt_error *err = NULL;
	static const char *const bad_json[] = {".singularity.d/labels.json", "{\"a\": ", NULL};
	meta_def d = def_base(bad_json);
	CHECK_INT(meta_for_def(&d, &m, &err), -1);
	CHECK_ERR(err, "labels.json");
	CHECK(m.entries == NULL && m.deffile == NULL);
	lt_error_free(&err);

	/* json.Unmarshal into map[string]string refuses other value types */
	static const char *const bad_value[] = {".singularity.d/labels.json", "{\"a\": 1}", NULL};
	d.read_ctx = (void *)bad_value;
	CHECK_INT(meta_for_def(&d, &m, &err), -1);
	CHECK_ERR(err, "\"a\"");
	lt_error_free(&err);

	static const char *const array[] = {".singularity.d/labels.json", "[]", NULL};
	d.read_ctx = (void *)array;
	CHECK_INT(meta_for_def(&d, &m, &err), -1);
	lt_error_free(&err);

	/* ... but takes a JSON null as no labels */
	static const char *const null_labels[] = {".singularity.d/labels.json", "null", NULL};
	d.read_ctx = (void *)null_labels;
	CHECK_INT(meta_for_def(&d, &m, &err), 0);
	meta_image_free(&m);

	d.read = NULL;
	CHECK_INT(meta_for_def(&d, &m, &err), -1);
	lt_error_free(&err);
	CHECK_INT(meta_def_apps(&d, &m, &err), -1);
	lt_error_free(&err);
	CHECK_INT(meta_for_def(NULL, &m, &err), -1);
	lt_error_free(&err);
}

/* 94-appsbase.sh for the apps of test_def_apps: "my-app" is my_app in variable names and,
 * as Apptainer writes them, in the paths too. */
static const char appsbase_expected[] =
    "## App Global Exports For: foo\n"
    "\n"
    "SCIF_APPDATA_foo=/scif/data/foo\n"
    "SCIF_APPMETA_foo=/scif/apps/foo/scif\n"
    "SCIF_APPROOT_foo=/scif/apps/foo\n"
    "SCIF_APPBIN_foo=/scif/apps/foo/bin\n"
    "SCIF_APPLIB_foo=/scif/apps/foo/lib\n"
    "\n"
    "export SCIF_APPDATA_foo SCIF_APPMETA_foo SCIF_APPROOT_foo SCIF_APPBIN_foo SCIF_APPLIB_foo\n"
    "export SCIF_APPENV_foo=\"/scif/apps/foo/scif/env/90-environment.sh\"\n"
    "export SCIF_APPLABELS_foo=\"/scif/apps/foo/scif/labels.json\"\n"
    "export SCIF_APPRUN_foo=\"/scif/apps/foo/scif/runscript\"\n"
    "## App Global Exports For: my_app\n"
    "\n"
    "SCIF_APPDATA_my_app=/scif/data/my_app\n"
    "SCIF_APPMETA_my_app=/scif/apps/my_app/scif\n"
    "SCIF_APPROOT_my_app=/scif/apps/my_app\n"
    "SCIF_APPBIN_my_app=/scif/apps/my_app/bin\n"
    "SCIF_APPLIB_my_app=/scif/apps/my_app/lib\n"
    "\n"
    "export SCIF_APPDATA_my_app SCIF_APPMETA_my_app SCIF_APPROOT_my_app SCIF_APPBIN_my_app "
    "SCIF_APPLIB_my_app\n"
    "export SCIF_APPLABELS_my_app=\"/scif/apps/my_app/scif/labels.json\"\n"
    "export SCIF_APPRUN_my_app=\"/scif/apps/my_app/scif/runscript\"\n"
    "export SCIF_APPSTART_my_app=\"/scif/apps/my_app/scif/startscript\"\n";

static const char app_env_base_expected[] =
    "#!/bin/sh\n"
    "\n"
    "SCIF_APPNAME=my-app\n"
    "SCIF_APPROOT=\"/scif/apps/my-app\"\n"
    "SCIF_APPMETA=\"/scif/apps/my-app/scif\"\n"
    "SCIF_DATA=\"/scif/data\"\n"
    "SCIF_APPDATA=\"/scif/data/my-app\"\n"
    "SCIF_APPINPUT=\"/scif/data/my-app/input\"\n"
    "SCIF_APPOUTPUT=\"/scif/data/my-app/output\"\n"
    "export SCIF_APPDATA SCIF_APPNAME SCIF_APPROOT SCIF_APPMETA SCIF_APPINPUT SCIF_APPOUTPUT "
    "SCIF_DATA\n";

static const char appinstall_expected[] = "\n"
					  "cd /\n"
					  ". /scif/apps/foo/scif/env/01-base.sh\n"
					  "\n"
					  "cd /scif/apps/foo\n"
					  "make install\n"
					  "\n"
					  "\n"
					  "cd /\n"
					  "\n"
					  "cd /\n"
					  ". /scif/apps/my-app/scif/env/01-base.sh\n"
					  "\n"
					  "cd /scif/apps/my-app\n"
					  "\n"
					  "\n"
					  "cd /\n";

static void test_def_apps(void)
{
	/* my-app's runscript is already in the image: Apptainer stats the file, so it is
	 * exported although the def has no %apprun for it */
	static const char *const files[] = {"scif/apps/my-app/scif/runscript", "#!/bin/sh\n", NULL};
	json_t *foo_labels = parse("{\"version\": \"1.0\", \"SCIF_APP_NAME\": \"renamed\"}");
	meta_def_app apps[] = {
	    {.name = "foo",
	     .install = "make install\n",
	     .env = "export FOO=1\n",
	     .test = "test -x bin/foo\n",
	     .help = "foo help\n",
	     .run = "exec foo \"$@\"\n",
	     .labels = foo_labels},
	    {.name = "my-app", .start = "exec my-app-daemon\n", .run = ""},
	};
	meta_def d = def_base(files);
	d.apps = apps;
	d.n_apps = 2;
	meta_image m;
	lt_error *err = NULL;
	CHECK_INT(meta_def_apps(&d, &m, &err), 0);

	static const char *const dirs[] = {
	    "scif",
	    "scif/apps",
	    "scif/data",
	    "scif/apps/foo",
	    "scif/apps/foo/scif",
	    "scif/apps/foo/bin",
	    "scif/apps/foo/lib",
	    "scif/apps/foo/scif/env",
	    "scif/data/foo",
	    "scif/data/foo/input",
	    "scif/data/foo/output",
	    "scif/apps/my-app",
	    "scif/apps/my-app/scif/env",
	    "scif/data/my-app/output",
	};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		check_entry(&m, dirs[i], META_DIR, 0755, false);
	/* parents before children */
	for (size_t i = 0; i < m.n_entries; i++) {
		for (size_t j = i + 1; j < m.n_entries; j++) {
			size_t n = strlen(m.entries[j].path);
			CHECK(!(strncmp(m.entries[i].path, m.entries[j].path, n) == 0 &&
				m.entries[i].path[n] == '/'));
		}
	}

	check_entry(&m, "scif/apps/foo/scif/env/01-base.sh", META_FILE, 0755, true);
	check_entry(&m, "scif/apps/foo/scif/env/90-environment.sh", META_FILE, 0755, true);
	check_entry(&m, "scif/apps/foo/scif/runscript", META_FILE, 0755, true);
	check_entry(&m, "scif/apps/foo/scif/test", META_FILE, 0755, true);
	check_entry(&m, "scif/apps/foo/scif/runscript.help", META_FILE, 0644, true);
	check_entry(&m, "scif/apps/foo/scif/labels.json", META_FILE, 0644, true);
	check_entry(&m, "scif/apps/my-app/scif/startscript", META_FILE, 0755, true);
	check_entry(&m, ".singularity.d/env/94-appsbase.sh", META_FILE, 0755, true);
	CHECK(find_entry(&m, "scif/apps/foo/scif/startscript") == NULL);
	CHECK(find_entry(&m, "scif/apps/my-app/scif/runscript") == NULL);
	CHECK(find_entry(&m, "scif/apps/my-app/scif/env/90-environment.sh") == NULL);
	CHECK(find_entry(&m, "scif/apps/my-app/scif/test") == NULL);
	CHECK(find_entry(&m, "scif/apps/my-app/scif/runscript.help") == NULL);

	/* bodies as written: %appenv and %apphelp verbatim, scripts behind "#!/bin/sh\n\n" */
	CHECK_STR(entry_data(&m, "scif/apps/foo/scif/env/90-environment.sh"), "export FOO=1\n");
	CHECK_STR(entry_data(&m, "scif/apps/foo/scif/runscript.help"), "foo help\n");
	CHECK_STR(entry_data(&m, "scif/apps/foo/scif/runscript"),
		  "#!/bin/sh\n\nexec foo \"$@\"\n\n");
	CHECK_STR(entry_data(&m, "scif/apps/foo/scif/test"), "#!/bin/sh\n\ntest -x bin/foo\n\n");
	CHECK_STR(entry_data(&m, "scif/apps/my-app/scif/startscript"),
		  "#!/bin/sh\n\nexec my-app-daemon\n\n");
	CHECK_STR(entry_data(&m, "scif/apps/my-app/scif/env/01-base.sh"), app_env_base_expected);
	/* SCIF_APP_NAME is set first: %applabels may replace it */
	CHECK_STR(entry_data(&m, "scif/apps/foo/scif/labels.json"),
		  "{\n\t\"SCIF_APP_NAME\": \"renamed\",\n\t\"version\": \"1.0\"\n}");
	CHECK_STR(entry_data(&m, "scif/apps/my-app/scif/labels.json"),
		  "{\n\t\"SCIF_APP_NAME\": \"my-app\"\n}");
	CHECK_STR(entry_data(&m, ".singularity.d/env/94-appsbase.sh"), appsbase_expected);
	CHECK_STR(m.entries[m.n_entries - 1].path, ".singularity.d/env/94-appsbase.sh");
	meta_image_free(&m);

	char *post = meta_def_appinstall_script(&d);
	CHECK_STR(post, appinstall_expected);
	free(post);

	/* one '_' per non-[A-Za-z0-9_] rune, multi-byte ones included */
	meta_def_app odd[] = {{.name = "b\xc3\xa4r.1"}};
	d.apps = odd;
	d.n_apps = 1;
	CHECK_INT(meta_def_apps(&d, &m, &err), 0);
	CHECK(lt_str_has_prefix(entry_data(&m, ".singularity.d/env/94-appsbase.sh"),
				"## App Global Exports For: b_r_1\n\nSCIF_APPDATA_b_r_1=/scif/data/"
				"b_r_1\n"));
	check_entry(&m, "scif/apps/b\xc3\xa4r.1/scif/env/01-base.sh", META_FILE, 0755, true);
	meta_image_free(&m);

	/* no apps: an empty 94-appsbase.sh and nothing for %post */
	d.n_apps = 0;
	CHECK_INT(meta_def_apps(&d, &m, &err), 0);
	CHECK_INT(m.n_entries, 1);
	CHECK_STR(entry_data(&m, ".singularity.d/env/94-appsbase.sh"), "");
	meta_image_free(&m);
	post = meta_def_appinstall_script(&d);
	CHECK_STR(post, "");
	free(post);

	static const char *const bad_names[] = {"", "..", ".", "a/b"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		meta_def_app bad[] = {{.name = bad_names[i]}};
		d.apps = bad;
		d.n_apps = 1;
		CHECK_INT(meta_def_apps(&d, &m, &err), -1);
		CHECK_ERR(err, "app name");
		lt_error_free(&err);
	}
	meta_def_app twice[] = {{.name = "x"}, {.name = "x"}};
	d.apps = twice;
	d.n_apps = 2;
	CHECK_INT(meta_def_apps(&d, &m, &err), -1);
	CHECK_ERR(err, "twice");
	lt_error_free(&err);
	json_decref(foo_labels);
}

int main(void)
{
	RUN(test_def_labels);
	RUN(test_def_help);
	RUN(test_def_environment_scripts);
	RUN(test_def_singularity_history);
	RUN(test_def_errors);
	RUN(test_def_apps);
	return tap_done();
}
