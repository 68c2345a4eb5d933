/* Unit tests for the meta module. The expected runscript and 10-docker2singularity.sh texts were
 * produced with Apptainer's own Go code (10-docker2singularity.sh then corrected where litho
 * deliberately escapes values once, see meta_oci.c): insertRunScript() / insertEnv() of
 * internal/pkg/build/sources/conveyorPacker_oci.go (with its ociRunscript text/template and
 * internal/pkg/util/shell/escape.go) copied into a Go harness and run on the same inputs. The
 * oci-config.json bytes are those of shared/interop/images/busybox_amd64.sif (`siftool dump 3`);
 * the file sizes are those of Apptainer's internal/pkg/build/sources/ scripts. */
#include <stdlib.h>
#include <string.h>

#include "meta.h"
#include "tap.h"

/* /.singularity.d/runscript generated for an OCI image: the part after the SINGULARITY_NO_EVAL
 * block is the same for every image. */
#define RS_TAIL                                                                                    \
	"\n"                                                                                       \
	"# Standard Apptainer behavior evaluates CMD / ENTRYPOINT / ARGS\n"                        \
	"# combination through shell before exec, and requires special quoting\n"                  \
	"# due to concatenation of CMDLINE_ARGS.\n"                                                \
	"CMDLINE_ARGS=\"\"\n"                                                                      \
	"# prepare command line arguments for evaluation\n"                                        \
	"for arg in \"$@\"; do\n"                                                                  \
	"        CMDLINE_ARGS=\"${CMDLINE_ARGS} \\\"$arg\\\"\"\n"                                  \
	"done\n"                                                                                   \
	"\n"                                                                                       \
	"# ENTRYPOINT only - run entrypoint plus args\n"                                           \
	"if [ -z \"$OCI_CMD\" ] && [ -n \"$OCI_ENTRYPOINT\" ]; then\n"                             \
	"    if [ $# -gt 0 ]; then\n"                                                              \
	"        SINGULARITY_OCI_RUN=\"${OCI_ENTRYPOINT} ${CMDLINE_ARGS}\"\n"                      \
	"    else\n"                                                                               \
	"        SINGULARITY_OCI_RUN=\"${OCI_ENTRYPOINT}\"\n"                                      \
	"    fi\n"                                                                                 \
	"fi\n"                                                                                     \
	"\n"                                                                                       \
	"# CMD only - run CMD or override with args\n"                                             \
	"if [ -n \"$OCI_CMD\" ] && [ -z \"$OCI_ENTRYPOINT\" ]; then\n"                             \
	"    if [ $# -gt 0 ]; then\n"                                                              \
	"        SINGULARITY_OCI_RUN=\"${CMDLINE_ARGS}\"\n"                                        \
	"    else\n"                                                                               \
	"        SINGULARITY_OCI_RUN=\"${OCI_CMD}\"\n"                                             \
	"    fi\n"                                                                                 \
	"fi\n"                                                                                     \
	"\n"                                                                                       \
	"# ENTRYPOINT and CMD - run ENTRYPOINT with CMD as default args\n"                         \
	"# override with user provided args\n"                                                     \
	"if [ $# -gt 0 ]; then\n"                                                                  \
	"    SINGULARITY_OCI_RUN=\"${OCI_ENTRYPOINT} ${CMDLINE_ARGS}\"\n"                          \
	"else\n"                                                                                   \
	"    SINGULARITY_OCI_RUN=\"${OCI_ENTRYPOINT} ${OCI_CMD}\"\n"                               \
	"fi\n"                                                                                     \
	"\n"                                                                                       \
	"# Evaluate shell expressions first and set arguments accordingly,\n"                      \
	"# then execute final command as first container process\n"                                \
	"eval \"set ${SINGULARITY_OCI_RUN}\"\n"                                                    \
	"exec \"$@\"\n"

