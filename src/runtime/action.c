/* The last step inside the container: what to execve for exec, run, shell and test.
 *
 * Apptainer runs an embedded action script through its own Go shell interpreter
 * (internal/pkg/runtime/engine/apptainer/process_linux.go runActionScript, the script in
 * internal/pkg/util/fs/files/action_script.sh). litho hands the equivalent POSIX script
 * (action_script.h) to the image's own /bin/sh, which then execs the payload. Images without
 * /bin/sh get the same steps in C: the environment phase through rt_env_emulate, then the
 * dispatch below, including OCI runscripts (which Apptainer interprets itself, so such images
 * run without a shell) and the PATH lookup of exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "action_script.h"

static const char *action_name(enum rt_action a)
{
	switch (a) {
	case RT_EXEC:
		return "exec";
	case RT_RUN:
		return "run";
	case RT_SHELL:
		return "shell";
	case RT_TEST:
		return "test";
	}
	return "exec";
}

static bool is_exec_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* -x as test(1) has it: anything executable (a directory too). */
static bool test_x(const char *path)
{
	return access(path, X_OK) == 0;
}

/* --app NAME must name a directory under /scif/apps. */
static int check_app(const char *app, lt_error **err)
{
	if (app[0] == '\0' || strchr(app, '/') != NULL || strcmp(app, ".") == 0 ||
	    strcmp(app, "..") == 0)
		return lt_error_set(err, 0, "--app '%s': not a valid app name", app);
	char *dir = lt_strdup_printf("/scif/apps/%s", app);
	struct stat st;
	bool ok = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
	free(dir);
	if (ok)
		return 0;
	DIR *d = opendir("/scif/apps");
	lt_strv names = {0};
	struct dirent *de;
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char *p = lt_strdup_printf("/scif/apps/%s/scif", de->d_name);
		bool is_app = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
		free(p);
		if (!is_app)
			continue;
		lt_strv_add(&names, de->d_name);
	}
	if (d != NULL)
		closedir(d);
	if (names.n == 0)
		return lt_error_set(err, 0, "no app named '%s': the image has no SCIF apps", app);
	lt_strv_sort(&names);
	lt_buf list = {0};
	for (size_t i = 0; i < names.n; i++)
		lt_buf_printf(&list, "%s%s", i > 0 ? ", " : "", names.v[i]);
	lt_strv_clear(&names);
	lt_error_set(err, 0, "no app named '%s' in the image (apps: %s)", app, list.data);
	lt_buf_free(&list);
	return -1;
}

static char **strv_new(size_t cap)
{
	return lt_xcalloc(cap + 1, sizeof(char *));
}

/* ---------------------------------------------------------------------------------------------
 * Images with /bin/sh: the action script
 */
static int prepare_sh(rt_ctx *c, const char *command, rt_env *env, const rt_env *inject,
		      char **path, char ***argv, char ***envp)
{
	const rt_options *o = c->o;
	/* the names of everything the script must save and restore */
	size_t klen = 1;
	for (size_t i = 0; i < env->n; i++)
		klen += strlen(env->v[i]) + 1;
	char *keys = lt_xcalloc(1, klen);
	size_t kpos = 0;
	for (size_t i = 0; i < env->n; i++) {
		const char *eq = strchr(env->v[i], '=');
		size_t kl = (size_t)(eq - env->v[i]);
		if (!lt_env_name_valid(env->v[i], kl))
			continue;
		if (kpos > 0)
			keys[kpos++] = ' ';
		memcpy(keys + kpos, env->v[i], kl);
		kpos += kl;
	}
	keys[kpos] = '\0';
	const char *shlvl = rt_env_get(env, "SHLVL");
	char *shlvl_copy = shlvl ? lt_xstrdup(shlvl) : NULL;
	char *snippet = rt_env_inject_snippet(inject, o->no_eval);
	rt_env_set(env, "LITHO_SH_KEYS", keys);
	rt_env_set(env, "LITHO_SH_INJECT", snippet);
	rt_env_set(env, "LITHO_SH_INFO", lt_log_get_level() >= LT_LOG_INFO ? "1" : "");
	char ids[64];
	snprintf(ids, sizeof(ids), "%u %u", (unsigned)c->payload_uid, (unsigned)c->payload_gid);
	rt_env_set(env, "LITHO_SH_IDS", ids);
	/* the end of the environment phase goes to a descriptor dash can name (0-9) */
	c->phase_sh_fd = -1;
	for (int fd = 3; fd <= 9 && c->phase_fd >= 0 && c->phase_sh_fd < 0; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
			c->phase_sh_fd = fd;
	if (c->phase_sh_fd >= 0) {
		char n[2] = {(char)('0' + c->phase_sh_fd), '\0'};
		rt_env_set(env, "LITHO_SH_PHASE_FD", n);
	} else if (c->phase_fd >= 0) {
		lt_debug("descriptors 3 to 9 are taken: no --runscript-timeout for the shell");
	}
	if (shlvl_copy != NULL)
		rt_env_set(env, "LITHO_SH_SHLVL", shlvl_copy);
	free(keys);
	free(snippet);
	free(shlvl_copy);

	char **v = strv_new(4 + o->n_args);
	size_t n = 0;
	v[n++] = lt_xstrdup("/bin/sh");
	v[n++] = lt_xstrdup("-c");
	v[n++] = lt_xstrdup(rt_action_script);
	v[n++] = lt_strdup_printf("/.singularity.d/actions/%s", command);
	for (size_t i = 0; i < o->n_args; i++)
		v[n++] = lt_xstrdup(o->args[i]);
	*path = lt_xstrdup("/bin/sh");
	*argv = v;
	*envp = rt_env_steal(env);
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Images without /bin/sh
 */

/* argv = file, args...; refuses scripts whose interpreter the image lacks. */
static int run_file(const char *file, char *const *args, size_t n_args, char **path, char ***argv,
		    lt_error **err)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char head[256];
		ssize_t r = read(fd, head, sizeof(head) - 1);
		close(fd);
		if (r > 2 && head[0] == '#' && head[1] == '!') {
			head[r] = '\0';
			char *p = head + 2;
			while (*p == ' ' || *p == '\t')
				p++;
			size_t len = strcspn(p, " \t\n");
			p[len] = '\0';
			if (len > 0 && !is_exec_file(p))
				return lt_error_set(err, 0,
						    "%s is a script for %s, which the image does "
						    "not have",
						    file, p);
		}
	}
	char **v = strv_new(1 + n_args);
	v[0] = lt_xstrdup(file);
	for (size_t i = 0; i < n_args; i++)
		v[i + 1] = lt_xstrdup(args[i]);
	*path = lt_xstrdup(file);
	*argv = v;
	return 0;
}

