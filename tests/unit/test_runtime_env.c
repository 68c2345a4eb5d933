/* The container environment and the action dispatch (src/runtime/env.c, action.c).
 *
 * The first tests call the pure helpers. The others build image roots in a temporary
 * directory -- the /.singularity.d files exactly as litho's build writes them (meta), busybox
 * as the tools and, depending on the test, busybox, dash or bash as /bin/sh, or no shell --
 * then fork, chroot into the root, call rt_exec_prepare and execve its result, and check what
 * the payload printed. Those need root (chroot; dash and bash also a private mount namespace
 * for their libraries) and are reported as skipped otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "action_script.h"
#include "meta.h"
#include "tap.h"

static char *tmp_base;

/* ---------------------------------------------------------------------------------------------
 * Helpers
 */
static void ctx_init(rt_ctx *c, rt_options *o, enum rt_action a, char **args, size_t n, char **host)
{
	memset(c, 0, sizeof(*c));
	memset(o, 0, sizeof(*o));
	o->action = a;
	o->args = args;
	o->n_args = n;
	o->image = "/images/test.sif";
	c->o = o;
	c->host_env = host;
	c->image_path = (char *)"/images/test.sif";
	c->image_name = (char *)"test.sif";
	c->home_dst = (char *)"/home/user";
	c->bind_list = (char *)"/data";
}

/* The value of KEY in `env` output (one line), NULL when absent. Static buffer. */
static const char *env_line(const char *out, const char *key)
{
	static char buf[4096];
	size_t kl = strlen(key);
	for (const char *p = out; p != NULL && *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
			snprintf(buf, sizeof(buf), "%.*s", (int)(len - kl - 1), p + kl + 1);
			return buf;
		}
		p = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static void write_file(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0) {
		printf("# cannot create %s: %s\n", path, strerror(errno));
		return;
	}
	if (write(fd, data, strlen(data)) < 0)
		printf("# write %s: %s\n", path, strerror(errno));
	fchmod(fd, mode);
	close(fd);
}

static int copy_file(const char *src, const char *dst)
{
	char *data = NULL;
	size_t len = 0;
	lt_error *err = NULL;
	if (lt_read_file(src, &data, &len, &err) < 0) {
		lt_error_free(&err);
		return -1;
	}
	int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	int rc = fd >= 0 && write(fd, data, len) == (ssize_t)len ? 0 : -1;
	if (fd >= 0)
		close(fd);
	free(data);
	return rc;
}

static char *path_in(const char *root, const char *rel)
{
	return lt_strdup_printf("%s/%s", root, rel);
}

static void put(const char *root, const char *rel, const char *data, mode_t mode)
{
	char *p = path_in(root, rel);
	char *dir = lt_path_dirname(p);
	tap_mkdir_p(dir);
	write_file(p, data, mode);
	free(dir);
	free(p);
}

enum shell_kind { SH_NONE, SH_BUSYBOX, SH_DASH, SH_BASH };

static const char *shell_name(enum shell_kind k)
{
	return k == SH_DASH ? "dash" : k == SH_BASH ? "bash" : k == SH_BUSYBOX ? "busybox" : "none";
}

/* An image root: busybox tools, the shell of `sh`, and the /.singularity.d tree litho's
 * build writes for an OCI image with this config (NULL: no /.singularity.d at all). */
static char *make_root(const char *name, const char *config, enum shell_kind sh)
{
	char *root = lt_strdup_printf("%s/%s-%s", tmp_base, name, shell_name(sh));
	char *bin = path_in(root, "bin");
	tap_mkdir_p(bin);
	char *bb = path_in(root, "bin/busybox");
	if (copy_file("/bin/busybox", bb) < 0)
		printf("# cannot copy /bin/busybox\n");
	static const char *const tools[] = {"env", "echo", "cat", "true", "printf", "ls"};
	for (size_t i = 0; i < LT_ARRAY_SIZE(tools); i++) {
		char *l = lt_strdup_printf("%s/%s", bin, tools[i]);
		symlink("busybox", l);
		free(l);
	}
	char *shp = path_in(root, "bin/sh");
	if (sh == SH_BUSYBOX)
		symlink("busybox", shp);
	else if (sh == SH_DASH)
		copy_file("/bin/dash", shp);
	else if (sh == SH_BASH)
		copy_file("/bin/bash", shp);
	free(shp);
	free(bb);
	free(bin);
	if (config != NULL) {
		lt_error *err = NULL;
		json_t *cfg = lt_json_parse(config, strlen(config), "config", &err);
		meta_source src = {.bootstrap = "docker",
				   .from = "test:latest",
				   .config = cfg,
				   .arch = "amd64",
				   .build_time = 1627931376};
		meta_image m;
		if (cfg == NULL || meta_for_image(&src, &m, &err) < 0) {
			printf("# meta: %s\n", err ? err->message : "?");
			lt_error_free(&err);
		} else {
			for (size_t i = 0; i < m.n_entries; i++) {
				meta_entry *e = &m.entries[i];
				char *p = path_in(root, e->path);
				if (e->kind == META_DIR)
					tap_mkdir_p(p);
				else if (e->kind == META_FILE)
					write_file(p, e->data, e->mode);
				else
					symlink(e->target, p);
				free(p);
			}
			meta_image_free(&m);
		}
		json_decref(cfg);
	}
	return root;
}

