/* The container environment (src/runtime/env.c, action.c): the pure helpers -- environment
 * lists, the docker ENV script, the shell subset, --env-file, the OCI runscript, the injected
 * snippet, the environment build and the PATH lookup. test_runtime_env_root.c runs whole
 * actions in image roots. */
#include "runtime_env_fixtures.h"

/* ---------------------------------------------------------------------------------------------
 * Pure helpers
 */
static void test_env_list(void)
{
	rt_env e;
	rt_env_init(&e);
	rt_env_set(&e, "A", "1");
	rt_env_set(&e, "B", "2");
	rt_env_set(&e, "A", "3");
	CHECK_INT(e.n, 2);
	CHECK_STR(e.v[0], "A=3");
	CHECK_STR(rt_env_get(&e, "B"), "2");
	CHECK(rt_env_get(&e, "AB") == NULL);
	CHECK(rt_env_unset(&e, "A"));
	CHECK(!rt_env_unset(&e, "A"));
	CHECK_STR(e.v[0], "B=2");
	CHECK(e.v[1] == NULL);
	char *host[] = {"X=1", "noequals", "Y=a=b", "X=2", NULL};
	rt_env_add_strv(&e, host);
	CHECK_STR(rt_env_get(&e, "X"), "2");
	CHECK_STR(rt_env_get(&e, "Y"), "a=b");
	CHECK_INT(e.n, 3);
	rt_env_sort(&e);
	CHECK_STR(e.v[0], "B=2");
	char **v = rt_env_steal(&e);
	CHECK_STR(v[2], "Y=a=b");
	CHECK(v[3] == NULL);
	lt_strv_free(v);
}

/* The value of VAR after a real shell sourced script (busybox sh), NULL when it cannot run. */
static char *shell_value(const char *script, const char *var, const char *preset)
{
	char *file = lt_strdup_printf("%s/env-%d.sh", tmp_base, (int)getpid());
	write_file(file, script, 0644);
	char *cmd = lt_strdup_printf("env -i HOME=/home/x %s /bin/busybox sh -c '. %s; printf %%s "
				     "\"${%s-(unset)}\"'",
				     preset ? preset : "", file, var);
	FILE *f = popen(cmd, "r");
	free(cmd);
	char buf[4096];
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	int st = f ? pclose(f) : -1;
	unlink(file);
	free(file);
	if (st != 0)
		return NULL;
	buf[n] = '\0';
	return lt_xstrdup(buf);
}

/* 10-docker2singularity.sh as litho's build writes it: the values are escaped once, so sourcing
 * gives the config's values back unchanged -- and the evaluator must agree with a real shell. */