static const char rs_neither[] =
    "#!/bin/sh\n"
    "OCI_ENTRYPOINT=''\n"
    "OCI_CMD=''\n"
    "\n"
    "# When SINGULARITY_NO_EVAL set, use OCI compatible behavior that does\n"
    "# not evaluate resolved CMD / ENTRYPOINT / ARGS through the shell, and\n"
    "# does not modify expected quoting behavior of args.\n"
    "if [ -n \"$SINGULARITY_NO_EVAL\" ]; then\n"
    "    # ENTRYPOINT only - run entrypoint plus args\n"
    "    if [ -z \"$OCI_CMD\" ] && [ -n \"$OCI_ENTRYPOINT\" ]; then\n"
    "        \n"
    "        exec \"$@\"\n"
    "    fi\n"
    "\n"
    "    # CMD only - run CMD or override with args\n"
    "    if [ -n \"$OCI_CMD\" ] && [ -z \"$OCI_ENTRYPOINT\" ]; then\n"
    "        exec \"$@\"\n"
    "    fi\n"
    "\n"
    "    # ENTRYPOINT and CMD - run ENTRYPOINT with CMD as default args\n"
    "    # override with user provided args\n"
    "    exec \"$@\"\n"
    "fi\n" RS_TAIL;

static const char rs_cmd_only[] =
    "#!/bin/sh\n"
    "OCI_ENTRYPOINT=''\n"
    "OCI_CMD='\"sh\"'\n"
    "\n"
    "# When SINGULARITY_NO_EVAL set, use OCI compatible behavior that does\n"
    "# not evaluate resolved CMD / ENTRYPOINT / ARGS through the shell, and\n"
    "# does not modify expected quoting behavior of args.\n"
    "if [ -n \"$SINGULARITY_NO_EVAL\" ]; then\n"
    "    # ENTRYPOINT only - run entrypoint plus args\n"
    "    if [ -z \"$OCI_CMD\" ] && [ -n \"$OCI_ENTRYPOINT\" ]; then\n"
    "        \n"
    "        exec \"$@\"\n"
    "    fi\n"
    "\n"
    "    # CMD only - run CMD or override with args\n"
    "    if [ -n \"$OCI_CMD\" ] && [ -z \"$OCI_ENTRYPOINT\" ]; then\n"
    "        if [ $# -eq 0 ]; then\n"
    "            set -- 'sh' \"$@\"\n"
    "\n"
    "        fi\n"
    "        exec \"$@\"\n"
    "    fi\n"
    "\n"
    "    # ENTRYPOINT and CMD - run ENTRYPOINT with CMD as default args\n"
    "    # override with user provided args\n"
    "    if [ $# -eq 0 ]; then\n"
    "        set -- 'sh' \"$@\"\n"
    "\n"
    "    fi\n"
    "    exec \"$@\"\n"
    "fi\n" RS_TAIL;

static const char rs_ep_only[] =
    "#!/bin/sh\n"
    "OCI_ENTRYPOINT='\"/docker-entrypoint.sh\" \"--flag\"'\n"
    "OCI_CMD=''\n"
    "\n"
    "# When SINGULARITY_NO_EVAL set, use OCI compatible behavior that does\n"
    "# not evaluate resolved CMD / ENTRYPOINT / ARGS through the shell, and\n"
    "# does not modify expected quoting behavior of args.\n"
    "if [ -n \"$SINGULARITY_NO_EVAL\" ]; then\n"
    "    # ENTRYPOINT only - run entrypoint plus args\n"
    "    if [ -z \"$OCI_CMD\" ] && [ -n \"$OCI_ENTRYPOINT\" ]; then\n"
    "        set -- '--flag' \"$@\"\n"
    "set -- '/docker-entrypoint.sh' \"$@\"\n"
    "\n"
    "        exec \"$@\"\n"
    "    fi\n"
    "\n"
    "    # CMD only - run CMD or override with args\n"
    "    if [ -n \"$OCI_CMD\" ] && [ -z \"$OCI_ENTRYPOINT\" ]; then\n"
    "        exec \"$@\"\n"
    "    fi\n"
    "\n"
    "    # ENTRYPOINT and CMD - run ENTRYPOINT with CMD as default args\n"
    "    # override with user provided args\n"
    "    if [ $# -gt 0 ]; then\n"
    "        set -- '--flag' \"$@\"\n"
    "set -- '/docker-entrypoint.sh' \"$@\"\n"
    "\n"
    "\telse\n"
    "        \n"
    "        set -- '--flag' \"$@\"\n"
    "set -- '/docker-entrypoint.sh' \"$@\"\n"
    "\n"
    "    fi\n"
    "    exec \"$@\"\n"
    "fi\n" RS_TAIL;

