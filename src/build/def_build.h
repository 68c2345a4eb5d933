/* Definition-file builds: private to the build module. def_build.c drives the stages (in
 * Apptainer's order, compat.md §3.4), build_def_bootstrap.c makes each stage's root file system,
 * def_steps.c runs its sections, def_rootfs.c holds the safe file operations inside a root. */
#ifndef LITHO_DEF_BUILD_H
#define LITHO_DEF_BUILD_H

#include "build_internal.h"
#include "deffile.h"

typedef struct def_stage_run {
	const def_stage *def;
	size_t index;
	char *rootfs; /* the stage's root file system (a directory) */
	int rootfd;
	json_t *config;	 /* the base image's config document (OCI bases), or NULL */
	char *base_name; /* OCI bases: repository name and manifest digest, or NULL */
	char *base_digest;
	char *arch; /* GOARCH of the base, or NULL (the host's) */
} def_stage_run;

typedef struct def_ctx {
	const build_opts *o;
	build_report *report;
	def_file *def;
	char *workdir; /* private folder of this build (stages, scripts) */
	def_stage_run *stages;
	size_t n_stages;
	bool real_root; /* the builder is root outside any user namespace */
	bool fakeroot;	/* a user's build: root of its own user namespace */
	bool owners;	/* files can be given any owner (real root, or subordinate ids) */
} def_ctx;

/* True when section `name` ("post", "files", "labels" ...) runs under --section. */
bool build_def_section_selected(const def_ctx *d, const char *name);
/* The first section of a kind in a stage (app sections: of that app), or NULL. */
const def_section *build_def_find_section(const def_stage *s, enum def_section_kind kind,
					  const char *app);

/* The image reference of a docker, oci, oci-archive or docker-archive stage (*out NULL for the
 * other agents). */
int build_def_image_reference(def_ctx *d, const def_stage *st, char **out, lt_error **err);
/* def_cache.c: the build cache key of a definition (new string). */
char *build_def_cache_key(def_ctx *d, lt_error **err);

/* build_def_bootstrap.c: fills s->rootfs (an empty directory) from the stage's agent and adds
 * Apptainer's skeleton (compat.md §2.1). */
int build_def_bootstrap(def_ctx *d, def_stage_run *s, lt_error **err);

/* def_steps.c */
/* SCIF app skeleton (before %files and %post). */
int build_def_apps_skeleton(def_ctx *d, def_stage_run *s, lt_error **err);
/* %files from <stage> */
int build_def_files_from_stages(def_ctx *d, def_stage_run *s, lt_error **err);
/* %pre and %setup: on the host, with APPTAINER_ROOTFS. */
int build_def_run_host_section(def_ctx *d, def_stage_run *s, enum def_section_kind kind,
			       lt_error **err);
/* %files from the host and %appfiles */
int build_def_files_from_host(def_ctx *d, def_stage_run *s, lt_error **err);
/* %post (and the apps' %appinstall) inside the container. */
int build_def_run_post(def_ctx *d, def_stage_run *s, lt_error **err);
/* The stage's metadata entries (meta_for_def, plus the SCIF app skeleton with_apps), reading
 * the image's current files through `read`. */
int build_def_metadata(def_ctx *d, def_stage_run *s, meta_read_fn read, void *read_ctx,
		       bool with_apps, meta_image *out, lt_error **err);
/* runscript, labels, environment, help, Singularity ... (meta_for_def) into the rootfs */
int build_def_insert_metadata(def_ctx *d, def_stage_run *s, lt_error **err);
/* %test inside the container (image: the stage's rootfs or a finished SIF) */
int build_def_run_test(def_ctx *d, def_stage_run *s, const char *image, lt_error **err);

/* def_rootfs.c: paths inside a root are resolved like openat2(RESOLVE_IN_ROOT). */
int build_def_root_open(const char *rootfs, lt_error **err);
int build_def_root_mkdirs(int rootfd, const char *path, mode_t mode, lt_error **err);
/* A regular file's contents (NUL terminated), or NULL when it is missing or not a file. */
char *build_def_root_read(int rootfd, const char *path);
int build_def_root_write(int rootfd, const char *path, const void *data, size_t len, mode_t mode,
			 lt_error **err);
bool build_def_root_exists(int rootfd, const char *path);
int build_def_root_remove(int rootfd, const char *path);
/* The host path of `path` inside the root: its parent is resolved in the root (and created
 * when missing), the last name is kept as it is. For handing destinations to cp. */
char *build_def_root_resolve(const char *rootfs, int rootfd, const char *path, lt_error **err);
/* Applies metadata entries: directories made when missing, files written when replace is set
 * or they are missing, symlinks made when nothing is there. */
int build_def_meta_to_root(int rootfd, const meta_image *m, lt_error **err);
/* Runs a host program and waits; an error names `what` and how it failed. envp NULL = ours.
 * Flags: DEF_HOST_FAKEROOT, the fake root seccomp filter (a user's build); DEF_HOST_NO_MOUNTS,
 * `mount` and `mknod` do nothing, /proc/filesystems is empty and target/dev has the host's
 * null, zero, random and urandom (debootstrap into `target` in a user namespace). */
enum { DEF_HOST_FAKEROOT = 1, DEF_HOST_NO_MOUNTS = 2 };
int build_def_run_host(char *const argv[], char *const envp[], unsigned flags, const char *target,
		       const char *what, lt_error **err);

/* def_build.c */
int build_from_def(const build_opts *o, build_report *report, lt_error **err);

#endif
