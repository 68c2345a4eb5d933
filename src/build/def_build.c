/* Definition-file builds: stages in file order, each through Apptainer's steps (compat.md §3.4),
 * the last one assembled into a SIF or a sandbox. Two things Apptainer does not have:
 *  - the fast path: a def that only adds metadata to an image (no %setup, %files, %post) goes
 *    through the streaming image pipeline, with no root file system on disk;
 *  - the build cache: a SIF build whose def text (after templating), base images and %files
 *    inputs are unchanged is copied from the cache instead of being built again. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "def_build.h"
#include "runtime/runtime.h"

static const char *tmp_root(void)
{
	const char *names[] = {"LITHO_TMPDIR", "APPTAINER_TMPDIR", "TMPDIR"};
	for (size_t i = 0; i < LT_ARRAY_SIZE(names); i++) {
		const char *v = getenv(names[i]);
		if (v != NULL && *v != '\0')
			return v;
	}
	return "/tmp";
}

static bool image_agent(const char *agent)
{
	return strcmp(agent, "docker") == 0 || strcmp(agent, "oci") == 0 ||
	       strcmp(agent, "oci-archive") == 0 || strcmp(agent, "docker-archive") == 0;
}

/* Whether a stage changes files (anything beyond metadata). */
static bool stage_touches_files(const def_stage *s)
{
	for (size_t i = 0; i < s->n_sections; i++) {
		switch (s->sections[i].kind) {
		case DEF_SETUP:
		case DEF_FILES:
		case DEF_PRE:
		case DEF_APPFILES:
		case DEF_APPINSTALL:
			return true;
		case DEF_POST:
			if (s->sections[i].body[0] != '\0')
				return true;
			break;
		default:
			break;
		}
	}
	return false;
}

static bool fast_path(const def_ctx *d)
{
	const def_stage *s = &d->def->stages[d->def->n_stages - 1];
	return d->def->n_stages == 1 && !d->o->sandbox && !d->o->update && d->o->sections == NULL &&
	       image_agent(s->bootstrap) && !stage_touches_files(s);
}

static void stage_free(def_stage_run *s)
{
	if (s->rootfd >= 0)
		close(s->rootfd);
	free(s->rootfs);
	json_decref(s->config);
	free(s->base_name);
	free(s->base_digest);
	free(s->arch);
}

static int run_stage(def_ctx *d, def_stage_run *s, lt_error **err)
{
	if (!(d->o->update && s->index + 1 == d->n_stages) && build_def_bootstrap(d, s, err) < 0)
		return -1;
	if (build_def_apps_skeleton(d, s, err) < 0 || build_def_files_from_stages(d, s, err) < 0 ||
	    build_def_run_host_section(d, s, DEF_PRE, err) < 0 ||
	    build_def_run_host_section(d, s, DEF_SETUP, err) < 0 ||
	    build_def_files_from_host(d, s, err) < 0 || build_def_run_post(d, s, err) < 0 ||
	    build_def_insert_metadata(d, s, err) < 0 || build_def_run_test(d, s, NULL, err) < 0)
		return -1;
	return 0;
}

/* The last stage's root file system into the SIF at d->o->output. */
static int assemble_sif(def_ctx *d, def_stage_run *s, const char *output, lt_error **err)
{
	build_opts o = *d->o;
	o.source = s->rootfs;
	o.output = output;
	build_ctx c;
	build_ctx_init(&c, &o, d->report);
	meta_source ms = {
	    .bootstrap = s->def->bootstrap,
	    .from = build_def_stage_header(s->def, "from"),
	    .config = s->config,
	    .base_name = s->base_name,
	    .base_digest = s->base_digest,
	    .arch = s->arch,
	    .def_text = d->def->text,
	    .build_time = o.build_time,
	};
	lt_atomic_file af;
	int rc = -1;
	if (build_dir_scan(&c, s->rootfs, err) < 0 || lt_atomic_open(&af, output, 0755, err) < 0)
		goto out;
	if (build_assemble_sif(&c, &ms, &af, err) < 0) {
		lt_atomic_abort(&af);
		goto out;
	}
	rc = lt_atomic_commit(&af, err);
out:
	build_ctx_free(&c);
	return rc;
}

/* The fast path: the base image's tree, the def's metadata, the SIF; %test on the result. */
static int build_fast(def_ctx *d, const char *output, lt_error **err);