static const char rs_both[] =
    "#!/bin/sh\n"
    "OCI_ENTRYPOINT='\"/bin/tini\" \"--\"'\n"
    "OCI_CMD='\"python3\" \"-c\" \"print(1)\"'\n"
    "\n"
    "# When SINGULARITY_NO_EVAL set, use OCI compatible behavior that does\n"
    "# not evaluate resolved CMD / ENTRYPOINT / ARGS through the shell, and\n"
    "# does not modify expected quoting behavior of args.\n"
    "if [ -n \"$SINGULARITY_NO_EVAL\" ]; then\n"
    "    # ENTRYPOINT only - run entrypoint plus args\n"
    "    if [ -z \"$OCI_CMD\" ] && [ -n \"$OCI_ENTRYPOINT\" ]; then\n"
    "        set -- '--' \"$@\"\n"
    "set -- '/bin/tini' \"$@\"\n"
    "\n"
    "        exec \"$@\"\n"
    "    fi\n"
    "\n"
    "    # CMD only - run CMD or override with args\n"
    "    if [ -n \"$OCI_CMD\" ] && [ -z \"$OCI_ENTRYPOINT\" ]; then\n"
    "        if [ $# -eq 0 ]; then\n"
    "            set -- 'print(1)' \"$@\"\n"
    "set -- '-c' \"$@\"\n"
    "set -- 'python3' \"$@\"\n"
    "\n"
    "        fi\n"
    "        exec \"$@\"\n"
    "    fi\n"
    "\n"
    "    # ENTRYPOINT and CMD - run ENTRYPOINT with CMD as default args\n"
    "    # override with user provided args\n"
    "    if [ $# -gt 0 ]; then\n"
    "        set -- '--' \"$@\"\n"
    "set -- '/bin/tini' \"$@\"\n"
    "\n"
    "\telse\n"
    "        set -- 'print(1)' \"$@\"\n"
    "set -- '-c' \"$@\"\n"
    "set -- 'python3' \"$@\"\n"
    "\n"
    "        set -- '--' \"$@\"\n"
    "set -- '/bin/tini' \"$@\"\n"
    "\n"
    "    fi\n"
    "    exec \"$@\"\n"
    "fi\n" RS_TAIL;

static const char rs_special[] =
    "#!/bin/sh\n"
    "OCI_ENTRYPOINT='\"a\\\"b\" \"c\\$d\"'\n"
    "OCI_CMD='\"e\\`f\\`\" \"g\\\\h\" \"i'\"'\"'j\" \" sp ace \" \"\"'\n"
    "\n"
    "# When SINGULARITY_NO_EVAL set, use OCI compatible behavior that does\n"
    "# not evaluate resolved CMD / ENTRYPOINT / ARGS through the shell, and\n"
    "# does not modify expected quoting behavior of args.\n"
    "if [ -n \"$SINGULARITY_NO_EVAL\" ]; then\n"
    "    # ENTRYPOINT only - run entrypoint plus args\n"
    "    if [ -z \"$OCI_CMD\" ] && [ -n \"$OCI_ENTRYPOINT\" ]; then\n"
    "        set -- 'c$d' \"$@\"\n"
    "set -- 'a\"b' \"$@\"\n"
    "\n"
    "        exec \"$@\"\n"
    "    fi\n"
    "\n"
    "    # CMD only - run CMD or override with args\n"
    "    if [ -n \"$OCI_CMD\" ] && [ -z \"$OCI_ENTRYPOINT\" ]; then\n"
    "        if [ $# -eq 0 ]; then\n"
    "            set -- '' \"$@\"\n"
    "set -- ' sp ace ' \"$@\"\n"
    "set -- 'i'\"'\"'j' \"$@\"\n"
    "set -- 'g\\h' \"$@\"\n"
    "set -- 'e`f`' \"$@\"\n"
    "\n"
    "        fi\n"
    "        exec \"$@\"\n"
    "    fi\n"
    "\n"
    "    # ENTRYPOINT and CMD - run ENTRYPOINT with CMD as default args\n"
    "    # override with user provided args\n"
    "    if [ $# -gt 0 ]; then\n"
    "        set -- 'c$d' \"$@\"\n"
    "set -- 'a\"b' \"$@\"\n"
    "\n"
    "\telse\n"
    "        set -- '' \"$@\"\n"
    "set -- ' sp ace ' \"$@\"\n"
    "set -- 'i'\"'\"'j' \"$@\"\n"
    "set -- 'g\\h' \"$@\"\n"
    "set -- 'e`f`' \"$@\"\n"
    "\n"
    "        set -- 'c$d' \"$@\"\n"
    "set -- 'a\"b' \"$@\"\n"
    "\n"
    "    fi\n"
    "    exec \"$@\"\n"
    "fi\n" RS_TAIL;

