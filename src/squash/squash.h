/* squash: writing a tree as a SquashFS 4.0 image with libsquashfs.
 *
 * libsquashfs compresses file data in parallel (its block processor) and serialises inodes,
 * directories and tables; the tree walk, inode numbering and the conventions the kernel,
 * squashfuse and unsquashfs expect are ours (mksquashfs's where libsquashfs differs: the
 * root's parent inode number, directory link counts, extended inodes for hard links and
 * xattrs, padding to 4 KiB, tables in the kernel's order).
 *
 * The image is written into an open file at a base offset (the SIF partition), so nothing is
 * copied afterwards. Usage:
 *   sq_writer_new()                      -- superblock placeholder and compressor options
 *   sq_writer_begin_file()/append()/end_file()  for every regular file with data, in any order
 *   sq_writer_finish(tree)               -- inodes, directories, tables, superblock, padding
 * The output depends only on the tree, the file data order and the options, never on the
 * number of worker threads.
 */
#ifndef LITHO_SQUASH_H
#define LITHO_SQUASH_H

#include <stdbool.h>
#include <stdint.h>

#include "tree.h"
#include "util.h"

enum sq_compressor {
	SQ_COMP_GZIP = 1,
	SQ_COMP_LZMA = 2,
	SQ_COMP_LZO = 3,
	SQ_COMP_XZ = 4,
	SQ_COMP_LZ4 = 5,
	SQ_COMP_ZSTD = 6,
};

typedef struct sq_options {
	int compressor;	     /* enum sq_compressor; 0 = zstd */
	int level;	     /* 0 = litho's default for the compressor (zstd 3, gzip 9, xz 6) */
	uint32_t block_size; /* 0 = 128 KiB; a power of two from 4 KiB to 1 MiB */
	unsigned jobs;	     /* compression threads; 0 = every CPU the process may use */
	uint32_t mkfs_time;  /* superblock time */
	bool no_exports;     /* leave out the NFS export table (mksquashfs writes it) */
} sq_options;

/* Parses "zstd", "gzip", "xz", "lz4", "lzo" into *out; error names the value. */
int sq_parse_compressor(const char *name, int *out, lt_error **err);
const char *sq_compressor_name(int compressor);
/* Checks level and block size for the compressor (errors name the option). */
int sq_check_options(const sq_options *opts, lt_error **err);

typedef struct sq_stats {
	uint64_t bytes_in;    /* file bytes fed */
	uint64_t image_size;  /* padded size of the image */
	uint64_t data_blocks; /* data blocks actually written */
	uint64_t dedup_files; /* files whose blocks were found earlier in the image */
	uint64_t inodes;
} sq_stats;

typedef struct sq_writer sq_writer;

/* `name` is used in error messages (the output file). */
int sq_writer_new(int fd, uint64_t base_offset, const char *name, const sq_options *opts,
		  sq_writer **out, lt_error **err);
void sq_writer_free(sq_writer *w);

/* Feeds the bytes of one regular file (the inode must be in the tree given to finish). */
int sq_writer_begin_file(sq_writer *w, lt_inode *ino, lt_error **err);
int sq_writer_append(sq_writer *w, const void *data, size_t len, lt_error **err);
int sq_writer_end_file(sq_writer *w, lt_error **err);
/* Feeds `len` zero bytes (holes of sparse files; all-zero blocks become SquashFS holes). */
int sq_writer_append_zeros(sq_writer *w, uint64_t len, lt_error **err);

/* Writes everything else. The tree is sorted here; inodes fed no data must be empty files. */
int sq_writer_finish(sq_writer *w, lt_tree *tree, lt_error **err);
const sq_stats *sq_writer_stats(const sq_writer *w);

#endif
