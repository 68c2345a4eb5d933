/* The container environment and the action dispatch (src/runtime/env.c, action.c) in image
 * roots built in a temporary directory (see runtime_env_fixtures.h): each test forks, chroots
 * into a root, calls rt_exec_prepare and execve's its result, and checks what the payload
 * printed. Those need root (chroot; dash and bash also a private mount namespace for their
 * libraries) and are reported as skipped otherwise. */
#include "runtime_env_fixtures.h"

/* ---------------------------------------------------------------------------------------------
 * In an image root
 */
static const char cfg_env[] =
    "{\"config\": {\"Env\": [\"PATH=/usr/local/bin:/usr/bin:/bin\", \"FOO=image-foo\", "
    "\"BAR=image-bar\", \"IMGONLY=img value\", \"REFHOME=${HOME}-literal\"], \"Cmd\": [\"env\"]}}";

static char *host_std[] = {"HOME=/root/host",
			   "PATH=/host/bin",
			   "LD_LIBRARY_PATH=/host/lib",
			   "TERM=xterm",
			   "FOO=host-foo",
			   "HOSTONLY=host only",
			   "EMPTYHOST=",
			   "APPTAINERENV_BAR=app-bar",
			   "SINGULARITYENV_BAR=sing-bar",
			   "SINGULARITYENV_SONLY=s-only",
			   "LITHO_ENV_BAZ=litho-baz",
			   "APPTAINERENV_BAZ=app-baz",
			   "APPTAINERENV_X1=app-x1",
			   "APPTAINERENV_X2=app-x2",
			   "APPTAINERENV_EVAL=$HOME/e",
			   "APPTAINER_FOO=x",
			   "SINGULARITY_FOO=x",
			   "LITHO_FOO=x",
			   "SHLVL=1",
			   NULL};

static void check_std_env(const char *out)
{
	CHECK_ENV(out, "FOO", "image-foo"); /* the image's ENV wins over the host */
	CHECK_ENV(out, "BAR", "app-bar");   /* APPTAINERENV_ over the image and SINGULARITYENV_ */
	CHECK_ENV(out, "SONLY", "s-only");
	CHECK_ENV(out, "BAZ", "litho-baz"); /* LITHO_ENV_ over APPTAINERENV_ */
	CHECK_ENV(out, "X1", "cli-x1");	    /* --env over everything */
	CHECK_ENV(out, "X2", "file-x2");    /* --env-file over APPTAINERENV_ */
	CHECK_ENV(out, "X3", "cli-x3");	    /* --env over --env-file */
	CHECK_ENV(out, "FILEREF", "from host only");
	CHECK_ENV(out, "EVAL", "/home/user/e");
	CHECK_ENV(out, "IMGONLY", "img value");
	/* ENV values are not expanded (as under Docker) */
	CHECK_ENV(out, "REFHOME", "${HOME}-literal");
	CHECK_ENV(out, "HOSTONLY", "host only");
	CHECK_ENV(out, "EMPTYHOST", "");
	CHECK_ENV(out, "TERM", "xterm");
	CHECK_ENV(out, "HOME", "/home/user");
	CHECK_ENV(out, "PATH", "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin");
	CHECK_ENV(out, "LD_LIBRARY_PATH", "/.singularity.d/libs");
	CHECK_ENV(out, "SHLVL", "1");
	CHECK_ENV(out, "APPTAINER_NAME", "test.sif");
	CHECK_ENV(out, "SINGULARITY_NAME", "test.sif");
	CHECK_ENV(out, "APPTAINER_CONTAINER", "/images/test.sif");
	CHECK_ENV(out, "SINGULARITY_CONTAINER", "/images/test.sif");
	CHECK_ENV(out, "APPTAINER_BIND", "/data");
	CHECK_ENV(out, "APPTAINER_COMMAND", "exec");
	CHECK_ENV(out, "APPTAINER_APPNAME", "");
	CHECK_NOENV(out, "SINGULARITY_APPNAME"); /* kept through the clear, then empty: removed */
	CHECK_ENV(out, "APPTAINER_ENVIRONMENT", "/.singularity.d/env/91-environment.sh");
	CHECK_ENV(out, "SINGULARITY_ENVIRONMENT", "/.singularity.d/env/91-environment.sh");
	CHECK_ENV(out, "PS1", "Apptainer> ");
	CHECK_ENV(out, "PROMPT_COMMAND", "PS1=\"Apptainer> \"; unset PROMPT_COMMAND");
	CHECK_ENV(out, "PWD", "/");
	CHECK_NOENV(out, "APPTAINER_FOO");
	CHECK_NOENV(out, "SINGULARITY_FOO");
	CHECK_NOENV(out, "LITHO_FOO");
	CHECK_NOENV(out, "APPTAINERENV_BAR");
	CHECK_NOENV(out, "LITHO_SH_KEYS");
	CHECK_NOENV(out, "LITHO_SH_INJECT");
	CHECK_NOENV(out, "LITHO_SH_INFO");
	CHECK_NOENV(out, "LITHO_SH_SHLVL");
	CHECK(strstr(out, "__litho") == NULL);
}

