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

#include "tree/tree.h"
#include "util/util.h"

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
int sq_writer_begin_file(sq_writer *w, tree_inode *ino, lt_error **err);
int sq_writer_append(sq_writer *w, const void *data, size_t len, lt_error **err);
int sq_writer_end_file(sq_writer *w, lt_error **err);
/* Feeds `len` zero bytes (holes of sparse files; all-zero blocks become SquashFS holes). */
int sq_writer_append_zeros(sq_writer *w, uint64_t len, lt_error **err);

/* Writes everything else. The tree is sorted here; inodes fed no data must be empty files. */
int sq_writer_finish(sq_writer *w, tree_fs *tree, lt_error **err);
const sq_stats *sq_writer_stats(const sq_writer *w);

/* ---------------------------------------------------------------------------------------------
 * Reading
 *
 * An sq_image is the immutable description of an image (opened once); every thread that reads
 * uses its own sq_reader (decompressor and caches), so reads proceed in parallel.
 */
typedef struct sq_image sq_image;
typedef struct sq_reader sq_reader;
typedef struct sq_inode sq_inode;

typedef struct sq_attr {
	uint32_t mode; /* S_IF* type bits and permission bits */
	uint32_t uid, gid;
	uint32_t nlink;
	uint64_t size;
	uint64_t blocks; /* 512-byte blocks actually stored (sparse files have fewer) */
	int64_t mtime;
	uint32_t inode_number;
	uint32_t rdev_major, rdev_minor;
} sq_attr;

/* Opens the image stored at `offset` (size bytes) of fd; checks the superblock, that the
 * compressor is supported, and reads the owner table. fd must stay open. */
int sq_image_open(int fd, uint64_t offset, uint64_t size, const char *name, sq_image **out,
		  lt_error **err);
void sq_image_close(sq_image *img);
uint64_t sq_image_root(const sq_image *img);
const char *sq_image_name(const sq_image *img);
uint32_t sq_image_inode_count(const sq_image *img);

sq_reader *sq_reader_new(sq_image *img, lt_error **err);
void sq_reader_free(sq_reader *r);
sq_image *sq_reader_image(const sq_reader *r);

/* Inodes are addressed by reference (metadata block << 16 | offset). */
int sq_inode_get(sq_reader *r, uint64_t ref, sq_inode **out, lt_error **err);
void sq_inode_free(sq_inode *i);
void sq_inode_attr(const sq_reader *r, const sq_inode *i, sq_attr *a);
bool sq_inode_is_dir(const sq_inode *i);
bool sq_inode_is_file(const sq_inode *i);
bool sq_inode_is_symlink(const sq_inode *i);
/* Symlink target (not NUL terminated) without copying. */
int sq_readlink(const sq_inode *i, const char **target, size_t *len);

/* Calls fn for the directory's entries after the first `skip`, in stored (sorted) order; fn
 * returns 0 to go on, > 0 to stop, < 0 to stop with an error. `type` is the basic inode type. */
typedef int (*sq_dirent_fn)(void *ctx, const char *name, uint64_t ref, uint32_t inode_number,
			    uint32_t type);
int sq_readdir(sq_reader *r, const sq_inode *dir, uint64_t skip, sq_dirent_fn fn, void *ctx,
	       lt_error **err);
/* 0 = found (*ref set), 1 = no such entry, -1 = error. */
int sq_lookup(sq_reader *r, const sq_inode *dir, const char *name, uint64_t *ref, lt_error **err);
/* Reads file bytes; returns the count (0 past the end) or -1. */
ssize_t sq_read(sq_reader *r, const sq_inode *file, uint64_t off, void *buf, size_t len,
		lt_error **err);
/* Calls fn(ctx, "user.x", value, len) for each xattr; fn returns non-zero to stop. */
typedef int (*sq_xattr_fn)(void *ctx, const char *key, const void *value, size_t len);
int sq_xattrs(sq_reader *r, const sq_inode *i, sq_xattr_fn fn, void *ctx, lt_error **err);

/* Resolves a path from the root inside the image (symlinks followed inside the image, the last
 * one only when `follow`); 0 found, 1 missing, -1 error. */
int sq_resolve(sq_reader *r, const char *path, bool follow, uint64_t *ref, lt_error **err);
/* Reads a whole small file by path (symlinks followed); 1 when it does not exist. */
int sq_read_file(sq_reader *r, const char *path, size_t limit, char **data, size_t *len,
		 lt_error **err);
/* Writes the image's tree into `dest` (which must not exist). Owners are kept when running as
 * root; devices are created only as root (skipped with a note otherwise). */
int sq_extract(sq_image *img, const char *dest, lt_error **err);

#endif
