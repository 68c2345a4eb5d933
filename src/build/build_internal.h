/* Private to the build module. */
#ifndef LITHO_BUILD_INTERNAL_H
#define LITHO_BUILD_INTERNAL_H

#include "build/build.h"
#include "layers/layers.h"
#include "meta/meta.h"
#include "tree/tree.h"

/* A regular file whose bytes are entry `entry` of a layer. */
typedef struct build_want {
	uint64_t entry;
	tree_inode *inode;
} build_want;
typedef LT_ARRAY(build_want) build_wants;

/* Where pass 2 sends file bytes: the SquashFS writer, or a directory (sandbox output). */
typedef struct build_sink {
	void *ctx;
	/* true when the inode's bytes were already sent (an inode with several names) */
	bool (*has_data)(void *ctx, const tree_inode *ino);
	int (*begin_file)(void *ctx, tree_inode *ino, lt_error **err);
	int (*append)(void *ctx, const void *data, size_t len, lt_error **err);
	int (*append_zeros)(void *ctx, uint64_t len, lt_error **err);
	int (*end_file)(void *ctx, lt_error **err);
} build_sink;

/* A sink that feeds a SquashFS writer. */
void build_sink_squash(build_sink *sink, sq_writer *w);

typedef struct build_ctx {
	const build_opts *opts;
	build_report *report;
	lt_progress *progress;
	tree_fs *tree;
	img_source *img;
	img_image *image;
	build_wants *wants; /* per layer, sorted by entry */
} build_ctx;

/* Pass 1: scans every layer (in parallel) and merges them base first into c->tree. */
int build_oci_merge(build_ctx *c, lt_error **err);
/* Pass 2: reads the layers again and feeds the bytes of every surviving file to the writer. */
int build_oci_feed(build_ctx *c, const build_sink *sink, lt_error **err);

/* Sandbox directories: reads the tree from the host (files are read again in pass 2). */
int build_dir_scan(build_ctx *c, const char *root, lt_error **err);
/* Replaces the Def.FILE text and inspect JSON of m by what the sandbox's tree holds. */
int build_sandbox_metadata(build_ctx *c, meta_image *m, lt_error **err);

/* Puts the metadata entries into the tree (parents are resolved inside the tree). */
int build_insert_meta(build_ctx *c, const meta_image *m, lt_error **err);
/* A small file of the tree (metadata or a host file; symlinks followed inside the tree) as a
 * new string; "" for bytes that are in a layer; NULL when missing or not a regular file. */
char *build_tree_file(build_ctx *c, const char *path, lt_error **err);
/* Feeds the files whose bytes the tree holds (metadata) or a host path names. */
int build_feed_local(build_ctx *c, const build_sink *sink, lt_error **err);

/* Sandbox output: the tree written into a directory. _new fills `dest` (an empty directory the
 * caller made, e.g. with mkdtemp) with everything but the file bytes; the bytes come through the
 * sink; _finish adds the hard links and sets owners (as root), modes, extended attributes and
 * times, directories last. Device nodes need root: without it they are left out (counted in the
 * report). */
typedef struct build_dir_writer build_dir_writer;
int build_dir_writer_new(build_ctx *c, const char *dest, build_dir_writer **out, lt_error **err);
void build_dir_writer_sink(build_dir_writer *w, build_sink *sink);
int build_dir_writer_finish(build_dir_writer *w, lt_error **err);
void build_dir_writer_free(build_dir_writer *w);

/* build.c: the pieces every kind of build shares. */
/* "docker://x" -> "x" with *agent "docker"; a path -> itself with "localimage". */
const char *build_strip_transport(const char *ref, const char **agent);
/* --reproducible without SOURCE_DATE_EPOCH: the image's own creation time. */
int64_t build_reproducible_time(const build_ctx *c);
/* Opens opts->source (an image reference or a directory) into c->tree; fills ms. */
int build_open_source(build_ctx *c, meta_source *ms, lt_error **err);
/* Puts the metadata into the tree (a directory source keeps its own files). */
int build_prepare_meta(build_ctx *c, meta_image *meta, lt_error **err);
/* Metadata, tree and SIF into af (a fresh temporary file). */
int build_assemble_sif(build_ctx *c, meta_source *ms, lt_atomic_file *af, lt_error **err);
/* An empty tree and a progress reporter for a build of opts (which must outlive c). */
void build_ctx_init(build_ctx *c, const build_opts *opts, build_report *report);
void build_ctx_free(build_ctx *c);
/* The SIF (Def.FILE, JSON objects, SquashFS of the tree) into fd, a fresh temporary file. */
int build_write_sif(build_ctx *c, const meta_image *meta, int fd, lt_error **err);

/* pull.c: copies a file to `to` (atomically) or into an open file, with reflinks where the
 * filesystem has them. */
int build_copy_file(const char *from, const char *to, lt_error **err);
int build_copy_into(const char *from, int out_fd, lt_error **err);

/* sandbox.c */
/* The tree into the empty directory dest. */
int build_write_sandbox(build_ctx *c, const char *dest, lt_error **err);
/* True when path is a definition file: a regular file that is not a SIF. */
bool build_is_def_file(const char *path);
/* True when path is a SIF file (by its magic). */
bool build_is_sif_file(const char *path);
/* A SIF's primary SquashFS partition extracted into the empty directory dest. */
int build_extract_sif(const char *sif_path, const char *dest, lt_error **err);
/* Renames the finished directory tmp to output; with force an existing output is swapped out
 * and removed. */
int build_commit_sandbox(const char *tmp, const char *output, bool force, lt_error **err);
/* --fix-perms: owner rw (and x where anyone has x, and on directories) on everything, in a
 * tree or on a directory on disk. */
void build_fix_perms_tree(build_ctx *c);
int build_fix_perms_dir(const char *dir, lt_error **err);
/* build_sif() for opts->sandbox. */
int build_sandbox(const build_opts *o, build_report *report, lt_error **err);

#endif
