/* Unit tests for definition file parsing (build/deffile.h): stages, headers, sections, {{ }}
 * templating and build args, every parse error with its exact message, and what the build makes
 * of sections (%files entries, %labels, script files and script command lines). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build/deffile.h"
#include "tap.h"

static char tmp_dir[] = "/tmp/litho-test-deffile.XXXXXX";

static def_file *parse_ok(const char *text, const def_args *args)
{
	def_file *d = NULL;
	lt_error *err = NULL;
	if (build_def_parse("t.def", text, args, &d, &err) < 0) {
		printf("# unexpected error: %s\n", err ? err->message : "(none)");
		tap_current_failed = true;
		lt_error_free(&err);
		return NULL;
	}
	CHECK(err == NULL);
	return d;
}

/* The parse must fail with exactly `message`. */
static void parse_fails(const char *text, const def_args *args, const char *message)
{
	def_file *d = NULL;
	lt_error *err = NULL;
	int rc = build_def_parse("t.def", text, args, &d, &err);
	CHECK_INT(rc, -1);
	CHECK(d == NULL);
	CHECK(err != NULL);
	if (err)
		CHECK_STR(err->message, message);
	lt_error_free(&err);
	if (rc == 0)
		build_def_file_free(d);
}

static char *write_tmp(const char *name, const char *content)
{
	char *path = lt_strdup_printf("%s/%s", tmp_dir, name);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(content, f);
		CHECK(fclose(f) == 0);
	}
	return path;
}

/* Runs fn with stderr going to a file, and returns what it wrote there. */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
	char *path = lt_strdup_printf("%s/stderr", tmp_dir);
	fflush(stderr);
	int saved = dup(2);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	char *data = NULL;
	lt_error *err = NULL;
	if (lt_read_file(path, &data, NULL, &err) < 0) {
		lt_error_free(&err);
		data = lt_xstrdup("");
	}
	unlink(path);
	free(path);
	return data;
}

/* ---------------------------------------------------------------------------------------------
 * Structure
 */

static void test_single_stage(void)
{
	const char *text = "# a comment before anything\n"
			   "Bootstrap: docker\n"
			   "From: alpine:3.19 # the base\n"
			   "\n"
			   "%post\n"
			   "    apk add curl\n"
			   "\n"
			   "%runscript\n"
			   "    exec curl \"$@\"\n"
			   "\n"
			   "\n";
	def_file *d = parse_ok(text, NULL);
	if (!d)
		return;
	CHECK_STR(d->path, "t.def");
	CHECK_STR(d->text, text);
	CHECK_INT(d->n_stages, 1);
	def_stage *s = &d->stages[0];
	CHECK(s->name == NULL);
	CHECK_STR(s->bootstrap, "docker");
	CHECK_INT(s->line, 2);
	CHECK_INT(s->n_headers, 2);
	CHECK_STR(s->headers[0].key, "bootstrap");
	CHECK_STR(s->headers[0].value, "docker");
	CHECK_INT(s->headers[0].line, 2);
	CHECK_STR(s->headers[1].key, "from");
	CHECK_STR(s->headers[1].value, "alpine:3.19");
	CHECK_INT(s->headers[1].line, 3);
	CHECK_STR(build_def_stage_header(s, "from"), "alpine:3.19");
	CHECK(build_def_stage_header(s, "stage") == NULL);
	CHECK_INT(s->n_sections, 2);
	CHECK_INT(s->sections[0].kind, DEF_POST);
	CHECK_STR(s->sections[0].args, "");
	CHECK(s->sections[0].app == NULL);
	CHECK_STR(s->sections[0].body, "    apk add curl\n");
	CHECK_INT(s->sections[0].line, 5);
	CHECK_INT(s->sections[1].kind, DEF_RUNSCRIPT);
	CHECK_STR(s->sections[1].body, "    exec curl \"$@\"\n");
	CHECK_INT(s->sections[1].line, 8);
	build_def_file_free(d);
}

