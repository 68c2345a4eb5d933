/* Private to the build module. */
#ifndef LITHO_BUILD_INTERNAL_H
#define LITHO_BUILD_INTERNAL_H

#include "build.h"
#include "layers.h"
#include "meta.h"
#include "tree.h"

/* A regular file whose bytes are entry `entry` of a layer. */
typedef struct build_want {
	uint64_t entry;
	lt_inode *inode;
} build_want;

/* Where pass 2 sends file bytes: the SquashFS writer, or a directory (sandbox output). */
typedef struct build_sink {
	void *ctx;
	/* true when the inode's bytes were already sent (an inode with several names) */
	bool (*has_data)(void *ctx, const lt_inode *ino);
	int (*begin_file)(void *ctx, lt_inode *ino, lt_error **err);
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
	lt_tree *tree;
	img_source *img;
	img_image *image;
	build_want **wants; /* per layer, sorted by entry */
	size_t *n_wants;
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
/* Feeds the files whose bytes the tree holds (metadata) or a host path names. */
int build_feed_local(build_ctx *c, const build_sink *sink, lt_error **err);

/* Sandbox output: the tree written into a directory. _new fills `dest` (an empty directory the
 * caller made, e.g. with mkdtemp) with everything but the file bytes; the bytes come through the sink; _finish adds the
 * hard links and sets owners (as root), modes, extended attributes and times, directories
 * last. Device nodes need root: without it they are left out (counted in the report). */
typedef struct build_dir_writer build_dir_writer;
int build_dir_writer_new(build_ctx *c, const char *dest, build_dir_writer **out, lt_error **err);
void build_dir_writer_sink(build_dir_writer *w, build_sink *sink);
int build_dir_writer_finish(build_dir_writer *w, lt_error **err);
void build_dir_writer_free(build_dir_writer *w);

#endif
