/* The container environment, built by Apptainer's rules:
 *
 *  - rt_env_build: what the launcher passes to the action script (cmd/internal/cli
 *    actions_linux.go and internal/pkg/util/env/clean.go SetContainerEnv): the host
 *    environment without APPTAINER_*, SINGULARITY_*, LITHO_*, PATH, HOME and LD_LIBRARY_PATH
 *    (with --cleanenv only TERM and the proxy variables, plus LANG=C), HOME and the default
 *    PATH, the runtime variables (APPTAINER_CONTAINER, _NAME, _BIND, _SHELL, _APPNAME,
 *    _NO_EVAL and their SINGULARITY_ twins, APPTAINER_COMMAND), and separately the overrides
 *    to inject (APPTAINERENV_ and friends, --env, --env-file);
 *  - rt_env_emulate: the environment phase of the action script done in C for images without
 *    a shell;
 *  - a small evaluator for the shell subset of the files Apptainer generates and of env files.
 *
 * Override precedence (highest first): --env, --env-file, LITHO_ENV_FOO, APPTAINERENV_FOO,
 * SINGULARITYENV_FOO. Apptainer has the same order for its own three (--env and --env-file
 * become APPTAINERENV_ variables, which win over SINGULARITYENV_); LITHO_ENV_ is litho's own
 * prefix, so it wins over the ones litho shares with Apptainer.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "action_script.h"
#include "env_text.h"
#include "meta/meta.h"

/* ---------------------------------------------------------------------------------------------
 * Environment lists
 */
void rt_env_init(rt_env *e)
{
	*e = (rt_env){0};
	lt_array_reserve(e, 1);
	e->v[0] = NULL;
}

void rt_env_free(rt_env *e)
{
	lt_strv_clear(e);
}

void rt_env_push(rt_env *e, char *entry)
{
	lt_strv_push(e, entry);
}

void rt_env_copy(rt_env *dst, const rt_env *src)
{
	rt_env_init(dst);
	for (size_t i = 0; i < src->n; i++)
		rt_env_push(dst, lt_xstrdup(src->v[i]));
}

static ssize_t env_find(const rt_env *e, const char *key, size_t klen)
{
	for (size_t i = 0; i < e->n; i++)
		if (strncmp(e->v[i], key, klen) == 0 && e->v[i][klen] == '=')
			return (ssize_t)i;
	return -1;
}

const char *rt_env_getn(const rt_env *e, const char *key, size_t klen)
{
	ssize_t i = env_find(e, key, klen);
	return i < 0 ? NULL : e->v[i] + klen + 1;
}

const char *rt_env_get(const rt_env *e, const char *key)
{
	return rt_env_getn(e, key, strlen(key));
}

void rt_env_setn(rt_env *e, const char *key, size_t klen, const char *value, size_t vlen)
{
	char *entry = lt_xmalloc(klen + vlen + 2);
	memcpy(entry, key, klen);
	entry[klen] = '=';
	memcpy(entry + klen + 1, value, vlen);
	entry[klen + 1 + vlen] = '\0';
	ssize_t i = env_find(e, key, klen);
	if (i >= 0) {
		free(e->v[i]);
		e->v[i] = entry;
	} else {
		rt_env_push(e, entry);
	}
}

void rt_env_set(rt_env *e, const char *key, const char *value)
{
	rt_env_setn(e, key, strlen(key), value, strlen(value));
}

bool rt_env_unset(rt_env *e, const char *key)
{
	ssize_t i = env_find(e, key, strlen(key));
	if (i < 0)
		return false;
	free(e->v[i]);
	memmove(&e->v[i], &e->v[i + 1], (e->n - (size_t)i) * sizeof(*e->v));
	e->n--;
	return true;
}

void rt_env_add_strv(rt_env *e, char *const *v)
{
	for (; v != NULL && *v != NULL; v++) {
		const char *eq = strchr(*v, '=');
		if (eq != NULL)
			rt_env_setn(e, *v, (size_t)(eq - *v), eq + 1, strlen(eq + 1));
	}
}

void rt_env_sort(rt_env *e)
{
	lt_strv_sort(e);
}

char **rt_env_steal(rt_env *e)
{
	return lt_strv_steal(e);
}

/* ---------------------------------------------------------------------------------------------
 * --env-file
 */