static void std_ctx(rt_ctx *c, rt_options *o, enum rt_action a, char **args, size_t n)
{
	static char *cli[] = {"X1=cli-x1", "X3=cli-x3"};
	ctx_init(c, o, a, args, n, host_std);
	o->env = cli;
	o->n_env = 2;
	o->env_file = "vars.env";
	c->env_file_data = (char *)"X2=file-x2\nX3=file-x3\nFILEREF=\"from $HOSTONLY\"\n";
}

static void env_precedence(enum shell_kind k)
{
	char *root = make_root("precedence", cfg_env, k);
	char *args[] = {"env"};
	rt_ctx c;
	rt_options o;
	std_ctx(&c, &o, RT_EXEC, args, 1);
	result r = run_in(root, &c, k == SH_DASH || k == SH_BASH);
	CHECK_INT(r.status, 0);
	check_std_env(r.out);
	result_done(&r);
	free(root);
}

static void test_env_busybox(void)
{
	env_precedence(SH_BUSYBOX);
}

static void test_env_dash(void)
{
	env_precedence(SH_DASH);
}

static void test_env_bash(void)
{
	env_precedence(SH_BASH);
}

static void test_env_nosh(void)
{
	env_precedence(SH_NONE);
}

static void test_cleanenv(void)
{
	for (enum shell_kind k = SH_NONE; k <= SH_BUSYBOX; k++) {
		char *root = make_root("cleanenv", cfg_env, k);
		char *host[] = {
		    "TERM=xterm", "http_proxy=p", "NO_PROXY=n", "ALL_PROXY=a",	       "OTHER=o",
		    "LANG=en_US", "FOO=host",	  "LC_ALL=x",	"APPTAINERENV_KEEP=k", NULL};
		char *args[] = {"env"};
		rt_ctx c;
		rt_options o;
		ctx_init(&c, &o, RT_EXEC, args, 1, host);
		o.containall = true;
		result r = run_in(root, &c, false);
		CHECK_INT(r.status, 0);
		CHECK_ENV(r.out, "TERM", "xterm");
		CHECK_ENV(r.out, "http_proxy", "p");
		CHECK_ENV(r.out, "NO_PROXY", "n");
		CHECK_ENV(r.out, "ALL_PROXY", "a");
		CHECK_ENV(r.out, "LANG", "C");
		CHECK_ENV(r.out, "KEEP", "k");
		CHECK_ENV(r.out, "FOO", "image-foo");
		CHECK_NOENV(r.out, "OTHER");
		CHECK_NOENV(r.out, "LC_ALL");
		result_done(&r);
		free(root);
	}
}

static void test_path_keys(void)
{
	for (enum shell_kind k = SH_NONE; k <= SH_BUSYBOX; k++) {
		char *root = make_root("pathkeys", cfg_env, k);
		char *host[] = {
		    "APPTAINERENV_PREPEND_PATH=/pre", "SINGULARITYENV_APPEND_PATH=/post",
		    "APPTAINERENV_LD_LIBRARY_PATH=/mylib", "APPTAINERENV_HOME=/nope", NULL};
		char *args[] = {"env"};
		rt_ctx c;
		rt_options o;
		ctx_init(&c, &o, RT_EXEC, args, 1, host);
		result r = run_in(root, &c, false);
		CHECK_INT(r.status, 0);
		CHECK_ENV(
		    r.out, "PATH",
		    "/pre:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/post");
		CHECK_ENV(r.out, "LD_LIBRARY_PATH", "/mylib:/.singularity.d/libs");
		CHECK_ENV(r.out, "HOME", "/home/user");
		CHECK(strstr(r.err,
			     "Overriding HOME environment variable with APPTAINERENV_HOME is "
			     "not permitted") != NULL);
		CHECK_NOENV(r.out, "SING_USER_DEFINED_PREPEND_PATH");
		CHECK_NOENV(r.out, "SING_USER_DEFINED_APPEND_PATH");
		result_done(&r);

		char *cli[] = {"PATH=/only:/bin"};
		ctx_init(&c, &o, RT_EXEC, args, 1, host);
		o.env = cli;
		o.n_env = 1;
		r = run_in(root, &c, false);
		CHECK_INT(r.status, 0);
		CHECK_ENV(r.out, "PATH", "/only:/bin");
		CHECK_NOENV(r.out, "SING_USER_DEFINED_PATH");
		result_done(&r);
		free(root);
	}
}