static void test_docker_env(void)
{
	static const char *const vars[] = {"PATH",  "PLAIN",   "QUOTES", "DOLLAR", "MULTI",
					   "EMPTY", "NOVALUE", "PRESET", "SPACES", "BRACES"};
	json_t *list = json_pack("[ssssssssss]", "PATH=/opt/bin:/usr/bin", "PLAIN=value",
				 "QUOTES=say \"hi\" 'there'", "DOLLAR=$HOME and \\n and ${HOME}x",
				 "MULTI=line1\nline2", "EMPTY=", "NOVALUE", "PRESET=image",
				 "SPACES=  a  b  ", "BRACES=}{");
	char *script = meta_oci_env_script(list);
	json_decref(list);
	rt_env exported, locals;
	rt_env_init(&exported);
	rt_env_init(&locals);
	rt_env_set(&exported, "PRESET", "kept");
	rt_env_set(&exported, "HOME", "/home/x");
	rt_sh sh = {.exported = &exported, .locals = &locals, .name = "10-docker2singularity.sh"};
	lt_error *err = NULL;
	CHECK_INT(rt_sh_source(&sh, script, &err), 0);
	if (err)
		printf("# %s\n", err->message);
	CHECK_STR(rt_env_get(&exported, "PATH"), "/opt/bin:/usr/bin");
	CHECK_STR(rt_env_get(&exported, "PLAIN"), "value");
	CHECK_STR(rt_env_get(&exported, "QUOTES"), "say \"hi\" 'there'");
	CHECK_STR(rt_env_get(&exported, "DOLLAR"), "$HOME and \\n and ${HOME}x");
	CHECK_STR(rt_env_get(&exported, "MULTI"), "line1\nline2");
	CHECK_STR(rt_env_get(&exported, "SPACES"), "  a  b  ");
	CHECK_STR(rt_env_get(&exported, "BRACES"), "}{");
	CHECK_STR(rt_env_get(&exported, "EMPTY"), "");
	CHECK_STR(rt_env_get(&exported, "NOVALUE"), "");
	CHECK_STR(rt_env_get(&exported, "PRESET"), "kept");
	CHECK_INT(locals.n, 0);
	if (access("/bin/busybox", X_OK) == 0) {
		for (size_t i = 0; i < LT_ARRAY_SIZE(vars); i++) {
			char *want = shell_value(script, vars[i], "PRESET=kept");
			CHECK(want != NULL);
			if (want != NULL)
				CHECK_STR(rt_env_get(&exported, vars[i]), want);
			free(want);
		}
	}
	free(script);

	/* a backtick in a value stays a character ... */
	list = json_pack("[s]", "TICK=`date`");
	script = meta_oci_env_script(list);
	json_decref(list);
	CHECK_INT(rt_sh_source(&sh, script, &err), 0);
	CHECK_STR(rt_env_get(&exported, "TICK"), "`date`");
	free(script);
	/* ... but in Apptainer's doubly escaped file it is command substitution, which the
	 * evaluator leaves to a real shell */
	CHECK_INT(rt_sh_source(&sh, "export TICK=\"${TICK:-\"\\\\`date\\\\`\"}\"\n", &err), -1);
	CHECK_ERR(err, "command substitution");
	lt_error_free(&err);

	/* the busybox image's file, as Singularity 3.8 wrote it */
	rt_env_free(&exported);
	rt_env_init(&exported);
	CHECK_INT(
	    rt_sh_source(&sh,
			 "#!/bin/sh\nexport "
			 "PATH=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"",
			 &err),
	    0);
	CHECK_STR(rt_env_get(&exported, "PATH"), RT_DEFAULT_PATH);
	rt_env_free(&exported);
	rt_env_free(&locals);
}

