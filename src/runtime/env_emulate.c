/* The environment phase of the action scripts done in C (rt_env_emulate): the image's env
 * scripts are evaluated here whenever they are ones litho recognises, which spares a shell
 * start; see env.c for the rules. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "action_script.h"
#include "meta/meta.h"
#include "env_text.h"

/* ---------------------------------------------------------------------------------------------
 * rt_env_emulate: the action script's environment phase without a shell
 */
typedef struct emu {
	const rt_ctx *c;
	rt_env *cur;   /* exported */
	rt_env locals; /* shell variables */
	bool injected;
	bool rtvars;
	bool strict; /* a shell can run what the evaluator cannot: fail instead of skipping */
	const rt_env *inject;
	lt_error **err;
} emu;

static bool is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void emu_set(emu *m, const char *key, const char *value)
{
	rt_env_set(m->cur, key, value);
	rt_env_unset(&m->locals, key);
}

static const char *emu_get(emu *m, const char *key)
{
	const char *v = rt_env_get(m->cur, key);
	return v ? v : rt_env_get(&m->locals, key);
}

static void emu_fixpath(emu *m)
{
	const char *path = emu_get(m, "PATH");
	lt_buf b = {0};
	lt_buf_add(&b, path ? path : "");
	char *cur = lt_strdup_printf(":%s:", path ? path : "");
	const char *def = RT_DEFAULT_PATH;
	while (*def != '\0') {
		const char *colon = strchr(def, ':');
		size_t len = colon ? (size_t)(colon - def) : strlen(def);
		char *needle = lt_strdup_printf(":%.*s:", (int)len, def);
		if (strstr(cur, needle) == NULL) {
			if (b.len > 0)
				lt_buf_addc(&b, ':');
			lt_buf_addn(&b, def, len);
		}
		free(needle);
		def += len + (colon ? 1 : 0);
	}
	free(cur);
	char *v = lt_buf_steal(&b, NULL);
	emu_set(m, "PATH", v);
	free(v);
}

/* Sources a file with the evaluator, on copies: a file it cannot handle is skipped whole, or
 * with a shell to fall back on, fails the emulation (-1). */
static int emu_source(emu *m, const char *path, char *const *args, size_t n_args)
{
	char *text = NULL;
	size_t len = 0;
	lt_error *e = NULL;
	if (lt_read_file(path, &text, &len, &e) < 0) {
		lt_warn("Could not source %s: %s", path, e->message);
		lt_error_free(&e);
		return 0;
	}
	rt_env cur, locals;
	rt_env_copy(&cur, m->cur);
	rt_env_copy(&locals, &m->locals);
	rt_sh sh = {
	    .exported = &cur, .locals = &locals, .args = args, .n_args = n_args, .name = path};
	if (rt_sh_source(&sh, text, &e) < 0) {
		rt_env_free(&cur);
		rt_env_free(&locals);
		free(text);
		if (m->strict)
			return lt_error_move(m->err, &e);
		lt_warn("Skipped %s, the image has no /bin/sh to run it: %s", path, e->message);
		lt_error_free(&e);
		return 0;
	} else {
		rt_env_free(m->cur);
		rt_env_free(&m->locals);
		*m->cur = cur;
		m->locals = locals;
	}
	free(text);
	return 0;
}