static void test_multi_stage(void)
{
	const char *text = "Bootstrap: docker\n"
			   "From: golang:1.22\n"
			   "Stage: build\n"
			   "\n"
			   "%post\n"
			   "    go build -o /hello ./hello.go\n"
			   "\n"
			   "bootstrap: localimage\n"
			   "From: base.sif\n"
			   "Stage: middle\n"
			   "%files from build\n"
			   "    /hello /usr/bin/hello\n"
			   "BOOTSTRAP: scratch\n"
			   "%files from build\n"
			   "    /hello\n"
			   "%files   from   middle   # a comment\n"
			   "    /usr/bin/hello /hello2\n"
			   "%files\n"
			   "    local.txt\n";
	def_file *d = parse_ok(text, NULL);
	if (!d)
		return;
	CHECK_INT(d->n_stages, 3);
	CHECK_STR(d->stages[0].name, "build");
	CHECK_STR(d->stages[0].bootstrap, "docker");
	CHECK_INT(d->stages[0].line, 1);
	CHECK_INT(d->stages[0].n_sections, 1);
	CHECK_STR(d->stages[0].sections[0].body, "    go build -o /hello ./hello.go\n");
	CHECK_STR(d->stages[1].name, "middle");
	CHECK_STR(d->stages[1].bootstrap, "localimage");
	CHECK_INT(d->stages[1].line, 8);
	CHECK_INT(d->stages[1].n_sections, 1);
	CHECK_STR(d->stages[1].sections[0].args, "from build");
	CHECK(d->stages[2].name == NULL);
	CHECK_STR(d->stages[2].bootstrap, "scratch");
	CHECK_INT(d->stages[2].line, 13);
	CHECK_INT(d->stages[2].n_headers, 1);
	CHECK_INT(d->stages[2].n_sections, 3);
	CHECK_STR(d->stages[2].sections[0].args, "from build");
	CHECK_STR(d->stages[2].sections[1].args, "from middle");
	CHECK_STR(d->stages[2].sections[2].args, "");
	CHECK_INT(d->stages[2].sections[2].line, 18);
	CHECK_STR(d->text, text);
	build_def_file_free(d);
}

/* "Bootstrap : x" or an indented Bootstrap does not split stages, but still starts the file. */
static void test_leading_bootstrap_forms(void)
{
	def_file *d = parse_ok("\n  # comment\n  Bootstrap : Docker\nFrom: alpine\n", NULL);
	if (d) {
		CHECK_INT(d->n_stages, 1);
		CHECK_STR(d->stages[0].bootstrap, "docker");
		CHECK_STR(d->stages[0].headers[0].value, "Docker");
		CHECK_INT(d->stages[0].line, 3);
		CHECK_INT(d->stages[0].n_sections, 0);
		build_def_file_free(d);
	}
}

static void test_headers(void)
{
	const char *text = "BootStrap: debootstrap\n"
			   "OSVersion: bookworm\n"
			   "MirrorURL: http://deb.debian.org/debian # a comment: here\n"
			   "# a whole comment line\n"
			   "Include: curl \\\n"
			   "   wget \\\n"
			   "   git\n"
			   "SetOpt: a\\n\\\n"
			   "  b\n"
			   "OTHERURL12: http://x\n"
			   "Registry:\n"
			   "Fingerprints: aa, bb \\\n"
			   "\n"
			   "IncludeCmd: yes\n"
			   "Library: https://lib\n"
			   "Stage: final\n"
			   "stage: really-final\n"
			   "%help\n"
			   "  Some help\n";
	def_file *d = parse_ok(text, NULL);
	if (!d)
		return;
	def_stage *s = &d->stages[0];
	CHECK_STR(s->bootstrap, "debootstrap");
	CHECK_INT(s->n_headers, 12);
	CHECK_STR(s->headers[1].key, "osversion");
	CHECK_STR(build_def_stage_header(s, "mirrorurl"), "http://deb.debian.org/debian");
	CHECK_STR(build_def_stage_header(s, "include"), "curl wget git");
	CHECK_INT(s->headers[3].line, 5);
	CHECK_STR(build_def_stage_header(s, "setopt"), "a\nb");
	CHECK_STR(build_def_stage_header(s, "otherurl12"), "http://x");
	CHECK_STR(build_def_stage_header(s, "registry"), "");
	/* a blank line ends a continued value */
	CHECK_STR(build_def_stage_header(s, "fingerprints"), "aa, bb ");
	CHECK_STR(build_def_stage_header(s, "includecmd"), "yes");
	CHECK_STR(build_def_stage_header(s, "library"), "https://lib");
	/* the last one wins */
	CHECK_STR(build_def_stage_header(s, "stage"), "really-final");
	CHECK_STR(s->name, "really-final");
	CHECK(build_def_stage_header(s, "Stage") == NULL);
	CHECK_INT(s->n_sections, 1);
	CHECK_INT(s->sections[0].kind, DEF_HELP);
	build_def_file_free(d);

	/* every keyword Apptainer knows, and a value continued up to the first section */
	d = parse_ok("Bootstrap: buildkit\nfrom: .\nupdateurl: u\nnamespace: n\nproduct: p\n"
		     "user: u\nregcode: r\nproductpgp: p\nregisterurl: r\nmodules: m\n"
		     "otherurl0: o\nconfurl: c\ntarget: t\nfrontend: f\nfilename: F\n"
		     "buildargs: a=1 b=2 \\\n%post\n",
		     NULL);
	if (d) {
		CHECK_INT(d->stages[0].n_headers, 16);
		CHECK_STR(build_def_stage_header(&d->stages[0], "buildargs"), "a=1 b=2 ");
		build_def_file_free(d);
	}
}