static int exec_lookup(const rt_env *env, char *const *args, size_t n_args, char **path,
		       char ***argv, lt_error **err)
{
	if (n_args == 0)
		return lt_error_set(err, 0, "nothing to execute");
	char *found = NULL;
	if (rt_lookpath(env, args[0], &found) != 0)
		return lt_error_set(err, 0, "\"%s\": executable file not found in $PATH", args[0]);
	char **v = strv_new(n_args);
	v[0] = lt_xstrdup(found);
	for (size_t i = 1; i < n_args; i++)
		v[i] = lt_xstrdup(args[i]);
	*path = found;
	*argv = v;
	return 0;
}

static int run_oci(const char *text, const rt_options *o, const rt_env *env, char **path,
		   char ***argv, bool *handled, lt_error **err)
{
	char *ep = NULL, *cmd = NULL;
	int rc = rt_oci_runscript_parse(text, &ep, &cmd, err);
	*handled = rc == 0;
	if (rc != 0)
		return rc < 0 ? lt_error_wrap(err, "/.singularity.d/runscript") : 0;
	char **words = NULL;
	size_t n = 0;
	rc = rt_oci_runscript_argv(ep, cmd, o->args, o->n_args, o->no_eval, env, &words, &n, err);
	free(ep);
	free(cmd);
	if (rc < 0)
		return -1;
	if (n == 0) {
		lt_strv_free(words);
		/* `exec` without a command: the runscript ends, successfully */
		return 0;
	}
	rc = exec_lookup(env, words, n, path, argv, err);
	lt_strv_free(words);
	return rc;
}

static int dispatch_c(const rt_ctx *c, rt_env *env, char **path, char ***argv, lt_error **err)
{
	const rt_options *o = c->o;
	char *file = NULL;
	int rc = 0;
	switch (o->action) {
	case RT_EXEC:
		return exec_lookup(env, o->args, o->n_args, path, argv, err);
	case RT_SHELL:
		if (o->shell != NULL && o->shell[0] != '\0' && test_x(o->shell))
			return run_file(o->shell, o->args, o->n_args, path, argv, err);
		if (test_x("/bin/bash")) {
			rt_env_set(env, "SHELL", "/bin/bash");
			char **v = strv_new(2 + o->n_args);
			v[0] = lt_xstrdup("/bin/bash");
			v[1] = lt_xstrdup("--norc");
			for (size_t i = 0; i < o->n_args; i++)
				v[i + 2] = lt_xstrdup(o->args[i]);
			*path = lt_xstrdup("/bin/bash");
			*argv = v;
			return 0;
		}
		return lt_error_set(err, 0, "the image has no shell (/bin/sh)");
	case RT_RUN:
		if (o->app != NULL && o->app[0] != '\0') {
			file = lt_strdup_printf("/scif/apps/%s/scif/runscript", o->app);
			if (test_x(file))
				rc = run_file(file, o->args, o->n_args, path, argv, err);
			else
				rc = lt_error_set(err, 0, "no runscript for contained app: %s",
						  o->app);
			free(file);
			return rc;
		}
		if (test_x("/.singularity.d/runscript")) {
			char *text = NULL;
			size_t len = 0;
			if (lt_read_file("/.singularity.d/runscript", &text, &len, err) < 0)
				return -1;
			bool handled = false;
			rc = run_oci(text, o, env, path, argv, &handled, err);
			free(text);
			if (rc < 0 || handled)
				return rc;
			return run_file("/.singularity.d/runscript", o->args, o->n_args, path, argv,
					err);
		}
		if (test_x("/apptainer"))
			return run_file("/apptainer", o->args, o->n_args, path, argv, err);
		if (test_x("/singularity"))
			return run_file("/singularity", o->args, o->n_args, path, argv, err);
		return lt_error_set(err, 0,
				    "No runscript and no /bin/sh executable found in container, "
				    "aborting");
	case RT_TEST:
		if (o->app != NULL && o->app[0] != '\0') {
			file = lt_strdup_printf("/scif/apps/%s/scif/test", o->app);
			if (test_x(file))
				rc = run_file(file, o->args, o->n_args, path, argv, err);
			else
				rc = lt_error_set(err, 0, "No tests for contained app: %s", o->app);
			free(file);
			return rc;
		}
		if (test_x("/.singularity.d/test"))
			return run_file("/.singularity.d/test", o->args, o->n_args, path, argv,
					err);
		lt_info("No test script found in container, exiting");
		return 0;
	}
	return lt_error_set(err, 0, "unknown action");
}