typedef struct result {
	int status; /* exit status, 128+signal, or -1 */
	char *out;
	char *err;
} result;

static void result_free(result *r)
{
	free(r->out);
	free(r->err);
}

/* Binds the host's library directories into root (for dash and bash), in the caller's own
 * mount namespace. */
static int bind_libs(const char *root)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	static const char *const dirs[] = {"/usr/lib", "/usr/lib64", "/usr/lib32",
					   "/lib",     "/lib64",     "/lib32"};
	for (size_t i = 0; i < LT_ARRAY_SIZE(dirs); i++) {
		struct stat st;
		if (lstat(dirs[i], &st) < 0)
			continue;
		char *dst = lt_strdup_printf("%s%s", root, dirs[i]);
		if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlink(dirs[i], target, sizeof(target) - 1);
			if (n > 0) {
				target[n] = '\0';
				char *parent = lt_path_dirname(dst);
				tap_mkdir_p(parent);
				free(parent);
				symlink(target, dst);
			}
		} else if (S_ISDIR(st.st_mode)) {
			tap_mkdir_p(dst);
			if (mount(dirs[i], dst, NULL, MS_BIND | MS_REC, NULL) < 0) {
				free(dst);
				return -1;
			}
		}
		free(dst);
	}
	return 0;
}

static char *read_all(const char *path)
{
	char *data = NULL;
	size_t len = 0;
	lt_error *err = NULL;
	if (lt_read_file(path, &data, &len, &err) < 0) {
		lt_error_free(&err);
		return lt_xstrdup("");
	}
	return data;
}

/* fork, chroot root, rt_exec_prepare, execve; the child's stdout and stderr come back. */
static result run_in(const char *root, rt_ctx *c, bool libs)
{
	result r = {.status = -1};
	char *outp = lt_strdup_printf("%s/out.txt", tmp_base);
	char *errp = lt_strdup_printf("%s/err.txt", tmp_base);
	int ofd = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int efd = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(ofd, 1);
		dup2(efd, 2);
		if (libs && bind_libs(root) < 0) {
			fprintf(stderr, "BIND: %s\n", strerror(errno));
			_exit(96);
		}
		if (chroot(root) < 0 || chdir("/") < 0) {
			fprintf(stderr, "CHROOT: %s\n", strerror(errno));
			_exit(99);
		}
		char *path = NULL, **argv = NULL, **envp = NULL;
		lt_error *err = NULL;
		if (rt_exec_prepare(c, &path, &argv, &envp, &err) < 0) {
			fprintf(stderr, "PREPARE: %s\n", err->message);
			_exit(98);
		}
		if (path == NULL) {
			printf("(nothing to run)\n");
			fflush(stdout);
			_exit(0);
		}
		execve(path, argv, envp);
		fprintf(stderr, "EXEC %s: %s\n", path, strerror(errno));
		_exit(97);
	}
	close(ofd);
	close(efd);
	int st = 0;
	if (pid > 0 && waitpid(pid, &st, 0) == pid)
		r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r.out = read_all(outp);
	r.err = read_all(errp);
	unlink(outp);
	unlink(errp);
	free(outp);
	free(errp);
	return r;
}

static void show(const result *r)
{
	printf("# status %d\n# stdout:\n", r->status);
	for (const char *p = r->out; *p;) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);
		printf("#   %.*s\n", len, p);
		p = nl ? nl + 1 : p + len;
	}
	printf("# stderr:\n");
	for (const char *p = r->err; *p;) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);
		printf("#   %.*s\n", len, p);
		p = nl ? nl + 1 : p + len;
	}
}