static void test_all_sections(void)
{
	const char *text = "Bootstrap: scratch\n"
			   "%arguments\n"
			   "  X=1\n"
			   "%setup\n"
			   "  touch ${APPTAINER_ROOTFS}/x\n"
			   "%FILES\n"
			   "  a b\n"
			   "%environment\n"
			   "  export A={{ X }}\n"
			   "%pre\n"
			   "  true\n"
			   "%Post -c /bin/bash\n"
			   "  echo post\n"
			   "%runscript -x\n"
			   "  echo run\n"
			   "%startscript\n"
			   "  echo start\n"
			   "%test\n"
			   "  echo test\n"
			   "%labels\n"
			   "  A b\n"
			   "%help\n"
			   "  help text\n"
			   "%appinstall foo\n"
			   "  make foo\n"
			   "%appfiles foo\n"
			   "  foo.txt\n"
			   "%appenv foo\n"
			   "  FOO=1\n"
			   "%apptest foo\n"
			   "  foo --test\n"
			   "%apphelp foo\n"
			   "  foo help\n"
			   "%apprun foo -x # run it\n"
			   "  foo \"$@\"\n"
			   "%appstart bar\n"
			   "  bar\n"
			   "  %%applabels   bar\n"
			   "  BAR 2\n";
	def_file *d = parse_ok(text, NULL);
	if (!d)
		return;
	static const enum def_section_kind kinds[] = {
	    DEF_ARGUMENTS, DEF_SETUP,	   DEF_FILES,	    DEF_ENVIRONMENT, DEF_PRE,
	    DEF_POST,	   DEF_RUNSCRIPT,  DEF_STARTSCRIPT, DEF_TEST,	     DEF_LABELS,
	    DEF_HELP,	   DEF_APPINSTALL, DEF_APPFILES,    DEF_APPENV,	     DEF_APPTEST,
	    DEF_APPHELP,   DEF_APPRUN,	   DEF_APPSTART,    DEF_APPLABELS,
	};
	def_stage *s = &d->stages[0];
	CHECK_INT(s->n_sections, LT_ARRAY_SIZE(kinds));
	for (size_t i = 0; i < s->n_sections && i < LT_ARRAY_SIZE(kinds); i++) {
		CHECK_INT(s->sections[i].kind, kinds[i]);
		CHECK_INT(s->sections[i].line, 2 + 2 * i);
		CHECK_INT(s->sections[i].app != NULL, kinds[i] >= DEF_APPINSTALL);
	}
	CHECK_STR(s->sections[4].body, "  true\n");
	CHECK_STR(s->sections[3].body, "  export A=1\n");
	CHECK_STR(s->sections[5].args, "-c /bin/bash");
	CHECK_STR(s->sections[6].args, "-x");
	CHECK_STR(s->sections[11].app, "foo");
	CHECK_STR(s->sections[11].args, "");
	CHECK_STR(s->sections[11].body, "  make foo\n");
	CHECK_STR(s->sections[16].app, "foo");
	CHECK_STR(s->sections[16].args, "-x # run it");
	CHECK_STR(s->sections[17].app, "bar");
	CHECK_STR(s->sections[18].app, "bar");
	CHECK_STR(s->sections[18].body, "  BAR 2\n");
	build_def_file_free(d);
}

static void test_bodies(void)
{
	/* leading blank lines stay, trailing ones go, CRLF line ends are undone in bodies but
	 * kept in the text */
	const char *text = "Bootstrap: scratch\r\n"
			   "%post\r\n"
			   "\r\n"
			   "  echo a\r\n"
			   "  # a comment stays\r\n"
			   "   \r\n"
			   "%test\n"
			   "%help\n"
			   "  last line without newline";
	def_file *d = parse_ok(text, NULL);
	if (!d)
		return;
	def_stage *s = &d->stages[0];
	CHECK_STR(s->bootstrap, "scratch");
	CHECK_INT(s->n_sections, 3);
	CHECK_STR(s->sections[0].body, "\n  echo a\n  # a comment stays\n");
	CHECK_STR(s->sections[1].body, "");
	CHECK_STR(s->sections[2].body, "  last line without newline\n");
	CHECK_STR(d->text, text);
	build_def_file_free(d);
}