static void test_sh_subset(void)
{
	rt_env exported, locals;
	rt_env_init(&exported);
	rt_env_init(&locals);
	rt_env_set(&exported, "HOME", "/h");
	char *args[] = {"first", "second arg"};
	rt_sh sh = {
	    .exported = &exported, .locals = &locals, .args = args, .n_args = 2, .name = "t"};
	lt_error *err = NULL;
	const char *script = "# comment\n"
			     "A=1; B='two words'   # trailing comment\n"
			     "export A\n"
			     "C=\"$B and ${A}\" D=${UNSET:-dflt} E=${A:+alt} F=${UNSET-}x\n"
			     "export G=~/sub H=\\$lit I=\"${#B}\" J=\"$1|$2|$#\"\n"
			     "K=${K:=assigned}\n"
			     "export K\n"
			     "unset D\n"
			     "L=a\\\n"
			     "b\n"
			     "export L M=\"${C:-\"x y\"}\" N=\"${UNSET:-\"x y\"}\"\n";
	CHECK_INT(rt_sh_source(&sh, script, &err), 0);
	if (err)
		printf("# %s\n", err->message);
	CHECK_STR(rt_env_get(&exported, "A"), "1");
	CHECK(rt_env_get(&exported, "B") == NULL);
	CHECK_STR(rt_env_get(&locals, "B"), "two words");
	CHECK_STR(rt_env_get(&locals, "C"), "two words and 1");
	CHECK(rt_env_get(&locals, "D") == NULL);
	CHECK_STR(rt_env_get(&locals, "E"), "alt");
	CHECK_STR(rt_env_get(&locals, "F"), "x");
	CHECK_STR(rt_env_get(&exported, "G"), "/h/sub");
	CHECK_STR(rt_env_get(&exported, "H"), "$lit");
	CHECK_STR(rt_env_get(&exported, "I"), "9");
	CHECK_STR(rt_env_get(&exported, "J"), "first|second arg|2");
	CHECK_STR(rt_env_get(&exported, "K"), "assigned");
	CHECK_STR(rt_env_get(&exported, "L"), "ab");
	CHECK_STR(rt_env_get(&exported, "M"), "two words and 1");
	CHECK_STR(rt_env_get(&exported, "N"), "x y");

	/* what needs a real shell is refused */
	static const char *const bad[] = {
	    "A=$(id -u)", "A=`id`",  "echo hi",	   "if true; then A=1; fi", "A=\"open",
	    "A='open",	  "A=1 | x", "A=$((1+2))", "cat < /etc/passwd",	    "A=${B#x}",
	};
	static const char *const why[] = {
	    "command substitution",	 "command substitution",
	    "execution is disabled",	 "unsupported shell construct",
	    "unterminated double quote", "unterminated single quote",
	    "unsupported shell syntax",	 "command substitution",
	    "unsupported shell syntax",	 "unsupported parameter expansion",
	};
	for (size_t i = 0; i < LT_ARRAY_SIZE(bad); i++) {
		CHECK_INT(rt_sh_source(&sh, bad[i], &err), -1);
		CHECK_ERR(err, why[i]);
		lt_error_free(&err);
	}
	CHECK_INT(rt_sh_source(&sh, "\n\nA=${UNSET:?is needed}\n", &err), -1);
	CHECK_ERR(err, "t: line 3: UNSET: is needed");
	lt_error_free(&err);

	/* words: quotes, expansions and field splitting, as `eval "set ..."` */
	char **w = NULL;
	size_t n = 0;
	rt_env_set(&exported, "SPLIT", " a  b ");
	CHECK_INT(rt_sh_words(&sh, "\"x y\" 'z w' $SPLIT\"q\" \"$SPLIT\" \"\" $UNSET end\\ \\\"",
			      &w, &n, &err),
		  0);
	CHECK_INT(n, 8);
	if (n == 8) {
		CHECK_STR(w[0], "x y");
		CHECK_STR(w[1], "z w");
		CHECK_STR(w[2], "a");
		CHECK_STR(w[3], "b");
		CHECK_STR(w[4], "q");
		CHECK_STR(w[5], " a  b ");
		CHECK_STR(w[6], "");
		CHECK_STR(w[7], "end \"");
	}
	lt_strv_free(w);
	CHECK_INT(rt_sh_words(&sh, "a; b", &w, &n, &err), -1);
	CHECK_ERR(err, "unsupported shell syntax");
	lt_error_free(&err);
	rt_env_free(&exported);
	rt_env_free(&locals);
}