#define CHECK_ENV(out, key, want) CHECK_STR(env_line(out, key), want)
#define CHECK_NOENV(out, key)                                                                      \
	do {                                                                                       \
		if (env_line(out, key) != NULL) {                                                  \
			printf("# %s:%d: %s is set: %s\n", __FILE__, __LINE__, key,                \
			       env_line(out, key));                                                \
			tap_current_failed = true;                                                 \
		}                                                                                  \
	} while (0)

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
	rt_strv_free(v);
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
	rt_strv_free(w);
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
		rt_strv_free(argv);
	}
	/* args replace CMD; evaluated once unless no_eval */
	char *args[] = {"a b", "$HOME", "x\"y\""};
	CHECK_INT(rt_oci_runscript_argv(e, c, args, 2, false, &env, &argv, &argc, &err), 0);
	CHECK_INT(argc, 4);
	if (argc == 4) {
		CHECK_STR(argv[2], "a b");
		CHECK_STR(argv[3], "/home/u");
	}
	rt_strv_free(argv);
	CHECK_INT(rt_oci_runscript_argv(e, c, args, 3, true, &env, &argv, &argc, &err), 0);
	CHECK_INT(argc, 5);
	if (argc == 5) {
		CHECK_STR(argv[3], "$HOME");
		CHECK_STR(argv[4], "x\"y\"");
	}
	rt_strv_free(argv);
	/* an argument with a double quote changes the words, as with eval */
	CHECK_INT(rt_oci_runscript_argv(e, c, args + 2, 1, false, &env, &argv, &argc, &err), 0);
	CHECK_INT(argc, 3);
	if (argc == 3)
		CHECK_STR(argv[2], "xy");
	rt_strv_free(argv);
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
		rt_strv_free(argv);
		CHECK_INT(rt_oci_runscript_argv(e, c, NULL, 0, no_eval, &env, &argv, &argc, &err),
			  0);
		CHECK(argc == 1 && strcmp(argv[0], "sh") == 0);
		rt_strv_free(argv);
	}
	free(e);
	free(c);
	free(rs);
	rs = meta_oci_runscript(sh, NULL);
	CHECK_INT(rt_oci_runscript_parse(rs, &e, &c, &err), 0);
	CHECK_INT(rt_oci_runscript_argv(e, c, one, 1, true, &env, &argv, &argc, &err), 0);
	CHECK(argc == 2 && strcmp(argv[0], "sh") == 0 && strcmp(argv[1], "ls") == 0);
	rt_strv_free(argv);
	free(e);
	free(c);
	free(rs);
	/* neither: nothing to run */
	rs = meta_oci_runscript(NULL, NULL);
	CHECK_INT(rt_oci_runscript_parse(rs, &e, &c, &err), 0);
	CHECK_INT(rt_oci_runscript_argv(e, c, NULL, 0, false, &env, &argv, &argc, &err), 0);
	CHECK_INT(argc, 0);
	rt_strv_free(argv);
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
	if (tap_current_failed)
		show(&r);
	result_free(&r);
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
		if (tap_current_failed)
			show(&r);
		result_free(&r);
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
		if (tap_current_failed)
			show(&r);
		result_free(&r);

		char *cli[] = {"PATH=/only:/bin"};
		ctx_init(&c, &o, RT_EXEC, args, 1, host);
		o.env = cli;
		o.n_env = 1;
		r = run_in(root, &c, false);
		CHECK_INT(r.status, 0);
		CHECK_ENV(r.out, "PATH", "/only:/bin");
		CHECK_NOENV(r.out, "SING_USER_DEFINED_PATH");
		if (tap_current_failed)
			show(&r);
		result_free(&r);
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
		if (tap_current_failed)
			show(&r);
		result_free(&r);
		o.no_eval = true;
		r = run_in(root, &c, false);
		CHECK_INT(r.status, 0);
		CHECK_ENV(r.out, "E1", "$HOME/x");
		CHECK_ENV(r.out, "Q", "a\"b");
		CHECK_ENV(r.out, "S", "it's");
		CHECK_ENV(r.out, "B", "back\\slash");
		CHECK_ENV(r.out, "APPTAINER_NO_EVAL", "1");
		CHECK_ENV(r.out, "SINGULARITY_NO_EVAL", "1");
		if (tap_current_failed)
			show(&r);
		result_free(&r);
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
		if (tap_current_failed)
			show(&r);
		result_free(&r);

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
		if (tap_current_failed)
			show(&r);
		result_free(&r);
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
		if (tap_current_failed)
			show(&r);
		result_free(&r);
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
		if (tap_current_failed)
			show(&r);
		result_free(&r);
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
		if (tap_current_failed)
			show(&r);
		result_free(&r);
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
		if (tap_current_failed)
			show(&r);
		result_free(&r);
		free(root);
	}
}

static bool probe_chroot(void)
{
	if (geteuid() != 0)
		return false;
	char *root = lt_strdup_printf("%s/probe", tmp_base);
	tap_mkdir_p(root);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(chroot(root) == 0 ? 0 : 1);
	int st = 0;
	waitpid(pid, &st, 0);
	free(root);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static bool probe_libs(void)
{
	char *root = lt_strdup_printf("%s/probe-libs", tmp_base);
	tap_mkdir_p(root);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(bind_libs(root) == 0 ? 0 : 1);
	int st = 0;
	waitpid(pid, &st, 0);
	free(root);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void cleanup(void)
{
	if (tmp_base == NULL)
		return;
	if (getenv("LITHO_TEST_KEEP") != NULL) {
		printf("# kept %s\n", tmp_base);
		return;
	}
	char *cmd = lt_strdup_printf("rm -rf '%s'", tmp_base);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmp_base);
	free(cmd);
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