static int emu_inject(emu *m, char *const *args, size_t n_args)
{
	if (m->injected)
		return 0;
	m->injected = true;
	if (emu_get(m, "PATH") == NULL)
		emu_set(m, "PATH", RT_DEFAULT_PATH);
	bool no_eval = m->c->o->no_eval;
	for (size_t i = 0; i < m->inject->n; i++) {
		const char *e = m->inject->v[i];
		const char *eq = strchr(e, '=');
		size_t kl = (size_t)(eq - e);
		if (kl == 3 && (memcmp(e, "UID", 3) == 0 || memcmp(e, "GID", 3) == 0))
			continue;
		if (!lt_env_name_valid(e, kl))
			continue;
		char *key = lt_xstrndup(e, kl);
		char *value = lt_xstrdup(eq + 1);
		if (strcmp(key, "LD_LIBRARY_PATH") == 0 && value[0] != '\0') {
			char *v = lt_strdup_printf("%s:/.singularity.d/libs", value);
			free(value);
			value = v;
		}
		if (!no_eval) {
			/* export KEY="<value, only its double quotes escaped>" */
			lt_buf b = {0};
			lt_buf_addc(&b, '"');
			for (const char *p = value; *p != '\0'; p++) {
				if (*p == '"')
					lt_buf_addc(&b, '\\');
				lt_buf_addc(&b, *p);
			}
			lt_buf_addc(&b, '"');
			char *quoted = lt_buf_steal(&b, NULL);
			char *source = lt_strdup_printf("the value of %s", key);
			rt_sh sh = {.exported = m->cur,
				    .locals = &m->locals,
				    .args = args,
				    .n_args = n_args,
				    .name = source};
			char **w = NULL;
			size_t nw = 0;
			int rc = rt_sh_words(&sh, quoted, &w, &nw, m->err);
			free(quoted);
			free(source);
			if (rc < 0) {
				free(key);
				free(value);
				return lt_error_wrap(m->err, "the image has no /bin/sh to evaluate "
							     "environment variables (--no-eval "
							     "passes them literally)");
			}
			free(value);
			value = lt_xstrdup(nw > 0 ? w[0] : "");
			lt_strv_free(w);
		}
		emu_set(m, key, value);
		free(key);
		free(value);
	}
	return 0;
}

static void emu_runtimevars(emu *m)
{
	if (m->rtvars)
		return;
	m->rtvars = true;
	const char *path = emu_get(m, "PATH");
	char *p = lt_xstrdup(path ? path : "");
	const char *v = emu_get(m, "SING_USER_DEFINED_PREPEND_PATH");
	if (v != NULL && v[0] != '\0') {
		char *n = lt_strdup_printf("%s:%s", v, p);
		free(p);
		p = n;
		rt_env_unset(m->cur, "SING_USER_DEFINED_PREPEND_PATH");
		rt_env_unset(&m->locals, "SING_USER_DEFINED_PREPEND_PATH");
	}
	v = emu_get(m, "SING_USER_DEFINED_APPEND_PATH");
	if (v != NULL && v[0] != '\0') {
		char *n = lt_strdup_printf("%s:%s", p, v);
		free(p);
		p = n;
		rt_env_unset(m->cur, "SING_USER_DEFINED_APPEND_PATH");
		rt_env_unset(&m->locals, "SING_USER_DEFINED_APPEND_PATH");
	}
	v = emu_get(m, "SING_USER_DEFINED_PATH");
	if (v != NULL && v[0] != '\0') {
		free(p);
		p = lt_xstrdup(v);
		rt_env_unset(m->cur, "SING_USER_DEFINED_PATH");
		rt_env_unset(&m->locals, "SING_USER_DEFINED_PATH");
	}
	emu_set(m, "PATH", p);
	free(p);
}

/* Apptainer's 99-base.sh. */
static void emu_base(emu *m)
{
	const char *ld = emu_get(m, "LD_LIBRARY_PATH");
	char *v = (ld == NULL || ld[0] == '\0') ? lt_xstrdup("/.singularity.d/libs")
						: lt_strdup_printf("%s:/.singularity.d/libs", ld);
	emu_set(m, "LD_LIBRARY_PATH", v);
	free(v);
	const char *ps1 = emu_get(m, "PS1");
	char *p = lt_xstrdup(ps1 == NULL || ps1[0] == '\0' ? "Apptainer> " : ps1);
	emu_set(m, "PS1", p);
	free(p);
}