static int make_rootfs(def_ctx *d, def_stage_run *s, bool last, lt_error **err)
{
	if (last && d->o->sandbox && d->o->update) {
		s->rootfs = lt_xstrdup(d->o->output);
	} else if (last && d->o->sandbox) {
		/* beside the output, so that it becomes the output by a rename */
		s->rootfs = lt_strdup_printf("%s.tmp.XXXXXX", d->o->output);
		if (mkdtemp(s->rootfs) == NULL)
			return lt_error_set(err, errno, "creating a directory like %s", s->rootfs);
	} else {
		s->rootfs = lt_strdup_printf("%s/stage-%zu", d->workdir, s->index + 1);
		if (mkdir(s->rootfs, 0700) < 0)
			return lt_error_set(err, errno, "creating %s", s->rootfs);
	}
	chmod(s->rootfs, 0755);
	s->rootfd = build_def_root_open(s->rootfs, err);
	return s->rootfd < 0 ? -1 : 0;
}

static int build_stages(def_ctx *d, lt_error **err)
{
	d->n_stages = d->def->n_stages;
	d->stages = lt_xcalloc(d->n_stages, sizeof(*d->stages));
	for (size_t i = 0; i < d->n_stages; i++) {
		d->stages[i].rootfd = -1;
		d->stages[i].def = &d->def->stages[i];
		d->stages[i].index = i;
	}
	for (size_t i = 0; i < d->n_stages; i++) {
		bool last = i + 1 == d->n_stages;
		if (make_rootfs(d, &d->stages[i], last, err) < 0 ||
		    run_stage(d, &d->stages[i], err) < 0)
			return -1;
	}
	return 0;
}

/* A user's build runs as root of its own user namespace from here on: its stages can then hold
 * files of any owner %post gives them (with subordinate ids) and still be read, chowned and
 * removed; %post and host scripts get the seccomp filter where ids are missing. Only the
 * output and the cache are written as the user outside. */
static int enter_fakeroot(def_ctx *d, lt_error **err)
{
	if (d->real_root)
		return 0;
	bool subids = false;
	/* a sandbox stays the user's to change and remove: no subordinate owners in it */
	if (rt_fakeroot_enter(!d->o->sandbox, &subids, err) < 0)
		return lt_error_wrap(err, "building as %s without root",
				     getenv("USER") ? getenv("USER") : "a user");
	d->fakeroot = true;
	d->owners = subids;
	lt_verbose("building as fake root (%s)",
		   subids ? "with subordinate ids" : "one id; a seccomp filter fakes chown");
	return 0;
}

/* A copy of the new image in the cache; failing to make it costs a rebuild, not the build. */
static void cache_result(const build_opts *o, const char *key, const char *output)
{
	lt_atomic_file af;
	lt_error *e = NULL;
	if (img_cache_sif_begin(o->registry.cache_dir, key, &af, &e) < 0 ||
	    build_copy_into(output, af.fd, &e) < 0 || lt_atomic_commit(&af, &e) < 0) {
		if (af.fd >= 0 && e != NULL)
			lt_atomic_abort(&af);
		lt_warn("the build cache was not updated: %s", e ? e->message : "?");
		lt_error_free(&e);
	}
}