int rt_env_file_eval(const char *data, const char *name, char *const *host_env, const char *image,
		     char *const *args, size_t n_args, rt_env *out, lt_error **err)
{
	rt_env locals, exported;
	rt_env_init(&locals);
	rt_env_init(&exported);
	rt_env_add_strv(&locals, host_env);
	if (image != NULL)
		rt_env_set(&locals, "APPTAINER_IMAGE", image);
	rt_sh sh = {
	    .exported = &exported,
	    .locals = &locals,
	    .args = args,
	    .n_args = n_args,
	    .allexport = true,
	    .name = name,
	};
	int rc = rt_sh_source(&sh, data, err);
	if (rc == 0) {
		rt_env_init(out);
		for (size_t i = 0; i < exported.n; i++) {
			const char *e = exported.v[i];
			if (strncmp(e, "UID=", 4) == 0 || strncmp(e, "GID=", 4) == 0)
				continue;
			rt_env_push(out, lt_xstrdup(e));
		}
	}
	rt_env_free(&locals);
	rt_env_free(&exported);
	return rc;
}

/* ---------------------------------------------------------------------------------------------
 * rt_env_build
 */
static const char *const always_pass[] = {
    "TERM",	"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy",
    "NO_PROXY", "all_proxy",  "ALL_PROXY",  "ftp_proxy",   "FTP_PROXY",
};

/* alwaysOmitKeys: never forwarded from the host; the first ones cannot be overridden. */
static const char *const omit_fixed[] = {
    "HOME",
    "PATH",
    "APPTAINER_SHELL",
    "APPTAINER_APPNAME",
    "SINGULARITY_SHELL",
    "SINGULARITY_APPNAME",
};

static bool must_forward(const char *key, size_t len, bool clean)
{
	if (in_list(key, len, always_pass, LT_ARRAY_SIZE(always_pass)))
		return true;
	if (in_list(key, len, omit_fixed, LT_ARRAY_SIZE(omit_fixed)) ||
	    (len == 15 && memcmp(key, "LD_LIBRARY_PATH", 15) == 0))
		return false;
	return !clean;
}

/* --no-env / APPTAINER_NOENV (Apptainer 1.5): host variables by exact name that are not
 * passed; TERM and the proxy variables still are, and APPTAINERENV_ overrides still apply. */
static bool no_env(const rt_options *o, const char *key, size_t len)
{
	if (in_list(key, len, always_pass, LT_ARRAY_SIZE(always_pass)))
		return false;
	for (size_t i = 0; i < o->n_no_env; i++)
		if (strlen(o->no_env[i]) == len && memcmp(o->no_env[i], key, len) == 0)
			return true;
	return false;
}

/* One override KEY=VALUE from `source` (for messages); first one set wins. */
static void add_override(rt_env *inject, const char *source, const char *key, size_t klen,
			 const char *value)
{
	const char *target = NULL;
	if (klen == 0)
		return;
	if (klen == 12 && memcmp(key, "PREPEND_PATH", 12) == 0)
		target = "SING_USER_DEFINED_PREPEND_PATH";
	else if (klen == 11 && memcmp(key, "APPEND_PATH", 11) == 0)
		target = "SING_USER_DEFINED_APPEND_PATH";
	else if (klen == 4 && memcmp(key, "PATH", 4) == 0)
		target = "SING_USER_DEFINED_PATH";
	if (target == NULL && in_list(key, klen, omit_fixed, LT_ARRAY_SIZE(omit_fixed))) {
		lt_warn("Overriding %.*s environment variable with %s is not permitted", (int)klen,
			key, source);
		return;
	}
	size_t tlen = target ? strlen(target) : klen;
	const char *tkey = target ? target : key;
	const char *old = rt_env_getn(inject, tkey, tlen);
	if (old != NULL) {
		if (strcmp(old, value) != 0)
			lt_verbose("Skipping environment variable [%s=%s], %.*s is already "
				   "overridden with different value [%s]",
				   source, value, (int)tlen, tkey, old);
		return;
	}
	rt_env_setn(inject, tkey, tlen, value, strlen(value));
}

static void add_prefixed(rt_env *inject, char *const *host, const char *prefix)
{
	size_t pl = strlen(prefix);
	for (char *const *e = host; e != NULL && *e != NULL; e++) {
		if (strncmp(*e, prefix, pl) != 0)
			continue;
		const char *eq = strchr(*e, '=');
		if (eq == NULL)
			continue;
		char *source = lt_xstrndup(*e, (size_t)(eq - *e));
		add_override(inject, source, *e + pl, (size_t)(eq - *e) - pl, eq + 1);
		free(source);
	}
}