/* Apptainer's 95-apps.sh (the app directory was checked before). */
static int emu_apps(emu *m, char *const *args, size_t n_args)
{
	const char *app = emu_get(m, "SINGULARITY_APPNAME");
	if (app == NULL || app[0] == '\0')
		return 0;
	char *name = lt_xstrdup(app);
	emu_set(m, "SINGULARITY_APPNAME", name);
	char *root = lt_strdup_printf("/scif/apps/%s", name);
	if (!is_dir(root)) {
		free(root);
		free(name);
		return 0;
	}
	emu_set(m, "SCIF_APPS", "/scif/apps");
	emu_set(m, "SCIF_APPROOT", root);
	const char *path = emu_get(m, "PATH");
	char *p = lt_strdup_printf("%s:/scif/apps/singularity:%s", root, path ? path : "");
	char *bin = lt_strdup_printf("%s/bin", root);
	if (is_dir(bin)) {
		char *n = lt_strdup_printf("%s:%s", bin, p);
		free(p);
		p = n;
	} else if (is_dir("/scif/apps/singularity/bin")) {
		char *n = lt_strdup_printf("/scif/apps/singularity/bin:%s", p);
		free(p);
		p = n;
	}
	emu_set(m, "PATH", p);
	free(p);
	free(bin);
	char *lib = lt_strdup_printf("%s/lib", root);
	const char *libdir = is_dir(lib)			    ? lib
			     : is_dir("/scif/apps/singularity/lib") ? "/scif/apps/singularity/lib"
								    : NULL;
	if (libdir != NULL) {
		const char *ld = emu_get(m, "LD_LIBRARY_PATH");
		char *n = lt_strdup_printf("%s:%s", libdir, ld ? ld : "");
		emu_set(m, "LD_LIBRARY_PATH", n);
		free(n);
	}
	free(lib);
	static const char *const files[] = {"01-base.sh", "90-environment.sh"};
	int rc = 0;
	for (size_t i = 0; i < LT_ARRAY_SIZE(files) && rc == 0; i++) {
		char *f = lt_strdup_printf("%s/scif/env/%s", root, files[i]);
		char *fallback = lt_strdup_printf("/scif/apps/singularity/scif/env/%s", files[i]);
		if (is_file(f))
			rc = emu_source(m, f, args, n_args);
		else if (is_file(fallback))
			rc = emu_source(m, fallback, args, n_args);
		free(f);
		free(fallback);
	}
	free(root);
	free(name);
	return rc;
}

static bool kept_name(const char *k, size_t len)
{
	static const char *const kept[] = {
	    "PWD",
	    "HOME",
	    "OPTIND",
	    "UID",
	    "GID",
	    "SINGULARITY_APPNAME",
	    "SINGULARITY_SHELL",
	    "APPTAINER_NAME",
	    "APPTAINER_CONTAINER",
	    "APPTAINER_INSTANCE",
	};
	return in_list(k, len, kept, LT_ARRAY_SIZE(kept));
}

/* The generated files the emulation plays from memory (95-apps.sh, 99-base.sh,
 * 99-runtimevars.sh) must be the ones it knows when a shell could run them instead: an image
 * may have changed them. Other names are not played from memory. */
static bool standard_script(const char *path, const char *base)
{
	if (strcmp(base, "99-base.sh") != 0 && strcmp(base, "99-runtimevars.sh") != 0 &&
	    strcmp(base, "95-apps.sh") != 0)
		return true;
	char *data = NULL;
	lt_error *ignored = NULL;
	if (lt_read_file(path, &data, NULL, &ignored) < 0) {
		lt_error_free(&ignored);
		return false;
	}
	bool same = meta_env_script_is_standard(base, data);
	free(data);
	return same;
}

