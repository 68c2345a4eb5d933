/* The sections of a definition-file stage, run the way Apptainer runs them
 * (internal/pkg/build/stage.go, files/, apps/, metadata.go): %pre and %setup on the host,
 * %files copied with cp, %post and %test in the container through the runtime, then the
 * metadata the other sections describe. */
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "def_build.h"
#include "runtime/runtime.h"

bool build_def_section_selected(const def_ctx *d, const char *name)
{
	const char *list = d->o->sections;
	if (list == NULL || *list == '\0')
		return true;
	size_t len = strlen(name);
	for (const char *p = list; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == len && strncmp(p, name, len) == 0)
			return true;
		p += n + (end ? 1 : 0);
	}
	return false;
}

const def_section *build_def_find_section(const def_stage *s, enum def_section_kind kind,
					  const char *app)
{
	for (size_t i = 0; i < s->n_sections; i++) {
		const def_section *x = &s->sections[i];
		if (x->kind == kind && (app == NULL || (x->app && strcmp(x->app, app) == 0)))
			return x;
	}
	return NULL;
}

static const char *body_of(const def_stage *s, enum def_section_kind kind, const char *app)
{
	const def_section *x = build_def_find_section(s, kind, app);
	return x ? x->body : NULL;
}

/* The apps of a stage in first-seen order, with their section bodies. */
typedef struct app_list {
	meta_def_app *v;
	json_t **labels;
	size_t n;
} app_list;

static void apps_collect(const def_stage *s, app_list *l)
{
	memset(l, 0, sizeof(*l));
	for (size_t i = 0; i < s->n_sections; i++) {
		const char *name = s->sections[i].app;
		if (name == NULL)
			continue;
		bool seen = false;
		for (size_t k = 0; k < l->n && !seen; k++)
			seen = strcmp(l->v[k].name, name) == 0;
		if (seen)
			continue;
		l->v = lt_xreallocarray(l->v, l->n + 1, sizeof(*l->v));
		l->labels = lt_xreallocarray(l->labels, l->n + 1, sizeof(*l->labels));
		const def_section *lab = build_def_find_section(s, DEF_APPLABELS, name);
		l->labels[l->n] = lab ? build_def_labels(lab) : NULL;
		l->v[l->n] = (meta_def_app){
		    .name = name,
		    .install = body_of(s, DEF_APPINSTALL, name),
		    .env = body_of(s, DEF_APPENV, name),
		    .test = body_of(s, DEF_APPTEST, name),
		    .help = body_of(s, DEF_APPHELP, name),
		    .run = body_of(s, DEF_APPRUN, name),
		    .start = body_of(s, DEF_APPSTART, name),
		    .labels = l->labels[l->n],
		};
		l->n++;
	}
}

static void apps_free(app_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		json_decref(l->labels[i]);
	free(l->labels);
	free(l->v);
}

static char *read_in_root(void *ctx, const char *path)
{
	return build_def_root_read(*(int *)ctx, path);
}

int build_def_apps_skeleton(def_ctx *d, def_stage_run *s, lt_error **err)
{
	app_list apps;
	apps_collect(s->def, &apps);
	int rc = 0;
	if (apps.n > 0) {
		meta_def md = {.apps = apps.v,
			       .n_apps = apps.n,
			       .build_time = d->o->build_time,
			       .read = read_in_root,
			       .read_ctx = &s->rootfd};
		meta_image m;
		rc = meta_def_apps(&md, &m, err);
		if (rc == 0) {
			rc = build_def_meta_to_root(s->rootfd, &m, err);
			meta_image_free(&m);
		}
	}
	apps_free(&apps);
	return rc;
}

/* ---------------------------------------------------------------------------------------------
 * %files
 */

/* Shell-like expansion of a %files source: the matches, or the pattern itself when nothing
 * matches (cp then names what is missing). */
static int expand(const char *pattern, glob_t *g, const char *where, lt_error **err)
{
	int rc = glob(pattern, GLOB_NOCHECK | GLOB_BRACE | GLOB_TILDE, NULL, g);
	if (rc != 0)
		return lt_error_set(err, 0, "%s: expanding %s failed", where, pattern);
	return 0;
}

