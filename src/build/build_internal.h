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
int build_oci_feed(build_ctx *c, sq_writer *w, lt_error **err);

/* Sandbox directories: reads the tree from the host (files are read again in pass 2). */
int build_dir_scan(build_ctx *c, const char *root, lt_error **err);
/* Replaces the Def.FILE text and inspect JSON of m by what the sandbox's tree holds. */
int build_sandbox_metadata(build_ctx *c, meta_image *m, lt_error **err);

/* Puts the metadata entries into the tree (parents are resolved inside the tree). */
int build_insert_meta(build_ctx *c, const meta_image *m, lt_error **err);
/* Feeds the files whose bytes the tree holds (metadata) or a host path names. */
int build_feed_local(build_ctx *c, sq_writer *w, lt_error **err);

#endif