static void test_no_eval(void)
{
	for (enum shell_kind k = SH_NONE; k <= SH_BUSYBOX; k++) {
		char *root = make_root("noeval", cfg_env, k);
		char *host[] = {"APPTAINERENV_E1=$HOME/x", "APPTAINERENV_Q=a\"b",
				"APPTAINERENV_S=it's", "APPTAINERENV_B=back\\slash", NULL};
		char *args[] = {"env"};
		rt_ctx c;
		rt_options o;
		ctx_init(&c, &o, RT_EXEC, args, 1, host);
		result r = run_in(root, &c, false);
		CHECK_INT(r.status, 0);
		CHECK_ENV(r.out, "E1", "/home/user/x");
		CHECK_ENV(r.out, "Q", "a\"b");
		CHECK_ENV(r.out, "S", "it's");
		CHECK_ENV(r.out, "B", "back\\slash");
		CHECK_NOENV(r.out, "APPTAINER_NO_EVAL");
		result_done(&r);
		o.no_eval = true;
		r = run_in(root, &c, false);
		CHECK_INT(r.status, 0);
		CHECK_ENV(r.out, "E1", "$HOME/x");
		CHECK_ENV(r.out, "Q", "a\"b");
		CHECK_ENV(r.out, "S", "it's");
		CHECK_ENV(r.out, "B", "back\\slash");
		CHECK_ENV(r.out, "APPTAINER_NO_EVAL", "1");
		CHECK_ENV(r.out, "SINGULARITY_NO_EVAL", "1");
		result_done(&r);
		free(root);
	}
}

/* The OCI runscript, interpreted by the image's shell or, without one, by litho. */
static void test_oci_run(void)
{
	static const char cfg_cmd[] = "{\"config\": {\"Env\": [\"PATH=/bin\", \"GREETING=hello\"], "
				      "\"Cmd\": [\"echo\", \"cmd $HOME\", \"'q'\"]}}";
	static const char cfg_ep[] = "{\"config\": {\"Env\": [\"PATH=/bin\"], "
				     "\"Entrypoint\": [\"/bin/echo\", \"ep\"], \"Cmd\": [\"c1\"]}}";
	for (enum shell_kind k = SH_NONE; k <= SH_BUSYBOX; k++) {
		char *root = make_root("ocicmd", cfg_cmd, k);
		char *root2 = make_root("ociep", cfg_ep, k);
		rt_ctx c;
		rt_options o;
		char *host[] = {NULL};
		ctx_init(&c, &o, RT_RUN, NULL, 0, host);
		result r = run_in(root, &c, false);
		CHECK_INT(r.status, 0);
		CHECK_STR(r.out, "cmd $HOME 'q'\n");
		result_done(&r);

		char *args[] = {"echo", "a  b", "$GREETING"};
		ctx_init(&c, &o, RT_RUN, args, 3, host);
		r = run_in(root, &c, false);
		CHECK_INT(r.status, 0);
		CHECK_STR(r.out, "a  b hello\n");
		result_free(&r);
		o.no_eval = true;
		r = run_in(root, &c, false);
		CHECK_INT(r.status, 0);
		CHECK_STR(r.out, "a  b $GREETING\n");
		result_free(&r);

		ctx_init(&c, &o, RT_RUN, NULL, 0, host);
		r = run_in(root2, &c, false);
		CHECK_INT(r.status, 0);
		CHECK_STR(r.out, "ep c1\n");
		result_free(&r);
		char *one[] = {"x y"};
		ctx_init(&c, &o, RT_RUN, one, 1, host);
		r = run_in(root2, &c, false);
		CHECK_INT(r.status, 0);
		CHECK_STR(r.out, "ep x y\n");
		if (tap_current_failed) {
			printf("# shell: %s\n", shell_name(k));
			show(&r);
		}
		result_free(&r);
		free(root);
		free(root2);
	}
}