static void test_parse_file(void)
{
	char *path = write_tmp("ok.def", "Bootstrap: docker\nFrom: alpine\n");
	def_file *d = NULL;
	lt_error *err = NULL;
	CHECK_INT(build_def_parse_file(path, NULL, &d, &err), 0);
	if (d) {
		CHECK_STR(d->path, path);
		CHECK_STR(d->text, "Bootstrap: docker\nFrom: alpine\n");
		build_def_file_free(d);
	}
	lt_error_free(&err);
	char *missing = lt_strdup_printf("%s/missing.def", tmp_dir);
	CHECK_INT(build_def_parse_file(missing, NULL, &d, &err), -1);
	CHECK_ERR(err, "missing.def");
	CHECK(err && err->errnum == ENOENT);
	lt_error_free(&err);
	free(missing);
	free(path);
}

/* ---------------------------------------------------------------------------------------------
 * Templating
 */

static void test_template_defaults(void)
{
	const char *text = "Bootstrap: docker\n"
			   "From: {{ image }}:{{tag}}\n"
			   "%arguments\n"
			   "  image = alpine\n"
			   "  tag=3.19\n"
			   "  # ignored=1\n"
			   "  full={{ image }}-{{ tag }}\n"
			   "  deep={{full}}!\n"
			   "%post\n"
			   "  echo {{ deep }} {{ image}}{{ image }}\n"
			   "  echo {{ not a placeholder }} {{}} {{ -x }} {x}\n"
			   "  # {{ undefined_in_comment }}\n"
			   "  echo hi # {{ undefined_after_hash }}\n"
			   "#!/bin/{{ image }}\n";
	def_file *d = parse_ok(text, NULL);
	if (!d)
		return;
	def_stage *s = &d->stages[0];
	CHECK_STR(build_def_stage_header(s, "from"), "alpine:3.19");
	CHECK_STR(s->sections[0].body, "  image = alpine\n  tag=3.19\n  # ignored=1\n"
				       "  full=alpine-3.19\n  deep=alpine-3.19!\n");
	CHECK_STR(s->sections[1].body, "  echo alpine-3.19! alpinealpine\n"
				       "  echo {{ not a placeholder }} {{}} {{ -x }} {x}\n"
				       "  # {{ undefined_in_comment }}\n"
				       "  echo hi # {{ undefined_after_hash }}\n"
				       "#!/bin/alpine\n");
	CHECK_STR(d->text, "Bootstrap: docker\n"
			   "From: alpine:3.19\n"
			   "%arguments\n"
			   "  image = alpine\n"
			   "  tag=3.19\n"
			   "  # ignored=1\n"
			   "  full=alpine-3.19\n"
			   "  deep=alpine-3.19!\n"
			   "%post\n"
			   "  echo alpine-3.19! alpinealpine\n"
			   "  echo {{ not a placeholder }} {{}} {{ -x }} {x}\n"
			   "  # {{ undefined_in_comment }}\n"
			   "  echo hi # {{ undefined_after_hash }}\n"
			   "#!/bin/alpine\n");
	build_def_file_free(d);
}

static void test_template_precedence(void)
{
	char *file = write_tmp("args", "# build args\n"
				       "\n"
				       "  tag = from-file\n"
				       "image=file-image\n"
				       "not a pair\n"
				       "extra=only in file");
	const char *values[] = {"image=cli-image", "image=cli-image-2", "extra2 = x"};
	def_args args = {.values = values, .n_values = 3, .file = file};
	const char *text = "Bootstrap: docker\n"
			   "From: {{ image }}:{{ tag }}\n"
			   "%arguments\n"
			   "  tag=default\n"
			   "  image=default\n"
			   "  other=o-{{ tag }}\n"
			   "%post\n"
			   "  echo {{ other }} {{ extra }} {{ extra2 }}\n";
	lt_log_set_level(LT_LOG_ERROR);
	def_file *d = parse_ok(text, &args);
	lt_log_set_level(LT_LOG_INFO);
	if (d) {
		CHECK_STR(build_def_stage_header(&d->stages[0], "from"), "cli-image-2:from-file");
		CHECK_STR(d->stages[0].sections[1].body, "  echo o-from-file only in file x\n");
		build_def_file_free(d);
	}
	free(file);
}