static const char *const skipped_prefixes[] = {
    "APPTAINER_", "SINGULARITY_", "LITHO_", "APPTAINERENV_", "SINGULARITYENV_",
};

static void set_twins(rt_env *env, const char *name, const char *value)
{
	char *a = lt_strdup_printf("APPTAINER_%s", name);
	char *s = lt_strdup_printf("SINGULARITY_%s", name);
	rt_env_set(env, a, value);
	rt_env_set(env, s, value);
	free(a);
	free(s);
}

int rt_env_build(const rt_ctx *c, const char *command, rt_env *env, rt_env *inject, lt_error **err)
{
	const rt_options *o = c->o;
	bool clean = o->cleanenv || o->containall;
	rt_env_init(env);
	rt_env_init(inject);

	/* --env: later ones replace earlier ones (a map in Apptainer) */
	rt_env cli;
	rt_env_init(&cli);
	for (size_t i = 0; i < o->n_env; i++) {
		const char *eq = strchr(o->env[i], '=');
		if (eq == NULL) {
			rt_env_free(&cli);
			rt_env_free(env);
			rt_env_free(inject);
			return lt_error_set(err, 0, "--env %s: expected NAME=VALUE", o->env[i]);
		}
		if (eq == o->env[i]) {
			lt_warn("Ignore environment variable %s: variable name missing", o->env[i]);
			continue;
		}
		rt_env_setn(&cli, o->env[i], (size_t)(eq - o->env[i]), eq + 1, strlen(eq + 1));
	}
	for (size_t i = 0; i < cli.n; i++) {
		const char *eq = strchr(cli.v[i], '=');
		char *source = lt_strdup_printf("--env %.*s", (int)(eq - cli.v[i]), cli.v[i]);
		add_override(inject, source, cli.v[i], (size_t)(eq - cli.v[i]), eq + 1);
		free(source);
	}
	/* --env-file, evaluated with the host environment */
	if (o->env_file != NULL) {
		if (c->env_file_data == NULL) {
			rt_env_free(&cli);
			rt_env_free(env);
			rt_env_free(inject);
			return lt_error_set(err, 0,
					    "--env-file %s was not read before entering the "
					    "container",
					    o->env_file);
		}
		/* $1... are the container process arguments, which start with the action's path */
		rt_env file;
		char **args = lt_xcalloc(o->n_args + 2, sizeof(*args));
		args[0] = lt_strdup_printf("/.singularity.d/actions/%s", command);
		for (size_t i = 0; i < o->n_args; i++)
			args[i + 1] = lt_xstrdup(o->args[i]);
		int rc = rt_env_file_eval(c->env_file_data, o->env_file, c->host_env, c->image_path,
					  args, o->n_args + 1, &file, err);
		lt_strv_free(args);
		if (rc < 0) {
			rt_env_free(&cli);
			rt_env_free(env);
			rt_env_free(inject);
			return lt_error_wrap(err, "--env-file");
		}
		for (size_t i = 0; i < file.n; i++) {
			const char *eq = strchr(file.v[i], '=');
			size_t kl = (size_t)(eq - file.v[i]);
			if (rt_env_getn(&cli, file.v[i], kl) != NULL) {
				lt_warn(
				    "Ignore environment variable %.*s from %s: override from --env",
				    (int)kl, file.v[i], o->env_file);
				continue;
			}
			char *source =
			    lt_strdup_printf("%s: %.*s", o->env_file, (int)kl, file.v[i]);
			add_override(inject, source, file.v[i], kl, eq + 1);
			free(source);
		}
		rt_env_free(&file);
	}
	rt_env_free(&cli);
	/* the host's prefixed variables */
	add_prefixed(inject, c->host_env, "LITHO_ENV_");
	add_prefixed(inject, c->host_env, "APPTAINERENV_");
	add_prefixed(inject, c->host_env, "SINGULARITYENV_");
	for (char *const *e = c->host_env; e != NULL && *e != NULL; e++) {
		if (strncmp(*e, "SINGULARITYENV_", 15) != 0)
			continue;
		const char *eq = strchr(*e, '=');
		if (eq == NULL || eq == *e + 15)
			continue;
		char *newer = lt_strdup_printf("APPTAINERENV_%.*s", (int)(eq - *e - 15), *e + 15);
		size_t nl = strlen(newer);
		const char *other = NULL;
		for (char *const *f = c->host_env; *f != NULL && other == NULL; f++)
			if (strncmp(*f, newer, nl) == 0 && (*f)[nl] == '=')
				other = *f + nl + 1;
		if (other == NULL)
			lt_info("Environment variable %.*s is set, but %s is preferred",
				(int)(eq - *e), *e, newer);
		else if (strcmp(other, eq + 1) != 0)
			lt_warn("%.*s and %s have different values, using the latter",
				(int)(eq - *e), *e, newer);
		free(newer);
	}

	/* the process environment */
	if (clean && rt_env_get(inject, "LANG") == NULL)
		rt_env_set(env, "LANG", "C");
	for (char *const *e = c->host_env; e != NULL && *e != NULL; e++) {
		const char *eq = strchr(*e, '=');
		if (eq == NULL)
			continue;
		size_t kl = (size_t)(eq - *e);
		bool skip = false;
		for (size_t i = 0; i < LT_ARRAY_SIZE(skipped_prefixes) && !skip; i++)
			skip = strncmp(*e, skipped_prefixes[i], strlen(skipped_prefixes[i])) == 0;
		if (skip || !must_forward(*e, kl, clean) || no_env(o, *e, kl))
			continue;
		if (rt_env_getn(inject, *e, kl) != NULL)
			continue;
		rt_env_setn(env, *e, kl, eq + 1, strlen(eq + 1));
	}
	rt_env_set(env, "HOME", c->home_dst ? c->home_dst : "/");
	rt_env_set(env, "PATH", RT_DEFAULT_PATH);
	if (o->no_eval)
		set_twins(env, "NO_EVAL", "1");
	set_twins(env, "CONTAINER", c->image_path ? c->image_path : "");
	set_twins(env, "NAME", c->image_name ? c->image_name : "");
	set_twins(env, "BIND", c->bind_list ? c->bind_list : "");
	if (o->shell != NULL && o->shell[0] != '\0')
		set_twins(env, "SHELL", o->shell);
	set_twins(env, "APPNAME", o->app ? o->app : "");
	rt_env_set(env, "APPTAINER_COMMAND", command);
	return 0;
}