static int prepare_c(rt_ctx *c, const rt_env *env, const rt_env *inject, bool sh, char **path,
		     char ***argv, char ***envp, lt_error **err)
{
	rt_env final;
	/* with a shell to fall back on, only the generated files litho knows are played */
	if (rt_env_emulate(c, env, inject, sh, &final, err) < 0)
		return -1;
	if (dispatch_c(c, &final, path, argv, err) < 0) {
		rt_env_free(&final);
		return -1;
	}
	if (*path == NULL) {
		/* nothing to run: the caller exits 0 */
		rt_env_free(&final);
		return 0;
	}
	rt_env_sort(&final);
	*envp = rt_env_steal(&final);
	return 0;
}

static bool has_sh(void)
{
	return is_exec_file("/bin/sh");
}

/* Returns 0 with *path NULL when there is nothing to run (test without a test script, an OCI
 * runscript without ENTRYPOINT, CMD or arguments, in an image without /bin/sh): the caller
 * then exits with status 0, as Apptainer does. */
int rt_exec_prepare(rt_ctx *c, char **path, char ***argv, char ***envp, lt_error **err)
{
	const rt_options *o = c->o;
	*path = NULL;
	*argv = NULL;
	*envp = NULL;
	if (o->action == RT_EXEC && o->n_args == 0)
		return lt_error_set(err, 0, "exec: no command given");
	if (o->app != NULL && o->app[0] != '\0' && check_app(o->app, err) < 0)
		return -1;
	const char *command = action_name(o->action);
	rt_env env, inject;
	if (rt_env_build(c, command, &env, &inject, err) < 0)
		return -1;
	/* like a variable of the caller's: --env and the image's scripts can replace it */
	if (c->apt_config != NULL && rt_env_get(&inject, "APT_CONFIG") == NULL &&
	    rt_env_get(&env, "APT_CONFIG") == NULL)
		rt_env_set(&env, "APT_CONFIG", c->apt_config);
	/* The steps in C when the image's scripts are within what the evaluator knows (Apptainer's
	 * generated files and the usual %environment lines): that saves starting the image's shell
	 * on every run. Anything else -- a command, a command substitution -- needs a real shell:
	 * the image's /bin/sh then runs the action script, as without the evaluator. */
	int rc = -1;
	bool sh = has_sh();
	const char *force = getenv("LITHO_ACTION_SHELL");
	if (!sh || force == NULL || strcmp(force, "1") != 0) {
		lt_error *e = NULL;
		rc = prepare_c(c, &env, &inject, sh, path, argv, envp, sh ? &e : err);
		if (rc < 0 && sh) {
			lt_debug("%s: the environment needs the image's shell: %s", command,
				 e ? e->message : "?");
			lt_error_free(&e);
			free(*path);
			lt_strv_free(*argv);
			lt_strv_free(*envp);
			*path = NULL;
			*argv = *envp = NULL;
		} else if (!sh) {
			lt_verbose(
			    "The image has no /bin/sh: prepared the %s environment without it",
			    command);
		}
	}
	if (rc < 0 && sh)
		rc = prepare_sh(c, command, &env, &inject, path, argv, envp);
	rt_env_free(&env);
	rt_env_free(&inject);
	if (rc < 0) {
		free(*path);
		lt_strv_free(*argv);
		lt_strv_free(*envp);
		*path = NULL;
		*argv = *envp = NULL;
		return lt_error_wrap(err, "%s", command);
	}
	return 0;
}