int build_from_def(const build_opts *opts, build_report *report, lt_error **err)
{
	build_opts o = *opts;
	if (o.build_time < 0)
		o.build_time = 0;
	def_ctx d = {.o = &o, .report = report, .real_root = geteuid() == 0};
	report->stages = 0;
	def_args a = {.values = o.build_args,
		      .n_values = o.n_build_args,
		      .file = o.build_arg_file,
		      .warn_unused = o.warn_unused_build_args};
	struct stat st;
	if (o.update && (!o.sandbox || stat(o.output, &st) < 0 || !S_ISDIR(st.st_mode)))
		return lt_error_set(err, 0, "%s: --update needs --sandbox and an existing sandbox",
				    o.output);
	if (!o.force && !o.update && lstat(o.output, &st) == 0)
		return lt_error_set(err, 0, "%s already exists (use --force to overwrite it)",
				    o.output);
	if (build_def_parse_file(o.source, &a, &d.def, err) < 0)
		return -1;
	int rc = -1;
	char *key = NULL, *cached = NULL;
	d.workdir = lt_strdup_printf("%s/litho-build-XXXXXX", tmp_root());
	if (mkdtemp(d.workdir) == NULL) {
		lt_error_set(err, errno, "creating a build folder like %s", d.workdir);
		free(d.workdir);
		d.workdir = NULL;
		goto out;
	}
	d.owners = d.real_root;
	bool fast = fast_path(&d);
	/* before the cache key: the kind of fake root decides the owners in the image */
	if (!fast && enter_fakeroot(&d, err) < 0)
		goto out;
	bool cacheable = !o.sandbox && !o.update && o.sections == NULL && !o.registry.disable_cache;
	if (cacheable) {
		key = build_def_cache_key(&d, err);
		if (key == NULL || img_cache_sif_path(o.registry.cache_dir, key, &cached, err) < 0)
			goto out;
		if (access(cached, F_OK) == 0) {
			lt_info("%s is unchanged since it was built into %s: using that image",
				o.source, cached);
			utimensat(AT_FDCWD, cached, NULL, 0); /* last use, for `cache clean` */
			report->from_cache = true;
			rc = build_copy_file(cached, o.output, err);
			goto out;
		}
	}
	if (fast) {
		rc = build_fast(&d, o.output, err);
	} else if (build_stages(&d, err) == 0) {
		def_stage_run *last = &d.stages[d.n_stages - 1];
		if (o.sandbox) {
			rc = o.fix_perms ? build_fix_perms_dir(last->rootfs, err) : 0;
			if (rc == 0 && !o.update)
				rc = build_commit_sandbox(last->rootfs, o.output, o.force, err);
			if (rc == 0 && !o.update) {
				/* it is the output now: not to be removed with the build folder */
				free(last->rootfs);
				last->rootfs = NULL;
			}
		} else {
			rc = assemble_sif(&d, last, o.output, err);
		}
	}
	if (d.def != NULL)
		report->stages = d.def->n_stages;
	if (rc == 0 && cacheable)
		cache_result(&o, key, o.output);
out:

	for (size_t i = 0; i < d.n_stages; i++) {
		def_stage_run *s = &d.stages[i];
		/* the stages in the build folder go with it; a sandbox output's temporary
		 * directory lives beside the output */
		if (s->rootfs != NULL && !(o.update && i + 1 == d.n_stages) &&
		    !lt_str_has_prefix(s->rootfs, d.workdir))
			lt_remove_tree(s->rootfs);
		stage_free(s);
	}
	free(d.stages);
	if (d.workdir != NULL) {
		if (lt_remove_tree(d.workdir) < 0)
			lt_warn("could not remove all of %s", d.workdir);
		free(d.workdir);
	}
	build_def_file_free(d.def);
	free(key);
	free(cached);
	return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Fast path
 */

typedef struct tree_reader {
	build_ctx *c;
} tree_reader;

static char *read_in_tree(void *ctx, const char *path)
{
	lt_error *ignored = NULL;
	char *data = build_tree_file(((tree_reader *)ctx)->c, path, &ignored);
	lt_error_free(&ignored);
	return data;
}

static int build_fast(def_ctx *d, const char *output, lt_error **err)
{
	d->n_stages = 1;
	d->stages = lt_xcalloc(1, sizeof(*d->stages));
	def_stage_run *s = &d->stages[0];
	s->def = &d->def->stages[0];
	s->rootfd = -1;
	build_opts o = *d->o;
	char *ref = NULL;
	lt_info("Building %s from %s without unpacking (only metadata is added)", output,
		d->def->path);
	if (build_def_image_reference(d, s->def, &ref, err) < 0)
		return -1;
	o.source = ref;
	o.output = output;
	build_ctx c;
	build_ctx_init(&c, &o, d->report);
	meta_source ms = {0};
	meta_image meta;
	memset(&meta, 0, sizeof(meta));
	lt_atomic_file af;
	int rc = -1;
	if (build_open_source(&c, &ms, err) < 0)
		goto out;
	ms.bootstrap = s->def->bootstrap;
	ms.from = build_def_stage_header(s->def, "from");
	ms.def_text = d->def->text;
	ms.build_time = o.build_time;
	s->arch = c.image->arch ? lt_xstrdup(c.image->arch) : NULL;
	if (meta_for_image(&ms, &meta, err) < 0 || build_prepare_meta(&c, &meta, err) < 0)
		goto out;
	/* the def's own metadata on top of what the image brought; the definition file is the
	 * def's, not the one synthesized for the image */
	tree_node *synthesized = tree_lookup(c.tree, ".singularity.d/Singularity");
	if (synthesized != NULL)
		tree_remove(c.tree, synthesized);
	tree_reader tr = {.c = &c};
	meta_image dm;
	if (build_def_metadata(d, s, read_in_tree, &tr, true, &dm, err) < 0)
		goto out;
	int inserted = build_insert_meta(&c, &dm, err);
	meta_image_free(&dm);
	if (inserted < 0 || build_sandbox_metadata(&c, &meta, err) < 0 ||
	    lt_atomic_open(&af, output, 0755, err) < 0)
		goto out;
	if (build_write_sif(&c, &meta, af.fd, err) < 0 ||
	    build_def_run_test(d, s, af.tmp_path, err) < 0) {
		lt_atomic_abort(&af);
		goto out;
	}
	rc = lt_atomic_commit(&af, err);
out:
	meta_image_free(&meta);
	build_ctx_free(&c);
	free(ref);
	return rc;
}
