/* layers: reading tar layers and applying them to an in-memory tree with the OCI changeset
 * rules (whiteouts, opaque directories, replacement, implicit parents, hard links, symlinked
 * parents resolved inside the tree).
 *
 * A layer is read as a stream: the stored bytes (plain, gzip or zstd, detected from the magic
 * bytes, never from a media type) are decompressed here so that the diff_id (sha256 of the
 * uncompressed tar) can be checked, and parsed with libarchive (ustar, PAX, GNU: long names,
 * base-256 numbers, PAX/GNU sparse files, SCHILY/LIBARCHIVE xattrs).
 *
 * Images are built in two passes over the layers:
 *   1. layer_scan() reads every entry header of a layer (layers can be scanned in parallel)
 *      and layer_apply() merges the layers base first into the tree; regular files only
 *      record which layer entry holds their bytes;
 *   2. the caller reads the layers again and copies the bytes of the entries that survived.
 * Two passes give exactly the tree the OCI rules define, including the cases a single top-down
 * pass cannot settle when it meets them (parents that a lower layer turns into symlinks, hard
 * links to files that a higher layer replaced), at the cost of decompressing each layer twice.
 *
 * Nothing is ever written on the host.
 */
#ifndef LITHO_LAYERS_H
#define LITHO_LAYERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tree/tree.h"
#include "util/util.h"

/* Longest path accepted inside a layer (Linux PATH_MAX): also bounds tree depth. */
#define LAYER_PATH_MAX 4095

/* Source of a layer's stored bytes: returns bytes read, 0 at end, -1 with *err set. */
typedef ssize_t (*layer_read_fn)(void *ctx, void *buf, size_t len, lt_error **err);

typedef struct layer_reader layer_reader;

typedef struct layer_entry {
	char *path;	      /* cleaned, confined to the root, "" for the root itself */
	enum tree_ftype type; /* for hard links: the type is TREE_FT_REG and hardlink is set */
	char *hardlink;	      /* hard link target (cleaned and confined), or NULL */
	char *symlink;	      /* symlink target as stored, or NULL */
	uint32_t mode;	      /* 07777 bits */
	uint32_t uid, gid;
	int64_t mtime;
	uint64_t size; /* logical size of regular files */
	uint32_t rdev_major, rdev_minor;
	tree_xattr *xattrs; /* sorted by key, only names SquashFS can store */
	size_t n_xattrs;
	uint64_t ordinal; /* 0-based position of the entry in the layer's tar stream */
	bool clamped;	  /* the stored name left the root ("..", absolute) and was confined */
	bool whiteout;	  /* a .wh.<name> entry: path is the path it deletes */
	bool opaque;	  /* a .wh..wh..opq entry: path is the directory it empties */
	bool skip;	  /* AUFS metadata (.wh..wh.*) that is ignored */
} layer_entry;

/* All entries of one layer, in stream order. */
typedef struct layer_list {
	layer_entry *entries;
	size_t count;
	size_t cap;
	uint64_t tar_bytes;    /* uncompressed size */
	uint64_t stored_bytes; /* stored (compressed) size */
	size_t clamped;	       /* names confined to the root */
	size_t dropped_xattrs; /* xattrs SquashFS cannot store (system.*, selinux) */
} layer_list;

/* Wraps a layer stream. `name` identifies the layer in errors ("layer 2 (sha256:ab12..) of
 * oci:/x"); expected_diff_id ("sha256:...") is checked by layer_reader_finish, NULL skips
 * the check. The reader does not own ctx. */
layer_reader *layer_reader_new(layer_read_fn read, void *ctx, const char *name,
			       const char *expected_diff_id);
void layer_reader_free(layer_reader *r);

/* Reads the next entry header; returns 1 with *entry filled (valid until the next call),
 * 0 at the end of the archive, -1 on error. */
int layer_reader_next(layer_reader *r, const layer_entry **entry, lt_error **err);
/* Reads the current entry's data: returns 1 with a block (buf, len) at logical offset *offset
 * (offsets jump over holes of sparse files), 0 at the end of the entry's data, -1 on error. */
int layer_reader_data(layer_reader *r, const void **buf, size_t *len, uint64_t *offset,
		      lt_error **err);
/* Reads whatever is left of the stream and checks the diff_id. */
int layer_reader_finish(layer_reader *r, lt_error **err);
/* Bytes of the stored stream consumed so far (for progress). */
uint64_t layer_reader_stored_bytes(const layer_reader *r);

/* Pass 1: reads every header of a layer (and finishes the stream, checking the diff_id). */
int layer_scan(layer_reader *r, layer_list *out, lt_error **err);
void layer_list_free(layer_list *list);

/* Statistics and warnings collected while applying. */
typedef struct layer_apply_stats {
	size_t entries;
	size_t whiteouts;
	size_t opaques;
	size_t hardlinks;
	size_t ignored; /* AUFS metadata (.wh..wh.*) and other skipped entries */
} layer_apply_stats;

/* Applies one layer (index `layer`, base = 0) to the tree: first its whiteouts and opaque
 * markers against the lower layers, then its entries in stream order. Regular files get
 * src = TREE_SRC_LAYER with this layer and the entry's ordinal. `name` is used in errors. */
int layer_apply(tree_fs *tree, uint32_t layer, const layer_list *list, const char *name,
		layer_apply_stats *stats, lt_error **err);

#endif