/* Each stage has its own %arguments; a build arg used by any stage counts as used. */
static void test_template_per_stage(void)
{
	const char *values[] = {"v=cli"};
	def_args args = {.values = values, .n_values = 1};
	const char *text = "Bootstrap: docker\n"
			   "From: alpine\n"
			   "Stage: one\n"
			   "%arguments\n"
			   "  a=first\n"
			   "%post\n"
			   "  echo {{ a }}\n"
			   "Bootstrap: docker\n"
			   "From: alpine\n"
			   "%arguments\n"
			   "  a=second\n"
			   "%post\n"
			   "  echo {{ a }} {{ v }}\n";
	def_file *d = parse_ok(text, &args);
	if (d) {
		CHECK_STR(d->stages[0].sections[1].body, "  echo first\n");
		CHECK_STR(d->stages[1].sections[1].body, "  echo second cli\n");
		build_def_file_free(d);
	}
	parse_fails("Bootstrap: docker\nFrom: alpine\n%arguments\n  a=1\n"
		    "Bootstrap: docker\nFrom: alpine\n%post\n  echo {{ a }}\n",
		    NULL,
		    "t.def:8: build variable 'a' is not defined through --build-arg, "
		    "--build-arg-file or %arguments");
}

static void parse_with_unused_warning(void *arg)
{
	def_file *d = parse_ok("Bootstrap: docker\nFrom: alpine\n# {{ used_in_comment }}\n", arg);
	build_def_file_free(d);
}

static void test_unused_build_args(void)
{
	const char *values[] = {"used=1", "unused=2", "used_in_comment=3"};
	def_args args = {.values = values, .n_values = 3};
	parse_fails("Bootstrap: docker\nFrom: {{ used }}\n", &args,
		    "t.def: unused build args: unused used_in_comment (--warn-unused-build-args "
		    "makes this a warning)");
	/* only a placeholder uses a value, not a %arguments default of the same name */
	const char *values2[] = {"x=1"};
	def_args args2 = {.values = values2, .n_values = 1};
	parse_fails("Bootstrap: docker\n%arguments\n  x=0\n", &args2,
		    "t.def: unused build args: x (--warn-unused-build-args makes this a "
		    "warning)");
	/* a value used only through another value is used */
	const char *values3[] = {"inner=i"};
	def_args args3 = {.values = values3, .n_values = 1};
	def_file *d = parse_ok("Bootstrap: docker\nFrom: {{ outer }}\n%arguments\n"
			       "  outer=o{{ inner }}\n",
			       &args3);
	if (d) {
		CHECK_STR(build_def_stage_header(&d->stages[0], "from"), "oi");
		build_def_file_free(d);
	}

	const char *values4[] = {"used_in_comment=3", "z=1"};
	def_args warn = {.values = values4, .n_values = 2, .warn_unused = true};
	char *out = capture_stderr(parse_with_unused_warning, &warn);
	CHECK(strstr(out, "WARNING: t.def: unused build args: used_in_comment z\n") != NULL);
	free(out);
}

static void test_build_arg_errors(void)
{
	const char *bad[] = {"novalue"};
	def_args args = {.values = bad, .n_values = 1};
	parse_fails("Bootstrap: docker\n", &args, "--build-arg 'novalue': not KEY=VALUE");
	const char *nokey[] = {" =1"};
	args.values = nokey;
	parse_fails("Bootstrap: docker\n", &args, "--build-arg ' =1': not KEY=VALUE");
	const char *newline[] = {"a=b\nc"};
	args.values = newline;
	parse_fails("Bootstrap: docker\n", &args,
		    "--build-arg 'a=b\nc': the value holds a newline");

	char *missing = lt_strdup_printf("%s/no-such-args", tmp_dir);
	def_args file_args = {.file = missing};
	def_file *d = NULL;
	lt_error *err = NULL;
	CHECK_INT(build_def_parse("t.def", "Bootstrap: docker\n", &file_args, &d, &err), -1);
	CHECK_ERR(err, "reading the build arg file: opening ");
	CHECK_ERR(err, "no-such-args");
	lt_error_free(&err);
	free(missing);
}

static void test_template_errors(void)
{
	parse_fails("Bootstrap: docker\nFrom: alpine\n%post\n  echo {{ nope }}\n", NULL,
		    "t.def:4: build variable 'nope' is not defined through --build-arg, "
		    "--build-arg-file or %arguments");
	parse_fails("Bootstrap: docker\nFrom: {{ a }}\n%arguments\n  a=x{{ b }}\n", NULL,
		    "t.def:2: build variable 'b' (in the value of 'a') is not defined through "
		    "--build-arg, --build-arg-file or %arguments");
	parse_fails("Bootstrap: docker\nFrom: {{ a }}\n%arguments\n  a={{ b }}\n  b={{ a }}\n",
		    NULL, "t.def:2: build variable 'a' refers to itself");
	/* the %arguments lines themselves are templated too */
	parse_fails("Bootstrap: docker\nFrom: alpine\n%arguments\n  a={{ a }}\n", NULL,
		    "t.def:4: build variable 'a' refers to itself");
	/* a bad %arguments line is skipped (with a warning), as in Apptainer */
	lt_log_set_level(LT_LOG_ERROR);
	parse_fails("Bootstrap: docker\nFrom: {{ a }}\n%arguments\n  a\n", NULL,
		    "t.def:2: build variable 'a' is not defined through --build-arg, "
		    "--build-arg-file or %arguments");
	lt_log_set_level(LT_LOG_INFO);
}

