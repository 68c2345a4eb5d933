/* Private to the squash module. */
#ifndef LITHO_SQUASH_INTERNAL_H
#define LITHO_SQUASH_INTERNAL_H

#include <sqfs/block.h>
#include <sqfs/block_processor.h>
#include <sqfs/block_writer.h>
#include <sqfs/compressor.h>
#include <sqfs/dir_writer.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/meta_writer.h>
#include <sqfs/super.h>
#include <sqfs/xattr.h>
#include <sqfs/xattr_writer.h>

#include "squash/squash.h"

/* An sqfs_file_t whose offset 0 is `base` bytes into fd. */
typedef struct sq_file {
	sqfs_file_t base_iface;
	int fd;
	uint64_t base;
	uint64_t size;
	int error; /* errno of the last failed I/O */
} sq_file;

sq_file *sq_file_new(int fd, uint64_t base);

struct sq_writer {
	char *name;
	sq_options opts;
	sq_file *file;
	sqfs_compressor_t *cmp;
	sqfs_compressor_t *uncmp;
	sqfs_block_writer_t *bw;
	sqfs_frag_table_t *frag;
	sqfs_block_processor_t *proc;
	sqfs_super_t super;
	sq_stats stats;
	/* One slot per fed file: the processor keeps a pointer to it and stores (and may
	 * reallocate) the file's inode there until it finishes. */
	sqfs_inode_generic_t ***slots;
	size_t n_slots, cap_slots;
	bool in_file;

	/* finish() state */
	sqfs_id_table_t *ids;
	sqfs_xattr_writer_t *xattrs;
	sqfs_meta_writer_t *inode_mw;
	sqfs_meta_writer_t *dir_mw;
	sqfs_dir_writer_t *dirs;
	bool have_xattrs;
	uint32_t next_number;
};

/* Turns a libsquashfs status into an error naming the image and what was being done. */
int sq_fail(sq_writer *w, int code, const char *what, lt_error **err);
sqfs_block_writer_t *sq_dedup_writer_new(sq_file *file);
/* libsquashfs's compressors plus LZO, and (when compressing) never a block larger than its
 * input. */
int sq_compressor_create(const sqfs_compressor_config_t *cfg, sqfs_compressor_t **out);
uint64_t sq_dedup_writer_files(const sqfs_block_writer_t *wr);

#endif