static void test_exec_lookup(void)
{
	for (enum shell_kind k = SH_NONE; k <= SH_BUSYBOX; k++) {
		char *root = make_root("lookup", cfg_env, k);
		char *host[] = {NULL};
		char *args[] = {"echo", "found", "it"};
		rt_ctx c;
		rt_options o;
		ctx_init(&c, &o, RT_EXEC, args, 3, host);
		result r = run_in(root, &c, false);
		CHECK_INT(r.status, 0);
		CHECK_STR(r.out, "found it\n");
		result_free(&r);
		char *missing[] = {"no-such-command"};
		ctx_init(&c, &o, RT_EXEC, missing, 1, host);
		r = run_in(root, &c, false);
		CHECK(r.status == (k == SH_NONE ? 98 : 255));
		CHECK(strstr(r.err, "\"no-such-command\": executable file not found in $PATH") !=
		      NULL);
		result_done(&r);
		free(root);
	}
}

static void test_shell(void)
{
	char *host[] = {NULL};
	rt_ctx c;
	rt_options o;
	char *root = make_root("shell", cfg_env, SH_BUSYBOX);
	char *args[] = {"-c", "echo $SHELL $0"};
	ctx_init(&c, &o, RT_SHELL, args, 2, host);
	result r = run_in(root, &c, false);
	CHECK_INT(r.status, 0);
	CHECK_STR(r.out, "/bin/sh /bin/sh\n");
	result_free(&r);
	/* --shell */
	char *words[] = {"via", "shell"};
	ctx_init(&c, &o, RT_SHELL, words, 2, host);
	o.shell = "/bin/echo";
	r = run_in(root, &c, false);
	CHECK_INT(r.status, 0);
	CHECK_STR(r.out, "via shell\n");
	result_free(&r);
	/* /bin/bash wins over /bin/sh */
	put(root, "bin/bash", "#!/bin/sh\necho bash \"$@\" $SHELL\n", 0755);
	ctx_init(&c, &o, RT_SHELL, words, 2, host);
	r = run_in(root, &c, false);
	CHECK_INT(r.status, 0);
	CHECK_STR(r.out, "bash --norc via shell /bin/bash\n");
	result_free(&r);
	free(root);

	root = make_root("shell", cfg_env, SH_NONE);
	ctx_init(&c, &o, RT_SHELL, NULL, 0, host);
	r = run_in(root, &c, false);
	CHECK_INT(r.status, 98);
	CHECK(strstr(r.err, "the image has no shell (/bin/sh)") != NULL);
	result_free(&r);
	ctx_init(&c, &o, RT_SHELL, words, 2, host);
	o.shell = "/bin/echo";
	r = run_in(root, &c, false);
	CHECK_INT(r.status, 0);
	CHECK_STR(r.out, "via shell\n");
	result_free(&r);
	free(root);
}

static void test_test_action(void)
{
	char *host[] = {NULL};
	rt_ctx c;
	rt_options o;
	for (enum shell_kind k = SH_NONE; k <= SH_BUSYBOX; k++) {
		char *root = make_root("test", cfg_env, k);
		ctx_init(&c, &o, RT_TEST, NULL, 0, host);
		result r = run_in(root, &c, false);
		CHECK_INT(r.status, 0);
		CHECK(strstr(r.err, "No test script found in container, exiting") != NULL);
		result_done(&r);
		if (k == SH_BUSYBOX) {
			put(root, ".singularity.d/test", "#!/bin/sh\necho testing \"$@\"\nexit 3\n",
			    0755);
			char *args[] = {"one"};
			ctx_init(&c, &o, RT_TEST, args, 1, host);
			r = run_in(root, &c, false);
			CHECK_INT(r.status, 3);
			CHECK_STR(r.out, "testing one\n");
			result_free(&r);
		} else {
			put(root, ".singularity.d/test", "#!/bin/sh\necho testing\n", 0755);
			r = run_in(root, &c, false);
			CHECK_INT(r.status, 98);
			CHECK(strstr(r.err,
				     "is a script for /bin/sh, which the image does not have") !=
			      NULL);
			result_free(&r);
		}
		free(root);
	}
}