/* ---------------------------------------------------------------------------------------------
 * Parse errors
 */

static void test_errors_header(void)
{
	parse_fails("", NULL, "t.def:1: empty definition file");
	parse_fails("\n# only a comment\n   \n", NULL, "t.def:1: empty definition file");
	parse_fails("From: alpine\n%post\n", NULL,
		    "t.def:1: missing Bootstrap header (a definition file starts with "
		    "'Bootstrap: AGENT')");
	parse_fails("# c\n%post\n  echo\n", NULL,
		    "t.def:2: missing Bootstrap header before %post (a definition file starts "
		    "with 'Bootstrap: AGENT')");
	parse_fails("From: alpine\nBootstrap: docker\n", NULL,
		    "t.def:1: Bootstrap must be the first header (found 'from' before it)");
	parse_fails("From: alpine\n  Bootstrap: docker\n", NULL,
		    "t.def:1: Bootstrap must be the first header (found 'from' before it)");
	parse_fails("%post\n  echo\n\nBootstrap: docker\nFrom: alpine\n", NULL,
		    "t.def:4: header after sections: the Bootstrap header must come before "
		    "%post (line 1)");
	parse_fails("Bootstrap: docker\nFrum: alpine\n", NULL,
		    "t.def:2: unknown header key 'frum'");
	parse_fails("Bootstrap: docker\nOtherURL: x\n", NULL,
		    "t.def:2: unknown header key 'otherurl'");
	parse_fails("Bootstrap: docker\nOtherURLx: x\n", NULL,
		    "t.def:2: unknown header key 'otherurlx'");
	parse_fails("Bootstrap: docker\nFrom alpine\n", NULL,
		    "t.def:2: invalid header line 'From alpine' (expected 'Key: value')");
	parse_fails("just words\n", NULL,
		    "t.def:1: invalid header line 'just words' (expected 'Key: value')");
	parse_fails("Bootstrap: dockerr\n", NULL, "t.def:1: unknown bootstrap agent 'dockerr'");
	parse_fails("Bootstrap: docker\nFrom: a\nBootstrap: Nope\n", NULL,
		    "t.def:3: unknown bootstrap agent 'Nope'");
	parse_fails("Bootstrap:   # nothing\n", NULL, "t.def:1: Bootstrap: names no agent");
	parse_fails("Bootstrap: docker\n Bootstrap: library\n", NULL,
		    "t.def:2: a second Bootstrap in one stage (a new stage's Bootstrap: starts at "
		    "the beginning of a line)");
}

static void test_errors_sections(void)
{
	parse_fails("Bootstrap: docker\n%post\n  true\n%install\n", NULL,
		    "t.def:4: unknown section '%install'");
	/* as in Apptainer, any line whose first word starts with '%' starts a section, even in
	 * a here-document */
	parse_fails("Bootstrap: docker\n%post\n  printf '%s\\n' x\n  cat <<EOF\n  %not-a-section\n"
		    "EOF\n",
		    NULL, "t.def:5: unknown section '%not-a-section'");
	parse_fails("Bootstrap: docker\n%\n", NULL, "t.def:2: unknown section '%'");
	parse_fails("Bootstrap: docker\n%appinstall\n  make\n", NULL,
		    "t.def:2: %appinstall needs an app name (%appinstall NAME)");
	parse_fails("Bootstrap: docker\n%AppRun   # no name\n", NULL,
		    "t.def:2: %apprun needs an app name (%apprun NAME)");
	parse_fails("Bootstrap: docker\n%post -c\n", NULL,
		    "t.def:2: %post -c needs a command (e.g. %post -c /bin/bash)");
	parse_fails("Bootstrap: docker\n%setup -e -c # comment\n", NULL,
		    "t.def:2: %setup -c needs a command (e.g. %setup -c /bin/bash)");
	parse_fails("Bootstrap: docker\n%files to x\n", NULL,
		    "t.def:2: %files takes 'from STAGE' or nothing, not 'to x'");
	parse_fails("Bootstrap: docker\n%files from\n", NULL,
		    "t.def:2: %files takes 'from STAGE' or nothing, not 'from'");
	parse_fails("Bootstrap: docker\n%files from a b\n", NULL,
		    "t.def:2: %files takes 'from STAGE' or nothing, not 'from a b'");
}