static void test_env_file(void)
{
	char *host[] = {"HOME=/home/host", "HOSTVAR=hv", "EXPORTME=e", "UNTOUCHED=u", NULL};
	char *args[] = {"/.singularity.d/actions/exec", "cmd", "arg1"};
	const char *file = "# settings\n"
			   "A=plain\n"
			   "export B=\"with $HOSTVAR and $A\"\n"
			   "C='single $HOSTVAR'\n"
			   "export EXPORTME\n"
			   "D=$1:$2:$3\n"
			   "E=$APPTAINER_IMAGE\n"
			   "UID=5\n"
			   "F=gone\nunset F\n"
			   "set +a\nG=local\nset -a\n"
			   "H=~\n";
	rt_env out;
	lt_error *err = NULL;
	CHECK_INT(rt_env_file_eval(file, "vars.env", host, "/img/x.sif", args, 3, &out, &err), 0);
	if (err) {
		printf("# %s\n", err->message);
		lt_error_free(&err);
		return;
	}
	CHECK_STR(rt_env_get(&out, "A"), "plain");
	CHECK_STR(rt_env_get(&out, "B"), "with hv and plain");
	CHECK_STR(rt_env_get(&out, "C"), "single $HOSTVAR");
	CHECK_STR(rt_env_get(&out, "EXPORTME"), "e");
	CHECK_STR(rt_env_get(&out, "D"), "/.singularity.d/actions/exec:cmd:arg1");
	CHECK_STR(rt_env_get(&out, "E"), "/img/x.sif");
	CHECK_STR(rt_env_get(&out, "H"), "/home/host");
	CHECK(rt_env_get(&out, "UID") == NULL);
	CHECK(rt_env_get(&out, "F") == NULL);
	CHECK(rt_env_get(&out, "G") == NULL);
	CHECK(rt_env_get(&out, "HOSTVAR") == NULL);
	CHECK(rt_env_get(&out, "UNTOUCHED") == NULL);
	CHECK_STR(out.v[0], "A=plain");
	rt_env_free(&out);

	CHECK_INT(rt_env_file_eval("A=1\nrm -rf /\n", "bad.env", host, NULL, NULL, 0, &out, &err),
		  -1);
	CHECK_ERR(err, "bad.env: line 2: could not execute \"rm -rf /\": execution is disabled");
	lt_error_free(&err);
}

static void test_oci_runscript(void)
{
	json_t *ep = json_pack("[ss]", "/bin/echo", "ep $HOME \"q\" 'x'");
	json_t *cmd = json_pack("[ss]", "c1", "c 2");
	char *rs = meta_oci_runscript(ep, cmd);
	char *e = NULL, *c = NULL;
	lt_error *err = NULL;
	CHECK_INT(rt_oci_runscript_parse(rs, &e, &c, &err), 0);
	CHECK_STR(e, "\"/bin/echo\" \"ep \\$HOME \\\"q\\\" 'x'\"");
	CHECK_STR(c, "\"c1\" \"c 2\"");
	rt_env env;
	rt_env_init(&env);
	rt_env_set(&env, "HOME", "/home/u");
	char **argv = NULL;
	size_t argc = 0;
	/* both, no args: ENTRYPOINT + CMD, elements literal in either branch */
	for (int no_eval = 0; no_eval < 2; no_eval++) {
		CHECK_INT(rt_oci_runscript_argv(e, c, NULL, 0, no_eval, &env, &argv, &argc, &err),
			  0);
		CHECK_INT(argc, 4);
		if (argc == 4) {
			CHECK_STR(argv[0], "/bin/echo");
			CHECK_STR(argv[1], "ep $HOME \"q\" 'x'");
			CHECK_STR(argv[2], "c1");
			CHECK_STR(argv[3], "c 2");
		}
		lt_strv_free(argv);
	}
	/* args replace CMD; evaluated once unless no_eval */
	char *args[] = {"a b", "$HOME", "x\"y\""};
	CHECK_INT(rt_oci_runscript_argv(e, c, args, 2, false, &env, &argv, &argc, &err), 0);
	CHECK_INT(argc, 4);
	if (argc == 4) {
		CHECK_STR(argv[2], "a b");
		CHECK_STR(argv[3], "/home/u");
	}
	lt_strv_free(argv);
	CHECK_INT(rt_oci_runscript_argv(e, c, args, 3, true, &env, &argv, &argc, &err), 0);
	CHECK_INT(argc, 5);
	if (argc == 5) {
		CHECK_STR(argv[3], "$HOME");
		CHECK_STR(argv[4], "x\"y\"");
	}
	lt_strv_free(argv);
	/* an argument with a double quote changes the words, as with eval */
	CHECK_INT(rt_oci_runscript_argv(e, c, args + 2, 1, false, &env, &argv, &argc, &err), 0);
	CHECK_INT(argc, 3);
	if (argc == 3)
		CHECK_STR(argv[2], "xy");
	lt_strv_free(argv);
	char *subst[] = {"$(id)"};
	CHECK_INT(rt_oci_runscript_argv(e, c, subst, 1, false, &env, &argv, &argc, &err), -1);
	CHECK_ERR(err, "command substitution");
	lt_error_free(&err);
	free(e);
	free(c);
	free(rs);

	/* CMD only (busybox): args replace it; ENTRYPOINT only: args appended */
	json_t *sh = json_pack("[s]", "sh");
	rs = meta_oci_runscript(NULL, sh);
	CHECK_INT(rt_oci_runscript_parse(rs, &e, &c, &err), 0);
	CHECK_STR(e, "");
	CHECK_STR(c, "\"sh\"");
	char *one[] = {"ls"};
	for (int no_eval = 0; no_eval < 2; no_eval++) {
		CHECK_INT(rt_oci_runscript_argv(e, c, one, 1, no_eval, &env, &argv, &argc, &err),
			  0);
		CHECK(argc == 1 && strcmp(argv[0], "ls") == 0);
		lt_strv_free(argv);
		CHECK_INT(rt_oci_runscript_argv(e, c, NULL, 0, no_eval, &env, &argv, &argc, &err),
			  0);
		CHECK(argc == 1 && strcmp(argv[0], "sh") == 0);
		lt_strv_free(argv);
	}
	free(e);
	free(c);
	free(rs);
	rs = meta_oci_runscript(sh, NULL);
	CHECK_INT(rt_oci_runscript_parse(rs, &e, &c, &err), 0);
	CHECK_INT(rt_oci_runscript_argv(e, c, one, 1, true, &env, &argv, &argc, &err), 0);
	CHECK(argc == 2 && strcmp(argv[0], "sh") == 0 && strcmp(argv[1], "ls") == 0);
	lt_strv_free(argv);
	free(e);
	free(c);
	free(rs);
	/* neither: nothing to run */
	rs = meta_oci_runscript(NULL, NULL);
	CHECK_INT(rt_oci_runscript_parse(rs, &e, &c, &err), 0);
	CHECK_INT(rt_oci_runscript_argv(e, c, NULL, 0, false, &env, &argv, &argc, &err), 0);
	CHECK_INT(argc, 0);
	lt_strv_free(argv);
	free(e);
	free(c);
	free(rs);
	/* a hand-written runscript is not an OCI one */
	CHECK_INT(rt_oci_runscript_parse("#!/bin/sh\nexec foo \"$@\"\n", &e, &c, &err), 1);
	json_decref(ep);
	json_decref(cmd);
	json_decref(sh);
	rt_env_free(&env);
}