static void test_app(void)
{
	char *host[] = {NULL};
	rt_ctx c;
	rt_options o;
	for (enum shell_kind k = SH_NONE; k <= SH_BUSYBOX; k++) {
		char *root = make_root("app", cfg_env, k);
		put(root, "scif/apps/foo/scif/runscript",
		    "#!/bin/sh\necho app $SINGULARITY_APPNAME $APPTAINER_APPNAME $SCIF_APPROOT\n",
		    0755);
		put(root, "scif/apps/foo/scif/env/90-environment.sh", "export APPVAR=from-app\n",
		    0644);
		put(root, "scif/apps/foo/bin/tool", "#!/bin/sh\n", 0755);
		put(root, "scif/apps/zed/scif/test", "#!/bin/sh\n", 0755);
		char *args[] = {"env"};
		ctx_init(&c, &o, RT_EXEC, args, 1, host);
		o.app = "foo";
		result r = run_in(root, &c, false);
		CHECK_INT(r.status, 0);
		CHECK_ENV(r.out, "SINGULARITY_APPNAME", "foo");
		CHECK_ENV(r.out, "APPTAINER_APPNAME", "foo");
		CHECK_ENV(r.out, "SCIF_APPROOT", "/scif/apps/foo");
		CHECK_ENV(r.out, "SCIF_APPS", "/scif/apps");
		CHECK_ENV(r.out, "APPVAR", "from-app");
		CHECK(
		    lt_str_has_prefix(env_line(r.out, "PATH"),
				      "/scif/apps/foo/bin:/scif/apps/foo:/scif/apps/singularity:"));
		result_done(&r);
		if (k == SH_BUSYBOX) {
			ctx_init(&c, &o, RT_RUN, NULL, 0, host);
			o.app = "foo";
			r = run_in(root, &c, false);
			CHECK_INT(r.status, 0);
			CHECK_STR(r.out, "app foo foo /scif/apps/foo\n");
			result_free(&r);
			o.app = "zed";
			r = run_in(root, &c, false);
			CHECK_INT(r.status, 1);
			CHECK(strstr(r.err, "no runscript for contained app: zed") != NULL);
			result_free(&r);
		}
		ctx_init(&c, &o, RT_RUN, NULL, 0, host);
		o.app = "bar";
		r = run_in(root, &c, false);
		CHECK_INT(r.status, 98);
		CHECK(strstr(r.err, "no app named 'bar' in the image (apps: foo, zed)") != NULL);
		result_done(&r);
		free(root);
	}
}

/* Images from before Singularity 2.3: /environment instead of /.singularity.d/env. */
static void test_old_image(void)
{
	char *host[] = {"APPTAINERENV_INJ=yes", NULL};
	char *args[] = {"env"};
	rt_ctx c;
	rt_options o;
	for (enum shell_kind k = SH_NONE; k <= SH_BUSYBOX; k++) {
		char *root = make_root("old", NULL, k);
		put(root, "environment", "OLD=1\nexport OLD\nPATH=/old/bin\nexport PATH\n", 0644);
		ctx_init(&c, &o, RT_EXEC, args, 1, host);
		result r = run_in(root, &c, false);
		CHECK_INT(r.status, 0);
		CHECK_ENV(r.out, "OLD", "1");
		CHECK_ENV(r.out, "INJ", "yes");
		CHECK_ENV(r.out, "PATH", "/old/bin:" RT_DEFAULT_PATH);
		CHECK_NOENV(r.out, "LD_LIBRARY_PATH");
		result_done(&r);
		free(root);
	}
}

int main(void)
{
	char tmpl[] = "/tmp/litho-test-env-root.XXXXXX";
	tmp_base = mkdtemp(tmpl);
	if (tmp_base == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	lt_log_set_level(LT_LOG_INFO);
	bool chroot_ok = tmp_base != NULL && probe_chroot() && access("/bin/busybox", X_OK) == 0;
	bool libs_ok = chroot_ok && probe_libs();
	const char *why = geteuid() != 0		      ? "needs root (chroot)"
			  : access("/bin/busybox", X_OK) != 0 ? "needs /bin/busybox"
							      : "chroot is not permitted here";
	if (chroot_ok) {
		RUN(test_env_busybox);
		RUN(test_env_nosh);
		if (libs_ok && access("/bin/dash", X_OK) == 0)
			RUN(test_env_dash);
		else
			SKIP(test_env_dash, "needs /bin/dash and bind mounts");
		if (libs_ok && access("/bin/bash", X_OK) == 0)
			RUN(test_env_bash);
		else
			SKIP(test_env_bash, "needs /bin/bash and bind mounts");
		RUN(test_cleanenv);
		RUN(test_path_keys);
		RUN(test_no_eval);
		RUN(test_oci_run);
		RUN(test_exec_lookup);
		RUN(test_shell);
		RUN(test_test_action);
		RUN(test_app);
		RUN(test_old_image);
	} else {
		SKIP(test_env_busybox, why);
		SKIP(test_env_nosh, why);
		SKIP(test_env_dash, why);
		SKIP(test_env_bash, why);
		SKIP(test_cleanenv, why);
		SKIP(test_path_keys, why);
		SKIP(test_no_eval, why);
		SKIP(test_oci_run, why);
		SKIP(test_exec_lookup, why);
		SKIP(test_shell, why);
		SKIP(test_test_action, why);
		SKIP(test_app, why);
		SKIP(test_old_image, why);
	}
	cleanup();
	return tap_done();
}