static void test_errors_stages(void)
{
	parse_fails("Bootstrap: docker\nStage: a\nBootstrap: docker\nStage: b\n"
		    "Bootstrap: docker\nStage: a\n",
		    NULL, "t.def:5: duplicate stage name 'a' (first at line 1)");
	parse_fails("Bootstrap: docker\nStage: a\n%files from b\n  /x\n", NULL,
		    "t.def:3: %files from unknown stage 'b'");
	parse_fails("Bootstrap: docker\nStage: a\n%files from a\n  /x\n", NULL,
		    "t.def:3: %files from stage 'a' (line 1): only an earlier stage can be "
		    "copied from");
	parse_fails("Bootstrap: docker\n%files from later\n  /x\nBootstrap: docker\n"
		    "Stage: later\n",
		    NULL,
		    "t.def:2: %files from stage 'later' (line 4): only an earlier stage can be "
		    "copied from");
}

/* ---------------------------------------------------------------------------------------------
 * Sections
 */

static def_section section(enum def_section_kind kind, const char *args, const char *body,
			   size_t line)
{
	return (def_section){
	    .kind = kind, .args = (char *)args, .body = (char *)body, .line = line};
}

static void test_files_entries(void)
{
	def_file d = {.path = "t.def"};
	def_section s = section(DEF_FILES, "",
				"  # a comment\n"
				"  /etc/hosts\n"
				"\n"
				"  a.txt   /opt/a.txt\n"
				"\t\"with space.txt\" '/opt/dir with space/'\n"
				"  pre\"mid dle\"post dst # comment\n"
				"  'it''s' \"\"\n",
				10);
	def_files_entry *e = NULL;
	size_t n = 0;
	lt_error *err = NULL;
	CHECK_INT(build_def_files_entries(&d, &s, &e, &n, &err), 0);
	CHECK_INT(n, 5);
	if (n == 5) {
		CHECK_STR(e[0].src, "/etc/hosts");
		CHECK_STR(e[0].dst, "/etc/hosts");
		CHECK_INT(e[0].line, 12);
		CHECK_STR(e[1].src, "a.txt");
		CHECK_STR(e[1].dst, "/opt/a.txt");
		CHECK_INT(e[1].line, 14);
		CHECK_STR(e[2].src, "with space.txt");
		CHECK_STR(e[2].dst, "/opt/dir with space/");
		CHECK_STR(e[3].src, "premid dlepost");
		CHECK_STR(e[3].dst, "dst");
		CHECK_INT(e[3].line, 16);
		CHECK_STR(e[4].src, "its");
		CHECK_STR(e[4].dst, "its");
		CHECK_INT(e[4].line, 17);
	}
	build_def_files_entries_free(e, n);

	s = section(DEF_FILES, "", "", 3);
	CHECK_INT(build_def_files_entries(&d, &s, &e, &n, &err), 0);
	CHECK_INT(n, 0);
	build_def_files_entries_free(e, n);

	s = section(DEF_FILES, "", "  ok\n  \"unterminated dst\n", 3);
	CHECK_INT(build_def_files_entries(&d, &s, &e, &n, &err), -1);
	if (err)
		CHECK_STR(err->message,
			  "t.def:5: unterminated quote in %files line '\"unterminated dst'");
	lt_error_free(&err);
}

/* Entries from a parsed file carry the file's line numbers. */
static void test_files_entries_from_parse(void)
{
	def_file *d = parse_ok("Bootstrap: docker\n"
			       "%arguments\n"
			       "  dir=/opt\n"
			       "%files\n"
			       "  a {{ dir }}/a\n"
			       "\n"
			       "  b\n",
			       NULL);
	if (!d)
		return;
	def_files_entry *e = NULL;
	size_t n = 0;
	lt_error *err = NULL;
	CHECK_INT(build_def_files_entries(d, &d->stages[0].sections[1], &e, &n, &err), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(e[0].dst, "/opt/a");
		CHECK_INT(e[0].line, 5);
		CHECK_INT(e[1].line, 7);
	}
	build_def_files_entries_free(e, n);
	build_def_file_free(d);
}