static void test_inject_snippet(void)
{
	rt_env inj;
	rt_env_init(&inj);
	rt_env_set(&inj, "A", "x \"q\" $HOME 'it'");
	rt_env_set(&inj, "LD_LIBRARY_PATH", "/l");
	rt_env_set(&inj, "UID", "1");
	rt_env_set(&inj, "BAD-NAME", "1");
	char *s = rt_env_inject_snippet(&inj, false);
	CHECK_STR(s, "export A=\"x \\\"q\\\" $HOME 'it'\"\n"
		     "export LD_LIBRARY_PATH=\"/l:/.singularity.d/libs\"\n");
	free(s);
	s = rt_env_inject_snippet(&inj, true);
	CHECK_STR(s, "export A='x \"q\" $HOME '\"'\"'it'\"'\"''\n"
		     "export LD_LIBRARY_PATH='/l:/.singularity.d/libs'\n");
	free(s);
	rt_env_free(&inj);
}

static void test_env_build(void)
{
	char *host[] = {"HOME=/root/host",
			"PATH=/host/bin",
			"LD_LIBRARY_PATH=/host/lib",
			"TERM=xterm",
			"https_proxy=proxy",
			"LANG=en_US.UTF-8",
			"OTHER=other",
			"FOO=host-foo",
			"APPTAINER_BIND=/x",
			"SINGULARITY_CACHEDIR=/c",
			"LITHO_DEBUG=1",
			"APPTAINERENV_FOO=app-foo",
			"SINGULARITYENV_FOO=sing-foo",
			"SINGULARITYENV_SONLY=s",
			"LITHO_ENV_BAZ=litho-baz",
			"APPTAINERENV_BAZ=app-baz",
			"APPTAINERENV_HOME=/nope",
			"APPTAINERENV_PATH=/p",
			"SINGULARITYENV_PREPEND_PATH=/pre",
			"APPTAINERENV_QUX=app-qux",
			"APPTAINERENV_FILEVAR=app-file",
			"APPTAINERENV_=empty",
			NULL};
	char *cli[] = {"QUX=cli-qux", "EXTRA=1", "QUX=cli-qux2", "APPEND_PATH=/post"};
	char *args[] = {"run-arg"};
	rt_ctx c;
	rt_options o;
	ctx_init(&c, &o, RT_RUN, args, 1, host);
	o.env = cli;
	o.n_env = 4;
	o.env_file = "vars.env";
	o.shell = "/bin/zsh";
	o.app = "foo";
	o.no_eval = true;
	c.env_file_data = (char *)"FILEVAR=file\nQUX=file-qux\nFROMHOST=$OTHER-$1\n";
	rt_env env, inj;
	lt_error *err = NULL;
	CHECK_INT(rt_env_build(&c, "run", &env, &inj, &err), 0);
	if (err) {
		printf("# %s\n", err->message);
		lt_error_free(&err);
		return;
	}
	/* overrides, highest precedence first */
	CHECK_STR(rt_env_get(&inj, "QUX"), "cli-qux2");
	CHECK_STR(rt_env_get(&inj, "EXTRA"), "1");
	CHECK_STR(rt_env_get(&inj, "SING_USER_DEFINED_APPEND_PATH"), "/post");
	CHECK_STR(rt_env_get(&inj, "FILEVAR"), "file");
	CHECK_STR(rt_env_get(&inj, "FROMHOST"), "other-/.singularity.d/actions/run");
	CHECK_STR(rt_env_get(&inj, "BAZ"), "litho-baz");
	CHECK_STR(rt_env_get(&inj, "FOO"), "app-foo");
	CHECK_STR(rt_env_get(&inj, "SONLY"), "s");
	CHECK_STR(rt_env_get(&inj, "SING_USER_DEFINED_PATH"), "/p");
	CHECK_STR(rt_env_get(&inj, "SING_USER_DEFINED_PREPEND_PATH"), "/pre");
	CHECK(rt_env_get(&inj, "HOME") == NULL);
	CHECK(rt_env_get(&inj, "") == NULL);
	CHECK(strncmp(inj.v[0], "QUX=", 4) == 0);
	/* process environment */
	CHECK_STR(rt_env_get(&env, "HOME"), "/home/user");
	CHECK_STR(rt_env_get(&env, "PATH"), RT_DEFAULT_PATH);
	CHECK(rt_env_get(&env, "LD_LIBRARY_PATH") == NULL);
	CHECK_STR(rt_env_get(&env, "TERM"), "xterm");
	CHECK_STR(rt_env_get(&env, "OTHER"), "other");
	CHECK_STR(rt_env_get(&env, "LANG"), "en_US.UTF-8");
	CHECK(rt_env_get(&env, "FOO") == NULL); /* overridden: not forwarded */
	CHECK(rt_env_get(&env, "SINGULARITY_CACHEDIR") == NULL);
	CHECK(rt_env_get(&env, "LITHO_DEBUG") == NULL);
	CHECK(rt_env_get(&env, "APPTAINERENV_FOO") == NULL);
	CHECK(rt_env_get(&env, "LITHO_ENV_BAZ") == NULL);
	CHECK_STR(rt_env_get(&env, "APPTAINER_BIND"), "/data");
	CHECK_STR(rt_env_get(&env, "SINGULARITY_BIND"), "/data");
	CHECK_STR(rt_env_get(&env, "APPTAINER_CONTAINER"), "/images/test.sif");
	CHECK_STR(rt_env_get(&env, "SINGULARITY_NAME"), "test.sif");
	CHECK_STR(rt_env_get(&env, "APPTAINER_SHELL"), "/bin/zsh");
	CHECK_STR(rt_env_get(&env, "SINGULARITY_APPNAME"), "foo");
	CHECK_STR(rt_env_get(&env, "APPTAINER_NO_EVAL"), "1");
	CHECK_STR(rt_env_get(&env, "SINGULARITY_NO_EVAL"), "1");
	CHECK_STR(rt_env_get(&env, "APPTAINER_COMMAND"), "run");
	CHECK(rt_env_get(&env, "SINGULARITY_COMMAND") == NULL);
	rt_env_free(&env);
	rt_env_free(&inj);

	/* --cleanenv: TERM and proxies only, LANG=C unless overridden */
	o.cleanenv = true;
	o.env_file = NULL;
	o.n_env = 0;
	o.shell = NULL;
	o.app = NULL;
	o.no_eval = false;
	CHECK_INT(rt_env_build(&c, "run", &env, &inj, &err), 0);
	CHECK_STR(rt_env_get(&env, "LANG"), "C");
	CHECK_STR(rt_env_get(&env, "TERM"), "xterm");
	CHECK_STR(rt_env_get(&env, "https_proxy"), "proxy");
	CHECK(rt_env_get(&env, "OTHER") == NULL);
	CHECK_STR(rt_env_get(&env, "APPTAINER_APPNAME"), "");
	CHECK(rt_env_get(&env, "APPTAINER_SHELL") == NULL);
	CHECK(rt_env_get(&env, "APPTAINER_NO_EVAL") == NULL);
	rt_env_free(&env);
	rt_env_free(&inj);
	char *cli2[] = {"LANG=fr_FR"};
	o.env = cli2;
	o.n_env = 1;
	CHECK_INT(rt_env_build(&c, "run", &env, &inj, &err), 0);
	CHECK(rt_env_get(&env, "LANG") == NULL);
	CHECK_STR(rt_env_get(&inj, "LANG"), "fr_FR");
	rt_env_free(&env);
	rt_env_free(&inj);

	/* errors */
	char *bad[] = {"NOEQUALS"};
	o.env = bad;
	CHECK_INT(rt_env_build(&c, "run", &env, &inj, &err), -1);
	CHECK_ERR(err, "--env NOEQUALS: expected NAME=VALUE");
	lt_error_free(&err);
	o.n_env = 0;
	o.env_file = "f.env";
	c.env_file_data = (char *)"X=$(date)\n";
	CHECK_INT(rt_env_build(&c, "run", &env, &inj, &err), -1);
	CHECK_ERR(err, "--env-file: f.env: line 1: command substitution");
	lt_error_free(&err);
	c.env_file_data = NULL;
	CHECK_INT(rt_env_build(&c, "run", &env, &inj, &err), -1);
	CHECK_ERR(err, "was not read");
	lt_error_free(&err);
}

static void test_lookpath(void)
{
	rt_env env;
	rt_env_init(&env);
	rt_env_set(&env, "PATH", "/nonexistent::/bin");
	char *p = NULL;
	CHECK_INT(rt_lookpath(&env, "sh", &p), 0);
	CHECK_STR(p, "/bin/sh");
	free(p);
	CHECK_INT(rt_lookpath(&env, "no-such-command-here", &p), 1);
	CHECK(p == NULL);
	CHECK_INT(rt_lookpath(&env, "/bin/sh", &p), 0);
	free(p);
	CHECK_INT(rt_lookpath(&env, "/etc/passwd", &p), 1);
	rt_env_free(&env);
}

int main(void)
{
	char tmpl[] = "/tmp/litho-test-env.XXXXXX";
	tmp_base = mkdtemp(tmpl);
	if (tmp_base == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	lt_log_set_level(LT_LOG_ERROR);
	RUN(test_env_list);
	RUN(test_docker_env);
	RUN(test_sh_subset);
	RUN(test_env_file);
	RUN(test_oci_runscript);
	RUN(test_inject_snippet);
	RUN(test_env_build);
	RUN(test_lookpath);
	cleanup();
	return tap_done();
}