char *rt_env_inject_snippet(const rt_env *inject, bool no_eval)
{
	lt_buf b = {0};
	for (size_t i = 0; i < inject->n; i++) {
		const char *e = inject->v[i];
		const char *eq = strchr(e, '=');
		size_t kl = (size_t)(eq - e);
		if ((kl == 3 && (memcmp(e, "UID", 3) == 0 || memcmp(e, "GID", 3) == 0)))
			continue;
		if (!lt_env_name_valid(e, kl)) {
			lt_warn("Ignoring environment variable %.*s: not a valid name", (int)kl, e);
			continue;
		}
		char *value = lt_xstrdup(eq + 1);
		if (kl == 15 && memcmp(e, "LD_LIBRARY_PATH", 15) == 0 && value[0] != '\0') {
			char *v = lt_strdup_printf("%s:/.singularity.d/libs", value);
			free(value);
			value = v;
		}
		lt_buf_add(&b, "export ");
		lt_buf_addn(&b, e, kl);
		lt_buf_addc(&b, '=');
		char q = no_eval ? '\'' : '"';
		lt_buf_addc(&b, q);
		for (const char *p = value; *p != '\0'; p++) {
			if (no_eval && *p == '\'')
				lt_buf_add(&b, "'\"'\"'");
			else if (!no_eval && *p == '"')
				lt_buf_add(&b, "\\\"");
			else
				lt_buf_addc(&b, *p);
		}
		lt_buf_addc(&b, q);
		lt_buf_addc(&b, '\n');
		free(value);
	}
	return lt_buf_steal(&b, NULL);
}

/* ---------------------------------------------------------------------------------------------
 * PATH lookup
 */
static bool is_executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && !S_ISDIR(st.st_mode) && (st.st_mode & 0111) != 0;
}

int rt_lookpath(const rt_env *env, const char *file, char **path)
{
	*path = NULL;
	if (file[0] == '\0')
		return 1;
	if (strchr(file, '/') != NULL) {
		if (!is_executable(file))
			return 1;
		*path = lt_xstrdup(file);
		return 0;
	}
	const char *p = rt_env_get(env, "PATH");
	if (p == NULL)
		p = "";
	for (;;) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);
		char *cand = len == 0 ? lt_strdup_printf("./%s", file)
				      : lt_strdup_printf("%.*s/%s", (int)len, p, file);
		struct stat st;
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0) {
			*path = cand;
			return 0;
		}
		free(cand);
		if (colon == NULL)
			return 1;
		p = colon + 1;
	}
}