/* cp with up to two option words (opt2 may be NULL) */
static int run_cp(const char *opt1, const char *opt2, const char *src, const char *dst,
		  const char *where, lt_error **err)
{
	char *argv[7];
	size_t n = 0;
	argv[n++] = "cp";
	argv[n++] = (char *)opt1;
	if (opt2 != NULL)
		argv[n++] = (char *)opt2;
	argv[n++] = "--";
	argv[n++] = (char *)src;
	argv[n++] = (char *)dst;
	argv[n] = NULL;
	char *what = lt_strdup_printf("%s: copying %s to %s", where, src, dst);
	int rc = build_def_run_host(argv, NULL, 0, NULL, what, err);
	free(what);
	return rc;
}

/* The destination of one copy inside the root, as a host path. A destination ending in '/'
 * is a directory (made when missing), as Apptainer's makeParentDir does. */
static char *destination(def_stage_run *s, const char *dst, lt_error **err)
{
	size_t len = strlen(dst);
	if (len > 0 && dst[len - 1] == '/') {
		if (build_def_root_mkdirs(s->rootfd, dst, 0755, err) < 0)
			return NULL;
		char *p = build_def_root_resolve(s->rootfs, s->rootfd, dst, err);
		char *slash = p ? lt_strdup_printf("%s/", p) : NULL;
		free(p);
		return slash;
	}
	return build_def_root_resolve(s->rootfs, s->rootfd, dst, err);
}

static const def_stage_run *stage_named(def_ctx *d, const char *name)
{
	for (size_t i = 0; i < d->n_stages; i++)
		if (d->stages[i].def->name && strcmp(d->stages[i].def->name, name) == 0)
			return &d->stages[i];
	return NULL;
}

static int copy_from_stage(def_ctx *d, def_stage_run *s, const def_stage_run *from,
			   const def_files_entry *e, lt_error **err)
{
	char *where = lt_strdup_printf("%s:%zu", d->def->path, e->line);
	char *pattern = lt_path_join(from->rootfs, e->src);
	if (e->src[0] != '\0' && e->src[strlen(e->src) - 1] == '/') {
		char *p = lt_strdup_printf("%s/", pattern);
		free(pattern);
		pattern = p;
	}
	glob_t g;
	int rc = expand(pattern, &g, where, err);
	size_t root_len = strlen(from->rootfs);
	/* root and user namespaces with every id mapped keep owners; a single mapped id cannot */
	bool keep_owners = d->owners;
	for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++) {
		const char *rel =
		    g.gl_pathv[i] +
		    (strncmp(g.gl_pathv[i], from->rootfs, root_len) == 0 ? root_len : 0);
		/* the source, symlinks resolved inside the earlier stage's root */
		char *src = build_def_root_resolve(from->rootfs, from->rootfd, rel, err);
		char *real = NULL;
		if (src != NULL) {
			real = realpath(src, NULL);
			if (real == NULL || !lt_str_has_prefix(real, from->rootfs))
				rc = lt_error_set(err, errno, "%s: %s is not in stage %s", where,
						  rel, from->def->name);
		} else {
			rc = -1;
		}
		char *dst = NULL;
		if (rc == 0)
			dst = destination(s, e->dst[0] ? e->dst : rel, err);
		if (rc == 0 && dst == NULL)
			rc = -1;
		if (rc == 0) {
			/* copying into a directory keeps the name as written, not the resolved
			 * one */
			struct stat st;
			if (stat(dst, &st) == 0 && S_ISDIR(st.st_mode)) {
				char *into = lt_path_join(dst, lt_path_basename(rel));
				free(dst);
				dst = into;
			}
			rc = keep_owners ? run_cp("-a", NULL, real, dst, where, err)
					 : run_cp("-dR", "--preserve=mode,timestamps,links,xattr",
						  real, dst, where, err);
		}
		free(dst);
		free(real);
		free(src);
	}
	globfree(&g);
	free(pattern);
	free(where);
	return rc;
}