static const char env_expected[] = "#!/bin/sh\n"
				   "export PATH=\"/usr/local/bin:/usr/bin\"\n"
				   "export LANG=\"${LANG:-\"C.UTF-8\"}\"\n"
				   "export Q=\"${Q:-\"a\\\"b\\$c\\`d\\\\e'f g\"}\"\n"
				   "export NOVALUE=\"${NOVALUE:-}\"\n"
				   "export EMPTY=\"${EMPTY:-\"\"}\"\n"
				   "export _ok9=\"${_ok9:-\"1\"}\"\n"
				   "export TAB=\"${TAB:-\"a\tb\"}\"\n"
				   "export U=\"${U:-\"\303\251\302\240\"}\"\n"
				   "export PATH2=\"${PATH2:-\"\\$PATH:/x\"}\"\n";

/* oci-config.json of shared/interop/images/busybox_amd64.sif (Singularity 3.8.1, which, like
 * Apptainer <= 1.3, serialises an image-spec ImageConfig). */
static const char busybox_oci_config[] =
    "{\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"],"
    "\"Cmd\":[\"sh\"]}";

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, 0, &jerr);
	if (v == NULL)
		printf("# bad test JSON: %s\n", jerr.text);
	return v;
}

static json_t *list(const char *text)
{
	return text != NULL ? parse(text) : NULL;
}

static void check_runscript(const char *ep, const char *cmd, const char *expected)
{
	json_t *e = list(ep), *c = list(cmd);
	char *s = meta_oci_runscript(e, c);
	CHECK_STR(s, expected);
	free(s);
	json_decref(e);
	json_decref(c);
}

static void test_runscript_neither(void)
{
	check_runscript(NULL, NULL, rs_neither);
	check_runscript("[]", "[]", rs_neither);
}

static void test_runscript_cmd_only(void)
{
	check_runscript(NULL, "[\"sh\"]", rs_cmd_only);
}

static void test_runscript_entrypoint_only(void)
{
	check_runscript("[\"/docker-entrypoint.sh\", \"--flag\"]", NULL, rs_ep_only);
}

static void test_runscript_both(void)
{
	check_runscript("[\"/bin/tini\", \"--\"]", "[\"python3\", \"-c\", \"print(1)\"]", rs_both);
}

static void test_runscript_special_characters(void)
{
	check_runscript("[\"a\\\"b\", \"c$d\"]",
			"[\"e`f`\", \"g\\\\h\", \"i'j\", \" sp ace \", \"\"]", rs_special);
}