int rt_env_emulate(const rt_ctx *c, const rt_env *env, const rt_env *inject, bool strict,
		   rt_env *out, lt_error **err)
{
	const rt_options *o = c->o;
	char *const *args = o->args;
	size_t n_args = o->n_args;
	emu m = {.c = c, .cur = out, .inject = inject, .err = err, .strict = strict};
	rt_env_init(out);
	rt_env_init(&m.locals);

	/* clear_env */
	for (size_t i = 0; i < env->n; i++) {
		const char *eq = strchr(env->v[i], '=');
		if (kept_name(env->v[i], (size_t)(eq - env->v[i])))
			rt_env_push(out, lt_xstrdup(env->v[i]));
	}
	char *cwd = getcwd(NULL, 0);
	if (cwd != NULL) {
		rt_env_set(out, "PWD", cwd);
		free(cwd);
	}
	/* the shell variables of Apptainer's interpreter, unless the environment has them */
	char id[16];
	static const char *const ids[] = {"UID", "EUID", "GID"};
	for (size_t i = 0; i < LT_ARRAY_SIZE(ids); i++) {
		snprintf(id, sizeof(id), "%u",
			 i < 2 ? (unsigned)c->payload_uid : (unsigned)c->payload_gid);
		if (rt_env_get(out, ids[i]) == NULL)
			rt_env_set(&m.locals, ids[i], id);
	}

	/* the image's environment scripts */
	if (is_dir("/.singularity.d/env")) {
		DIR *d = opendir("/.singularity.d/env");
		lt_strv names = {0};
		struct dirent *de;
		while (d != NULL && (de = readdir(d)) != NULL) {
			size_t len = strlen(de->d_name);
			if (de->d_name[0] != '.' && len > 3 &&
			    strcmp(de->d_name + len - 3, ".sh") == 0)
				lt_strv_push(
				    &names, lt_strdup_printf("/.singularity.d/env/%s", de->d_name));
		}
		if (d != NULL)
			closedir(d);
		lt_strv_sort(&names);
		for (size_t i = 0; i < names.n; i++) {
			const char *s = names.v[i];
			const char *base = s + strlen("/.singularity.d/env/");
			if (!is_file(s))
				continue;
			int rc = 0;
			if (strcmp(base, "90-environment.sh") == 0) {
				if (emu_get(&m, "PATH") == NULL)
					emu_fixpath(&m);
				rc = emu_source(&m, s, args, n_args);
			} else if (strcmp(base, "10-docker2singularity.sh") == 0 ||
				   strcmp(base, "10-docker.sh") == 0) {
				rc = emu_source(&m, s, args, n_args);
				emu_fixpath(&m);
			} else if (strict && !standard_script(s, base)) {
				lt_error_set(err, 0, "%s is not Apptainer's: it needs a shell", s);
				lt_strv_clear(&names);
				goto fail;
			} else if (strcmp(base, "99-base.sh") == 0) {
				emu_base(&m);
				if (emu_inject(&m, args, n_args) < 0) {
					lt_strv_clear(&names);
					goto fail;
				}
			} else if (strcmp(base, "99-runtimevars.sh") == 0) {
				emu_runtimevars(&m);
			} else if (strcmp(base, "95-apps.sh") == 0) {
				rc = emu_apps(&m, args, n_args);
			} else {
				rc = emu_source(&m, s, args, n_args);
			}
			if (rc < 0) {
				lt_strv_clear(&names);
				goto fail;
			}
		}
		lt_strv_clear(&names);
	} else {
		if (is_file("/environment")) {
			if (emu_source(&m, "/environment", args, n_args) < 0)
				goto fail;
			emu_fixpath(&m);
		}
		if (emu_inject(&m, args, n_args) < 0)
			goto fail;
	}
	if (!is_file("/.singularity.d/env/99-runtimevars.sh"))
		emu_runtimevars(&m);

	/* restore_env */
	static const char *const readonly[] = {"APPTAINER_NAME", "APPTAINER_CONTAINER",
					       "APPTAINER_INSTANCE"};
	for (size_t i = 0; i < env->n; i++) {
		const char *eq = strchr(env->v[i], '=');
		size_t kl = (size_t)(eq - env->v[i]);
		if (!lt_env_name_valid(env->v[i], kl))
			continue;
		char *key = lt_xstrndup(env->v[i], kl);
		if (in_list(key, kl, readonly, LT_ARRAY_SIZE(readonly)))
			emu_set(&m, key, eq + 1);
		const char *now = emu_get(&m, key);
		if (now == NULL) {
			emu_set(&m, key, eq + 1);
		} else if (now[0] == '\0') {
			rt_env_unset(out, key);
			rt_env_unset(&m.locals, key);
		}
		free(key);
	}
	const char *ps1 = emu_get(&m, "PS1");
	if (ps1 == NULL || ps1[0] == '\0')
		emu_set(&m, "PS1", "Apptainer> ");
	ps1 = emu_get(&m, "PS1");
	const char *pc = emu_get(&m, "PROMPT_COMMAND");
	char *prompt = (pc == NULL || pc[0] == '\0')
			   ? lt_strdup_printf("PS1=\"%s\"; unset PROMPT_COMMAND", ps1)
			   : lt_strdup_printf("%s; PROMPT_COMMAND=\"${PROMPT_COMMAND%%%%; "
					      "PROMPT_COMMAND=*}\"; PS1=\"%s\"",
					      pc, ps1);
	emu_set(&m, "PROMPT_COMMAND", prompt);
	free(prompt);
	const char *ae = emu_get(&m, "APPTAINER_ENVIRONMENT");
	char *aenv =
	    lt_xstrdup(ae != NULL && ae[0] != '\0' ? ae : "/.singularity.d/env/91-environment.sh");
	emu_set(&m, "APPTAINER_ENVIRONMENT", aenv);
	emu_set(&m, "SINGULARITY_ENVIRONMENT", aenv);
	free(aenv);
	rt_env_free(&m.locals);
	rt_env_sort(out);
	return 0;
fail:
	rt_env_free(&m.locals);
	rt_env_free(out);
	return -1;
}
