/* Unit tests for the meta module: the texts of an OCI image's metadata -- runscript,
 * 10-docker2singularity.sh, quoting, labels JSON, oci-config.json. The expected runscript and
 * 10-docker2singularity.sh texts were produced with Apptainer's own Go code
 * (10-docker2singularity.sh then corrected where litho deliberately escapes values once, see
 * meta_oci.c): insertRunScript() / insertEnv() of
 * internal/pkg/build/sources/conveyorPacker_oci.go (with its ociRunscript text/template and
 * internal/pkg/util/shell/escape.go) copied into a Go harness and run on the same inputs. The
 * oci-config.json bytes are those of shared/interop/images/busybox_amd64.sif (`siftool dump 3`).
 * The generated images are in test_meta_image.c, definition-file builds in test_meta_def.c. */
#include "meta_fixtures.h"

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
	return tap_done();
}