static void test_env_script(void)
{
	json_t *env = parse("[\"PATH=/usr/local/bin:/usr/bin\", \"LANG=C.UTF-8\","
			    " \"Q=a\\\"b$c`d\\\\e'f g\", \"NOVALUE\", \"EMPTY=\", \"1BAD=x\","
			    " \"BAD-NAME=y\", \"=z\", \"_ok9=1\", \"TAB=a\\tb\","
			    " \"U=\\u00e9\\u00a0\", \"PATH2=$PATH:/x\"]");
	char *s = meta_oci_env_script(env);
	CHECK_STR(s, env_expected);
	free(s);
	json_decref(env);

	s = meta_oci_env_script(NULL);
	CHECK_STR(s, "#!/bin/sh\n");
	free(s);

	/* the busybox image's file */
	env = parse("[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"]");
	s = meta_oci_env_script(env);
	CHECK_STR(s,
		  "#!/bin/sh\n"
		  "export PATH=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"\n");
	free(s);
	json_decref(env);
}

static void test_quote_helpers(void)
{
	char *s = meta_quote_single("a'b");
	CHECK_STR(s, "'a'\"'\"'b'");
	free(s);
	s = meta_quote_single("");
	CHECK_STR(s, "''");
	free(s);
	s = meta_escape_double("a\\b\"c$d`e'f");
	CHECK_STR(s, "a\\\\b\\\"c\\$d\\`e'f");
	free(s);
}

static void test_labels_json_format(void)
{
	json_t *l = parse("{\"b\": \"2\", \"a\": \"x <y> & z\", \"c\": \"\\u2028\\t\\u0001\\\"\"}");
	char *s = meta_labels_json(l);
	/* json.MarshalIndent(map, "", "\t"): sorted keys, HTML-safe escapes, no final newline */
	CHECK_STR(s, "{\n"
		     "\t\"a\": \"x \\u003cy\\u003e \\u0026 z\",\n"
		     "\t\"b\": \"2\",\n"
		     "\t\"c\": \"\\u2028\\t\\u0001\\\"\"\n"
		     "}");
	free(s);
	json_decref(l);
	l = json_object();
	s = meta_labels_json(l);
	CHECK_STR(s, "{}");
	free(s);
	json_decref(l);
}

static void test_oci_config_busybox(void)
{
	json_t *doc =
	    parse("{\"architecture\": \"amd64\", \"os\": \"linux\", \"config\": {\"Env\": "
		  "[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"], "
		  "\"Cmd\": [\"sh\"], \"WorkingDir\": \"\", \"Labels\": null, "
		  "\"Entrypoint\": null, \"OnBuild\": null}}");
	char *s = NULL;
	lt_error *err = NULL;
	CHECK_INT(meta_oci_config_json(doc, META_CONFIG_IMAGE_SPEC, &s, &err), 0);
	CHECK_STR(s, busybox_oci_config);
	free(s);
	/* Apptainer >= 1.4 (go-containerregistry v1.Config): same object, Cmd first */
	CHECK_INT(meta_oci_config_json(doc, META_CONFIG_APPTAINER, &s, &err), 0);
	CHECK_STR(s, "{\"Cmd\":[\"sh\"],\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
		     "/usr/bin:/sbin:/bin\"]}");
	json_t *a = parse(s), *b = parse(busybox_oci_config);
	CHECK(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	free(s);
	json_decref(doc);
}

static void test_oci_config_fields(void)
{
	json_t *doc = parse(
	    "{\"config\": {\"Hostname\": \"\", \"User\": \"1000\", \"AttachStdout\": true,"
	    " \"ExposedPorts\": {\"80/tcp\": {}, \"443/tcp\": null}, \"Env\": [\"A=1\"],"
	    " \"Cmd\": null, \"Image\": \"sha256:abc\", \"Volumes\": {\"/data\": {}},"
	    " \"WorkingDir\": \"/app\", \"Entrypoint\": [\"/e.sh\"], \"Labels\": {\"b\": \"<\","
	    " \"a\": null}, \"StopSignal\": \"SIGQUIT\", \"ArgsEscaped\": true, \"Healthcheck\":"
	    " {\"Test\": [\"CMD\", \"true\"], \"Interval\": 30000000000, \"Retries\": 3,"
	    " \"StartInterval\": 5}, \"Shell\": [\"/bin/sh\", \"-c\"], \"cmd\": [\"lower\"],"
	    " \"Unknown\": 1}}");
	char *s = NULL;
	lt_error *err = NULL;
	CHECK_INT(meta_oci_config_json(doc, META_CONFIG_APPTAINER, &s, &err), 0);
	CHECK_STR(s,
		  "{\"AttachStdout\":true,\"Cmd\":[\"lower\"],\"Healthcheck\":{\"Test\":[\"CMD\","
		  "\"true\"],\"Interval\":30000000000,\"Retries\":3},\"Entrypoint\":[\"/e.sh\"],"
		  "\"Env\":[\"A=1\"],\"Image\":\"sha256:abc\",\"Labels\":{\"a\":\"\",\"b\":"
		  "\"\\u003c\"},\"User\":\"1000\",\"Volumes\":{\"/data\":{}},\"WorkingDir\":"
		  "\"/app\",\"ExposedPorts\":{\"443/tcp\":{},\"80/tcp\":{}},\"ArgsEscaped\":true,"
		  "\"StopSignal\":\"SIGQUIT\",\"Shell\":[\"/bin/sh\",\"-c\"]}");
	free(s);
	CHECK_INT(meta_oci_config_json(doc, META_CONFIG_IMAGE_SPEC, &s, &err), 0);
	CHECK_STR(s, "{\"User\":\"1000\",\"ExposedPorts\":{\"443/tcp\":{},\"80/tcp\":{}},\"Env\":"
		     "[\"A=1\"],\"Entrypoint\":[\"/e.sh\"],\"Cmd\":[\"lower\"],\"Volumes\":"
		     "{\"/data\":{}},\"WorkingDir\":\"/app\",\"Labels\":{\"a\":\"\",\"b\":"
		     "\"\\u003c\"},\"StopSignal\":\"SIGQUIT\",\"ArgsEscaped\":true}");
	free(s);
	json_decref(doc);

	/* no "config": the zero struct */
	doc = parse("{\"architecture\": \"amd64\"}");
	CHECK_INT(meta_oci_config_json(doc, META_CONFIG_APPTAINER, &s, &err), 0);
	CHECK_STR(s, "{}");
	free(s);
	json_decref(doc);

	/* a known field of the wrong type fails like Go's json.Unmarshal */
	doc = parse("{\"config\": {\"Cmd\": \"sh\"}}");
	CHECK_INT(meta_oci_config_json(doc, META_CONFIG_APPTAINER, &s, &err), -1);
	CHECK_ERR(err, "config.Cmd");
	lt_error_free(&err);
	json_decref(doc);
}

static const meta_entry *find_entry(const meta_image *m, const char *path)
{
	for (size_t i = 0; i < m->n_entries; i++) {
		if (strcmp(m->entries[i].path, path) == 0)
			return &m->entries[i];
	}
	return NULL;
}

static void check_entry(const meta_image *m, const char *path, enum meta_kind kind, uint32_t mode,
			bool replace)
{
	const meta_entry *e = find_entry(m, path);
	if (e == NULL) {
		printf("# missing entry %s\n", path);
		tap_current_failed = true;
		return;
	}
	CHECK_INT(e->kind, kind);
	CHECK_INT(e->mode, mode);
	CHECK_INT(e->replace, replace);
}

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
	RUN(test_runscript_neither);
	RUN(test_runscript_cmd_only);
	RUN(test_runscript_entrypoint_only);
	RUN(test_runscript_both);
	RUN(test_runscript_special_characters);
	RUN(test_env_script);
	RUN(test_quote_helpers);
	RUN(test_labels_json_format);
	RUN(test_oci_config_busybox);
	RUN(test_oci_config_fields);
	RUN(test_entries);
	RUN(test_labels_merge);
	RUN(test_inspect_json);
	RUN(test_deffile);
	RUN(test_scratch);
	RUN(test_deterministic);
	RUN(test_errors);
	RUN(test_def_labels);
	RUN(test_def_help);
	RUN(test_def_environment_scripts);
	RUN(test_def_singularity_history);
	RUN(test_def_errors);
	RUN(test_def_apps);
	return tap_done();
}