static void test_labels(void)
{
	def_section s = section(DEF_LABELS, "",
				"  # comment\n"
				"  Maintainer   Jane Doe  \n"
				"\n"
				"  Version\t1.0\n"
				"  KeyOnly\n"
				"  zzz first\n"
				"  aaa second\n"
				"  Version 2.0\n"
				"  bad \xff\n",
				1);
	json_t *labels = build_def_labels(&s);
	CHECK(labels != NULL);
	if (!labels)
		return;
	char *dump = json_dumps(labels, 0);
	CHECK_STR(dump, "{\"Maintainer\": \"Jane Doe\", \"Version\": \"2.0\", \"KeyOnly\": \"\", "
			"\"zzz\": \"first\", \"aaa\": \"second\", \"bad\": \"\xef\xbf\xbd\"}");
	free(dump);
	json_decref(labels);

	s = section(DEF_APPLABELS, "", "", 1);
	labels = build_def_labels(&s);
	CHECK(labels && json_object_size(labels) == 0);
	json_decref(labels);
}

static void test_script_file(void)
{
	def_section s = section(DEF_RUNSCRIPT, "", "    echo hi\n", 1);
	char *f = build_def_script_file(&s);
	CHECK_STR(f, "#!/bin/sh\n\n    echo hi\n\n");
	free(f);

	s = section(DEF_RUNSCRIPT, "-x # trace", "\n  #!/bin/bash -e  \n  echo $BASH\n", 1);
	f = build_def_script_file(&s);
	CHECK_STR(f, "#!/bin/bash -e -x\n\n  echo $BASH\n\n");
	free(f);

	s = section(DEF_STARTSCRIPT, "-e", "  exec daemon\n", 1);
	f = build_def_script_file(&s);
	CHECK_STR(f, "#!/bin/sh -e\n\n  exec daemon\n\n");
	free(f);

	s = section(DEF_TEST, "# only a comment", "#!/usr/bin/env python3\n", 1);
	f = build_def_script_file(&s);
	CHECK_STR(f, "#!/usr/bin/env python3\n\n\n");
	free(f);

	s = section(DEF_APPRUN, "", "", 1);
	f = build_def_script_file(&s);
	CHECK_STR(f, "#!/bin/sh\n\n\n");
	free(f);

	/* a "#!" that is not on the first line with text is part of the body */
	s = section(DEF_APPTEST, "", "  echo\n#!/bin/bash\n", 1);
	f = build_def_script_file(&s);
	CHECK_STR(f, "#!/bin/sh\n\n  echo\n#!/bin/bash\n\n");
	free(f);
}

static void check_argv(char **argv, const char *const *want)
{
	size_t i = 0;
	for (; want[i]; i++) {
		CHECK(argv[i] != NULL);
		if (!argv[i])
			break;
		CHECK_STR(argv[i], want[i]);
	}
	CHECK(argv[i] == NULL);
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

static void test_script_argv(void)
{
	def_section s = section(DEF_POST, "", "#!/bin/bash\necho\n", 1);
	check_argv(build_def_script_argv(&s, "/.post.script"),
		   (const char *const[]){"/bin/sh", "-ex", "/.post.script", NULL});

	s = section(DEF_SETUP, "-u  -v # trace", "", 1);
	check_argv(build_def_script_argv(&s, "/tmp/setup"),
		   (const char *const[]){"/bin/sh", "-ex", "-u", "-v", "/tmp/setup", NULL});

	s = section(DEF_POST, "-c /bin/bash", "", 1);
	check_argv(build_def_script_argv(&s, "/.post.script"),
		   (const char *const[]){"/bin/sh", "-ex", "-c", "/bin/bash /.post.script", NULL});

	s = section(DEF_POST, "-e -c  /bin/bash   -l  # login", "", 1);
	check_argv(build_def_script_argv(&s, "/s"),
		   (const char *const[]){"/bin/sh", "-ex", "-e", "-c", "/bin/bash -l /s", NULL});

	/* the parser refuses a bare -c; the argv still runs the script */
	s = section(DEF_PRE, "-c", "", 1);
	check_argv(build_def_script_argv(&s, "/s"),
		   (const char *const[]){"/bin/sh", "-ex", "-c", "/s", NULL});
}

int main(void)
{
	if (mkdtemp(tmp_dir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	RUN(test_single_stage);
	RUN(test_multi_stage);
	RUN(test_leading_bootstrap_forms);
	RUN(test_headers);
	RUN(test_all_sections);
	RUN(test_bodies);
	RUN(test_parse_file);
	RUN(test_template_defaults);
	RUN(test_template_precedence);
	RUN(test_template_per_stage);
	RUN(test_unused_build_args);
	RUN(test_build_arg_errors);
	RUN(test_template_errors);
	RUN(test_errors_header);
	RUN(test_errors_sections);
	RUN(test_errors_stages);
	RUN(test_files_entries);
	RUN(test_files_entries_from_parse);
	RUN(test_labels);
	RUN(test_script_file);
	RUN(test_script_argv);
	rmdir(tmp_dir);
	return tap_done();
}