int build_def_files_from_stages(def_ctx *d, def_stage_run *s, lt_error **err)
{
	if (!build_def_section_selected(d, "files"))
		return 0;
	for (size_t i = 0; i < s->def->n_sections; i++) {
		const def_section *x = &s->def->sections[i];
		if (x->kind != DEF_FILES || !lt_str_has_prefix(x->args, "from "))
			continue;
		const def_stage_run *from = stage_named(d, x->args + strlen("from "));
		if (from == NULL || from->index >= s->index)
			return lt_error_set(err, 0, "%s:%zu: %%files %s: no such earlier stage",
					    d->def->path, x->line, x->args);
		def_files_entry *e;
		size_t n;
		if (build_def_files_entries(d->def, x, &e, &n, err) < 0)
			return -1;
		int rc = 0;
		for (size_t k = 0; k < n && rc == 0; k++) {
			lt_info("Copying %s from stage %s to %s", e[k].src, from->def->name,
				e[k].dst[0] ? e[k].dst : e[k].src);
			rc = copy_from_stage(d, s, from, &e[k], err);
		}
		build_def_files_entries_free(e, n);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* One %files (or %appfiles, with dst_prefix "/scif/apps/<app>") line from the host. */
static int copy_from_host(def_ctx *d, def_stage_run *s, const def_files_entry *e,
			  const char *dst_prefix, lt_error **err)
{
	char *where = lt_strdup_printf("%s:%zu", d->def->path, e->line);
	glob_t g;
	int rc = expand(e->src, &g, where, err);
	for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++) {
		const char *src = g.gl_pathv[i];
		const char *rel = e->dst[0] ? e->dst : src;
		char *full = dst_prefix ? lt_path_join(dst_prefix, rel) : lt_xstrdup(rel);
		if (rel[0] != '\0' && rel[strlen(rel) - 1] == '/' &&
		    full[strlen(full) - 1] != '/') {
			char *p = lt_strdup_printf("%s/", full);
			free(full);
			full = p;
		}
		char *dst = destination(s, full, err);
		if (dst == NULL)
			rc = -1;
		else
			rc = run_cp("-fLr", NULL, src, dst, where, err);
		free(dst);
		free(full);
	}
	globfree(&g);
	free(where);
	return rc;
}

int build_def_files_from_host(def_ctx *d, def_stage_run *s, lt_error **err)
{
	if (!build_def_section_selected(d, "files"))
		return 0;
	for (size_t i = 0; i < s->def->n_sections; i++) {
		const def_section *x = &s->def->sections[i];
		bool files = x->kind == DEF_FILES && x->args[0] == '\0';
		if (!files && x->kind != DEF_APPFILES)
			continue;
		def_files_entry *e;
		size_t n;
		if (build_def_files_entries(d->def, x, &e, &n, err) < 0)
			return -1;
		char *prefix = files ? NULL : lt_strdup_printf("/scif/apps/%s", x->app);
		int rc = 0;
		for (size_t k = 0; k < n && rc == 0; k++) {
			lt_info("Copying %s to %s%s", e[k].src, prefix ? prefix : "",
				e[k].dst[0] ? e[k].dst : e[k].src);
			rc = copy_from_host(d, s, &e[k], prefix, err);
		}
		free(prefix);
		build_def_files_entries_free(e, n);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Scripts
 */

static const char *section_name(enum def_section_kind kind)
{
	switch (kind) {
	case DEF_PRE:
		return "pre";
	case DEF_SETUP:
		return "setup";
	case DEF_POST:
		return "post";
	default:
		return "section";
	}
}

/* The host's environment with the variables a %setup or %pre script gets (Apptainer's), for
 * that script only: the builder's own environment stays as it is. */
static char **host_section_env(const char *rootfs)
{
	extern char **environ;
	static const char *const names[] = {"APPTAINER_ROOTFS", "SINGULARITY_ROOTFS",
					    "APPTAINER_ENVIRONMENT", "SINGULARITY_ENVIRONMENT"};
	size_t n = 0;
	while (environ[n] != NULL)
		n++;
	char **env = lt_xcalloc(n + LT_ARRAY_SIZE(names) + 1, sizeof(*env));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		bool replaced = false;
		for (size_t j = 0; j < LT_ARRAY_SIZE(names); j++) {
			size_t len = strlen(names[j]);
			if (strncmp(environ[i], names[j], len) == 0 && environ[i][len] == '=')
				replaced = true;
		}
		if (!replaced)
			env[k++] = lt_xstrdup(environ[i]);
	}
	env[k++] = lt_strdup_printf("APPTAINER_ROOTFS=%s", rootfs);
	env[k++] = lt_strdup_printf("SINGULARITY_ROOTFS=%s", rootfs);
	env[k++] = lt_xstrdup("APPTAINER_ENVIRONMENT=/.singularity.d/env/91-environment.sh");
	env[k++] = lt_xstrdup("SINGULARITY_ENVIRONMENT=/.singularity.d/env/91-environment.sh");
	return env;
}

int build_def_run_host_section(def_ctx *d, def_stage_run *s, enum def_section_kind kind,
			       lt_error **err)
{
	const def_section *x = build_def_find_section(s->def, kind, NULL);
	const char *name = section_name(kind);
	if (x == NULL || x->body[0] == '\0' || !build_def_section_selected(d, name))
		return 0;
	char *script = lt_strdup_printf("%s/%s", d->workdir, name);
	lt_atomic_file af;
	int rc = -1;
	char **argv = NULL, **envp = NULL;
	if (lt_atomic_open(&af, script, 0755, err) < 0)
		goto out;
	if (lt_write_all(af.fd, x->body, strlen(x->body), script, err) < 0) {
		lt_atomic_abort(&af);
		goto out;
	}
	if (lt_atomic_commit(&af, err) < 0)
		goto out;
	argv = build_def_script_argv(x, script);
	envp = host_section_env(s->rootfs);
	lt_info("Running %s scriptlet", name);
	char *what = lt_strdup_printf("%s:%zu: %%%s", d->def->path, x->line, name);
	rc = build_def_run_host(argv, envp, d->fakeroot ? DEF_HOST_FAKEROOT : 0, NULL, what, err);
	free(what);
out:
	unlink(script);
	lt_strv_free(argv);
	lt_strv_free(envp);
	free(script);
	return rc;
}

/* Runs the runtime in a child process: its namespaces, mounts and signal handling stay out of
 * the builder, and a container killed by a signal is a failed step, not a dead builder. */
static int run_container(const rt_options *ro, const char *what, lt_error **err)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return lt_error_set(err, errno, "%s: fork", what);
	if (pid == 0) {
		int status = 255;
		lt_error *e = NULL;
		if (rt_launch(ro, &status, &e) < 0) {
			lt_error_report(e);
			lt_error_free(&e);
			_exit(255);
		}
		_exit(status & 0xff);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return lt_error_set(err, errno, "%s: waiting", what);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		return lt_error_set(err, 0, "%s was killed by signal %d", what, WTERMSIG(status));
	return lt_error_set(err, 0, "%s failed with status %d", what, WEXITSTATUS(status));
}

static int container_binds(def_ctx *d, rt_options *ro, lt_error **err)
{
	for (size_t i = 0; i < d->o->n_binds; i++)
		if (rt_parse_binds(d->o->binds[i], &ro->binds, &ro->n_binds, err) < 0)
			return -1;
	return 0;
}

int build_def_run_post(def_ctx *d, def_stage_run *s, lt_error **err)
{
	if (!build_def_section_selected(d, "post"))
		return 0;
	const def_section *post = build_def_find_section(s->def, DEF_POST, NULL);
	app_list apps;
	apps_collect(s->def, &apps);
	meta_def md = {.apps = apps.v, .n_apps = apps.n};
	char *install = meta_def_appinstall_script(&md);
	apps_free(&apps);
	char *script = lt_strdup_printf("%s%s", post ? post->body : "", install);
	free(install);
	if (script[0] == '\0') {
		free(script);
		return 0;
	}
	int rc = build_def_root_write(s->rootfd, ".post.script", script, strlen(script), 0755, err);
	free(script);
	if (rc < 0)
		return -1;
	def_section none = {.kind = DEF_POST, .args = "", .body = ""};
	char **argv = build_def_script_argv(post ? post : &none, "/.post.script");
	size_t argc = 0;
	while (argv[argc] != NULL)
		argc++;
	char *env[] = {"APPTAINER_ENVIRONMENT=/.singularity.d/env/91-environment.sh",
		       "SINGULARITY_ENVIRONMENT=/.singularity.d/env/91-environment.sh",
		       "APPTAINER_LABELS=/.build.labels", "SINGULARITY_LABELS=/.build.labels"};
	rt_options ro = {
	    .action = RT_EXEC,
	    .image = s->rootfs,
	    .args = argv,
	    .n_args = argc,
	    .writable = true,
	    .fakeroot = true,
	    .build_config = true,
	    .cleanenv = true,
	    .pwd = "/",
	    .env = env,
	    .n_env = LT_ARRAY_SIZE(env),
	};
	char *what =
	    lt_strdup_printf("%s:%zu: %%post", d->def->path, post ? post->line : s->def->line);
	lt_info("Running post scriptlet");
	rc = container_binds(d, &ro, err);
	if (rc == 0)
		rc = run_container(&ro, what, err);
	build_def_root_remove(s->rootfd, ".post.script");
	rt_binds_free(ro.binds, ro.n_binds);
	free(what);
	for (size_t i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
	return rc;
}

int build_def_run_test(def_ctx *d, def_stage_run *s, const char *image, lt_error **err)
{
	const def_section *test = build_def_find_section(s->def, DEF_TEST, NULL);
	if (d->o->notest || test == NULL || test->body[0] == '\0' ||
	    !build_def_section_selected(d, "test"))
		return 0;
	bool dir = image == NULL;
	rt_options ro = {
	    .action = RT_TEST,
	    .image = dir ? s->rootfs : image,
	    .fakeroot = dir,
	    .build_config = true,
	    .writable_tmpfs = d->o->writable_tmpfs,
	    .pwd = "/",
	};
	char *what = lt_strdup_printf("%s:%zu: %%test", d->def->path, test->line);
	lt_info("Running testscript");
	int rc = container_binds(d, &ro, err);
	if (rc == 0)
		rc = run_container(&ro, what, err);
	rt_binds_free(ro.binds, ro.n_binds);
	free(what);
	return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Metadata
 */

int build_def_metadata(def_ctx *d, def_stage_run *s, meta_read_fn read, void *read_ctx,
		       bool with_apps, meta_image *out, lt_error **err)
{
	const def_stage *st = s->def;
	const char **keys = lt_xcalloc(st->n_headers + 1, sizeof(*keys));
	const char **values = lt_xcalloc(st->n_headers + 1, sizeof(*values));
	for (size_t i = 0; i < st->n_headers; i++) {
		keys[i] = st->headers[i].key;
		values[i] = st->headers[i].value;
	}
	char *runscript = NULL, *startscript = NULL, *test = NULL;
	const def_section *x;
	if ((x = build_def_find_section(st, DEF_RUNSCRIPT, NULL)) &&
	    build_def_section_selected(d, "runscript"))
		runscript = build_def_script_file(x);
	if ((x = build_def_find_section(st, DEF_STARTSCRIPT, NULL)) &&
	    build_def_section_selected(d, "startscript"))
		startscript = build_def_script_file(x);
	if ((x = build_def_find_section(st, DEF_TEST, NULL)) &&
	    build_def_section_selected(d, "test"))
		test = build_def_script_file(x);
	json_t *labels = NULL;
	if ((x = build_def_find_section(st, DEF_LABELS, NULL)) &&
	    build_def_section_selected(d, "labels"))
		labels = build_def_labels(x);
	app_list apps;
	apps_collect(st, &apps);
	meta_def md = {
	    .def_text = d->def->text,
	    .header_keys = keys,
	    .header_values = values,
	    .n_headers = st->n_headers,
	    .help = build_def_section_selected(d, "help") ? body_of(st, DEF_HELP, NULL) : NULL,
	    .environment = build_def_section_selected(d, "environment")
			       ? body_of(st, DEF_ENVIRONMENT, NULL)
			       : NULL,
	    .runscript = runscript,
	    .startscript = startscript,
	    .test = test,
	    .labels = labels,
	    .apps = apps.v,
	    .n_apps = apps.n,
	    .build_time = d->o->build_time,
	    .arch = s->arch,
	    .force = d->o->force,
	    .read = read,
	    .read_ctx = read_ctx,
	};
	int rc = meta_for_def(&md, out, err);
	if (rc == 0 && with_apps && apps.n > 0) {
		/* the app skeleton first: its directories are parents of the files above */
		meta_image a;
		rc = meta_def_apps(&md, &a, err);
		if (rc == 0) {
			meta_entry *all = lt_xcalloc(a.n_entries + out->n_entries, sizeof(*all));
			memcpy(all, a.entries, a.n_entries * sizeof(*all));
			memcpy(all + a.n_entries, out->entries, out->n_entries * sizeof(*all));
			free(out->entries);
			out->entries = all;
			out->n_entries += a.n_entries;
			free(a.entries);
			a.entries = NULL;
			a.n_entries = 0;
			meta_image_free(&a);
		} else {
			meta_image_free(out);
		}
	}
	apps_free(&apps);
	json_decref(labels);
	free(runscript);
	free(startscript);
	free(test);
	free(keys);
	free(values);
	return rc;
}

int build_def_insert_metadata(def_ctx *d, def_stage_run *s, lt_error **err)
{
	meta_image m;
	if (build_def_metadata(d, s, read_in_root, &s->rootfd, false, &m, err) < 0)
		return -1;
	int rc = build_def_meta_to_root(s->rootfd, &m, err);
	meta_image_free(&m);
	/* what %post left for the labels is in labels.json now */
	build_def_root_remove(s->rootfd, ".build.labels");
	return rc;
}
